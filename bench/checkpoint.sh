#!/usr/bin/env bash
# Checkpoint I/O on this machine: save and load GB/s of a GPT-2 124M-shaped model (weights + AdamW's two moments,
# 1.5 GB) by rank count (tp 1, 2, 4: every rank writes its own shard) against the disk's raw sequential write and
# read (dd with fdatasync, files evicted from the page cache before reading: posix_fadvise DONTNEED); how long a
# training step is held up by a synchronous and by an asynchronous save; the size on disk against the bytes of
# weights + optimizer state. Prints markdown tables for docs/performance.md; never fails a build.
#   Usage: bash bench/checkpoint.sh [build-dir] [dir on the disk to measure]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
disk=${2:-${TMPDIR:-/tmp}}
source jobs/blas-env.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake --build "$build" -j"$(nproc)" --target tessera >/dev/null
tessera=$build/bin/tessera
work=$(mktemp -d -p "$disk")
trap 'rm -rf "$work"' EXIT
evict() { /usr/bin/python3 -c '
import os, sys
for root in sys.argv[1:]:
    paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)' "$@"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; disk of $disk: $(df -h "$disk" | tail -1 | awk '{print $1}'); $(date -u +%Y-%m-%d)"
"$tessera" prepare data/tinyshakespeare.txt -o "$work/data" --tokenizer gpt2 --no-progress >/dev/null
model=(train -c gpt2-124m --data "$work/data" --set train.micro_batch=1 --set train.global_batch=0 --set train.seq_len=64 --set eval.batches=1
       --set log.peak_flops=1e9 --set train.threads=1 --set eval.interval=0)

# the raw disk: 1.5 GB written with fdatasync, then read cold
dd if=/dev/zero of="$work/dd" bs=16M count=96 conv=fdatasync 2> "$work/dd-write.log"
evict "$work/dd"
dd if="$work/dd" of=/dev/null bs=16M 2> "$work/dd-read.log"
rate() { sed -n 's/.* \([0-9.,]* [GM]B\/s\)$/\1/p' "$1" | tr ',' '.'; }
to_gbs() { awk '{ v = $1; if ($2 == "MB/s") v /= 1000; printf "%.2f", v }' <<<"$1"; }
dd_write=$(to_gbs "$(rate "$work/dd-write.log")")
dd_read=$(to_gbs "$(rate "$work/dd-read.log")")
rm -f "$work/dd"
echo
echo "## Save and load against dd (1.5 GB: GPT-2 124M weights + AdamW moments, float32)"
echo
echo "raw disk: write ${dd_write} GB/s (dd bs=16M conv=fdatasync), read ${dd_read} GB/s (dd bs=16M, evicted from the page cache)"
echo
echo "| ranks (layout) | save GB/s | save / dd | load GB/s | load / dd |"
echo "|---|---|---|---|---|"
for tp in 1 2 4; do
  run=$work/run-tp$tp
  mpirun -q -np "$tp" --bind-to none "$tessera" "${model[@]}" --tp "$tp" --steps 1 --checkpoint-dir "$run" > "$work/save.log" 2>&1
  save=$(sed -n 's/^checkpoint: saved .* in \([0-9.]*\) s, \([0-9]*\) MB\/s.*/\2/p' "$work/save.log" | tail -1)
  evict "$run"
  mpirun -q -np "$tp" --bind-to none "$tessera" "${model[@]}" --tp "$tp" --steps 2 --checkpoint-dir "$run" > "$work/load.log" 2>&1
  load=$(sed -n 's/^resumed from .* read in [0-9.]* s, \([0-9]*\) MB\/s.*/\1/p' "$work/load.log")
  awk -v s="$save" -v l="$load" -v w="$dd_write" -v r="$dd_read" -v tp="$tp" 'BEGIN {
    printf "| %d (tp %d) | %.2f | %.0f%% | %.2f | %.0f%% |\n", tp, tp, s / 1000, 100 * s / 1000 / w, l / 1000, 100 * l / 1000 / r }'
done

echo
echo "## A training step held up by a save (GPT-2 124M, one rank; a checkpoint every step)"
echo
echo "| save | step held up, s | whole save, s |"
echo "|---|---|---|"
for mode in false true; do
  "$tessera" "${model[@]}" --steps 4 --set checkpoint.interval=1 --set checkpoint.keep=1 --set checkpoint.async=$mode \
    --checkpoint-dir "$work/async-$mode" > "$work/async.log" 2>&1
  if [[ $mode == true ]]; then
    held=$(sed -n 's/.*training held up \([0-9.]*\) s.*/\1/p' "$work/async.log" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    whole=$(sed -n 's/^checkpoint: saved .* in \([0-9.]*\) s,.*/\1/p' "$work/async.log" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "| asynchronous (checkpoint.async = true) | $held | $whole |"
  else
    whole=$(sed -n 's/^checkpoint: saved .* in \([0-9.]*\) s,.*/\1/p' "$work/async.log" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "| synchronous | $whole | $whole |"
  fi
done

echo
echo "## Size on disk"
echo
echo "| | bytes |"
echo "|---|---|"
"$tessera" info --checkpoint "$work/run-tp1" |
  sed -n 's/^size on disk \(.*\) | tensor data \(.*\) (\([0-9]*\) weights.*/| size on disk (tp 1) | \1 |\n| weights + AdamW moments, float32 | \2 |/p'
