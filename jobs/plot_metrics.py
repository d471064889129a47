#!/usr/bin/python3
"""Plots tessera's metrics (the JSON lines of `train --metrics`) as one PNG: training and validation loss, learning
rate and tokens/s against steps (or tokens), several runs overlaid.

    jobs/plot_metrics.py runs/a/metrics.jsonl [runs/b/metrics.jsonl ...] -o loss.png [--x tokens] [--smooth 20]

A run is named after its folder (or --label). Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import math
import os
import sys

from tessera_metrics import read_metrics


def smoothed(values, window):
    """Trailing mean over `window` points (1: the values as they are)."""
    if window <= 1:
        return values
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def label_of(path):
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return parent or os.path.splitext(os.path.basename(path))[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="+", help="metrics files (JSON lines), one per run")
    parser.add_argument("-o", "--output", default="metrics.png", help="PNG to write (default: metrics.png)")
    parser.add_argument("--x", choices=["steps", "tokens"], default="steps", help="horizontal axis")
    parser.add_argument("--smooth", type=int, default=1, help="trailing mean of the training loss over N points")
    parser.add_argument("--label", action="append", help="a run's name in the legend (once per file, in order)")
    parser.add_argument("--title", default="", help="title above the plots")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.metrics):
        parser.error(f"--label given {len(args.label)} times for {len(args.metrics)} files")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (ax_loss, ax_val), (ax_lr, ax_tps) = axes
    xkey = "step" if args.x == "steps" else "tokens"
    for i, path in enumerate(args.metrics):
        train, val = read_metrics(path)
        name = args.label[i] if args.label else label_of(path)
        color = f"C{i % 10}"
        if train:
            xs = [r[xkey] for r in train if xkey in r]
            ax_loss.plot(xs, smoothed([r["loss"] for r in train], args.smooth), color=color, label=f"{name} train")
            ax_lr.plot(xs, [r["lr"] for r in train], color=color, label=name)
            ax_tps.plot(xs, [r["tokens_per_s"] for r in train], color=color, label=name)
        if val:
            xs = [r[xkey] for r in val if xkey in r]
            ys = [r["val_loss"] for r in val]
            ax_loss.plot(xs, ys, "o--", color=color, label=f"{name} val")
            ax_val.plot(xs, [math.exp(min(y, 50.0)) for y in ys], "o-", color=color, label=name)
    xlabel = "step" if args.x == "steps" else "tokens"
    for ax, title, ylabel in [
        (ax_loss, "loss (nats per token)", "loss"),
        (ax_val, "validation perplexity", "perplexity"),
        (ax_lr, "learning rate", "lr"),
        (ax_tps, "throughput", "tokens/s"),
    ]:
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    if ax_val.lines:
        ax_val.set_yscale("log")
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
