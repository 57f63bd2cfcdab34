// ESC/POS encoder: ReceiptDocument -> bytes for a GB18030 (Chinese-mode) receipt printer.
// Pure: no I/O. Text is NFC-normalised and encoded to GB18030 through a table built once from glibc
// iconv (GB18030Table: no iconv call and no allocation per character), and kept in GB18030's one- and
// two-byte area, because printers mangle four-byte codes (devices.md §2.2).

import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

public enum ESCPOSError: Error, Sendable, Equatable, CustomStringConvertible {
    case qrPayloadEmpty
    case qrPayloadTooLong(bytes: Int, maximum: Int)
    case qrTooLargeForPaper(bytes: Int, paperDots: Int)
    case qrPayloadContainsDLE
    case barcodeInvalid(String)
    case barcodeTooWide(characters: Int, maximum: Int)
    case imageInvalid(String)
    case imageTooWide(widthDots: Int, paperDots: Int)
    case unsupportedEncoding(String)
    case encodingUnavailable(String)

    public var description: String {
        switch self {
        case .qrPayloadEmpty:
            return "QR payload is empty; pass the text or URL to encode, or leave the QR element out."
        case .qrPayloadTooLong(let bytes, let maximum):
            return "QR payload is \(bytes) bytes (UTF-8) but at most \(maximum) fit a QR code at ECC level M; "
                + "print a short reference or URL instead of the full data."
        case .qrTooLargeForPaper(let bytes, let dots):
            return "A QR code holding \(bytes) bytes does not fit \(dots)-dot paper at a scannable module size; "
                + "shorten the payload (a short reference or URL)."
        case .qrPayloadContainsDLE:
            return "QR payload contains byte 0x10 (DLE), which the printer would execute as a real-time command; "
                + "remove control characters from the payload."
        case .barcodeInvalid(let why):
            return "Barcode payload rejected: \(why). CODE128 here takes 1-253 printable ASCII characters; "
                + "use a QR code for other text."
        case .barcodeTooWide(let n, let maximum):
            return "CODE128 barcode of \(n) characters is wider than the paper (at most \(maximum)); "
                + "shorten it or use a QR code."
        case .imageInvalid(let why):
            return "Raster image rejected: \(why). bits must hold (widthDots + 7) / 8 bytes per row, row-major."
        case .imageTooWide(let w, let dots):
            return "Raster image is \(w) dots wide but the paper has \(dots) dots; scale it to at most \(dots) dots."
        case .unsupportedEncoding(let name):
            return
                "Printer profile encoding \"\(name)\" is not supported; use \"GB18030\" (or chineseMode = false for ASCII)."
        case .encodingUnavailable(let why):
            return "GB18030 conversion is unavailable (\(why)); install glibc's gconv modules "
                + "(Debian: package libc6, /usr/lib/x86_64-linux-gnu/gconv/GB18030.so) or set chineseMode = false."
        }
    }
}

public struct ESCPOSEncoder: Sendable {
    public let profile: ReceiptPrinterProfile
    /// Sent as `GS a n` after `ESC @` when set (ASB: 4F or FF). Nil: leave ASB alone.
    public var autoStatusBackMask: UInt8?
    /// Append `GS r 1` after the job; its reply tells the host everything before it was processed.
    public var endOfJobSentinel: Bool

    public init(profile: ReceiptPrinterProfile) {
        self.init(profile: profile, autoStatusBackMask: nil, endOfJobSentinel: true)
    }

    public init(profile: ReceiptPrinterProfile, autoStatusBackMask: UInt8?, endOfJobSentinel: Bool) {
        self.profile = profile
        self.autoStatusBackMask = autoStatusBackMask
        self.endOfJobSentinel = endOfJobSentinel
    }

    /// Largest QR payload (bytes) at ECC M, version 40, byte mode.
    public static let maxQRPayloadBytes = 2331
    /// Extra feed units sent with GS V 41/42 n (the command itself feeds to the cutting position).
    static let cutFeedUnits: UInt8 = 3
    /// Lines fed instead of cutting on printers without a cutter (to clear the tear bar).
    static let tearOffFeedLines: UInt8 = 4

    // MARK: Text substitution

    /// Replacement for characters the printer cannot print from its two-byte font.
    public static let replacementCharacter: Character = "？"  // U+FF1F, GB18030 A3 BF

