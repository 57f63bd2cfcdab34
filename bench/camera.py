#!/usr/bin/env python3
"""The camera row of make bench: ImageMagick (a fresh `convert`, as a script would run it) and
libvips (`vipsthumbnail`, which shrinks on load like kioskd's DCT scaling) doing the same resize
(long side 1600) and JPEG re-encode (quality 80) as kioskd, on the same 5-megapixel photo, in the
same run. Usage: camera.py KIOSK_JSON DIR  (KIOSK_JSON from `kiosk-bench camera DIR`). Prints one
JSON object; each time is the median of 5 runs."""
import json, os, shutil, subprocess, sys, time

kiosk = json.load(open(sys.argv[1]))
d = sys.argv[2]
src = os.path.join(d, "photo-5mp.jpg")
out = dict(kiosk)


def timed(name, argv, dst):
    times = []
    try:
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t0)
        times.sort()
        out[f"{name}_reencode_ms"] = times[len(times) // 2] * 1000
        out[f"{name}_upload_bytes"] = os.path.getsize(dst)
    except Exception as e:  # a stand-in or a broken install: say so, don't fail
        out[f"{name}_error"] = f"{name} run failed: {e}"


# /usr/local/bin may hold a wrapper around the real convert: call the real one directly.
exe = next((p for p in ("/usr/bin/convert-im6.q16", "/usr/bin/convert") if os.access(p, os.X_OK)), None) or shutil.which("convert")
if exe is None:
    out["imagemagick_error"] = "ImageMagick (convert) not installed: the camera baseline is missing"
else:
    dst = os.path.join(d, "upload-imagemagick.jpg")
    timed("imagemagick", [exe, src, "-resize", "1600x1600", "-quality", "80", dst], dst)
vips = shutil.which("vipsthumbnail")
if vips is None:
    out["vips_error"] = "vipsthumbnail not installed (Debian: libvips-tools): the libvips baseline is missing"
else:
    dst = os.path.join(d, "upload-vips.jpg")
    timed("vips", [vips, src, "--size", "1600x1600", "-o", dst + "[Q=80]"], dst)
print(json.dumps(out))
