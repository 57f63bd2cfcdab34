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

def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

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
    time.sleep(idle_seconds)
    out["kioskd_idle_cpu_percent"] = (cpu_seconds(pid) - c0) / idle_seconds * 100
    out["kioskd_rss_steady_kib"] = tree_rss_kib(pid)
    out["kioskd_threads"] = len(os.listdir(f"/proc/{pid}/task"))
    out["kioskd_smaps"] = smaps_breakdown(pid)
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