    /// Makes `s` printable from GB18030's one- and two-byte area: NFC, the substitution table
    /// (¥→￥, •・→·, ✓✔→√, ✗✘→×, ™®©→TM (R) (C), €→EUR, −‑‒→-, «»‹›→<< >> < >, other spaces and
    /// tab → " "), and a visible "？" for anything that would need a four-byte code (CJK Ext-A/B…,
    /// emoji, letters outside GBK such as ï ß, combining sequences), private-use characters, control
    /// characters, or that iconv refuses.
    /// `replaced` lists the original characters that became "？" (lossy), in order; table substitutions
    /// are not listed. Invisible format characters (ZWSP, ZWJ, BOM, soft hyphen) are removed.
    /// Newlines are kept (as "\n").
    public static func printable(_ s: String) -> (text: String, replaced: [Character]) {
        printable(s, chineseMode: true)
    }

    /// As `printable(_:)`; with `chineseMode: false` the result is printable ASCII only and the
    /// replacement is "?".
    public static func printable(_ s: String, chineseMode: Bool) -> (text: String, replaced: [Character]) {
        let mapper = TextMapper(chineseMode: chineseMode, codes: chineseMode ? GB18030Table.codes : nil)
        let r = mapper.map(s)
        return (r.text, r.replaced)
    }

    // MARK: Encoding

    public func encode(_ doc: ReceiptDocument) throws -> [UInt8] {
        let chinese = profile.chineseMode
        var codes: [UInt16]? = nil
        if chinese {
            guard Self.isGB18030(profile.encoding) else { throw ESCPOSError.unsupportedEncoding(profile.encoding) }
            guard let c = GB18030Table.codes else {
                throw ESCPOSError.encodingUnavailable("iconv_open(\"GB18030\", \"UTF-8\") failed")
            }
            codes = c
        }
        var w = Writer(profile: profile, mapper: TextMapper(chineseMode: chinese, codes: codes))

        w.out += [0x1B, 0x40]
        if let mask = autoStatusBackMask { w.out += [0x1D, 0x61, mask] }
        w.out += chinese ? [0x1C, 0x26] : [0x1C, 0x2E]
        w.out += [0x1C, 0x53, 0x00, 0x00]

        for element in doc.elements {
            try w.write(element)
        }

        if endOfJobSentinel { w.out += [0x1D, 0x72, 0x01] }
        return w.out
    }

    /// "GB18030", in any case, with or without hyphens.
    static func isGB18030(_ encoding: String) -> Bool {
        let letters = encoding.utf8.filter { $0 != UInt8(ascii: "-") }.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
        return letters.elementsEqual("GB18030".utf8)
    }

    /// The text lines `encode` prints for `doc` (after substitution and wrapping), in order, as an
    /// `ESCPOSDecoder` reports them: feeds (and a cut on a printer without cutter) add blank lines,
    /// QR/barcode/image elements add none (a QR on a printer without QR support adds its text).
    /// Useful to compare with a decoded `PrintedReceiptView`.
    public func layoutLines(_ doc: ReceiptDocument) -> [String] {
        var w = Writer(
            profile: profile,
            mapper: TextMapper(
                chineseMode: profile.chineseMode,
                codes: profile.chineseMode ? GB18030Table.codes : nil))
        for element in doc.elements { try? w.write(element) }
        return w.lines
    }
}

// MARK: - Writer

private struct Writer {
    let profile: ReceiptPrinterProfile
    let mapper: TextMapper
    var out: [UInt8] = []
    var lines: [String] = []

    init(profile: ReceiptPrinterProfile, mapper: TextMapper) {
        self.profile = profile
        self.mapper = mapper
        out.reserveCapacity(1024)
    }

    var columns: Int { max(1, profile.columns) }

    static func printerWidth(_ c: Character) -> Int {
        if c.isASCII { return c.isNewline ? 0 : 1 }
        return 2
    }

    func width(_ s: String) -> Int {
        if let n = mapper.plainWidth(s) { return n }
        var n = 0
        for c in s { n += Writer.printerWidth(c) }
        return n
    }

    func wrap(_ s: String, columns: Int) -> [String] {
        // A plain line that fits needs no grapheme breaking.
        if let n = mapper.plainWidth(s), n <= columns, !s.utf8.contains(0x0A) { return [s] }
        return DisplayWidth.wrap(s, columns: columns, width: Writer.printerWidth)
    }

