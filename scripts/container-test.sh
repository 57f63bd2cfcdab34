#!/usr/bin/env bash
# The .deb installed and run under a real systemd (issue 19): a Debian root built with mmdebstrap
# from this machine's own apt sources (cached under .build/container/, rebuilt when the package
# list or the sources change), the package installed with apt inside it, the root booted with
# `systemd-nspawn --boot` (its console in a private tmux session, so the real kiosk screen can be
# driven), and kioskd.service checked in it: sysusers/tmpfiles/postinst, Type=notify READY and
# STATUS, a whole submission through the real screen to the reference intake in the same
# container, credentials, the admin socket's group check, kill -9, a bad config, the watchdog,
# reload during a session, a terminal hangup, the journal, and systemd-analyze security.
#
#   scripts/container-test.sh            (as root; after `swift build`: packages .build/debug)
# Environment: KIOSK_CT_BIN_DIR (binaries, default .build/debug), KIOSK_CT_KEEP=1 (keep the
# container's files for a look afterwards). Ends with "container: N passed, M failed"; exits 1 on
# any failure. The Swift runtime of a debug build is bound read-only from /opt/swift.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
started=$(date +%s)
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; if [ -n "${2:-}" ]; then printf '%s\n' "$2" | tail -n 40 | sed 's/^/    /'; fi; }
die() { fail "$1" "${2:-}"; finish; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() { local d=$1; shift; local out; if out=$("$@" 2>&1); then pass "$d"; else fail "$d" "$out"; fi; }

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  exec sudo -n env KIOSK_CT_BIN_DIR="${KIOSK_CT_BIN_DIR:-}" KIOSK_CT_KEEP="${KIOSK_CT_KEEP:-0}" "$repo/scripts/container-test.sh" "$@"
fi
bin_dir=${KIOSK_CT_BIN_DIR:-.build/debug}
swift_root=/opt/swift
[ "$(id -u)" -eq 0 ] || { echo "container-test: needs root (systemd-nspawn, mmdebstrap, mount)"; echo "container: 0 passed, 1 failed"; exit 1; }
for tool in mmdebstrap systemd-nspawn nsenter tmux dpkg-deb python3 mount; do
  command -v "$tool" >/dev/null || { echo "container-test: $tool is missing (scripts/deps.sh test installs it)"; echo "container: 0 passed, 1 failed"; exit 1; }
done
for b in kioskd kioskctl kiosk-intake; do
  [ -x "$bin_dir/$b" ] || { echo "container-test: $bin_dir/$b is missing; run swift build first"; echo "container: 0 passed, 1 failed"; exit 1; }
done

cache_root=$repo/.build/container
mkdir -p "$cache_root"
# What an earlier run killed before its clean-up left behind (its process is gone).
for old in "$cache_root"/run.*; do
  [ -d "$old" ] || continue
  owner=$(cat "$old/pid" 2>/dev/null)
  if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then continue; fi
  mountpoint -q "$old/merged" 2>/dev/null && umount -l "$old/merged"
  rm -rf "$old"
done
run=$(mktemp -d "$cache_root/run.XXXXXX")
echo $$ > "$run/pid"
tmux_socket="kiosk-ct-$$"
nspawn_pid=""
leader=""

cleanup() {
  if [ -n "$leader" ] && [ -d "/proc/$leader" ]; then
    cx systemctl poweroff >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do [ -n "$nspawn_pid" ] && [ -d "/proc/$nspawn_pid" ] || break; sleep 0.1; done
  fi
  if [ -n "$nspawn_pid" ] && [ -d "/proc/$nspawn_pid" ]; then kill "$nspawn_pid" 2>/dev/null; sleep 1; kill -9 "$nspawn_pid" 2>/dev/null; fi
  tmux -L "$tmux_socket" kill-server 2>/dev/null || true
  if mountpoint -q "$run/merged" 2>/dev/null; then umount "$run/merged" 2>/dev/null || umount -l "$run/merged"; fi
  if [ "${KIOSK_CT_KEEP:-0}" = 1 ]; then echo "container-test: kept $run"; else rm -rf "$run"; fi
}
finish() {
  cleanup
  trap - EXIT
  echo "container suite: $(( $(date +%s) - started )) s"
  echo "container: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT
trap 'echo "container-test: interrupted"; failed=$((failed + 1)); finish' INT TERM

# A command inside the booted container (all its namespaces, a clean environment).
cx() { timeout 120 nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"; }
prop() { cx systemctl show -P "$1" "${2:-kioskd.service}"; }
# wait_until SECONDS COMMAND...: polls every 0.2 s.
wait_until() { local limit=$1; shift; local end=$(( $(date +%s) + limit )); while [ "$(date +%s)" -lt "$end" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; "$@" >/dev/null 2>&1; }

# --- The screen (the container's console, in tmux) ---------------------------------------------
screen() { tmux -L "$tmux_socket" capture-pane -p -t ct 2>/dev/null; }
on_screen() { screen | grep -qF -- "$1"; }
wait_screen() { wait_until "${2:-20}" on_screen "$1" || { echo "screen never showed '$1':"; screen | sed 's/^/    | /'; return 1; }; }
key() { tmux -L "$tmux_socket" send-keys -t ct "$@"; }
# From the home screen to "提交成功" (as the end-to-end harness does); prints the case number.
apply_once() {
  wait_screen "首页" >&2 || return 1
  key 1; wait_screen "请选择类别" >&2 || return 1
  key 1; wait_screen "第 1/" >&2 || return 1
  key 1; wait_screen "办事指南" >&2 || return 1
  key 2; wait_screen "请放置身份证" >&2 || return 1
  key a; wait_screen "请核对您的身份信息" >&2 || return 1
  key Enter; wait_screen "拍摄申请材料" >&2 || return 1
  local n=0
  while on_screen "拍摄申请材料" && [ $n -lt 8 ]; do
    local marker; marker=$(screen | grep -F "份：" | head -1)
    key Enter; wait_screen "状态：已拍摄" >&2 || return 1
    key Enter
    local end=$(( $(date +%s) + 10 ))
    while [ "$(date +%s)" -lt "$end" ] && on_screen "拍摄申请材料" && { [ -z "$marker" ] || screen | grep -qF -- "$marker"; }; do sleep 0.1; done
    n=$((n + 1))
  done
  wait_screen "请输入手机号码" >&2 || return 1
  key 1 3 8 0 0 0 0 0 0 0 0 Enter; wait_screen "请确认申请信息" >&2 || return 1
  key Enter; wait_screen "提交成功" 30 >&2 || return 1
  screen | grep -oE 'GH[0-9]{12}' | head -1
}
# Back to the home screen (Esc, then 0, as the screens offer).
go_home() {
  local i
  for i in 1 2 3 4 5 6; do
    on_screen "请按数字键选择" && on_screen "首页" && ! on_screen "请选择类别" && return 0
    if [ $((i % 2)) -eq 1 ]; then key Escape; else key 0; fi
    sleep 0.6
  done
  wait_screen "首页" 5
}

# --- 1. The package ----------------------------------------------------------------------------
echo "== package: $bin_dir"
mkdir -p "$run/deb"
if ! deb=$(KIOSK_DEB_COMPRESSION=none scripts/build-deb.sh --bin-dir "$bin_dir" --out "$run/deb" --version 0.0.0~ct 2>&1); then
  die "the .deb builds" "$deb"
fi
deb=$(printf '%s\n' "$deb" | tail -1)
pass "the .deb builds ($(du -h "$deb" | cut -f1))"
# Its dependencies go into the cached root, so apt installs the package without a network
# (the container has none: --private-network).
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' | sed '/^$/d' | sort -u)

# --- 2. The Debian root (cached) ---------------------------------------------------------------
. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
# This machine's own apt sources for its release (deb822 and one-line files), nothing else.
python3 - "$codename" > "$run/sources.list" <<'PY' || die "the machine's apt sources are readable"
import glob, os, sys
codename = sys.argv[1]
out = []
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) \
        + sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in files:
    if not os.path.isfile(path):
        continue
    text = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".sources"):
        for para in text.split("\n\n"):
            f = {}
            for line in para.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                k, v = line.split(":", 1)
                f[k.strip().lower()] = v.strip()
            if f.get("enabled", "yes").lower() == "no" or "deb" not in f.get("types", "").split():
                continue
            for uri in f.get("uris", "").split():
                for suite in f.get("suites", "").split():
                    if suite.split("-")[0].split("/")[0] == codename:
                        out.append(f"deb {uri} {suite} {f.get('components', 'main')}")
    else:
        for line in text.splitlines():
            w = line.split("#", 1)[0].split()
            if len(w) >= 3 and w[0] == "deb":
                if w[1].startswith("["):
                    while w and not w[1].endswith("]"):
                        w.pop(1)
                    w.pop(1)
                if len(w) >= 3 and w[2].split("-")[0].split("/")[0] == codename:
                    out.append(" ".join(w))
if not out:
    sys.exit("no apt source for " + codename)
print("\n".join(out))
PY
packages=$(printf '%s\n' systemd systemd-sysv udev adduser passwd perl-base procps $depends | sort -u | paste -sd, -)
key=$( { echo "v1 $codename $(dpkg --print-architecture)"; echo "$packages"; cat "$run/sources.list"; } | sha256sum | cut -c1-16)
rootfs=$cache_root/rootfs-$key
if [ -f "$rootfs/.complete" ]; then
  pass "the cached Debian $codename root is reused (rootfs-$key)"
else
  echo "== building the Debian $codename root (mmdebstrap; cached as $rootfs)"
  rm -rf "$rootfs" "$rootfs.tmp"
  t0=$(date +%s)
  if out=$(mmdebstrap --mode=root --format=directory --variant=apt --include="$packages" \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      "$codename" "$rootfs.tmp" "$run/sources.list" 2>&1); then
    touch "$rootfs.tmp/.complete"
    mv "$rootfs.tmp" "$rootfs"
    # Roots for other package lists or sources are stale now.
    for old in "$cache_root"/rootfs-*; do [ "$old" = "$rootfs" ] || rm -rf "$old"; done
    pass "a Debian $codename root is built from this machine's apt sources ($(( $(date +%s) - t0 )) s)"
  else
    rm -rf "$rootfs.tmp"
    die "a Debian $codename root is built from this machine's apt sources" "$out"
  fi
fi

# --- 3. Boot it (a throw-away overlay on the cached root) --------------------------------------
mkdir -p "$run/upper" "$run/work" "$run/merged"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$run/merged" \
  || die "the overlay on the cached root mounts"
install -D -m 0644 "$deb" "$run/merged/var/tmp/kiosk-test/kiosk-terminal.deb"
echo "== booting (systemd-nspawn --boot)"
# The container's console is the tmux pane: the kiosk screen shows there and takes keys.
tmux -L "$tmux_socket" new-session -d -s ct -x 80 -y 24 \
  "exec systemd-nspawn --boot --register=no --keep-unit --private-network --machine=kiosk-ct-$$ \
     --bind-ro=$swift_root -D $run/merged -- --show-status=no 2>$run/nspawn.err" \
  || die "tmux starts"
nspawn_pid=$(tmux -L "$tmux_socket" display-message -p -t ct '#{pane_pid}')
boot0=$(date +%s)
# The container's PID 1: nspawn's child running systemd (helpers it forks first come and go).
for _ in $(seq 1 200); do
  leader=""
  for c in $(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && leader=$c
  done
  [ -n "$leader" ] && break; sleep 0.1
done
[ -n "$leader" ] || die "systemd-nspawn starts the container" "$(cat "$run/nspawn.err" 2>/dev/null)"
# Until systemd answers (its socket appears a moment after PID 1 starts), then until boot ends.
state=""
for _ in $(seq 1 600); do
  state=$(timeout 120 nsenter -t "$leader" -a env -i PATH=/usr/bin:/bin systemctl is-system-running --wait 2>&1)
  case "$state" in running|degraded|maintenance|stopping) break ;; esac
  sleep 0.2
done
if [ "$state" = running ]; then
  pass "the container boots to multi-user ($(( $(date +%s) - boot0 )) s)"
else
  fail "the container boots to multi-user (state: $state)" "$(cx systemctl --failed --no-pager 2>&1)"
fi

# --- 4. Install with apt; sysusers, tmpfiles, postinst -----------------------------------------
if out=$(cx apt-get install -y /var/tmp/kiosk-test/kiosk-terminal.deb 2>&1); then
  pass "apt installs the package in the booted container"
else
  die "apt installs the package in the booted container" "$out"
fi
check "sysusers: user kioskd (home /var/lib/kioskd, no login shell)" \
  bash -c "[ \"\$(nsenter -t $leader -a getent passwd kioskd | cut -d: -f6,7)\" = /var/lib/kioskd:/usr/sbin/nologin ]"
check "sysusers: groups kioskdev and kioskadm, kioskd a member of both" \
  bash -c "g=\$(nsenter -t $leader -a id -nG kioskd); case \" \$g \" in *' kioskdev '*) ;; *) echo \"\$g\"; exit 1;; esac; case \" \$g \" in *' kioskadm '*) ;; *) echo \"\$g\"; exit 1;; esac"
modes=$(cx stat -c '%n %a %U %G' /etc/kioskd /var/lib/kioskd /var/lib/kioskd/logs /run/kioskd 2>&1)
expected=$'/etc/kioskd 755 root root\n/var/lib/kioskd 700 kioskd kioskadm\n/var/lib/kioskd/logs 700 kioskd kioskadm\n/run/kioskd 750 kioskd kioskadm'
if [ "$modes" = "$expected" ]; then pass "tmpfiles: directories with the promised owners and modes"; else fail "tmpfiles: directories with the promised owners and modes" "$modes"; fi
keyinfo=$(cx stat -c '%a %U %G %s' /etc/kioskd/outbox.key 2>&1)
if [[ "$keyinfo" =~ ^600\ root\ root\ [1-9][0-9]*$ ]]; then pass "postinst made the outbox key (root only, $keyinfo)"; else fail "postinst made the outbox key" "$keyinfo"; fi
check "postinst enabled and started nothing" bash -c "[ \"\$(nsenter -t $leader -a systemctl is-enabled kioskd.service)\" = disabled ] && ! nsenter -t $leader -a systemctl is-active --quiet kioskd.service"

# --- 5. The station: token, intake, the test drop-in -------------------------------------------
token="ct-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
m=$run/merged
printf '%s' "$token" > "$m/etc/kioskd/upstream-token"; chmod 0600 "$m/etc/kioskd/upstream-token"
mkdir -p "$m/etc/kiosk-intake"; printf '%s=XY-GH-001\n' "$token" > "$m/etc/kiosk-intake/tokens"; chmod 0600 "$m/etc/kiosk-intake/tokens"
# A catalog of the station's own, so the reload test can change it.
cp "$m/usr/share/kioskd/catalog.json" "$m/etc/kioskd/catalog.json"; chmod 0644 "$m/etc/kioskd/catalog.json"
sed -i 's|^catalog: .*|catalog: /etc/kioskd/catalog.json|' "$m/etc/kioskd/kiosk.yaml"
cp -p "$m/etc/kioskd/kiosk.yaml" "$run/kiosk.yaml.good"
mkdir -p "$m/etc/systemd/system/kioskd.service.d"
cat > "$m/etc/systemd/system/kioskd.service.d/50-container-test.conf" <<'EOF'
# The container test: the container's console instead of tty1, the reference intake beside it.
[Unit]
Conflicts=console-getty.service
After=console-getty.service kiosk-intake.service
Wants=kiosk-intake.service

[Service]
# The packaged unit owns no terminal (its screen goes to the screen socket, for kiosk-display);
# a site with a terminal of its own adds these, as this test does with the console.
StandardInput=tty-force
StandardOutput=tty
TTYPath=/dev/console
TTYReset=yes
TTYVHangup=yes
DeviceAllow=/dev/console rw
DeviceAllow=char-pts rw
EOF
cx systemctl daemon-reload
check "the reference intake starts (kiosk-intake.service)" cx systemctl start kiosk-intake.service
wait_until 20 cx bash -c 'exec 3<>/dev/tcp/127.0.0.1/8780' || fail "the intake listens on 127.0.0.1:8780"

# --- 6. Start: READY=1 and STATUS ---------------------------------------------------------------
cx systemctl start --no-block kioskd.service
saw_activating=no
for _ in $(seq 1 300); do
  s=$(cx systemctl show -P ActiveState,MainPID kioskd.service | paste -sd' ')
  case "$s" in activating\ [1-9]*) saw_activating=yes ;; active\ *|failed\ *) break ;; esac
  sleep 0.05
