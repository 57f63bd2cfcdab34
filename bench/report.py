#!/usr/bin/env python3
"""Turns the JSON files of one `make bench` (RUNS runs of every step) into bench/results/latest.md:
each row is the median over the runs with min-max; a ratio against a peer is taken within each
run (same moment, same load) and its median reported. Usage: report.py DIR RUNS CONFIG."""
import datetime, glob, json, os, platform, statistics, sys

d, runs, config = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def load(prefix):
    out = []
    for i in range(1, runs + 1):
        try:
            out.append(json.load(open(os.path.join(d, f"{prefix}.{i}.json"))))
        except (FileNotFoundError, json.JSONDecodeError) as e:
            out.append({f"{prefix}_error": f"run {i}: {e}"})
    return out


K, C, P, S = load("kiosk"), load("camera"), load("peers"), load("startup")
UF, UR = load("upload-fixed"), load("upload-random")


def vals(rs, key, scale=1.0):
    return [r[key] * scale for r in rs if isinstance(r.get(key), (int, float))]


def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def stat(xs):
    """median (min-max) of a list, or n/a."""
    if not xs:
        return "n/a"
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}-{fmt(max(xs))})"


def med(xs):
    return statistics.median(xs) if xs else None


def ratios(ra, ka, rb, kb):
    """Per-run ratios a/b (runs where both exist)."""
    out = []
    for a, b in zip(ra, rb):
        x, y = a.get(ka), b.get(kb)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
            out.append(x / y)
    return out


def verdict(value, target, better):
    if value is None:
        return "n/a"
    ok = value <= target if better == "low" else value >= target
    return "met" if ok else "not met"


rows = []  # (kiosk row, kiosk stat, baseline, baseline stat, ratio stat, target, verdict)


def row(name, rk, kk, base, rb, kb, target=None, use_ratio=True, scale_a=1.0, scale_b=1.0):
    a, b = vals(rk, kk, scale_a), vals(rb, kb, scale_b) if rb is not None else []
    r = []
    # Ratios within a run: pair runs by index where both produced a number.
    if use_ratio and rb is not None:
        r = []
        for x, y in zip(rk, rb):
            xa, yb = x.get(kk), y.get(kb)
            if isinstance(xa, (int, float)) and isinstance(yb, (int, float)) and yb:
                r.append((xa * scale_a) / (yb * scale_b))
    v = ""
    if target:
        what, limit, better = target
        x = med(r) if what == "ratio" else med(a)
        v = f"{'≤' if better == 'low' else '≥'} {limit:,g}{'×' if what == 'ratio' else ''}: {verdict(x, limit, better)}"
    rows.append((name, stat(a), base, stat(b) if rb is not None else "", stat(r) if r else "", v))


row("start-up to first screen (ms)", S, "kioskd_startup_ms", "Chromium --kiosk to first paint (ms)", S,
    "chromium_kiosk_first_paint_ms", ("value", 100, "low"))
row("start-up to first screen (ms)", S, "kioskd_startup_ms", "Chromium headless to screenshot (ms)", S, "chromium_startup_ms")
row("peak RSS at start (KiB)", S, "kioskd_rss_peak_kib", "Chromium --kiosk peak RSS to first paint + 1 s (KiB)", S,
    "chromium_kiosk_rss_peak_kib")
row("RSS at idle (KiB)", S, "kioskd_rss_steady_kib", "Chromium headless peak RSS (KiB)", S, "chromium_rss_peak_kib",
    ("value", 25 * 1024, "low"))
row("CPU while idle (% of one core)", S, "kioskd_idle_cpu_percent", "", None, "", ("value", 0.1, "low"), use_ratio=False)
row("CPU while idle, counted in 10 ms clock ticks (%)", S, "kioskd_idle_cpu_ticks_percent", "", None, "", None,
    use_ratio=False)
row("RSS after 1,000 sessions (KiB)", K, "rss_after_1000_sessions_kib", "RSS after the first session (KiB)", K,
    "rss_after_1_session_kib", ("ratio", 1.03, "low"))
row("seal, 3 x 500 KB attachments (ms)", K, "seal_ms", "raw write + fsync of the same bytes (ms)", K,
    "raw_write_fsync_ms", ("ratio", 1.2, "low"))
row("durable seals, 8 waiting at once (per s)", K, "enqueue_concurrent_per_s",
    "raw write + fsync of a 512-byte record (per s)", K, "raw_fsync_per_s", ("ratio", 0.75, "high"))
