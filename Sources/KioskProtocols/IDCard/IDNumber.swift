// ID-number checks (docs/devices.md §1.8). Pure: "today" is always passed in.

/// Why an ID number was rejected. Payloads never contain the number itself or the birth date,
/// so these values are safe to log.
public enum IDNumberProblem: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    case empty
    case wrongLength(expected: Int, actual: Int)
    /// 1-based position of the first character that is not allowed there.
    case invalidCharacter(position: Int)
    case badCheckCharacter(expected: Character, found: Character)
    /// The two-digit province (region) code is not one in use.
    case unknownProvince(String)
    /// The birth-date digits are not a real calendar date.
    case impossibleBirthDate
    /// The birth date is after `today`.
    case birthDateInFuture
    /// The number's birth date differs from the chip's birth field.
    case birthDateMismatch
    /// The number's sex digit differs from the chip's sex field.
    case sexMismatch

    /// English, for technicians and logs.
    public var description: String {
        switch self {
        case .empty:
            "ID number is empty: the card field was blank or the input was not entered."
        case let .wrongLength(expected, actual):
            "ID number has \(actual) characters, expected \(expected): re-read the card or re-enter the number."
        case let .invalidCharacter(position):
            "ID number has an invalid character at position \(position): only digits (and X as the last character, or letters in a foreign 15-character number's first 3) are allowed; re-enter it."
        case let .badCheckCharacter(expected, found):
            "ID number check character is \(found), the other characters give \(expected): a character was mistyped or misread; re-read the card or re-enter the number."
        case let .unknownProvince(code):
            "ID number region code \(code) is not a province in use: re-enter the number; if it came from a chip, the card may be damaged or not genuine."
        case .impossibleBirthDate:
            "ID number birth-date digits are not a real date: re-enter the number; if it came from a chip, the card may be damaged or not genuine."
        case .birthDateInFuture:
            "ID number birth date is in the future: check the kiosk clock, then re-enter the number."
        case .birthDateMismatch:
            "ID number birth date differs from the chip's birth field: the card may be damaged or not genuine; ask for staff."
        case .sexMismatch:
            "ID number sex digit differs from the chip's sex field: the card may be damaged or not genuine; ask for staff."
        }
    }

    /// Short Chinese text for the resident screen.
    public var residentMessage: String {
        switch self {
        case .empty: "请输入证件号码"
        case .wrongLength: "证件号码位数不对，请核对后重新输入"
        case .invalidCharacter: "证件号码含有无效字符，请核对后重新输入"
        case .badCheckCharacter: "证件号码有误，请核对后重新输入"
        case .unknownProvince: "证件号码有误，请核对后重新输入"
        case .impossibleBirthDate: "证件号码中的出生日期有误，请核对后重新输入"
        case .birthDateInFuture: "证件号码中的出生日期有误，请核对后重新输入"
        case .birthDateMismatch, .sexMismatch: "证件信息无法核验，请联系工作人员"
        }
    }
}

/// Checks for resident (GB 11643), HMT residence-permit, and foreign permanent-residence numbers.
public enum IDNumber {
    /// GB 11643 / ISO 7064 MOD 11-2 weights for the first 17 digits.
    public static let gb11643Weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    static let gb11643Checks: [Character] = Array("10X98765432")

    /// Two-digit codes of the mainland provinces (first two digits of a resident number;
    /// digits 2–3 of a 2023 foreign number).
    public static let mainlandProvinceCodes: Set<String> = [
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
    ]
    /// Other leading codes of 18-character numbers: 71 Taiwan (resident numbers),
    /// 81 Hong Kong, 82 Macao, 83 Taiwan (residence permits, 810000/820000/830000).
    public static let otherLeadingCodes: Set<String> = ["71", "81", "82", "83"]

