#!/usr/bin/env python3
"""Turns the three JSON files of one bench run into bench/results/latest.md (ratios side by side)."""
import datetime, json, platform, sys

k, p, s = (json.load(open(f)) for f in sys.argv[1:4])
config = sys.argv[4]
u = json.load(open(sys.argv[5])) if len(sys.argv) > 5 else {}
cam = json.load(open(sys.argv[6])) if len(sys.argv) > 6 else {}

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
if u:
    mb = u.get("upload_payload_bytes", 0) / 1e6
    print(f"\n## Upload through a proxy that cuts every connection after ~1 MB\n")
    print(f"Backlog: {u.get('upload_submissions')} submissions x 3 attachments x {u.get('upload_attachment_bytes', 0)//1000} KB "
          f"= {mb:.0f} MB of payload; chunk {u.get('upload_chunk_bytes', 0)//1024} KiB; every TCP connection is cut after "
          f"{u.get('upload_cut_bytes', 0)//1000} KB (+-10 %) of client bytes; reference intake in-process, loopback.\n")
    print("| client | bytes on the wire / payload byte | drain time (s) | interruptions or retries | TCP connections |")
    print("|---|---|---|---|---|")
    print(f"| kiosk uploader (tus, resumes at server offset) | {ratio(u.get('kiosk_wire_bytes'), u.get('upload_payload_bytes'))} | "
          f"{f(u.get('kiosk_drain_seconds'))} | {f(u.get('kiosk_interruptions'))} | {f(u.get('kiosk_connections'))} |")
    print(f"| tuspy 1.1.0 (resumes via HEAD) | {ratio(u.get('tuspy_wire_bytes'), u.get('upload_payload_bytes'))} | "
          f"{f(u.get('tuspy_seconds'))} | {f(u.get('tuspy_retries'))} | {f(u.get('tuspy_connections'))} |")
    print(f"| whole-file PUT, retry from scratch | {ratio(u.get('wholefile_wire_bytes'), u.get('upload_payload_bytes'))} | "
          f"{f(u.get('wholefile_drain_seconds'))} | {f(u.get('wholefile_retries'))} | - |")
    r = u.get("kiosk_resent_chunks_per_interruption")
    print(f"\nKiosk: {f(u.get('kiosk_resent_bytes'))} payload bytes sent again over {f(u.get('kiosk_interruptions'))} interruptions = "
          f"{'n/a' if r is None else f'{r:.2f}'} chunk per interruption (target: at most 1). The kiosk's bytes include health probes,")
    print("tus requests and manifests; tuspy's only its uploads. tuspy opens a new connection per request, so with chunks")
    print("smaller than the cut it is rarely interrupted here; it pays a TCP (and on a real link TLS) handshake per chunk instead.")
    for key, v in u.items():
        if key.endswith("_error"):
            print(f"- {v}")

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
for n in notes:
    print(f"- {n}")
