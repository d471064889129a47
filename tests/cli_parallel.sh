#!/usr/bin/env bash
# Tensor and data parallelism from the command line, under mpirun: a model trained at tp = 2 is the complete model
# (the same tensors as one rank's); eval and generate read it on any layout and give one rank's answer; bad layouts
# get one line on every rank and exit 2 before anything is written; a rank that dies ends the job within 60 s.
# Usage: cli_parallel.sh path/to/tessera
set -u
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/cli_checks.sh"
mpi() { mpirun -q --oversubscribe -np "$@"; }
has() { [[ $1 == *"$2"* ]]; }
# every line of the output of a command except the timing ones, for comparing runs
"$tessera" prepare "$(dirname "$0")/../data/tinyshakespeare.txt" -o "$work/ds" --tokenizer byte --no-progress \
  >/dev/null || { echo "FAIL: prepare"; exit 1; }
train=(train -c tiny-llama --data "$work/ds" --set train.steps=6 --set train.micro_batch=2 --set train.global_batch=4
       --set log.peak_flops=1e9 --set train.threads=1 --set eval.batches=2)

# --- train at tp 2 and at 1 rank: the same model file (names, shapes), losses equal to printing precision
mpi 2 "$tessera" "${train[@]}" --tp 2 --checkpoint-dir "$work/tp2" > "$work/tp2.log" 2>&1
check "train --tp 2 succeeds" test $? -eq 0
check "the start-up log prints the layout" grep -q "layout: world 2 (tp 2, pp 1, dp 1)" "$work/tp2.log"
check "... and the memory per rank" grep -q "memory per rank: .* parameters on each rank" "$work/tp2.log"
"$tessera" "${train[@]}" --checkpoint-dir "$work/one" > "$work/one.log" 2>&1
check "train on one rank succeeds" test $? -eq 0
losses() { grep -o "loss [0-9.]*" "$1" | head -n 6; }
check "tp 2 prints the losses of one rank" test "$(losses "$work/tp2.log")" = "$(losses "$work/one.log")"
tensors() { "$tessera" info --checkpoint "$1" | sed -n '/^# tensors/,/^$/p' | awk '{print $1}'; }
check "the checkpoint at tp 2 holds the tensors of one rank's" test "$(tensors "$work/tp2")" = "$(tensors "$work/one")"
check "... in two shards" bash -c "'$tessera' info --checkpoint '$work/tp2' | grep -q 'layout: tp 2, pp 1, dp 1'"

# --- pipeline: 2 stages x tp 2 prints one rank's losses, and its plan
mpi 4 "$tessera" "${train[@]}" --tp 2 --pp 2 --checkpoint-dir "$work/tp2pp2" > "$work/tp2pp2.log" 2>&1
check "train --tp 2 --pp 2 succeeds" test $? -eq 0
check "the start-up log prints the pipeline" grep -q "pipeline: 1F1B | layers per stage \[1, 1\] | 2 micro-batches per step | bubble 33.3%" "$work/tp2pp2.log"
check "tp 2 x pp 2 prints the losses of one rank" test "$(losses "$work/tp2pp2.log")" = "$(losses "$work/one.log")"
check "the checkpoint at tp 2 x pp 2 holds the tensors of one rank's" test "$(tensors "$work/tp2pp2")" = "$(tensors "$work/one")"

# --- a dry run plans any layout from one process
plan=$("$tessera" "${train[@]}" --tp 2 --pp 2 --dp 16 --set train.global_batch=64 --dry-run 2>&1)
check "train --dry-run plans tp 2 x pp 2 x dp 16 from one process" has "$plan" "layout: world 64 (tp 2, pp 2, dp 16)"
check "... with its pipeline" has "$plan" "pipeline: 1F1B | layers per stage [1, 1]"

# --- eval and generate on any layout
evals() { grep -o "loss [0-9.]* | perplexity [0-9.]*" <<<"$1"; }
one=$("$tessera" eval -m "$work/tp2" --samples 16 2>&1)
two=$(mpi 2 "$tessera" eval -m "$work/tp2" --samples 16 --tp 2 2>&1)
four=$(mpi 4 "$tessera" eval -m "$work/tp2" --samples 16 --tp 2 --threads 1 2>&1)
check "eval --tp 2 gives one rank's loss: $(evals "$two") vs $(evals "$one")" test "$(evals "$two")" = "$(evals "$one")"
check "eval --tp 2 on 4 ranks (dp 2) too: $(evals "$four")" test "$(evals "$four")" = "$(evals "$one")"
pp2=$(mpi 2 "$tessera" eval -m "$work/tp2" --samples 16 --pp 2 2>&1)
check "eval --pp 2 gives one rank's loss: $(evals "$pp2")" test "$(evals "$pp2")" = "$(evals "$one")"
g1=$("$tessera" generate -m "$work/tp2" -p "ROMEO:" -n 40 -t 0 2>&1)
g2=$(mpi 2 "$tessera" generate -m "$work/tp2" -p "ROMEO:" -n 40 -t 0 --tp 2 2>&1)
check "generate --tp 2 writes one rank's greedy text once" test "$g2" = "$g1"