row("durable seals, one after another (per s)", K, "enqueue_per_s", "raw write + fsync of a 512-byte record (per s)", K,
    "raw_fsync_per_s", ("ratio", 0.75, "high"))
row("durable seals, one after another (per s)", K, "enqueue_per_s", "persist-queue SQLiteQueue, synchronous=FULL (per s)", P,
    "persistqueue_full_enqueue_per_s")
row("durable seals, one after another (per s)", K, "enqueue_per_s", "litequeue, synchronous=FULL (per s)", P, "litequeue_full_enqueue_per_s")
row("durable seals, one after another (per s)", K, "enqueue_per_s", "persist-queue SQLiteQueue, its defaults (per s)", P,
    "persistqueue_enqueue_per_s")
row("durable seals, one after another (per s)", K, "enqueue_per_s", "litequeue, its defaults (per s)", P, "litequeue_enqueue_per_s")
row("receipt encoding (us)", K, "receipt_encode_us", "python-escpos, same receipt (us)", P, "python_escpos_encode_us",
    ("value", 50, "low"))
row("receipt bytes", K, "receipt_bytes", "python-escpos bytes", P, "python_escpos_bytes")
row("5 MP photo to upload file, 1600 px q80 (ms)", C, "camera_reencode_ms", "vipsthumbnail (libvips, shrink-on-load) (ms)",
    C, "vips_reencode_ms")
row("5 MP photo to upload file, 1600 px q80 (ms)", C, "camera_reencode_ms", "ImageMagick convert, fresh process (ms)", C,
    "imagemagick_reencode_ms")
row("upload file bytes", C, "camera_upload_bytes", "vipsthumbnail output bytes", C, "vips_upload_bytes")
row("upload file bytes", C, "camera_upload_bytes", "ImageMagick output bytes", C, "imagemagick_upload_bytes")

loads = []
for line in open(os.path.join(d, "load.txt")):
    parts = line.split()
    if len(parts) >= 5:
        loads.append(float(parts[2]))
secs = open(os.path.join(d, "seconds.txt")).read().split()
print(f"# Benchmarks ({datetime.date.today()}, {config} build, {platform.machine()}, {os.cpu_count()} cores, {runs} runs)\n")
print(f"Each value is the median of {runs} runs with (min-max); a ratio is taken within each run and its median given.")
print(f"Load average (1 min) before each step: median {statistics.median(loads):.1f}, min {min(loads):.1f}, "
      f"max {max(loads):.1f} — the machine is shared with other builds, so absolute times are noisy; the ratios hold better.")
print(f"Measuring took {int(secs[0]) // 60} min {int(secs[0]) % 60} s; all of `make bench` with the release build "
      f"{int(secs[1]) // 60} min {int(secs[1]) % 60} s.\n")
print("| kiosk | value | baseline (same runs) | value | ratio | target |")
print("|---|---|---|---|---|---|")
for name, a, base, b, r, v in rows:
    print(f"| {name} | {a} | {base} | {b} | {r} | {v} |")


def stat3(xs):
    """median (min-max) with three decimals: the wire ratio's target is 1.02."""
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"


def upload_table(U, title):
    u0 = next((u for u in U if "upload_payload_bytes" in u), {})
    print(f"\n## Upload: {title}\n")
    mb = u0.get("upload_payload_bytes", 0) / 1e6
    print(f"Backlog: {u0.get('upload_submissions')} submissions x 3 attachments x {u0.get('upload_attachment_bytes', 0) // 1000} KB "
          f"= {mb:.0f} MB of payload; chunk {u0.get('upload_chunk_bytes', 0) // 1024} KiB; reference intake in-process, loopback.\n")
    print("| client | bytes on the wire / payload byte | drain time (s) | interruptions or retries | TCP connections "
          "| payload bytes the intake received twice |")
    print("|---|---|---|---|---|---|")
    print(f"| kiosk uploader (tus, resumes at server offset) | {stat3(vals(U, 'kiosk_wire_per_payload'))} | "
          f"{stat(vals(U, 'kiosk_drain_seconds'))} | {stat(vals(U, 'kiosk_interruptions'))} | {stat(vals(U, 'kiosk_connections'))} "
          f"| {stat(vals(U, 'kiosk_resent_bytes'))} |")
    print(f"| tuspy 1.1.0 (resumes via HEAD) | {stat3(vals(U, 'tuspy_wire_per_payload'))} | {stat(vals(U, 'tuspy_seconds'))} | "
          f"{stat(vals(U, 'tuspy_retries'))} | {stat(vals(U, 'tuspy_connections'))} | {stat(vals(U, 'tuspy_resent_bytes'))} |")
    print(f"| whole-file PUT, retry from scratch | {stat3(vals(U, 'wholefile_wire_per_payload'))} | "
          f"{stat(vals(U, 'wholefile_drain_seconds'))} | {stat(vals(U, 'wholefile_retries'))} | - | - |")
    w = med(vals(U, "kiosk_wire_per_payload"))
    r = med(ratios(U, "kiosk_drain_seconds", U, "tuspy_seconds"))
    print(f"\nKiosk: {fmt(w)} wire bytes per payload byte (target ≤ 1.02: {verdict(w, 1.02, 'low')}); drain time "
          f"{fmt(r)}× tuspy's within a run (target ≤ 0.8: {verdict(r, 0.8, 'low')}); "
          f"{stat(vals(U, 'kiosk_resent_bytes'))} payload bytes the intake received twice (PATCH body bytes it "
          f"received beyond the payload; the rest of the wire bytes are request heads).")
    errs = sorted({v for u in U for k, v in u.items() if k.endswith("_error")})
    for e in errs:
        print(f"- {e}")


