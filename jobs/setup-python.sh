#!/usr/bin/env bash
# The Python side of tessera's tools: a virtual environment .venv/ on Debian's Python (so it sees Debian's
# matplotlib and PyTorch) with `tensorboard` and `transformers` from PyPI: jobs/metrics_to_tensorboard.py, `tensorboard`
# itself, and the Hugging Face parity test; and the cuDNN frontend's C++ headers, which the CUDA build compiles its
# cuDNN attention against (src/ops/cuda/attention_cudnn.cpp; its Python side and dependencies are not installed).
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
# header-only C++ (MIT): the wheel's include/ lands in .venv/lib/python3.*/site-packages/include, where CMake looks
if ! compgen -G ".venv/lib/python3*/site-packages/include/cudnn_frontend.h" >/dev/null; then
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check --no-deps "nvidia-cudnn-frontend==1.32.0"
fi
