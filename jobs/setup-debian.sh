#!/usr/bin/env bash
# Installs every Debian package that tessera's build, tests and main job need.
# Usage: bash jobs/setup-debian.sh [--bench]
#   --bench: kept for older instructions (PyTorch, which bench/peers/ needs, is always installed).
#   (TensorBoard and transformers come from PyPI: bash jobs/setup-python.sh.)
set -euo pipefail

packages=(
  build-essential cmake git pkg-config
  openmpi-bin libopenmpi-dev          # MPI ranks (mpirun) and the MPI communicator
  libhdf5-dev hdf5-tools              # datasets and checkpoints
  libxxhash-dev                       # checkpoint checksums (XXH3)
  libopenblas-openmp-dev              # sgemm; the OpenMP build nests inside our own parallel loops
  libomp-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libpcre2-dev libsentencepiece-dev                        # GPT-2 pre-tokenisation regex (\p{L}, \p{N}, look-ahead)
  zlib1g-dev libzstd-dev gzip zstd    # compressed inputs of tessera prepare
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy cppcheck
  clang libclang-rt-14-dev            # libFuzzer (tests/fuzz)
  python3 python3-matplotlib python3-venv   # jobs/plot_metrics.py; the venv of jobs/setup-python.sh
  python3-h5py python3-xxhash               # tests that damage HDF5 files on purpose (and fix checksums)
  python3-torch python3-numpy               # transformers (PyPI, jobs/setup-python.sh) checks the Hugging Face export
  slurmctld slurmd slurm-client munge       # the Slurm job tests run a real one-node cluster (tests/slurm/)
)
case "${1:-}" in
  --bench) ;;  # PyTorch for bench/peers/ is in the list already
  "") ;;
  *) echo "setup-debian.sh: unknown option $1" >&2; exit 2 ;;
esac

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
