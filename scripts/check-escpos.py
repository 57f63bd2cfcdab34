#!/usr/bin/env python3
"""Independent check of an ESC/POS receipt file (written from the command reference, not from the
Swift decoder; text is decoded with Python's own gb18030 codec, not glibc iconv).

usage: check-escpos.py FILE --columns N --dots D [--expect-qr TEXT] [--expect-text TEXT]...
                       [--forbid TEXT]... [--cut full|partial|none] [--json]

Checks: the job starts with ESC @ and turns Chinese mode on (FS &) before any two-byte text; text is
GB18030 using only one- and two-byte codes (no four-byte codes a printer would mangle); no printed line
is wider than the paper at the character size in force (GS !); QR codes use GS ( k with a store length
that counts bytes, a module size that fits the paper, and a print after the store; GS v 0 raster bands
fit the paper width, have at most 256 rows and carry exactly x*y data bytes; the job ends with a cut
and GS r 1. Prints what it found; exits 1 with the reasons when a check fails.
"""
import argparse
import json
import sys

# Byte-mode capacity at ECC level M, QR versions 1..40 (ISO/IEC 18004 table 7).
QR_CAPACITY_M = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
                 711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, 1452, 1538, 1628, 1722, 1809, 1911, 1989,
                 2099, 2213, 2331]

# Commands with a fixed number of parameter bytes after the two command bytes.
FIXED = {
    (0x1B, 0x21): 1, (0x1B, 0x2D): 1, (0x1B, 0x33): 1, (0x1B, 0x45): 1, (0x1B, 0x47): 1, (0x1B, 0x4D): 1,
    (0x1B, 0x52): 1, (0x1B, 0x56): 1, (0x1B, 0x61): 1, (0x1B, 0x74): 1, (0x1B, 0x7B): 1, (0x1B, 0x20): 1,
    (0x1B, 0x64): 1, (0x1B, 0x4A): 1, (0x1B, 0x32): 0, (0x1B, 0x40): 0,
    (0x1C, 0x26): 0, (0x1C, 0x2E): 0, (0x1C, 0x21): 1, (0x1C, 0x53): 2,
    (0x1D, 0x21): 1, (0x1D, 0x48): 1, (0x1D, 0x66): 1, (0x1D, 0x68): 1, (0x1D, 0x77): 1, (0x1D, 0x61): 1,
    (0x1D, 0x72): 1, (0x1D, 0x42): 1,
    (0x10, 0x04): 1,
}


