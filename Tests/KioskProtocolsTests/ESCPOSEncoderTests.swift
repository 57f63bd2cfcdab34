import Testing
import Foundation
@testable import KioskProtocols

/// Index of the first occurrence of `needle` in `haystack`.
private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if Array(haystack[i..<(i + needle.count)]) == needle { return i }
    }
    return nil
}

private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    firstRange(of: needle, in: haystack) != nil
}

/// Printer columns: ASCII 1, every (two-byte) non-ASCII character 2.
private func printerColumns(_ s: String) -> Int {
    s.reduce(0) { $0 + ($1.isASCII ? 1 : 2) }
}

@Suite struct ESCPOSEncoderTests {

    @Test func prologueAndSentinel() throws {
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument())
        #expect(bytes == [0x1B, 0x40, 0x1C, 0x26, 0x1C, 0x53, 0x00, 0x00, 0x1D, 0x72, 0x01])

        var ascii = ReceiptPrinterProfile.mm58
        ascii.chineseMode = false
        let enc = ESCPOSEncoder(profile: ascii, autoStatusBackMask: 0x4F, endOfJobSentinel: false)
        #expect(
            try enc.encode(ReceiptDocument()) == [0x1B, 0x40, 0x1D, 0x61, 0x4F, 0x1C, 0x2E, 0x1C, 0x53, 0x00, 0x00])
    }

    @Test func qrMatchesDevicesDocExample() throws {
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.qr("ZW20240001", size: 6)]))
        let expected: [UInt8] =
            [0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x06]
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31]
            + [0x1D, 0x28, 0x6B, 0x0D, 0x00, 0x31, 0x50, 0x30] + Array("ZW20240001".utf8)
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]
        #expect(contains(bytes, expected))
        // Centred, then back to left.
        #expect(contains(bytes, [0x1B, 0x61, 0x01] + expected.prefix(9)))
        #expect(contains(bytes, Array(expected.suffix(8)) + [0x1B, 0x61, 0x00]))
    }

    @Test func qrStoreLengthCountsBytesNotCharacters() throws {
        let payload = "https://example.invalid/查询?id=ZW20240001"  // 2 Chinese characters = 6 UTF-8 bytes
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.qr(payload)]))
        let k = payload.utf8.count + 3
        #expect(
            contains(bytes, [0x1D, 0x28, 0x6B, UInt8(k & 0xFF), UInt8(k >> 8), 0x31, 0x50, 0x30] + Array(payload.utf8)))
    }

    @Test func qrSizeIsCappedAndShrunkToFitPaper() throws {
        // Capped at maxQRSize (8).
        let big = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.qr("ZW20240001", size: 16)]))
        #expect(contains(big, [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x08]))
        // 300 bytes need version 13 (69 modules + 8 quiet): 77 x 4 = 308 <= 384 dots, 77 x 5 = 385 > 384.
        let payload = String(repeating: "A", count: 300)
        let small = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.qr(payload, size: 6)]))
        #expect(contains(small, [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x04]))
    }

    @Test func qrErrors() {
        let enc = ESCPOSEncoder(profile: .mm80)
        #expect(throws: ESCPOSError.qrPayloadTooLong(bytes: 3000, maximum: 2331)) {
            try enc.encode(ReceiptDocument([.qr(String(repeating: "x", count: 3000))]))
        }
        #expect(throws: ESCPOSError.qrPayloadEmpty) { try enc.encode(ReceiptDocument([.qr("")])) }
        #expect(throws: ESCPOSError.qrPayloadContainsDLE) { try enc.encode(ReceiptDocument([.qr("a\u{10}\u{4}b")])) }
        // 2000 bytes need version 38 (169 modules): does not fit 384 dots even at size 1.
        #expect(throws: ESCPOSError.qrTooLargeForPaper(bytes: 2000, paperDots: 384)) {
            try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.qr(String(repeating: "x", count: 2000))]))
        }
        let message = ESCPOSError.qrPayloadTooLong(bytes: 3000, maximum: 2331).description
        #expect(message.contains("3000") && message.contains("short"))
    }

    @Test func qrFallsBackToTextWithoutQRSupport() throws {
        var profile = ReceiptPrinterProfile.mm58
        profile.supportsQR = false
        let bytes = try ESCPOSEncoder(profile: profile).encode(ReceiptDocument([.qr("ZW20240001")]))
        #expect(!contains(bytes, [0x1D, 0x28, 0x6B]))
        #expect(contains(bytes, [0x1B, 0x61, 0x01] + Array("ZW20240001".utf8) + [0x0A]))
    }

    @Test func yenBecomesFullwidthTwoByteCode() throws {
        let p = ESCPOSEncoder.printable("¥192.00")
        #expect(p.text == "￥192.00")
        #expect(p.replaced.isEmpty)
        let bytes = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.text("¥192.00")]))
        #expect(contains(bytes, [0xA3, 0xA4] + Array("192.00".utf8) + [0x0A]))
        #expect(!contains(bytes, [0x81, 0x30, 0x84, 0x36]))
    }

    @Test func substitutionTable() throws {
        #expect(ESCPOSEncoder.printable("•・✓™®©").text == "··√TM(R)(C)")
        let bytes = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.text("•✓")]))
        #expect(contains(bytes, [0xA1, 0xA4, 0xA1, 0xCC, 0x0A]))
        #expect(ESCPOSEncoder.printable("a\u{00A0}b\tc").text == "a b c")
        // Decomposed input is composed first (NFC): é is the two-byte pinyin code A8 A6.
        let decomposed = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.text("e\u{301}")]))
        #expect(contains(decomposed, [0xA8, 0xA6, 0x0A]))
    }

    @Test func rareCharactersAreReplacedVisibly() throws {
        // 𠀀 (U+20000, CJK Ext-B) and 㐀 (Ext-A) need four-byte GB18030 codes.
        let p = ESCPOSEncoder.printable("张𠀀明㐀")
        #expect(p.text == "张？明？")
        #expect(p.replaced == ["𠀀", "㐀"])
        let bytes = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.text("张𠀀")]))
        #expect(contains(bytes, [0xD5, 0xC5, 0xA3, 0xBF, 0x0A]))
        #expect(!contains(bytes, [0x95, 0x32, 0x82, 0x36]))
        // Emoji, private use and control characters too; nothing is dropped silently.
        let q = ESCPOSEncoder.printable("ok😀\u{E000}\u{1B}")
        #expect(q.text == "ok？？？")
        #expect(q.replaced.count == 3)
        // ASCII-only printers.
        let a = ESCPOSEncoder.printable("张¥1", chineseMode: false)
        #expect(a.text == "?RMB1")
        #expect(a.replaced == ["张"])
    }

    @Test func neverEmitsFourByteCodes() throws {
        let text = "办事指南 ¥12 € 🚀 𠮷 ™ — … “引号” ½ ß Ω ✓ • ・ \u{2009}"
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.text(text)]))
        // Walk the text bytes of the single line: every lead byte must be followed by a 40-FE trail.
        let start = firstRange(of: [0x1C, 0x53, 0x00, 0x00], in: bytes)! + 4
        let end = bytes.lastIndex(of: 0x0A)!
        var i = start
        while i < end {
            if bytes[i] < 0x80 {
                i += 1
                continue
            }
            #expect(bytes[i] >= 0x81 && bytes[i] <= 0xFE)
            #expect(bytes[i + 1] >= 0x40 && bytes[i + 1] != 0x7F)
            i += 2
        }
    }

    @Test(arguments: [ReceiptPrinterProfile.mm58, ReceiptPrinterProfile.mm80])
    func wrapsChineseTextAtProfileColumns(profile: ReceiptPrinterProfile) throws {
        let long =
            "您的申请材料已经提交成功，请保管好本回执。办理进度可在自助终端查询，也可以拨打服务电话：12345。"
            + "如需补充材料，工作人员会与您联系！Please keep this receipt for your records."
        let enc = ESCPOSEncoder(profile: profile)
        let lines = enc.layoutLines(ReceiptDocument([.text(long)]))
        #expect(lines.count > 2)
        for line in lines {
            #expect(printerColumns(line) <= profile.columns, "\(line)")
            if let first = line.first { #expect(!"。，、）：；！？".contains(first), "\(line)") }
        }
        // The title is double width: half the columns.
        let title = enc.layoutLines(ReceiptDocument([.title(long)]))
        for line in title { #expect(printerColumns(line) <= profile.columns / 2, "\(line)") }
        // Double size is switched on before and off after.
        let bytes = try enc.encode(ReceiptDocument([.title("回执")]))
        #expect(
            contains(
                bytes,
                [0x1B, 0x61, 0x01, 0x1D, 0x21, 0x11, 0xBB, 0xD8, 0xD6, 0xB4, 0x0A, 0x1D, 0x21, 0x00, 0x1B, 0x61, 0x00]))
    }

    @Test func keyValueRows() {
        let enc = ESCPOSEncoder(profile: .mm58)
        let lines = enc.layoutLines(
            ReceiptDocument([
                .keyValue("受理编号", "ZW20240001"),
                .keyValue("事项", "城乡居民基本医疗保险参保登记及信息变更"),
                .keyValue("申请人", ""),
                .separator,
            ]))
        #expect(lines[0] == "受理编号" + String(repeating: " ", count: 32 - 8 - 10) + "ZW20240001")
        #expect(lines.dropLast().allSatisfy { printerColumns($0) <= 32 })
        // The long value wraps, right-aligned, with the key on the first line.
        #expect(lines[1].hasPrefix("事项 "))
        #expect(printerColumns(lines[1]) == 32)
        #expect(lines[2].hasPrefix(" ") && printerColumns(lines[2]) == 32)
        #expect(lines.contains("申请人"))
        #expect(lines.last == String(repeating: "-", count: 32))
    }

    @Test func cutVariants() throws {
        let full = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.cut(partial: false)]))
        #expect(contains(full, [0x1D, 0x56, 0x41, ESCPOSEncoder.cutFeedUnits, 0x1D, 0x72, 0x01]))
        let partial = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.cut(partial: true)]))
        #expect(contains(partial, [0x1D, 0x56, 0x42, ESCPOSEncoder.cutFeedUnits]))
        // Partial-only printer.
        let p58 = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.cut(partial: false)]))
        #expect(contains(p58, [0x1D, 0x56, 0x42]))
        // No cutter: feed only.
        var noCut = ReceiptPrinterProfile.mm58
        noCut.supportsCut = false
        let fed = try ESCPOSEncoder(profile: noCut).encode(ReceiptDocument([.cut(partial: false)]))
        #expect(!contains(fed, [0x1D, 0x56]))
        #expect(contains(fed, [0x1B, 0x64, ESCPOSEncoder.tearOffFeedLines]))
    }

    @Test func rasterBands() throws {
        var image = RasterImage(widthDots: 570, heightDots: 300)
        #expect(image.bytesPerRow == 72)
        // Put a DLE EOT pattern into the data: it must be defused.
        image.bits[10] = 0x10
        image.bits[11] = 0x04
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.logo(image)]))
        let first = firstRange(of: [0x1D, 0x76, 0x30, 0x00, 72, 0, 0x00, 0x01], in: bytes)  // 256 rows
        #expect(first != nil)
        #expect(contains(bytes, [0x1D, 0x76, 0x30, 0x00, 72, 0, 44, 0]))  // 44 rows
        #expect(!contains(bytes, [0x10, 0x04]))
        #expect(bytes[first! + 8 + 10] == 0x11)

        // 58 mm profile: bands of 128.
        let small = RasterImage(widthDots: 384, heightDots: 300)
        let b58 = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.logo(small)]))
        #expect(contains(b58, [0x1D, 0x76, 0x30, 0x00, 48, 0, 128, 0]))
        #expect(contains(b58, [0x1D, 0x76, 0x30, 0x00, 48, 0, 44, 0]))

        #expect(throws: ESCPOSError.imageTooWide(widthDots: 600, paperDots: 576)) {
            try ESCPOSEncoder(profile: .mm80).encode(
                ReceiptDocument([.logo(RasterImage(widthDots: 600, heightDots: 8))]))
        }
        #expect(throws: ESCPOSError.self) {
            try ESCPOSEncoder(profile: .mm80).encode(
                ReceiptDocument([.logo(RasterImage(widthDots: 16, heightDots: 2, bits: [0xFF]))]))
        }
    }

    @Test func barcode() throws {
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.barcode("ZW{2024}")]))
        let data = Array("{BZW{{2024}".utf8)
        #expect(contains(bytes, [0x1D, 0x6B, 0x49, UInt8(data.count)] + data))
        #expect(throws: ESCPOSError.self) {
            try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.barcode("中文")]))
        }
        #expect(throws: ESCPOSError.self) {
            try ESCPOSEncoder(profile: .mm58).encode(
                ReceiptDocument([.barcode(String(repeating: "9", count: 40) + "X")]))
        }
        // Digit runs at the end use code set C: a case number fits 58 mm.
        let c = try ESCPOSEncoder(profile: .mm58).encode(ReceiptDocument([.barcode("GH202612010001")]))
        let cData: [UInt8] = Array("{BGH{C".utf8) + [20, 26, 12, 1, 0, 1]
        #expect(contains(c, [0x1D, 0x6B, 0x49, UInt8(cData.count)] + cData))
        let odd = try ESCPOSEncoder(profile: .mm80).encode(ReceiptDocument([.barcode("12345")]))
        #expect(contains(odd, [0x1D, 0x6B, 0x49, 7] + Array("{C".utf8) + [12, 34] + Array("{B5".utf8)))
        var dec = ESCPOSDecoder()
        #expect(dec.feed(c).contains(.barcode("GH202612010001")))
    }

    @Test func feedAndAlignment() throws {
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(
            ReceiptDocument([
                .feed(3), .text("右", align: .right, bold: true),
            ]))
        #expect(contains(bytes, [0x1B, 0x64, 0x03]))
        #expect(
            contains(bytes, [0x1B, 0x61, 0x02, 0x1B, 0x45, 0x01, 0xD3, 0xD2, 0x0A, 0x1B, 0x45, 0x00, 0x1B, 0x61, 0x00]))
    }

    @Test func profilesRoundTripThroughCodable() throws {
        let data = try JSONEncoder().encode(ReceiptPrinterProfile.mm80)
        #expect(try JSONDecoder().decode(ReceiptPrinterProfile.self, from: data) == .mm80)
        #expect(ReceiptPrinterProfile.mm58.columns == 32 && ReceiptPrinterProfile.mm58.dots == 384)
        #expect(ReceiptPrinterProfile.mm80.columns == 48 && ReceiptPrinterProfile.mm80.dots == 576)
    }
}
