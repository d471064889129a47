#!/usr/bin/env bash
# 3D parallelism on this machine: the communicator against raw MPI, then tokens/s of each layout of the benchmark
# model (GPT-2 family, L=6, C=512, 8 heads, T=256, vocab 50304, global batch 16) against one rank using every core,
# the pipeline's measured bubble against (p-1)/(v m + p-1), the share of the step spent waiting for the
# data-parallel reduction with and without overlap, and the planned memory per rank. Prints markdown tables for
# docs/performance.md; never fails a build.
# The pipeline rows run twice: on the benchmark model, whose head (vocabulary 50304 x 512) costs as much as 7.5 of
# its layers, so two stages are unbalanced by construction, and on the same model over a byte-level vocabulary
# (259 tokens), whose stages are balanced: there the idle time is the schedule's bubble alone.
#   Usage: bash bench/parallel.sh [build-dir] [steps] [sections: comm,layouts,pipeline]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
steps=${2:-6}
sections=${3:-comm,layouts,pipeline}
source jobs/blas-env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake --build "$build" -j"$(nproc)" --target tessera bench_comm >/dev/null
tessera=$build/bin/tessera
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; $(date -u +%Y-%m-%d)"
if [[ $sections == *comm* ]]; then
  echo
  echo "## Communicator against raw MPI (same buffers, median of 20; GB/s of the whole buffer)"
  echo
  echo "| operation | ranks | buffer | raw MPI GB/s | tessera GB/s | tessera / raw |"
  echo "|---|---|---|---|---|---|"
  mpirun -q -np 2 "$build/bin/bench_comm"
fi

"$tessera" prepare data/tinyshakespeare.txt -o "$work/data" --tokenizer gpt2 --no-progress >/dev/null
"$tessera" prepare data/tinyshakespeare.txt -o "$work/bytes" --tokenizer byte --no-progress >/dev/null
data=$work/data
model=(--set model.family=gpt2 --set model.n_layer=6 --set model.d_model=512 --set model.n_head=8
       --set model.max_seq_len=256 --set train.global_batch=16 --set train.steps="$steps" --set log.interval=1
       --set eval.interval=0 --set eval.batches=1 --set log.peak_flops=1e9)
# run NAME RANKS THREADS ARGS...: trains and prints "tokens/s dp_wait_ms step_ms pp_wait_ms pp_step_ms" (medians
# over the steps after the first two)
run() {
  local name=$1 ranks=$2 threads=$3
  shift 3
  mpirun -q --bind-to none -np "$ranks" "$tessera" train -c tiny-gpt2 --data "$data" "${model[@]}" \
    --set train.threads="$threads" \
    --metrics "$work/$name.jsonl" "$@" >"$work/$name.log" 2>&1 || { echo "n/a n/a n/a n/a n/a"; return; }
  python3 - "$work/$name.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_s"' in l][2:]
med = lambda k: statistics.median(r[k] for r in rows)
print(f"{med('tokens_per_s'):.0f} {med('dp_wait_ms'):.0f} {med('step_ms'):.0f} {med('pp_wait_ms'):.0f} {med('pp_step_ms'):.0f}")
PY
}
memory() {  # the planned memory per rank of a layout (train --dry-run)
  local ranks=$1
  shift
  mpirun -q -np "$ranks" "$tessera" train -c tiny-gpt2 --data "$data" "${model[@]}" --dry-run "$@" 2>/dev/null |
    sed -n 's/^memory per rank: \([^=]*\)=.*/\1/p' | head -n 1
}

header() {
  echo
  echo "## $1 on $cores cores (global batch 16; $steps steps, medians after the first two)"
  echo
  echo "| layout | ranks x threads | micro-batch | tokens/s | vs 1 rank | goal | pipeline wait (bubble) | ideal bubble | dp wait / step | memory per rank (plan) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
}
row() {  # label ranks micro baseline goal ideal-bubble args...
  local label=$1 ranks=$2 micro=$3 base=$4 goal=$5 ideal=$6
  shift 6
  local tps dpw step ppw pps
  read -r tps dpw step ppw pps <<<"$(run "$(echo "$label" | tr -c 'a-z0-9' _)" "$ranks" 1 --set train.micro_batch="$micro" "$@")"
  local rel bubble share
  rel=$(python3 -c "print(f'{$tps / $base:.2f}')" 2>/dev/null || echo n/a)
  bubble=$(python3 -c "print(f'{100 * $ppw / $pps:.1f}%' if $pps > 0 else '')" 2>/dev/null || echo n/a)
  share=$(python3 -c "print(f'{100 * $dpw / $step:.1f}%')" 2>/dev/null || echo n/a)
  echo "| $label | $ranks x 1 | $micro | $tps | $rel | $goal | $bubble | $ideal | $share | $(memory "$ranks" --set train.micro_batch="$micro" "$@") |"
}
baseline() {  # micro: one rank on every core
  local tps
  read -r tps _ _ _ _ <<<"$(run "one$1" 1 "$cores" --set train.micro_batch="$1")"
  echo "$tps"
}
if [[ $sections == *layouts* ]]; then
  header "Tensor and data parallel layouts of the benchmark model"
  base8=$(baseline 8)
  echo "| 1 rank | 1 x $cores | 8 | $base8 | 1.00 | | | | | $(memory 1 --set train.micro_batch=8) |"
  row "tp 2" 2 8 "$base8" ">= 0.90" "" --tp 2
  row "tp 2, sequence parallel" 2 8 "$base8" ">= 0.90" "" --tp 2 --set parallel.sequence_parallel=true
  row "dp 2, overlapped buckets" 2 8 "$base8" ">= 0.90" "" --dp 2
  row "dp 2, reduced after backward" 2 8 "$base8" "" "" --dp 2 --set parallel.overlap_grad_reduce=false
  row "dp 2, ZeRO-1" 2 8 "$base8" "" "" --dp 2 --set parallel.zero1=true
fi
if [[ $sections == *pipeline* ]]; then
  for vocab in gpt2 byte; do
    if [[ $vocab == byte ]]; then
      data=$work/bytes
      header "Pipeline layouts, the benchmark model over a byte-level vocabulary (balanced stages)"
    else
      header "Pipeline layouts of the benchmark model (the head on the last stage: unbalanced)"
    fi
    base2=$(baseline 2)
    echo "| 1 rank | 1 x $cores | 2 | $base2 | 1.00 | | | | | $(memory 1 --set train.micro_batch=2) |"
    row "pp 2, 1F1B, m = 8" 2 2 "$base2" ">= 0.90 (1 - 11.1%)" "11.1%" --pp 2
    [[ $vocab == gpt2 ]] && row "pp 2, 1F1B, m = 8, layers [5, 1]" 2 2 "$base2" "" "11.1%" --pp 2 --set 'parallel.pp_layers=[5, 1]'
    row "pp 2, interleaved v = 2, m = 8, layers [1, 2, 2, 1]" 2 2 "$base2" ">= 0.90 (1 - 5.9%)" "5.9%" --pp 2 \
      --set parallel.virtual_stages=2 --set 'parallel.pp_layers=[1, 2, 2, 1]'
    row "pp 2, all forwards then all backwards, m = 8" 2 2 "$base2" "" "11.1%" --pp 2 --set parallel.pp_schedule=afab
  done
fi