# --- bad layouts: one line, exit 2, nothing written
refuse_mpi() {  # what needle ranks args...: one line although several ranks fail
  local what=$1 needle=$2 n=$3
  shift 3
  local err rc
  err=$(mpi "$n" "$tessera" "$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne 2 ]]; then echo "FAIL $what: exit code $rc ($err)"; failures=$((failures + 1)); return; fi
  if [[ $(printf '%s\n' "$err" | grep -c .) -ne 1 || $err != *"$needle"* ]]; then
    echo "FAIL $what: '$err' should be one line naming '$needle'"; failures=$((failures + 1)); return
  fi
  passed=$((passed + 1))
}
refuse_mpi "tp not dividing the heads" "parallel.tp = 3 does not divide model.n_head = 4" 3 "${train[@]}" --tp 3 \
  --checkpoint-dir "$work/never"
refuse_mpi "tp not dividing the kv heads" "parallel.tp = 4 does not divide model.n_kv_head = 2" 4 "${train[@]}" \
  --tp 4 --checkpoint-dir "$work/never"
refuse_mpi "tp not dividing the world" "tp * pp * dp = 2 * 1 * 1 = 2 does not match the 3 MPI ranks" 3 \
  "${train[@]}" --tp 2 --dp 1 --checkpoint-dir "$work/never"
refuse_mpi "global batch not dividing" "train.global_batch (a multiple of micro_batch * dp)" 4 "${train[@]}" --tp 2 \
  --set train.global_batch=6 --checkpoint-dir "$work/never"
refuse_mpi "pp not dividing the layers" "model.n_layer = 2 does not divide into parallel.pp * parallel.virtual_stages = 4" 4 \
  "${train[@]}" --pp 4 --checkpoint-dir "$work/never"
refuse_mpi "pp_layers not adding up" "parallel.pp_layers adds up to 3 layers; model.n_layer = 2" 2 "${train[@]}" --pp 2 \
  --set "parallel.pp_layers=[2, 1]" --checkpoint-dir "$work/never"
refuse_mpi "too few micro-batches for 1F1B" "the 1F1B schedule of parallel.pp = 2 stages needs at least 2" 2 \
  "${train[@]}" --pp 2 --set train.global_batch=2 --checkpoint-dir "$work/never"
refuse_mpi "interleaving without pipeline" "parallel.virtual_stages = 2 needs pipeline parallelism" 2 "${train[@]}" \
  --set parallel.virtual_stages=2 --checkpoint-dir "$work/never"
refuse_mpi "sequence parallelism without tp" "parallel.sequence_parallel = true needs tensor parallelism" 2 \
  "${train[@]}" --dp 2 --set parallel.sequence_parallel=true --checkpoint-dir "$work/never"
refuse_mpi "interleaving with micro-batches not a multiple of pp" "needs a multiple of parallel.pp = 2" 2 "${train[@]}" \
  --pp 2 --set parallel.virtual_stages=2 --set model.n_layer=4 --set train.global_batch=6 --checkpoint-dir "$work/never"
check "... and nothing was written" test ! -e "$work/never"

# --- ZeRO-1 with overlapped buckets and sequence parallelism on 4 ranks: one rank's losses
mpi 4 "$tessera" "${train[@]}" --tp 2 --dp 2 --set parallel.zero1=true --set parallel.sequence_parallel=true \
  --set parallel.bucket_mb=0.05 --checkpoint-dir "$work/zero" > "$work/zero.log" 2>&1
check "train --tp 2 --dp 2 with ZeRO-1 and sequence parallelism succeeds" test $? -eq 0
check "... prints its parallel settings" grep -q "parallel: sequence parallelism on | ZeRO-1 on" "$work/zero.log"
check "... and the losses of one rank" test "$(losses "$work/zero.log")" = "$(losses "$work/one.log")"
refuse_mpi "eval --tp not dividing the world" "--tp 2 x --pp 1 does not divide the 3 ranks" 3 eval -m "$work/tp2" --tp 2
refuse_mpi "eval --tp not dividing the heads" "parallel.tp = 4 does not divide model.n_kv_head = 2" 4 eval \
  -m "$work/tp2" --tp 4

# --- a rank that dies ends the job within 60 s (never a hang until the time limit)
mpi 2 "$tessera" "${train[@]}" --tp 2 --set train.steps=100000 --set eval.interval=0 > "$work/killed.log" 2>&1 &
job=$!
for _ in $(seq 300); do grep -Eq "step +1/" "$work/killed.log" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -f "tessera train -c tiny-llama" | sort -n | tail -n 1)
start=$(date +%s)
kill -SEGV "$victim"
for _ in $(seq 600); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
wait "$job"
rc=$?
took=$(($(date +%s) - start))
check "a rank killed by SIGSEGV: mpirun exits non-zero (got $rc)" test "$rc" -ne 0
check "... within 60 s (took ${took} s)" test "$took" -le 60
pkill -f "tessera train -c tiny-llama" 2>/dev/null

finish
