// The 256-byte text block of Chinese ID cards and permits (docs/devices.md §1.7, §1.9),
// and the data part of the `30 01` / `30 10` replies (§1.3).
//
// The text block is UTF-16LE padded with U+0020. The card type is the character at bytes
// 248–249: ' ' resident ID card, 'J' HMT residence permit, 'I' 2017 foreign permanent
// residence card, 'Y' 2023 foreign permanent residence card. Unknown flags decode as resident.

/// Which document the chip belongs to. Raw values match `ApplicantData.cardType` upstream.
public enum IDCardType: String, Codable, Sendable, Equatable, Hashable, CaseIterable {
    /// 居民身份证 (flag `' '`)
    case resident
    /// 港澳台居民居住证 (flag `'J'`)
    case hmt
    /// 外国人永久居留身份证, 2017 edition (flag `'I'`)
    case foreign2017
    /// 外国人永久居留身份证, 2023 edition, GA 2102-2023 (flag `'Y'`)
    case foreign2023

    /// The UTF-16 code unit at bytes 248–249.
    public var flag: UInt16 {
        switch self {
        case .resident: 0x0020
        case .hmt: 0x004A
        case .foreign2017: 0x0049
        case .foreign2023: 0x0059
        }
    }

    /// Card type for a flag; `00 00` and unknown flags are treated as resident.
    public init(flag: UInt16) {
        switch flag {
        case 0x004A: self = .hmt
        case 0x0049: self = .foreign2017
        case 0x0059: self = .foreign2023
        default: self = .resident
        }
    }

    /// Chinese name of the document, for screens.
    public var chineseName: String {
        switch self {
        case .resident: "居民身份证"
        case .hmt: "港澳台居民居住证"
        case .foreign2017: "外国人永久居留身份证"
        case .foreign2023: "外国人永久居留身份证（2023版）"
        }
    }
}

