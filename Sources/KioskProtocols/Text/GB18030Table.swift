// GB18030 encoding of the Basic Multilingual Plane, built once per process from glibc's own
// converter, so the receipt encoder maps each character with an array lookup (no iconv call and
// no allocation per character) and its bytes stay identical to what iconv produces.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

enum GB18030Table {
    /// For each BMP scalar value: its GB18030 code when that is one byte (the value itself, < 0x80)
    /// or two bytes (lead << 8 | trail, >= 0x8140); 0 when GB18030 needs four bytes or the scalar
    /// is a surrogate. Nil when glibc cannot convert UTF-8 to GB18030 (gconv modules missing).
    /// Built on first use (about 60,000 characters through one iconv call), 128 KiB.
    static let codes: [UInt16]? = build()

    /// The receipt encoder's fast path, for Chinese mode: for each BMP scalar that (1) the encoder
    /// prints unchanged (`TextMapper` classifies it `.ok`: no substitution, not a format, space,
    /// private-use or control character), (2) NFC leaves alone, and (3) always forms a grapheme
    /// cluster by itself next to another such scalar (no combining or spacing marks, no conjoining
    /// Hangul jamo), its GB18030 code as in `codes`; "\n" maps to 0x0A; 0 for every other scalar.
    /// A string made only of such scalars needs no normalisation, no substitution and no grapheme
    /// breaking: each scalar is one printed character (1 column if ASCII, else 2) and its code.
    static let plain: [UInt16]? = codes.map(buildPlain)

    /// Code of `scalar` in GB18030's one- and two-byte area, or nil.
    @inline(__always)
    static func code(_ scalar: Unicode.Scalar, in table: [UInt16]) -> UInt16? {
        let v = scalar.value
        if v < 0x80 { return UInt16(v) }
        guard v < 0x1_0000 else { return nil }
        let c = table[Int(v)]
        return c == 0 ? nil : c
    }

    private static func buildPlain(_ codes: [UInt16]) -> [UInt16] {
        var plain = [UInt16](repeating: 0, count: 0x1_0000)
        plain[0x0A] = 0x0A
        for v in 0x20..<0x7F { plain[v] = UInt16(v) }
        for v in 0x80..<0x1_0000 where codes[v] != 0 {
            guard let s = Unicode.Scalar(UInt32(v)) else { continue }
            switch s.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark, .format, .control, .privateUse, .surrogate,
                .lineSeparator, .paragraphSeparator, .unassigned:
                continue
            case .spaceSeparator where v != 0x3000:
                continue
            default: break
            }
            if (0x1100...0x11FF).contains(v) || (0xA960...0xA97F).contains(v) || (0xD7B0...0xD7FF).contains(v) {
                continue  // conjoining jamo join their neighbours into one cluster
            }
            if v == 0x85 || v == 0xFF9E || v == 0xFF9F { continue }
            if TextMapper.chineseSubstitutions[Character(s)] != nil { continue }
            let nfc = String(Character(s)).precomposedStringWithCanonicalMapping.unicodeScalars
            guard nfc.count == 1, nfc.first == s else { continue }
            plain[v] = codes[v]
        }
        return plain
    }

    private static func isSurrogate(_ v: UInt32) -> Bool { v >= 0xD800 && v <= 0xDFFF }

    private static func isPrivateUse(_ v: UInt32) -> Bool { v >= 0xE000 && v <= 0xF8FF }

    private static func build() -> [UInt16]? {
        guard let cd = iconv_open("GB18030", "UTF-8"), cd != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(cd) }
        var table = [UInt16](repeating: 0, count: 0x1_0000)
        for v in 0..<UInt32(0x80) { table[Int(v)] = UInt16(v) }
        // Every non-ASCII BMP scalar but the private-use area in one iconv call; the private-use
        // area one at a time (glibc refuses a few of its code points, which would stop a bulk call).
        let bulk = (UInt32(0x80)..<0x1_0000).filter { !isSurrogate($0) && !isPrivateUse($0) }
        if !convertInOrder(cd, bulk, into: &table) {
            for v in bulk { table[Int(v)] = single(cd, v) }
        }
        for v in UInt32(0xE000)...0xF8FF { table[Int(v)] = single(cd, v) }
        return table
    }

    /// Converts `scalars` as one UTF-8 text and assigns each its code from the output, in order
    /// (GB18030 is stateless: 1, 2 or 4 bytes each, a four-byte code told apart by its second
    /// byte 0x30-0x39). False if iconv refuses any of them or the output does not line up.
    private static func convertInOrder(_ cd: iconv_t, _ scalars: [UInt32], into table: inout [UInt16]) -> Bool {
        var input: [UInt8] = []
        input.reserveCapacity(3 * scalars.count)
        for v in scalars { input.append(contentsOf: Unicode.Scalar(v)!.utf8) }
        var output = [UInt8](repeating: 0, count: input.count * 2 + 16)
        var produced = 0
        var ok = true
        _ = iconv(cd, nil, nil, nil, nil)
        input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? =
                    UnsafeMutableRawPointer(inBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inLeft = inBuf.count
                var outPtr: UnsafeMutablePointer<CChar>? =
                    UnsafeMutableRawPointer(outBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var outLeft = outBuf.count
                if iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) == -1 || inLeft != 0 { ok = false }
                produced = outBuf.count - outLeft
            }
        }
        guard ok else { return false }
        var codes = [UInt16](repeating: 0, count: scalars.count)
        var i = 0
        for k in scalars.indices {
            guard i < produced else { return false }
            let b = output[i]
            if b < 0x80 {
                codes[k] = UInt16(b)
                i += 1
            } else {
                guard i + 1 < produced else { return false }
                let t = output[i + 1]
                if t >= 0x30 && t <= 0x39 {
                    i += 4  // four-byte code: not printable from the two-byte font
                } else {
                    codes[k] = UInt16(b) << 8 | UInt16(t)
                    i += 2
                }
            }
        }
        guard i == produced else { return false }
        for (k, v) in scalars.enumerated() { table[Int(v)] = codes[k] }
        return true
    }

    /// One scalar's one- or two-byte code through iconv, or 0.
    private static func single(_ cd: iconv_t, _ v: UInt32) -> UInt16 {
        var input = Array(Unicode.Scalar(v)!.utf8)
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
                if iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) != -1 && inLeft == 0 {
                    n = outBuf.count - outLeft
                }
            }
        }
        if n == 1 && out[0] < 0x80 { return UInt16(out[0]) }
        if n == 2 { return UInt16(out[0]) << 8 | UInt16(out[1]) }
        return 0
    }
}