done
wait_until 60 bash -c "[ \"\$(nsenter -t $leader -a systemctl show -P ActiveState kioskd.service)\" = active ]"
if [ "$(prop ActiveState)" = active ]; then pass "kioskd.service becomes active"; else die "kioskd.service becomes active" "$(cx journalctl -b -u kioskd --no-pager -n 40)"; fi
status=$(prop StatusText)
[ "$(prop Type)" = notify ] && [[ "$status" == "ready; "* ]] && [[ "$status" == *"idCardReader=online"* ]] && [[ "$status" == *"receiptPrinter=online"* ]] && [[ "$status" == *"documentCamera="* ]] \
  && pass "Type=notify, STATUS names the devices' states ($status)" || fail "Type=notify, STATUS names the devices' states" "type=$(prop Type) status=$status"
# Active only after READY=1: systemd logged "Started" (it does when the unit becomes active)
# after kioskd's device-state lines, which kioskd writes before READY=1. Both go through the same
# journal socket, so the journal's sequence numbers give the order. (Type=simple would log
# "Started" at the fork, before kioskd says anything.)
cx journalctl -b -u kioskd.service -o json --no-pager > "$run/start.json"
order=$(python3 - "$run/start.json" 2>&1 <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
def seq(e):   # the sequence number inside the cursor (";i=<hex>;")
    return int(dict(p.split("=", 1) for p in e["__CURSOR"].split(";"))["i"], 16)
dev = next((seq(e) for e in entries if e.get("KIOSK_EVENT") == "device-state"), None)
started = next((seq(e) for e in entries if str(e.get("MESSAGE", "")).startswith("Started kioskd.service")), None)
print("ok" if dev is not None and started is not None and dev < started else f"device-state #{dev}, Started #{started}")
PY
)
if [ "$order" = ok ]; then
  pass "active only after READY=1 (systemd's Started after kioskd's device probe$([ "$saw_activating" = yes ] && echo '; activating seen with kioskd running'))"
