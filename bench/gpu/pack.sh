#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run tessera's GPU checks: the binaries built here (a CUDA build) and the
# shared libraries they need that such a machine lacks (OpenBLAS, fmt, OpenMP, ...; found with ldd). Not packed:
# glibc and libstdc++ (the machine's are newer), the driver, and CUDA's libraries (cuBLASLt, NCCL: the machine's
# CUDA 13 toolkit and its Python wheels hold them; run.sh finds them).
#   Usage: bash bench/gpu/pack.sh [BUILD_DIR=build] [OUT=build-gpu-pack]
# then, on the GPU machine: bash bench/gpu/run.sh OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-build-gpu-pack}
binaries=(backend_tests bench_gpu_step)
for b in "${binaries[@]}"; do
  [[ -x $build/bin/$b ]] || { echo "error: $build/bin/$b is missing: build it first (cmake --build $build --target $b)" >&2; exit 1; }
done
grep -q 'TESSERA_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "error: $build is not a CUDA build (TESSERA_CUDA=OFF): configure it with nvcc on PATH" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
for b in "${binaries[@]}"; do cp "$build/bin/$b" "$out/bin/"; done
skip='^(libc|libm|libdl|librt|libpthread|ld-linux.*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas.*|libcudnn.*|libnccl)\.so'
for b in "${binaries[@]}"; do ldd "$build/bin/$b"; done | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  name=$(basename "$lib")
  [[ $name =~ $skip ]] && continue
  cp -L "$lib" "$out/lib/$name"
done
git rev-parse --short HEAD >"$out/commit" 2>/dev/null || true
echo "packed $(ls "$out/bin" | wc -l) binaries and $(ls "$out/lib" | wc -l) libraries into $out ($(du -sh "$out" | cut -f1))"
