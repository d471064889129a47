#!/usr/bin/env bash
# `tessera plan` against this machine: its predicted memory per rank and step time beside the measured ones, for a
# run on one rank and on two (data parallel, tensor parallel), each rank one core (train.threads = 1). The machine
# is described to the planner as a "cluster" of one node with a device per core: the per-core sgemm peak
# (`tessera info --peak` / cores), the efficiency the one-rank run reaches (its MFU: the one calibration), a
# shared-memory bandwidth. Memory is each rank's peak resident set (/usr/bin/time -f %M; the largest rank).
# Goals (issue 17): memory within 10%, step time within 25%.
#   Usage: bash bench/plan_check.sh        (about 5 minutes on two cores; build first: cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
source jobs/blas-env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tessera=$PWD/build/bin/tessera
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
"$tessera" prepare data/tinyshakespeare.txt -o "$work/ds" --no-progress > /dev/null
peak=$("$tessera" info --peak | grep -o '^peak [0-9.]*' | cut -d' ' -f2)  # GFLOP/s, all cores
per_core=$(/usr/bin/python3 -c "print($peak * 1e9 / $cores)")
# a model whose buffers dominate a process's memory: GPT-2 vocabulary, T = 512, micro-batch 8
model=(-c shakespeare-gpt2 --set model.max_seq_len=512 --set train.micro_batch=8 --set train.global_batch=16
       --set data.cache_mb=4 --set train.threads=1 --set eval.batches=1 --set "log.peak_flops=$per_core")
steps=8

run() {  # name ranks [train options]
  local name=$1 ranks=$2
  shift 2
  mpirun -q --oversubscribe --bind-to core -np "$ranks" bash -c \
    '/usr/bin/time -f %M -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$work/$name.rss" \
    "$tessera" train "${model[@]}" --data "$work/ds" --steps "$steps" --metrics "$work/$name.jsonl" "$@" > /dev/null
}
run one 1
run dp2 2 --dp 2
run tp2 2 --tp 2

measured() {  # name -> "median_step_s median_mfu max_rss_bytes" over steps 3.. of the run
  /usr/bin/python3 - "$work/$1" <<'PY'
import glob, json, statistics, sys
rows = [r for r in map(json.loads, open(sys.argv[1] + ".jsonl")) if "loss" in r and r["step"] > 2]
rss = max(int(open(f).read().split()[-1]) for f in glob.glob(sys.argv[1] + ".rss.*")) * 1024
print(statistics.median(r["step_ms"] for r in rows) / 1e3, statistics.median(r["mfu"] for r in rows), rss)
PY
}
read -r _ efficiency _ < <(measured one)
plan() {  # ranks: the plan of this machine's cores as a node of that many devices
  "$tessera" plan "${model[@]}" --nodes 1 --devices-per-node "$1" --memory-gb 1000 \
    --peak-tflops "$(/usr/bin/python3 -c "print($per_core / 1e12)")" --efficiency "$efficiency" --intra-gbs 5 \
    --inter-gbs 5 --latency-us 2 --json
}
echo "this machine: $cores cores, sgemm peak ${peak} GFLOP/s in all; efficiency of one rank (its MFU): $efficiency"
printf '%-6s %12s %12s %7s %12s %12s %7s\n' layout "memory plan" measured error "step plan" measured error
for case in "one 1 1 1" "dp2 1 1 2" "tp2 2 1 1"; do
  read -r name tp pp dp <<< "$case"
  read -r step _ rss < <(measured "$name")
  /usr/bin/python3 - "$(plan $((tp * pp * dp)))" "$tp" "$pp" "$dp" "$step" "$rss" "$name" <<'PY'
import json, sys
plan, tp, pp, dp, step, rss, name = json.loads(sys.argv[1]), *map(int, sys.argv[2:5]), float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
p = next(l for l in plan["layouts"] if (l["tp"], l["pp"], l["dp"], l["micro_batch"], l["zero1"]) == (tp, pp, dp, 8, False))
mem_err = p["memory_bytes"] / rss - 1
step_err = p["step_s"] / step - 1
print(f"{name:<6} {p['memory_bytes'] / 2**20:>9.0f} MiB {rss / 2**20:>8.0f} MiB {100 * mem_err:>+6.1f}% "
      f"{p['step_s']:>10.3f} s {step:>10.3f} s {100 * step_err:>+6.1f}%")
PY
done
