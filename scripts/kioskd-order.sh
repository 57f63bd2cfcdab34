#!/usr/bin/env bash
# Writes packaging/kioskd.order: the functions release kioskd runs from start to its home screen and
# then idle (simulated devices, the bench's config), for lld's --symbol-ordering-file (Package.swift).
# The kernel maps a program's file pages 64 KiB around each page touched, so start-up code spread
# over the whole text was resident in full; listed first, it shares a few megabytes.
# A stale list costs only resident memory, never behaviour: rerun after large changes.
#   scripts/kioskd-order.sh [IDLE_SECONDS]      (needs valgrind and tmux)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
IDLE="${1:-45}"
export PATH=/opt/swift/usr/bin:$PATH LANG=C.UTF-8 LC_ALL=C.UTF-8
for tool in valgrind callgrind_control tmux objcopy nm; do
  command -v "$tool" >/dev/null || { echo "kioskd-order: $tool is missing" >&2; exit 1; }
done
swift build -c release --static-swift-stdlib --scratch-path .build-static --product kioskd
swift build -c release --product kioskctl

W="$(mktemp -d)"
SOCK="kioskd-order-$$"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$W"' EXIT
# valgrind cannot read the toolchain's DWARF; the symbol table is all it needs.
objcopy --strip-debug .build-static/release/kioskd "$W/kioskd"
.build/release/kioskctl keygen "$W/key" >/dev/null
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
tmux -L "$SOCK" new-session -d -s k -x 80 -y 24 \
  "exec valgrind --tool=callgrind --demangle=no --callgrind-out-file=$W/cg.out $W/kioskd --config $W/kiosk.yaml 2>$W/valgrind.log"
for _ in $(seq 1 600); do
  tmux -L "$SOCK" capture-pane -p -t k 2>/dev/null | grep -q "首页" && break
  sleep 0.5
done
tmux -L "$SOCK" capture-pane -p -t k | grep -q "首页" || { echo "kioskd-order: no home screen" >&2; exit 1; }
sleep "$IDLE"
callgrind_control -d "$W/kioskd" >/dev/null
sleep 2
python3 - "$W" > packaging/kioskd.order <<'PY'
import glob, re, subprocess, sys
w = sys.argv[1]
names, seen = {}, set()
for f in glob.glob(f"{w}/cg.out*"):
    for line in open(f, errors="replace"):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2).strip()
            seen.add(m.group(1))
nm = subprocess.run(["nm", "--defined-only", f"{w}/kioskd"], capture_output=True, text=True).stdout
defined = {p[2] for p in (l.split() for l in nm.splitlines()) if len(p) == 3 and p[1] in "tTwW"}
print("\n".join(sorted({names[i] for i in seen if i in names} & defined)))
PY
echo "kioskd-order: $(wc -l < packaging/kioskd.order) functions in packaging/kioskd.order" >&2
