// The JSON view of one read reply that `kioskctl idcard decode` and `kioskctl idcard read`
// print. Pure: bytes in, text out. Without `reveal` the ID number keeps its first and last 4
// characters (`1101**********0016`, the length is kept) and the name its first character (`测*`).

public enum IDCardReport {
    /// Why a reply file could not be decoded, as one line for stderr.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// Reads the file contents: raw bytes, or hex text with any whitespace (and optional `0x`
    /// prefixes or commas). Text that is all hex digits and separators is taken as hex.
    public static func bytes(fromFile data: [UInt8]) -> [UInt8] {
        let separators: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, 0x2C, 0x3A]
        var digits: [UInt8] = []
        var i = 0
        var isHex = !data.isEmpty
        while i < data.count {
            let c = data[i]
            if separators.contains(c) {
                i += 1
                continue
            }
            if c == 0x30, i + 1 < data.count, data[i + 1] | 0x20 == 0x78 {
                i += 2
                continue
            }  // 0x
            guard hexValue(c) != nil else {
                isHex = false
                break
            }
            digits.append(c)
            i += 1
        }
        guard isHex, !digits.isEmpty, digits.count % 2 == 0,
            !data.allSatisfy({ separators.contains($0) })
        else { return data }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var j = 0
        while j < digits.count {
            out.append(hexValue(digits[j])! << 4 | hexValue(digits[j + 1])!)
            j += 2
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// Decodes one reply frame to `30 01` or `30 10` (stray bytes before the preamble are
    /// skipped) and returns the identity, or a one-line reason.
    public static func decode(frame bytes: [UInt8]) throws -> IDCardIdentity {
        guard !bytes.isEmpty else { throw Failure("empty input: expected one reply frame to 30 01 or 30 10") }
        guard let start = findPreamble(bytes) else {
            throw Failure("no preamble: the bytes do not contain AA AA AA 96 69 (not a SAM reply frame)")
        }
        let frame = Array(bytes[start...])
        guard frame.count >= SAMFrame.headerSize else {
            throw Failure("truncated: \(frame.count) bytes after the preamble's start, a frame header needs 7")
        }
        let len = Int(frame[5]) << 8 | Int(frame[6])
        guard len >= SAMFrame.minimumReplyLength, len <= SAMFrame.maximumLength else {
            throw Failure("bad length: LEN is \(len), a reply needs 4…2560")
        }
        let total = SAMFrame.headerSize + len
        guard frame.count >= total else {
            throw Failure("truncated: LEN announces a \(total)-byte frame but only \(frame.count) bytes are there")
        }
        let computed = SAMFrame.checksum(frame[5..<(total - 1)])
        guard computed == frame[total - 1] else {
            throw Failure("bad checksum: XOR of LEN…data is \(hex(computed)), the frame says \(hex(frame[total - 1]))")
        }
        let reply: SAMReply
        do { reply = try SAMReply(frame: Array(frame[0..<total])) } catch let e as SAMFrameError {
            if case let .badStatusWords(sw1, sw2) = e {
                throw Failure("bad status words: SW1 SW2 are \(hex(sw1)) \(hex(sw2)), a reply has 00 00")
            }
            throw Failure("\(e)")
        }
        guard reply.status == 0x90 else {
            let o = reply.outcome
            throw Failure("status \(hex(reply.status)): \(o.technicianMessage)")
        }
        do {
            return try IDCardIdentity.decodeReadReply(reply.data)
        } catch let e as IDCardDataError {
            switch e {
            case .readReplyTooShort, .lengthMismatch, .wrongTextBlockSize:
                throw Failure("truncated: \(e)")
            case .unexpectedTextLength:
                throw Failure("bad length: \(e)")
            }
        }
    }

    static func findPreamble(_ b: [UInt8]) -> Int? {
        guard b.count >= 5 else { return b.starts(with: [0xAA]) ? nil : nil }
        for i in 0...(b.count - 5)
        where b[i] == 0xAA && b[i + 1] == 0xAA && b[i + 2] == 0xAA && b[i + 3] == 0x96 && b[i + 4] == 0x69 {
            return i
        }
        return nil
    }

    static func hex(_ b: UInt8) -> String { SAMHex.byte(b) }

    /// YYYYMMDD → YYYY-MM-DD; anything else is returned as it is.
    public static func isoDate(_ s: String) -> String {
        let c = Array(s)
        guard c.count == 8, c.allSatisfy({ $0.isASCII && $0.isNumber }) else { return s }
        return String(c[0..<4]) + "-" + String(c[4..<6]) + "-" + String(c[6..<8])
    }

    static func validity(_ v: CardValidity) -> String {
        switch v {
        case .longTerm: return "long-term"
        case .date(let d): return isoDate(d)
        }
    }

    /// The masked ID number: first 4 and last 4 characters, `*` between, length kept.
    public static func maskID(_ s: String) -> String {
        let c = Array(s)
        guard c.count > 8 else { return String(repeating: "*", count: c.count) }
        return String(c.prefix(4)) + String(repeating: "*", count: c.count - 8) + String(c.suffix(4))
    }

    /// The masked name: its first character and `*`.
    public static func maskName(_ s: String) -> String {
        guard let f = s.first else { return "" }
        return String(f) + "*"
    }

    /// One JSON object, keys in the documented order.
    public static func json(_ id: IDCardIdentity, reveal: Bool, today: String) -> String {
        var fields: [(String, JSONValue)] = []
        func add(_ k: String, _ v: JSONValue) { fields.append((k, v)) }
        let typeName: String
        switch id.cardType {
        case .resident: typeName = "resident"
        case .hmt: typeName = "hmt"
        case .foreign2017: typeName = "foreign2017"
        case .foreign2023: typeName = "foreign2023"
        }
        let foreign = id.cardType == .foreign2017 || id.cardType == .foreign2023
        add("cardType", .string(typeName))
        add("name", .string(reveal ? id.name : maskName(id.name)))
        if foreign { add("englishName", .string(reveal ? (id.englishName ?? "") : maskName(id.englishName ?? ""))) }
        add("sexCode", .string(id.sexCode))
        add("sex", .string(IDCardCodes.sexName(id.sexCode) ?? id.sexCode))
        if id.cardType == .resident {
            add("nationCode", .string(id.nationCode ?? ""))
            add("nation", .string(id.nation ?? ""))
        }
        if foreign { add("nationality", .string(id.nationality ?? "")) }
        add("birthDate", .string(isoDate(id.birthDate)))
        if id.cardType == .resident || id.cardType == .hmt { add("address", .string(id.address ?? "")) }
        add("idNumber", .string(reveal ? id.idNumber : maskID(id.idNumber)))
        add("idNumberValid", .bool(IDNumber.validate(id.idNumber, cardType: id.cardType, today: today) == nil))
        if id.cardType == .foreign2017 {
            add("issuerCode", .string(id.issuingAuthority ?? ""))
        } else {
            add("issuer", .string(id.issuingAuthority ?? ""))
        }
        add("validFrom", .string(validity(id.validFrom)))
        add("validTo", .string(validity(id.validTo)))
        if id.cardType == .hmt {
            add("passNumber", .string(id.passNumber ?? ""))
            add("issueCount", .string(id.issueCount ?? ""))
        }
        if id.cardType == .foreign2023 { add("renewalCount", .string(id.issueCount ?? "")) }
        if id.cardType == .foreign2017, let v = id.cardVersion { add("cardVersion", .string(v)) }
        add("photo", .int(id.photo.count))
        add("fingerprint", .int(id.fingerprint?.count ?? 0))
        return "{" + fields.map { "\"\($0.0)\": \($0.1.text)" }.joined(separator: ", ") + "}"
    }

    enum JSONValue {
        case string(String), int(Int), bool(Bool)
        var text: String {
            switch self {
            case .int(let i): return String(i)
            case .bool(let b): return b ? "true" : "false"
            case .string(let s):
                var out = "\""
                for u in s.unicodeScalars {
                    switch u {
                    case "\"": out += "\\\""
                    case "\\": out += "\\\\"
                    case "\n": out += "\\n"
                    case "\r": out += "\\r"
                    case "\t": out += "\\t"
                    default:
                        if u.value < 0x20 {
                            let h = String(u.value, radix: 16)
                            out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                        } else {
                            out.unicodeScalars.append(u)
                        }
                    }
                }
                return out + "\""
            }
        }
    }
}
