#!/usr/bin/env python3
"""Every module a file imports is declared by its target in Package.swift (no module reached only
through another target's dependencies), and KioskFlow stays pure: no devices, no termios."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
pkg = (root / "Package.swift").read_text()
SYSTEM = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Dispatch", "Testing", "XCTest",
          "Synchronization", "PackageDescription", "_Concurrency", "os", "Darwin", "Musl"}
FORBIDDEN = {"KioskFlow": {"KioskDevices", "KioskTerminal", "CLibUSB", "CCups", "CV4L2", "CTurboJPEG", "Glibc"}}

targets = {}
for m in re.finditer(r'\.(target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*"([^"]+)"(.*?)(?=\n\s*\.(?:target|testTarget|executableTarget|systemLibrary)\(|\n\s*\]\s*\n\))', pkg, re.S):
    kind, name, rest = m.groups()
    deps = set(re.findall(r'\.product\(name:\s*"([^"]+)"', rest))
    dm = re.search(r'dependencies:\s*\[(.*?)\]\s*[,)]', rest, re.S)
    if dm:
        deps |= set(re.findall(r'(?<![\w:])"([A-Za-z0-9_-]+)"', re.sub(r'\.product\([^)]*\)', '', dm.group(1))))
    path = re.search(r'path:\s*"([^"]+)"', rest)
    folder = path.group(1) if path else ("Tests/" if kind == "testTarget" else "Sources/") + name
    targets[name] = (kind, deps, root / folder)

problems = []
for name, (kind, deps, folder) in targets.items():
    if kind == "systemLibrary" or not folder.exists():
        continue
    for f in sorted(folder.rglob("*.swift")):
        for line in f.read_text().splitlines():
            im = re.match(r'\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+)*import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z0-9_]+)', line)
            if not im:
                continue
            mod = im.group(1)
            if mod in FORBIDDEN.get(name, set()):
                problems.append(f"{f.relative_to(root)}: {name} must not import {mod}")
            elif mod not in SYSTEM and mod not in deps and mod != name:
                problems.append(f"{f.relative_to(root)}: imports {mod}, which target {name} does not declare in Package.swift")
for p in problems:
    print("check-imports:", p)
print(f"check-imports: {len(targets)} targets, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