class Check:
    def __init__(self, data, columns, dots):
        self.d = data
        self.columns = columns
        self.dots = dots
        self.errors = []
        self.lines = []          # (text, width_factor, columns used)
        self.qr = []
        self.barcodes = []
        self.images = []
        self.cuts = []
        self.chinese = False
        self.width = 1
        self.height = 1
        self.qr_store = None
        self.qr_module = 3
        self.line = bytearray()
        self.saw_init_first = data[:2] == b"\x1b\x40"
        self.ends_with_sentinel = False

    def fail(self, msg):
        self.errors.append(msg)

    def flush(self, force):
        if not self.line and not force:
            return
        raw = bytes(self.line)
        self.line = bytearray()
        if any(b >= 0x80 for b in raw) and not self.chinese:
            self.fail("two-byte text before Chinese mode (FS &) was turned on: %s" % raw.hex())
        # Walk the codes: ASCII 1 column, two-byte GB18030 2 columns; a four-byte code is an error.
        i = 0
        used = 0
        while i < len(raw):
            b = raw[i]
            if b < 0x80:
                if b < 0x20:
                    self.fail("control byte 0x%02X inside text" % b)
                used += 1
                i += 1
                continue
            if not (0x81 <= b <= 0xFE) or i + 1 >= len(raw):
                self.fail("invalid GB18030 lead byte 0x%02X" % b)
                i += 1
                continue
            t = raw[i + 1]
            if 0x30 <= t <= 0x39:
                self.fail("four-byte GB18030 code %s (printers drop the lead bytes)" % raw[i:i + 4].hex())
                i += 4
                continue
            if not (0x40 <= t <= 0xFE) or t == 0x7F:
                self.fail("invalid GB18030 trail byte 0x%02X" % t)
            used += 2
            i += 2
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as e:
            self.fail("text does not decode as GB18030: %s" % e)
            text = raw.decode("gb18030", errors="replace")
        width_cols = used * self.width
        if width_cols > self.columns:
            self.fail("line wider than the paper: %d columns at width x%d > %d: %r"
                      % (width_cols, self.width, self.columns, text))
        self.lines.append({"text": text, "width": self.width, "height": self.height, "columns": width_cols})

    def run(self):
        d = self.d
        n = len(d)
        i = 0
        while i < n:
            b = d[i]
            if b == 0x0A:
                self.flush(True)
                i += 1
                continue
            if b in (0x1B, 0x1C, 0x1D, 0x10):
                if i + 1 >= n:
                    self.fail("stream ends inside a command at offset %d" % i)
                    break
                c = d[i + 1]
                key = (b, c)
                if key == (0x1D, 0x28):            # GS ( k: 2D symbol
                    if i + 5 > n:
                        self.fail("truncated GS ( command")
                        break
                    fn_class = d[i + 2]
                    length = d[i + 3] | d[i + 4] << 8
                    payload = d[i + 5:i + 5 + length]
                    if len(payload) != length:
                        self.fail("GS ( payload shorter than its length field")
                        break
                    if fn_class == 0x6B:
                        self.symbol(payload)
                    i += 5 + length
                    continue
                if key == (0x1D, 0x76):            # GS v 0 m xL xH yL yH data
                    if i + 8 > n or d[i + 2] != 0x30:
                        self.fail("bad GS v command at %d" % i)
                        break
                    self.flush(False)
                    x = d[i + 4] | d[i + 5] << 8
                    y = d[i + 6] | d[i + 7] << 8
                    data = d[i + 8:i + 8 + x * y]
                    if len(data) != x * y:
                        self.fail("GS v 0 band declares %d bytes but %d follow" % (x * y, len(data)))
                    if x * 8 > self.dots:
                        self.fail("raster band %d dots wide > paper %d dots" % (x * 8, self.dots))
                    if y > 256:
                        self.fail("raster band of %d rows (> 256)" % y)
                    for k in range(len(data) - 1):
                        if data[k] == 0x10 and data[k + 1] in (0x04, 0x05, 0x14):
                            self.fail("raster data contains a real-time command DLE %02X" % data[k + 1])
                            break
                    self.images.append({"widthDots": x * 8, "rows": y})
                    i += 8 + x * y
                    continue
                if key == (0x1D, 0x56):            # GS V m [n]
                    m = d[i + 2] if i + 2 < n else None
                    self.flush(False)
                    if m in (0x41, 0x42):
                        self.cuts.append("partial" if m == 0x42 else "full")
                        i += 4
                    elif m in (0x00, 0x01, 0x30, 0x31):
                        self.cuts.append("partial" if m in (0x01, 0x31) else "full")
                        i += 3
                    else:
                        self.fail("unknown cut mode %r" % m)
                        i += 3
                    continue
                if key == (0x1D, 0x6B):            # GS k m n data (m >= 65)
                    m = d[i + 2]
                    k = d[i + 3]
                    self.flush(False)
                    self.barcodes.append(bytes(d[i + 4:i + 4 + k]).decode("ascii", errors="replace"))
                    i += 4 + k
                    continue
                if key in FIXED:
                    p = FIXED[key]
                    if i + 2 + p > n:
                        self.fail("truncated command %02X %02X" % key)
                        break
                    params = d[i + 2:i + 2 + p]
                    if key == (0x1C, 0x26):
                        self.chinese = True
                    elif key == (0x1C, 0x2E):
                        self.chinese = False
                    elif key == (0x1D, 0x21):
                        self.width = (params[0] >> 4) + 1
                        self.height = (params[0] & 0x0F) + 1
                    elif key == (0x1B, 0x40):
                        self.width = self.height = 1
                        self.line = bytearray()
                    elif key == (0x1B, 0x64):
                        if self.line:
                            self.flush(True)
                            count = params[0] - 1
                        else:
                            count = params[0]
                        for _ in range(max(0, count)):
                            self.lines.append({"text": "", "width": self.width, "height": self.height, "columns": 0})
                    elif key == (0x1D, 0x72):
                        self.ends_with_sentinel = (i + 3 == n)
                    i += 2 + p
                    continue
                self.fail("command %02X %02X not expected in a kiosk receipt" % key)
                i += 2
                continue
            if b < 0x20:
                self.fail("stray control byte 0x%02X at %d" % (b, i))
                i += 1
                continue
            self.line.append(b)
            i += 1
        if self.line:
            self.fail("text left unprinted at the end (no LF)")

    def symbol(self, p):
        if len(p) < 2 or p[0] != 0x31:
            self.fail("GS ( k for a symbol other than QR")
            return
        fn = p[1]
        if fn == 0x41:
            if len(p) != 4 or p[2] not in (0x31, 0x32):
                self.fail("QR model command malformed: %s" % p.hex())
        elif fn == 0x43:
            if len(p) != 3 or not 1 <= p[2] <= 16:
                self.fail("QR module size out of range: %s" % p.hex())
            else:
                self.qr_module = p[2]
        elif fn == 0x45:
            if len(p) != 3 or p[2] not in (0x30, 0x31, 0x32, 0x33):
                self.fail("QR error correction level malformed: %s" % p.hex())
        elif fn == 0x50:
            if len(p) < 4 or p[2] != 0x30:
                self.fail("QR store malformed")
                return
            self.qr_store = bytes(p[3:])
        elif fn == 0x51:
            self.flush(False)
            if self.qr_store is None:
                self.fail("QR print without a stored payload")
                return
            k = len(self.qr_store)
            version = next((v + 1 for v, cap in enumerate(QR_CAPACITY_M) if cap >= k), None)
            if version is None:
                self.fail("QR payload of %d bytes does not fit a QR code at ECC M" % k)
                return
            side = (17 + 4 * version + 8) * self.qr_module
            if side > self.dots:
                self.fail("QR code %d dots wide (with quiet zone) > paper %d dots" % (side, self.dots))
            self.qr.append({"payload": self.qr_store.decode("utf-8", errors="replace"), "module": self.qr_module,
                            "version": version, "dots": side})
        else:
            self.fail("unexpected QR function 0x%02X" % fn)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--columns", type=int, required=True)
    ap.add_argument("--dots", type=int, required=True)
    ap.add_argument("--expect-qr", action="append", default=[])
    ap.add_argument("--expect-text", action="append", default=[])
    ap.add_argument("--forbid", action="append", default=[])
    ap.add_argument("--cut", choices=["full", "partial", "none"])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        data = open(a.file, "rb").read()
    except OSError as e:
        print("cannot read %s: %s" % (a.file, e), file=sys.stderr)
        return 2
    c = Check(data, a.columns, a.dots)
    c.run()
    if not c.saw_init_first:
        c.fail("the job does not start with ESC @")
    if not c.ends_with_sentinel:
        c.fail("the job does not end with GS r 1")
    text = "\n".join(l["text"] for l in c.lines)
    for t in a.expect_text:
        if t not in text:
            c.fail("expected text not printed: %r" % t)
    for t in a.forbid:
        if t in text or any(t in q["payload"] for q in c.qr):
            c.fail("forbidden text printed: %r" % t)
    payloads = [q["payload"] for q in c.qr]
    for q in a.expect_qr:
        if q not in payloads:
            c.fail("expected QR payload %r, found %r" % (q, payloads))
    if a.cut == "none":
        if c.cuts:
            c.fail("profile has no cutter but the job cuts")
    elif a.cut:
        if not c.cuts:
            c.fail("the receipt is not cut")
    result = {"ok": not c.errors, "errors": c.errors, "lines": [l["text"] for l in c.lines], "qr": c.qr,
              "barcodes": c.barcodes, "images": c.images, "cuts": c.cuts, "chineseMode": c.chinese}
    if a.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        for l in c.lines:
            print("%dx%d | %s" % (l["width"], l["height"], l["text"]))
        for q in c.qr:
            print("[QR v%d module %d, %d dots] %s" % (q["version"], q["module"], q["dots"], q["payload"]))
        for im in c.images:
            print("[raster %dx%d]" % (im["widthDots"], im["rows"]))
        for cut in c.cuts:
            print("[cut %s]" % cut)
        for e in c.errors:
            print("ERROR: " + e, file=sys.stderr)
    return 0 if not c.errors else 1


if __name__ == "__main__":
    sys.exit(main())
