#!/usr/bin/env python3
"""Check kiosk-config/catalog.json (and the sample guides) against seed 001.

Asserts: 99 town + 43 village items with serial numbers 1..N; unique, well-formed codes;
no empty fields; every name verbatim in the seed once line-wrapped cells are joined (and in
the row with the same 序号, type and 办理方式); per-type totals equal to the seed's own summary
sentence; at most 9 categories per level; every guide in kiosk-config/guides is marked as a
sample (sample: true, the fixed sampleNotice, free-text elements starting with 【示例】), has every
guide element (caseKind 即办件/承诺件, window, complaintPhone, applicationSample
included), materials, process steps and faq answers marked 示例, no claim of a kiosk function the
kiosk lacks (payment, kiosk printing), 1-3 materials to photograph, a shortVersion of at most 120 characters, a fake phone
number and an example.invalid URL, and names an item of the catalog with the catalog's name and type.

Usage: scripts/check-catalog.py [--seed PATH] [--catalog PATH] [--guides DIR]
Exits 0 when everything holds, 1 with one line per problem otherwise. Standard library only.
"""

import argparse
import json
import os
import re
import sys
from collections import Counter

SEED_NAME = "001_333d64b663416e61.txt"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEEDS = [
    os.path.join(os.path.dirname(REPO), "shared", "seeds", SEED_NAME),
    os.path.join("/work/shared/seeds", SEED_NAME),
]
EXPECTED = {"town": 99, "village": 43}
LETTER = {"town": "T", "village": "V"}
MARK = {"town": "附件1", "village": "附件2"}
SUMMARY_LABEL = {"town": "镇级服务事项", "village": "村级服务事项"}
HANDLING_BLANK = "清单未注明"
MAX_CATEGORIES = 9
ITEM_KEYS = ["code", "name", "type", "level", "handling", "category", "seq"]
GUIDE_STRING_KEYS = ["code", "name", "type", "caseKind", "implementer", "window", "complaintPhone", "applicationSample", "legalBasis", "conditions", "legalTimeLimit",
                     "promisedTimeLimit", "fee", "feeBasis", "location", "hours", "onlineURL", "resultName",
                     "delivery", "consultPhone", "complaint", "shortVersion", "plainVersion", "sampleNotice"]
SAMPLE_NOTICE = "示例内容，仅供演示，以窗口告知为准"
SAMPLE_MARK = "【示例】"
MATERIAL_FORMS = {"原件", "复印件", "电子件"}
CASE_KINDS = {"即办件", "承诺件"}
# Kiosk functions a sample guide must not offer (the kiosk takes no payment; printing may be off).
CLAIMS_THE_KIOSK_LACKS = ["一体机缴费", "一体机支付", "一体机上缴费", "本机缴费", "本机支付", "扫码支付", "一体机打印",
                          "在一体机打印", "本机打印", "机器上自己打印", "一体机可24小时", "一体机自助取件"]

errors = []


def err(msg):
    errors.append(msg)


def joined_seed(text):
    """Join every untabbed, non-blank line onto the previous line (a wrapped table cell)."""
    out = []
    for line in text.split("\n"):
        if out and line.strip() and not line.startswith("\t") and out[-1].startswith("\t"):
            out[-1] += line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def section(joined, level):
    lines = joined.split("\n")
    starts = [i for i, l in enumerate(lines) if l.strip() == MARK[level]]
    if len(starts) != 1:
        err("seed: expected one bare %s line, found %d" % (MARK[level], len(starts)))
        return ""
    rest = lines[starts[0] + 1:]
    if level == "town":
        rest = rest[:next((i for i, l in enumerate(rest) if l.strip() == MARK["village"]), len(rest))]
    return "\n" + "\n".join(rest) + "\n"


def seed_summary(text, level):
    """'镇级服务事项99项（含公共服务51项、…）' -> (99, {'公共服务': 51, …})."""
    m = re.search(SUMMARY_LABEL[level] + r"(\d+)项（含([^）]*)）", text)
    if not m:
        return None, {}
    parts = dict((k, int(v)) for k, v in re.findall(r"([^、\d]+?)(\d+)项", m.group(2)))
    return int(m.group(1)), parts


def norm_type(t):
    # the seed's tables spell this type both ways; its summary uses 其他行政权力
    return "其他行政权力" if t == "其他权力" else t


