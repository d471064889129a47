#!/usr/bin/env bash
# The main job, from a fresh Debian machine: set up, build, prepare tinyshakespeare (bundled in data/) with the
# bundled GPT-2 vocabulary, pretrain a small GPT-2-family model with several MPI ranks (data parallel), evaluate it,
# plot its loss curve and print samples from it.
#   Usage: bash jobs/quickstart.sh [RANKS]      (default 2 ranks; about five minutes on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
bash jobs/setup-debian.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # harmless when not root
source jobs/blas-env.sh
cmake --preset release >/dev/null
cmake --build build -j"$(nproc)" --target tessera
tessera=build/bin/tessera
$tessera --version

data=runs/data/shakespeare-gpt2
[[ -d $data ]] || $tessera prepare data/tinyshakespeare.txt -o "$data" --tokenizer gpt2 --doc-boundary blank \
  --val-fraction 0.05
$tessera info --data "$data"

run=runs/quickstart
mpirun --oversubscribe -np "$ranks" $tessera train -c shakespeare-gpt2 --data "$data" --dp "$ranks" \
  --checkpoint-dir "$run" --metrics "$run/metrics.jsonl"
$tessera eval -m "$run"
jobs/plot_metrics.py "$run/metrics.jsonl" -o "$run/loss.png" --title "shakespeare-gpt2 on $ranks ranks"
echo "loss curve: $run/loss.png"
echo
echo "=== samples from the model ==="
$tessera generate -m "$run" --prompt "ROMEO:" --max-tokens 80 --samples 2 --temperature 0.8 --top-k 40
