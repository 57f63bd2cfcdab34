#!/usr/bin/env bash
# Builds the kiosk-terminal .deb: binaries, systemd units, sysusers/tmpfiles entries, udev rules and
# the CUPS usb-quirks file (both generated here from DeviceProfiles/), default config, catalog,
# guides and profiles, maintainer scripts.
#   scripts/build-deb.sh                      release build (static Swift stdlib), package in dist/
#   scripts/build-deb.sh --bin-dir .build/debug --out DIR    package already-built binaries (tests)
# KIOSK_DEB_COMPRESSION=none (the tests) or gzip packs faster than the default xz.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)
bin_dir=""
out_dir="dist"
version="${KIOSK_DEB_VERSION:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --out) out_dir="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "build-deb: unknown argument $1 (use --bin-dir DIR, --out DIR, --version V)" >&2; exit 2 ;;
  esac
done
for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg)" >&2; exit 1; }
done

if [ -z "$bin_dir" ]; then
  export PATH=/opt/swift/usr/bin:$PATH
  . scripts/static-build.sh
  for product in kioskd kioskctl kiosk-intake kiosk-screen; do static_build release --product "$product"; done
  bin_dir=$(swift build -c release --show-bin-path)
fi
for b in kioskd kioskctl kiosk-intake kiosk-screen; do
  [ -x "$bin_dir/$b" ] || { echo "build-deb: $bin_dir/$b is missing; build first (swift build)" >&2; exit 1; }
done
if [ -z "$version" ]; then
  count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
  version="0.1.$count"
fi
arch=$(dpkg --print-architecture)
pkg=kiosk-terminal

