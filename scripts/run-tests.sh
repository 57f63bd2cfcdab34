#!/usr/bin/env bash
# Runs the whole test suite (unit tests per layer, end-to-end in tmux) and the catalog check.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check-catalog.py
export LANG=C.UTF-8 LC_ALL=C.UTF-8
swift test --skip-build 2>&1 | tee .build/test-output.txt