    /// Trims surrounding whitespace and NULs and upper-cases ASCII letters (x → X).
    public static func normalise(_ s: String) -> String {
        let scalars = s.unicodeScalars
        var lo = scalars.startIndex
        var hi = scalars.endIndex
        while lo < hi, isTrimmable(scalars[lo]) { lo = scalars.index(after: lo) }
        while hi > lo, isTrimmable(scalars[scalars.index(before: hi)]) { hi = scalars.index(before: hi) }
        var out = String.UnicodeScalarView()
        for u in scalars[lo..<hi] {
            if u.value >= 0x61, u.value <= 0x7A, let up = Unicode.Scalar(u.value - 0x20) {
                out.append(up)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    private static func isTrimmable(_ u: Unicode.Scalar) -> Bool {
        u.value == 0 || u.value == 0x3000 || u.properties.isWhitespace
    }

    static func isDigit(_ c: Character) -> Bool {
        guard let a = c.asciiValue else { return false }
        return a >= 0x30 && a <= 0x39
    }

    static func isUpperLetter(_ c: Character) -> Bool {
        guard let a = c.asciiValue else { return false }
        return a >= 0x41 && a <= 0x5A
    }

    /// The GB 11643 check character for 17 digits, or nil if the input is not exactly 17 ASCII digits.
    public static func gb11643CheckCharacter(forFirst17 digits: String) -> Character? {
        let chars = Array(digits)
        guard chars.count == 17 else { return nil }
        var sum = 0
        for (i, c) in chars.enumerated() {
            guard isDigit(c), let v = c.wholeNumberValue else { return nil }
            sum += v * gb11643Weights[i]
        }
        return gb11643Checks[sum % 11]
    }

    /// Checks an 18-character number (resident ID, HMT residence permit, 2023 foreign permanent
    /// residence card). `today` is YYYYMMDD; if it is not a valid date the future check is skipped.
    /// The input is normalised first (trim, x → X). Returns nil when the number passes.
    public static func validate18(_ s: String, today: String) -> IDNumberProblem? {
        let chars = Array(normalise(s))
        guard !chars.isEmpty else { return .empty }
        guard chars.count == 18 else { return .wrongLength(expected: 18, actual: chars.count) }
        for i in 0..<17 where !isDigit(chars[i]) {
            return .invalidCharacter(position: i + 1)
        }
        let last = chars[17]
        guard isDigit(last) || last == "X" else { return .invalidCharacter(position: 18) }
        guard let expected = gb11643CheckCharacter(forFirst17: String(chars[0..<17])) else {
            return .invalidCharacter(position: 1)
        }
        guard expected == last else { return .badCheckCharacter(expected: expected, found: last) }
        if chars[0] == "9" {
            // 2023 foreign: 9 + province (digits 2–3) + ISO numeric country + birth + seq + sex + check.
            let province = String(chars[1...2])
            guard mainlandProvinceCodes.contains(province) else { return .unknownProvince(province) }
        } else {
            let province = String(chars[0...1])
            guard mainlandProvinceCodes.contains(province) || otherLeadingCodes.contains(province) else {
                return .unknownProvince(province)
            }
        }
        let birth = String(chars[6..<14])
        guard isRealDate(birth) else { return .impossibleBirthDate }
        if isRealDate(today), birth > today { return .birthDateInFuture }
        return nil
    }

    /// ICAO 9303 7-3-1 check digit over all characters of `s`: digits as-is, A = 10 … Z = 35,
    /// `<` = 0, weights 7 3 1 repeating, sum mod 10. Nil if `s` has any other character
    /// (lower-case letters are accepted as upper-case).
    public static func icao731Check(_ s: String) -> Character? {
        let weights = [7, 3, 1]
        var sum = 0
        for (i, c) in s.enumerated() {
            guard let a = c.asciiValue else { return nil }
            let v: Int
            switch a {
            case 0x30...0x39: v = Int(a - 0x30)
            case 0x41...0x5A: v = Int(a - 0x41) + 10
            case 0x61...0x7A: v = Int(a - 0x61) + 10
            case 0x3C: v = 0
            default: return nil
            }
            sum += v * weights[i % 3]
        }
        return Character(String(sum % 10))
    }

    /// Checks a 15-character 2017 foreign permanent-residence number:
    /// alpha-3 + 4-digit region + YYMMDD + digit + ICAO 7-3-1 check over the first 14.
    /// The input is normalised first. Returns nil when the number passes.
    public static func validateForeign15(_ s: String) -> IDNumberProblem? {
        let chars = Array(normalise(s))
        guard !chars.isEmpty else { return .empty }
        guard chars.count == 15 else { return .wrongLength(expected: 15, actual: chars.count) }
        for i in 0..<3 where !isUpperLetter(chars[i]) {
            return .invalidCharacter(position: i + 1)
        }
        for i in 3..<15 where !isDigit(chars[i]) {
            return .invalidCharacter(position: i + 1)
        }
        guard let expected = icao731Check(String(chars[0..<14])) else { return .invalidCharacter(position: 1) }
        guard expected == chars[14] else { return .badCheckCharacter(expected: expected, found: chars[14]) }
        let yymmdd = String(chars[7..<13])
        guard isRealDate("19" + yymmdd) || isRealDate("20" + yymmdd) else { return .impossibleBirthDate }
        return nil
    }

    /// Validates a number by card type: 15-character rules for `.foreign2017`, 18-character otherwise.
    public static func validate(_ s: String, cardType: IDCardType, today: String) -> IDNumberProblem? {
        switch cardType {
        case .foreign2017: validateForeign15(s)
        case .resident, .hmt, .foreign2023: validate18(s, today: today)
        }
    }

    /// Birth date (YYYYMMDD) in an 18-character number, or nil if the shape is wrong.
    public static func birthDate(fromNumber18 s: String) -> String? {
        let chars = Array(normalise(s))
        guard chars.count == 18, chars[6..<14].allSatisfy(isDigit) else { return nil }
        return String(chars[6..<14])
    }

    /// Sex code implied by digit 17 of an 18-character number: "1" (odd, male) or "2" (even, female).
    public static func sexCode(fromNumber18 s: String) -> String? {
        let chars = Array(normalise(s))
        guard chars.count == 18, let d = chars[16].wholeNumberValue, isDigit(chars[16]) else { return nil }
        return d % 2 == 1 ? "1" : "2"
    }

    /// Cross-checks an 18-character number against the chip's birth and sex fields
    /// (sex codes other than 1/2 are not compared). Call after `validate18` passed.
    public static func crossCheck(number18: String, birthDate: String, sexCode: String) -> IDNumberProblem? {
        if let b = self.birthDate(fromNumber18: number18), b != birthDate { return .birthDateMismatch }
        if sexCode == "1" || sexCode == "2", let s = self.sexCode(fromNumber18: number18), s != sexCode {
            return .sexMismatch
        }
        return nil
    }

    /// True if `s` is 8 ASCII digits forming a real Gregorian date from the year 1800 on.
    public static func isRealDate(_ s: String) -> Bool {
        let chars = Array(s)
        guard chars.count == 8, chars.allSatisfy(isDigit) else { return false }
        let v = chars.map { $0.wholeNumberValue! }
        let year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3]
        let month = v[4] * 10 + v[5]
        let day = v[6] * 10 + v[7]
        guard year >= 1800, (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }
}
