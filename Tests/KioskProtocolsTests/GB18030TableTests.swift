import Foundation
import Testing

@testable import KioskProtocols

#if canImport(Glibc)
    import Glibc
#endif

/// The receipt encoder's GB18030 table (built once from glibc iconv) against iconv itself, and the
/// sample receipt of `make bench` against the bytes the per-character iconv encoder produced.
@Suite struct GB18030TableTests {

    /// GB18030 code of one scalar straight from glibc iconv (the reference), or nil.
    static func iconvCode(_ cd: iconv_t, _ scalar: Unicode.Scalar) -> [UInt8]? {
        var input = Array(String(Character(scalar)).utf8)
        var out = [UInt8](repeating: 0, count: 8)
        _ = iconv(cd, nil, nil, nil, nil)
        var n = -1
        input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? =
                    UnsafeMutableRawPointer(inBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inLeft = inBuf.count
                var outPtr: UnsafeMutablePointer<CChar>? =
                    UnsafeMutableRawPointer(outBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var outLeft = outBuf.count
                if iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) != -1 && inLeft == 0 { n = outBuf.count - outLeft }
            }
        }
        return n < 0 ? nil : Array(out[0..<n])
    }

    @Test func tableMatchesIconvForEveryBMPScalar() throws {
        let codes = try #require(GB18030Table.codes)
        let cd = try #require(iconv_open("GB18030", "UTF-8"))
        defer { iconv_close(cd) }
        var twoByte = 0
        for v in UInt32(1)..<0x1_0000 {  // (NUL never reaches the table: a control character)
            guard let s = Unicode.Scalar(v) else {
                #expect(codes[Int(v)] == 0)
                continue
            }
            let table = GB18030Table.code(s, in: codes)
            guard let ref = Self.iconvCode(cd, s) else {
                #expect(table == nil, "iconv refuses U+\(String(v, radix: 16)); the table must not map it")
                continue
            }
            switch ref.count {
            case 1: #expect(table == UInt16(ref[0]), "U+\(String(v, radix: 16))")
            case 2:
                #expect(table == UInt16(ref[0]) << 8 | UInt16(ref[1]), "U+\(String(v, radix: 16))")
                twoByte += 1
            default: #expect(table == nil, "U+\(String(v, radix: 16)) needs \(ref.count) bytes")
            }
        }
        #expect(twoByte > 20_000)  // GBK's repertoire
    }

    /// Plain scalars take the fast path: each must be one Character even next to another plain
    /// scalar, NFC must leave them alone, and the slow path must classify them as printable.
    @Test func plainScalarsNeedNoGraphemeBreakingNormalisationOrSubstitution() throws {
        let plain = try #require(GB18030Table.plain)
        var scalars = String.UnicodeScalarView()
        for v in UInt32(0)..<0x1_0000 where plain[Int(v)] != 0 && v != 0x0A { scalars.append(Unicode.Scalar(v)!) }
        let s = String(scalars)
        #expect(s.count == s.unicodeScalars.count)
        #expect(s.precomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual(s.unicodeScalars))
        // Pairs in both orders (ASCII before and after CJK, kana, Latin-1 letters, Hangul syllables).
        let mixed = "a测ü가ア①─" + String(s.unicodeScalars.reversed().prefix(2000).map(Character.init))
        #expect(mixed.count == mixed.unicodeScalars.count)
        let r = ESCPOSEncoder.printable(s)
        #expect(r.text == s)
        #expect(r.replaced.isEmpty)
        #expect(plain[0x3F] != 0 && plain[0xFF1F] == 0xA3BF && plain[0x3000] == 0xA1A1)
        #expect(plain[0x0D] == 0 && plain[0x09] == 0 && plain[0xA5] == 0 && plain[0xE000] == 0)
        #expect(plain[0x301] == 0 && plain[0x200B] == 0 && plain[0xF92C] == 0)  // mark, format, compatibility ideograph
    }

    /// The sample receipt of `make bench`, byte for byte as the earlier encoder (iconv per
    /// character, NFC of every string) wrote it; scripts/check-escpos.py accepts these bytes.
    @Test func sampleReceiptIsByteIdenticalToTheIconvEncoder() throws {
        let doc = ReceiptDocument([
            .title("受理回执"), .text("襄垣县古韩镇综合便民服务中心", align: .center), .separator,
            .keyValue("办件编号", "GH202611230001"), .text("事项：城乡居民基本养老保险变更登记（性别、民族、居住地址、联系电话变更）"),
            .keyValue("申请人", "测**"), .keyValue("证件号码", "1101**********0016"), .keyValue("联系电话", "138****0000"),
            .keyValue("提交时间", "2026-11-23 20:30:44"), .separator, .qr("GH202611230001", size: 6),
            .text("请妥善保管本回执", align: .center), .feed(2), .cut(partial: true),
        ])
        let hex = [
            "1b401c261c5300001b61011d2111cadcc0edbbd8d6b40a1d21001b61001b6101cfe5d4abcfd8b9c5baabd5f2d7dbbacf",
            "b1e3c3f1b7fecef1d6d0d0c40a1b61002d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d",
            "2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d0ab0ecbcfeb1e0bac52020202020202020202020202020202020202020202020",
            "20202047483230323631313233303030310acac2cfeea3bab3c7cfe7bed3c3f1bbf9b1bed1f8c0cfb1a3cfd5b1e4b8fc",
            "b5c7bcc7a3a8d0d4b1f0a1a2c3f1d7e5a1a20abed3d7a1b5d8d6b7a1a2c1aacfb5b5e7bbb0b1e4b8fca3a90ac9eac7eb",
            "c8cb2020202020202020202020202020202020202020202020202020202020202020202020202020b2e22a2a0ad6a4bc",
            "febac5c2eb20202020202020202020202020202020202020202020313130312a2a2a2a2a2a2a2a2a2a303031360ac1aa",
            "cfb5b5e7bbb020202020202020202020202020202020202020202020202020202020203133382a2a2a2a303030300acc",
            "e1bdbbcab1bce4202020202020202020202020202020202020202020323032362d31312d32332032303a33303a34340a",
            "2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d",
            "0a1b61011d286b0400314132001d286b03003143061d286b03003145311d286b11003150304748323032363131323330",
            "3030311d286b03003151301b61001b6101c7ebcdd7c9c6b1a3b9dcb1bebbd8d6b40a1b61001b64021d5642031d7201",
        ].joined()
        var expected: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            expected.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        let bytes = try ESCPOSEncoder(profile: .mm80).encode(doc)
        #expect(bytes.count == 575)
        #expect(bytes == expected)
    }

    /// Text off the fast path (combining marks, emoji, compatibility ideographs, control
    /// characters) still comes out as the slow path always mapped it.
    @Test func slowPathCharactersKeepTheirMapping() throws {
        let r = ESCPOSEncoder.printable("e\u{301}郎\u{F92C}😀a\tb\u{200B}c\r\nd")
        #expect(r.text == "é郎郎？a bc\nd")
        #expect(r.replaced == ["😀"])
        let bytes = try ESCPOSEncoder(profile: .mm80, autoStatusBackMask: nil, endOfJobSentinel: false).encode(
            ReceiptDocument([.text("é😀")]))
        #expect(Array(bytes.suffix(5)) == [0xA8, 0xA6, 0xA3, 0xBF, 0x0A])
    }
}
