#!/usr/bin/python3
"""Collects a finished scaling study (jobs/scaling_sweep.py) into a CSV and a PNG.

    jobs/scaling_report.py runs/sweep [-o runs/sweep/scaling] [--skip 3]

Per run (rank count, layout): the median over its steps after the first --skip (start-up, caches) of tokens/s, MFU
and step time, from its metrics.jsonl. Speed-up and scaling efficiency are against the run with the fewest ranks
(pure data parallelism first): efficiency = (tokens/s / base tokens/s) / (ranks / base ranks), for strong scaling
(fixed global batch) and weak scaling (fixed batch per rank) alike. Writes OUT.csv (ranks, layout, tp, pp, dp,
global_batch, tokens_per_s, mfu, step_ms, speedup, efficiency) and OUT.png (throughput and efficiency against ranks,
ideal lines drawn). A run without metrics (a failed job) is named and left out. Needs matplotlib.
"""
import argparse
import csv
import json
import os
import statistics
import sys

from tessera_metrics import read_metrics

COLUMNS = ["name", "kind", "ranks", "layout", "tp", "pp", "dp", "global_batch", "steps_measured", "tokens_per_s",
           "mfu", "step_ms", "speedup", "efficiency"]


def measure(run, kind, skip):
    train, _ = read_metrics(run["metrics"])
    rows = [r for r in train if r["step"] > skip] or train
    return dict(name=run["name"], kind=kind, ranks=run["ranks"], layout=run["layout"], tp=run["tp"], pp=run["pp"],
                dp=run["dp"], global_batch=run["global_batch"], steps_measured=len(rows),
                tokens_per_s=statistics.median(r["tokens_per_s"] for r in rows),
                mfu=statistics.median(r["mfu"] for r in rows), step_ms=statistics.median(r["step_ms"] for r in rows))


def plot(rows, path, kind):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    base = rows[0]
    ranks = sorted({r["ranks"] for r in rows})
    ax_t.plot(ranks, [base["tokens_per_s"] * n / base["ranks"] for n in ranks], "k--", lw=1, label="ideal")
    ax_e.plot(ranks, [1.0] * len(ranks), "k--", lw=1, label="ideal")
    for layout in dict.fromkeys(r["layout"] for r in rows):
        series = sorted((r for r in rows if r["layout"] == layout), key=lambda r: r["ranks"])
        xs = [r["ranks"] for r in series]
        ax_t.plot(xs, [r["tokens_per_s"] for r in series], "o-", label=layout)
        ax_e.plot(xs, [r["efficiency"] for r in series], "o-", label=layout)
    for ax in (ax_t, ax_e):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(n) for n in ranks])
        ax.set_xlabel("ranks")
        ax.grid(alpha=0.3)
        ax.legend()
    ax_t.set_ylabel("tokens/s")
    ax_t.set_title(f"{kind} scaling: throughput")
    ax_e.set_ylabel("scaling efficiency")
    ax_e.set_ylim(0, 1.2)
    ax_e.set_title(f"{kind} scaling: efficiency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", help="the sweep's directory (holding sweep.json)")
    p.add_argument("-o", "--out", help="OUT.csv and OUT.png (default: SWEEP/scaling)")
    p.add_argument("--skip", type=int, default=3, help="steps left out at the start of each run (default 3)")
    args = p.parse_args()
    path = os.path.join(args.sweep, "sweep.json")
    if not os.path.exists(path):
        raise SystemExit(f"error: {path}: no sweep here (jobs/scaling_sweep.py writes it)")
    with open(path, encoding="utf-8") as f:
        sweep = json.load(f)
    rows = []
    for run in sweep["runs"]:
        if not os.path.exists(run["metrics"]):
            print(f"warning: {run['name']} (job {run['job']}) has no metrics: left out (see {run['log']})",
                  file=sys.stderr)
            continue
        rows.append(measure(run, sweep["kind"], args.skip))
    if not rows:
        raise SystemExit(f"error: {args.sweep}: no run of the sweep has metrics")
    rows.sort(key=lambda r: (r["ranks"], r["layout"] != "dp", r["layout"]))
    base = rows[0]
    for r in rows:
        r["speedup"] = r["tokens_per_s"] / base["tokens_per_s"]
        r["efficiency"] = r["speedup"] / (r["ranks"] / base["ranks"])
    out = args.out or os.path.join(args.sweep, "scaling")
    with open(out + ".csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    plot(rows, out + ".png", sweep["kind"])
    print(f"{'ranks':>5} {'layout':>8} {'tokens/s':>10} {'MFU':>6} {'step ms':>8} {'efficiency':>10}")
    for r in rows:
        print(f"{r['ranks']:>5} {r['layout']:>8} {r['tokens_per_s']:>10.0f} {100 * r['mfu']:>5.1f}% "
              f"{r['step_ms']:>8.1f} {r['efficiency']:>10.2f}")
    print(f"wrote {out}.csv and {out}.png")


if __name__ == "__main__":
    main()
