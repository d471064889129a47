#!/usr/bin/env bash
# Runs the README's tour (the first ```bash block after "## A tour of the CLI") as written, in a scratch directory
# laid out like the repository (build/, data/, jobs/ linked in), with small stand-ins for the tour's own inputs
# (corpus/, dump.jsonl.zst, pairs.jsonl). A command that fails fails the test, so the README cannot drift from the CLI.
# Usage: readme_tour.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ln -s "$build" build
ln -s "$src/data" data
ln -s "$src/jobs" jobs

# the tour's inputs: three files of a few paragraphs each, and 300 JSON lines of text, zstd-compressed
mkdir corpus
head -c 40000 data/tinyshakespeare.txt > corpus/a.txt
tail -c 40000 data/tinyshakespeare.txt > corpus/b.txt
sed -n '2000,3000p' data/tinyshakespeare.txt > corpus/c.txt
sed -n '5000,5300p' data/tinyshakespeare.txt | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    print(json.dumps({"text": line, "id": 1}))' | zstd -q -o dump.jsonl.zst
/usr/bin/python3 -c '
import json
for i in range(200):
    print(json.dumps({"prompt": f"Who speaks line {i}?", "response": " ROMEO, my lord."}))' > pairs.jsonl

awk '/^## A tour of the CLI/ {tour = 1} tour && /^```bash/ {inside = 1; next} inside && /^```/ {exit} inside' \
  "$src/README.md" > tour.sh
commands=$(grep -cvE '^\s*(#|$)' tour.sh)
[[ $commands -ge 10 ]] || { echo "FAIL: found only $commands commands in the README's tour"; cat tour.sh; exit 1; }
echo "running the README's tour: $commands commands"
if ! bash -euo pipefail -x tour.sh >tour.log 2>&1; then
  tail -40 tour.log
  echo "FAIL: the README's tour stopped at the command above"
  exit 1
fi
# what the tour says it makes
for f in runs/data/shakespeare/train-00000.h5 runs/data/corpus/train-00000.h5 runs/data/web/train-00000.h5 \
         runs/tok/tokenizer.model runs/tiny/latest runs/tiny/metrics.jsonl runs/tiny/loss.png \
         runs/tiny-tp2/latest runs/tiny-hf/model.safetensors runs/tiny-hf/config.json runs/data/pairs/train-00000.h5 \
         runs/tiny-sft/latest; do
  [[ -s $f ]] || { echo "FAIL: the tour did not make $f"; exit 1; }
done
for f in runs/data/corpus/*.h5; do
  cmp "$f" "runs/data/corpus-2/$(basename "$f")" || { echo "FAIL: prepare on 2 ranks differs from 1 rank"; exit 1; }
done
grep -q "resumed from .*runs/tiny/step-00000200: step 200" tour.log || { echo "FAIL: the rerun did not resume"; exit 1; }
echo "README tour: $commands commands passed"
