#!/usr/bin/env bash
# Independent tus implementations for the interop tests (and the benchmark's tuspy row), from PyPI,
# in a venv under .build-venv/ (Debian's python3 is externally managed). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KIOSK_PYTHON_VENV:-$PWD/.build-venv}"
PINS=(tuspy==1.1.0 tuspyserver==4.4.3 "uvicorn>=0.30")
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if "$VENV/bin/python" -c 'import tusclient, tuspyserver, uvicorn' 2>/dev/null; then
  echo "python-peers: tuspy, tuspyserver, uvicorn present in $VENV"
else
  echo "python-peers: installing ${PINS[*]} into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"
fi
