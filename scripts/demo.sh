#!/usr/bin/env bash
# Runs the kiosk on this terminal with simulated devices, a SQLite outbox in .demo/state and
# the reference intake on loopback, so submissions really upload. Ctrl-C ends the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="${BIN:-$ROOT/.build/debug}"
DEMO="$ROOT/.demo"
PORT="${KIOSK_DEMO_PORT:-8780}"
mkdir -p "$DEMO/state" "$DEMO/keys" "$DEMO/intake"
chmod 700 "$DEMO/keys"

[ -f "$DEMO/keys/outbox.key" ] || "$BIN/kioskctl" keygen "$DEMO/keys/outbox.key" >/dev/null
[ -f "$DEMO/keys/upstream-token" ] || (head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/keys/upstream-token")
TOKEN="$(cat "$DEMO/keys/upstream-token")"

cat > "$DEMO/kiosk.yaml" <<YAML
station:
  id: XY-DEMO-001
  name: 襄垣县古韩镇综合便民服务中心（演示）
  casePrefix: GH
stateDirectory: $DEMO/state
catalog: $ROOT/kiosk-config/catalog.json
guides: $ROOT/kiosk-config/guides
deviceProfiles: $ROOT/DeviceProfiles
encryption:
  keyFile: $DEMO/keys/outbox.key
upstream:
  url: http://127.0.0.1:$PORT
  tokenFile: $DEMO/keys/upstream-token
  initialBackoffSeconds: 2
  maxBackoffSeconds: 30
  statusSyncSeconds: 15
session:
  idleTimeoutSeconds: ${KIOSK_IDLE_TIMEOUT:-90}
  warningSeconds: 20
accessibility:
  language: ${KIOSK_LANGUAGE:-zh}
  largeMode: ${KIOSK_LARGE_MODE:-false}
voice:
  enabled: ${KIOSK_VOICE:-false}      # KIOSK_VOICE=true make demo: prompts spoken by espeak-ng
help:
  location: 便民服务中心一楼综合窗口（演示）
  phone: 0355-0000000
devices:
  idCardReader:   { mode: simulated }
  documentCamera: { mode: simulated, fixtures: $ROOT/kiosk-config/fixtures/camera }
  receiptPrinter: { mode: simulated, profile: simulated-escpos-80mm }
  a4Printer:      { mode: simulated }   # certificates and ledgers land in .demo/printer/a4
simulation:
  outputDirectory: $DEMO/printer
  removeCardAfterSeconds: 2
admin:
  socket: $DEMO/run/admin.sock       # kioskctl status / selftest / logs / bundle
screen:
  socket: $DEMO/run/screen.sock      # kioskctl screen --watch (a read-only mirror), kiosk-screen attach
metrics:
  port: ${KIOSK_METRICS_PORT:-9464}  # curl http://127.0.0.1:9464/metrics
YAML

# Demo staff member: the simulated card E (工作人员 测试五), PIN 2468. Real staff are added with
# `kioskctl staff add` (ID number and PIN on stdin; only a keyed digest and a slow hash are kept).
"$BIN/kioskctl" staff list --config "$DEMO/kiosk.yaml" 2>/dev/null | grep -q '^D001 ' ||
  printf '110105198505050038\n2468\n' | "$BIN/kioskctl" staff add --config "$DEMO/kiosk.yaml" \
    --staff-id D001 --name 测试五 --role window >/dev/null

# The demo intake issues a sample certificate 60 s after each submission arrives (自助取件, key 4).
"$BIN/kiosk-intake" serve --port "$PORT" --data "$DEMO/intake" --token "$TOKEN=XY-DEMO-001" \
  --admin-token "$TOKEN" --demo-certify-after "${KIOSK_DEMO_CERTIFY_AFTER:-60}" >"$DEMO/intake.log" 2>&1 &
INTAKE=$!
trap 'kill $INTAKE 2>/dev/null || true; wait $INTAKE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$DEMO/intake.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$DEMO/intake.log" || { echo "kiosk-intake did not start, see $DEMO/intake.log" >&2; exit 1; }

"$BIN/kioskd" --config "$DEMO/kiosk.yaml" || status=$?
echo
echo "Demo ended. Receipts printed by the simulated printer: $DEMO/printer/receipts"
echo "Outbox:"; "$BIN/kioskctl" outbox --config "$DEMO/kiosk.yaml" || true
echo "Intake stored: $("$BIN/kiosk-intake" count --data "$DEMO/intake" 2>/dev/null || echo '?') submission(s)"
exit "${status:-0}"
