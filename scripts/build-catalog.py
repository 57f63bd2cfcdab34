#!/usr/bin/env python3
"""Build kiosk-config/catalog.json from seed 001 (襄政办发〔2021〕49号).

The seed is a plain-text export of a Word document. Its two attachments are tables
(附件1 镇级 99 items, 附件2 村级 43 items) laid out one cell per line:

    \t<序号>
    \t<事项名称>          <- a long name may wrap: the rest follows on a line
    <continuation>           WITHOUT a leading tab; it is joined with no space
    \t<事项类型>
    \t<办理方式>          <- often blank in 附件1
    \t<备注>              <- always blank in this seed (may be missing on the last row)
    <blank line>             ends the row

Usage: scripts/build-catalog.py [--seed PATH] [--out PATH]
Standard library only. Deterministic: the same seed always gives the same file.
"""

import argparse
import json
import os
import re
import sys
from collections import Counter, OrderedDict

SEED_NAME = "001_333d64b663416e61.txt"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEEDS = [
    os.path.join(os.path.dirname(REPO), "shared", "seeds", SEED_NAME),
    os.path.join("/work/shared/seeds", SEED_NAME),
]
DEFAULT_OUT = os.path.join(REPO, "kiosk-config", "catalog.json")

EXPECTED = {"town": 99, "village": 43}
LEVEL_LETTER = {"town": "T", "village": "V"}
SECTION_MARK = {"附件1": "town", "附件2": "village"}
HEADER = ["序号", "事项名称", "事项类型", "办理方式", "备注"]

# Shown when the seed's 办理方式 cell is blank (the kiosk must not guess one).
HANDLING_BLANK = "清单未注明"

# Resident-facing categories, in the order a kiosk lists them, each with the
# keywords that select it. Rules are tried top to bottom, first match wins, so
# the order matters (e.g. "退役士兵生活补助" is 退役军人 before 社会救助,
# "被征地农民保费" is 社保医保 before 农业农村, "伤残军人残疾关系" is 退役军人
# before 残疾人服务). The seed names no responsible department per item, so the
# category comes from the item name alone.
CATEGORY_RULES = [
    ("退役军人", ["退役", "退伍", "军人", "烈士", "优抚", "抚恤", "伤残", "参战", "兵役", "光荣院"]),
    ("残疾人服务", ["残疾", "辅助器具", "辅具", "轮椅", "无障碍"]),
    ("社保医保", ["养老保险", "社会养老", "养老金", "参保", "社保", "社会保障卡", "医疗保险",
              "退休人员", "丧葬", "退保", "被征地", "到龄"]),
    ("就业创业", ["就业", "失业", "职业", "创业", "求职", "技能培训", "劳动力"]),
    ("婚姻生育", ["婚", "生育", "计划生育", "收养", "子女证明", "抚养费", "孕前", "病残儿", "药具"]),
    ("农业农村", ["蓄滞洪", "土地", "承包", "耕地", "林", "畜禽", "农业", "煤改", "改厕",
              "一事一议", "征地", "退耕", "造林"]),
    ("住房保障", ["住房", "危房", "民房", "业主委员会"]),
    ("社会救助", ["低保", "最低生活保障", "低收入", "救助", "特困", "五保", "孤儿", "高龄",
              "敬老院", "慈善", "失能", "流浪乞讨", "供养"]),
]
CATEGORY_FALLBACK = "其他服务"
CATEGORY_ORDER = ["社会救助", "社保医保", "就业创业", "婚姻生育", "残疾人服务", "退役军人",
                  "农业农村", "住房保障", CATEGORY_FALLBACK]


def fail(msg):
    sys.stderr.write("build-catalog: error: " + msg + "\n")
    sys.exit(1)


def category_for(name):
    for cat, words in CATEGORY_RULES:
        if any(w in name for w in words):
            return cat
    return CATEGORY_FALLBACK


def document_title(lines):
    """文号 (first non-blank line) and the notice title (the lines after the issuer up to 的通知)."""
    doc_no = next((l.strip() for l in lines if l.strip()), "")
    title, collecting = "", False
    for l in lines[:20]:
        s = l.strip()
        if s.startswith("关于"):
            collecting = True
        if collecting:
            title += s
            if s.endswith("通知"):
                break
    issuer = ""
    for i, l in enumerate(lines[:20]):
        if l.strip().startswith("关于") and i > 0:
            issuer = lines[i - 1].strip()
            break
    return doc_no, issuer, title


def split_sections(lines):
    """Return {level: [lines of that attachment's table]} keyed by the bare 附件1 / 附件2 marks."""
    marks = [(i, SECTION_MARK[l.strip()]) for i, l in enumerate(lines) if l.strip() in SECTION_MARK]
    if [lv for _, lv in marks] != ["town", "village"]:
        fail("expected exactly one bare '附件1' line followed by one bare '附件2' line, found %r" % marks)
    out = {}
    for n, (start, level) in enumerate(marks):
        end = marks[n + 1][0] if n + 1 < len(marks) else len(lines)
        out[level] = lines[start + 1:end]
    return out


