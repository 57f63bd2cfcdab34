#!/usr/bin/env bash
# make bench: measures the kiosk and its peers side by side in one run, writes
# bench/results/latest.md. Reports only: never fails because something is slow.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CONFIG="${BENCH_CONFIG:-release}"
export LANG=C.UTF-8 LC_ALL=C.UTF-8

# Peers from PyPI and Debian (Chromium is what most kiosks run today).
VENV="$ROOT/.build-bench/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || true
PEER_PY="$VENV/bin/python"; [ -x "$PEER_PY" ] || PEER_PY=python3
"$PEER_PY" -m pip install -q --disable-pip-version-check persist-queue litequeue python-escpos >/dev/null 2>&1 \
  || echo "bench: could not install the Python peers; their rows will say so" >&2
if ! command -v chromium >/dev/null 2>&1 && [ "${KIOSK_BENCH_CHROMIUM:-1}" = 1 ]; then
  (apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || true)
fi

swift build -c "$CONFIG" --product kiosk-bench
swift build -c "$CONFIG" --product kioskd
swift build -c "$CONFIG" --product kioskctl
BIN="$ROOT/.build/$CONFIG"

W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
"$BIN/kioskctl" keygen "$W/key" >/dev/null
cat > "$W/kiosk.yaml" <<YAML
station: { id: BENCH-001, name: 襄垣县古韩镇综合便民服务中心（演示）, casePrefix: BN }
stateDirectory: $W/state
catalog: $ROOT/kiosk-config/catalog.json
guides: $ROOT/kiosk-config/guides
encryption: { keyFile: $W/key }
upstream: { url: "http://127.0.0.1:9", token: bench, maxBackoffSeconds: 300 }
devices:
  idCardReader:   { mode: simulated }
  documentCamera: { mode: simulated, fixtures: $ROOT/kiosk-config/fixtures/camera }
  receiptPrinter: { mode: simulated }
simulation: { outputDirectory: $W/printer }
YAML

echo "bench: in-process measurements" >&2
"$BIN/kiosk-bench" "$W/bench" kiosk-config/catalog.json kiosk-config/guides > "$W/kiosk.json"
echo "bench: camera re-encoding against ImageMagick" >&2
"$BIN/kiosk-bench" camera "$W/camera" > "$W/camera-kiosk.json"
python3 bench/camera.py "$W/camera-kiosk.json" "$W/camera" > "$W/camera.json"
echo "bench: upload backlog through a proxy cutting every connection after ~1 MB" >&2
TUS_PY="$ROOT/.build-venv/bin/python"; [ -x "$TUS_PY" ] || "$ROOT/scripts/python-peers.sh" >&2 || true
"$BIN/kiosk-bench" upload "$W/upload" "$TUS_PY" "$ROOT/bench/tuspy_drain.py" > "$W/upload.json" \
  || echo '{"upload_error": "kiosk-bench upload failed"}' > "$W/upload.json"
echo "bench: peers" >&2
"$PEER_PY" bench/peers.py "$W" > "$W/peers.json"
echo "bench: start-up, RSS, ${KIOSK_BENCH_IDLE_SECONDS:-60} s idle" >&2
python3 bench/startup.py "$BIN/kioskd" "$W/kiosk.yaml" > "$W/startup.json"

mkdir -p bench/results
python3 bench/report.py "$W/kiosk.json" "$W/peers.json" "$W/startup.json" "$CONFIG" "$W/upload.json" "$W/camera.json" > bench/results/latest.md
cat bench/results/latest.md
