#!/usr/bin/env bash
# Runs tessera's GPU checks on a lent GPU machine (an NVIDIA driver and a CUDA 13 toolkit, none of Debian's
# libraries) from what bench/gpu/pack.sh packed: the CUDA ops against their CPU twins and 20 training steps of both
# families and objectives against the CPU (backend_tests), then GPT-2 124M's step, GEMMs, attention and memory
# (bench_gpu_step). Prints everything; with $OUT set, also writes gpu-report.txt there.
#   Usage: bash bench/gpu/run.sh [PACK=build-gpu-pack]
set -uo pipefail
cd "$(dirname "$0")/../.."
pack=$(cd "${1:-build-gpu-pack}" && pwd)
report=${OUT:-$pack}/gpu-report.txt
# CUDA's libraries: the toolkit's, then those of the Python wheels (nvidia-cublas, nvidia-nccl-cu13)
cuda_dirs=()
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -d $d ]] && cuda_dirs+=("$d")
done
for d in /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib; do [[ -d $d ]] && cuda_dirs+=("$d"); done
export LD_LIBRARY_PATH="$pack/lib$(printf ':%s' "${cuda_dirs[@]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
status=0
mkdir -p "$(dirname "$report")"
exec > >(tee "$report") 2>&1
echo "tessera GPU checks, commit $(cat "$pack/commit" 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not found"
echo "== missing libraries (none expected)"
ldd "$pack/bin/backend_tests" | grep "not found" || echo "none"
echo "== CUDA ops against the CPU (backend_tests)"
log=$(mktemp)
"$pack/bin/backend_tests" --gtest_color=no | tee "$log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
# on a GPU machine a skipped CUDA test is a failure: the check must not pass vacuously
if nvidia-smi -L >/dev/null 2>&1 && grep -q "skipped: no GPU" "$log"; then
  echo "error: a GPU is here but the CUDA tests were skipped"
  status=1
fi
rm -f "$log"
echo "== GPT-2 124M, T = 1024, bf16 products (bench_gpu_step)"
"$pack/bin/bench_gpu_step" || status=1
echo "== the same step in fp32, and with the materialised attention (B x NH x T x T kept), for comparison"
"$pack/bin/bench_gpu_step" --parts step --dtype fp32 --steps 5 || status=1
"$pack/bin/bench_gpu_step" --parts step --attention materialized --steps 5 || status=1
echo "== done: exit $status"
exit "$status"
