#!/usr/bin/env bash
# Checkpoints from the command line: saved every interval and kept as asked; a rerun resumes bit for bit and appends
# its metrics; SIGTERM and SIGUSR1 save and stop cleanly, and the restart continues exactly; kill -9 at random
# moments never leaves a partial checkpoint behind `latest`; another run's checkpoints are never written over;
# damaged checkpoints are refused with one line naming the file and tensor, and nothing is overwritten.
# Usage: cli_checkpoint.sh path/to/tessera [KILL_TRIALS]
set -u
tessera=$1
trials=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -n ${KEEP_WORK:-} ]] && trap 'echo "work: $work"' EXIT
source "$(dirname "$0")/cli_checks.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
has() { [[ $1 == *"$2"* ]]; }
data=$(dirname "$0")/../data/tinyshakespeare.txt
"$tessera" prepare "$data" -o "$work/ds" --tokenizer byte --no-progress >/dev/null || { echo "FAIL: prepare"; exit 1; }
head -c 400000 "$data" > "$work/other.txt"
"$tessera" prepare "$work/other.txt" -o "$work/ds-other" --tokenizer byte --no-progress >/dev/null
# the same schedule whatever --steps says, so that runs of different lengths agree step for step
t=("$tessera" train -c tiny-gpt2 --data "$work/ds" --set log.peak_flops=1e9 --set train.threads=1
   --set train.warmup_steps=4 --set train.decay_steps=600 --set eval.batches=2 --set train.micro_batch=4)
