#!/usr/bin/env bash
# Adversarial input to the CLI (issue "Reliability"): every value that must be refused is refused with one line
# naming it; nothing is lost, nothing crashes, nothing hangs. Each check runs the real binary.
# Usage: cli_reliability.sh path/to/tessera
set -u
tessera=$(readlink -f "$1")
data_dir=$(cd "$(dirname "$0")/../data" && pwd)
work=$(mktemp -d)
trap 'umount -l "$work/small" 2>/dev/null; rm -rf "$work"' EXIT
source "$(dirname "$0")/cli_checks.sh"

printf 'Some text for a dataset.\n\nAnother paragraph of it.\n\nAnd a third one here.\n' > "$work/corpus.txt"
"$tessera" prepare "$work/corpus.txt" -o "$work/ds" --tokenizer byte --val-fraction 0.3 >/dev/null ||
  { echo "FAIL: prepare of a good corpus"; exit 1; }

# --- values that must be refused (12)
t=("$tessera" train -c tiny-gpt2 --data "$work/ds")
refuse "--steps 0" "train.steps must be positive, got 0" "${t[@]}" --steps 0
refuse "--steps -5" "train.steps must be positive, got -5" "${t[@]}" --steps -5
refuse "lr = nan" "train.lr must be a finite number" "${t[@]}" --set train.lr=nan
refuse "lr = inf" "train.lr must be a finite number" "${t[@]}" --set train.lr=inf
refuse "rope_theta = 0" "model.rope_theta must be positive" "$tessera" train -c tiny-llama --data "$work/ds" --set model.rope_theta=0
refuse "min_lr > lr" "train.min_lr = 0.01 exceeds train.lr" "${t[@]}" --set train.min_lr=0.01
refuse "mask_token_id = -7" "model.mask_token_id must be a token id" "${t[@]}" --set model.mask_token_id=-7
refuse "vocab_size = -5" "model.vocab_size must not be negative" "${t[@]}" --set model.vocab_size=-5
refuse "blend weight nan" "data.weights must hold finite numbers" "$tessera" train -c tiny-gpt2 \
  --set "data.paths=[\"$work/ds\", \"$work/ds\"]" --set "data.weights=[nan, 1.0]"
refuse "--val-fraction nan" "--val-fraction must be in [0, 1)" "$tessera" prepare "$work/corpus.txt" -o "$work/x" --val-fraction nan
refuse "generate -t nan" "--temperature: must be a finite number" "$tessera" generate -m "$work/none" -t nan
refuse "prepare --threads -2" "--threads" "$tessera" prepare "$work/corpus.txt" -o "$work/x" --threads -2
refuse "eval --threads -1" "--threads" "$tessera" eval -m "$work/none" --threads -1
refuse "--set names --set, not the preset" "--set train.warmup_steps=-1" "${t[@]}" --set train.warmup_steps=-1
check "no output left by refused commands" test ! -e "$work/x"

# --- a truncated .gz is refused, by prepare and by train-tokenizer (9)
head -c 116559 "$data_dir/tinyshakespeare.txt" | gzip -c > "$work/full.gz"
head -c 3000 "$work/full.gz" > "$work/cut.gz"
refuse "truncated .gz (prepare)" "cut.gz: truncated gzip data" "$tessera" prepare "$work/cut.gz" -o "$work/x" --tokenizer byte
refuse "truncated .gz (train-tokenizer)" "cut.gz: truncated gzip data" "$tessera" train-tokenizer "$work/cut.gz" -o "$work/x"
"$tessera" prepare "$work/full.gz" -o "$work/gz-ok" --tokenizer byte --no-progress >/dev/null
check "a whole .gz still prepares" test -s "$work/gz-ok/train-00000.h5"