def check_catalog(catalog, seed_text):
    joined = joined_seed(seed_text)
    items = catalog.get("items")
    if not isinstance(items, list):
        err("catalog: no items list")
        return {}
    for key in ("source", "codeNote"):
        if not str(catalog.get(key, "")).strip():
            err("catalog: top-level %r missing or empty" % key)

    for n, it in enumerate(items):
        where = "item #%d (%s)" % (n, it.get("code", "?"))
        for k in ITEM_KEYS:
            v = it.get(k)
            if v is None or (isinstance(v, str) and not v.strip()):
                err("%s: field %r missing or empty" % (where, k))
        for k, v in it.items():
            if isinstance(v, str) and v.strip() and v != v.strip():
                err("%s: field %r has surrounding whitespace: %r" % (where, k, v))
            elif isinstance(v, str) and not v.strip() and k not in ITEM_KEYS:
                err("%s: field %r is empty" % (where, k))
        if it.get("level") not in EXPECTED:
            err("%s: level %r is not town/village" % (where, it.get("level")))
            continue
        want = "XY-%s-%03d" % (LETTER[it["level"]], it.get("seq", -1) if isinstance(it.get("seq"), int) else -1)
        if it.get("code") != want:
            err("%s: code should be %s (level %s, seq %r)" % (where, want, it["level"], it.get("seq")))

    codes = Counter(it.get("code") for it in items)
    for c, k in codes.items():
        if k > 1:
            err("catalog: code %s appears %d times" % (c, k))

    by_level = {}
    for level, n in EXPECTED.items():
        lv = [it for it in items if it.get("level") == level]
        by_level[level] = lv
        if len(lv) != n:
            err("catalog: %d %s items, the seed lists %d" % (len(lv), level, n))
        seqs = [it.get("seq") for it in lv]
        if seqs != list(range(1, n + 1)):
            err("catalog: %s serial numbers are not 1..%d in seed order" % (level, n))
        cats = []
        for it in lv:
            if it.get("category") not in cats:
                cats.append(it.get("category"))
        if len(cats) > MAX_CATEGORIES:
            err("catalog: %s has %d categories (max %d): %s" % (level, len(cats), MAX_CATEGORIES, cats))

        sec = section(joined, level)
        for it in lv:
            name = it.get("name", "")
            if "\t" + name + "\n" not in joined:
                err("%s: name %r does not appear verbatim as a cell of the seed" % (it.get("code"), name))
                continue
            handling = "" if it.get("handling") == HANDLING_BLANK else it.get("handling", "")
            row = "\n\t%s\n\t%s\n\t%s\n\t%s\n" % (it.get("seq"), name, it.get("type"), handling)
            if row not in sec:
                err("%s: no row '%s | %s | %s | %s' in the seed's %s table"
                    % (it.get("code"), it.get("seq"), name, it.get("type"), handling or "(blank)", MARK[level]))

        total, parts = seed_summary(seed_text, level)
        if total is None:
            err("seed: summary sentence for %s not found" % level)
        else:
            if total != n:
                err("seed summary says %d %s items, expected %d" % (total, level, n))
            got = Counter(norm_type(it.get("type")) for it in lv)
            want_parts = Counter({norm_type(k): v for k, v in parts.items()})
            if got != want_parts:
                err("catalog: %s type totals %s differ from the seed summary %s"
                    % (level, dict(got), dict(want_parts)))
    return {it["code"]: it for it in items if "code" in it}


def cjk_len(s):
    return sum(1 for ch in s if not ch.isspace())


