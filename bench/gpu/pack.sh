#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run tessera's GPU checks: the binaries built here (a CUDA build: tessera and
# the test and benchmark programs), Open MPI's runtime (mpirun, its components and help texts: the layouts run as
# several ranks sharing the GPU) and the shared libraries all of them need that such a machine lacks (OpenBLAS, HDF5,
# MPI, fmt, OpenMP, ...; found with ldd). Not packed: glibc and libstdc++ (the machine's are newer), the driver, and
# CUDA's libraries (cuBLASLt, NCCL: the machine's CUDA 13 toolkit and its Python wheels hold them; run.sh finds them).
# One gzipped tar (the device tool carries 64 MiB at most; OpenBLAS alone is 37 MB unpacked), which run.sh unpacks.
#   Usage: bash bench/gpu/pack.sh [BUILD_DIR=build] [OUT=build-gpu-pack]
# then, on the GPU machine: bash bench/gpu/run.sh OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-build-gpu-pack}
binaries=(tessera backend_tests bench_gpu_step nccl_tests parallel_tests)
for b in "${binaries[@]}"; do
  [[ -x $build/bin/$b ]] || { echo "error: $build/bin/$b is missing: build it first (cmake --build $build --target $b)" >&2; exit 1; }
done
grep -q 'TESSERA_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "error: $build is not a CUDA build (TESSERA_CUDA=OFF): configure it with nvcc on PATH" >&2; exit 1; }
command -v ompi_info >/dev/null || { echo "error: ompi_info not found: install Open MPI (bash jobs/setup-debian.sh)" >&2; exit 1; }
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/bin" "$tree/lib"
for b in "${binaries[@]}"; do cp "$build/bin/$b" "$tree/bin/"; done
# the presets, the GPT-2 vocabulary and the text the tests and the CLI train on (found relative to the executable:
# bin/../share/tessera)
mkdir -p "$tree/share/tessera"
cp -rL "$build/share/tessera/configs" "$build/share/tessera/gpt2" "$build/share/tessera/tinyshakespeare.txt" \
  "$tree/share/tessera/"

# Open MPI under its own prefix, relocated on the GPU machine by OPAL_PREFIX: every path Open MPI was built with
# under /usr keeps its place below the prefix. The network components (InfiniBand, OFI, UCX, PSM) are left out: one
# node's ranks talk through shared memory.
ompi_path() { ompi_info --parsable --path "$1" | sed -n "s|^path:$1:||p" | head -1; }
prefix=$(ompi_path prefix)
mpi=$tree/mpi
relocated() { echo "$mpi${1#"$prefix"}"; }
mkdir -p "$mpi/bin" "$(relocated "$(ompi_path pkglibdir)")" "$(relocated "$(ompi_path pkgdatadir)")"
cp -L "$(command -v orterun || readlink -f "$(command -v mpirun)")" "$mpi/bin/mpirun"
cp -r "$(ompi_path pkgdatadir)/." "$(relocated "$(ompi_path pkgdatadir)")"
for c in "$(ompi_path pkglibdir)"/*.so; do
  [[ $(basename "$c") =~ (openib|ofi|ucx|uct|psm|usnic|verbs|java|portals) ]] && continue
  cp "$c" "$(relocated "$(ompi_path pkglibdir)")/"
done
# PMIx (Open MPI's process management), its components found through PMIX_MCA_mca_base_component_path
pmix_lib=$(dirname "$(ldconfig -p | awk '/libpmix\.so\.2 / {print $NF; exit}')")
pmix_lib=$(dirname "$(readlink -f "$pmix_lib/libpmix.so.2")")
if [[ -d $pmix_lib/pmix ]]; then
  mkdir -p "$mpi/pmix"
  cp "$pmix_lib"/pmix/*.so "$mpi/pmix/"
fi

skip='^(libc|libm|libdl|librt|libpthread|ld-linux.*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas.*|libcudnn.*|libnccl)\.so'
find "$tree" -type f \( -path "$tree/bin/*" -o -path "$mpi/*" -name '*.so' -o -path "$mpi/bin/*" \) -print0 |
  xargs -0 -n1 ldd 2>/dev/null | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  name=$(basename "$lib")
  [[ $name =~ $skip ]] && continue
  cp -L "$lib" "$tree/lib/$name"
done
if find "$tree" -type f -name '*.so' -print0 | xargs -0 -n1 ldd 2>/dev/null | grep -q "not found"; then
  echo "error: a packed library needs one that was not found here" >&2
  exit 1
fi
git rev-parse --short HEAD >"$tree/commit" 2>/dev/null || echo unknown >"$tree/commit"

rm -rf "$out"
mkdir -p "$out"
tar -C "$tree" -czf "$out/pack.tar.gz" .
cp "$tree/commit" "$out/commit"
echo "packed $(ls "$tree/bin" | wc -l) binaries, Open MPI $(ompi_info --parsable | sed -n 's/^ompi:version:full://p') and" \
  "$(ls "$tree/lib" | wc -l) libraries ($(du -sh "$tree" | cut -f1)) into $out/pack.tar.gz ($(du -sh "$out/pack.tar.gz" | cut -f1))"
