#!/usr/bin/env bash
# cmake --install into a temporary prefix, moved elsewhere (the install must be relocatable); then, from another
# directory and with nothing of the source or build tree on PATH or in the environment, the installed binary prepares
# tinyshakespeare with its bundled GPT-2 vocabulary, trains a preset for 2 steps and samples; a program embedding the
# library through find_package(tessera) builds and runs.
# Usage: install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
mv "$work/prefix" "$work/moved"
p=$work/moved
for f in bin/tessera share/tessera/configs/tiny-gpt2.toml share/tessera/gpt2/encoder.json share/tessera/gpt2/vocab.bpe \
         share/tessera/tinyshakespeare.txt include/tessera/model/transformer.hpp lib/cmake/tessera/tesseraConfig.cmake; do
  [[ -e $p/$f ]] || fail "the install lacks $f"
done
# no path of the build machine's source or build tree inside the binary
if grep -q -a -F -e "$src" -e "$build" "$p/bin/tessera"; then fail "bin/tessera holds a source or build path"; fi

mkdir "$work/elsewhere"
cd "$work/elsewhere"
run() { env -i PATH=/usr/bin:/bin HOME="$work" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
          OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-}" "$p/bin/tessera" "$@"; }
run --version | grep -q "tessera 0.1.0" || fail "--version"
run prepare "$p/share/tessera/tinyshakespeare.txt" -o ds --no-progress >prepare.log || { cat prepare.log; fail "prepare"; }
grep -q "338026 tokens" prepare.log || { cat prepare.log; fail "prepare: expected 338026 tokens (GPT-2 + end-of-text)"; }
run train -c tiny-gpt2 --data ds --steps 2 --checkpoint-dir run >train.log || { cat train.log; fail "train"; }
grep -q "step 2/2" train.log || { cat train.log; fail "train: no step 2"; }
run generate -m run --prompt "ROMEO:" --max-tokens 5 >gen.log || { cat gen.log; fail "generate"; }
grep -q "^ROMEO:" gen.log || fail "generate: no text"

cmake -S "$src/tests/install_consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$p" >"$work/consumer.log" 2>&1 ||
  { cat "$work/consumer.log"; fail "find_package(tessera)"; }
cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; fail "building the consumer"; }
"$work/consumer/consumer" || fail "the consumer"
echo "install test: passed"
