#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds tessera and runs the whole test suite (CTest: unit, training, presets,
# multi-rank parity under mpirun, CLI, the README's tour, install, plotting and TensorBoard export).
#   Usage: bash jobs/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/setup-debian.sh
bash jobs/setup-python.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # harmless when not root
source jobs/blas-env.sh
cmake --preset release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j1