# --- prepare --force replaces a tessera dataset and nothing else; outputs are never inputs (1, 2)
mkdir -p "$work/force"
cp "$work/corpus.txt" "$work/force/p2"
refuse "--force over the input itself" "p2: exists and is not a tessera dataset" "$tessera" prepare "$work/force/p2" -o "$work/force/p2" --force --tokenizer byte
check "the input survives" cmp -s "$work/corpus.txt" "$work/force/p2"
mkdir -p "$work/force/photos"
echo "precious" > "$work/force/photos/cat.jpg"
refuse "--force over a directory of other files" "is not a dataset shard" "$tessera" prepare "$work/corpus.txt" -o "$work/force/photos" --force --tokenizer byte
check "the other files survive" grep -q precious "$work/force/photos/cat.jpg"
printf 'x' > "$work/force/somefile"
refuse "--force over a regular file" "somefile: exists and is not a tessera dataset" "$tessera" prepare "$work/corpus.txt" -o "$work/force/somefile" --force --tokenizer byte
check "the regular file survives" test "$(cat "$work/force/somefile")" = x
(cd "$work/force" && refuse "--force over the working directory" "which is not a dataset shard" "$tessera" prepare p2 -o . --force --tokenizer byte)
check "the working directory survives" test -f "$work/force/p2"
"$tessera" prepare "$work/corpus.txt" -o "$work/force/ds" --tokenizer byte --val-fraction 0.3 >/dev/null
"$tessera" prepare "$work/corpus.txt" -o "$work/force/ds" --tokenizer byte --val-fraction 0.3 --force >/dev/null
check "--force replaces a dataset" test -s "$work/force/ds/train-00000.h5"
mkdir -p "$work/force/empty"
"$tessera" prepare "$work/corpus.txt" -o "$work/force/empty" --tokenizer byte --val-fraction 0.3 --force >/dev/null
check "--force replaces an empty directory" test -s "$work/force/empty/train-00000.h5"
mkdir -p "$work/corp"
cp "$work/corpus.txt" "$work/corp/a.txt"
"$tessera" prepare "$work/corp" -o "$work/corp/ds" --tokenizer byte --doc-boundary blank --val-fraction 0.3 > "$work/in1.log"
"$tessera" prepare "$work/corp" -o "$work/corp/ds" --tokenizer byte --doc-boundary blank --val-fraction 0.3 --force > "$work/in2.log"
check "an output inside the input directory is not read as input" grep -q "prepared .*: 1 file," "$work/in2.log"
check "... and the dataset is the same" cmp -s <(tail -n +1 "$work/in1.log" | head -1 | sed 's/.*: //') <(head -1 "$work/in2.log" | sed 's/.*: //')
refuse "a shard of the output named as input" "lies inside the output" "$tessera" prepare "$work/corp/ds/train-00000.h5" -o "$work/corp/ds" --force --tokenizer byte

# --- errors that would surface only after the last step are found first, or still save the model (3, 4)
printf 'x' > "$work/regfile"
refuse "checkpoint dir under a file" "cannot create the directory" "${t[@]}" --steps 3 --set train.seq_len=8 --set train.micro_batch=1 --set log.peak_flops=1e9 --checkpoint-dir "$work/regfile/ck"
refuse "metrics on a full device" "/dev/full: cannot write the metrics at step 1 (disk full?)" "${t[@]}" --steps 3 --set train.seq_len=8 --set train.micro_batch=1 \
  --set log.peak_flops=1e9 --metrics /dev/full --checkpoint-dir "$work/full-ck"
check "... and a checkpoint of that step is saved" test -d "$work/full-ck/step-00000001"

# --- a directory of many files prepares (10): the list of sources is capped, counted and hashed
mkdir -p "$work/many"
/usr/bin/python3 -c '
import sys
for i in range(3000):
    open(f"{sys.argv[1]}/a-rather-long-file-name-so-that-the-list-of-sources-passes-64-KiB-{i:05d}.txt", "w").write(f"document {i}\n")