# "step loss grad_norm" of every training line of a metrics file (full precision)
losses() { /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "loss" in r: print(r["step"], repr(r["loss"]), repr(r["grad_norm"]))' "$1"; }
# every file of a directory with its checksum: "nothing overwritten" is this listing unchanged
listing() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# --- interval, keep, latest; the tensors and checksums
"${t[@]}" --steps 10 --set checkpoint.interval=2 --set checkpoint.keep=2 --checkpoint-dir "$work/a" \
  --metrics "$work/a/metrics.jsonl" > "$work/a.log" 2>&1
check "a run with checkpoints succeeds" test $? -eq 0
check "checkpoint.keep = 2 keeps the newest two" test "$(cd "$work/a" && ls -d step-*)" = "$(printf 'step-00000008\nstep-00000010')"
check "latest names the newest" test "$(cat "$work/a/latest")" = "step-00000010"
check "a checkpoint is self-contained (config, tokenizer dir, manifest)" test -s "$work/a/step-00000010/config.toml" \
  -a -d "$work/a/step-00000010/tokenizer" -a -s "$work/a/step-00000010/checkpoint.json"
info=$("$tessera" info --checkpoint "$work/a" 2>&1)
check "info --checkpoint verifies every checksum" has "$info" "checksums: all 84 stored tensors ok"
check "info --checkpoint prints the step and layout" has "$info" "step 10 | 40 samples consumed"
check "info --checkpoint prints global shapes" has "$info" "embed.wte                                (384, 64)"
check "no partial directory is left" test -z "$(ls -A "$work/a" | grep partial)"

# --- resume: bit for bit, metrics appended once per step
"${t[@]}" --steps 16 --checkpoint-dir "$work/full" --metrics "$work/full/metrics.jsonl" > /dev/null 2>&1
"${t[@]}" --steps 16 --checkpoint-dir "$work/a" --metrics "$work/a/metrics.jsonl" > "$work/a2.log" 2>&1
check "the rerun says where it resumed" grep -q "resumed from $work/a/step-00000010: step 10, 40 samples consumed" "$work/a2.log"
check "resumed losses and gradient norms equal the uninterrupted run's, bit for bit" \
  test "$(losses "$work/a/metrics.jsonl")" = "$(losses "$work/full/metrics.jsonl")"
check "... and the metrics hold each step once" test "$(losses "$work/a/metrics.jsonl" | wc -l)" -eq 16
out=$("${t[@]}" --steps 16 --checkpoint-dir "$work/a" 2>&1)
check "a finished run has nothing to train" has "$out" "nothing to train: the checkpoint is at step 16"

# --- bf16 matrix products: the checkpoint holds the fp32 masters; a resume makes the bf16 copy again, bit for bit
bf=("${t[@]}" --set train.dtype=bf16)
"${bf[@]}" --steps 8 --checkpoint-dir "$work/bf-full" --metrics "$work/bf-full/metrics.jsonl" > /dev/null 2>&1
"${bf[@]}" --steps 4 --checkpoint-dir "$work/bf" --metrics "$work/bf/metrics.jsonl" > /dev/null 2>&1
"${bf[@]}" --steps 8 --checkpoint-dir "$work/bf" --metrics "$work/bf/metrics.jsonl" > "$work/bf2.log" 2>&1
check "a bf16 run resumes" grep -q "resumed from $work/bf/step-00000004: step 4" "$work/bf2.log"
check "resumed bf16 losses and gradient norms equal the uninterrupted bf16 run's, bit for bit" \
  test "$(losses "$work/bf/metrics.jsonl")" = "$(losses "$work/bf-full/metrics.jsonl")" -a "$(losses "$work/bf/metrics.jsonl" | wc -l)" -eq 8
check "... and differ from the fp32 run's (the operands are rounded)" \
  test "$(losses "$work/bf-full/metrics.jsonl" | head -3)" != "$(losses "$work/full/metrics.jsonl" | head -3)"

# --- eval, generate and info read a run directory and a checkpoint directory alike
e1=$("$tessera" eval -m "$work/a" 2>&1 | grep -o 'loss [0-9.]*')
e2=$("$tessera" eval -m "$work/a/step-00000016" 2>&1 | grep -o 'loss [0-9.]*')
check "eval -m RUN and -m RUN/step-N agree: $e1" test -n "$e1" -a "$e1" = "$e2"
check "generate -m RUN/step-N" bash -c "'$tessera' generate -m '$work/a/step-00000016' --max-tokens 5 > /dev/null"

# --- convert: reshard to tp 2 x pp 2 and consolidate back, bit for bit; the resharded run resumes at its layout
"$tessera" convert "$work/a" -o "$work/a22" --tp 2 --pp 2 > /dev/null 2>&1
check "convert --tp 2 --pp 2 writes four shards" test "$(ls "$work/a22/step-00000016" | grep -c '^shard-')" -eq 4
"$tessera" convert "$work/a22" -o "$work/a11" > /dev/null 2>&1
for f in "$work"/a/step-00000016/shard-*.h5; do
  check "reshard then consolidate is byte-identical: $(basename "$f")" cmp -s "$f" "$work/a11/step-00000016/$(basename "$f")"
done
mpirun -q --oversubscribe -np 4 "${t[@]}" --tp 2 --pp 2 --steps 18 --set train.global_batch=8 --set train.micro_batch=2 \
  --checkpoint-dir "$work/a22" > "$work/a22.log" 2>&1
check "the resharded checkpoint resumes at tp 2 x pp 2" grep -q "resumed from $work/a22/step-00000016: step 16" "$work/a22.log"
refuse "convert into a directory that is not empty" "exists and is not empty" "$tessera" convert "$work/a" -o "$work/a22"
refuse "convert to a layout the model cannot be split by" "parallel.tp" "$tessera" convert "$work/a" -o "$work/a3" --tp 3

# --- --init-from: a new run from a checkpoint's weights (step 0, data position 0); its first loss is eval's
"${t[@]}" --steps 2 --set data.shuffle=false --set train.global_batch=8 --init-from "$work/a" --checkpoint-dir "$work/init" \
  --metrics "$work/init/metrics.jsonl" > "$work/init.log" 2>&1
check "--init-from says what it did" grep -q "initialised from $work/a/step-00000016 (step 16 of its run): a new run from step 0" "$work/init.log"
first=$(/usr/bin/python3 -c 'import json, sys; print("%.4f" % json.loads(open(sys.argv[1]).readline())["loss"])' "$work/init/metrics.jsonl")
ev=$("$tessera" eval -m "$work/a" --split train --samples 8 --micro-batch 4 2>&1 | grep -o 'loss [0-9.]*')
check "--init-from: the first loss ($first) is eval's of the same sequences ($ev)" test "loss $first" = "$ev"
refuse "--init-from a checkpoint of another model" "another model: model.n_layer = 3 here, 2 in" "${t[@]}" --steps 2 --set model.n_layer=3 --init-from "$work/a" --checkpoint-dir "$work/init3"
out=$("${t[@]}" --steps 4 --init-from "$work/a" --checkpoint-dir "$work/init" 2>&1)
check "--init-from into a run's own directory resumes it instead" has "$out" "resumed from $work/init/step-00000002"

# --- fine-tuning: prompt/response pairs (loss on the responses only) from the pretrained checkpoint
/usr/bin/python3 -c '
import json, random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    for i in range(300):
        a, b = random.randint(1, 99), random.randint(1, 99)
        f.write(json.dumps({"q": f"What is {a} plus {b}?", "a": f" {a + b}."}) + "\n")' "$work/pairs.jsonl"
"$tessera" prepare "$work/pairs.jsonl" -o "$work/sft" --jsonl-prompt q --jsonl-response a --tokenizer byte --no-progress > /dev/null
"${t[@]/$work\/ds/$work/sft}" --steps 20 --set train.seq_len=32 --set log.interval=10 --init-from "$work/a" \
  --checkpoint-dir "$work/sft-run" --metrics "$work/sft-run/metrics.jsonl" > "$work/sft.log" 2>&1
check "fine-tuning pairs train from the pretrained checkpoint" grep -q "initialised from $work/a/step-00000016" "$work/sft.log"
check "... and the loss falls" /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"loss\"" in l]
assert rows[-1]["loss"] < rows[0]["loss"], (rows[0]["loss"], rows[-1]["loss"])' "$work/sft-run/metrics.jsonl"

