#!/usr/bin/env bash
# tessera's Slurm jobs on a real one-node Slurm (tests/slurm/cluster.sh: munged, slurmctld and slurmd on localhost):
# pretrain.sbatch with 4 ranks finishes and writes its checkpoints; an identical job preempted by its signal saves,
# requeues itself, resumes from its checkpoint and ends with the same final loss as the first, bit for bit;
# convert.sbatch reshards the finished run to tp 2 (which evaluates to the same loss and resumes at tp 2) and exports
# it to Hugging Face format (the same loss again); a strong and a weak scaling sweep run one job at a time and are
# collected into a CSV and a PNG; a job one of whose ranks is killed ends non-zero within 60 s. The
# cluster is stopped and removed afterwards, also when a check fails.
#   Usage: jobs_test.sh path/to/tessera
set -u
tessera=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
cluster=$work/cluster
source "$root/tests/cli_checks.sh"
cleanup() {
  "$root/tests/slurm/cluster.sh" stop "$cluster"
  if [[ -n ${KEEP_WORK:-} ]]; then echo "work: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
has() { [[ $1 == *"$2"* ]]; }

env_line=$("$root/tests/slurm/cluster.sh" start "$cluster" 8) || { echo "FAIL: the Slurm cluster did not start"; exit 1; }
eval "$env_line"
"$tessera" prepare "$root/data/tinyshakespeare.txt" -o "$work/ds" --tokenizer byte --no-progress >/dev/null ||
  { echo "FAIL: prepare"; exit 1; }

# a job of the pretraining script: 4 ranks (the script's default), data parallel
submit() {
  local run=$1
  shift
  (cd "$work" && sbatch --parsable --export="ALL,TESSERA_HOME=$root,TESSERA_BIN=$tessera" \
    "$root/jobs/slurm/pretrain.sbatch" tiny-gpt2 "$work/$run" --data "$work/ds" --set log.peak_flops=1e9 \
    --set train.micro_batch=2 --set eval.batches=2 "$@")
}
# waits until the job has left the queue (requeued runs included), at most $2 seconds; false on a timeout
wait_job() {
  local i
  for ((i = 0; i < ${2:-300} * 5; ++i)); do
    [[ -z $(squeue -h -j "$1" 2>/dev/null) ]] && return 0
    sleep 0.2
  done
  return 1
}
# waits until a metrics file holds $2 training steps
wait_steps() {
  local i
  for ((i = 0; i < 1200; ++i)); do
    [[ -s $1 && $(grep -c '"loss"' "$1") -ge $2 ]] && return 0
    sleep 0.1
  done
  return 1
}
field() { scontrol show job "$1" | tr ' ' '\n' | grep "^$2=" | head -1 | cut -d= -f2; }
last_loss() { /usr/bin/python3 -c '
import json, sys
print(repr([r for r in map(json.loads, open(sys.argv[1])) if "loss" in r][-1]["loss"]))' "$1"; }

# --- a job that runs to the end: 4 ranks, checkpoints every 10 steps
# (the cosine ends at step 40, so that a resharded copy may go on to step 35 with the same schedule)
a=$(submit run-a --steps 30 --set checkpoint.interval=10 --set train.decay_steps=40)
check "pretrain.sbatch is accepted" test -n "$a"
check "... and finishes within 5 minutes" wait_job "$a" 300
check "... COMPLETED with exit code 0" test "$(field "$a" JobState):$(field "$a" ExitCode)" = "COMPLETED:0:0"
log=$(cat "$work/tessera-pretrain-$a.log" 2>/dev/null)
check "one log per job, with the allocation" has "$log" "x 4 tasks = 4 ranks"
check "... the resolved config" has "$log" "# resolved config"
check "... and the layout (4 ranks, data parallel)" has "$log" "dp 4"
check "its checkpoints are written" test "$(cat "$work/run-a/latest" 2>/dev/null)" = "step-00000030"
check "... every one of them" test -d "$work/run-a/step-00000010" -a -d "$work/run-a/step-00000020"

# --- the same job, preempted: the signal saves, the job requeues itself and resumes from the checkpoint
b=$(submit run-b --steps 30 --set checkpoint.interval=10 --set train.decay_steps=40)
check "the second job trains" wait_steps "$work/run-b/metrics.jsonl" 5
scancel --signal=USR1 --batch "$b"
check "the preempted job finishes after its requeue" wait_job "$b" 300
check "... COMPLETED once requeued (Restarts=1)" test "$(field "$b" JobState):$(field "$b" Restarts)" = "COMPLETED:1"
log=$(cat "$work/tessera-pretrain-$b.log" 2>/dev/null)
check "every rank saved and stopped on the signal" has "$log" "on SIGUSR1; rerun the same command to resume"
check "... the job requeued itself" has "$log" "requeueing job $b, which resumes from it"
check "... and its rerun resumed from the checkpoint" has "$log" "resumed from $work/run-b/step-"
check "the requeued job ends with the first job's final loss, bit for bit" \
  test "$(last_loss "$work/run-b/metrics.jsonl")" = "$(last_loss "$work/run-a/metrics.jsonl")"
check "... and its metrics hold each step once" test "$(grep -c '"loss"' "$work/run-b/metrics.jsonl")" -eq 30

# --- convert.sbatch: reshard to tp 2, export to Hugging Face; the same model at every step
convert() {
  (cd "$work" && sbatch --parsable --export="ALL,TESSERA_HOME=$root,TESSERA_BIN=$tessera" \
    "$root/jobs/slurm/convert.sbatch" "$@")
}
val_loss() { "$tessera" eval "$@" --data "$work/ds" --split val 2>&1 | grep -o 'loss [0-9.]*'; }
r=$(convert "$work/run-a" "$work/run-a-tp2" --tp 2)
h=$(convert "$work/run-a" "$work/run-a-hf" --to hf)
check "convert.sbatch reshards" wait_job "$r" 120
check "... and exports" wait_job "$h" 120
check "... both COMPLETED" test "$(field "$r" JobState):$(field "$h" JobState)" = "COMPLETED:COMPLETED"
check "the resharded checkpoint is at tp 2" has "$("$tessera" info --checkpoint "$work/run-a-tp2" 2>&1)" "tp 2"
loss_a=$(val_loss -m "$work/run-a")
check "the resharded checkpoint evaluates to the run's loss ($loss_a)" test "$(val_loss -m "$work/run-a-tp2")" = "$loss_a"
check "... and so does the Hugging Face export" test "$(val_loss -m "$work/run-a-hf")" = "$loss_a"
t2=$(submit run-a-tp2 --steps 35 --set train.decay_steps=40 --tp 2)
check "pretrain.sbatch resumes the resharded checkpoint at tp 2" wait_job "$t2" 300
check "... COMPLETED" test "$(field "$t2" JobState)" = "COMPLETED"
log=$(cat "$work/tessera-pretrain-$t2.log" 2>/dev/null)
check "... from its step 30" has "$log" "resumed from $work/run-a-tp2/step-00000030: step 30"
check "... and trains on to step 35" test "$(cat "$work/run-a-tp2/latest" 2>/dev/null)" = "step-00000035"

# --- scaling studies: the sweep's jobs one after the other, collected into a CSV and a PNG
sweep() { "$root/jobs/scaling_sweep.py" --steps 6 -c tiny-gpt2 --wait "$@" -- --data "$work/ds" \
  --set log.peak_flops=1e9 --set eval.batches=1 > "$work/sweep.log" 2>&1; }
check "a strong scaling sweep (1, 2, 4 ranks; dp and tp2) runs" \
  sweep --kind strong --ranks 1,2,4 --layouts dp,tp2 --global-batch 8 -o "$work/strong"
check "... and is collected" "$root/jobs/scaling_report.py" "$work/strong" -o "$work/strong/scaling"
check "the CSV has a row per (ranks, layout), efficiency 1 at the base, speed-up / ranks elsewhere" /usr/bin/python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["ranks"], r["layout"]) for r in rows] == [("1", "dp"), ("2", "dp"), ("2", "tp2"), ("4", "dp"), ("4", "tp2")], rows
assert all(float(r["tokens_per_s"]) > 0 and float(r["step_ms"]) > 0 and 0 < float(r["mfu"]) <= 1 for r in rows), rows
assert all(r["global_batch"] == "8" and r["kind"] == "strong" for r in rows), rows
assert float(rows[0]["efficiency"]) == 1.0, rows[0]
for r in rows:
    assert abs(float(r["efficiency"]) - float(r["speedup"]) / int(r["ranks"])) < 1e-4, r' "$work/strong/scaling.csv"