    mutating func line(_ s: String) {
        lines.append(s)
        mapper.append(s, to: &out)
        out.append(0x0A)
    }

    mutating func align(_ a: ReceiptAlign) {
        let n: UInt8
        switch a {
        case .left: n = 0
        case .center: n = 1
        case .right: n = 2
        }
        out += [0x1B, 0x61, n]
    }

    mutating func write(_ element: ReceiptElement) throws {
        switch element {
        case .title(let s):
            try write(.scaled(s, width: 2, height: 2, align: .center, bold: false))

        case .scaled(let s, let wRaw, let hRaw, let a, let bold):
            let wf = min(8, max(1, wRaw))
            let hf = min(8, max(1, hRaw))
            let text = mapper.map(s).text
            if a != .left { align(a) }
            if bold { out += [0x1B, 0x45, 0x01] }
            let sized = wf > 1 || hf > 1
            if sized { out += [0x1D, 0x21, UInt8((wf - 1) << 4 | (hf - 1))] }
            // Every character is wf times as wide: wrap at the columns that leaves.
            for l in wrap(text, columns: max(1, columns / wf)) { line(l) }
            if sized { out += [0x1D, 0x21, 0x00] }
            if bold { out += [0x1B, 0x45, 0x00] }
            if a != .left { align(.left) }

        case .text(let s, let a, let bold):
            let text = mapper.map(s).text
            if a != .left { align(a) }
            if bold { out += [0x1B, 0x45, 0x01] }
            for l in wrap(text, columns: columns) { line(l) }
            if bold { out += [0x1B, 0x45, 0x00] }
            if a != .left { align(.left) }

        case .keyValue(let k, let v):
            for l in keyValueLines(mapper.map(k).text, mapper.map(v).text) { line(l) }

        case .separator:
            line(String(repeating: "-", count: columns))

        case .qr(let payload, let size):
            if profile.supportsQR {
                try qr(payload, size: size)
            } else {
                try write(.text(payload, align: .center, bold: false))
            }

        case .barcode(let payload):
            try barcode(payload)

        case .logo(let image):
            try raster(image)

        case .feed(let n):
            var left = n
            while left > 0 {
                let k = min(left, 255)
                out += [0x1B, 0x64, UInt8(k)]
                for _ in 0..<k { lines.append("") }
                left -= k
            }

        case .cut(let partial):
            if profile.supportsCut {
                let p = partial || profile.partialCutOnly
                out += [0x1D, 0x56, p ? 0x42 : 0x41, ESCPOSEncoder.cutFeedUnits]
            } else {
                out += [0x1B, 0x64, ESCPOSEncoder.tearOffFeedLines]
                for _ in 0..<Int(ESCPOSEncoder.tearOffFeedLines) { lines.append("") }
            }
        }
    }

    // MARK: key / value

    func keyValueLines(_ key: String, _ value: String) -> [String] {
        let cols = columns
        let keyLines = wrap(key, columns: cols)
        let valueOneLine = !value.contains(where: { $0.isNewline })
        let kw = width(keyLines.last ?? "")
        let vw = width(value)
        // Fits on one line with at least one space between.
        if keyLines.count == 1 && valueOneLine && (vw == 0 || kw + 1 + vw <= cols) {
            if vw == 0 { return [keyLines[0]] }
            return [keyLines[0] + String(repeating: " ", count: cols - kw - vw) + value]
        }
        func rightAligned(_ s: String) -> String {
            let w = width(s)
            return w >= cols ? s : String(repeating: " ", count: cols - w) + s
        }
        // Short key: the value wraps in the column to its right, continuation lines right-aligned.
        if keyLines.count == 1 && kw <= cols / 2 {
            let valueLines = wrap(value, columns: max(1, cols - kw - 1))
            var result: [String] = []
            for (i, vl) in valueLines.enumerated() {
                if i == 0 {
                    let gap = max(1, cols - kw - width(vl))
                    result.append(keyLines[0] + String(repeating: " ", count: gap) + vl)
                } else {
                    result.append(rightAligned(vl))
                }
            }
            return result
        }
        // Long key: key lines first, then the value right-aligned underneath.
        return keyLines + wrap(value, columns: cols).map(rightAligned)
    }

    // MARK: QR

