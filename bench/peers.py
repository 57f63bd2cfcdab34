#!/usr/bin/env python3
"""Peers measured in the same run as kiosk-bench: durable enqueue with persist-queue and
litequeue on the same disk, and the same receipt through python-escpos. Prints JSON."""
import json, os, sys, tempfile, time

out = {}
root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="kiosk-peers-")
payload = json.dumps({"itemCode": "c", "itemName": "n", "applicant": "x" * 200})
N = 300

try:
    import persistqueue
    q = persistqueue.SQLiteQueue(os.path.join(root, "pq"), auto_commit=True)
    t0 = time.perf_counter()
    for _ in range(N):
        q.put(payload)
    out["persistqueue_enqueue_per_s"] = N / (time.perf_counter() - t0)
except Exception as e:  # report, never fail
    out["persistqueue_error"] = str(e)

try:
    from litequeue import LiteQueue
    q = LiteQueue(os.path.join(root, "lq.sqlite3"))
    t0 = time.perf_counter()
    for _ in range(N):
        q.put(payload)
    out["litequeue_enqueue_per_s"] = N / (time.perf_counter() - t0)
except Exception as e:
    out["litequeue_error"] = str(e)

try:
    from escpos.printer import Dummy
    def receipt():
        p = Dummy()
        p.set(align="center", double_height=True, double_width=True)
        p.text("受理回执\n")
        p.set(align="center")
        p.text("襄垣县古韩镇综合便民服务中心\n")
        p.set(align="left")
        p.text("-" * 48 + "\n")
        for k, v in [("办件编号", "GH202611230001"), ("申请人", "测**"), ("证件号码", "1101**********0016"),
                     ("联系电话", "138****0000"), ("提交时间", "2026-11-23 20:30:44")]:
            p.text(k + " " * 8 + v + "\n")
        p.text("事项：城乡居民基本养老保险变更登记（性别、民族、居住地址、联系电话变更）\n")
        p.text("-" * 48 + "\n")
        p.qr("GH202611230001", native=True, size=6)
        p.set(align="center")
        p.text("请妥善保管本回执\n")
        p.cut(mode="PART")
        return p.output
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        b = receipt()
    out["python_escpos_encode_us"] = (time.perf_counter() - t0) / n * 1e6
    out["python_escpos_bytes"] = len(b)
except Exception as e:
    out["python_escpos_error"] = str(e)

print(json.dumps(out, sort_keys=True))
