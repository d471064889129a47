#!/usr/bin/env bash
# Runs tessera's GPU checks on a lent GPU machine (an NVIDIA driver and a CUDA 13 toolkit, none of Debian's
# libraries) from what bench/gpu/pack.sh packed: the CUDA ops against their CPU twins and 20 training steps of both
# families and objectives against the CPU (backend_tests); the NCCL and staged communicators against MPI
# (nccl_tests); every parallel layout on the GPU against one GPU rank, and checkpoints passed between CPU and GPU
# runs (parallel_tests; both under the packed mpirun, ranks sharing the GPU); the CLI (prepare, train GPT-2 124M,
# eval, generate); then GPT-2 124M's step, GEMMs, attention and memory (bench_gpu_step). Prints everything; with $OUT set, also writes gpu-report.txt (and the
# layouts' whole log, layouts-log.txt) there.
#   Usage: bash bench/gpu/run.sh [PACK=build-gpu-pack] [RANKS=2]
set -uo pipefail
cd "$(dirname "$0")/../.."
packed=$(cd "${1:-build-gpu-pack}" && pwd)
ranks=${2:-2}
report=${OUT:-$packed}/gpu-report.txt
pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
tar -C "$pack" -xzf "$packed/pack.tar.gz" || { echo "error: cannot unpack $packed/pack.tar.gz (bash bench/gpu/pack.sh)"; exit 1; }
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
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
echo "== missing libraries (none expected)"
for f in "$pack"/bin/* "$pack"/mpi/bin/*; do ldd "$f" | grep "not found" | sed "s|^|$(basename "$f"): |"; done | grep . || echo "none"
gpu_here() { nvidia-smi -L >/dev/null 2>&1; }
# the packed Open MPI, relocated; its components and PMIx's found below the pack
export OPAL_PREFIX=$pack/mpi PMIX_MCA_mca_base_component_path=$pack/mpi/pmix
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
mpirun() { timeout "$1" "$pack/mpi/bin/mpirun" -np "$2" --oversubscribe --bind-to none "${@:3}"; }
# runs a test binary; on a GPU machine a skipped CUDA test is a failure: the check must not pass vacuously
checked() {
  local log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
  if gpu_here && grep -q "skipped: no GPU" "$log"; then
    echo "error: a GPU is here but CUDA tests were skipped"
    status=1
  fi
  rm -f "$log"
}
echo "== CUDA ops against the CPU (backend_tests)"
checked "$pack/bin/backend_tests" --gtest_color=no
echo "== the NCCL communicator (one rank) and the staged one (two ranks sharing the GPU) against MPI (nccl_tests)"
checked mpirun 120 1 "$pack/bin/nccl_tests" --gtest_color=no --gtest_filter='Nccl.*:*Staged*/cuda:*DeviceSelf*/cuda'
checked mpirun 120 2 "$pack/bin/nccl_tests" --gtest_color=no --gtest_filter='*Staged*'
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [[ ${gpus:-0} -ge 2 ]]; then  # a GPU per rank: NCCL between two ranks (collectives, the pipeline's links)
  echo "== the NCCL communicator on two GPUs against MPI (nccl_tests)"
  checked mpirun 120 2 "$pack/bin/nccl_tests" --gtest_color=no --gtest_filter='Nccl.*'
fi
echo "== every layout on the GPU against one GPU rank; checkpoints between CPU and GPU ($ranks ranks, parallel_tests)"
# every run prints its plan: the whole log goes to layouts-log.txt beside the report, the verdicts here
log=$(dirname "$report")/layouts-log.txt
mpirun 300 "$ranks" env OMP_NUM_THREADS=2 "$pack/bin/parallel_tests" --gtest_color=no --gtest_filter='Parity.*:Resume.*' >"$log" 2>&1
layouts_status=$?
grep -E '^\[ *(RUN|OK|FAILED|PASSED|SKIPPED) *\]|layout runs on|resumed runs on|pairs between|Failure|rror' "$log"
if [[ $layouts_status -ne 0 ]]; then
  echo "error: parallel_tests exited with $layouts_status (124: over 300 s); the log's end:"
  tail -40 "$log"
  status=1
fi
if gpu_here && ! grep -q "layout runs on .* on cuda" "$log"; then
  echo "error: a GPU is here but the layouts did not run on it"
  status=1
fi
echo "== the CLI on the GPU: tinyshakespeare prepared with GPT-2's BPE, GPT-2 124M trained (bf16 products), evaluated, sampled"
# without a GPU (bench/gpu/try-pack.sh) a tiny model on the CPU, to try the same commands
work=$(mktemp -d)
tessera() { mpirun 240 1 "$pack/bin/tessera" "$@"; }
if gpu_here; then
  model=(-c gpt2-124m --steps 30 --set train.micro_batch=8 --set train.global_batch=16)
else
  model=(-c tiny-gpt2 --steps 10 --set model.max_seq_len=64)
fi
{
  tessera prepare "$pack/share/tessera/tinyshakespeare.txt" -o "$work/data" --tokenizer gpt2 --doc-boundary blank \
    --val-fraction 0.05 >"$work/prepare.log" 2>&1 || { cat "$work/prepare.log"; false; }
  tessera train "${model[@]}" --data "$work/data" --set train.dtype=bf16 --set log.interval=5 --set eval.interval=0 \
    --set eval.batches=2 --checkpoint-dir "$work/run" >"$work/train.log" 2>&1 || { tail -30 "$work/train.log"; false; }
  grep -E "^(device|threads|memory per rank|note|warning):|step .*/.* \| loss|checkpoint: saved" "$work/train.log"
  tessera eval -m "$work/run" --samples 64
  tessera generate -m "$work/run" --prompt "ROMEO:" --max-tokens 40 --temperature 0.8 --top-k 40
} || { echo "error: the CLI failed on this machine"; status=1; }
if gpu_here && ! grep -q "^device: cuda" "$work/train.log"; then
  echo "error: a GPU is here but tessera train did not run on it"
  status=1
fi
rm -rf "$work"
echo "== GPT-2 124M, T = 1024, bf16 products (bench_gpu_step)"
"$pack/bin/bench_gpu_step" || status=1
echo "== the same step with cuDNN's fused attention (train.attention = \"cudnn\": bf16 operands, tensor cores)"
"$pack/bin/bench_gpu_step" --parts step --attention cudnn --steps 5 || status=1
echo "== the same step in fp32, and with the materialised attention (B x NH x T x T kept), for comparison"
"$pack/bin/bench_gpu_step" --parts step --dtype fp32 --steps 5 || status=1
"$pack/bin/bench_gpu_step" --parts step --attention materialized --steps 5 || status=1
echo "== done: exit $status"
exit "$status"
