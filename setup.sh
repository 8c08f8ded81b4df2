#!/usr/bin/env bash
# Make .venv and install factsift with everything it needs; nothing is
# downloaded at run time afterwards. torch goes first, pinned to the CPU
# wheel: a looser requirement would pull a multi-gigabyte CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
log=$(mktemp)
pip_quiet() {  # pip's output only when it fails (its "Location ... is ignored" warnings are noise here)
  if ! .venv/bin/python -m pip "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: pip $* failed" >&2
    exit 1
  fi
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_quiet install -q --upgrade pip
pip_quiet install -q torch==2.13.0
pip_quiet install -q -c constraints.txt -e '.[dev]'
rm -f "$log"
.venv/bin/python -c "import factsift, torch, transformers; print('factsift', factsift.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