# --- another run's checkpoints are not written over; --force trains beside them
before=$(listing "$work/a")
refuse "resume never into a run's directory" "would write over them" "${t[@]}" --steps 4 --checkpoint-dir "$work/a" --resume never
refuse "another model into a run's directory" "model.n_layer = 3 here, 2 in" "${t[@]}" --steps 4 --set model.n_layer=3 --checkpoint-dir "$work/a"
refuse "other data into a run's directory" "the training data (" "${t[@]/$work\/ds/$work/ds-other}" --steps 4 --checkpoint-dir "$work/a"
refuse "a checkpoint of another model given to --resume" "model.n_layer = 3 here" "${t[@]}" --steps 4 --set model.n_layer=3 --checkpoint-dir "$work/b" --resume "$work/a"
check "nothing in the run's directory changed" test "$(listing "$work/a")" = "$before"
cp -r "$work/a" "$work/a-force"
"${t[@]}" --steps 2 --set model.n_layer=3 --checkpoint-dir "$work/a-force" --force > "$work/force.log" 2>&1
check "--force trains from scratch beside them, and says so" grep -q -- "--force: training from scratch beside" "$work/force.log"

# --- a resume keeps its checkpoint's learning-rate schedule (Megatron's default) unless told otherwise
s=("$tessera" train -c tiny-gpt2 --data "$work/ds" --set log.peak_flops=1e9 --set train.threads=1
   --set train.warmup_steps=2 --set train.micro_batch=4)  # train.decay_steps = 0: the decay follows --steps
"${s[@]}" --steps 4 --checkpoint-dir "$work/sched" --metrics "$work/sched/metrics.jsonl" > /dev/null 2>&1
before=$(listing "$work/sched")
refuse "a resume with another --steps (its cosine would jump)" \
  "train.steps = 8 here, 4 in $work/sched/step-00000004 (the decay ends at train.steps" \
  "${s[@]}" --steps 8 --checkpoint-dir "$work/sched"
refuse "a resume with another train.lr" "train.lr = 0.001 here, 0.003 in" \
  "${s[@]}" --steps 4 --set train.lr=1e-3 --checkpoint-dir "$work/sched"
check "... and nothing in the run's directory changed" test "$(listing "$work/sched")" = "$before"
out=$("${s[@]}" --steps 8 --set checkpoint.override_schedule=true --checkpoint-dir "$work/sched" \
  --metrics "$work/sched/metrics.jsonl" 2>&1)
check "checkpoint.override_schedule resumes and says how the schedule changes" has "$out" \
  "note: checkpoint.override_schedule: the learning-rate schedule changes from step 5: train.steps = 8 here, 4 in"