' "$work/many"
"$tessera" prepare "$work/many" -o "$work/many-ds" --tokenizer byte --no-progress > "$work/many.log" 2>&1
check "3000 input files prepare: $(tail -1 "$work/many.log")" grep -q "prepared .*: 3000 files" "$work/many.log"
check "info counts 3000 sources" bash -c "'$tessera' info --data '$work/many-ds' | grep -q 'sources: 3000 files'"

# --- leftovers of a killed prepare are removed by the next one over the same output, which says so (15)
mkdir -p "$work/left/ds.partial-999999999" "$work/left/ds.old-999999998" "$work/left/ds.partial-$$"
echo x > "$work/left/ds.partial-999999999/slice-00000000.bin"
"$tessera" prepare "$work/corpus.txt" -o "$work/left/ds" --tokenizer byte --val-fraction 0.3 --no-progress > /dev/null 2> "$work/left.log"
check "a dead prepare's .partial is removed" test ! -e "$work/left/ds.partial-999999999"
check "a dead prepare's .old is removed" test ! -e "$work/left/ds.old-999999998"
check "a live process's .partial is kept" test -d "$work/left/ds.partial-$$"
check "and it says so: $(cat "$work/left.log")" grep -q "removed .*ds.partial-999999999, left by an interrupted prepare" "$work/left.log"

# --- sizes that cannot fit are refused before allocating, naming the key (6)
refuse "micro_batch = 1e8" "train.micro_batch = 100000000" "${t[@]}" --set train.micro_batch=100000000
refuse "vocab_size = 1e9" "model.vocab_size" "${t[@]}" --set model.vocab_size=1000000000
refuse "n_layer = 100000 (a million tensors: no quadratic table)" "model.n_layer" timeout 60 "${t[@]}" --set model.n_layer=100000
"${t[@]}" --steps 1 --set train.seq_len=8 --set train.micro_batch=1 --set log.peak_flops=1e9 \
  --checkpoint-dir "$work/model" >/dev/null 2>&1
cp -r "$work/model" "$work/huge"
cp -r "$work/model" "$work/nan"
/usr/bin/python3 - "$work" <<'PY'
import sys
import h5py
import numpy as np
work = sys.argv[1]
import glob, json, os
for config in glob.glob(f"{work}/huge/step-*/config.toml"):  # a stored config claiming a context of 1e8
    text = open(config).read()
    open(config, "w").write(text.replace("max_seq_len = 64", "max_seq_len = 100000000"))
for shard in glob.glob(f"{work}/nan/step-*/shard-tp00-pp00.h5"):  # one NaN weight (its checksum updated, as a
    with h5py.File(shard, "r+") as f:                             # stranger's file could be)
        d = f["params/layers.0.mlp.fc.weight"]
        a = d[...]
        a[1, 2] = np.nan
        d[...] = a
        import xxhash
        d.attrs["xxh3"] = np.bytes_(xxhash.xxh3_64_hexdigest(a.astype(np.float32).tobytes()).encode())
    manifest = os.path.join(os.path.dirname(shard), "checkpoint.json")  # and the manifest's size of the file
    j = json.load(open(manifest))
    for f in j["files"]:
        f["bytes"] = os.path.getsize(os.path.join(os.path.dirname(shard), f["name"]))
    json.dump(j, open(manifest, "w"))
PY
refuse "a model file claiming max_seq_len = 1e8" "model.max_seq_len = 100000000" "$tessera" eval -m "$work/huge"
refuse "a checkpoint with a NaN weight (eval)" "tensor /params/layers.0.mlp.fc.weight holds a non-finite value" "$tessera" eval -m "$work/nan"
refuse "a checkpoint with a NaN weight (generate)" "non-finite value" "$tessera" generate -m "$work/nan"

