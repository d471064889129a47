#!/usr/bin/env python3
"""Converts tessera's metrics (the JSON lines of `train --metrics`) into TensorBoard event files, one run per folder,
with the `tensorboard` package's own writer (tensorboard.summary.Writer).

    .venv/bin/python3 jobs/metrics_to_tensorboard.py runs/a/metrics.jsonl [runs/b/metrics.jsonl ...] -o runs/tb
    .venv/bin/tensorboard --logdir runs/tb

Tags: train/loss, train/lr, train/grad_norm, train/tokens_per_s, train/gflops, train/mfu, val/loss, val/perplexity;
the step is the optimizer step, the wall time the metrics' "time". `bash jobs/setup-python.sh` makes .venv/.
"""
import argparse
import calendar
import math
import os
import sys
import time

from tessera_metrics import read_rows

TRAIN_TAGS = ["loss", "lr", "grad_norm", "tokens_per_s", "gflops", "mfu"]


def wall_time(row):
    """Seconds since the epoch of the row's "time" (UTC, ISO 8601), or None."""
    stamp = row.get("time")
    if not stamp:
        return None
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def convert(path, logdir):
    """Writes one run's events into logdir; returns the number of scalars written."""
    from tensorboard.summary import Writer

    rows = read_rows(path)  # before the writer: a bad file leaves no events behind
    writer = Writer(logdir)
    count = 0
    for row in rows:
        step, when = row.get("step"), wall_time(row)
        if step is None:
            continue
        if "val_loss" in row:
            writer.add_scalar("val/loss", row["val_loss"], step, wall_time=when)
            writer.add_scalar("val/perplexity", math.exp(min(row["val_loss"], 50.0)), step, wall_time=when)
            count += 2
            continue
        for tag in TRAIN_TAGS:
            if tag in row:
                writer.add_scalar(f"train/{tag}", row[tag], step, wall_time=when)
                count += 1
    writer.close()
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="+", help="metrics files (JSON lines), one per run")
    parser.add_argument("-o", "--logdir", required=True, help="TensorBoard log directory (one sub-folder per run)")
    args = parser.parse_args(argv)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise SystemExit("error: the tensorboard package is missing (bash jobs/setup-python.sh, then .venv/bin/python3)")
    for path in args.metrics:
        if not os.path.isfile(path):
            raise SystemExit(f"error: {path}: no such metrics file")
        run = os.path.basename(os.path.dirname(os.path.abspath(path))) or "run"
        out = os.path.join(args.logdir, run)
        n = convert(path, out)
        print(f"{path}: {n} scalars -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