# step 5 on the new cosine of tiny-gpt2 (lr 3e-3 to 3e-4, warm-up 2, decay to step 8):
# 3e-4 + 2.7e-3 (1 + cos(pi / 3)) / 2 = 2.325e-3; the old schedule had ended at min_lr
check "... and the note gives both learning rates" has "$out" "its learning rate is 0.002325 (the checkpoint's schedule: 0.0003)"
check "... and step 5 follows the new schedule" /usr/bin/python3 -c '
import json, sys
lr = {r["step"]: r["lr"] for r in map(json.loads, open(sys.argv[1])) if "lr" in r}
assert abs(lr[5] - 2.325e-3) < 1e-9 and sorted(lr) == list(range(1, 9)), lr' "$work/sched/metrics.jsonl"

# --- SIGTERM: a checkpoint at the next step boundary, exit 0; the restart continues exactly
wait_steps() { for _ in $(seq 300); do [[ -s $1 && $(grep -c '"loss"' "$1") -ge $2 ]] && return 0; sleep 0.1; done; return 1; }
"${t[@]}" --steps 400 --checkpoint-dir "$work/term" --metrics "$work/term/metrics.jsonl" > "$work/term.log" 2>&1 &
pid=$!
wait_steps "$work/term/metrics.jsonl" 3
kill -TERM $pid
wait $pid
check "SIGTERM: exit 0" test $? -eq 0
n=$(sed -n 's/^stopped at step \([0-9]*\) of 400 on SIGTERM.*/\1/p' "$work/term.log")
check "SIGTERM: stopped at a step and said so" test -n "$n"
check "SIGTERM: the checkpoint is of that step" test "$(cat "$work/term/latest" 2>/dev/null)" = "$(printf 'step-%08d' "${n:-0}")"
m=$(( ${n:-0} + 4 ))
"${t[@]}" --steps $m --checkpoint-dir "$work/term" --metrics "$work/term/metrics.jsonl" > /dev/null 2>&1
"${t[@]}" --steps $m --checkpoint-dir "$work/term-full" --metrics "$work/term-full/metrics.jsonl" > /dev/null 2>&1
check "SIGTERM: the restart continues bit for bit" test "$(losses "$work/term/metrics.jsonl")" = "$(losses "$work/term-full/metrics.jsonl")"

# --- SIGUSR1 to mpirun (as a batch script forwards Slurm's warning): 2 ranks save and stop; the restart continues
mpi2=(mpirun -q --oversubscribe -np 2 "${t[@]}" --dp 2)
"${mpi2[@]}" --steps 400 --checkpoint-dir "$work/usr1" --metrics "$work/usr1/metrics.jsonl" > "$work/usr1.log" 2>&1 &
pid=$!
wait_steps "$work/usr1/metrics.jsonl" 3
kill -USR1 $pid
wait $pid
check "SIGUSR1 under mpirun: exit 0 ($(tail -1 "$work/usr1.log"))" test $? -eq 0
n=$(sed -n 's/^stopped at step \([0-9]*\) of 400 on SIGUSR1.*/\1/p' "$work/usr1.log")
check "SIGUSR1: stopped at a step and said so" test -n "$n"
m=$(( ${n:-0} + 4 ))
"${mpi2[@]}" --steps $m --checkpoint-dir "$work/usr1" --metrics "$work/usr1/metrics.jsonl" > /dev/null 2>&1
"${mpi2[@]}" --steps $m --checkpoint-dir "$work/usr1-full" --metrics "$work/usr1-full/metrics.jsonl" > /dev/null 2>&1
check "SIGUSR1: the 2-rank restart continues bit for bit" test "$(losses "$work/usr1/metrics.jsonl")" = "$(losses "$work/usr1-full/metrics.jsonl")"

# --- kill -9 at random moments (a checkpoint every step, so most kills land in a save): the restart always resumes
# from a complete checkpoint, and the whole run equals the uninterrupted one
k=("${t[@]}" --steps 600 --set checkpoint.interval=1 --set checkpoint.keep=2 --checkpoint-dir "$work/kill"
   --metrics "$work/kill/metrics.jsonl")
