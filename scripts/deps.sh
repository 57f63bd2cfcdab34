#!/usr/bin/env bash
# Installs the system packages the kiosk needs on Debian 12. Idempotent: installs only what is missing.
#   scripts/deps.sh demo   -> what `make demo` needs
#   scripts/deps.sh test   -> what `make test` needs (a superset)
#   scripts/deps.sh deb    -> what `make deb` needs (dpkg-deb, strip)
set -euo pipefail
what="${1:-test}"

need=(pkg-config libsqlite3-dev libusb-1.0-0-dev libcups2-dev libturbojpeg0-dev tmux make gcc python3 coreutils)
need+=(espeak-ng)   # voice prompts (voice.enabled); the tests write them as WAV files
need+=(fonts-droid-fallback fonts-dejavu-core)   # the A4 ledger embeds subsets of DroidSansFallbackFull (CJK) and DejaVu Sans
if [ "$what" = "test" ] || [ "$what" = "bench" ]; then
  need+=(umockdev libumockdev-dev cups-daemon cups-client cups-ipp-utils dbus-daemon curl python3-pyte)
  need+=(zbar-tools)    # zbarimg decodes the guide screen's half-block QR code (KioskFlowTests)
  need+=(ghostscript)   # A4 in uri: mode renders PWG raster for printers without PDF (the ippeveprinter test)
  need+=(poppler-utils)   # pdffonts/pdftotext: the A4 ledger's fonts are embedded and its text extracts
  need+=(python3-venv openssl)   # tus peers (tuspy, tuspyserver) go into a venv; openssl makes the TLS test's certificates
  # Packaging tests: systemd-analyze, systemd-sysusers, systemd-tmpfiles (no running systemd
  # needed), dpkg-deb, strip.
  need+=(systemd dpkg binutils)
  # The intake on PostgreSQL behind nginx (IntakeClusterTests start their own throwaway servers on
  # loopback) and promtool for the alert rules.
  need+=(postgresql nginx-light prometheus util-linux)
  # The container suite (scripts/container-test.sh): a Debian root built with mmdebstrap, booted
  # with systemd-nspawn (systemd-container), its console driven through tmux; nsenter (util-linux).
  need+=(mmdebstrap systemd-container util-linux)
  # The display stack the package recommends (cage, foot, a CJK font; cage wants xwayland) and the
  # picture test's tools: grim screenshots the headless output, tesseract reads them (chi_sim).
  need+=(cage foot fonts-wqy-microhei xwayland grim tesseract-ocr tesseract-ocr-chi-sim passwd)
fi
if [ "$what" = "deb" ]; then
  need+=(dpkg binutils)
fi
if [ "$what" = "bench" ]; then
  need+=(imagemagick libvips-tools)    # the camera baselines: the same resize and re-encode (convert, vipsthumbnail)
  need+=(chromium)    # start-up baseline: --kiosk to first paint, headless to a screenshot
fi

missing=()
for p in "${need[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Installing postgresql, nginx or prometheus must not start the system's own servers: the tests
  # start throwaway ones. A policy-rc.d that refuses service starts, for this install only.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
  rc=0
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  if [ -n "$policy" ]; then $SUDO rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || exit "$rc"
else
  echo "deps: all system packages present"
fi

if [ "$what" = "test" ] || [ "$what" = "bench" ]; then
  "$(dirname "$0")/python-peers.sh"
fi

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "deps: swift is in /opt/swift/usr/bin; add it to PATH" >&2
  else
    echo "deps: Swift 6.3 is required (https://www.swift.org/install/linux/) and was not found on PATH" >&2
    exit 1
  fi
fi