stage=$(mktemp -d "${TMPDIR:-/tmp}/kiosk-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
r="$stage/root"
install -d "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/lib/udev/rules.d" \
  "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d" "$r/usr/share/cups/usb" "$r/etc/kioskd" \
  "$r/usr/share/kioskd" "$r/usr/share/doc/$pkg"

for b in kioskd kioskctl kiosk-intake kiosk-screen; do
  install -m 0755 "$bin_dir/$b" "$r/usr/bin/$b"
  strip --strip-unneeded "$r/usr/bin/$b" 2>/dev/null || true
done
install -m 0644 systemd/kioskd.service systemd/kiosk-intake.service systemd/kiosk-display.service "$r/lib/systemd/system/"
install -m 0644 systemd/kioskd.sysusers "$r/usr/lib/sysusers.d/kioskd.conf"
install -m 0644 systemd/kioskd.tmpfiles "$r/usr/lib/tmpfiles.d/kioskd.conf"
install -D -m 0644 systemd/kioskd.modules-load "$r/usr/lib/modules-load.d/kioskd.conf"

# Profiles, then the files generated from them (by the kioskctl being packaged: same YAML parser as kioskd).
cp -r DeviceProfiles "$r/usr/share/kioskd/DeviceProfiles"
"$bin_dir/kioskctl" packaging udev-rules --profiles "$r/usr/share/kioskd/DeviceProfiles" --output "$r/lib/udev/rules.d/60-kioskd.rules"
"$bin_dir/kioskctl" packaging udev-rules --late --profiles "$r/usr/share/kioskd/DeviceProfiles" --output "$r/lib/udev/rules.d/99-kioskd-late.rules"
"$bin_dir/kioskctl" packaging usb-quirks --profiles "$r/usr/share/kioskd/DeviceProfiles" --output "$r/usr/share/cups/usb/kiosk.usb-quirks"

# Catalog, guides, camera fixtures (the simulated camera), and the default config pointing at them.
cp kiosk-config/catalog.json "$r/usr/share/kioskd/"
cp -r kiosk-config/guides "$r/usr/share/kioskd/guides"
cp -r kiosk-config/fixtures "$r/usr/share/kioskd/fixtures"
sed -e 's|^catalog: catalog.json|catalog: /usr/share/kioskd/catalog.json|' \
    -e 's|^guides: guides|guides: /usr/share/kioskd/guides|' \
    -e 's|^deviceProfiles: ../DeviceProfiles|deviceProfiles: /usr/share/kioskd/DeviceProfiles|' \
    -e 's|fixtures: fixtures/camera|fixtures: /usr/share/kioskd/fixtures/camera|' \
    -e 's|^# `make demo` writes.*|# Installed by the kiosk-terminal package (a conffile: your changes survive upgrades).|' \
    kiosk-config/kiosk.yaml > "$r/etc/kioskd/kiosk.yaml"
for rel in catalog.json guides DeviceProfiles fixtures/camera; do
  grep -q "/usr/share/kioskd/$rel" "$r/etc/kioskd/kiosk.yaml" || { echo "build-deb: kiosk.yaml no longer has the $rel line this script rewrites" >&2; exit 1; }
done
chmod 0644 "$r/etc/kioskd/kiosk.yaml"
# The working calendar (holidays, 调休) is edited on site every year: a conffile beside kiosk.yaml.
install -m 0644 kiosk-config/working-calendar.json "$r/etc/kioskd/working-calendar.json"
grep -q "^workingCalendar: working-calendar.json" "$r/etc/kioskd/kiosk.yaml" || { echo "build-deb: kiosk.yaml no longer names working-calendar.json" >&2; exit 1; }
install -m 0644 README.md "$r/usr/share/doc/$pkg/README.md"
# Fleet monitoring: Prometheus alert rules (with their promtool tests) and the Grafana dashboard.
install -d "$r/usr/share/kioskd/monitoring"
install -m 0644 packaging/monitoring/kiosk-alerts.yml packaging/monitoring/kiosk-alerts.test.yml \
  packaging/monitoring/kiosk-fleet-dashboard.json "$r/usr/share/kioskd/monitoring/"

# Shared libraries the binaries need, as Debian packages (Swift runtime libraries of a
# non-static build under /opt/swift are not packaged: such a .deb is for tests only).
libs=$(for b in kioskd kioskctl kiosk-intake kiosk-screen; do { ldd "$r/usr/bin/$b" 2>/dev/null || true; } | awk '$3 ~ /^\// {print $3}'; done | sort -u)
depends=""
for lib in $libs; do
  case "$lib" in /opt/swift/*) continue ;; esac
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
  owner=${owner%%:*}
  [ -n "$owner" ] && depends="$depends $owner"
done
# libcups2: opened with dlopen (CCups) when an A4 printer in CUPS mode is used, so ldd does not list it.
depends="$depends libcups2"
depends=$(echo "$depends" | tr ' ' '\n' | sed '/^$/d' | sort -u | paste -sd, | sed 's/,/, /g')
# The oldest glibc the binaries run on: their newest GLIBC_x.y symbol version, or 2.36 where they
# use packed relative relocations (GLIBC_ABI_DT_RELR, new in 2.36), so an older system refuses the
# package instead of failing at start.
glibc=$(for b in kioskd kioskctl kiosk-intake kiosk-screen; do
  objdump -T -p "$r/usr/bin/$b" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*\|GLIBC_ABI_DT_RELR' || true
done | sed -e 's/GLIBC_ABI_DT_RELR/2.36/' -e 's/GLIBC_//' | sort -uV | tail -1)
if [ -n "$glibc" ]; then
  depends=$(echo "$depends" | sed "s/\(^\|, \)libc6\(,\|$\)/\1libc6 (>= $glibc)\2/")
fi

for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$r/DEBIAN/$s"; done
printf '%s\n' /etc/kioskd/kiosk.yaml /etc/kioskd/working-calendar.json > "$r/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
# procps: /bin/kill, which kioskd.service's ExecReload= (systemctl reload) runs; tzdata: the station
# clock and case numbers use Asia/Shanghai (without zoneinfo Foundation has no such time zone).
cat > "$r/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: Kiosk terminal team <kiosk@localhost>
Installed-Size: $size
Depends: ${depends:+$depends, }adduser, udev, procps, tzdata
Recommends: systemd, cups-daemon, ghostscript, cage, foot, fonts-wqy-microhei, xwayland, fonts-droid-fallback, fonts-dejavu-core
Section: misc
Priority: optional
Description: government self-service terminal daemon (kioskd) and tools
 kioskd drives the ID-card reader, document camera and receipt printer, runs
 the resident flow (drawn on the monitor by kiosk-display.service: cage,
 foot and a CJK font) and keeps submissions in an encrypted outbox that
 uploads to the upstream platform. Includes kioskctl, the reference intake
 kiosk-intake, hardened systemd units (not enabled), udev rules and a CUPS
 usb-quirks entry generated from the device profiles.
CONTROL

mkdir -p "$out_dir"
deb="$out_dir/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${KIOSK_DEB_COMPRESSION:-xz}" --build "$r" "$deb" >/dev/null
echo "$deb"
