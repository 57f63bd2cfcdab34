#!/usr/bin/env python3
"""Turns the three JSON files of one bench run into bench/results/latest.md (ratios side by side)."""
import datetime, json, platform, sys

k, p, s = (json.load(open(f)) for f in sys.argv[1:4])
config = sys.argv[4]
cam = json.load(open(sys.argv[5])) if len(sys.argv) > 5 else {}

def f(x, unit=""):
    return "n/a" if x is None else (f"{x:,.1f}{unit}" if isinstance(x, float) else f"{x:,}{unit}")

def ratio(a, b):
    return "n/a" if a is None or b in (None, 0) else f"{a / b:.2f}"

rows = [
    ("start-up to first screen (ms)", s.get("kioskd_startup_ms"), "Chromium headless, comparable page", s.get("chromium_startup_ms")),
    ("peak RSS at start (KiB)", s.get("kioskd_rss_peak_kib"), "Chromium headless peak RSS (KiB)", s.get("chromium_rss_peak_kib")),
    ("steady RSS after idle (KiB)", s.get("kioskd_rss_steady_kib"), "Chromium headless peak RSS (KiB)", s.get("chromium_rss_peak_kib")),
    ("RSS after 1,000 sessions (KiB)", k.get("rss_after_1000_sessions_kib"), "RSS after the first session (KiB)", k.get("rss_after_1_session_kib")),
    ("seal, 3 x 500 KB attachments (ms)", k.get("seal_ms"), "raw write + fsync of the same bytes (ms)", k.get("raw_write_fsync_ms")),
    ("durable enqueue (per s)", k.get("enqueue_per_s"), "persist-queue SQLiteQueue (per s)", p.get("persistqueue_enqueue_per_s")),
    ("durable enqueue (per s)", k.get("enqueue_per_s"), "litequeue (per s)", p.get("litequeue_enqueue_per_s")),
    ("receipt encoding (us)", k.get("receipt_encode_us"), "python-escpos, same receipt (us)", p.get("python_escpos_encode_us")),
    ("receipt bytes", k.get("receipt_bytes"), "python-escpos bytes", p.get("python_escpos_bytes")),
    ("5 MP photo to upload file, 1600 px q80 (ms)", cam.get("camera_reencode_ms"), "ImageMagick convert, same resize + quality (ms)", cam.get("imagemagick_reencode_ms")),
    ("upload file bytes", cam.get("camera_upload_bytes"), "ImageMagick output bytes", cam.get("imagemagick_upload_bytes")),
]

print(f"# Benchmarks ({datetime.date.today()}, {config} build, {platform.machine()}, one run)\n")
print("| kiosk | value | baseline (same run) | value | ratio |")
print("|---|---|---|---|---|")
for name, a, base, b in rows:
    print(f"| {name} | {f(a)} | {base} | {f(b)} | {ratio(a, b)} |")
print(f"\nkioskd CPU while idle: {f(s.get('kioskd_idle_cpu_percent'))} % of one core.\n")
notes = [v for key, v in {**p, **s, **cam}.items() if key.endswith("_error")]
print("Notes:")
print("- The kiosk's enqueue is a full seal: AES-GCM of the personal fields, a case-number counter, and a")
print("  WAL commit with synchronous=FULL. litequeue and persist-queue use their default SQLite settings,")
print("  which may not fsync each put (a faster, less durable baseline).")
print("- python-escpos has no GB18030 text path: its byte count is for what it emits for the same calls.")
print("- Camera: kioskd decodes with DCT scaling (1/2 here), box-resizes and encodes with libturbojpeg")
print("  in-process; ImageMagick's time includes starting `convert` for each image, as a script would.")
if cam.get("camera_input_bytes"):
    print(f"  Input photo: 2592x1944, {int(cam['camera_input_bytes']):,} bytes; quality check on it: {cam.get('camera_quality_check_ms', 0):.1f} ms.")
print("- Not measured yet: upload efficiency (upload issue).")
for n in notes:
    print(f"- {n}")
