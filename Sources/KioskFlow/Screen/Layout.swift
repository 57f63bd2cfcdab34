import Foundation
import KioskCore
import KioskProtocols

// Every resident-facing string goes through L(…): the Chinese text is the key of the string
// table (Strings.swift), which holds its English. Catalog data (item names, guide content) is
// shown as published, in Chinese.

extension FlowMachine {
    /// A date in the station's time zone (defaults to now).
    func timestamp(_ format: String, _ date: Date? = nil) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = settings.timeZone
        f.dateFormat = format
        return f.string(from: date ?? now)
    }

    static let guideLinesPerPage = 11
    var guideLinesPerPage: Int { largeMode ? 8 : Self.guideLinesPerPage }

    func kindName(_ k: DeviceKind) -> String { L(k.chinese) }
    func stateName(_ s: DeviceState) -> String { L(s.chinese) }

    var deviceLine: String {
        let kinds: [DeviceKind] = [.idCardReader, .documentCamera, .receiptPrinter]
        let parts = kinds.map { k -> String in
            guard let d = device(k) else { return "\(kindName(k)) \(L("未连接"))" }
            var s = "\(kindName(k)) \(stateName(d.state))"
            if k == .receiptPrinter, d.paper == .out { s = "\(kindName(k)) \(L("缺纸"))" }
            if k == .receiptPrinter, d.paper == .low, d.state == .online { s += L("(纸将尽)") }
            return s
        }
        let ready = kinds.allSatisfy { $0 == .receiptPrinter ? receiptPrinterReady : usable($0) }
        return (ready ? L("设备就绪：") : L("设备状态：")) + parts.joined(separator: "  ")
    }

    /// The controls every resident screen offers: help and the other language.
    var residentControls: [Hint] {
        [Hint(L("H 求助"), .char("h")), Hint(language == .zh ? "L English" : "L 中文", .char("l"), gap: 2)]
    }

    /// Hints from one string of the table (parts separated by two or more spaces, in both languages)
    /// and the key each part stands for, in order (nil: words only, like "1-5 选择").
    func hints(_ text: String, _ keys: Key?...) -> [Hint] {
        var out: [Hint] = []
        var part = ""
        var spaces = 0
        var gap = 3
        for ch in text {
            if ch == " " {
                spaces += 1
                continue
            }
            if spaces >= 2, !part.isEmpty {
                out.append(Hint(part, out.count < keys.count ? keys[out.count] : nil, gap: gap))
                part = ""
                gap = spaces
            } else if spaces == 1, !part.isEmpty {
                part += " "
            }
            spaces = 0
            part.append(ch)
        }
        if !part.isEmpty { out.append(Hint(part, out.count < keys.count ? keys[out.count] : nil, gap: gap)) }
        return out
    }

    /// The hint row: parts spaced as written, each keyed part a tap target.
    func hintRow(_ hints: [Hint], width w: Int) -> ScreenLine {
        var text = ""
        var targets: [TapTarget] = []
        for h in hints {
            if !text.isEmpty { text += String(repeating: " ", count: h.gap) }
            let start = DisplayWidth.of(text)
            text += h.text
            if let k = h.key, start < w {
                targets.append(TapTarget(columns: start..<min(w, DisplayWidth.of(text)), key: k))
            }
        }
        return ScreenLine(DisplayWidth.truncate(text, columns: w), largeMode ? .bold : .normal, targets: targets)
    }

    /// A rule across the screen: box drawing (─, and ═ in large mode), never ASCII dashes.
    func rule(_ w: Int) -> ScreenLine { ScreenLine(String(repeating: largeMode ? "═" : "─", count: w)) }

    /// Grids shorter than this (large mode on the kiosk's display: 55×16 or 53×15 where normal is
    /// 80×24) drop the device line, the rule under it and the blank line under the title (the
    /// station row and, in large mode, the title are in inverse video), and the blank lines
    /// between options when the body would not fit otherwise.
    static let compactBelowRows = 20

    /// The hint row, or two rows when the hints do not fit one (a small grid, English): each hint
    /// whole on the first row that has room, so every keyed hint stays on screen and tappable.
    func hintRows(_ hints: [Hint], width w: Int) -> [ScreenLine] {
        let one = hintRow(hints, width: w + 1000)
        if DisplayWidth.of(one.text) <= w { return [hintRow(hints, width: w)] }
        var first: [Hint] = []
        var second: [Hint] = []
        var used = 0
        for h in hints {
            let width = (first.isEmpty ? 0 : h.gap) + DisplayWidth.of(h.text)
            if second.isEmpty && used + width <= w {
                first.append(h)
                used += width
            } else {
                second.append(h)
            }
        }
        guard !second.isEmpty else { return [hintRow(first, width: w)] }
        return [hintRow(first, width: w), hintRow(second, width: w)]
    }

    /// The whole screen for the current state, laid out by display width.
    public func frame(width: Int, height: Int) -> Frame {
        let w = max(40, width)
        let compact = height < Self.compactBelowRows
        var body = route.screen.body(self, width: w)
        var rows: [ScreenLine] = []
        // No DateFormatter per frame; a narrow compact grid (large mode on the panel) shows the short form.
        let full = StationClock.dateTimeText(now, timeZone: settings.timeZone)
        let clock = compact && w < 60 ? String(full.dropFirst(5).prefix(11)) : full
        let name = DisplayWidth.truncate(settings.stationName, columns: w - DisplayWidth.of(clock) - 2)
        rows.append(ScreenLine(DisplayWidth.pad(name, to: w - DisplayWidth.of(clock)) + clock, .inverse))
        if !compact {
            rows.append(ScreenLine(DisplayWidth.truncate(deviceLine, columns: w), largeMode ? .normal : .dim))
        }
        if !compact { rows.append(rule(w)) }
        rows.append(ScreenLine(DisplayWidth.truncate(body.title, columns: w), largeMode ? .inverse : .bold))
        if !compact { rows.append(ScreenLine("")) }
        let bodyRows = max(1, height - rows.count - 3)
        // A line of text wider than the grid (a smaller grid than the screen was written for) is
        // wrapped at a phrase boundary with its indent, never cut.
        body.lines = body.lines.flatMap { l -> [ScreenLine] in
            guard l.targets.isEmpty, DisplayWidth.of(l.text) > w else { return [l] }
            let indent = String(l.text.prefix { $0 == " " })
            return Self.phraseWrap(String(l.text.dropFirst(indent.count)), columns: w - indent.count).map {
                ScreenLine(indent + $0, l.style)
            }
        }
        if body.lines.count > bodyRows {
            // Spacing goes first, then what does not fit.
            body.lines = body.lines.filter { !$0.text.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        if body.lines.count > bodyRows { body.lines = Array(body.lines.prefix(bodyRows)) }
        // Large mode: high contrast, nothing dim.
        if largeMode {
            body.lines = body.lines.map {
                ScreenLine($0.text, $0.style == .normal || $0.style == .dim ? .bold : $0.style, targets: $0.targets)
            }
        }
        rows += body.lines
        // Alerts say what happened in words and carry a text marker, never colour alone. On a
        // small grid an alert too long for its row takes a second one when the body leaves room.
        let alertText =
            countdown.map { L("【提示】") + countdownWarning($0) } ?? message.map { L("【提示】") + $0 }
        var alert = [alertText.map { DisplayWidth.truncate($0, columns: w) } ?? ""]
        if compact, let t = alertText, DisplayWidth.of(t) > w, rows.count < height - 3 {
            alert = Array(Self.phraseWrap(t, columns: w).prefix(2)).map { DisplayWidth.truncate($0, columns: w) }
        }
        while rows.count < height - 3 - (alert.count - 1) { rows.append(ScreenLine("")) }
        var hints = body.hints
        // Resident screens get the help and language controls on the hint line.
        if !isStaffOrTechnicianScreen { hints += residentControls }
        // Hints that do not fit one row take the rule's row too.
        let hintLines = hintRows(hints, width: w)
        if hintLines.count == 1 { rows.append(rule(w)) }
        rows += hintLines
        rows += alert.map { ScreenLine($0, alertText == nil ? .normal : .alert) }
        return Frame(rows: Array(rows.prefix(height)))
    }

    func wrapped(_ text: String, _ width: Int, indent: String = "  ") -> [ScreenLine] {
        Self.phraseWrap(text, columns: width - DisplayWidth.of(indent)).map { ScreenLine(indent + $0) }
    }

    /// Wraps at a phrase boundary (space or punctuation) when one is in the last 40% of the line,
    /// so words are not broken across lines; falls back to the display-width wrap.
    static func phraseWrap(_ text: String, columns: Int) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        let breakAfter: Set<Character> = [
            " ", "，", "。", "；", "：", "、", "）", "！", "？", ",", ".", ";", ":", ")", "/", "」", "》",
        ]
        while DisplayWidth.of(String(rest)) > columns {
            var w = 0
            var end = rest.startIndex
            var lastBreak: String.Index?
            var lastBreakWidth = 0
            while end < rest.endIndex {
                let cw = DisplayWidth.of(String(rest[end]))
                if w + cw > columns { break }
                w += cw
                let next = rest.index(after: end)
                let strong =
                    breakAfter.contains(rest[end]) || (next < rest.endIndex && (rest[next] == "（" || rest[next] == "("))
                // Single-character words a Chinese line may break around: after 的, before 或 和 到 在 并 及.
                let weak = rest[end] == "的" || (next < rest.endIndex && "或和到在并及".contains(rest[next]))
                if strong || (weak && lastBreakWidth * 10 < columns * 7) {
                    lastBreak = next
                    lastBreakWidth = w
                }
                end = next
            }
            if end < rest.endIndex, let b = lastBreak, lastBreakWidth * 10 >= columns * 4 { end = b }
            if end == rest.startIndex { end = rest.index(after: end) }
            out.append(String(rest[rest.startIndex..<end]).trimmingCharacters(in: .whitespaces))
            rest = rest[end...].drop { $0 == " " }
        }
        if !rest.isEmpty || out.isEmpty { out.append(String(rest)) }
        return out
    }

    /// Options as lines: in large mode one per line with a blank line between (line spacing). Every
    /// row of an option (its label may wrap to a second row) is its tap target.
    func optionLines(_ list: [ScreenOption], width w: Int, indent: String = "  ") -> [ScreenLine] {
        var lines: [ScreenLine] = []
        for (i, o) in list.enumerated() {
            if largeMode && i > 0 { lines.append(ScreenLine("")) }
            let head = "\(indent)\(o.keyLabel)  "
            let parts = Self.phraseWrap(o.label, columns: w - DisplayWidth.of(head))
            for (j, part) in parts.prefix(2).enumerated() {
                let text = (j == 0 ? head : String(repeating: " ", count: DisplayWidth.of(head))) + part
                let target = TapTarget(
                    columns: DisplayWidth.of(indent)..<max(DisplayWidth.of(indent) + 1, DisplayWidth.of(text)),
                    key: o.key)
                lines.append(ScreenLine(text, targets: [target]))
            }
        }
        return lines
    }

}