bad=0
for trial in $(seq "$trials"); do
  "${k[@]}" > "$work/kill.log" 2>&1 &
  pid=$!
  sleep "$(/usr/bin/python3 -c "import random; print(round(random.uniform(0.25, 0.9), 3))")"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [[ -e $work/kill/latest ]] && ! "$tessera" info --checkpoint "$work/kill" > "$work/kill-info.log" 2>&1; then
    bad=$((bad + 1)); echo "trial $trial: latest is not a complete checkpoint: $(tail -1 "$work/kill-info.log")"
  fi
done
check "kill -9 x $trials: latest always named a complete checkpoint" test $bad -eq 0
"${k[@]}" > "$work/kill.log" 2>&1
check "kill -9: the last restart finishes" test "$(cat "$work/kill/latest")" = step-00000600
check "kill -9: nothing else is left behind ($(ls -A "$work/kill" | tr '\n' ' '))" test "$(ls -A "$work/kill" | tr '\n' ' ')" = "latest metrics.jsonl step-00000599 step-00000600 "
"${t[@]}" --steps 600 --metrics "$work/kill-full.jsonl" > /dev/null 2>&1
check "kill -9: every step of the interrupted run equals the uninterrupted run's, bit for bit" \
  test "$(losses "$work/kill/metrics.jsonl")" = "$(losses "$work/kill-full.jsonl")"

# --- checkpoint.async: the same run, written in the background
"${t[@]}" --steps 10 --set checkpoint.interval=2 --set checkpoint.async=true --checkpoint-dir "$work/async" \
  --metrics "$work/async/metrics.jsonl" > "$work/async.log" 2>&1
check "async: the run succeeds" test $? -eq 0
"${t[@]}" --steps 10 --metrics "$work/sync.jsonl" > /dev/null 2>&1
check "async: the same losses" test "$(losses "$work/async/metrics.jsonl")" = "$(losses "$work/sync.jsonl")"
check "async: five checkpoints, the last complete" test "$(cd "$work/async" && ls -d step-* | wc -l)" -eq 5 -a "$(cat "$work/async/latest")" = step-00000010
check "async: says how long training was held up" grep -q "training held up" "$work/async.log"
check "async: every checksum holds" bash -c "'$tessera' info --checkpoint '$work/async/step-00000006' > /dev/null"

# --- damaged checkpoints: one line naming the file and tensor, exit 1 or 2, nothing overwritten
for c in flip truncated missing dangling garbage-latest manifest; do cp -r "$work/a" "$work/$c"; done
ck=step-00000016
/usr/bin/python3 - "$work" "$ck" <<'PY'
import json, os, sys
import h5py
import numpy as np
w, ck = sys.argv[1], sys.argv[2]
with h5py.File(f"{w}/flip/{ck}/shard-tp00-pp00.h5", "r+") as f:  # one bit of one weight, the checksum left alone
    d = f["params/layers.1.attn.qkv.weight"]
    a = d[...]
    a.view(np.uint32)[3, 5] ^= 1 << 4
    d[...] = a
os.truncate(f"{w}/truncated/{ck}/shard-tp00-pp00.h5", 200000)
os.remove(f"{w}/missing/{ck}/shard-tp00-pp00.h5")
open(f"{w}/dangling/latest", "w").write("step-00000999\n")
open(f"{w}/garbage-latest/latest", "w").write("../../etc\n")
open(f"{w}/manifest/{ck}/checkpoint.json", "a").write("}")
PY
refuse "a flipped bit (info)" "tensor /params/layers.1.attn.qkv.weight" "$tessera" info --checkpoint "$work/flip"
refuse "a flipped bit (eval)" "tensor /params/layers.1.attn.qkv.weight fails its checksum" "$tessera" eval -m "$work/flip"
before=$(listing "$work/flip")
refuse "a flipped bit (resume)" "fails its checksum" "${t[@]}" --steps 20 --checkpoint-dir "$work/flip"
check "... and the run's directory is unchanged" test "$(listing "$work/flip")" = "$before"
refuse "a truncated shard" "shard-tp00-pp00.h5: 200000 bytes, the manifest says" "$tessera" eval -m "$work/truncated"
refuse "a missing shard" "shard-tp00-pp00.h5: missing (the checkpoint is incomplete)" "$tessera" generate -m "$work/missing"
refuse "latest naming nothing" "latest: names $work/dangling/step-00000999, which is not a complete checkpoint" "$tessera" eval -m "$work/dangling"
refuse "latest naming a path" "not the name of a checkpoint directory" "$tessera" info --checkpoint "$work/garbage-latest"
before=$(listing "$work/manifest")
refuse "a malformed manifest (resume)" "checkpoint.json: not valid JSON" "${t[@]}" --steps 20 --checkpoint-dir "$work/manifest"
check "... and the run's directory is unchanged" test "$(listing "$work/manifest")" = "$before"

