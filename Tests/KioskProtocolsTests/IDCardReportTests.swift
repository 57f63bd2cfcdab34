import Foundation
import Testing
@testable import KioskProtocols

// Made-up people only; ID numbers synthetic with valid check characters.

private let photo: [UInt8] = [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 0x33, count: 1020)

private func replyFrame(_ id: IDCardIdentity, fingerprint: [UInt8]? = nil) -> [UInt8] {
    SAMReply(
        status: 0x90,
        data: IDCardIdentity.encodeReadReplyData(text: id.encodeTextBlock(), photo: photo, fingerprint: fingerprint)
    ).encoded()
}

private func object(_ json: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

private let resident = IDCardIdentity(
    cardType: .resident, name: "测试一", sexCode: "1", nationCode: "01", birthDate: "20000101",
    address: "测试省示例县演示路1号", idNumber: "11010520000101001x", issuingAuthority: "示例县公安局",
    validFrom: .date("20200101"), validTo: .longTerm)
private let hmt = IDCardIdentity(
    cardType: .hmt, name: "测试二", sexCode: "2", birthDate: "19900101", address: "测试省示例路2号",
    idNumber: "810000199001010027", issuingAuthority: "测试市公安局", validFrom: .date("20180901"),
    validTo: .date("20230901"), passNumber: "H00000000", issueCount: "01")
private let foreign2017 = IDCardIdentity(
    cardType: .foreign2017, name: "", englishName: "TEST, SAMPLE PERSON", sexCode: "1",
    birthDate: "19800101", idNumber: "USA110080010111", issuingAuthority: "1100",
    validFrom: .date("20170101"), validTo: .date("20270101"), nationality: "USA", cardVersion: "01")
private let foreign2023 = IDCardIdentity(
    cardType: .foreign2023, name: "测试四", englishName: "ZHANG, TESTFAMILY SAMPLEGIVEN MIDDL EXTRANAMES",
    sexCode: "1", birthDate: "19800101", idNumber: "911840198001010013",
    validFrom: .date("20230101"), validTo: .date("20330101"), nationality: "USA", issueCount: "02")

@Suite struct IDCardReportTests {
    let today = "20261201"

    @Test func residentRevealedAndMasked() throws {
        let id = try IDCardReport.decode(frame: replyFrame(resident))
        let open = try object(IDCardReport.json(id, reveal: true, today: today))
        #expect(open["cardType"] as? String == "resident")
        #expect(open["name"] as? String == "测试一")
        #expect(open["idNumber"] as? String == "11010520000101001X", "lowercase x normalised")
        #expect(open["idNumberValid"] as? Bool == false, "…and its check digit is wrong for this made-up number")
        #expect(open["sex"] as? String == "男")
        #expect(open["nation"] as? String == "汉")
        #expect(open["nationCode"] as? String == "01")
        #expect(open["birthDate"] as? String == "2000-01-01")
        #expect(open["validTo"] as? String == "long-term")
        #expect(open["validFrom"] as? String == "2020-01-01")
        #expect(open["issuer"] as? String == "示例县公安局")
        #expect(open["address"] as? String == "测试省示例县演示路1号")
        #expect(open["photo"] as? Int == 1024)
        #expect(open["fingerprint"] as? Int == 0)
        let masked = try object(IDCardReport.json(id, reveal: false, today: today))
        #expect(masked["idNumber"] as? String == "1101**********001X")
        #expect((masked["idNumber"] as? String)?.count == 18)
        #expect(masked["name"] as? String == "测*")
    }

    @Test func validResidentNumberIsValid() throws {
        var r = resident
        r.idNumber = "110105200001010016"
        let o = try object(IDCardReport.json(try IDCardReport.decode(frame: replyFrame(r)), reveal: true, today: today))
        #expect(o["idNumberValid"] as? Bool == true)
    }

    @Test func hmtCard() throws {
        let o = try object(
            IDCardReport.json(try IDCardReport.decode(frame: replyFrame(hmt)), reveal: true, today: today))
        #expect(o["cardType"] as? String == "hmt")
        #expect(o["passNumber"] as? String == "H00000000")
        #expect(o["issueCount"] as? String == "01")
        #expect(o["idNumberValid"] as? Bool == true)
        #expect(o["nation"] == nil)
    }

    @Test func foreign2017Card() throws {
        let o = try object(
            IDCardReport.json(try IDCardReport.decode(frame: replyFrame(foreign2017)), reveal: true, today: today))
        #expect(o["cardType"] as? String == "foreign2017")
        #expect(o["name"] as? String == "")
        #expect(o["englishName"] as? String == "TEST, SAMPLE PERSON", "spaces and commas kept")
        #expect(o["nationality"] as? String == "USA")
        #expect(o["issuerCode"] as? String == "1100")
        #expect(o["idNumber"] as? String == "USA110080010111")
        #expect(o["idNumberValid"] as? Bool == true, "ICAO 7-3-1")
        let m = try object(
            IDCardReport.json(try IDCardReport.decode(frame: replyFrame(foreign2017)), reveal: false, today: today))
        #expect(m["idNumber"] as? String == "USA1*******0111")
    }

    @Test func foreign2023CardWithFingerprints() throws {
        let fp = [UInt8](repeating: 0x44, count: 1024)
        let o = try object(
            IDCardReport.json(
                try IDCardReport.decode(frame: replyFrame(foreign2023, fingerprint: fp)), reveal: true, today: today))
        #expect(o["cardType"] as? String == "foreign2023")
        #expect(o["englishName"] as? String == "ZHANG, TESTFAMILY SAMPLEGIVEN MIDDL EXTRANAMES")
        #expect(o["renewalCount"] as? String == "02")
        #expect(o["idNumberValid"] as? Bool == true)
        #expect(o["fingerprint"] as? Int == 1024)
    }

    @Test func hexTextWithAnyWhitespaceAndStrayBytes() throws {
        let frame = [0x00, 0x13] + replyFrame(resident)
        let hex = frame.enumerated().map { i, b in
            String(format: "%02x", b) + (i % 16 == 15 ? "\n" : (i % 3 == 0 ? "  " : " "))
        }.joined()
        let bytes = IDCardReport.bytes(fromFile: Array(hex.utf8))
        #expect(bytes == frame)
        #expect(try IDCardReport.decode(frame: bytes).name == "测试一")
        #expect(IDCardReport.bytes(fromFile: frame) == frame, "raw bytes stay raw")
    }

    @Test func brokenRepliesSayWhy() {
        let good = replyFrame(resident)
        func reason(_ b: [UInt8]) -> String {
            do {
                _ = try IDCardReport.decode(frame: b)
                return "decoded"
            } catch { return "\(error)" }
        }
        #expect(reason([0x01, 0x02, 0x03]).hasPrefix("no preamble"))
        #expect(reason(Array(good.prefix(600))).hasPrefix("truncated"))
        var bad = good
        bad[bad.count - 1] ^= 1
        #expect(reason(bad).hasPrefix("bad checksum"))
        var len = good
        len[5] = 0x0B
        #expect(reason(len).hasPrefix("bad length"))
        #expect(reason(SAMReply(status: 0x41).encoded()).hasPrefix("status 41"))
        #expect(reason(SAMReply(status: 0x80).encoded()).contains("no card"))
        #expect(reason([]).hasPrefix("empty"))
    }

    /// Random and mutated frames: nothing crashes or hangs; every result is a value or an error.
    @Test func fuzzedFramesNeverCrashOrHang() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [
            replyFrame(resident), replyFrame(hmt), replyFrame(foreign2017),
            replyFrame(foreign2023, fingerprint: [UInt8](repeating: 1, count: 512)),
            SAMReply.cardFound.encoded(), SAMReply(status: 0x90).encoded(),
        ]
        var decoded = 0
        var rejected = 0
        for round in 0..<3000 {
            var b = seeds[round % seeds.count]
            switch round % 5 {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    b[Int.random(in: 0..<b.count, using: &rng)] = .random(in: 0...255, using: &rng)
                }
            case 1: b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
            case 2:
                b.insert(
                    contentsOf: (0..<Int.random(in: 1...20, using: &rng)).map { _ in
                        UInt8.random(in: 0...255, using: &rng)
                    }, at: Int.random(in: 0...b.count, using: &rng))
            case 3: b = (0..<Int.random(in: 0...3000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:
                // A valid frame around a mutated body: exercises the card decoders themselves.
                var body = Array(b.dropFirst(7).dropLast())
                if body.count > 3 {
                    for _ in 0..<4 {
                        body[Int.random(in: 3..<body.count, using: &rng)] = .random(in: 0...255, using: &rng)
                    }
                }
                b = SAMFrame.encode(body: body)
            }
            if let id = try? IDCardReport.decode(frame: b) {
                decoded += 1
                _ = IDCardReport.json(id, reveal: false, today: "20261201")
            } else {
                rejected += 1
            }
            var p = SAMFrameParser()
            var chunks = 0
            var i = 0
            while i < b.count {
                let n = Int.random(in: 1...64, using: &rng)
                p.feed(b[i..<min(i + n, b.count)])
                while let f = p.next() {
                    chunks += 1
                    if case .frame(let body) = f, let r = try? SAMReply(body: body) {
                        _ = try? IDCardIdentity.decodeReadReply(r.data)
                    }
                    #expect(chunks < 10_000, "parser must not loop")
                    if chunks >= 10_000 { return }
                }
                i += n
            }
            _ = p.discardPartialFrame()
        }
        #expect(decoded + rejected == 3000)
        #expect(decoded > 0 && rejected > 0)
    }
}
