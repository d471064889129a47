"""Reading tessera's metrics files (the JSON lines of `tessera train --metrics`), for the scripts beside this one."""
import json


def read_rows(path):
    """Every object of a metrics file, in order; a line that is not JSON is an error naming file:line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"error: {path}:{number}: not a JSON line ({e.msg})") from None
    return rows


def read_metrics(path):
    """(training rows, validation rows) of a metrics file; a file with neither is an error."""
    rows = read_rows(path)
    train = [r for r in rows if "loss" in r and "val_loss" not in r]
    val = [r for r in rows if "val_loss" in r]
    if not train and not val:
        raise SystemExit(f"error: {path}: no metrics (expected the JSON lines of tessera train --metrics)")
    return train, val
