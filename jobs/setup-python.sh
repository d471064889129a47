#!/usr/bin/env bash
# The Python side of tessera's tools: a virtual environment .venv/ on Debian's Python (so it sees Debian's
# matplotlib) with the `tensorboard` package from PyPI, for jobs/metrics_to_tensorboard.py and `tensorboard` itself.
#   Usage: bash jobs/setup-python.sh            (after jobs/setup-debian.sh; then .venv/bin/python3, .venv/bin/tensorboard)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python3 ]]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python3 -c "import tensorboard" 2>/dev/null; then
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check "tensorboard>=2.10"
fi
