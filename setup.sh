#!/usr/bin/env bash
# Make .venv and install factsift with everything it needs, offline-safe.
# torch first, pinned to the CPU wheel: a looser requirement pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
.venv/bin/pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import factsift, torch, transformers; print('factsift', factsift.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
