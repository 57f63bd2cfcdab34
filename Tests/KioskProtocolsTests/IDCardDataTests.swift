import Foundation
import Testing
@testable import KioskProtocols

// Made-up people only. ID numbers are synthetic with valid check characters.

fileprivate let fakePhoto: [UInt8] =
    [0x57, 0x4C, 0x66, 0x00, 0x7E, 0x00, 0x32, 0x00, 0x00, 0xFF, 0x85]
    + (11..<1024).map { UInt8(truncatingIfNeeded: $0 * 13) }

fileprivate let residentPerson = IDCardIdentity(
    cardType: .resident, name: "测试一", sexCode: "1", nationCode: "01", birthDate: "20000101",
    address: "测试省测试市示例区样本路 1 号  101 室", idNumber: "110105200001010016",
    issuingAuthority: "测试市公安局示例分局", validFrom: .date("20200101"), validTo: .date("20400101"))

fileprivate let hmtPerson = IDCardIdentity(
    cardType: .hmt, name: "测试二", sexCode: "2", birthDate: "19900101",
    address: "测试省测试市示例路2号", idNumber: "810000199001010027", issuingAuthority: "测试市公安局",
    validFrom: .date("20180901"), validTo: .date("20230901"),
    passNumber: "H00000000", issueCount: "01")

fileprivate let foreign2017Person = IDCardIdentity(
    cardType: .foreign2017, name: "", englishName: "TEST, SAMPLE PERSON", sexCode: "1",
    birthDate: "19800101", idNumber: "USA110080010111", issuingAuthority: "1100",
    validFrom: .date("20170101"), validTo: .date("20270101"), nationality: "USA", cardVersion: "01")

// 46 characters: the first 35 go to bytes 52–121, the rest (starting with a space) to 220–241.
fileprivate let longEnglishName = "ZHANG, TESTFAMILY SAMPLEGIVEN MIDDL" + " EXTRANAMES"

fileprivate let foreign2023Person = IDCardIdentity(
    cardType: .foreign2023, name: "测试四", englishName: longEnglishName, sexCode: "1",
    birthDate: "19800101", idNumber: "911840198001010013",
    validFrom: .date("20230101"), validTo: .longTerm, nationality: "USA", issueCount: "00")

/// Compares the decoded fields (not the raw bytes) of two identities.
fileprivate func sameFields(_ a: IDCardIdentity, _ b: IDCardIdentity) -> Bool {
    var a = a
    var b = b
    a.textBlock = []
    b.textBlock = []
    a.photo = []
    b.photo = []
    a.fingerprint = nil
    b.fingerprint = nil
    return a == b
}

