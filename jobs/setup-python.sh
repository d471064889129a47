#!/usr/bin/env bash
# The Python side of tessera's tools: a virtual environment .venv/ on Debian's Python (so it sees Debian's
# matplotlib and PyTorch) with `tensorboard` and `transformers` from PyPI: jobs/metrics_to_tensorboard.py, `tensorboard`
# itself, and the Hugging Face parity test.
#   Usage: bash jobs/setup-python.sh            (after jobs/setup-debian.sh; then .venv/bin/python3, .venv/bin/tensorboard)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python3 ]]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python3 -c "import tensorboard" 2>/dev/null; then
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check "tensorboard>=2.10"
fi
# transformers loads tessera's Hugging Face exports in tests/hf_parity_test.py; 4.40 is the last series that runs on
# Debian 12's PyTorch 1.13
if ! .venv/bin/python3 -c "import transformers" 2>/dev/null; then
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check "transformers==4.40.2"
fi