    /// Byte-mode capacity at ECC level M for versions 1...40.
    static let qrCapacityM: [Int] = [
        14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
        711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, 1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099,
        2213, 2331,
    ]

    static let minimumQRModuleDots = 3

    mutating func qr(_ payload: String, size requested: UInt8) throws {
        let data = Array(payload.utf8)
        guard !data.isEmpty else { throw ESCPOSError.qrPayloadEmpty }
        guard data.count <= ESCPOSEncoder.maxQRPayloadBytes else {
            throw ESCPOSError.qrPayloadTooLong(bytes: data.count, maximum: ESCPOSEncoder.maxQRPayloadBytes)
        }
        guard !data.contains(0x10) else { throw ESCPOSError.qrPayloadContainsDLE }
        guard let index = Writer.qrCapacityM.firstIndex(where: { $0 >= data.count }) else {
            throw ESCPOSError.qrPayloadTooLong(bytes: data.count, maximum: ESCPOSEncoder.maxQRPayloadBytes)
        }
        let version = index + 1
        // Symbol plus a 4-module quiet zone each side must fit the paper.
        let modulesWithQuietZone = 17 + 4 * version + 8
        var size = Int(min(max(requested, 1), min(max(profile.maxQRSize, 1), 16)))
        // Shrink to fit the paper, but not below 3 dots per module (~0.375 mm at 203 dpi; smaller
        // modules do not scan reliably) unless the caller asked for smaller.
        let smallest = min(size, Writer.minimumQRModuleDots)
        while size > smallest && modulesWithQuietZone * size > profile.dots { size -= 1 }
        guard modulesWithQuietZone * size <= profile.dots else {
            throw ESCPOSError.qrTooLargeForPaper(bytes: data.count, paperDots: profile.dots)
        }
        let storeLength = data.count + 3
        align(.center)
        out += [0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]  // fn 165: model 2
        out += [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, UInt8(size)]  // fn 167: module size
        out += [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31]  // fn 169: ECC M
        out += [0x1D, 0x28, 0x6B, UInt8(storeLength & 0xFF), UInt8(storeLength >> 8), 0x31, 0x50, 0x30]
        out += data  // fn 180: store (bytes)
        out += [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]  // fn 181: print
        align(.left)
    }

    // MARK: Barcode