else
  fail "active only after READY=1" "$order"
fi
wait_screen "首页" 20 && pass "the kiosk screen is on the container's console" || fail "the kiosk screen is on the container's console"

# --- 7. A whole submission through the real screen, to the intake -----------------------------
case1=$(apply_once)
if [[ "$case1" =~ ^GH[0-9]{12}$ ]]; then pass "a resident's whole submission on the real screen ($case1)"; else fail "a resident's whole submission on the real screen" "$(screen)"; fi
intake_has() { cx kiosk-intake list --data /var/lib/kiosk-intake 2>/dev/null | grep -c -- "$1"; }
if wait_until 60 bash -c "[ \"\$(nsenter -t $leader -a kiosk-intake list --data /var/lib/kiosk-intake 2>/dev/null | grep -c -- '$case1')\" = 1 ]"; then
  pass "the submission reached the intake in the same container"
else
  fail "the submission reached the intake in the same container" "$(cx kiosk-intake list --data /var/lib/kiosk-intake 2>&1; cx journalctl -b -u kioskd -n 20 --no-pager)"
fi
key Enter; sleep 0.5; go_home >/dev/null

# --- 8. Credentials -----------------------------------------------------------------------------
pid=$(prop MainPID)
creds=$(cx bash -c "tr '\0' '\n' < /proc/$pid/environ | grep '^CREDENTIALS_DIRECTORY='")
if [ "$creds" = "CREDENTIALS_DIRECTORY=/run/credentials/kioskd.service" ] \
   && cx cmp -s /etc/kioskd/outbox.key /run/credentials/kioskd.service/outbox-key \
   && cx cmp -s /etc/kioskd/upstream-token /run/credentials/kioskd.service/upstream-token; then
  pass "the key and the token arrive through LoadCredential="
