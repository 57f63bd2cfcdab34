import Testing
@testable import KioskProtocols

@Suite struct DisplayWidthTests {

    @Test func characterWidths() {
        let cases: [(Character, Int)] = [
            ("a", 1), (" ", 1), ("~", 1),
            ("中", 2), ("龥", 2), ("。", 2), ("，", 2), ("、", 2), ("（", 2), ("）", 2), ("《", 2), ("》", 2),
            ("\u{3000}", 2), ("！", 2), ("？", 2), ("￥", 2), ("＄", 2),
            ("한", 2), ("あ", 2), ("ア", 2), ("ｱ", 1),
            ("😀", 2), ("👍🏽", 2), ("👨‍👩‍👧", 2), ("🇨🇳", 2), ("❤️", 2), ("❤", 1),
            ("𠀀", 2), ("㐀", 2),
            ("é", 1), ("e\u{301}", 1), ("\u{301}", 0), ("\u{200B}", 0), ("\u{200D}", 0),
            ("\n", 0), ("\r\n", 0), ("\u{1B}", 0), ("\u{7F}", 0),
            // East Asian Ambiguous counts 1.
            ("…", 1), ("·", 1), ("—", 1), ("“", 1), ("①", 1), ("★", 1), ("─", 1), ("¥", 1),
        ]
        for (c, w) in cases {
            #expect(DisplayWidth.of(c) == w, "width of \(c.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func stringWidths() {
        #expect(DisplayWidth.of("") == 0)
        #expect(DisplayWidth.of("hello") == 5)
        #expect(DisplayWidth.of("中文abc") == 7)
        #expect(DisplayWidth.of("办理回执：ZW20240001。") == 2 * 5 + 10 + 2)
        #expect(DisplayWidth.of("e\u{301}te\u{301}") == 3)
    }

    @Test func wrapsLatinAtSpaces() {
        #expect(DisplayWidth.wrap("the quick brown fox jumps", columns: 10) == ["the quick", "brown fox", "jumps"])
        #expect(DisplayWidth.wrap("short", columns: 10) == ["short"])
        #expect(DisplayWidth.wrap("", columns: 10) == [""])
        // A word longer than the line is broken at the width.
        #expect(DisplayWidth.wrap("abcdefghijkl mn", columns: 5) == ["abcde", "fghij", "kl mn"])
    }

    @Test func wrapsEmbeddedNewlines() {
        #expect(DisplayWidth.wrap("a\n\nb", columns: 10) == ["a", "", "b"])
        #expect(DisplayWidth.wrap("一二三\r\n四五", columns: 4) == ["一二", "三", "四五"])
        #expect(DisplayWidth.wrap("end\n", columns: 10) == ["end", ""])
    }

    static let longChinese =
        "您的申请材料已经提交成功，请保管好本回执。办理进度可以在自助终端上查询，也可以拨打服务电话咨询。"
        + "如需补充材料，工作人员会与您联系：请保持电话畅通！谢谢您的配合。"

    @Test(arguments: [32, 48, 16, 7, 4])
    func wrapsChineseWithinWidth(columns: Int) {
        let lines = DisplayWidth.wrap(Self.longChinese, columns: columns)
        #expect(lines.count > 1)
        for line in lines {
            #expect(DisplayWidth.of(line) <= columns, "\(line)")
            if let first = line.first {
                #expect(!"。，、）：；！？".contains(first), "line starts with \(first): \(line)")
            }
        }
        #expect(lines.joined() == Self.longChinese)
    }

    @Test func pullsPreviousCharacterDownBeforeClosingPunctuation() {
        // 15 ideographs fill 30 columns; "。" must not start the next line.
        let s = String(repeating: "好", count: 15) + "。"
        let lines = DisplayWidth.wrap(s, columns: 30)
        #expect(lines == [String(repeating: "好", count: 14), "好。"])
        // Opening brackets do not end a line.
        let t = String(repeating: "好", count: 14) + "（注）"
        #expect(DisplayWidth.wrap(t, columns: 30) == [String(repeating: "好", count: 14), "（注）"])
    }

    @Test func mixedChineseAndLatin() {
        let lines = DisplayWidth.wrap("受理编号 ZW20240001 请妥善保管", columns: 12)
        for line in lines { #expect(DisplayWidth.of(line) <= 12) }
        #expect(lines.contains("ZW20240001"))
    }

    @Test func hangulBreaksAtSpaces() {
        #expect(DisplayWidth.wrap("안녕하세요 세계", columns: 12) == ["안녕하세요", "세계"])
    }

    @Test func neverSplitsCharacters() {
        let s = "👨‍👩‍👧👨‍👩‍👧e\u{301}e\u{301}"
        let lines = DisplayWidth.wrap(s, columns: 3)
        #expect(lines.joined() == s)
        for line in lines { #expect(DisplayWidth.of(line) <= 3) }
        // A character wider than the line gets a line of its own.
        #expect(DisplayWidth.wrap("中文", columns: 1) == ["中", "文"])
    }

    @Test func truncates() {
        #expect(DisplayWidth.truncate("hello", columns: 10) == "hello")
        #expect(DisplayWidth.truncate("hello world", columns: 8) == "hello...")
        #expect(DisplayWidth.truncate("中文测试abc", columns: 6) == "中...")
        #expect(DisplayWidth.truncate("中文测试", columns: 7) == "中文...")
        #expect(DisplayWidth.truncate("中文测试", columns: 8) == "中文测试")
        #expect(DisplayWidth.truncate("abc", columns: 2) == "..")
        #expect(DisplayWidth.truncate("line1\nline2", columns: 20) == "line1...")
        #expect(DisplayWidth.truncate("abcdef", columns: 4, ellipsis: "…") == "abc…")
        #expect(DisplayWidth.truncate("abc", columns: 0) == "")
    }

    @Test func padsAndCentres() {
        #expect(DisplayWidth.pad("中a", to: 6) == "中a   ")
        #expect(DisplayWidth.pad("toolong", to: 3) == "toolong")
        #expect(DisplayWidth.center("中文", in: 9) == "  中文   ")
        #expect(DisplayWidth.of(DisplayWidth.center("回执", in: 32)) == 32)
    }
}