    mutating func barcode(_ payload: String) throws {
        guard !payload.isEmpty else { throw ESCPOSError.barcodeInvalid("it is empty") }
        let bytes = Array(payload.utf8)
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw ESCPOSError.barcodeInvalid("it contains characters outside printable ASCII")
        }
        // Code set B for text; a run of digits switches to code set C (two digits per symbol) where
        // that is shorter: 4+ digits at the start or end, 6+ in the middle. Case numbers like
        // GH202612010001 then fit 58 mm paper. The first code set is the start symbol; later
        // switches cost one symbol each.
        var data: [UInt8] = []
        var symbols = 0
        var setC: Bool? = nil
        var i = 0
        while i < bytes.count {
            var run = 0
            while i + run < bytes.count, bytes[i + run] >= 0x30, bytes[i + run] <= 0x39 { run += 1 }
            let atEdge = i == 0 || i + run == bytes.count
            if run >= (atEdge ? 4 : 6) {
                if setC != true {
                    data += [0x7B, 0x43]
                    if setC != nil { symbols += 1 }
                    setC = true
                }
                let pairs = run / 2
                for k in 0..<pairs {
                    data.append((bytes[i + 2 * k] - 0x30) * 10 + (bytes[i + 2 * k + 1] - 0x30))
                    symbols += 1
                }
                i += pairs * 2
                continue
            }
            let take = max(1, run)  // a short digit run stays in code set B
            if setC != false {
                data += [0x7B, 0x42]
                if setC != nil { symbols += 1 }
                setC = false
            }
            for b in bytes[i..<(i + take)] {
                data.append(b)
                if b == 0x7B { data.append(0x7B) }  // "{" is escaped as "{{"
                symbols += 1
            }
            i += take
        }
        // Modules: start 11 + 11 per symbol + check 11 + stop 13 + 10 quiet zone each side.
        let moduleWidth = 2
        let modules = 11 + 11 * symbols + 11 + 13 + 20
        let maxChars = (profile.dots / moduleWidth - 55) / 11
        guard modules * moduleWidth <= profile.dots else {
            throw ESCPOSError.barcodeTooWide(characters: bytes.count, maximum: max(0, maxChars))
        }
        guard data.count <= 255 else { throw ESCPOSError.barcodeInvalid("it is longer than 253 characters") }
        align(.center)
        out += [0x1D, 0x48, 0x02]  // HRI below
        out += [0x1D, 0x66, 0x00]  // HRI font A
        out += [0x1D, 0x68, 0x50]  // height 80 dots
        out += [0x1D, 0x77, UInt8(moduleWidth)]  // module width
        out += [0x1D, 0x6B, 0x49, UInt8(data.count)] + data
        align(.left)
    }

    // MARK: Raster

    mutating func raster(_ image: RasterImage) throws {
        guard image.widthDots > 0, image.heightDots > 0 else {
            throw ESCPOSError.imageInvalid(
                "width and height must be positive (got \(image.widthDots)×\(image.heightDots))")
        }
        let rowBytes = (image.widthDots + 7) / 8
        guard image.bits.count == rowBytes * image.heightDots else {
            throw ESCPOSError.imageInvalid("expected \(rowBytes * image.heightDots) bytes, got \(image.bits.count)")
        }
        guard image.widthDots <= profile.dots else {
            throw ESCPOSError.imageTooWide(widthDots: image.widthDots, paperDots: profile.dots)
        }
        let band = max(1, min(profile.rasterBandRows, 256))
        align(.center)
        var row = 0
        while row < image.heightDots {
            let rows = min(band, image.heightDots - row)
            out += [
                0x1D, 0x76, 0x30, 0x00,
                UInt8(rowBytes & 0xFF), UInt8(rowBytes >> 8),
                UInt8(rows & 0xFF), UInt8(rows >> 8),
            ]
            var chunk = Array(image.bits[(row * rowBytes)..<((row + rows) * rowBytes)])
            Writer.defuseRealTimeCommands(&chunk)
            out += chunk
            row += rows
        }
        align(.left)
    }

    /// DLE EOT / DLE ENQ / DLE DC4 inside image data execute as real-time commands on many printers;
    /// flip one pixel (the lowest bit of the 0x10 byte) wherever such a sequence would occur.
    static func defuseRealTimeCommands(_ data: inout [UInt8]) {
        var i = 0
        while i + 1 < data.count {
            if data[i] == 0x10 {
                let next = data[i + 1]
                if next == 0x04 || next == 0x05 || next == 0x14 { data[i] = 0x11 }
            }
            i += 1
        }
    }
}

// MARK: - Text mapping

/// Per-call text mapper (not Sendable: caches the classification of unusual characters).
final class TextMapper {
    let chineseMode: Bool
    /// GB18030Table.codes in Chinese mode (nil: ASCII only).
    let codes: [UInt16]?
    /// GB18030Table.plain in Chinese mode: the characters that take the fast path.
    let plain: [UInt16]?
    let replacement: Character
    private var cache: [Character: Entry] = [:]

    enum Entry {
        case ok([UInt8])
        case substitute(String)
        case replace
        case drop
    }

    init(chineseMode: Bool, codes: [UInt16]?) {
        self.chineseMode = chineseMode
        self.codes = chineseMode ? codes : nil
        self.plain = (chineseMode && codes != nil) ? GB18030Table.plain : nil
        self.replacement = (chineseMode && codes != nil) ? "？" : "?"
    }

    /// True when every scalar of `s` is in `plain`: `map` leaves such a string as it is, each
    /// scalar is one character, and its bytes come straight from the table.
    @inline(__always)
    func isPlain(_ s: String) -> Bool {
        guard let plain else { return false }
        return plain.withUnsafeBufferPointer { t in
            for u in s.unicodeScalars {
                let v = u.value
                if v >= 0x1_0000 || t[Int(v)] == 0 { return false }
            }
            return true
        }
    }

    /// Printer columns of a plain string (1 per ASCII character but newline, 2 per other), or nil
    /// when `s` is not plain.
    func plainWidth(_ s: String) -> Int? {
        guard let plain else { return nil }
        return plain.withUnsafeBufferPointer { t -> Int? in
            var n = 0
            for u in s.unicodeScalars {
                let v = u.value
                if v >= 0x1_0000 || t[Int(v)] == 0 { return nil }
                n += v < 0x80 ? (v == 0x0A ? 0 : 1) : 2
            }
            return n
        }
    }

