import Testing
@testable import KioskProtocols

// Synthetic numbers only (devices.md §1.8 plus others with valid check characters).

@Suite struct IDNumberTests {
    @Test(arguments: [
        "110105200001010016", "810000199001010027", "911840198001010013",
        "820000199001010010", "11010520000101018X", "11010520000101018x", " 110105200002290021 ",
    ])
    func validEighteen(_ number: String) {
        #expect(IDNumber.validate18(number, today: "20250101") == nil)
    }

    @Test func validForeign15() {
        #expect(IDNumber.validateForeign15("USA110080010111") == nil)
        #expect(IDNumber.validateForeign15("usa110080010111") == nil)
        #expect(IDNumber.icao731Check("USA11008001011") == "1")
        #expect(IDNumber.validate("USA110080010111", cardType: .foreign2017, today: "20250101") == nil)
        #expect(IDNumber.validate("911840198001010013", cardType: .foreign2023, today: "20250101") == nil)
    }

    @Test func checkCharacters() {
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "11010520000101001") == "6")
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "81000019900101002") == "7")
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "91184019800101001") == "3")
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "11010520000101018") == "X")
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "1101052000010100") == nil)
        #expect(IDNumber.gb11643CheckCharacter(forFirst17: "1101052000010100A") == nil)
        #expect(IDNumber.icao731Check("USA1100800101?") == nil)
        #expect(IDNumber.icao731Check("<<<") == "0")
    }

    @Test func problems18() {
        let today = "20250101"
        #expect(IDNumber.validate18("", today: today) == .empty)
        #expect(IDNumber.validate18("   ", today: today) == .empty)
        #expect(IDNumber.validate18("11010520000101001", today: today) == .wrongLength(expected: 18, actual: 17))
        #expect(IDNumber.validate18("1101052000010100A6", today: today) == .invalidCharacter(position: 17))
        #expect(IDNumber.validate18("11010520000101001Y", today: today) == .invalidCharacter(position: 18))
        #expect(
            IDNumber.validate18("110105200001010017", today: today) == .badCheckCharacter(expected: "6", found: "7"))
        #expect(IDNumber.validate18("000105200001010010", today: today) == .unknownProvince("00"))
        #expect(IDNumber.validate18("110105202302300016", today: today) == .impossibleBirthDate)
        #expect(IDNumber.validate18("110105190002290017", today: today) == .impossibleBirthDate)
        #expect(IDNumber.validate18("11010520300101001X", today: today) == .birthDateInFuture)
        // Future relative to the passed-in day only; an invalid "today" skips that check.
        #expect(IDNumber.validate18("11010520300101001X", today: "20300101") == nil)
        #expect(IDNumber.validate18("11010520300101001X", today: "") == nil)
    }

    @Test func foreign2023ProvinceIsDigits2And3() {
        // 9 + province 11 is fine; 9 + 99 is not, even though "91" would be a valid first pair.
        #expect(IDNumber.validate18("911840198001010013", today: "20250101") == nil)
        let first17 = "99184019800101001"
        let number = first17 + String(IDNumber.gb11643CheckCharacter(forFirst17: first17)!)
        #expect(IDNumber.validate18(number, today: "20250101") == .unknownProvince("91"))
    }

    @Test func problems15() {
        #expect(IDNumber.validateForeign15("USA11008001011") == .wrongLength(expected: 15, actual: 14))
        #expect(IDNumber.validateForeign15("US1110080010111") == .invalidCharacter(position: 3))
        #expect(IDNumber.validateForeign15("USA1100800101A1") == .invalidCharacter(position: 14))
        #expect(IDNumber.validateForeign15("USA110080010112") == .badCheckCharacter(expected: "1", found: "2"))
        let first14 = "USA11008013011"
        let bad = first14 + String(IDNumber.icao731Check(first14)!)
        #expect(IDNumber.validateForeign15(bad) == .impossibleBirthDate)
    }

    @Test func helpers() {
        #expect(IDNumber.normalise(" 11010520000101018x\u{0} ") == "11010520000101018X")
        #expect(IDNumber.birthDate(fromNumber18: "110105200001010016") == "20000101")
        #expect(IDNumber.sexCode(fromNumber18: "110105200001010016") == "1")
        #expect(IDNumber.sexCode(fromNumber18: "810000199001010027") == "2")
        #expect(IDNumber.crossCheck(number18: "110105200001010016", birthDate: "20000101", sexCode: "1") == nil)
        #expect(
            IDNumber.crossCheck(number18: "110105200001010016", birthDate: "20000101", sexCode: "2") == .sexMismatch)
        #expect(IDNumber.crossCheck(number18: "110105200001010016", birthDate: "20000101", sexCode: "9") == nil)
        #expect(
            IDNumber.crossCheck(number18: "110105200001010016", birthDate: "20000102", sexCode: "1")
                == .birthDateMismatch)
        #expect(IDNumber.isRealDate("20000229"))
        #expect(!IDNumber.isRealDate("21000229"))
        #expect(!IDNumber.isRealDate("20001301"))
        #expect(!IDNumber.isRealDate("2000010"))
    }

    @Test func messagesNeverContainTheNumber() {
        let problems: [IDNumberProblem] = [
            .empty, .wrongLength(expected: 18, actual: 3), .invalidCharacter(position: 2),
            .badCheckCharacter(expected: "1", found: "2"), .unknownProvince("00"),
            .impossibleBirthDate, .birthDateInFuture, .birthDateMismatch, .sexMismatch,
        ]
        for p in problems {
            #expect(!p.description.isEmpty)
            #expect(!p.residentMessage.isEmpty)
        }
    }
}