# --- datasets and model files whose parts disagree are refused, naming the file (13, 14)
"$tessera" prepare "$data_dir/tinyshakespeare.txt" -o "$work/base" --tokenizer byte --shard-tokens 300000 --no-progress >/dev/null
for c in offsets-fall offsets-end gap split-swapped val-tokenizer float-tokens eot-outside empty-train; do cp -r "$work/base" "$work/$c"; done
cp -r "$work/model" "$work/model-eot"
/usr/bin/python3 - "$work" <<'PY'
import os
import sys
import h5py
import numpy as np
w = sys.argv[1]
def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
def set_offsets(f, change):
    o = f["doc_offsets"][...]
    change(o)
    f["doc_offsets"][...] = o
edit(f"{w}/offsets-fall/train-00000.h5", lambda f: set_offsets(f, lambda o: o.__setitem__(5, o[3])))
edit(f"{w}/offsets-end/train-00000.h5", lambda f: set_offsets(f, lambda o: o.__setitem__(-1, o[-1] - 7)))
os.remove(f"{w}/gap/train-00001.h5")
edit(f"{w}/split-swapped/val-00000.h5", lambda f: f.attrs.__setitem__("split", np.bytes_(b"train")))
edit(f"{w}/val-tokenizer/val-00000.h5", lambda f: f.attrs.__setitem__("vocab_size", np.int64(300)))
def floats(f):
    t = f["tokens"][...].astype(np.float32)
    del f["tokens"]
    f.create_dataset("tokens", data=t)
edit(f"{w}/float-tokens/train-00000.h5", floats)
edit(f"{w}/eot-outside/train-00000.h5", lambda f: f.attrs.__setitem__("eot_id", np.int64(5000)))
import glob, json
for m in glob.glob(f"{w}/model-eot/step-*/checkpoint.json"):
    j = json.load(open(m))
    j["tokenizer"]["eot_id"] = -3
    json.dump(j, open(m, "w"))
PY
rm "$work"/empty-train/train-*.h5
"$tessera" prepare "$work/corpus.txt" -o "$work/tiny-empty" --tokenizer byte --val-fraction 0.3 >/dev/null
refuse "doc_offsets that fall" "/doc_offsets falls at document 5" "$tessera" info --data "$work/offsets-fall"
refuse "doc_offsets that end early" "not from 0 to the" "$tessera" info --data "$work/offsets-end"
refuse "a shard missing in the middle" "train-00001.h5 is missing" "$tessera" info --data "$work/gap"
refuse "a val shard whose split says train" "its split attribute says \"train\"" "$tessera" info --data "$work/split-swapped"
refuse "a val split of another tokenizer" "its val split was made with tokenizer" "$tessera" train -c tiny-gpt2 --data "$work/val-tokenizer"
refuse "a tokenizer mismatch names both vocabularies" "made with tokenizer byte (vocabulary 300), but the model was trained with byte (vocabulary 259)" \
  "$tessera" eval -m "$work/model" --data "$work/val-tokenizer" --split val
refuse "float32 tokens" "does not hold unsigned integers" "$tessera" info --data "$work/float-tokens"
refuse "eot_id outside the vocabulary" "eot_id = 5000 lies outside the vocabulary" "$tessera" info --data "$work/eot-outside"
refuse "a checkpoint's eot_id outside the vocabulary" "tokenizer.eot_id = -3 is outside" "$tessera" info --model "$work/model-eot"
refuse "a dataset without a train split" "no train shards" "$tessera" train -c tiny-gpt2 --data "$work/empty-train"
refuse "-c naming a directory" "is a directory, not a config file" "$tessera" train -c "$work"
mkfifo "$work/fifo"
refuse "-c naming a FIFO" "not a regular file" "$tessera" train -c "$work/fifo"
refuse "prepare of a FIFO" "not a regular file" "$tessera" prepare "$work/fifo" -o "$work/x"
refuse "prepare of /dev/zero" "not a regular file" "$tessera" prepare /dev/zero -o "$work/x"

