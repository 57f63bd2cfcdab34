import Foundation
import Testing
@testable import KioskProtocols

/// Printer columns: ASCII 1, every (two-byte) non-ASCII character 2.
private func cols(_ s: String) -> Int { s.reduce(0) { $0 + ($1.isASCII ? 1 : 2) } }

private func body(_ bytes: [UInt8]) -> [UInt8] {
    // Strip the prologue (ESC @, FS &, FS S 0 0) and the GS r 1 sentinel.
    Array(bytes.dropFirst(8).dropLast(3))
}

/// Wrapping edge cases with mixed ASCII and CJK at 58 mm (32 columns) and 80 mm (48 columns),
/// at normal and multiplied widths, plus byte vectors of the size command.
@Suite struct ESCPOSWrapTests {
    let p58 = ReceiptPrinterProfile.mm58
    let p80 = ReceiptPrinterProfile.mm80

    @Test func exactFitStaysOnOneLine() {
        let s16 = String(repeating: "中", count: 16)
        #expect(ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text(s16)])) == [s16])
        let s24 = String(repeating: "中", count: 24)
        #expect(ESCPOSEncoder(profile: p80).layoutLines(ReceiptDocument([.text(s24)])) == [s24])
        let mixed = String(repeating: "中", count: 15) + "AB"  // 30 + 2 = 32
        #expect(ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text(mixed)])) == [mixed])
    }

    @Test func aCJKCharacterThatWouldStraddleTheEdgeMovesToTheNextLine() {
        // 31 ASCII columns leave 1: a two-column character never splits across lines.
        let s = String(repeating: "a", count: 31) + "中文"
        let lines = ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text(s)]))
        #expect(lines.allSatisfy { cols($0) <= 32 })
        #expect(lines.joined() == s)
        #expect(lines.count == 2)
        #expect(lines[1].hasSuffix("中文"))
        // Odd leftovers between CJK runs at 80 mm.
        let t = "编号" + String(repeating: "9", count: 43) + "号码"  // 4 + 43 = 47, then 2 does not fit
        let l80 = ESCPOSEncoder(profile: p80).layoutLines(ReceiptDocument([.text(t)]))
        #expect(l80.allSatisfy { cols($0) <= 48 })
        #expect(l80.joined() == t)
        #expect(l80.last?.hasSuffix("号码") == true)
    }

    @Test func closingPunctuationNeverStartsALine() {
        for p in [p58, p80] {
            let n = p.columns / 2
            let s = String(repeating: "中", count: n) + "。下一句，" + String(repeating: "文", count: n) + "）"
            let lines = ESCPOSEncoder(profile: p).layoutLines(ReceiptDocument([.text(s)]))
            #expect(lines.joined() == s)
            for l in lines {
                #expect(cols(l) <= p.columns, "\(l)")
                if let f = l.first { #expect(!"。，、）".contains(f), "line starts with \(f): \(l)") }
            }
        }
    }

    @Test(arguments: [(ReceiptPrinterProfile.mm58, 16), (ReceiptPrinterProfile.mm80, 24)])
    func doubleWidthWrapsAtHalfTheColumns(profile: ReceiptPrinterProfile, half: Int) {
        let enc = ESCPOSEncoder(profile: profile)
        let s = "受理回执" + String(repeating: "号", count: half) + "GH202612010001"
        for doc in [ReceiptDocument([.scaled(s, width: 2, height: 2)]), ReceiptDocument([.title(s)])] {
            let lines = enc.layoutLines(doc)
            #expect(lines.joined() == s)
            #expect(lines.allSatisfy { cols($0) <= half }, "\(lines)")
            #expect(lines.count >= 3)
        }
        // Double width, single height, also halves the columns; double height alone does not.
        let tall = enc.layoutLines(ReceiptDocument([.scaled(String(repeating: "中", count: half), width: 1, height: 2)]))
        #expect(tall.count == 1)
        let wide = enc.layoutLines(ReceiptDocument([.scaled(String(repeating: "中", count: half), width: 2, height: 1)]))
        #expect(wide.count == 2)
    }

    @Test func tripleWidthRoundsTheColumnsDown() {
        // 32 / 3 = 10 columns: five CJK characters or ten ASCII per line.
        let lines = ESCPOSEncoder(profile: p58).layoutLines(
            ReceiptDocument([.scaled(String(repeating: "中", count: 11), width: 3, height: 3)]))
        #expect(lines == [String(repeating: "中", count: 5), String(repeating: "中", count: 5), "中"])
    }

    @Test func anASCIIWordLongerThanTheLineIsBrokenHard() {
        let word = String(repeating: "X", count: 20)
        let lines = ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.scaled(word, width: 2, height: 1)]))
        #expect(lines == [String(repeating: "X", count: 16), String(repeating: "X", count: 4)])
    }

    @Test func scaledTextByteVector() throws {
        let bytes = try ESCPOSEncoder(profile: p58).encode(ReceiptDocument([.scaled("中A", width: 2, height: 1)]))
        #expect(body(bytes) == [0x1D, 0x21, 0x10, 0xD6, 0xD0, 0x41, 0x0A, 0x1D, 0x21, 0x00])
        let centred = try ESCPOSEncoder(profile: p80).encode(
            ReceiptDocument([.scaled("回执", width: 3, height: 2, align: .center, bold: true)]))
        #expect(
            body(centred) == [
                0x1B, 0x61, 0x01, 0x1B, 0x45, 0x01, 0x1D, 0x21, 0x21, 0xBB, 0xD8, 0xD6, 0xB4, 0x0A,
                0x1D, 0x21, 0x00, 0x1B, 0x45, 0x00, 0x1B, 0x61, 0x00,
            ])
        // Size 1x1 sends no size command; out-of-range factors are clamped to 1…8.
        #expect(
            body(try ESCPOSEncoder(profile: p58).encode(ReceiptDocument([.scaled("A", width: 1, height: 1)]))) == [
                0x41, 0x0A,
            ])
        #expect(
            body(try ESCPOSEncoder(profile: p58).encode(ReceiptDocument([.scaled("A", width: 0, height: 9)]))) == [
                0x1D, 0x21, 0x07, 0x41, 0x0A, 0x1D, 0x21, 0x00,
            ])
    }

    @Test func substitutionsAreCountedAtTheirPrintedWidth() {
        // ¥ becomes ￥ (two columns): 15 × 2 + 2 = 32 fits 58 mm exactly; one more character wraps.
        let s = String(repeating: "中", count: 15) + "¥"
        #expect(
            ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text(s)])) == [
                String(repeating: "中", count: 15) + "￥"
            ])
        let lines = ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text(s + "1")]))
        #expect(lines.count == 2 && lines.allSatisfy { cols($0) <= 32 })
        // An unprintable character is replaced visibly by a two-column ？, never dropped.
        let rare = ESCPOSEncoder(profile: p58).layoutLines(ReceiptDocument([.text("张𠀀三")]))
        #expect(rare == ["张？三"])
    }

    @Test func keyValueWithCJKValueAtBothWidths() {
        for p in [p58, p80] {
            let lines = ESCPOSEncoder(profile: p).layoutLines(
                ReceiptDocument([.keyValue("事项", String(repeating: "居民身份证换领", count: 4))]))
            #expect(lines.count >= 2)
            #expect(lines.allSatisfy { cols($0) <= p.columns }, "\(lines)")
            #expect(lines[0].hasPrefix("事项 "))
        }
    }
}
