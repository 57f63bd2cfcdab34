# Sourced by bench.sh and kioskd-order.sh: `bench_config DIR ROOT KIOSKCTL` writes DIR/key and
# DIR/kiosk.yaml, the configuration both measure kioskd with (simulated devices, an upstream that
# refuses connections, state under DIR), so the code the linker script orders is the code the
# bench's idle rows run.
bench_config() {
  local dir="$1" root="$2" kioskctl="$3"
  "$kioskctl" keygen "$dir/key" >/dev/null
  cat > "$dir/kiosk.yaml" <<YAML
station: { id: BENCH-001, name: 襄垣县古韩镇综合便民服务中心（演示）, casePrefix: BN }
stateDirectory: $dir/state
catalog: $root/kiosk-config/catalog.json
guides: $root/kiosk-config/guides
encryption: { keyFile: $dir/key }
upstream: { url: "http://127.0.0.1:9", token: bench, maxBackoffSeconds: 300 }
devices:
  idCardReader:   { mode: simulated }
  documentCamera: { mode: simulated, fixtures: $root/kiosk-config/fixtures/camera }
  receiptPrinter: { mode: simulated }
simulation: { outputDirectory: $dir/printer }
YAML
}
