#!/usr/bin/env bash
# The main job, from a fresh Debian machine: set up, build, prepare a corpus, pretrain a small GPT-2-family model
# with several MPI ranks (data parallel), evaluate it and print samples from it.
#   Usage: bash jobs/quickstart.sh [RANKS]      (default 2 ranks; about five minutes on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
bash jobs/setup-debian.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # harmless when not root
source jobs/blas-env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target tessera
tessera=build/bin/tessera

corpus=../shared/data/tinyshakespeare.txt
gpt2=../shared/data/gpt2
mkdir -p runs
if [[ -f $corpus && -f $gpt2/encoder.json ]]; then
  data=runs/data/shakespeare-gpt2
  [[ -d $data ]] || $tessera prepare "$corpus" -o "$data" --tokenizer gpt2 --tokenizer-files "$gpt2" \
    --doc-boundary blank --val-fraction 0.05
  config=shakespeare-gpt2
else
  # No shared test data on this machine: the King James Bible from Debian's bible-kjv, byte-level tokens.
  bash jobs/setup-debian.sh --corpus
  corpus=runs/data/kjv.txt
  [[ -f $corpus ]] || bible -f "Gen1:1-Rev22:21" > "$corpus"
  data=runs/data/kjv-byte
  [[ -d $data ]] || $tessera prepare "$corpus" -o "$data" --tokenizer byte --doc-boundary line --val-fraction 0.02
  config=shakespeare-gpt2
fi
$tessera info --data "$data"

run=runs/quickstart
mpirun --oversubscribe -np "$ranks" $tessera train -c "$config" --data "$data" --dp "$ranks" \
  --checkpoint-dir "$run" --metrics "$run/metrics.jsonl"
$tessera eval -m "$run"
echo
echo "=== samples from the model ==="
$tessera generate -m "$run" --prompt "ROMEO:" --max-tokens 80 --samples 2 --temperature 0.8 --top-k 40