def check_guides(gdir, by_code):
    if not os.path.isdir(gdir):
        return 0
    n = 0
    for fn in sorted(os.listdir(gdir)):
        if not fn.endswith(".json"):
            continue
        n += 1
        path = os.path.join(gdir, fn)
        try:
            with open(path, encoding="utf-8") as f:
                g = json.load(f)
        except (OSError, ValueError) as e:
            err("guide %s: not valid JSON (%s)" % (fn, e))
            continue
        code = g.get("code")
        if fn != "%s.json" % code:
            err("guide %s: file name does not match code %r" % (fn, code))
        item = by_code.get(code)
        if item is None:
            err("guide %s: code %r is not in the catalog" % (fn, code))
        else:
            for k in ("name", "type"):
                if g.get(k) != item.get(k):
                    err("guide %s: %s %r differs from the catalog's %r" % (fn, k, g.get(k), item.get(k)))
        if g.get("sample") is not True:
            err("guide %s: \"sample\": true is required (no sourced guides ship with the demo)" % fn)
        if g.get("sampleNotice") != SAMPLE_NOTICE:
            err("guide %s: sampleNotice must be %r" % (fn, SAMPLE_NOTICE))
        for k in GUIDE_STRING_KEYS:
            v = g.get(k)
            if not isinstance(v, str) or not v.strip():
                err("guide %s: %r missing or empty" % (fn, k))
        for k in GUIDE_STRING_KEYS:
            if k not in ("code", "name", "type", "caseKind", "sampleNotice", "onlineURL", "consultPhone",
                         "complaintPhone") \
                    and not str(g.get(k, "")).startswith(SAMPLE_MARK):
                err("guide %s: %r must start with %s so the screen shows it is sample text" % (fn, k, SAMPLE_MARK))
        if g.get("caseKind") not in CASE_KINDS:
            err("guide %s: caseKind (办件类型) must be one of %s" % (fn, sorted(CASE_KINDS)))
        for k in ("consultPhone", "complaintPhone"):
            if "示例" not in str(g.get(k, "")):
                err("guide %s: %r must say it is a sample number (示例号码)" % (fn, k))
        for i, step in enumerate(g.get("process") or []):
            if not str(step).startswith(SAMPLE_MARK):
                err("guide %s: process step %d must start with %s" % (fn, i + 1, SAMPLE_MARK))
        for x in g.get("faq") or []:
            if isinstance(x, dict) and "示例" not in str(x.get("a", "")):
                err("guide %s: faq answer to %r must be marked 示例" % (fn, x.get("q")))
        claims_text = json.dumps(g, ensure_ascii=False)
        for claim in CLAIMS_THE_KIOSK_LACKS:
            if claim in claims_text:
                err("guide %s: claims a kiosk function the kiosk lacks (%s)" % (fn, claim))
        if not isinstance(g.get("visits"), int) or isinstance(g.get("visits"), bool) or g["visits"] < 0:
            err("guide %s: visits must be a non-negative integer" % fn)
        if not (isinstance(g.get("process"), list) and g["process"] and all(isinstance(s, str) and s.strip() for s in g["process"])):
            err("guide %s: process must be a non-empty list of steps" % fn)
        faq = g.get("faq")
        if not (isinstance(faq, list) and faq and all(isinstance(x, dict) and str(x.get("q", "")).strip() and str(x.get("a", "")).strip() for x in faq)):
            err("guide %s: faq must be a non-empty list of {q, a}" % fn)
        mats = g.get("materials")
        if not (isinstance(mats, list) and mats):
            err("guide %s: materials must be a non-empty list" % fn)
            mats = []
        photo = 0
        for m in mats:
            for k in ("name", "form", "requirements"):
                if not str(m.get(k, "")).strip():
                    err("guide %s: material %r: %r missing or empty" % (fn, m.get("name"), k))
            if not str(m.get("requirements", "")).startswith(SAMPLE_MARK):
                err("guide %s: material %r: requirements must start with %s" % (fn, m.get("name"), SAMPLE_MARK))
            if m.get("form") not in MATERIAL_FORMS:
                err("guide %s: material %r: form must be one of %s" % (fn, m.get("name"), sorted(MATERIAL_FORMS)))
            if not isinstance(m.get("copies"), int) or isinstance(m.get("copies"), bool) or m["copies"] < 1:
                err("guide %s: material %r: copies must be a positive integer" % (fn, m.get("name")))
            if not isinstance(m.get("photograph"), bool):
                err("guide %s: material %r: photograph must be true/false" % (fn, m.get("name")))
            photo += m.get("photograph") is True
        if not 1 <= photo <= 3:
            err("guide %s: %d materials to photograph (want 1-3)" % (fn, photo))
        sv = g.get("shortVersion") or ""
        if cjk_len(sv) > 120:
            err("guide %s: shortVersion has %d characters (max 120)" % (fn, cjk_len(sv)))
        for k in ("consultPhone",):
            if "0000000" not in str(g.get(k, "")):
                err("guide %s: %s should be an obviously fake number like 0355-0000000" % (fn, k))
        if not str(g.get("onlineURL", "")).startswith("https://example.invalid/"):
            err("guide %s: onlineURL should be under https://example.invalid/" % fn)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed")
    ap.add_argument("--catalog", default=os.path.join(REPO, "kiosk-config", "catalog.json"))
    ap.add_argument("--guides", default=os.path.join(REPO, "kiosk-config", "guides"))
    args = ap.parse_args()
    seed = args.seed or next((p for p in DEFAULT_SEEDS if os.path.exists(p)), None)
    if not seed or not os.path.exists(seed):
        print("check-catalog: FAIL: seed not found (tried %s); pass --seed" % (args.seed or ", ".join(DEFAULT_SEEDS)))
        return 1
    try:
        with open(seed, encoding="utf-8") as f:
            seed_text = f.read()
        with open(args.catalog, encoding="utf-8") as f:
            catalog = json.load(f)
    except (OSError, ValueError) as e:
        print("check-catalog: FAIL: %s (run scripts/build-catalog.py first?)" % e)
        return 1
    by_code = check_catalog(catalog, seed_text)
    n_guides = check_guides(args.guides, by_code)
    if errors:
        for e in errors:
            print("check-catalog: FAIL: " + e)
        print("check-catalog: %d problem(s)" % len(errors))
        return 1
    items = catalog["items"]
    print("check-catalog: OK: %d town + %d village items, %d unique codes, names verbatim in %s, %d sample guide(s)"
          % (sum(i["level"] == "town" for i in items), sum(i["level"] == "village" for i in items),
             len(by_code), os.path.basename(seed), n_guides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
