import KioskProtocols
import Testing

@Suite struct ScreenWireTests {
    @Test func messagesSurviveAnyFraming() throws {
        let a = ScreenMessage(.output, Array("首页\u{1B}[1;1H".utf8))
        let b = ScreenMessage(.input, [0x1B, 0x5B, 0x3C])
        let bytes = a.encoded + b.encoded
        for cut in 0...bytes.count {
            var r = ScreenMessageReader()
            let got = try r.feed(bytes[0..<cut]) + r.feed(bytes[cut...])
            #expect(got == [a, b], "cut at \(cut)")
        }
    }

    @Test func foreignOrOversizedInputIsRefused() {
        var r = ScreenMessageReader()
        #expect(throws: ScreenWireError.self) { try r.feed(Array("GET / HTTP/1.1\r\n".utf8)) }
        var r2 = ScreenMessageReader()
        #expect(throws: ScreenWireError.self) { try r2.feed([0x4F, 0x7F, 0xFF, 0xFF, 0xFF]) }
    }

    @Test func gridReadsBackWhatTheRendererWrites() {
        var g = ScreenGrid(columns: 20, rows: 3)
        g.feed(Array("\u{1B}[0m\u{1B}[2J\u{1B}[2;3H\u{1B}[0;1m首页 1\u{1B}[0m\u{1B}[1;1Habc".utf8))
        #expect(g.text == "abc\n  首页 1\n")
        // A UTF-8 character split between two reads.
        var h = ScreenGrid(columns: 10, rows: 1)
        let b = Array("镇".utf8)
        h.feed([b[0]])
        h.feed(Array(b[1...]))
        #expect(h.text == "镇")
    }

    @Test func gb18030ForSerialTerminals() {
        // 首 CA D7, 页 D2 B3, ─ A9 A4 (GB 2312 codes), ASCII unchanged.
        #expect(TerminalTextEncoding.gb18030.encode("首页─1") == [0xCA, 0xD7, 0xD2, 0xB3, 0xA9, 0xA4, 0x31])
        #expect(TerminalTextEncoding.utf8.encode("─") == [0xE2, 0x94, 0x80])
        #expect(TerminalTextEncoding.gb18030.decode([0xCA, 0xD7, 0xD2, 0xB3]) == "首页")
    }
}

@Suite struct DisplayGeometryTests {
    @Test func normalGridFillsA1080pPanelWithGlyphsAbout40PixelsTall() {
        let g = DisplayGeometry(panelWidth: 1920, panelHeight: 1080)
        let p = g.plan(large: false)
        #expect(p.columns == 80 && p.rows == 24)
        #expect(p.cellWidth == 24 && p.cellHeight == 45)
        #expect(p.pixelSize == 40)
        #expect(p.columns * p.cellWidth <= 1920 && p.columns * p.cellWidth > 1920 - p.cellWidth)
        #expect(p.rows * p.cellHeight <= 1080 && p.rows * p.cellHeight > 1080 - p.cellHeight)
    }

    @Test(arguments: [
        (1920, 1080, 0), (1280, 720, 0), (1080, 1920, 0), (1920, 1080, 90), (1366, 768, 0), (1024, 768, 0),
    ])
    func largeModeIsAtLeastOneAndAHalfTimesTaller(_ w: Int, _ h: Int, _ rotation: Int) {
        let g = DisplayGeometry(panelWidth: w, panelHeight: h, rotation: rotation)
        let n = g.plan(large: false)
        let l = g.plan(large: true)
        #expect(Double(l.pixelSize) >= 1.5 * Double(n.pixelSize), "\(w)×\(h): font \(n.pixelSize) → \(l.pixelSize)")
        #expect(Double(l.cellHeight) >= 1.5 * Double(n.cellHeight), "\(w)×\(h): rows \(n.cellHeight) → \(l.cellHeight)")
        #expect(l.columns < n.columns && l.rows < n.rows)
        // Both grids fill the output: whole pixels per cell leave less than a pixel per column or
        // row, and less than one cell, over.
        for p in [n, l] {
            #expect(g.outputWidth - p.columns * p.cellWidth < max(p.cellWidth, p.columns))
            #expect(g.outputHeight - p.rows * p.cellHeight < max(p.cellHeight, p.rows))
            // A CJK glyph (two cells wide, pixelSize tall) fits its cells.
            #expect(p.pixelSize <= p.cellHeight && p.pixelSize <= 2 * p.cellWidth)
        }
    }

    @Test func portraitRotationSwapsTheOutputAndTurnsCage() {
        let g = DisplayGeometry(panelWidth: 1920, panelHeight: 1080, rotation: 90)
        #expect(g.outputWidth == 1080 && g.outputHeight == 1920)
        #expect(g.quarterTurns == 1)
        #expect(DisplayGeometry(rotation: 270).quarterTurns == 3)
        #expect(DisplayGeometry(rotation: 0).quarterTurns == 0)
    }

    @Test func footConfigurationCarriesThePlan() {
        let ini = DisplayGeometry(panelWidth: 1920, panelHeight: 1080).footINI(large: true)
        #expect(ini.contains("font=WenQuanYi Micro Hei Mono:pixelsize=60"))
        #expect(ini.contains("line-height=72px"))
        #expect(ini.contains("pad=0x0"))
    }
}
