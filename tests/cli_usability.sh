#!/usr/bin/env bash
# How the CLI speaks to a newcomer: exit codes, --help, suggestions, one line per error under mpirun, --dry-run,
# byte counts, document boundaries, paths that resolve from anywhere, numbers (MFU, metrics) that can be trusted.
# Usage: cli_usability.sh path/to/tessera
set -u
tessera=$(readlink -f "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TESSERA_CACHE_DIR=$work/cache
source "$(dirname "$0")/cli_checks.sh"
# run_capture CMD...: stdout in $out, stderr in $err, exit code in $rc
run_capture() {
  out=$("$@" 2>"$work/stderr")
  rc=$?
  err=$(cat "$work/stderr")
}
one_line() { [[ $(printf '%s\n' "$err" | grep -c .) -eq 1 ]]; }
has() { [[ $1 == *"$2"* ]]; }

shakespeare=$(dirname "$0")/../data/tinyshakespeare.txt
head -c 200000 "$shakespeare" > "$work/small.txt"

# --- exit codes: a malformed command line or config is a usage error (2), printed as one line
run_capture "$tessera" train --bogus
check "parse error exits 2 (got $rc)" test "$rc" -eq 2
check "parse error is one line naming the flag: $err" bash -c "[[ \$(printf '%s\n' \"\$1\" | grep -c .) -eq 1 && \$1 == *--bogus* ]]" _ "$err"
run_capture "$tessera" prepare
check "missing required argument exits 2 (got $rc)" test "$rc" -eq 2
run_capture "$tessera" train -c tiny-gpt2 --set train.lrr=1e-3
check "--set typo exits 2 (got $rc)" test "$rc" -eq 2
check "--set typo names --set and suggests train.lr: $err" has "$err" "--set train.lrr=1e-3: unknown key train.lrr (did you mean train.lr?)"
run_capture "$tessera" train -c tiny-gpt2 --set train.n_layer=2
check "a key of another section is suggested: $err" has "$err" "did you mean model.n_layer?"
run_capture "$tessera" train -c tiny-gpt2 --set trian.steps=2
check "a misspelt section is suggested: $err" has "$err" "did you mean train.steps?"
run_capture "$tessera" train -c tiny-gpt2 --set train.steps=0
check "a bad value names its --set: $err" has "$err" "--set train.steps=0: train.steps must be positive"
printf '[train]\nwarmup_step = 3\n' > "$work/typo.toml"
run_capture "$tessera" train -c "$work/typo.toml"
check "a config file's typo is suggested: $err" has "$err" "typo.toml: unknown key train.warmup_step (did you mean train.warmup_steps?)"

# --- --help shows defaults, and no {false}
help=$("$tessera" prepare --help)
check "prepare --help shows --val-fraction's default" has "$help" "--val-fraction FLOAT=0.05"
check "prepare --help shows --batch-mb in MB" has "$help" "--batch-mb INT:POSITIVE=64"
check "prepare --help shows no {false}" bash -c "[[ \$1 != *'{false}'* ]]" _ "$help"
help=$("$tessera" eval --help)
check "eval --help shows --micro-batch's default" has "$help" "--micro-batch INT:POSITIVE=8"
help=$("$tessera" train --help)
check "train --help lists the presets" has "$help" "tiny-gpt2"
check "train --help offers --dry-run" has "$help" "--dry-run"

# --- --version
version=$("$tessera" --version)
for w in "tessera 0.1.0" "commit" "build" "kernel" "CUDA"; do check "--version shows $w" has "$version" "$w"; done

# --- one line under mpirun for a config or layout error, exit 2, no MPI_Abort banner
run_capture mpirun -q --oversubscribe -np 2 "$tessera" train -c tiny-gpt2 --tp 4
check "mpirun --tp 4 on 2 ranks exits 2 (got $rc)" test "$rc" -eq 2
check "mpirun --tp 4 on 2 ranks prints one line: $err" one_line
check "mpirun --tp 4 on 2 ranks names the layout: $err" has "$err" "tp * pp * dp = 4 * 1 * 1 = 4 does not match the 2 MPI ranks"
run_capture mpirun -q --oversubscribe -np 2 "$tessera" train -c tiny-gpt2 --data "$work/nowhere"
check "mpirun with a missing dataset exits 2 (got $rc) with one line: $err" bash -c "[[ $rc -eq 2 && \$(printf '%s\n' \"\$1\" | grep -c .) -eq 1 && \$1 == *'no such dataset directory'* ]]" _ "$err"
run_capture mpirun -q --oversubscribe -np 2 "$tessera" prepare "$work/missing.txt" -o "$work/never-made"
check "mpirun prepare of a missing file exits 2 (got $rc) with one line: $err" bash -c "[[ $rc -eq 2 && \$(printf '%s\n' \"\$1\" | grep -c .) -eq 1 && \$1 == *missing.txt* ]]" _ "$err"
run_capture mpirun --oversubscribe -np 2 "$tessera" train -c tiny-gpt2 --set train.nope=1
check "mpirun config error: no MPI_ABORT banner" bash -c "[[ \$1 != *MPI_ABORT* ]]" _ "$err"
check "mpirun config error: printed once" test "$(printf '%s\n' "$err" | grep -c 'unknown key train.nope')" -eq 1

# --- prepare: one file works with the default boundary; counts in text bytes; plurals
run_capture "$tessera" prepare "$work/small.txt" -o "$work/ds" --no-progress
check "prepare of one file with the default boundary works: $err" test "$rc" -eq 0
check "one file with blank lines: documents at blank lines" has "$out" "(boundary: blank)"
check "prepare says 1 file and 1 rank: $out" bash -c "[[ \$1 == *'1 file,'* && \$1 == *'on 1 rank |'* && \$1 != *'1 files'* && \$1 != *'1 ranks'* ]]" _ "$out"
grep -v '^\s*$' "$work/small.txt" > "$work/lines.txt"
run_capture "$tessera" prepare "$work/lines.txt" -o "$work/ds-lines" --no-progress
check "one file without blank lines: a document per line ($out)" has "$out" "(boundary: line)"
/usr/bin/python3 - "$work/small.txt" "$work/docs.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read().split("\n\n")
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for t in text:
        f.write(json.dumps({"text": t, "meta": {"source": "shakespeare", "pad": "x" * 50}}) + "\n")
PY
text_bytes=$(/usr/bin/python3 -c 'import json,sys; print(sum(len(json.loads(l)["text"].encode()) for l in open(sys.argv[1])))' "$work/docs.jsonl")
run_capture "$tessera" prepare "$work/docs.jsonl" --jsonl-key text -o "$work/ds-jsonl" --no-progress
check "JSON lines: bytes of text count the texts ($text_bytes), not the JSON: $out" has "$out" " $text_bytes bytes of text"
for i in 1 2 3 4 5 6; do cat "$shakespeare"; done | gzip -c > "$work/a.txt.gz"
cp "$work/a.txt.gz" "$work/b.txt.gz"
decompressed=$((2 * 6 * $(stat -c %s "$shakespeare")))
script -qec "$tessera prepare $work/a.txt.gz $work/b.txt.gz -o $work/ds-gz --threads 1" /dev/null > "$work/gz.log" 2>&1
expected_mb=$(awk -v b="$decompressed" 'BEGIN { printf "%.1f MB of text", b / 1e6 }')
check ".gz progress counts decompressed text ($expected_mb): $(tr '\r' '\n' < "$work/gz.log" | grep -m1 MB)" grep -q "$expected_mb" "$work/gz.log"
check ".gz summary counts decompressed text" grep -q " $decompressed bytes of text" "$work/gz.log"
mpirun --oversubscribe -np 3 "$tessera" prepare "$work/small.txt" -o "$work/ds-3" --no-progress --batch-mb 1 > "$work/p3.log" 2>&1
check "prepare on 3 ranks says 3 ranks" grep -q "on 3 ranks" "$work/p3.log"
for f in "$work"/ds/*.h5; do check "3-rank prepare is byte-identical: $(basename "$f")" cmp -s "$f" "$work/ds-3/$(basename "$f")"; done

# --- train --dry-run: the plan, and nothing made
run_capture "$tessera" train -c gpt2-124m --data "$work/ds" --dry-run --checkpoint-dir "$work/never" --metrics "$work/never.jsonl"
check "dry run exits 0: $err" test "$rc" -eq 0
for w in "[model]" "124475904 parameters" "memory per rank" "FLOPs per token" "tokens per step" "steps: 19073" "layout: world 1"; do
  check "dry run prints '$w'" has "$out" "$w"
done
run_capture "$tessera" train -c gpt2-124m --data "$work/ds" --dry-run --set train.recompute=full
check "dry run with full recomputation plans less activation memory: $(grep -m1 'memory per rank' <<<"$out")" \
  has "$out" "full recomputation)"
run_capture "$tessera" train -c gpt2-124m --data "$work/ds" --dry-run --set train.dtype=bf16
check "dry run with bf16 products counts the parameters' bf16 copy: $(grep -m1 'memory per rank' <<<"$out")" \
  has "$out" "parameters 712.3 MiB + gradients 474.8 MiB"
check "... and says so" has "$out" "bf16 matrix products: parameters fp32 + a bf16 copy)"
run_capture "$tessera" train -c gpt2-124m --data "$work/ds" --dry-run --set train.attention=cudnn
check "dry run with cuDNN attention counts its bf16 operands: $(grep -m1 'memory per rank' <<<"$out")" \
  has "$out" "cudnn attention)"
run_capture "$tessera" train -c gpt2-124m --data "$work/ds" --dry-run --set train.attention=fused
check "an unknown attention is refused with the choices: $err" has "$err" '"cudnn"'
check "dry run makes no checkpoint directory" test ! -e "$work/never"
check "dry run makes no metrics file" test ! -e "$work/never.jsonl"

# --- a run whose paths are relative resolves from anywhere; info --model prints the config
run_capture "$tessera" train -c tiny-gpt2 --data "$work/ds" --steps 1 --set train.device=cpu --set eval.interval=0
check "train.device = cpu trains on the CPU backend: $err" bash -c "[[ $rc -eq 0 && \$1 == *'device: cpu: '* ]]" _ "$out"
run_capture "$tessera" train -c tiny-gpt2 --data "$work/ds" --steps 2 --set train.device=cpu --set eval.interval=0 \
  --set train.attention=cudnn
check "train.attention = cudnn trains on the CPU (its bf16 reference): $err" bash -c "[[ $rc -eq 0 && \$1 == *'step 2/2'* ]]" _ "$out"
(cd "$work" && "$tessera" train -c tiny-gpt2 --data ds --steps 12 --set eval.interval=6 --checkpoint-dir run \
  --metrics run/metrics.jsonl > train.log 2>&1)
check "a short run trains" grep -q "step 12/12" "$work/train.log"
run_capture bash -c "cd / && '$tessera' eval -m '$work/run'"
check "eval -m RUN from another directory: $err" test "$rc" -eq 0
eval_default=$(grep "^loss" <<<"$out")
# eval and generate run where --device says (auto: the GPU when there is one); on the CPU the same numbers
run_capture "$tessera" eval -m "$work/run" --device cpu
check "eval --device cpu: $err" bash -c "[[ $rc -eq 0 && \$1 == *'loss '* ]]" _ "$out"
if ! nvidia-smi -L >/dev/null 2>&1; then
  check "eval --device cpu gives the default's loss here (no GPU): $(grep '^loss' <<<"$out") vs $eval_default" \
    test "$(grep '^loss' <<<"$out")" = "$eval_default"
  refuse "eval --device cuda without a GPU" '--device = "cuda": ' "$tessera" eval -m "$work/run" --device cuda
  refuse "generate --device cuda without a GPU" '--device = "cuda": ' "$tessera" generate -m "$work/run" --device cuda
fi
gen_cpu=$("$tessera" generate -m "$work/run" --device cpu --prompt "To be" --max-tokens 8 --temperature 0 2>&1)
gen_auto=$("$tessera" generate -m "$work/run" --prompt "To be" --max-tokens 8 --temperature 0 2>&1)
check "generate --device cpu samples greedily as the default does here: $gen_cpu" test "$gen_cpu" = "$gen_auto"
run_capture "$tessera" info --model "$work/run"
check "info --model prints the resolved config" bash -c "[[ \$1 == *'[model]'* && \$1 == *'[train]'* && \$1 == *'steps = 12'* ]]" _ "$out"

# --- numbers that can be trusted: metrics fields, MFU at most 100%, the same denominator for identical runs
m=$work/run/metrics.jsonl
check "metrics have gflops, time and skipped" /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if "loss" in r]
val = [r for r in rows if "val_loss" in r]
assert train and all({"gflops", "time", "skipped", "mfu", "tokens_per_s"} <= r.keys() for r in train), train[0]
assert all(r["time"].endswith("Z") and "T" in r["time"] for r in rows)
assert [r["step"] for r in val] == [6, 12] and all(r["val_batches"] > 0 for r in val), val
assert all(0 < r["mfu"] <= 1.0 for r in train), [r["mfu"] for r in train]' "$m"
check "step lines carry a UTC timestamp and GFLOP/s" grep -qE '^\[20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\] step 12/12 \| .* GFLOP/s \| MFU' "$work/train.log"
(cd "$work" && "$tessera" train -c tiny-gpt2 --data ds --steps 3 --set train.lr=1e30 --set train.warmup_steps=0 \
  --set train.on_nonfinite=skip --metrics skip.jsonl > skip.log 2>&1)
check "skipped steps are counted in the log" grep -q "step 3/3 .* | skipped 2" "$work/skip.log"
check "skipped steps are counted in the metrics" /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "skipped" in l]
assert [r["skipped"] for r in rows] == [0, 1, 2], rows' "$work/skip.jsonl"
check "the final validation says how many batches" grep -qE "step 12 \| val loss .* batch(es)? = [0-9]+ sequences" "$work/train.log"
check "the first run measured the peak (cache written)" test -s "$TESSERA_CACHE_DIR/peak_flops.json"
(cd "$work" && "$tessera" train -c tiny-gpt2 --data ds --steps 3 > train2.log 2>&1)
d1=$(grep -o "MFU denominator [0-9.]* GFLOP/s" "$work/train.log")
d2=$(grep -o "MFU denominator [0-9.]* GFLOP/s" "$work/train2.log")
check "identical runs divide by the same peak ('$d1' vs '$d2')" test -n "$d1" -a "$d1" = "$d2"
check "the second run read the cache" grep -q "cached" "$work/train2.log"
run_capture "$tessera" info --peak
check "info --peak prints the cached peak: $out" has "$out" "cached"
run_capture "$tessera" info --peak --refresh
check "info --peak --refresh measures again: $out" bash -c "[[ \$1 == *GFLOP/s* && \$1 != *cached* ]]" _ "$out"

# tessera plan: a 70B LLaMA on 1,024 H200s from one process, as a table and as JSON
llama70=(-c llama-small --set model.n_layer=80 --set model.d_model=8192 --set model.n_head=64 --set model.n_kv_head=8
         --set model.d_ff=28672 --set model.vocab_size=32000 --set model.max_seq_len=4096)
run_capture "$tessera" plan "${llama70[@]}" --global-batch 1024 --seq-len 2048 --nodes 128 --devices-per-node 8 \
  --memory-gb 141 --top 5
check "plan lists the layouts that fit, best first" has "$out" "fit in memory"
check "... one line each: tp pp dp, memory, step time, bubble, communication, MFU" bash -c \
  "[[ \$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +(yes|no) +[0-9.]+ [GM]iB +[0-9.]+ s +[0-9.]+% ' <<< \"\$1\") -eq 5 ]]" \
  _ "$out"
run_capture "$tessera" plan "${llama70[@]}" --global-batch 1024 --seq-len 2048 --nodes 128 --devices-per-node 8 \
  --memory-gb 141 --json
check "plan --json parses, every layout on 1024 ranks" /usr/bin/python3 -c '
import json, sys
p = json.loads(sys.argv[1])
assert p["layouts"] and all(l["tp"] * l["pp"] * l["dp"] == 1024 for l in p["layouts"]), p["considered"]
assert [l["step_s"] for l in p["layouts"]] == sorted(l["step_s"] for l in p["layouts"])' "$out"
run_capture "$tessera" plan "${llama70[@]}" --global-batch 8 --nodes 1 --memory-gb 1
check "a model that fits nowhere: the smallest layout's memory is named" has "$out" "the smallest needs"
refuse "plan on zero nodes" "--nodes" "$tessera" plan -c tiny-gpt2 --nodes 0

finish
