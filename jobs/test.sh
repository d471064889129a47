#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds tessera and runs the whole test suite (CTest: unit, training, multi-rank
# parity under mpirun, CLI errors).  Usage: bash jobs/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash jobs/setup-debian.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # harmless when not root
source jobs/blas-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j1
