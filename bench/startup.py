#!/usr/bin/env python3
"""Start-up to first drawn screen and RSS for kioskd (in tmux, simulated devices) and for Chromium
showing a comparable home page (headless to a screenshot; --kiosk to first paint); kioskd's CPU
while idle, and where its resident memory is (/proc/PID/smaps, by mapping). Prints JSON."""
import json, os, shutil, subprocess, sys, tempfile, time

kioskd, config = sys.argv[1], sys.argv[2]
idle_seconds = int(os.environ.get("KIOSK_BENCH_IDLE_SECONDS", "60"))
out = {}

def tree_rss_kib(pid):
    """Sum of VmRSS over a process and its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total

def smaps_breakdown(pid):
    """Rss (KiB) by mapping: each file by its name, anonymous memory as [heap], [stack], thread
    stacks and other anonymous mappings."""
    by = {}
    name = None
    try:
        for line in open(f"/proc/{pid}/smaps"):
            parts = line.split()
            if not parts:
                continue
            if not parts[0].endswith(":") or "-" in parts[0]:
                name = parts[5] if len(parts) > 5 else "[anonymous]"
                if "/" in name:
                    name = os.path.basename(name)
            elif parts[0] == "Rss:":
                by[name] = by.get(name, 0) + int(parts[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return dict(sorted(by.items(), key=lambda kv: -kv[1]))

def sections_resident(pid, binary):
    """Resident KiB of kioskd's own mapping by ELF section (text, constant data, ICU's data, unwind
    tables, Swift metadata, relocated data, writable data): which pages are present comes from
    /proc/PID/pagemap (bit 63), the section bounds from `readelf -SW`. Empty without the rights."""
    try:
        text = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout
        icu = [l.split() for l in subprocess.run(["nm", "-S", binary], capture_output=True,
                                                  text=True).stdout.splitlines() if " icudt" in l]
        base = None
        for line in open(f"/proc/{pid}/maps"):
            p = line.split()
            if len(p) > 5 and os.path.realpath(p[5]) == os.path.realpath(binary) and int(p[2], 16) == 0:
                base = int(p[0].split("-")[0], 16)
                break
        if base is None:
            return {}
        pagemap = open(f"/proc/{pid}/pagemap", "rb")
        def resident(lo, hi):
            n = 0
            for page in range(lo >> 12, (hi + 4095) >> 12):
                pagemap.seek(page * 8)
                n += int.from_bytes(pagemap.read(8), "little") >> 63
            return n * 4
        def group(name):
            if name == ".text": return "code (.text)"
            if name.startswith(".eh_frame"): return "unwind tables (.eh_frame)"
            if name.startswith("swift5_"): return "Swift metadata (swift5_*)"
            if name == ".data.rel.ro": return "relocated constants (.data.rel.ro)"
            if name in (".data", ".bss", ".tbss", ".tdata"): return "writable data (.data, .bss)"
            if name.startswith(".rodata"): return "constants (.rodata, without ICU)"
            return "other sections"
        by, seen = {}, set()
        for line in text.splitlines():
            m = line.split("]", 1)
            if len(m) < 2 or not m[0].strip().startswith("["):
                continue
            f = m[1].split()
            if len(f) < 6 or not all(c in "0123456789abcdef" for c in f[2]):
                continue
            name, addr, size = f[0], int(f[2], 16), int(f[4], 16)
            if addr == 0 or size == 0:
                continue
            # Count each page once (sections share pages at their edges).
            lo, hi = (base + addr) & ~4095, base + addr + size
            kib = 0
            for page in range(lo >> 12, (hi + 4095) >> 12):
                if page not in seen:
                    seen.add(page)
                    kib += resident(page << 12, (page << 12) + 1)
            by[group(name)] = by.get(group(name), 0) + kib
        for sym in icu:
            if len(sym) >= 4:
                addr, size = int(sym[0], 16), int(sym[1], 16)
                kib = resident(base + addr, base + addr + size)
                by["ICU data (icudt, in .rodata)"] = kib
                by["constants (.rodata, without ICU)"] = by.get("constants (.rodata, without ICU)", 0) - kib
        return dict(sorted(by.items(), key=lambda kv: -kv[1]))
    except (OSError, ValueError):
        return {}

def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def idle_cpu_seconds(pid, seconds):
    """CPU time kioskd's threads ran during `seconds`, in nanoseconds' precision: each thread's
    /proc/PID/task/TID/schedstat (time on CPU), read every 0.25 s so a thread that ends within the
    window keeps what it ran until its last reading. /proc/PID/stat counts in clock ticks (10 ms):
    over 12 s one tick is 0.083 % of a core, too coarse against a 0.1 % target."""
    def sample():
        out = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out[tid] = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
        return out
    first = sample()
    last = dict(first)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))
        last.update(sample())
    return sum(ns - first.get(tid, 0) for tid, ns in last.items()) / 1e9

# kioskd
sock = f"kiosk-bench-{os.getpid()}"
t0 = time.perf_counter()
subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-s", "b", "-x", "80", "-y", "24",
                f"exec env LANG=C.UTF-8 {kioskd} --config {config}"], check=True)
try:
    while "首页" not in subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", "b"],
                                      capture_output=True, text=True).stdout:
        if time.perf_counter() - t0 > 30:
            raise SystemExit("kioskd did not draw its home screen in 30 s")
        time.sleep(0.005)
    out["kioskd_startup_ms"] = (time.perf_counter() - t0) * 1000
    pid = int(subprocess.run(["tmux", "-L", sock, "display", "-p", "-t", "b", "#{pane_pid}"],
                             capture_output=True, text=True).stdout)
    peak = 0
    for _ in range(20):
        peak = max(peak, tree_rss_kib(pid)); time.sleep(0.1)
    out["kioskd_rss_peak_kib"] = peak
    c0 = cpu_seconds(pid)
    out["kioskd_idle_cpu_percent"] = idle_cpu_seconds(pid, idle_seconds) / idle_seconds * 100
    out["kioskd_idle_cpu_ticks_percent"] = (cpu_seconds(pid) - c0) / idle_seconds * 100
    out["kioskd_rss_steady_kib"] = tree_rss_kib(pid)
    out["kioskd_threads"] = len(os.listdir(f"/proc/{pid}/task"))
    out["kioskd_smaps"] = smaps_breakdown(pid)
    out["kioskd_sections"] = sections_resident(pid, kioskd)
finally:
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)

# Chromium, if Debian's package is installed: headless to a screenshot, and as a kiosk browser
# (--kiosk, the real browser UI full-screen; Ozone's headless platform stands in for the display)
# to the first paint of the same page, which reports it through the Paint Timing API.
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if chromium:
    page_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "home.html")
    shot = os.path.join(tempfile.mkdtemp(), "home.png")
    t0 = time.perf_counter()
    p = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1024,768",
                          f"--screenshot={shot}", "file://" + page_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        if os.path.exists(shot) and "chromium_startup_ms" not in out:
            out["chromium_startup_ms"] = (time.perf_counter() - t0) * 1000
        time.sleep(0.02)
    out.setdefault("chromium_startup_ms", (time.perf_counter() - t0) * 1000)
    out["chromium_rss_peak_kib"] = peak

    import http.server, threading
    beacon = ("<script>new PerformanceObserver(function(l){for(const e of l.getEntries()){if(e.name==='first-paint')"
              "{navigator.sendBeacon('/painted',String(performance.timeOrigin+e.startTime))}}})"
              ".observe({type:'paint',buffered:true})</script>")
    page = open(page_path, encoding="utf-8").read().replace("</html>", beacon + "</html>").encode()
    painted = {}

    class Page(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            painted["epoch_ms"] = float(self.rfile.read(n))
            self.send_response(204)
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp()
    start_epoch = time.time()
    p = subprocess.Popen([chromium, "--kiosk", "--ozone-platform=headless", "--no-sandbox", "--no-first-run",
                          "--disable-gpu", "--window-size=1024,768", f"--user-data-dir={profile}",
                          f"http://127.0.0.1:{srv.server_port}/home.html"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    try:
        while "epoch_ms" not in painted and time.time() - start_epoch < 60 and p.poll() is None:
            peak = max(peak, tree_rss_kib(p.pid))
            time.sleep(0.02)
        if "epoch_ms" in painted:
            out["chromium_kiosk_first_paint_ms"] = painted["epoch_ms"] - start_epoch * 1000
            end = time.time() + 1
            while time.time() < end:
                peak = max(peak, tree_rss_kib(p.pid))
                time.sleep(0.05)
            out["chromium_kiosk_rss_peak_kib"] = peak
        else:
            out["chromium_kiosk_error"] = "chromium --kiosk reported no first paint within 60 s"
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        srv.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
else:
    out["chromium_error"] = "chromium not installed (apt-get install chromium)"

print(json.dumps(out, sort_keys=True))
