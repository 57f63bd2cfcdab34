#!/usr/bin/env python3
"""Start-up to first drawn screen and RSS for kioskd (in tmux, simulated devices) and for a
headless Chromium showing a comparable home page; kioskd's CPU while idle. Prints JSON."""
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
finally:
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)

# Chromium, if Debian's package is installed
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if chromium:
    page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "home.html")
    shot = os.path.join(tempfile.mkdtemp(), "home.png")
    t0 = time.perf_counter()
    p = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1024,768",
                          f"--screenshot={shot}", "file://" + page], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        peak = max(peak, tree_rss_kib(p.pid))
        if os.path.exists(shot) and "chromium_startup_ms" not in out:
            out["chromium_startup_ms"] = (time.perf_counter() - t0) * 1000
        time.sleep(0.02)
    out.setdefault("chromium_startup_ms", (time.perf_counter() - t0) * 1000)
    out["chromium_rss_peak_kib"] = peak
else:
    out["chromium_error"] = "chromium not installed (apt-get install chromium)"

print(json.dumps(out, sort_keys=True))
