#!/usr/bin/env bash
# Runs the benchmarks and prints the tables for docs/performance.md: the op micro-benchmarks (Google Benchmark,
# sgemm peak included) and the end-to-end training step of tessera and PyTorch, side by side, on this machine.
#   Usage: bash bench/run.sh [build-dir]      (needs: bash jobs/setup-debian.sh --bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
source jobs/blas-env.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_ops bench_train_step >/dev/null

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}; $(date -u +%Y-%m-%d)"
echo
echo "## Ops (Google Benchmark)"
"$build/bin/bench_ops" --benchmark_min_time=0.2
echo
echo "## Training step: GPT-2 family, L=6, C=512, 8 heads, T=256, micro-batch 8, vocab 50304, tied embeddings"
echo
echo "| code | model | threads | forward ms | backward ms | update ms | step ms | tokens/s | sgemm GFLOP/s | MFU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
"$build/bin/bench_train_step"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 bench/peers/torch_train_step.py
else
  echo "| PyTorch | not installed (bash jobs/setup-debian.sh --bench) | | | | | | | | |"
fi