    /// Appends the bytes of `s` (text produced by `map`) to `out`.
    func append(_ s: String, to out: inout [UInt8]) {
        guard isPlain(s), let plain else {
            out += bytes(s)
            return
        }
        plain.withUnsafeBufferPointer { t in
            for u in s.unicodeScalars {
                let c = t[Int(u.value)]
                if c < 0x80 {
                    out.append(UInt8(c))
                } else {
                    out.append(UInt8(c >> 8))
                    out.append(UInt8(c & 0xFF))
                }
            }
        }
    }

    static let chineseSubstitutions: [Character: String] = [
        "¥": "￥", "•": "·", "・": "·", "‧": "·", "∙": "·", "✓": "√", "✔": "√", "✗": "×", "✘": "×",
        "™": "TM", "®": "(R)", "©": "(C)", "€": "EUR",
        // Typographic look-alikes that would need four-byte codes.
        "−": "-", "‑": "-", "‒": "-", "«": "<<", "»": ">>", "‹": "<", "›": ">", "„": "“", "‚": "‘",
    ]

    static let asciiSubstitutions: [Character: String] = [
        "¥": "RMB", "￥": "RMB", "•": "*", "・": "*", "·": "*", "✓": "v", "✔": "v", "√": "v", "✗": "x", "✘": "x",
        "×": "x", "™": "TM", "®": "(R)", "©": "(C)", "€": "EUR", "“": "\"", "”": "\"", "‘": "'", "’": "'",
        "—": "-", "–": "-", "‐": "-", "…": "...", "：": ":", "，": ",", "。": ".", "（": "(", "）": ")",
        "！": "!", "？": "?", "；": ";", "\u{3000}": " ",
    ]

    /// Maps a string; `text` contains only characters `bytes(_:)` can encode.
    func map(_ s: String) -> (text: String, replaced: [Character]) {
        if isPlain(s) { return (s, []) }  // NFC and classification leave it unchanged
        let nfc = s.precomposedStringWithCanonicalMapping
        var text = ""
        text.reserveCapacity(nfc.utf8.count)
        var replaced: [Character] = []
        for c in nfc {
            switch entry(c) {
            case .ok:
                text.append(c)
            case .substitute(let t):
                text += t
            case .replace:
                text.append(replacement)
                replaced.append(c)
            case .drop:
                break
            }
        }
        return (text, replaced)
    }

    /// Bytes of text produced by `map` (unmappable characters, if any slip through, print as the
    /// replacement).
    func bytes(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch entry(c) {
            case .ok(let b): out += b
            case .substitute(let t): out += bytes(t)
            case .replace: out += replacementBytes
            case .drop: break
            }
        }
        return out
    }

    private var replacementBytes: [UInt8] {
        (chineseMode && codes != nil) ? [0xA3, 0xBF] : [0x3F]
    }

    private func entry(_ c: Character) -> Entry {
        if let e = cache[c] { return e }
        let e = classify(c)
        cache[c] = e
        return e
    }

    private func classify(_ c: Character) -> Entry {
        if c.isNewline { return c == "\n" ? .ok([0x0A]) : .substitute("\n") }
        if c == "\t" { return .substitute(" ") }
        let scalars = c.unicodeScalars
        if scalars.count == 1, let v = scalars.first?.value, v < 0x80 {
            return (v >= 0x20 && v < 0x7F) ? .ok([UInt8(v)]) : .replace
        }
        // Invisible format characters (ZWSP, ZWJ, BOM, soft hyphen, direction marks) carry no ink.
        if scalars.allSatisfy({ $0.properties.generalCategory == .format }) { return .drop }
        let useChinese = chineseMode && codes != nil
        if let t = (useChinese ? TextMapper.chineseSubstitutions : TextMapper.asciiSubstitutions)[c] {
            return .substitute(t)
        }
        // Other space separators (NBSP, thin space, …) become a plain space; U+3000 stays in Chinese mode.
        if scalars.count == 1, let s = scalars.first, s.properties.generalCategory == .spaceSeparator,
            !(useChinese && s.value == 0x3000)
        {
            return .substitute(" ")
        }
        guard useChinese, let codes else { return .replace }
        // Private-use characters map to user-defined GB areas the printer font does not have.
        if scalars.contains(where: { $0.properties.generalCategory == .privateUse }) { return .replace }
        // Each scalar's one- or two-byte code (GB18030 is stateless); any four-byte one: replace.
        var gb: [UInt8] = []
        for u in scalars {
            guard let code = GB18030Table.code(u, in: codes) else { return .replace }
            if code < 0x80 {
                gb.append(UInt8(code))
            } else {
                gb += [UInt8(code >> 8), UInt8(code & 0xFF)]
            }
        }
        return .ok(gb)
    }
}