fileprivate func utf16le(_ s: String) -> [UInt8] {
    s.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

@Suite struct IDCardDataTests {
    @Test(arguments: [residentPerson, hmtPerson, foreign2017Person, foreign2023Person])
    func roundTrip(_ person: IDCardIdentity) throws {
        let block = person.encodeTextBlock()
        #expect(block.count == 256)
        let decoded = try IDCardIdentity.decode(textBlock: block, photo: fakePhoto)
        #expect(sameFields(decoded, person), "\(person.cardType)")
        #expect(decoded.cardType == person.cardType)
        #expect(decoded.textBlock == block)
        #expect(decoded.photo == fakePhoto)
        #expect(decoded.fingerprint == nil)
        #expect(decoded.encodeTextBlock() == block)
        #expect(decoded.idNumberProblem(today: "20250101") == nil)
    }

    @Test func flags() {
        #expect(Array(residentPerson.encodeTextBlock()[248...249]) == [0x20, 0x00])
        #expect(Array(hmtPerson.encodeTextBlock()[248...249]) == [0x4A, 0x00])
        #expect(Array(foreign2017Person.encodeTextBlock()[248...249]) == [0x49, 0x00])
        #expect(Array(foreign2023Person.encodeTextBlock()[248...249]) == [0x59, 0x00])
    }

    @Test func residentLayout() throws {
        let block = residentPerson.encodeTextBlock()
        #expect(Array(block[0..<6]) == utf16le("测试一"))
        #expect(
            Array(block[6..<30]) == [UInt8](repeating: 0, count: 24).enumerated().map { $0.offset % 2 == 0 ? 0x20 : 0 })
        #expect(Array(block[30..<32]) == utf16le("1"))
        #expect(Array(block[32..<36]) == utf16le("01"))
        #expect(Array(block[36..<52]) == utf16le("20000101"))
        #expect(Array(block[122..<158]) == utf16le("110105200001010016"))
        #expect(Array(block[188..<204]) == utf16le("20200101"))
        #expect(Array(block[204..<220]) == utf16le("20400101"))
        let p = try IDCardIdentity.decode(textBlock: block)
        #expect(p.sex == "男")
        #expect(p.nation == "汉")
        #expect(p.nationCode == "01")
        #expect(p.englishName == nil)
        // Inner spaces survive; only trailing padding is trimmed.
        #expect(p.address == "测试省测试市示例区样本路 1 号  101 室")
    }

    @Test func longTermValidity() throws {
        var person = residentPerson
        person.validTo = .longTerm
        let block = person.encodeTextBlock()
        #expect(Array(block[204..<208]) == [0x7F, 0x95, 0x1F, 0x67])
        #expect(Array(block[208..<220]) == [0x20, 0, 0x20, 0, 0x20, 0, 0x20, 0, 0x20, 0, 0x20, 0])
        let decoded = try IDCardIdentity.decode(textBlock: block)
        #expect(decoded.validTo == .longTerm)
        #expect(decoded.validTo.date == nil)
        #expect(decoded.validFrom.date == "20200101")
    }

    @Test func lowercaseXIsNormalised() throws {
        var block = residentPerson.encodeTextBlock()
        let number = utf16le("11010520000101018x")
        block.replaceSubrange(122..<158, with: number)
        let p = try IDCardIdentity.decode(textBlock: block)
        #expect(p.idNumber == "11010520000101018X")
        // 8 is even: the chip must say female for the cross-check to pass.
        #expect(p.idNumberProblem(today: "20250101") == .sexMismatch)
    }

    @Test func zeroPaddingAndZeroFlag() throws {
        var block = residentPerson.encodeTextBlock()
        // Pad the name with U+0000 instead of spaces, and clear the flag.
        for i in stride(from: 6, to: 30, by: 2) {
            block[i] = 0
            block[i + 1] = 0
        }
        block[248] = 0
        block[249] = 0
        let p = try IDCardIdentity.decode(textBlock: block)
        #expect(p.cardType == .resident)
        #expect(p.name == "测试一")
        // Unknown flag → resident too.
        block[248] = 0x51
        #expect(try IDCardIdentity.decode(textBlock: block).cardType == .resident)
    }

    @Test func hmtFields() throws {
        let p = try IDCardIdentity.decode(textBlock: hmtPerson.encodeTextBlock())
        #expect(p.nationCode == nil && p.nation == nil)
        #expect(p.passNumber == "H00000000")
        #expect(p.issueCount == "01")
        #expect(p.sex == "女")
    }

    @Test func foreign2017Fields() throws {
        let block = foreign2017Person.encodeTextBlock()
        #expect(Array(block[0..<38]) == utf16le("TEST, SAMPLE PERSON"))
        #expect(Array(block[122..<152]) == utf16le("USA110080010111"))
        #expect(Array(block[152..<158]) == utf16le("USA"))
        #expect(Array(block[220..<236]) == utf16le("19800101"))
        #expect(Array(block[240..<248]) == utf16le("1100"))
        let p = try IDCardIdentity.decode(textBlock: block)
        #expect(p.name == "")
        #expect(p.englishName == "TEST, SAMPLE PERSON")
        #expect(p.issuingAuthority == "1100")
        #expect(p.cardVersion == "01")
        #expect(p.address == nil)
        #expect(p.maskedName == "T******************")
    }

    @Test func foreign2023EnglishNameAcrossBothSlots() throws {
        let block = foreign2023Person.encodeTextBlock()
        #expect(Array(block[52..<122]) == utf16le("ZHANG, TESTFAMILY SAMPLEGIVEN MIDDL"))
        #expect(Array(block[220..<242]) == utf16le(" EXTRANAMES"))
        #expect(Array(block[242..<248]) == utf16le("USA"))
        #expect(Array(block[32..<36]) == utf16le("00"))
        let p = try IDCardIdentity.decode(textBlock: block)
        #expect(p.englishName == longEnglishName)
        #expect(p.validTo == .longTerm)
        #expect(p.nationality == "USA")
        #expect(p.issueCount == "00")

        // A short English name leaves the second slot blank and is trimmed on the right only.
        var short = foreign2023Person
        short.englishName = "TEST,  SHORT"
        let q = try IDCardIdentity.decode(textBlock: short.encodeTextBlock())
        #expect(q.englishName == "TEST,  SHORT")
    }

    @Test func readReply3001() throws {
        let text = residentPerson.encodeTextBlock()
        let data = IDCardIdentity.encodeReadReplyData(text: text, photo: fakePhoto)
        #expect(Array(data[0..<4]) == [0x01, 0x00, 0x04, 0x00])
        #expect(data.count == 1284)
        let p = try IDCardIdentity.decodeReadReply(data)
        #expect(sameFields(p, residentPerson))
        #expect(p.photo == fakePhoto)
        #expect(p.fingerprint == nil)
        let frame = SAMReply(status: 0x90, data: data).encoded()
        #expect(Array(frame[5...6]) == [0x05, 0x08])
    }

    @Test(arguments: [(1024, 2321, [UInt8]([0x09, 0x0A])), (512, 1809, [0x07, 0x0A]), (0, 1297, [0x05, 0x0A])])
    func readReply3010(_ fpLength: Int, _ frameSize: Int, _ len: [UInt8]) throws {
        let fp = (0..<fpLength).map { UInt8(truncatingIfNeeded: $0 * 3 + 1) }
        let data = IDCardIdentity.encodeReadReplyData(
            text: foreign2023Person.encodeTextBlock(), photo: fakePhoto, fingerprint: fp)
        let frame = SAMReply(status: 0x90, data: data).encoded()
        #expect(frame.count == frameSize)
        #expect(Array(frame[5...6]) == len)
        #expect(Array(frame[10...15]) == [0x01, 0x00, 0x04, 0x00, UInt8(fpLength >> 8), UInt8(fpLength & 0xFF)])
        #expect(Array(frame[16..<272]) == foreign2023Person.encodeTextBlock())
        #expect(Array(frame[272..<1296]) == fakePhoto)
        let reply = try SAMReply(frame: frame)
        let p = try IDCardIdentity.decodeReadReply(reply.data)
        #expect(sameFields(p, foreign2023Person))
        #expect(p.photo == fakePhoto)
        #expect(p.fingerprint == fp)
    }

    @Test func badSizes() {
        #expect(throws: IDCardDataError.wrongTextBlockSize(255)) {
            try IDCardIdentity.decode(textBlock: [UInt8](repeating: 0x20, count: 255))
        }
        #expect(throws: IDCardDataError.readReplyTooShort(3)) { try IDCardIdentity.decodeReadReply([1, 0, 4]) }
        #expect(throws: IDCardDataError.unexpectedTextLength(0x0200)) {
            try IDCardIdentity.decodeReadReply([2, 0, 4, 0] + [UInt8](repeating: 0x20, count: 1536))
        }
        let data = IDCardIdentity.encodeReadReplyData(text: residentPerson.encodeTextBlock(), photo: fakePhoto)
        #expect(throws: IDCardDataError.readReplyTooShort(1000)) {
            try IDCardIdentity.decodeReadReply(Array(data.prefix(1000)))
        }
        #expect(throws: IDCardDataError.lengthMismatch(declared: 1284, actual: 1290)) {
            try IDCardIdentity.decodeReadReply(data + [0, 0, 0, 0, 0, 0])
        }
        for e in [
            IDCardDataError.wrongTextBlockSize(1), .readReplyTooShort(1), .unexpectedTextLength(1),
            .lengthMismatch(declared: 1, actual: 2),
        ] {
            #expect(!e.description.isEmpty)
        }
    }

    @Test func codeTables() {
        #expect(IDCardCodes.sexName("0") == "未知")
        #expect(IDCardCodes.sexName("9") == "未说明")
        #expect(IDCardCodes.nationNames.count == 58)
        #expect(IDCardCodes.nationName("29") == "柯尔克孜")
        #expect(IDCardCodes.nationName("56") == "基诺")
        #expect(IDCardCodes.nationName("98") == "外国血统中国籍人士")
        #expect(IDCardCodes.nationName("1") == "汉")
        #expect(IDCardCodes.nationName("77") == nil)
        // Unknown codes are shown raw.
        var block = residentPerson.encodeTextBlock()
        block.replaceSubrange(32..<36, with: utf16le("77"))
        block.replaceSubrange(30..<32, with: utf16le("5"))
        let p = try? IDCardIdentity.decode(textBlock: block)
        #expect(p?.nation == "77")
        #expect(p?.nationCode == "77")
        #expect(p?.sex == "5")
    }

    @Test func additionalAddress() {
        let data = utf16le("测试路3号") + [UInt8](repeating: 0, count: 70 - 10)
        #expect(IDCardIdentity.decodeAdditionalAddress(data) == "测试路3号")
        #expect(
            IDCardIdentity.decodeAdditionalAddress(
                [UInt8](repeating: 0x20, count: 70).enumerated().map { $0.offset % 2 == 0 ? 0x20 : 0 }) == nil)
    }

    @Test func maskedOutputDoesNotLeak() {
        let p = residentPerson
        #expect(p.maskedIDNumber == "1101**********0016")
        #expect(p.maskedName == "测**")
        for s in [p.description, String(reflecting: p), "\(p)"] {
            #expect(!s.contains("110105200001010016"))
            #expect(!s.contains("测试一"))
            #expect(!s.contains("样本路"))
        }
        var dumped = ""
        dump(p, to: &dumped)
        #expect(!dumped.contains("110105200001010016"))
        #expect(!dumped.contains("测试一"))
    }

    @Test func codable() throws {
        var p = foreign2023Person
        p.textBlock = p.encodeTextBlock()
        p.photo = fakePhoto
        let json = try JSONEncoder().encode(p)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"validTo\":\"长期\""))
        #expect(text.contains("\"cardType\":\"foreign2023\""))
        #expect(try JSONDecoder().decode(IDCardIdentity.self, from: json) == p)
        #expect(IDCardType.allCases.map(\.rawValue) == ["resident", "hmt", "foreign2017", "foreign2023"])
    }

    @Test func crossChecks() {
        var p = residentPerson
        p.birthDate = "20000102"
        #expect(p.idNumberProblem(today: "20250101") == .birthDateMismatch)
        var f = foreign2017Person
        f.birthDate = "19810101"
        #expect(f.idNumberProblem(today: "20250101") == .birthDateMismatch)
        var bad = residentPerson
        bad.idNumber = "110105200001010017"
        #expect(bad.idNumberProblem(today: "20250101") == .badCheckCharacter(expected: "6", found: "7"))
    }
}
