"""jobs/plot_metrics.py and jobs/metrics_to_tensorboard.py on the metrics of real runs: the PNG is drawn (several
runs overlaid, steps or tokens), bad input gets one clear line, and the TensorBoard events read back with
TensorBoard's own reader hold exactly the metrics' values.
Usage: .venv/bin/python3 tests/metrics_tools_test.py path/to/tessera"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLOT = os.path.join(ROOT, "jobs", "plot_metrics.py")
TB = os.path.join(ROOT, "jobs", "metrics_to_tensorboard.py")
failures = []
passed = []


def check(what, cond):
    (passed if cond else failures).append(what)
    if not cond:
        print("FAIL", what)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def main():
    tessera = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        run_checks(tessera, work)
    print(f"{len(passed)} passed, {len(failures)} failed")
    return 1 if failures else 0


def run_checks(tessera, work):
    text = os.path.join(ROOT, "data", "tinyshakespeare.txt")
    subprocess.run([tessera, "prepare", text, "-o", f"{work}/ds", "--tokenizer", "byte", "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    runs = []
    for name, preset in [("gpt", "tiny-gpt2"), ("llama", "tiny-llama")]:
        metrics = f"{work}/{name}/metrics.jsonl"
        subprocess.run([tessera, "train", "-c", preset, "--data", f"{work}/ds", "--steps", "8", "--set",
                        "eval.interval=4", "--set", "log.peak_flops=1e9", "--metrics", metrics],
                       check=True, stdout=subprocess.DEVNULL)
        runs.append(metrics)

    # the plot: one PNG with both runs, by steps and by tokens
    for x in ["steps", "tokens"]:
        png = f"{work}/plot-{x}.png"
        r = subprocess.run([sys.executable, PLOT, *runs, "-o", png, "--x", x], capture_output=True, text=True)
        check(f"plot --x {x} exits 0: {r.stderr}", r.returncode == 0)
        check(f"plot --x {x} writes a PNG", os.path.isfile(png) and png_size(png) == (1200, 800))
        check(f"plot --x {x} is not blank", os.path.getsize(png) > 20000)
    with open(f"{work}/bad.jsonl", "w") as f:
        f.write('{"step": 1, "loss": 2.0, "lr": 0.1, "tokens_per_s": 5}\nnot json\n')
    r = subprocess.run([sys.executable, PLOT, f"{work}/bad.jsonl", "-o", f"{work}/bad.png"], capture_output=True,
                       text=True)
    check(f"plot of a bad line fails with file:line: {r.stderr}",
          r.returncode != 0 and "bad.jsonl:2" in r.stderr and len(r.stderr.strip().splitlines()) == 1)

    # TensorBoard: a bad line is refused before anything is written; then every scalar back, equal to the metrics
    r = subprocess.run([sys.executable, TB, f"{work}/bad.jsonl", "-o", f"{work}/tb-bad"], capture_output=True,
                       text=True)
    check(f"tensorboard of a bad line fails with file:line: {r.stderr}",
          r.returncode != 0 and "bad.jsonl:2" in r.stderr and not os.path.exists(f"{work}/tb-bad"))
    logdir = f"{work}/tb"
    r = subprocess.run([sys.executable, TB, *runs, "-o", logdir], capture_output=True, text=True)
    check(f"metrics_to_tensorboard exits 0: {r.stderr}", r.returncode == 0)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    for metrics, name in zip(runs, ["gpt", "llama"]):
        rows = [json.loads(line) for line in open(metrics)]
        train = [r for r in rows if "loss" in r]
        val = [r for r in rows if "val_loss" in r]
        acc = EventAccumulator(os.path.join(logdir, name), size_guidance={"tensors": 0})
        acc.Reload()
        tags = set(acc.Tags()["tensors"])
        check(f"{name}: TensorBoard tags {sorted(tags)}",
              {"train/loss", "train/lr", "train/tokens_per_s", "train/mfu", "val/loss"} <= tags)

        def series(tag):
            return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]

        got = series("train/loss")
        check(f"{name}: train/loss steps", [s for s, _ in got] == [r["step"] for r in train])
        check(f"{name}: train/loss values", all(math.isclose(v, r["loss"], rel_tol=1e-6) for (_, v), r in zip(got, train)))
        got = series("val/loss")
        check(f"{name}: val/loss", [s for s, _ in got] == [4, 8] and
              all(math.isclose(v, r["val_loss"], rel_tol=1e-6) for (_, v), r in zip(got, val)))


if __name__ == "__main__":
    sys.exit(main())