else
  fail "the key and the token arrive through LoadCredential=" "$creds"
fi
secret_refs=$(cx bash -c "grep -E '^ *(keyFile|tokenFile|clientKeyFile):' /etc/kioskd/kiosk.yaml | grep -v '/run/credentials/kioskd.service/'; ls -l /proc/$pid/fd 2>/dev/null | grep -E '/etc/kioskd/(outbox.key|upstream-token)'")
if [ -z "$secret_refs" ] && ! cx runuser -u kioskd -- cat /etc/kioskd/outbox.key >/dev/null 2>&1 \
   && ! cx runuser -u kioskd -- cat /etc/kioskd/upstream-token >/dev/null 2>&1; then
  pass "kioskd reads no secret under /etc/kioskd (root-only files, config names the credentials)"
else
  fail "kioskd reads no secret under /etc/kioskd" "$secret_refs"
fi

# --- 9. kioskctl status: a kioskadm member (its first supplementary group) and another user ----
cx groupadd -g 2601 ct-staff >/dev/null 2>&1
cx useradd -M -s /bin/sh -G kioskadm,ct-staff ct-tech >/dev/null 2>&1
cx useradd -M -s /bin/sh -G ct-staff ct-other >/dev/null 2>&1
order=$(cx runuser -u ct-tech -- id -G)
out=$(cx runuser -u ct-tech -- kioskctl status 2>&1)
if [ $? -eq 0 ] && [[ "$out" == *"outbox:"* ]]; then
  pass "kioskctl status works for a kioskadm member (groups $order, kioskadm first)"
