#!/usr/bin/env python3
"""Peers measured in the same run as kiosk-bench: enqueue with persist-queue and litequeue on the
same disk, with their default SQLite settings and with synchronous=FULL (durable against durable),
and the same receipt through python-escpos. Prints JSON."""
import json, os, sqlite3, sys, tempfile, time

out = {}
root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="kiosk-peers-")
payload = json.dumps({"itemCode": "c", "itemName": "n", "applicant": "x" * 200})
N = 300

def full_sync(q):
    """synchronous=FULL on every SQLite connection the queue holds (a durable commit per put, as
    the kiosk's outbox does); returns the synchronous levels now in force."""
    levels = []
    for v in vars(q).values():
        if isinstance(v, sqlite3.Connection):
            v.execute("PRAGMA synchronous=FULL")
            levels.append(v.execute("PRAGMA synchronous").fetchone()[0])
    if not levels:
        raise RuntimeError("found no sqlite3 connection on the queue to set synchronous=FULL")
    return levels


def enqueue_rate(q):
    t0 = time.perf_counter()
    for _ in range(N):
        q.put(payload)
    return N / (time.perf_counter() - t0)


try:
    import persistqueue
    out["persistqueue_enqueue_per_s"] = enqueue_rate(persistqueue.SQLiteQueue(os.path.join(root, "pq"), auto_commit=True))
    q = persistqueue.SQLiteQueue(os.path.join(root, "pq-full"), auto_commit=True, multithreading=False)
    out["persistqueue_synchronous"] = full_sync(q)
    out["persistqueue_full_enqueue_per_s"] = enqueue_rate(q)
except Exception as e:  # report, never fail
    out["persistqueue_error"] = f"persist-queue: {e}"

try:
    from litequeue import LiteQueue
    out["litequeue_enqueue_per_s"] = enqueue_rate(LiteQueue(os.path.join(root, "lq.sqlite3")))
    q = LiteQueue(os.path.join(root, "lq-full.sqlite3"))
    out["litequeue_synchronous"] = full_sync(q)
    out["litequeue_full_enqueue_per_s"] = enqueue_rate(q)
except Exception as e:
    out["litequeue_error"] = f"litequeue: {e}"

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
