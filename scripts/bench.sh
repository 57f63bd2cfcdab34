#!/usr/bin/env bash
# make bench: measures the kiosk and its peers side by side, every step KIOSK_BENCH_RUNS (5) times,
# writes bench/results/latest.md. Reports only: never fails because something is slow.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BENCH_T0=$(date +%s)
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
# kioskd as the .deb ships it (scripts/build-deb.sh): Swift runtime and Foundation linked in
# statically, in its own build folder so the dynamic builds beside it are not relinked.
. scripts/static-build.sh
static_build "$CONFIG" --scratch-path .build-static --product kioskd
swift build -c "$CONFIG" --product kioskctl
BIN="$ROOT/.build/$CONFIG"

W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
. scripts/bench-config.sh
bench_config "$W" "$ROOT" "$BIN/kioskctl"

# Every step runs RUNS times, interleaved (so a burst of load on this shared machine touches one
# run of each, not every run of one); the report gives each row's median with min-max and the
# machine's load average before each step.
RUNS="${KIOSK_BENCH_RUNS:-5}"
export KIOSK_BENCH_IDLE_SECONDS="${KIOSK_BENCH_IDLE_SECONDS:-12}"
TUS_PY="$ROOT/.build-venv/bin/python"; [ -x "$TUS_PY" ] || "$ROOT/scripts/python-peers.sh" >&2 || true
load() { echo "$1 $(date +%s) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$W/load.txt"; }
T0=$(date +%s)
for i in $(seq 1 "$RUNS"); do
  echo "bench: run $i of $RUNS: in-process measurements" >&2
  load kiosk; "$BIN/kiosk-bench" "$W/bench" kiosk-config/catalog.json kiosk-config/guides > "$W/kiosk.$i.json"
  echo "bench: run $i: camera re-encoding against ImageMagick and vipsthumbnail" >&2
  load camera; "$BIN/kiosk-bench" camera "$W/camera" > "$W/camera-kiosk.json"
  python3 bench/camera.py "$W/camera-kiosk.json" "$W/camera" > "$W/camera.$i.json"
  for model in fixed random; do
    echo "bench: run $i: upload backlog through a proxy cutting connections ($model)" >&2
    load "upload-$model"
    "$BIN/kiosk-bench" upload "$W/upload" "$TUS_PY" "$ROOT/bench/tuspy_drain.py" "$model" > "$W/upload-$model.$i.json" \
      || echo '{"upload_error": "kiosk-bench upload failed"}' > "$W/upload-$model.$i.json"
  done
  echo "bench: run $i: peers" >&2
  load peers; "$PEER_PY" bench/peers.py "$W" > "$W/peers.$i.json"
  echo "bench: run $i: start-up, RSS, ${KIOSK_BENCH_IDLE_SECONDS} s idle, Chromium" >&2
  load startup; python3 bench/startup.py "$ROOT/.build-static/$CONFIG/kioskd" "$W/kiosk.yaml" > "$W/startup.$i.json"
done
load end
echo "$(( $(date +%s) - T0 )) $(( $(date +%s) - BENCH_T0 ))" > "$W/seconds.txt"

mkdir -p bench/results
python3 bench/report.py "$W" "$RUNS" "$CONFIG" > bench/results/latest.md
cat bench/results/latest.md
