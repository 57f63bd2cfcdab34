#!/usr/bin/env python3
"""Checks the shipped monitoring files against the kiosk's real metrics.

Every kiosk_* name in the alert rules (packaging/monitoring/kiosk-alerts.yml) and in the Grafana
dashboard (kiosk-fleet-dashboard.json) must be a metric kioskd exports (the labels in
Sources/KioskApp/Admin/Metrics.swift); the dashboard must be valid JSON with a query in every
panel; every metric an alert uses must also be on the dashboard. promtool checks the rules'
syntax and behaviour separately (scripts/run-tests.sh)."""
import json
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
mon = root / "packaging" / "monitoring"
errors = []

source = (root / "Sources/KioskApp/Admin/Metrics.swift").read_text()
metrics = set()
for kind, name in re.findall(r'Metrics\.(Counter|Gauge|Timer)\(\s*label: "([a-z_]+)"', source):
    if kind == "Timer":
        metrics |= {name + "_bucket", name + "_sum", name + "_count"}
    else:
        metrics.add(name)
if len(metrics) < 10:
    errors.append(f"found only {len(metrics)} metric labels in Metrics.swift; has the file moved?")

def names(expr):
    return set(re.findall(r"\b(kiosk_[a-z0-9_]+)\b", expr))

rules = (mon / "kiosk-alerts.yml").read_text()
alert_exprs = re.findall(r"^\s*expr:\s*(.+)$", rules, re.M)
alerts = re.findall(r"^\s*- alert:\s*(\S+)", rules, re.M)
if len(alert_exprs) != len(alerts) or not alerts:
    errors.append(f"kiosk-alerts.yml: {len(alerts)} alerts but {len(alert_exprs)} expr lines")
for want in ["KioskDown", "KioskDeviceOutOfService", "KioskQueueStale", "KioskDiskBelowFloor",
             "KioskSubmissionQuarantined", "KioskOutboxKeyAlarm"]:
    if want not in alerts:
        errors.append(f"kiosk-alerts.yml: alert {want} is missing")
alert_metrics = set()
for expr in alert_exprs:
    for n in names(expr):
        alert_metrics.add(n)
        if n not in metrics:
            errors.append(f"kiosk-alerts.yml: {n} is not a metric kioskd exports")

try:
    dash = json.loads((mon / "kiosk-fleet-dashboard.json").read_text())
except json.JSONDecodeError as e:
    errors.append(f"kiosk-fleet-dashboard.json is not valid JSON: {e}")
    dash = {"panels": []}
for key in ["uid", "title", "panels"]:
    if key not in dash:
        errors.append(f"kiosk-fleet-dashboard.json: no {key}")
ids = [p.get("id") for p in dash.get("panels", [])]
if len(ids) != len(set(ids)):
    errors.append("kiosk-fleet-dashboard.json: panel ids repeat")
dash_metrics = set()
for p in dash.get("panels", []):
    targets = p.get("targets") or []
    if not targets or not all(t.get("expr") for t in targets):
        errors.append(f"dashboard panel {p.get('title')!r} has no query")
    if "gridPos" not in p:
        errors.append(f"dashboard panel {p.get('title')!r} has no gridPos")
    for t in targets:
        for n in names(t.get("expr", "")):
            dash_metrics.add(n)
            if n not in metrics:
                errors.append(f"dashboard panel {p.get('title')!r}: {n} is not a metric kioskd exports")
for n in sorted(alert_metrics - dash_metrics):
    errors.append(f"dashboard does not show {n}, which an alert uses")

if errors:
    for e in errors:
        print("check-monitoring:", e, file=sys.stderr)
    sys.exit(1)
print(f"check-monitoring: {len(alerts)} alerts and {len(ids)} dashboard panels use only the kiosk's {len(metrics)} metrics")