/// A card's "valid to" (or "valid from") field: a YYYYMMDD date or 长期 (no expiry).
/// Encoded in JSON as a single string: the date, or "长期".
public enum CardValidity: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case date(String)
    case longTerm

    /// The chip text for `.longTerm` (`7F 95 1F 67` in UTF-16LE).
    public static let longTermText = "长期"

    /// Parses field text: "长期" → `.longTerm`, anything else → `.date(text)`.
    public init(text: String) {
        self = text == Self.longTermText ? .longTerm : .date(text)
    }

    /// The text as stored on the chip.
    public var text: String {
        switch self {
        case let .date(d): d
        case .longTerm: Self.longTermText
        }
    }

    /// The date, or nil for 长期.
    public var date: String? {
        if case let .date(d) = self { return d }
        return nil
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        self.init(text: try c.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

/// Why a text block or read reply could not be decoded. `description` says what to do.
public enum IDCardDataError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The text block is not 256 bytes.
    case wrongTextBlockSize(Int)
    /// The read-reply data is shorter than its length header.
    case readReplyTooShort(Int)
    /// The text length in the read-reply header is not 256.
    case unexpectedTextLength(Int)
    /// The read-reply data length does not match its header (text + photo [+ fingerprint]).
    case lengthMismatch(declared: Int, actual: Int)

    public var description: String {
        switch self {
        case let .wrongTextBlockSize(n):
            "ID-card text block is \(n) bytes, expected 256: the read reply was cut or mis-split. Ask the resident to re-place the card and read again (20 01, 20 02, 30 01)."
        case let .readReplyTooShort(n):
            "ID-card read reply has only \(n) data bytes, too short for its length header: read again from 20 01."
        case let .unexpectedTextLength(n):
            "ID-card read reply announces a \(n)-byte text block, expected 256: not a standard 30 01/30 10 reply; read again, and if it repeats check the reader model's profile."
        case let .lengthMismatch(declared, actual):
            "ID-card read reply has \(actual) data bytes but its header announces \(declared): the reply was cut or mis-split; read again from 20 01."
        }
    }
}

/// Code tables used on the chip.
public enum IDCardCodes {
    /// GB/T 2261.1 sex codes.
    public static let sexNames: [String: String] = ["0": "未知", "1": "男", "2": "女", "9": "未说明"]

    /// GB/T 3304 nation codes.
    public static let nationNames: [String: String] = [
        "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗", "07": "彝", "08": "壮",
        "09": "布依", "10": "朝鲜", "11": "满", "12": "侗", "13": "瑶", "14": "白", "15": "土家", "16": "哈尼",
        "17": "哈萨克", "18": "傣", "19": "黎", "20": "傈僳", "21": "佤", "22": "畲", "23": "高山", "24": "拉祜",
        "25": "水", "26": "东乡", "27": "纳西", "28": "景颇", "29": "柯尔克孜", "30": "土", "31": "达斡尔", "32": "仫佬",
        "33": "羌", "34": "布朗", "35": "撒拉", "36": "毛南", "37": "仡佬", "38": "锡伯", "39": "阿昌", "40": "普米",
        "41": "塔吉克", "42": "怒", "43": "乌孜别克", "44": "俄罗斯", "45": "鄂温克", "46": "德昂", "47": "保安", "48": "裕固",
        "49": "京", "50": "塔塔尔", "51": "独龙", "52": "鄂伦春", "53": "赫哲", "54": "门巴", "55": "珞巴", "56": "基诺",
        "97": "其他", "98": "外国血统中国籍人士",
    ]

    public static func sexName(_ code: String) -> String? { sexNames[code] }

    /// Nation name for a two-digit code ("1" is read as "01"); nil if not in the table.
    public static func nationName(_ code: String) -> String? {
        nationNames[code.count == 1 ? "0" + code : code]
    }
}

/// The decoded identity read from a card, with the raw bytes kept beside the text.
///
/// Personal data. `description`, `debugDescription` and the reflection mirror are masked, so
/// string interpolation and `dump` do not leak it; still never log the value itself.
public struct IDCardIdentity: Sendable, Equatable, Codable {
    public var cardType: IDCardType
    /// Chinese name; may be empty on a 2017 foreign card.
    public var name: String
    /// English name (foreign cards), spaces and commas preserved.
    public var englishName: String?
    /// Raw GB/T 2261.1 code as on the chip ("1").
    public var sexCode: String
    /// Sex as text ("男"), or the raw code if not in the table.
    public var sex: String
    /// Raw GB/T 3304 code ("01"), resident cards only.
    public var nationCode: String?
    /// Nation as text ("汉"), or the raw code if not in the table.
    public var nation: String?
    /// YYYYMMDD.
    public var birthDate: String
    /// Address (resident and HMT cards).
    public var address: String?
    /// ID number, normalised (x → X). 15 characters on a 2017 foreign card.
    public var idNumber: String
    /// 签发机关; on a 2017 foreign card the authority code (the chip has no name).
    public var issuingAuthority: String?
    public var validFrom: CardValidity
    public var validTo: CardValidity
    /// ISO 3166 alpha-3 (foreign cards).
    public var nationality: String?
    /// 通行证号码 (HMT).
    public var passNumber: String?
    /// 签发次数 (HMT) or 换证次数 (2023 foreign).
    public var issueCount: String?
    /// Card version (2017 foreign).
    public var cardVersion: String?
    /// The 256-byte text block as read (empty if the value was built by hand).
    public var textBlock: [UInt8]
    /// The 1024-byte WLT photo, kept raw (no open decoder exists; send base64 upstream).
    public var photo: [UInt8]
    /// Fingerprint templates from `30 10` (1024, 512 or 0 bytes); nil if not read. Never log.
    public var fingerprint: [UInt8]?

    /// Builds an identity by hand (simulators, tests). `sex` and `nation` default to the table
    /// text for the codes.
    public init(
        cardType: IDCardType,
        name: String,
        englishName: String? = nil,
        sexCode: String,
        sex: String? = nil,
        nationCode: String? = nil,
        nation: String? = nil,
        birthDate: String,
        address: String? = nil,
        idNumber: String,
        issuingAuthority: String? = nil,
        validFrom: CardValidity,
        validTo: CardValidity,
        nationality: String? = nil,
        passNumber: String? = nil,
        issueCount: String? = nil,
        cardVersion: String? = nil,
        textBlock: [UInt8] = [],
        photo: [UInt8] = [],
        fingerprint: [UInt8]? = nil
    ) {
        self.cardType = cardType
        self.name = name
        self.englishName = englishName
        self.sexCode = sexCode
        self.sex = sex ?? IDCardCodes.sexName(sexCode) ?? sexCode
        self.nationCode = nationCode
        self.nation = nation ?? nationCode.map { IDCardCodes.nationName($0) ?? $0 }
        self.birthDate = birthDate
        self.address = address
        self.idNumber = idNumber
        self.issuingAuthority = issuingAuthority
        self.validFrom = validFrom
        self.validTo = validTo
        self.nationality = nationality
        self.passNumber = passNumber
        self.issueCount = issueCount
        self.cardVersion = cardVersion
        self.textBlock = textBlock
        self.photo = photo
        self.fingerprint = fingerprint
    }

    public var maskedIDNumber: String { Mask.idNumber(idNumber) }

    /// Masked Chinese name, or the masked English name when there is no Chinese name.
    /// The name to show or send: the Chinese name, or the English name when the card has none.
    public var displayName: String { name.isEmpty ? (englishName ?? "") : name }

    public var maskedName: String { Mask.name(displayName) }

    /// Checks the ID number for the card type and cross-checks it with the chip's birth
    /// (and, for 18-character numbers, sex) fields. `today` is YYYYMMDD. Nil when all is well.
    public func idNumberProblem(today: String) -> IDNumberProblem? {
        if let p = IDNumber.validate(idNumber, cardType: cardType, today: today) { return p }
        switch cardType {
        case .foreign2017:
            let chars = Array(IDNumber.normalise(idNumber))
            if birthDate.count == 8, String(chars[7..<13]) != String(birthDate.dropFirst(2)) {
                return .birthDateMismatch
            }
            return nil
        case .resident, .hmt, .foreign2023:
            return IDNumber.crossCheck(number18: idNumber, birthDate: birthDate, sexCode: sexCode)
        }
    }
}

// MARK: - Decoding

extension IDCardIdentity {
    /// Decodes a 256-byte text block, switching on the card-type flag at bytes 248–249.
    /// Fields are trimmed of trailing U+0020/U+0000 only; blank optional fields become nil.
    public static func decode(textBlock: [UInt8], photo: [UInt8] = [], fingerprint: [UInt8]? = nil) throws
        -> IDCardIdentity
    {
        guard textBlock.count == 256 else { throw IDCardDataError.wrongTextBlockSize(textBlock.count) }
        let units = TextBlock.units(textBlock)
        let type = IDCardType(flag: units[124])

        func text(_ byteOffset: Int, _ byteCount: Int) -> String {
            TextBlock.string(units[(byteOffset / 2)..<((byteOffset + byteCount) / 2)])
        }
        func optional(_ byteOffset: Int, _ byteCount: Int) -> String? {
            let s = text(byteOffset, byteCount)
            return s.isEmpty ? nil : s
        }

        switch type {
        case .resident, .hmt:
            let sexCode = text(30, 2)
            let nationCode = type == .resident ? optional(32, 4) : nil
            return IDCardIdentity(
                cardType: type,
                name: text(0, 30),
                sexCode: sexCode,
                nationCode: nationCode,
                birthDate: text(36, 16),
                address: optional(52, 70),
                idNumber: IDNumber.normalise(text(122, 36)),
                issuingAuthority: optional(158, 30),
                validFrom: CardValidity(text: text(188, 16)),
                validTo: CardValidity(text: text(204, 16)),
                passNumber: type == .hmt ? optional(220, 18) : nil,
                issueCount: type == .hmt ? optional(238, 4) : nil,
                textBlock: textBlock, photo: photo, fingerprint: fingerprint
            )
        case .foreign2017:
            return IDCardIdentity(
                cardType: type,
                name: text(158, 30),
                englishName: optional(0, 120),
                sexCode: text(120, 2),
                birthDate: text(220, 16),
                idNumber: IDNumber.normalise(text(122, 30)),
                issuingAuthority: optional(240, 8),
                validFrom: CardValidity(text: text(188, 16)),
                validTo: CardValidity(text: text(204, 16)),
                nationality: optional(152, 6),
                cardVersion: optional(236, 4),
                textBlock: textBlock, photo: photo, fingerprint: fingerprint
            )
        case .foreign2023:
            // English name = trimRight(bytes 52–121 + 220–241): the halves are joined untrimmed
            // so a space at the split point survives.
            let english = TextBlock.string(units[26..<61] + units[110..<121])
            return IDCardIdentity(
                cardType: type,
                name: text(0, 30),
                englishName: english.isEmpty ? nil : english,
                sexCode: text(30, 2),
                birthDate: text(36, 16),
                idNumber: IDNumber.normalise(text(122, 36)),
                // Not in the published 'Y' layout; decoded if the chip fills it like a resident card.
                issuingAuthority: optional(158, 30),
                validFrom: CardValidity(text: text(188, 16)),
                validTo: CardValidity(text: text(204, 16)),
                nationality: optional(242, 6),
                issueCount: optional(32, 4),
                textBlock: textBlock, photo: photo, fingerprint: fingerprint
            )
        }
    }

    /// Decodes the data of a `30 01` reply (after SW3): `01 00` (text length 256),
    /// photo length (u16 BE, normally `04 00`), text, photo. Also accepts the `30 10` variant:
    /// text length, photo length, FP_LEN (u16 BE: 1024, 512 or 0), text, photo, fingerprint.
    /// For `30 10`, `fingerprint` is the templates (empty if the card has none).
    public static func decodeReadReply(_ data: [UInt8]) throws -> IDCardIdentity {
        guard data.count >= 4 else { throw IDCardDataError.readReplyTooShort(data.count) }
        func u16(_ at: Int) -> Int { Int(data[at]) << 8 | Int(data[at + 1]) }
        let textLength = u16(0)
        let photoLength = u16(2)
        guard textLength == 256 else { throw IDCardDataError.unexpectedTextLength(textLength) }
        let plain = 4 + textLength + photoLength
        if data.count == plain {
            return try decode(
                textBlock: Array(data[4..<(4 + textLength)]),
                photo: Array(data[(4 + textLength)..<plain])
            )
        }
        if data.count >= 6 {
            let fpLength = u16(4)
            let withFP = 6 + textLength + photoLength + fpLength
            if data.count == withFP {
                let photoStart = 6 + textLength
                let fpStart = photoStart + photoLength
                return try decode(
                    textBlock: Array(data[6..<photoStart]),
                    photo: Array(data[photoStart..<fpStart]),
                    fingerprint: Array(data[fpStart..<withFP])
                )
            }
        }
        if data.count < plain { throw IDCardDataError.readReplyTooShort(data.count) }
        throw IDCardDataError.lengthMismatch(declared: plain, actual: data.count)
    }

    /// Decodes the data of a `30 03` reply (additional address, 70 bytes UCS-2LE; **unverified**).
    /// Returns nil if blank.
    public static func decodeAdditionalAddress(_ data: [UInt8]) -> String? {
        let s = TextBlock.string(TextBlock.units(data)[...])
        return s.isEmpty ? nil : s
    }
}

// MARK: - Encoding (simulators, tests)

extension IDCardIdentity {
    /// Builds the 256-byte text block from the decoded fields (not from `textBlock`):
    /// UTF-16LE, padded with spaces, type flag at 248. Over-long fields are cut to their slot.
    public func encodeTextBlock() -> [UInt8] {
        var units = [UInt16](repeating: 0x0020, count: 128)
        func put(_ s: String?, _ byteOffset: Int, _ byteCount: Int) {
            TextBlock.put(s ?? "", into: &units, at: byteOffset / 2, maxUnits: byteCount / 2)
        }
        switch cardType {
        case .resident, .hmt:
            put(name, 0, 30)
            put(sexCode, 30, 2)
            if cardType == .resident { put(nationCode, 32, 4) }
            put(birthDate, 36, 16)
            put(address, 52, 70)
            put(idNumber, 122, 36)
            put(issuingAuthority, 158, 30)
            put(validFrom.text, 188, 16)
            put(validTo.text, 204, 16)
            if cardType == .hmt {
                put(passNumber, 220, 18)
                put(issueCount, 238, 4)
            }
        case .foreign2017:
            put(englishName, 0, 120)
            put(sexCode, 120, 2)
            put(idNumber, 122, 30)
            put(nationality, 152, 6)
            put(name, 158, 30)
            put(validFrom.text, 188, 16)
            put(validTo.text, 204, 16)
            put(birthDate, 220, 16)
            put(cardVersion, 236, 4)
            put(issuingAuthority, 240, 8)
        case .foreign2023:
            put(name, 0, 30)
            put(sexCode, 30, 2)
            put(issueCount, 32, 4)
            put(birthDate, 36, 16)
            let english = TextBlock.unitsCut(englishName ?? "", maxUnits: 46)
            let firstHalf = TextBlock.unitsCut(english, maxUnits: 35)
            TextBlock.put(units: firstHalf, into: &units, at: 26)
            TextBlock.put(units: Array(english.dropFirst(firstHalf.count)), into: &units, at: 110)
            put(idNumber, 122, 36)
            put(issuingAuthority, 158, 30)
            put(validFrom.text, 188, 16)
            put(validTo.text, 204, 16)
            put(nationality, 242, 6)
        }
        units[124] = cardType.flag
        return TextBlock.bytes(units)
    }

    /// Builds the data of a `30 01` reply (after SW3): text length, photo length, text, photo.
    /// With `fingerprint` it builds the `30 10` variant (FP_LEN after the photo length).
    public static func encodeReadReplyData(text: [UInt8], photo: [UInt8], fingerprint: [UInt8]? = nil) -> [UInt8] {
        func u16(_ n: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] }
        var out = u16(text.count) + u16(photo.count)
        if let fingerprint { out += u16(fingerprint.count) }
        out += text
        out += photo
        if let fingerprint { out += fingerprint }
        return out
    }
}