check "the PNG is drawn" /usr/bin/python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, len(data)' "$work/strong/scaling.png"
# one job at a time: each starts after the one before it ended (scontrol's times, to the second)
jobs=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(r["job"] for r in json.load(open(sys.argv[1]))["runs"]))' \
  "$work/strong/sweep.json")
times=$(for j in $jobs; do echo "$(field "$j" StartTime) $(field "$j" EndTime)"; done)
check "... its jobs ran one at a time" /usr/bin/python3 -c '
import sys
spans = [line.split() for line in sys.argv[1].splitlines()]
assert len(spans) == 5 and all(spans[i + 1][0] >= spans[i][1] for i in range(4)), spans' "$times"
check "a weak scaling sweep (1, 2 ranks, 4 sequences per rank) runs" \
  sweep --kind weak --ranks 1,2 --batch-per-rank 4 -o "$work/weak"
check "... and is collected" "$root/jobs/scaling_report.py" "$work/weak"
check "... its global batch grows with the ranks" /usr/bin/python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["ranks"], r["global_batch"], r["kind"]) for r in rows] == [("1", "4", "weak"), ("2", "8", "weak")], rows
' "$work/weak/scaling.csv"
out=$("$root/jobs/scaling_sweep.py" --kind weak --ranks 1 --batch-per-rank 4 -c tiny-gpt2 -o "$work/weak" 2>&1)
rc=$?
check "a sweep into a directory that holds one is refused" test "$rc" -ne 0 -a "$out" != "${out/holds a sweep already/}"

# --- one rank killed: the whole job ends, non-zero, within 60 s (no rank left waiting in a collective)
c=$(submit run-c --steps 100000)
check "a long job trains" wait_steps "$work/run-c/metrics.jsonl" 3
ranks() { pgrep -f -- "^$tessera train -c tiny-gpt2 --checkpoint-dir $work/run-c"; }  # the ranks, not srun
check "... on 4 ranks" test "$(ranks | wc -l)" -eq 4
victim=$(ranks | tail -1)
kill -9 "$victim"
start=$(date +%s)
check "a job with a killed rank ends within 60 s" wait_job "$c" 60
echo "  (it ended $(($(date +%s) - start)) s after the kill)"
check "... FAILED, exit code non-zero" test "$(field "$c" JobState)" = "FAILED"
check "... and no rank is left running" test -z "$(pgrep -f -- "--checkpoint-dir $work/run-c")"

finish