else
  fail "kioskctl status works for a kioskadm member" "$out"
fi
out=$(cx runuser -u ct-other -- kioskctl status 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"permission denied"* ]]; then pass "kioskctl status is refused to another user"; else fail "kioskctl status is refused to another user" "rc=$rc $out"; fi

# --- 9b. The screen socket: a technician's read-only mirror; the display user's group ---------
sock=$(cx stat -c '%a %U' /run/kioskd-screen /run/kioskd-screen/screen.sock 2>&1 | paste -sd' ')
if [ "$sock" = "755 kioskd 666 kioskd" ]; then pass "kioskd serves its screen on /run/kioskd-screen/screen.sock (peers checked by kioskd)"; else fail "kioskd serves its screen on /run/kioskd-screen/screen.sock" "$sock"; fi
out=$(cx runuser -u ct-tech -- kioskctl screen --once 2>&1)
if [[ "$out" == *"首页"* || "$out" == *"请选择类别"* || "$out" == *"办事指南"* ]]; then
  pass "kioskctl screen --once mirrors the resident screen for a kioskadm member"
else
  fail "kioskctl screen --once mirrors the resident screen for a kioskadm member" "$out"
fi
out=$(cx runuser -u ct-other -- kioskctl screen --once 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ "$out" == *"permission denied"* ]]; then pass "the screen mirror is refused to another user"; else fail "the screen mirror is refused to another user" "rc=$rc $out"; fi
g=$(cx id -nG kiosk-display 2>&1)
if [[ " $g " == *" kioskscreen "* ]] && cx systemctl cat kiosk-display.service >/dev/null 2>&1 \
   && [ "$(cx systemctl is-enabled kiosk-display.service 2>&1)" = disabled ]; then
  pass "kiosk-display.service is installed (not enabled), its user kiosk-display in kioskscreen"
