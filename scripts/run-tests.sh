#!/usr/bin/env bash
# Runs the whole test suite (unit tests per layer, end-to-end in tmux) and the catalog check.
# The USB device tests run separately under umockdev's preload library, one at a time: umockdev's
# testbed is process-wide state (shared/docs/test-harness.md §4-5).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== code shape: swift-format (.swift-format) and declared imports =="
swift-format lint --strict --recursive --parallel Sources Tests Package.swift
python3 scripts/check-imports.py
python3 scripts/check-catalog.py
echo "== monitoring: alert rules (promtool) and the Grafana dashboard =="
python3 scripts/check-monitoring.py
promtool check rules packaging/monitoring/kiosk-alerts.yml
(cd packaging/monitoring && promtool test rules kiosk-alerts.test.yml)
export LANG=C.UTF-8 LC_ALL=C.UTF-8
PRELOAD=libumockdev-preload.so.0
if ! /sbin/ldconfig -p 2>/dev/null | grep "$PRELOAD" >/dev/null; then
  echo "run-tests: $PRELOAD not found; install umockdev (scripts/deps.sh test does)" >&2
  exit 1
fi
echo "== USB and serial transports against emulated devices (umockdev) =="
LD_PRELOAD=$PRELOAD swift test --skip-build --no-parallel --filter KioskUSBTests 2>&1 | tee .build/test-output-usb.txt
echo "== unit and in-process tests (parallel) =="
swift test --skip-build --skip KioskUSBTests --skip EndToEndTests --skip PackagingTests --skip IntakeClusterTests \
  --skip TerminalHangupTests --skip DisplayTests 2>&1 | tee .build/test-output.txt
# The end-to-end and packaging tests (and the terminal hangup test, which waits on a pseudo-terminal)
# drive real processes and block their thread while they wait;
# run one at a time so they never starve the async tests of Swift's cooperative threads (2 cores).
echo "== end-to-end and packaging tests (one at a time) =="
swift test --skip-build --no-parallel --filter EndToEndTests --filter PackagingTests --filter TerminalHangupTests 2>&1 | tee .build/test-output-e2e.txt
# The resident screen through the shipped display stack, checked by pictures: the real kioskd,
# cage on wlroots' headless backend, foot and kiosk-screen (as a throwaway unprivileged user),
# screenshots with grim, OCR with tesseract chi_sim, a tap through foot's mouse-report path.
echo "== the display: cage + foot + kiosk-screen, screenshots and OCR (one at a time) =="
swift test --skip-build --no-parallel --filter DisplayTests 2>&1 | tee .build/test-output-display.txt
# The intake on PostgreSQL: the store contract on both engines, then two intake nodes behind nginx
# with one killed and restarted. Starts its own PostgreSQL (as an unprivileged user) and nginx.
echo "== intake on PostgreSQL: store contract and two nodes behind nginx (one at a time) =="
swift test --skip-build --no-parallel --filter IntakeClusterTests 2>&1 | tee .build/test-output-cluster.txt
# The .deb installed and booted under a real systemd in a container (as root; about 1.5 min, plus
# up to a few minutes the first time while the Debian root is built and cached under .build/container/).
echo "== the package under systemd in a container (scripts/container-test.sh) =="
timeout 1500 scripts/container-test.sh 2>&1 | tee .build/test-output-container.txt
