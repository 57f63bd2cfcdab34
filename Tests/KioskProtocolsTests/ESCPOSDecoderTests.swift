import Testing
@testable import KioskProtocols

@Suite struct ESCPOSDecoderTests {

    static let sampleDocument = ReceiptDocument([
        .title("政务服务办理回执"),
        .separator,
        .keyValue("受理编号", "ZW20240001"),
        .keyValue("申请人", "测试用户"),
        .keyValue("办理事项", "城乡居民基本医疗保险参保登记及个人信息变更申请"),
        .keyValue("金额", "¥192.00"),
        .text("请妥善保管本回执，凭回执查询办理进度。", align: .left, bold: false),
        .text("Thank you!", align: .center, bold: true),
        .qr("https://example.invalid/q/ZW20240001", size: 6),
        .barcode("ZW20240001"),
        .logo(RasterImage(widthDots: 64, heightDots: 300)),
        .feed(2),
        .cut(partial: false),
    ])

    static func decodeAll(_ bytes: [UInt8], chunk: Int) -> [ESCPOSEvent] {
        var decoder = ESCPOSDecoder()
        var events: [ESCPOSEvent] = []
        var i = 0
        while i < bytes.count {
            let j = min(bytes.count, i + chunk)
            events += decoder.feed(bytes[i..<j])
            i = j
        }
        events += decoder.flush()
        #expect(decoder.isIdle)
        return events
    }

    @Test func roundTripsAReceipt() throws {
        for profile in [ReceiptPrinterProfile.mm58, .mm80] {
            let encoder = ESCPOSEncoder(profile: profile)
            let bytes = try encoder.encode(Self.sampleDocument)
            var decoder = ESCPOSDecoder()
            let events = decoder.feed(bytes)

            #expect(events.first == .initialize)
            #expect(events.contains(.chineseMode(true)))
            #expect(events.last == .endOfJobSentinel)
            #expect(events.contains(.raster(widthDots: 64, heightDots: profile.rasterBandRows)))

            let views = PrintedReceiptView.split(events)
            #expect(views.count == 1)
            let view = try #require(views.first)
            #expect(view.cuts == 1)
            #expect(view.qrCodes == ["https://example.invalid/q/ZW20240001"])
            #expect(view.barcodes == ["ZW20240001"])
            #expect(view.images == 2 || view.images == 3)
            #expect(view.lines == encoder.layoutLines(Self.sampleDocument))

            let text = view.text
            #expect(text.contains("政务服务办理回执") || view.lines.joined().contains("政务服务办理回执"))
            #expect(view.lines.contains { $0.hasPrefix("受理编号") && $0.hasSuffix("ZW20240001") })
            #expect(view.lines.contains { $0.hasPrefix("金额") && $0.hasSuffix("￥192.00") })
            #expect(view.lines.contains("申请人" + String(repeating: " ", count: profile.columns - 6 - 8) + "测试用户"))
            #expect(view.lines.contains("Thank you!"))
            #expect(view.nonEmptyLines.count == view.lines.count - 2)
        }
    }

    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func chunkingDoesNotChangeEvents(chunk: Int) throws {
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(Self.sampleDocument)
        let whole = Self.decodeAll(bytes, chunk: bytes.count)
        #expect(Self.decodeAll(bytes, chunk: chunk) == whole)
    }

    @Test func decodesGB18030Lines() {
        var d = ESCPOSDecoder()
        // "你好" in GB18030, ASCII, a four-byte code (€ is A2 E3 two-byte; 𠀀 is 95 32 82 36).
        let events = d.feed([0xC4, 0xE3, 0xBA, 0xC3, 0x41, 0x0A, 0x95, 0x32, 0x82, 0x36, 0x0A])
        #expect(events == [.line("你好A"), .line("𠀀")])
        // Invalid and truncated sequences become U+FFFD, nothing is lost silently.
        let bad = d.feed([0x41, 0xFF, 0x42, 0x0A])
        #expect(bad == [.line("A\u{FFFD}B")])
        // Outside Chinese mode non-ASCII is not decoded as GB18030.
        let off = d.feed([0x1C, 0x2E, 0xC4, 0xE3, 0x0A])
        #expect(off == [.chineseMode(false), .line("\u{FFFD}\u{FFFD}")])
    }

