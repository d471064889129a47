#!/usr/bin/env bash
# Runs the benchmarks and prints the tables for docs/performance.md: the op micro-benchmarks (Google Benchmark,
# sgemm peak included) and the end-to-end training step of tessera and PyTorch, side by side, on this machine.
# Then the data path: GPT-2 tokenizer MB/s against tiktoken and Hugging Face tokenizers, `tessera prepare` end to end
# on 1 and 2 ranks, and sampler tokens/s from HDF5.
#   Usage: bash bench/run.sh [build-dir]      (needs: bash jobs/setup-debian.sh --bench; pip install tiktoken tokenizers)
#   TESSERA_BENCH_TEXT=file.txt sets the tokenizer and prepare text (default: data/tinyshakespeare.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
source jobs/blas-env.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target tessera bench_ops bench_train_step bench_tokenizer bench_sampler >/dev/null

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}; $(date -u +%Y-%m-%d)"
echo
echo "## Ops (Google Benchmark)"
"$build/bin/bench_ops" --benchmark_min_time=0.2
echo
echo "## Training step: GPT-2 family, L=6, C=512, 8 heads, T=256, micro-batch 8, vocab 50304, tied embeddings"
echo
echo "| code | model | threads | forward ms | backward ms | update ms | step ms | tokens/s | sgemm GFLOP/s | MFU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
"$build/bin/bench_train_step"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 bench/peers/torch_train_step.py
else
  echo "| PyTorch | not installed (bash jobs/setup-debian.sh --bench) | | | | | | | | |"
fi

text=${TESSERA_BENCH_TEXT:-data/tinyshakespeare.txt}
gpt2=${TESSERA_GPT2_DIR:-data/gpt2}
echo
echo "## Tokenizer: GPT-2 BPE on $(basename "$text") ($(stat -c %s "$text") bytes); 1 thread: the text as one string, $(nproc) threads: its paragraphs as a batch"
echo
echo "| implementation | threads | MB/s | tokens |"
echo "|---|---|---|---|"
"$build/bin/bench_tokenizer" "$text" "$gpt2" "$(nproc)"
python3 bench/peers/tokenizer_peers.py "$gpt2" "$text" "$(nproc)"
echo
echo "## Tokenizer: one pre-token of 1 MB (random letters: BPE in O(n log n), not O(n^2))"
echo
echo "| implementation | threads | MB/s | tokens |"
echo "|---|---|---|---|"
word=$(mktemp)
/usr/bin/python3 -c 'import random; r = random.Random(1); print("".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1 << 20)))' > "$word"
"$build/bin/bench_tokenizer" "$word" "$gpt2" 1
rm -f "$word"
echo
echo "## prepare end to end (read, tokenize with GPT-2 BPE, write HDF5), $(basename "$text")"
echo
echo "| ranks x threads | seconds | MB/s | tokens/s |"
echo "|---|---|---|---|"
out=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for ranks in 1 2; do
  threads=$(( $(nproc) / ranks ))
  line=$(mpirun --oversubscribe -np "$ranks" "$build/bin/tessera" prepare "$text" -o "$out/ds" --threads "$threads" \
         --tokenizer gpt2 --tokenizer-files "$gpt2" --doc-boundary blank --no-progress --force | grep "MB/s")
  echo "$line" | sed -E "s/.*\| ([0-9.]+) s on .* \| ([0-9.]+) MB\/s \| ([0-9]+) tokens\/s/| $ranks x $threads | \1 | \2 | \3 |/"
done
rm -rf "$out"
echo
echo "## Sampler: shuffled sequences from HDF5 (synthetic GPT-2-sized tokens); x = multiple of the 666 tokens/s the training-step benchmark consumes"
echo
echo "| case | dataset | T | tokens/s | cache hits | x training |"
echo "|---|---|---|---|---|---|"
"$build/bin/bench_sampler"
