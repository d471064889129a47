#!/usr/bin/env bash
# Bad input to the CLI: one clear line on stderr that names the problem, a non-zero exit, nothing overwritten.
# Usage: cli_errors.sh path/to/tessera
set -u
tessera=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/cli_checks.sh"

printf 'Some text for a dataset.\n\nAnother paragraph of it.\n\nAnd a third one here.\n' > "$work/corpus.txt"
"$tessera" prepare "$work/corpus.txt" -o "$work/ds" --tokenizer byte --doc-boundary blank --val-fraction 0.3 >/dev/null ||
  { echo "FAIL: prepare of a good corpus"; exit 1; }
cat > "$work/bad.toml" <<'TOML'
[model]
n_layers = 2
TOML
cat > "$work/broken.toml" <<'TOML'
[model
TOML

refuse "missing config file" "no-such.toml" "$tessera" train -c "$work/no-such.toml" --data "$work/ds"
refuse "unknown preset" 'unknown preset "gpt9"' "$tessera" train -c gpt9
refuse "unknown key" "unknown key model.n_layers" "$tessera" train -c "$work/bad.toml" --data "$work/ds"
refuse "malformed TOML" "broken.toml:1" "$tessera" train -c "$work/broken.toml"
refuse "wrong type" "train.lr must be a number" "$tessera" train -c tiny-gpt2 --data "$work/ds" --set train.lr=fast
refuse "unknown override" "unknown key train.nope" "$tessera" train -c tiny-gpt2 --set train.nope=1
refuse "heads into width" "model.n_head" "$tessera" train -c tiny-gpt2 --data "$work/ds" --set model.n_head=5
refuse "kv heads into heads" "model.n_kv_head" "$tessera" train -c tiny-llama --data "$work/ds" --set model.n_kv_head=3
refuse "vocabulary too large" "exceeds model.vocab_size" "$tessera" train -c tiny-gpt2 --data "$work/ds" --set model.vocab_size=128
refuse "missing dataset" "no such dataset directory" "$tessera" train -c tiny-gpt2 --data "$work/nowhere"
refuse "no dataset" "data.path" "$tessera" train -c tiny-gpt2
refuse "layout vs world" "does not match" "$tessera" train -c tiny-gpt2 --data "$work/ds" --dp 2
refuse "unknown device" "train.device" "$tessera" train -c tiny-gpt2 --data "$work/ds" --set train.device=gpu
refuse "unknown dtype" "train.dtype" "$tessera" train -c tiny-gpt2 --data "$work/ds" --set train.dtype=fp16
if ! nvidia-smi -L >/dev/null 2>&1; then  # no GPU here: asking for one is refused with the reason
  refuse "cuda without a GPU" 'train.device = "cuda": ' "$tessera" train -c tiny-gpt2 --data "$work/ds" --steps 1 \
    --set train.device=cuda
fi
refuse "missing input" "missing.txt" "$tessera" prepare "$work/missing.txt" -o "$work/other"
: > "$work/empty.txt"
refuse "empty input" "empty file" "$tessera" prepare "$work/empty.txt" -o "$work/other"
refuse "existing output" "already exists" "$tessera" prepare "$work/corpus.txt" -o "$work/ds" --tokenizer byte
refuse "missing vocabulary" "encoder.json" "$tessera" prepare "$work/corpus.txt" -o "$work/other" --tokenizer-files "$work"
refuse "missing model" "no such file" "$tessera" generate -m "$work/none.h5"
echo "not hdf5" > "$work/fake.h5"
mkdir -p "$work/foreign"
"$tessera" train -c tiny-gpt2 --data "$work/ds" --steps 1 --set train.seq_len=8 --set train.micro_batch=1 \
  --checkpoint-dir "$work/model" >/dev/null 2>&1 &&
  cp "$work"/model/step-*/shard-tp00-pp00.h5 "$work/foreign/train-00000.h5"
refuse "foreign model file" "not a checkpoint" "$tessera" generate -m "$work/fake.h5"
refuse "data from another tokenizer" "expects data.tokenizer" "$tessera" train -c shakespeare-gpt2 --data "$work/ds"
refuse "no sentencepiece model" "no model given" "$tessera" prepare "$work/corpus.txt" -o "$work/other" --tokenizer sentencepiece
refuse "foreign sentencepiece model" "not a SentencePiece model" "$tessera" prepare "$work/corpus.txt" -o "$work/other" --tokenizer sentencepiece --tokenizer-files "$work/fake.h5"
refuse "tokenizer from nothing" "empty file" "$tessera" train-tokenizer "$work/empty.txt" -o "$work/other"
cp -r "$work/ds" "$work/truncated"
truncate -s 2000 "$work/truncated/train-00000.h5"
refuse "truncated dataset" "train-00000.h5" "$tessera" info --data "$work/truncated"
refuse "foreign dataset" "not a tessera token dataset" "$tessera" train -c tiny-gpt2 --data "$work/foreign"
refuse "info without target" "--data" "$tessera" info
# an interrupted prepare (SIGKILL: no clean-up runs) leaves no dataset, or a complete one, never a partial one
yes "A line of text that the GPT-2 tokenizer has to work through, again and again." | head -c 40000000 > "$work/big.txt"
"$tessera" prepare "$work/big.txt" -o "$work/killed" --doc-boundary line --no-progress >/dev/null 2>&1 &
sleep 1
kill -9 $! 2>/dev/null
wait $! 2>/dev/null
if [[ -e "$work/killed" ]] && ! "$tessera" info --data "$work/killed" >/dev/null 2>&1; then
  echo "FAIL: a killed prepare left an incomplete $work/killed"; failures=$((failures + 1))
else
  passed=$((passed + 1))
fi
rm -rf "$work"/killed.partial-* "$work/big.txt"
[[ -d "$work/other" ]] && { echo "FAIL: a failed prepare left $work/other behind"; failures=$((failures + 1)); }
ls "$work" | grep -q partial && { echo "FAIL: a .partial directory was left behind"; failures=$((failures + 1)); }

finish