// MARK: - Masked descriptions

extension IDCardIdentity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "IDCardIdentity(\(cardType.rawValue), \(maskedIDNumber), \(maskedName))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "cardType": cardType.rawValue,
                "idNumber": maskedIDNumber,
                "name": maskedName,
                "photo": "\(photo.count) bytes",
                "fingerprint": fingerprint.map { "\($0.count) bytes" } ?? "not read",
            ], displayStyle: .struct)
    }
}

// MARK: - UTF-16LE helpers

enum TextBlock {
    static func units(_ bytes: [UInt8]) -> [UInt16] {
        var out = [UInt16]()
        out.reserveCapacity(bytes.count / 2)
        var i = 0
        while i + 1 < bytes.count {
            out.append(UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)
            i += 2
        }
        return out
    }

    static func bytes(_ units: [UInt16]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(units.count * 2)
        for u in units {
            out.append(UInt8(truncatingIfNeeded: u))
            out.append(UInt8(truncatingIfNeeded: u >> 8))
        }
        return out
    }

    /// Decodes UTF-16 (ill-formed units become U+FFFD) after dropping trailing U+0020 and U+0000.
    static func string(_ units: some BidirectionalCollection<UInt16>) -> String {
        var end = units.endIndex
        while end > units.startIndex {
            let prev = units.index(before: end)
            guard units[prev] == 0x0020 || units[prev] == 0x0000 else { break }
            end = prev
        }
        return String(decoding: units[units.startIndex..<end], as: UTF16.self)
    }

    /// UTF-16 units of `s`, at most `maxUnits`, never ending inside a surrogate pair.
    static func unitsCut(_ s: String, maxUnits: Int) -> [UInt16] {
        unitsCut(Array(s.utf16), maxUnits: maxUnits)
    }

    static func unitsCut(_ u: [UInt16], maxUnits: Int) -> [UInt16] {
        guard u.count > maxUnits else { return u }
        var cut = Array(u.prefix(maxUnits))
        if let last = cut.last, UTF16.isLeadSurrogate(last) { cut.removeLast() }
        return cut
    }

    static func put(_ s: String, into units: inout [UInt16], at offset: Int, maxUnits: Int) {
        put(units: unitsCut(s, maxUnits: maxUnits), into: &units, at: offset)
    }

    static func put(units new: [UInt16], into units: inout [UInt16], at offset: Int) {
        for (i, u) in new.enumerated() { units[offset + i] = u }
    }
}