// MARK: - iconv wrapper

/// glibc iconv from GB18030 to UTF-8 (the decoder's side; encoding uses GB18030Table), handle
/// opened lazily. Not Sendable; create per call.
final class GB18030Codec {
    private var fromGB: iconv_t?
    private var triedFrom = false

    private static func open(_ to: String, _ from: String) -> iconv_t? {
        guard let cd = iconv_open(to, from), cd != iconv_t(bitPattern: -1) else { return nil }
        return cd
    }

    private var toGB: iconv_t?
    private var triedTo = false

    init() {}

    deinit {
        if let fromGB { iconv_close(fromGB) }
        if let toGB { iconv_close(toGB) }
    }

    /// UTF-8 -> GB18030, four-byte sequences included (a terminal's text; receipts use
    /// GB18030Table). Nil when glibc lacks the converter or refuses a character.
    func encode(_ utf8: [UInt8]) -> [UInt8]? {
        if utf8.allSatisfy({ $0 < 0x80 }) { return utf8 }
        if !triedTo {
            triedTo = true
            toGB = GB18030Codec.open("GB18030", "UTF-8")
        }
        guard let cd = toGB else { return nil }
        _ = iconv(cd, nil, nil, nil, nil)
        var input = utf8
        var out = [UInt8](repeating: 0, count: utf8.count * 2 + 8)  // at most 4 bytes for every 2+ of UTF-8
        let written: Int? = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inBuf.baseAddress!)
                    .assumingMemoryBound(to: CChar.self)
                var inLeft = inBuf.count
                var outPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(outBuf.baseAddress!)
                    .assumingMemoryBound(to: CChar.self)
                var outLeft = outBuf.count
                guard iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft) != -1, inLeft == 0 else { return nil }
                return outBuf.count - outLeft
            }
        }
        guard let written else { return nil }
        return Array(out.prefix(written))
    }

    /// GB18030 -> String; invalid or truncated sequences become U+FFFD (one per bad byte).
    func decode(_ gb: [UInt8]) -> String {
        if gb.isEmpty { return "" }
        if gb.allSatisfy({ $0 < 0x80 }) { return String(decoding: gb, as: UTF8.self) }
        if !triedFrom {
            triedFrom = true
            fromGB = GB18030Codec.open("UTF-8", "GB18030")
        }
        guard let cd = fromGB else {
            return String(String.UnicodeScalarView(gb.map { $0 < 0x80 ? Unicode.Scalar($0) : "\u{FFFD}" }))
        }
        _ = iconv(cd, nil, nil, nil, nil)
        var input = gb
        var result: [UInt8] = []
        result.reserveCapacity(gb.count * 2)
        var scratch = [UInt8](repeating: 0, count: gb.count * 4 + 8)
        input.withUnsafeMutableBufferPointer { inBuf in
            scratch.withUnsafeMutableBufferPointer { outBuf in
                let inBase = UnsafeMutableRawPointer(inBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inPtr: UnsafeMutablePointer<CChar>? = inBase
                var inLeft = inBuf.count
                while inLeft > 0 {
                    var outPtr: UnsafeMutablePointer<CChar>? =
                        UnsafeMutableRawPointer(outBuf.baseAddress!).assumingMemoryBound(to: CChar.self)
                    var outLeft = outBuf.count
                    let r = iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
                    let produced = outBuf.count - outLeft
                    result.append(contentsOf: UnsafeBufferPointer(start: outBuf.baseAddress, count: produced))
                    if r != -1 { break }
                    let err = errno
                    if err == E2BIG { continue }
                    // EILSEQ: skip one byte; EINVAL: truncated sequence at the end.
                    result += [0xEF, 0xBF, 0xBD]
                    if err == EINVAL { break }
                    inPtr = inPtr.map { $0 + 1 }
                    inLeft -= 1
                    _ = iconv(cd, nil, nil, nil, nil)
                }
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
