#!/usr/bin/env bash
# Writes packaging/kioskd-text.ld: the code release kioskd runs from start to its home screen and
# then idle (simulated devices, the bench's config), input section by input section, for the linker
# (Package.swift passes it with -T; it only orders .text, INSERT keeps lld's default layout).
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
. scripts/static-build.sh
static_build release --scratch-path .build-static --product kioskd -Xlinker -Map=.build-static/kioskd.map
swift build -c release --product kioskctl

W="$(mktemp -d)"
SOCK="kioskd-order-$$"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$W"' EXIT
# valgrind cannot read the toolchain's DWARF; the symbol table is all it needs.
objcopy --strip-debug .build-static/release/kioskd "$W/kioskd"
. scripts/bench-config.sh
bench_config "$W" "$ROOT" .build/release/kioskctl
tmux -L "$SOCK" new-session -d -s k -x 80 -y 24 \
  "exec valgrind --tool=callgrind --demangle=no --dump-instr=yes --compress-strings=no --compress-pos=no --callgrind-out-file=$W/cg.out $W/kioskd --config $W/kiosk.yaml 2>$W/valgrind.log"
for _ in $(seq 1 600); do
  tmux -L "$SOCK" capture-pane -p -t k 2>/dev/null | grep -q "首页" && break
  sleep 0.5
done
tmux -L "$SOCK" capture-pane -p -t k | grep -q "首页" || { echo "kioskd-order: no home screen" >&2; exit 1; }
sleep "$IDLE"
callgrind_control -d "$W/kioskd" >/dev/null
sleep 2
python3 - "$W" .build-static/kioskd.map packaging/kioskd-text.ld <<'PY'
import bisect, glob, os, re, subprocess, sys
# Every instruction callgrind saw run (--dump-instr, absolute positions), mapped through the link
# map to the input section it lies in. Function names would not do: callgrind names a run of code
# after one symbol only, and many executed stubs the compiler emits have no symbol at all (sections
# .text..L__unnamed_N), so neither it nor an ordering file can name them; each one left behind cost
# a 64 KiB window of resident text.
w = sys.argv[1]
nm = subprocess.run(["nm", "--defined-only", f"{w}/kioskd"], capture_output=True, text=True).stdout
main = next(int(p[0], 16) for p in (l.split() for l in nm.splitlines()) if len(p) == 3 and p[2] == "kioskd_main")
executed, main_block, fn = set(), [], None
for f in glob.glob(f"{w}/cg.out*"):
    for line in open(f, errors="replace"):
        if line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("0x"):
            a = int(line.split()[0], 16)
            executed.add(a)
            if fn == "kioskd_main":
                main_block.append(a)
# The program's load address under valgrind: kioskd_main's first instruction is its entry.
base = min(main_block) - main
rx = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+( +)(.*)$")
sections, in_text = [], False
for line in open(sys.argv[2], errors="replace"):
    m = rx.match(line.rstrip("\n"))
    if not m:
        continue
    indent, what = len(m.group(3)), m.group(4)
    if indent <= 1:
        in_text = what == ".text"
    elif in_text and indent <= 9 and int(m.group(2), 16) > 0:
        sections.append((int(m.group(1), 16), int(m.group(2), 16), what))
sections.sort()
section_starts = [a for a, _, _ in sections]
used = set()
for a in executed:
    i = bisect.bisect_right(section_starts, a - base) - 1
    if i >= 0 and a - base < sections[i][0] + sections[i][1]:
        used.add(sections[i][2])
lines = []
for what in sorted(used):
    m = re.match(r"^(.*?)(?:\((.*?)\))?:\((.*)\)$", what)
    if not m or " " in what:
        continue  # a name a linker script cannot quote simply (spaces): left where it falls
    path, member, section = m.groups()
    if section.startswith(".text.") and not section.startswith(".text..L") and not section.startswith(".text.unlikely"):
        lines.append(f"    *({section})")  # a function's own section: its name is unique
    elif member:
        lines.append(f"    *{os.path.basename(path)}:{member}({section})")
    else:
        lines.append(f"    */{'/'.join(path.split('/')[-2:])}({section})")
with open(sys.argv[3], "w") as out:
    out.write("/* Written by scripts/kioskd-order.sh: the code release kioskd runs to its home screen and while\n")
    out.write("   idle, first in .text (a stale list costs resident memory, never behaviour). */\n")
    out.write("SECTIONS\n{\n  .text : {\n" + "\n".join(dict.fromkeys(lines)) + "\n  }\n}\nINSERT BEFORE .init;\n")
PY
echo "kioskd-order: $(grep -c '^    \*' packaging/kioskd-text.ld) input sections in packaging/kioskd-text.ld" >&2