# --- Hugging Face directories from strangers: headers and configs that do not fit are refused before any read
"$tessera" convert "$work/a" -o "$work/hf" --to hf > "$work/hf.log" 2>&1
check "a byte-tokenized model exports (and says its tokenizer has no transformers class)" grep -q "byte tokenizer has no transformers class" "$work/hf.log"
e1=$("$tessera" eval -m "$work/a" 2>&1 | grep -o 'loss [0-9.]*')
e2=$("$tessera" eval -m "$work/hf" --data "$work/ds" 2>&1 | grep -o 'loss [0-9.]*')
check "eval of the export equals eval of the checkpoint ($e1, $e2)" test -n "$e1" -a "$e1" = "$e2"
# continual pretraining from imported weights: its first loss is eval's of the same sequences
"${t[@]}" --steps 1 --set data.shuffle=false --set train.global_batch=8 --init-from "$work/hf" --checkpoint-dir "$work/init-hf" \
  --metrics "$work/init-hf/metrics.jsonl" > /dev/null 2>&1
first=$(/usr/bin/python3 -c 'import json, sys; print("%.4f" % json.loads(open(sys.argv[1]).readline())["loss"])' "$work/init-hf/metrics.jsonl")
ev=$("$tessera" eval -m "$work/hf" --data "$work/ds" --split train --samples 8 --micro-batch 4 2>&1 | grep -o 'loss [0-9.]*')
check "--init-from a Hugging Face directory: the first loss ($first) is eval's ($ev)" test "loss $first" = "$ev"
for c in big-header past-end bad-shape no-layers huge-layers gelu; do cp -r "$work/hf" "$work/hf-$c"; done
/usr/bin/python3 - "$work" <<'PY'
import json, struct, sys
w = sys.argv[1]
def header(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]
def write(path, h, body):
    text = json.dumps(h).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + body)
f = f"{w}/hf-big-header/model.safetensors"
data = open(f, "rb").read()
open(f, "wb").write(struct.pack("<Q", 1 << 40) + data[8:])
f = f"{w}/hf-past-end/model.safetensors"
h, body = header(f)
h["transformer.wpe.weight"]["data_offsets"][1] += 1 << 30
write(f, h, body)
f = f"{w}/hf-bad-shape/model.safetensors"
h, body = header(f)
h["transformer.ln_f.weight"]["shape"] = [65]
write(f, h, body)
def edit(c, fn):
    p = f"{w}/hf-{c}/config.json"
    j = json.load(open(p))
    fn(j)
    json.dump(j, open(p, "w"))
edit("no-layers", lambda j: j.pop("n_layer"))
edit("huge-layers", lambda j: j.__setitem__("n_layer", 10**9))
edit("gelu", lambda j: j.__setitem__("activation_function", "gelu"))
PY
refuse "a safetensors header larger than its file" "does not fit the file" "$tessera" eval -m "$work/hf-big-header" --data "$work/ds"
refuse "a tensor whose bytes lie past the end of the file" "transformer.wpe.weight: bytes" "$tessera" eval -m "$work/hf-past-end" --data "$work/ds"
refuse "a tensor whose shape is not its byte range" "transformer.ln_f.weight: shape (65) of F32 takes 260 bytes" "$tessera" eval -m "$work/hf-bad-shape" --data "$work/ds"
refuse "config.json without n_layer" "config.json: field n_layer is missing" "$tessera" info --model "$work/hf-no-layers"
refuse "config.json with a billion layers" "field n_layer = 1000000000 is outside" "$tessera" generate -m "$work/hf-huge-layers"
refuse "config.json with the exact GELU" "activation_function: \"gelu\"" "$tessera" convert "$work/hf-gelu" -o "$work/none"
check "... and convert made nothing" test ! -e "$work/none"

finish
