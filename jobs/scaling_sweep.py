#!/usr/bin/python3
"""Submits a scaling study to Slurm: one jobs/slurm/pretrain.sbatch job per (rank count, layout), run one after the
other (sbatch --dependency=singleton), so that no two measurements share the machines.

    jobs/scaling_sweep.py --kind strong --ranks 1,2,4,8 --layouts dp,tp2 --global-batch 32 -o runs/sweep \\
        -c configs/gpt2-124m.toml -- --data data/web --set train.seq_len=512
    jobs/scaling_sweep.py --kind weak --ranks 1,2,4 --batch-per-rank 4 -o runs/weak -c tiny-gpt2 -- --data DIR

strong: the global batch stays --global-batch at every rank count (each rank's share shrinks);
weak:   the global batch grows with the ranks (--batch-per-rank sequences per rank), so each rank's work stays.
A layout is "dp" (tp = pp = 1), or tpN, ppN, tpNppM: data parallelism takes the ranks left; rank counts it does not
divide are skipped. Arguments after -- go to tessera train. Writes OUT/sweep.json (what jobs/scaling_report.py reads)
and one run directory per job; --wait returns when every job has left the queue.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_layout(text):
    """(tp, pp) of "dp", "tp2", "pp2", "tp2pp2"."""
    if text == "dp":
        return 1, 1
    m = re.fullmatch(r"(?:tp(\d+))?(?:pp(\d+))?", text)
    if not m or not (m.group(1) or m.group(2)):
        raise SystemExit(f"error: --layouts: {text!r} is not dp, tpN, ppN or tpNppM")
    return int(m.group(1) or 1), int(m.group(2) or 1)


def plan_runs(args):
    runs = []
    for ranks in args.ranks:
        for layout in args.layouts:
            tp, pp = parse_layout(layout)
            if ranks % (tp * pp) != 0:
                continue
            dp = ranks // (tp * pp)
            global_batch = args.global_batch if args.kind == "strong" else args.batch_per_rank * ranks
            if global_batch % (args.micro_batch * dp) != 0:
                print(f"note: {layout} on {ranks} ranks skipped: global batch {global_batch} is not a multiple of "
                      f"micro_batch {args.micro_batch} x dp {dp}", file=sys.stderr)
                continue
            runs.append({"name": f"n{ranks}-{layout}", "ranks": ranks, "layout": layout, "tp": tp, "pp": pp,
                         "dp": dp, "global_batch": global_batch, "micro_batch": args.micro_batch})
    if not runs:
        raise SystemExit("error: no (rank count, layout) pair of the sweep is possible")
    return runs


def submit(args, run, out):
    run_dir = os.path.join(out, run["name"])
    log = os.path.join(out, run["name"] + ".log")
    command = ["sbatch", "--parsable", f"--job-name=tessera-sweep-{os.path.basename(out)}", "--dependency=singleton",
               f"--ntasks={run['ranks']}", f"--output={log}", *args.sbatch_args.split(),
               os.path.join(args.home, "jobs", "slurm", "pretrain.sbatch"), args.config, run_dir,
               "--steps", str(args.steps), "--tp", str(run["tp"]), "--pp", str(run["pp"]),
               "--set", f"train.global_batch={run['global_batch']}", "--set", f"train.micro_batch={run['micro_batch']}",
               "--set", "log.interval=1", *args.train_args]
    env = dict(os.environ, TESSERA_HOME=args.home)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: sbatch for {run['name']} failed: {result.stderr.strip()}")
    return dict(run, job=result.stdout.strip().split(";")[0], run_dir=run_dir, log=log,
                metrics=os.path.join(run_dir, "metrics.jsonl"))


def wait_for(jobs):
    while True:
        result = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)], capture_output=True, text=True)
        if result.returncode == 0 and not result.stdout.strip():
            return
        time.sleep(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["strong", "weak"], required=True)
    p.add_argument("--ranks", required=True, type=lambda s: [int(x) for x in s.split(",")],
                   help="rank counts, e.g. 1,2,4,8")
    p.add_argument("--layouts", default="dp", type=lambda s: s.split(","), help="dp, tpN, ppN, tpNppM (default dp)")
    p.add_argument("--global-batch", type=int, help="strong: sequences per step at every rank count")
    p.add_argument("--batch-per-rank", type=int, help="weak: sequences per step per rank")
    p.add_argument("--micro-batch", type=int, default=1, help="train.micro_batch (default 1)")
    p.add_argument("--steps", type=int, default=20, help="steps per run (default 20)")
    p.add_argument("-c", "--config", required=True, help="a preset or a TOML file")
    p.add_argument("-o", "--out", required=True, help="the sweep's directory")
    p.add_argument("--sbatch-args", default="", help="more sbatch options for every job, e.g. '--time 1:00:00'")
    p.add_argument("--home", default=os.path.dirname(HERE), help="the tessera checkout (default: this one)")
    p.add_argument("--wait", action="store_true", help="return when every job has left the queue")
    p.add_argument("train_args", nargs="*", help="after --: options for tessera train")
    args = p.parse_args()
    if args.kind == "strong" and not args.global_batch:
        raise SystemExit("error: --kind strong needs --global-batch")
    if args.kind == "weak" and not args.batch_per_rank:
        raise SystemExit("error: --kind weak needs --batch-per-rank")
    out = os.path.abspath(args.out)
    if os.path.exists(os.path.join(out, "sweep.json")):
        raise SystemExit(f"error: {out} holds a sweep already (sweep.json); choose another -o")
    os.makedirs(out, exist_ok=True)
    runs = [submit(args, run, out) for run in plan_runs(args)]
    sweep = {"kind": args.kind, "config": args.config, "steps": args.steps, "runs": runs}
    with open(os.path.join(out, "sweep.json"), "w", encoding="utf-8") as f:
        json.dump(sweep, f, indent=1)
    for run in runs:
        print(f"submitted {run['name']}: job {run['job']}, {run['ranks']} ranks (tp {run['tp']}, pp {run['pp']}, "
              f"dp {run['dp']}), global batch {run['global_batch']}")
    print(f"sweep: {os.path.join(out, 'sweep.json')}; jobs/scaling_report.py {out} collects it")
    if args.wait:
        wait_for([run["job"] for run in runs])


if __name__ == "__main__":
    main()