    @Test func commandsAndParametersAreSkipped() {
        var d = ESCPOSDecoder()
        let bytes: [UInt8] = [
            0x1B, 0x40,  // ESC @
            0x1B, 0x61, 0x01,  // ESC a 1
            0x1B, 0x45, 0x0A,  // ESC E with a parameter that looks like LF
            0x1D, 0x21, 0x0A,  // GS ! n
            0x1C, 0x21, 0x0A,  // FS ! n
            0x1C, 0x53, 0x0A, 0x0A,  // FS S n1 n2
            0x41, 0x42,
            0x1B, 0x64, 0x03,  // ESC d 3: prints "AB" and feeds two more lines
            0x10, 0x04, 0x02,  // DLE EOT 2
            0x1D, 0x61, 0x4F,  // GS a
            0x1D, 0x56, 0x00,  // GS V 0 (full)
            0x1D, 0x56, 0x31,  // GS V 49 (partial)
            0x1D, 0x56, 0x42, 0x0A,  // GS V 66 n
            0x1D, 0x72, 0x01,  // GS r 1
            0x00, 0x00, 0x00,  // NUL padding is ignored
            0x1B, 0x7E,  // unknown
        ]
        let events = d.feed(bytes)
        #expect(
            events == [
                .initialize, .line("AB"), .line(""), .line(""), .statusRequest(2), .autoStatusBack(0x4F),
                .cut(partial: false), .cut(partial: true), .cut(partial: true), .endOfJobSentinel,
                .unknown([0x1B, 0x7E]),
            ])
    }

    @Test func initializeDiscardsUnprintedText() {
        var d = ESCPOSDecoder()
        #expect(d.feed(Array("lost".utf8) + [0x1B, 0x40] + Array("kept\n".utf8)) == [.initialize, .line("kept")])
    }

    @Test func splitCommandsWaitForTheirBytes() {
        var d = ESCPOSDecoder()
        #expect(d.feed([0x1D]).isEmpty)
        #expect(d.feed([0x28, 0x6B, 0x05]).isEmpty)
        #expect(d.feed([0x00, 0x31, 0x50, 0x30, 0x41]).isEmpty)
        #expect(d.feed([0x42, 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51]).isEmpty)
        #expect(d.feed([0x30]) == [.qrCode("AB")])
        #expect(d.isIdle)
    }

    @Test func rasterPayloadIsSkippedEvenWhenItContainsCommandBytes() {
        var d = ESCPOSDecoder()
        let payload: [UInt8] = [0x0A, 0x1B, 0x40, 0x1D, 0x56, 0x00]  // 3 bytes per row x 2 rows
        let events = d.feed([0x1D, 0x76, 0x30, 0x00, 0x03, 0x00, 0x02, 0x00] + payload + [0x41, 0x0A])
        #expect(events == [.raster(widthDots: 24, heightDots: 2), .line("A")])
    }

    @Test func barcodeDecoding() {
        #expect(ESCPOSDecoder.barcodeText(m: 73, Array("{BZW{{1}".utf8)) == "ZW{1}")
        #expect(ESCPOSDecoder.barcodeText(m: 73, [0x7B, 0x43, 12, 34, 5]) == "123405")
        var d = ESCPOSDecoder()
        #expect(d.feed([0x1D, 0x6B, 0x04] + Array("ABC".utf8) + [0x00]) == [.barcode("ABC")])
    }

    @Test func accumulatorSplitsAtCuts() {
        var acc = PrintedReceiptAccumulator()
        #expect(acc.add([.line("a"), .qrCode("q1")]).isEmpty)
        let done = acc.add([.cut(partial: true), .line("b")])
        #expect(done == [PrintedReceiptView(lines: ["a"], qrCodes: ["q1"], cuts: 1)])
        #expect(acc.current.lines == ["b"])
        #expect(acc.allViews.count == 2)
        #expect(acc.takeCompleted().count == 1)
        #expect(acc.completed.isEmpty)
        #expect(PrintedReceiptView(lines: ["x", "y"]).text == "x\ny")
    }
}
