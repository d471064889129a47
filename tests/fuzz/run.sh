#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for RUNS executions (default 1,000,000),
# starting from the seeds in tests/fuzz/seeds/. A crash leaves its input in build-fuzz/crashes/ and fails.
#   Usage: bash tests/fuzz/run.sh [RUNS]        (.ci/run: a short run)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1000000}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=OFF \
  -DTESSERA_FUZZ=ON -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_jsonl fuzz_utf8 fuzz_gpt2 fuzz_safetensors fuzz_hf_config fuzz_manifest >/dev/null
mkdir -p build-fuzz/crashes
for target in jsonl utf8 gpt2 safetensors hf_config manifest; do
  corpus=build-fuzz/corpus/$target
  mkdir -p "$corpus"
  start=$(date +%s)
  if ! build-fuzz/bin/fuzz_$target -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix=build-fuzz/crashes/$target- -print_final_stats=1 "$corpus" tests/fuzz/seeds/$target \
       >build-fuzz/fuzz_$target.log 2>&1; then
    tail -30 build-fuzz/fuzz_$target.log
    echo "FAIL fuzz_$target: see build-fuzz/crashes/"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' build-fuzz/fuzz_$target.log)
  echo "fuzz_$target: $execs executions in $(( $(date +%s) - start )) s, no crash"
done
