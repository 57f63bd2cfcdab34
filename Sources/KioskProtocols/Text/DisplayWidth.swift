// Display width of text in terminal / printer columns.
//
// Shared by the terminal renderer and the receipt encoder. Rules:
//  * 0 columns: C0/C1 controls, newlines, combining marks (Mn, Me), format characters (Cf, except the soft
//    hyphen and the Arabic prepended concatenation marks), Hangul medial/final jamo.
//  * 2 columns: East Asian Wide and Fullwidth (Unicode EastAsianWidth W/F: CJK ideographs incl. Ext A-I, CJK
//    punctuation U+3000-303E, fullwidth forms FF01-FF60 and FFE0-FFE6, Hangul syllables, kana, emoji
//    presentation), regional-indicator flags, and text-default emoji followed by U+FE0F.
//  * 1 column: everything else. East Asian Ambiguous glyphs (…, ·, —, ①, ★) count 1.
// A `Character` (extended grapheme cluster) is measured as a whole and never split.

public enum DisplayWidth {

    // MARK: Measuring

    /// Columns a single grapheme cluster occupies (0, 1 or 2).
    @inlinable
    public static func of(_ c: Character) -> Int {
        let utf8 = c.utf8
        if utf8.count == 1 {
            let b = utf8.first!
            return (b >= 0x20 && b < 0x7F) ? 1 : 0
        }
        return clusterWidth(c)
    }

    /// Columns a string occupies on one line (newlines count 0; callers wrap first).
    public static func of(_ s: String) -> Int {
        var asciiOnly = true
        var n = 0
        for b in s.utf8 {
            if b >= 0x80 {
                asciiOnly = false
                break
            }
            if b >= 0x20 && b < 0x7F { n += 1 }
        }
        if asciiOnly { return n }
        var total = 0
        for c in s { total += of(c) }
        return total
    }