else
  fail "kiosk-display.service is installed, its user in kioskscreen" "groups: $g; $(cx systemctl is-enabled kiosk-display.service 2>&1)"
fi

# --- 10. The journal: kioskd's own structured lines, nothing personal, no sandbox denials ------
cx journalctl -b -u kioskd.service -o json --no-pager > "$run/journal.json"
if python3 - "$case1" "$run/journal.json" <<'PY'
import json, sys
case = sys.argv[1]
entries = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
own = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "kioskd" and "KIOSK_EVENT" in e]
sealed = [e for e in own if e.get("KIOSK_CASE") == case and e.get("KIOSK_EVENT") == "submission-sealed"]
devices = [e for e in own if e.get("KIOSK_DEVICE") and e.get("KIOSK_EVENT") == "device-state"]
ok = bool(sealed) and sealed[0].get("PRIORITY") == "6" and bool(devices) and any(e.get("MESSAGE", "").startswith("kiosk ready") for e in own)
if not ok:
    print(f"{len(entries)} entries, {len(own)} of kioskd's own, sealed={len(sealed)}, devices={len(devices)}")
sys.exit(0 if ok else 1)
PY
then pass "journalctl -u kioskd shows kioskd's own lines with PRIORITY, KIOSK_CASE, KIOSK_DEVICE, KIOSK_EVENT"
else fail "journalctl -u kioskd shows kioskd's own lines with PRIORITY, KIOSK_CASE, KIOSK_DEVICE, KIOSK_EVENT"; fi
check "no log file under systemd (the journal only)" cx test ! -e /var/lib/kioskd/logs/kioskd.log
out=$(cx runuser -u ct-tech -- kioskctl logs -n 50 2>&1)
if [[ "$out" == *"submission sealed"*"$case1"* ]]; then pass "kioskctl logs still shows recent events under the journal"; else fail "kioskctl logs still shows recent events under the journal" "$out"; fi