def parse_rows(section, level):
    """Group tab-led cell lines into rows; join untabbed continuation lines to the previous cell."""
    rows, row, title, wrapped = [], [], None, []
    for raw in section + [""]:
        if not raw.startswith("\t") and raw.strip() == "":
            # a blank (or whitespace-only, untabbed) line ends the row; a lone tab is an empty cell
            if row:
                rows.append(row)
                row = []
            continue
        if raw.startswith("\t"):
            row.append(raw[1:].strip())
        elif row:
            # line-wrapped cell: join with no added space
            wrapped.append((row[-1], raw.strip()))
            row[-1] = row[-1] + raw.strip()
        else:
            fail("%s table: text outside any cell: %r" % (level, raw))
    # first row is the table title, second the header
    if len(rows) < 3 or len(rows[0]) != 1:
        fail("%s table: expected a one-cell title row, got %r" % (level, rows[:1]))
    title = rows[0][0]
    if rows[1] != HEADER:
        fail("%s table: unexpected header %r (want %r)" % (level, rows[1], HEADER))
    body = []
    for r in rows[2:]:
        if len(r) == 4:  # the very last row of 附件2 has no 备注 cell
            r = r + [""]
        if len(r) != 5:
            fail("%s table: row does not have 5 cells: %r" % (level, r))
        if not re.fullmatch(r"\d+", r[0]):
            fail("%s table: 序号 is not a number: %r" % (level, r))
        body.append(r)
    return title, body, wrapped


def build(seed_path):
    with open(seed_path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    doc_no, issuer, title = document_title(lines)
    sections = split_sections(lines)

    items, tables, wraps = [], {}, []
    for level in ("town", "village"):
        table_title, body, wrapped = parse_rows(sections[level], level)
        tables[level] = table_title
        wraps += [(level, a, b) for a, b in wrapped]
        seqs = [int(r[0]) for r in body]
        if seqs != list(range(1, EXPECTED[level] + 1)):
            fail("%s table: serial numbers are not 1..%d in order: %r" % (level, EXPECTED[level], seqs))
        for r in body:
            seq, name, typ, handling, remark = int(r[0]), r[1], r[2], r[3], r[4]
            if not name or not typ:
                fail("%s item %d: blank name or type: %r" % (level, seq, r))
            item = OrderedDict()
            item["code"] = "XY-%s-%03d" % (LEVEL_LETTER[level], seq)
            item["name"] = name
            item["type"] = typ
            item["level"] = level
            item["handling"] = handling or HANDLING_BLANK
            item["category"] = category_for(name)
            # the seed gives no responsible department per item: "department" is omitted
            if remark:
                item["remark"] = remark
            item["seq"] = seq
            items.append(item)

    counts = Counter(i["level"] for i in items)
    for level, n in EXPECTED.items():
        if counts[level] != n:
            fail("%s: %d items parsed, the seed announces %d" % (level, counts[level], n))

    categories = OrderedDict()
    for level in ("town", "village"):
        c = Counter(i["category"] for i in items if i["level"] == level)
        categories[level] = [OrderedDict([("name", k), ("count", c[k])]) for k in CATEGORY_ORDER if c[k]]

    out = OrderedDict()
    out["source"] = "%s：%s《%s》%s %s（附件1 %d项、附件2 %d项）" % (
        os.path.basename(seed_path), issuer, title, doc_no, "；".join([tables["town"], tables["village"]]),
        EXPECTED["town"], EXPECTED["village"])
    out["codeNote"] = ("事项编码为本项目自编的本地编码（XY=襄垣，T=镇级，V=村级，后接清单序号），"
                       "不是官方事项编码；正式部署以上游平台下发的事项编码为准。")
    out["handlingNote"] = ("handling 为清单“办理方式”一栏原文；原文为空的写作“%s”，"
                           "界面应显示“办理方式以窗口告知为准”。" % HANDLING_BLANK)
    out["categoryNote"] = ("category 为本项目按事项名称关键词归纳的便民分类（见 scripts/build-catalog.py），"
                           "非官方分类；清单未列责任部门，故不含 department 字段。")
    out["categories"] = categories
    out["items"] = items
    return out, wraps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", help="path of %s" % SEED_NAME)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    seed = args.seed or next((p for p in DEFAULT_SEEDS if os.path.exists(p)), None)
    if not seed or not os.path.exists(seed):
        fail("seed not found (tried %s); pass --seed" % (args.seed or ", ".join(DEFAULT_SEEDS)))
    catalog, wraps = build(seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(catalog, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    items = catalog["items"]
    print("wrote %s: %d items (%d town, %d village)" % (
        args.out, len(items), sum(i["level"] == "town" for i in items), sum(i["level"] == "village" for i in items)))
    for level, cats in catalog["categories"].items():
        print("  %s: %s" % (level, ", ".join("%s %d" % (c["name"], c["count"]) for c in cats)))
    for level, a, b in wraps:
        print("  joined wrapped name (%s): %s + %s" % (level, a, b))


if __name__ == "__main__":
    main()