    /// Columns of one Unicode scalar taken on its own.
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        scalarWidth(scalar)
    }

    @usableFromInline
    static func clusterWidth(_ c: Character) -> Int {
        var it = c.unicodeScalars.makeIterator()
        guard let first = it.next() else { return 0 }
        var w = scalarWidth(first)
        let fv = first.value
        if fv >= 0x1F1E6 && fv <= 0x1F1FF { return 2 }  // regional indicator (flag)
        while let s = it.next() {
            if s.value == 0xFE0F {
                if w == 1 && first.properties.isEmoji { w = 2 }
            } else if w == 0 {
                w = scalarWidth(s)
            }
        }
        return w
    }

    @usableFromInline
    static func scalarWidth(_ s: Unicode.Scalar) -> Int {
        let v = s.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        if v < 0x300 { return 1 }
        // Hot paths: CJK Unified Ideographs, Hangul syllables.
        if v >= 0x4E00 && v <= 0x9FFF { return 2 }
        if v >= 0xAC00 && v <= 0xD7A3 { return 2 }
        if isZeroWidth(s) { return 0 }
        return isWide(v) ? 2 : 1
    }

    static func isZeroWidth(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v >= 0x1160 && v <= 0x11FF { return true }  // Hangul Jungseong / Jongseong
        if v >= 0xD7B0 && v <= 0xD7FF { return true }  // Hangul Jamo Extended-B
        if v == 0x2028 || v == 0x2029 { return true }  // line / paragraph separator
        switch s.properties.generalCategory {
        case .nonspacingMark, .enclosingMark:
            return true
        case .format:
            // Prepended concatenation marks are visible.
            switch v {
            case 0x0600...0x0605, 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD: return false
            default: return true
            }
        default:
            return false
        }
    }

    static func isWide(_ v: UInt32) -> Bool {
        if v < 0x1100 { return false }
        let table = wideRanges
        // Binary search over [lo0, hi0, lo1, hi1, ...].
        var lo = 0
        var hi = table.count / 2 - 1
        if v > table[table.count - 1] { return false }
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let a = table[mid &* 2]
            let b = table[mid &* 2 &+ 1]
            if v < a { hi = mid - 1 } else if v > b { lo = mid + 1 } else { return true }
        }
        return false
    }

    /// East Asian Width W and F, inclusive ranges, sorted (generated from Unicode 14 data plus
    /// the wide additions of Unicode 15-16 and whole CJK planes 2 and 3).
    static let wideRanges: [UInt32] = [
        0x1100, 0x115F, 0x231A, 0x231B, 0x2329, 0x232A, 0x23E9, 0x23EC, 0x23F0, 0x23F0, 0x23F3, 0x23F3,
        0x25FD, 0x25FE, 0x2614, 0x2615, 0x2630, 0x2637, 0x2648, 0x2653, 0x267F, 0x267F, 0x268A, 0x268F,
        0x2693, 0x2693, 0x26A1, 0x26A1, 0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26CE,
        0x26D4, 0x26D4, 0x26EA, 0x26EA, 0x26F2, 0x26F3, 0x26F5, 0x26F5, 0x26FA, 0x26FA, 0x26FD, 0x26FD,
        0x2705, 0x2705, 0x270A, 0x270B, 0x2728, 0x2728, 0x274C, 0x274C, 0x274E, 0x274E, 0x2753, 0x2755,
        0x2757, 0x2757, 0x2795, 0x2797, 0x27B0, 0x27B0, 0x27BF, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B50,
        0x2B55, 0x2B55, 0x2E80, 0x2E99, 0x2E9B, 0x2EF3, 0x2F00, 0x2FD5, 0x2FF0, 0x303E, 0x3041, 0x3096,
        0x3099, 0x30FF, 0x3105, 0x312F, 0x3131, 0x318E, 0x3190, 0x31E3, 0x31EF, 0x321E, 0x3220, 0x3247,
        0x3250, 0x4DBF, 0x4E00, 0xA48C, 0xA490, 0xA4C6, 0xA960, 0xA97C, 0xAC00, 0xD7A3, 0xF900, 0xFAFF,
        0xFE10, 0xFE19, 0xFE30, 0xFE52, 0xFE54, 0xFE66, 0xFE68, 0xFE6B, 0xFF01, 0xFF60, 0xFFE0, 0xFFE6,
        0x16FE0, 0x16FE4, 0x16FF0, 0x16FF1, 0x17000, 0x187F7, 0x18800, 0x18CD5, 0x18D00, 0x18D08, 0x1AFF0, 0x1AFF3,
        0x1AFF5, 0x1AFFB, 0x1AFFD, 0x1AFFE, 0x1B000, 0x1B122, 0x1B132, 0x1B132, 0x1B150, 0x1B152, 0x1B155, 0x1B155,
        0x1B164, 0x1B167, 0x1B170, 0x1B2FB, 0x1F004, 0x1F004, 0x1F0CF, 0x1F0CF, 0x1F18E, 0x1F18E, 0x1F191, 0x1F19A,
        0x1F200, 0x1F202, 0x1F210, 0x1F23B, 0x1F240, 0x1F248, 0x1F250, 0x1F251, 0x1F260, 0x1F265, 0x1F300, 0x1F320,
        0x1F32D, 0x1F335, 0x1F337, 0x1F37C, 0x1F37E, 0x1F393, 0x1F3A0, 0x1F3CA, 0x1F3CF, 0x1F3D3, 0x1F3E0, 0x1F3F0,
        0x1F3F4, 0x1F3F4, 0x1F3F8, 0x1F43E, 0x1F440, 0x1F440, 0x1F442, 0x1F4FC, 0x1F4FF, 0x1F53D, 0x1F54B, 0x1F54E,
        0x1F550, 0x1F567, 0x1F57A, 0x1F57A, 0x1F595, 0x1F596, 0x1F5A4, 0x1F5A4, 0x1F5FB, 0x1F64F, 0x1F680, 0x1F6C5,
        0x1F6CC, 0x1F6CC, 0x1F6D0, 0x1F6D2, 0x1F6D5, 0x1F6D7, 0x1F6DC, 0x1F6DF, 0x1F6EB, 0x1F6EC, 0x1F6F4, 0x1F6FC,
        0x1F774, 0x1F776, 0x1F77B, 0x1F77F, 0x1F7D9, 0x1F7D9, 0x1F7E0, 0x1F7EB, 0x1F7F0, 0x1F7F0, 0x1F90C, 0x1F93A,
        0x1F93C, 0x1F945, 0x1F947, 0x1F9FF, 0x1FA70, 0x1FAFF, 0x20000, 0x2FFFD, 0x30000, 0x3FFFD,
    ]

    // MARK: Line breaking

    /// Characters that must not start a line (kinsoku): closing punctuation and small kana.
    static let noLineStart: Set<Character> = [
        "。", "，", "、", "）", "：", "；", "！", "？", "」", "』", "》", "〉", "】", "〕", "〗", "〙", "〛",
        "”", "’", "．", "］", "｝", "｠", "…", "‥", "·", "・", "ー", "々", "ゝ", "ゞ", "〜",
        "ぁ", "ぃ", "ぅ", "ぇ", "ぉ", "っ", "ゃ", "ゅ", "ょ", "ゎ",
        "ァ", "ィ", "ゥ", "ェ", "ォ", "ッ", "ャ", "ュ", "ョ", "ヮ", "ヵ", "ヶ",
        ",", ".", ";", ":", "!", "?", ")", "]", "}", "%",
    ]

    /// Characters that must not end a line: opening brackets and quotes.
    static let noLineEnd: Set<Character> = [
        "（", "《", "〈", "「", "『", "【", "〔", "〖", "〘", "〚", "“", "‘", "［", "｛", "｟", "＜",
        "(", "[", "{",
    ]

    /// CJK ideographs, kana, fullwidth punctuation and emoji allow a line break on either side;
    /// Hangul (which separates words with spaces) and narrow scripts do not.
    static func breaksAround(_ c: Character) -> Bool {
        guard of(c) >= 2, let v = c.unicodeScalars.first?.value else { return false }
        if v >= 0xAC00 && v <= 0xD7A3 { return false }  // Hangul syllables
        if v >= 0x1100 && v <= 0x115F { return false }  // Hangul Choseong
        if v >= 0x3130 && v <= 0x318F { return false }  // Hangul compatibility jamo
        return true
    }

    /// Wraps `s` into lines no wider than `columns` display columns.
    ///
    /// * Embedded newlines start a new line (an empty paragraph gives an empty line; "" gives [""]).
    /// * Latin words break at ASCII spaces (the space is dropped at the break); CJK text breaks
    ///   between any two characters; a word longer than the line is broken at the width.
    /// * A line never starts with closing punctuation such as 。，、）：；！？ — the preceding character
    ///   moves down with it — and never ends with an opening bracket such as （《“.
    /// * A `Character` is never split. Only a single character wider than `columns` (e.g. a CJK
    ///   character at `columns: 1`) can exceed the width, on a line of its own.
    public static func wrap(_ s: String, columns: Int) -> [String] {
        wrap(s, columns: columns, width: { of($0) })
    }

    /// Wrapping with a caller-supplied width function (the receipt printer counts every non-ASCII
    /// character as 2 columns, because it prints every two-byte GB18030 code 24 dots wide).
    static func wrap(_ s: String, columns: Int, width: (Character) -> Int) -> [String] {
        let cols = max(1, columns)
        // Fast path: a single line that fits.
        var hasNewline = false
        var total = 0
        for c in s {
            if c.isNewline {
                hasNewline = true
                break
            }
            total += width(c)
            if total > cols { break }
        }
        if !hasNewline && total <= cols { return [s] }

        var result: [String] = []
        var chars: [Character] = []
        var widths: [Int] = []
        chars.reserveCapacity(64)
        widths.reserveCapacity(64)
        for c in s {
            if c.isNewline {
                wrapParagraph(chars, widths, cols, into: &result)
                chars.removeAll(keepingCapacity: true)
                widths.removeAll(keepingCapacity: true)
            } else {
                chars.append(c)
                widths.append(width(c))
            }
        }
        wrapParagraph(chars, widths, cols, into: &result)
        return result
    }

    private static func wrapParagraph(
        _ chars: [Character], _ widths: [Int], _ cols: Int,
        into result: inout [String]
    ) {
        let n = chars.count
        if n == 0 {
            result.append("")
            return
        }

        // May the line break between chars[k-1] and chars[k]?
        func canBreak(before k: Int, lineStart: Int) -> Bool {
            let prev = chars[k - 1]
            let next = chars[k]
            if noLineEnd.contains(prev) { return false }
            if next == " " {
                // The next line starts at the first non-space after the run of spaces.
                var j = k
                while j < n && chars[j] == " " { j += 1 }
                if j < n && noLineStart.contains(chars[j]) { return false }
                // The line must keep some content.
                var m = k - 1
                while m >= lineStart && chars[m] == " " { m -= 1 }
                return m >= lineStart
            }
            if noLineStart.contains(next) { return false }
            if prev == " " {
                var m = k - 1
                while m >= lineStart && chars[m] == " " { m -= 1 }
                return m >= lineStart
            }
            if prev == "-" && k - 1 > lineStart && chars[k - 2] != " " { return true }
            return breaksAround(prev) || breaksAround(next)
        }

        var start = 0
        var firstLine = true
        while start < n {
            if !firstLine {
                while start < n && chars[start] == " " { start += 1 }
                if start == n { break }
            }
            firstLine = false

            var w = 0
            var end = start
            while end < n && w + widths[end] <= cols {
                w += widths[end]
                end += 1
            }
            if end == start { end = start + 1 }  // a single character wider than the line
            if end == n {
                result.append(String(chars[start..<n]))
                break
            }

            var breakAt = -1
            var k = end
            while k > start {
                if canBreak(before: k, lineStart: start) {
                    breakAt = k
                    break
                }
                k -= 1
            }
            if breakAt < 0 {
                // No break opportunity: break at the width, but still never start a line with
                // closing punctuation (pull the previous characters down).
                breakAt = end
                while breakAt > start + 1 && breakAt < n && noLineStart.contains(chars[breakAt]) {
                    breakAt -= 1
                }
            }
            var e = breakAt
            while e > start && chars[e - 1] == " " { e -= 1 }
            result.append(String(chars[start..<e]))
            start = breakAt
        }
    }

    // MARK: Fitting

    /// Cuts `s` to at most `columns` columns, ending with `ellipsis` when something was cut.
    /// Only the first line of `s` is kept (a cut-off second line also gets the ellipsis).
    /// The default ellipsis is ASCII "..." because "…" is East Asian Ambiguous (1 or 2 columns
    /// depending on the terminal font). Never splits a `Character`.
    public static func truncate(_ s: String, columns: Int, ellipsis: String = "...") -> String {
        if columns <= 0 { return "" }
        let newline = s.firstIndex(where: { $0.isNewline })
        let line: Substring = newline.map { s[..<$0] } ?? s[...]
        let lineWidth = of(String(line))
        if newline == nil && lineWidth <= columns { return s }
        let ellipsisWidth = of(ellipsis)
        if ellipsisWidth > columns { return prefix(ellipsis, columns: columns) }
        if lineWidth + ellipsisWidth <= columns { return String(line) + ellipsis }
        return prefix(line, columns: columns - ellipsisWidth) + ellipsis
    }

    /// The longest prefix of `s` that fits in `columns`.
    static func prefix<S: StringProtocol>(_ s: S, columns: Int) -> String {
        var w = 0
        var out = ""
        for c in s {
            let cw = of(c)
            if w + cw > columns { break }
            w += cw
            out.append(c)
        }
        return out
    }

    /// Right-pads `s` with spaces to `columns` display columns (unchanged if already as wide).
    public static func pad(_ s: String, to columns: Int) -> String {
        let w = of(s)
        if w >= columns { return s }
        return s + String(repeating: " ", count: columns - w)
    }

    /// Centres `s` in `columns` columns, padding both sides with spaces (the extra space, if the
    /// difference is odd, goes to the right). Unchanged if `s` is already as wide.
    public static func center(_ s: String, in columns: Int) -> String {
        let w = of(s)
        if w >= columns { return s }
        let left = (columns - w) / 2
        let right = columns - w - left
        return String(repeating: " ", count: left) + s + String(repeating: " ", count: right)
    }
}
