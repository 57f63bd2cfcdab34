import KioskProtocols

/// Turns a tap on the screen into the key the option under the finger stands for. Options are
/// drawn as "1  乡镇（街道）事项", "A  居民身份证 测试一" or, several on one hint line,
/// "1 状态  2 自检  0 退出": a segment (separated by two or more spaces) that starts with a digit,
/// a letter A–D, "Enter" or "Esc" is a target, and the tap picks the segment under its column.
public enum TapTargets {
    struct Segment { var start: Int; var end: Int; var text: String }

    static func segments(_ row: String) -> [Segment] {
        var out: [Segment] = []
        var col = 0, start = 0, end = 0, spaces = 0
        var current = ""
        for ch in row {
            let w = max(1, DisplayWidth.of(String(ch)))
            if ch == " " {
                spaces += 1
            } else {
                if !current.isEmpty && spaces >= 2 {
                    out.append(Segment(start: start, end: end, text: current))
                    current = ""
                }
                if current.isEmpty { start = col } else if spaces == 1 { current += " " }
                spaces = 0
                current.append(ch)
                end = col + w
            }
            col += w
        }
        if !current.isEmpty { out.append(Segment(start: start, end: end, text: current)) }
        // "1  乡镇事项": an option token on its own owns the label that follows it.
        var merged: [Segment] = []
        for s in out {
            if let last = merged.last, isBareToken(last.text), key(for: s.text) == nil {
                merged[merged.count - 1] = Segment(start: last.start, end: s.end, text: last.text + " " + s.text)
            } else {
                merged.append(s)
            }
        }
        return merged
    }

    static func isBareToken(_ t: String) -> Bool {
        t == "Enter" || t == "Esc" || (t.count == 1 && key(for: t) != nil)
    }

    static func key(for text: String) -> Key? {
        if text.hasPrefix("Enter") { return .enter }
        if text.hasPrefix("Esc") { return .escape }
        guard let f = text.first else { return nil }
        let rest = text.dropFirst()
        guard rest.isEmpty || rest.first == " " else { return nil }   // "1 ..." / "A ...", not "12:30" or "GH2026…"
        if let d = f.wholeNumberValue, f.isASCII { return .digit(d) }
        if "ABCDEHL".contains(f) { return .char(Character(f.lowercased())) }
        return nil
    }

    /// The key for a tap at 1-based `column` on a row that reads `row`, or nil when no option is there.
    public static func key(atColumn column: Int, row: String) -> Key? {
        let segs = segments(row)
        let x = column - 1
        // The segment under the finger, else the nearest one to its left (a tap on the label's tail).
        if let s = segs.first(where: { x >= $0.start && x < $0.end }) ?? segs.last(where: { $0.start <= x }) {
            return key(for: s.text)
        }
        return nil
    }
}

