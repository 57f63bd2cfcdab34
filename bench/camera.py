#!/usr/bin/env python3
"""The camera row of make bench: ImageMagick doing the same resize (long side 1600) and JPEG
re-encode (quality 80) as kioskd, on the same 5-megapixel photo, in the same run.
Usage: camera.py KIOSK_JSON DIR  (KIOSK_JSON from `kiosk-bench camera DIR`). Prints one JSON object."""
import json, os, shutil, subprocess, sys, time

kiosk = json.load(open(sys.argv[1]))
d = sys.argv[2]
src, dst = os.path.join(d, "photo-5mp.jpg"), os.path.join(d, "upload-imagemagick.jpg")
out = dict(kiosk)
# /usr/local/bin may hold a wrapper around the real one: call the real one directly.
exe = next((p for p in ("/usr/bin/convert-im6.q16", "/usr/bin/convert") if os.access(p, os.X_OK)), None) or shutil.which("convert")
if exe is None:
    out["imagemagick_error"] = "ImageMagick (convert) not installed: the camera baseline is missing"
else:
    times = []
    try:
        for _ in range(7):
            t0 = time.perf_counter()
            subprocess.run([exe, src, "-resize", "1600x1600", "-quality", "80", dst], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t0)
        times.sort()
        out["imagemagick_reencode_ms"] = times[len(times) // 2] * 1000
        out["imagemagick_upload_bytes"] = os.path.getsize(dst)
    except Exception as e:  # a stand-in `convert` or a broken install: say so, don't fail
        out["imagemagick_error"] = f"ImageMagick run failed: {e}"
print(json.dumps(out))