# --- 11. Reload during a resident's session ----------------------------------------------------
pid_before=$(prop MainPID); restarts_before=$(prop NRestarts)
go_home >/dev/null
key 1; wait_screen "请选择类别" >/dev/null; key 1; wait_screen "第 1/" >/dev/null
session_screen=$(screen)
python3 - "$m/etc/kioskd/catalog.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p, encoding="utf-8"))
def rename(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "name" and v == "老年人高龄补贴发放":
                o[k] = "老年人高龄补贴发放（新目录）"
            else:
                rename(v)
    elif isinstance(o, list):
        for v in o:
            rename(v)
rename(c)
json.dump(c, open(p, "w", encoding="utf-8"), ensure_ascii=False)
PY
if out=$(cx systemctl reload kioskd.service 2>&1); then pass "systemctl reload kioskd returns"; else fail "systemctl reload kioskd returns" "$out"; fi
wait_until 10 cx bash -c "journalctl -b -u kioskd.service -o cat --no-pager | grep -q 'configuration reloaded'"
sleep 0.5
if [ "$(prop MainPID)" = "$pid_before" ] && screen | grep -qF "第 1/" && ! on_screen "（新目录）"; then
  key 1
  if wait_screen "办事指南" 10 >/dev/null; then pass "the resident's session survives the reload (same process, same screen, keys work)"; else fail "the resident's session survives the reload" "$(screen)"; fi
else
  fail "the resident's session survives the reload" "pid $pid_before -> $(prop MainPID)"$'\n'"$(screen)"
fi
go_home >/dev/null
key 1; wait_screen "请选择类别" >/dev/null; key 1
if wait_screen "老年人高龄补贴发放（新目录）" 10 >/dev/null; then pass "the re-read catalog shows from the next home screen on"; else fail "the re-read catalog shows from the next home screen on" "$(screen)"; fi
go_home >/dev/null

# --- 12. A terminal hangup is no reload and does not stop kioskd --------------------------------
pid_before=$(prop MainPID)
since=$(cx date '+%Y-%m-%d %H:%M:%S')
sleep 1
if out=$(cx perl -e 'open(my $t, "+<", "/dev/console") or die "open: $!\n"; ioctl($t, 0x5437, 0) or die "TIOCVHANGUP: $!\n"' 2>&1); then
  sleep 3
  after=$(cx journalctl -b -u kioskd.service -o cat --no-pager --since "$since")
  if [ "$(prop MainPID)" = "$pid_before" ] && [ "$(prop ActiveState)" = active ] \
     && [[ "$after" == *"terminal hung up"* ]] && [[ "$after" != *"reloading configuration"* ]]; then
    pass "a terminal hangup (TIOCVHANGUP) neither reloads nor stops kioskd"
  else
    fail "a terminal hangup (TIOCVHANGUP) neither reloads nor stops kioskd" "pid $pid_before -> $(prop MainPID) $(prop ActiveState)"$'\n'"$after"
  fi
  key 1
  if wait_screen "请选择类别" 10 >/dev/null; then pass "after the hangup the terminal is reopened and answers keys"; else fail "after the hangup the terminal is reopened and answers keys" "$(screen)"; fi
  go_home >/dev/null
else
  fail "a terminal hangup (TIOCVHANGUP) neither reloads nor stops kioskd" "$out"
fi

# --- 13. kill -9 with a queued submission: restarted, delivered exactly once -------------------
cx systemctl stop kiosk-intake.service
case2=$(apply_once)
key Enter; sleep 0.5; go_home >/dev/null
queued=$(cx kioskctl status 2>&1 | grep -oE '^outbox: [0-9]+ queued' | grep -oE '[0-9]+')
restarts_before=$(prop NRestarts); pid_before=$(prop MainPID)
cx systemctl kill -s KILL --kill-who=main kioskd.service
if wait_until 30 bash -c "p=\$(nsenter -t $leader -a systemctl show -P MainPID kioskd.service); s=\$(nsenter -t $leader -a systemctl show -P ActiveState kioskd.service); [ \"\$s\" = active ] && [ \"\$p\" != 0 ] && [ \"\$p\" != $pid_before ]" \
   && [ "$(prop NRestarts)" -gt "$restarts_before" ]; then
  pass "kill -9: systemd restarts kioskd (NRestarts $restarts_before -> $(prop NRestarts))"
else
  fail "kill -9: systemd restarts kioskd" "$(prop ActiveState) $(prop NRestarts)"
fi
cx systemctl start kiosk-intake.service
if [[ "$case2" =~ ^GH[0-9]{12}$ ]] && [ "$queued" = 1 ] \
   && wait_until 60 bash -c "[ \"\$(nsenter -t $leader -a kiosk-intake list --data /var/lib/kiosk-intake 2>/dev/null | grep -c -- '$case2')\" = 1 ]"; then
  wait_until 30 bash -c "nsenter -t $leader -a kioskctl status 2>/dev/null | grep -q '^outbox: 0 queued'"
  sleep 3
  if [ "$(intake_has "$case2")" = 1 ] && [ "$(cx kiosk-intake count --data /var/lib/kiosk-intake)" = 2 ]; then
    pass "the submission queued before kill -9 arrives exactly once ($case2)"
  else
    fail "the submission queued before kill -9 arrives exactly once" "$(cx kiosk-intake list --data /var/lib/kiosk-intake 2>&1)"
  fi
else
  fail "the submission queued before kill -9 arrives exactly once" "case=$case2 queued=$queued"$'\n'"$(cx kiosk-intake list --data /var/lib/kiosk-intake 2>&1)"
fi

# --- 14. A bad config: exit 78 and no restart loop ---------------------------------------------
printf 'station: [1, 2\n' > "$m/etc/kioskd/kiosk.yaml"
cx systemctl restart kioskd.service >/dev/null 2>&1   # an explicit restart sets NRestarts to 0
sleep 7   # more than three RestartSec=2 periods
if [ "$(prop ExecMainStatus)" = 78 ] && [ "$(prop ActiveState)" = failed ] && [ "$(prop NRestarts)" = 0 ]; then
  pass "a bad kiosk.yaml: exit 78, failed, not restarted (RestartPreventExitStatus=78)"
else
  fail "a bad kiosk.yaml: exit 78, failed, not restarted" "status=$(prop ExecMainStatus) state=$(prop ActiveState) restarts $(prop NRestarts)"
fi
cp -p "$run/kiosk.yaml.good" "$m/etc/kioskd/kiosk.yaml"
cx systemctl reset-failed kioskd.service
cx systemctl start kioskd.service || fail "kioskd starts again with the good config"

# --- 15. The watchdog: a main loop that stops petting is killed and restarted ------------------
# (Under /etc: the container's /run is its own tmpfs, not the overlay this script writes to.)
printf '[Service]\nEnvironment=KIOSKD_TEST_STOP_WATCHDOG_AFTER=3\nWatchdogSec=4s\n' > "$m/etc/systemd/system/kioskd.service.d/60-watchdog-test.conf"
cx systemctl daemon-reload
cx systemctl restart kioskd.service
restarts_before=$(prop NRestarts); pid_before=$(prop MainPID)
if wait_until 40 bash -c "nsenter -t $leader -a journalctl -b -u kioskd.service -o cat --no-pager | grep -q 'Watchdog timeout'" \
   && wait_until 20 bash -c "[ \"\$(nsenter -t $leader -a systemctl show -P NRestarts kioskd.service)\" -gt $restarts_before ] && [ \"\$(nsenter -t $leader -a systemctl show -P ActiveState kioskd.service)\" = active ]"; then
  pass "watchdog: kioskd that stops petting is killed and restarted (pid $pid_before -> $(prop MainPID))"
else
  fail "watchdog: kioskd that stops petting is killed and restarted" "$(cx journalctl -b -u kioskd.service -o cat --no-pager -n 15)"
fi
rm -f "$m/etc/systemd/system/kioskd.service.d/60-watchdog-test.conf"
cx systemctl daemon-reload
cx systemctl restart kioskd.service || fail "kioskd restarts without the watchdog switch"

# --- 16. Sandbox denials in the journal; personal data ----------------------------------------
denials=$(cx journalctl -b -u kioskd.service -o cat --no-pager | grep -iE 'seccomp|SIGSYS|status=31|EPERM|EACCES|operation not permitted|permission denied|errno=(1|13)([^0-9]|$)')
if [ -z "$denials" ]; then pass "no seccomp kill, EPERM or EACCES in kioskd's journal"; else fail "no seccomp kill, EPERM or EACCES in kioskd's journal" "$denials"; fi
personal=$(cx journalctl -b -o export --no-pager | grep -aE '110105200001010016|测试一|13800000000' | head -5)
if [ -z "$personal" ]; then pass "no ID number, name or phone anywhere in the journal"; else fail "no ID number, name or phone anywhere in the journal" "$personal"; fi

# --- 17. systemd-analyze security on the running unit ------------------------------------------
sec=$(cx systemd-analyze security kioskd.service --no-pager 2>&1 | grep -oE 'Overall exposure level for kioskd.service: [0-9.]+' | grep -oE '[0-9.]+$')
if [ -n "$sec" ] && python3 -c "import sys; sys.exit(0 if float('$sec') <= 1.5 else 1)"; then
  pass "systemd-analyze security kioskd.service in the container: $sec (at most 1.5)"
else
  fail "systemd-analyze security kioskd.service in the container: ${sec:-no result} (at most 1.5)" "$(cx systemd-analyze security kioskd.service --no-pager 2>&1 | grep -E '✗|Overall')"
fi

finish