upload_table(UF, "every connection cut after ~1 MB (+-10 %) of client bytes")
upload_table(UR, "connections cut at random moments (exponential, mean 1 MiB of client traffic)")

# Where kioskd's idle RSS is (the last run's /proc/PID/smaps, KiB by mapping).
sm = next((s["kioskd_smaps"] for s in reversed(S) if s.get("kioskd_smaps")), None)
if sm:
    sm = dict(sorted(sm.items(), key=lambda kv: -kv[1]))
    total = sum(sm.values())
    print(f"\n## kioskd's idle RSS by mapping (/proc/PID/smaps, last run, {total:,} KiB)\n")
    print("kioskd as the .deb ships it: built with `--static-swift-stdlib` (the Swift runtime and Foundation")
    print("are in the kioskd mapping, not in shared libraries).\n")
    print("| mapping | KiB |")
    print("|---|---|")
    for name, kib in list(sm.items())[:14]:
        print(f"| {name} | {kib:,} |")
    print(f"| (the rest) | {sum(list(sm.values())[14:]):,} |")
    sec = next((s["kioskd_sections"] for s in reversed(S) if s.get("kioskd_sections")), None)
    if sec:
        print(f"\nThe kioskd mapping by ELF section (resident pages from /proc/PID/pagemap, same moment, KiB):\n")
        print("| section | KiB |")
        print("|---|---|")
        for name, kib in sorted(sec.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {kib:,} |")
    th = vals(S, "kioskd_threads")
    if th:
        print(f"\nkioskd threads at idle: {fmt(med(th))}.")

print("\nNotes:")
print("- A seal is AES-GCM of the personal fields and attachments, SHA-256 of each attachment, the attachment")
print("  files and their folder fsynced (in parallel), its rows inserted in an open transaction, then one record")
print("  appended to the seal log with O_DIRECT|O_DSYNC (the durable point, one write shared by seals that wait")
print("  together), the seal answered, and the rows committed without an fsync of their own (written back from the")
print("  log after a power cut; readers wait at a fence until the commit). Its raw reference writes the same bytes")
print("  as four files, each durably (write, fsync, rename, fsync of the directory); the per-second floor appends")
print("  512 bytes to one file and fsyncs, 300 times, from one thread. \"8 waiting\" is 8 tasks sealing 37 each at")
print("  once: their records share writes and their rows share transactions. One after another, each seal pays its")
print("  own durable write plus encryption and SQLite work and a hand-off to the log thread (durable writes never run")
print("  on the cooperative pool); a seal alone polls up to 0.5 ms for its answer before its task parks, so the way")
print("  back is usually no thread wake-up. The peers' default SQLite settings may not fsync each put.")
print("- python-escpos has no GB18030 text path: its byte count is for what it emits for the same calls.")
print("- Camera: kioskd decodes with DCT scaling (1/2 here), box-resizes and encodes with libturbojpeg in-process;")
print("  vipsthumbnail shrinks on load too; ImageMagick's time includes starting `convert` for each image, as a script would.")
print("- Chromium --kiosk runs the full browser UI on Ozone's headless platform (no display here); first paint is")
print("  the page's own Paint Timing entry, measured from the process start.")
notes = sorted({v for r in K + C + P + S for k, v in r.items() if k.endswith("_error")})
for n in notes:
    print(f"- {n}")