printf 'x' > "$work/plainfile"
refuse "prepare -o under a regular file" "is not a directory" "$tessera" prepare "$work/corpus.txt" -o "$work/plainfile/ds"
printf '{"text": "a\\ud800 b \\ud83d\\ude00 c \\\\ud800 d \\udc00"}\n{"text": "ok"}\n' > "$work/surrogates.jsonl"
"$tessera" prepare "$work/surrogates.jsonl" --jsonl-key text -o "$work/sur" --tokenizer byte --val-fraction 0 > "$work/sur.log" 2>&1
check "lone JSON surrogates are replaced and counted: $(head -1 "$work/sur.log")" grep -q "28 bytes of text, 2 invalid" "$work/sur.log"
printf '{"text": "fine"}\n{"text": "bad}\n' > "$work/badjson.jsonl"
refuse "a malformed JSON line says why" "badjson.jsonl:2: not valid JSON: invalid string: missing closing quote" "$tessera" prepare "$work/badjson.jsonl" --jsonl-key text -o "$work/x"

refuse "a huge --shard-tokens" "--shard-tokens: must be a whole number of 1 or more; got 1e400" "$tessera" prepare "$work/corpus.txt" -o "$work/x" --shard-tokens 1e400
refuse "SentencePiece's reason in tessera's flags" "Increase --vocab-size or decrease --character-coverage" "$tessera" train-tokenizer "$data_dir/tinyshakespeare.txt" -o "$work/x" --vocab-size 100

# --- a stopped rank ends the job through the watchdog instead of hanging it (8)
"$tessera" prepare "$data_dir/tinyshakespeare.txt" -o "$work/shakespeare" --tokenizer byte --no-progress >/dev/null
start=$(date +%s)
timeout 120 mpirun --oversubscribe -np 2 "$tessera" train -c tiny-gpt2 --data "$work/shakespeare" --steps 1000000 \
  --set parallel.timeout_s=3 --set log.interval=100000 --set log.peak_flops=1e9 >/dev/null 2>"$work/watchdog.err" &
launcher=$!
sleep 4
mpirun_pid=$(pgrep -P "$launcher" -x mpirun || echo "$launcher")
victim=$(pgrep -P "$mpirun_pid" | tail -1)
[[ -n $victim ]] && kill -STOP "$victim"
wait "$launcher"
rc=$?
elapsed=$(( $(date +%s) - start ))
check "a stopped rank ends the job (exit $rc after ${elapsed} s)" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$elapsed" -lt 60
check "the watchdog names the phase and the rank: $(head -c 600 "$work/watchdog.err")" \
  grep -qE "\[rank [01]\] error: watchdog: no progress for [0-9]+ s at step [0-9]+, in .*parallel.timeout_s" "$work/watchdog.err"
[[ -n $victim ]] && kill -KILL "$victim" 2>/dev/null

# --- a full disk: one line and exit 1, never a signal; nothing half-written left (5). Needs a small tmpfs.
mkdir -p "$work/small"
if mount -t tmpfs -o size=2300k tmpfs "$work/small" 2>/dev/null; then
  # 2300 KiB: the training shard's tokens fit, the flush of the validation shard does not
  refuse "prepare on a full disk" "(disk full?)" bash -c "cd '$work/small' && '$tessera' prepare '$data_dir/tinyshakespeare.txt' -o ds --tokenizer byte --no-progress"
  check "no partial dataset left on the full disk" test -z "$(ls -A "$work/small")"
  refuse "train's final save on a full disk" "(disk full?)" "${t[@]}" --steps 2 --set train.seq_len=8 --set train.micro_batch=1 \
    --set model.d_model=256 --set log.peak_flops=1e9 --checkpoint-dir "$work/small/run"  # 6 MB of weights
  check "no half-written checkpoint" test -z "$(ls -A "$work/small/run")"
  umount -l "$work/small"
else
  echo "skipped: the full-disk checks need to mount a tmpfs (root)"
fi

finish
