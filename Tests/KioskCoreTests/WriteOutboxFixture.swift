import Crypto
import Foundation
import KioskProtocols
import Testing
@testable import KioskCore

// Writes Tests/Fixtures/outbox-v3 with the Outbox of main at 81fbece (schema v1…v3), so the
// stores that replace it can be tested against a database written by the old code. Runs only when
// KIOSK_WRITE_OUTBOX_FIXTURE names the folder to write. Made-up people only (SyntheticCards).

final class FixtureClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t: Date
    init(_ t: Date) { self.t = t }
    var now: Date { lock.withLock { t } }
    func set(_ d: Date) { lock.withLock { t = d } }
    func advance(_ s: Double) { lock.withLock { t = t.addingTimeInterval(s) } }
}

@Suite struct WriteOutboxFixture {
    @Test func writeFixture() throws {
        guard let out = ProcessInfo.processInfo.environment["KIOSK_WRITE_OUTBOX_FIXTURE"] else { return }
        let fm = FileManager.default
        try? fm.removeItem(atPath: out)
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        let keyBytes = Data((0..<32).map { UInt8(0xA0 ^ $0) })
        try Data((keyBytes.map { String(format: "%02x", $0) }.joined() + "\n").utf8).write(to: URL(fileURLWithPath: out + "/outbox-test.key"))
        let cipher = AtRestCipher(masterKey: SymmetricKey(data: keyBytes))
        // 2026-11-05 09:00:00 +08:00
        let clock = FixtureClock(Date(timeIntervalSince1970: 1_762_304_400))
        let o = try Outbox(stateDirectory: out + "/state", cipher: cipher, stationId: "XY-FIXTURE-001", casePrefix: "GH",
                           now: { clock.now })
        let one = ApplicantData(idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000001")
        let two = ApplicantData(idNumber: "110105195001010020", name: "测试二", cardType: "resident", phone: "13800000002")
        let three = ApplicantData(idNumber: "810000199001010027", name: "测试三", cardType: "hmt", phone: "13800000003")
        func bytes(_ n: Int, _ seed: UInt8) -> Data { Data([0xFF, 0xD8]) + Data((0..<n).map { UInt8(($0 + Int(seed)) % 251) }) + Data([0xFF, 0xD9]) }

        // 1. sealed, two attachments, one uploaded, one half-way through tus, one failed attempt
        let a = try o.seal(NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: one,
                                         attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: bytes(3000, 1)),
                                                       NewAttachment(name: "material-2.jpg", contentType: "image/jpeg", data: bytes(2000, 2))]))
        try o.markReceiptPrinted(id: a.id)
        try o.markAttachmentUploaded(submissionId: a.id, name: "material-1.jpg")
        try o.setUploadURL(submissionId: a.id, name: "material-2.jpg", url: "http://127.0.0.1:8780/v1/uploads/fixture-upload-2")
        try o.recordFailure(id: a.id, error: "upstream unreachable (fixture)", retryAt: clock.now.addingTimeInterval(120))
        clock.advance(600)
        // 2. uploaded, upstream done, certificate downloaded, printed by staff twice, collected by a proxy
        let b = try o.seal(NewSubmission(itemCode: "XY-T-002", itemName: "残疾人两项补贴申请", applicant: two,
                                         attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: bytes(1500, 3))],
                                         assistedBy: "S001"))
        try o.markAttachmentUploaded(submissionId: b.id, name: "material-1.jpg")
        try o.markUploaded(id: b.id, upstreamState: .received)
        try o.updateUpstreamState(id: b.id, state: .certificateReady)
        let pdfB = Data("%PDF-1.4\n% fixture certificate B\n%%EOF\n".utf8)
        try o.noteCertificate(submissionId: b.id, ref: CertificateRef(ref: "cert-fixture-b", contentType: "application/pdf", size: pdfB.count, sha256: sha256Hex(pdfB)))
        try o.storeCertificate(submissionId: b.id, data: pdfB)
        clock.advance(60)
        try o.recordCertificatePrintFailure(submissionId: b.id, by: "S001", reason: "A4打印机卡纸")
        clock.advance(60)
        try o.markCertificatePrinted(submissionId: b.id, by: "S001")
        clock.advance(60)
        try o.markCertificatePrinted(submissionId: b.id, by: "S001")
        clock.advance(60)
        try o.markCertificateCollected(submissionId: b.id, by: "S001", collector: "proxy")
        clock.advance(600)
        // 3. quarantined
        let c = try o.seal(NewSubmission(itemCode: "XY-V-003", itemName: "农村宅基地申请", applicant: three, attachments: []))
        try o.quarantine(id: c.id, reason: "manifest: rejected with HTTP 400 (fixture)")
        clock.advance(600)
        // 4. uploaded, certificate downloaded and printed by the resident (self pick-up, collected)
        let d = try o.seal(NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: one, attachments: []))
        try o.markUploaded(id: d.id, upstreamState: .certificateReady)
        let pdfD = Data("%PDF-1.4\n% fixture certificate D\n%%EOF\n".utf8)
        try o.noteCertificate(submissionId: d.id, ref: CertificateRef(ref: "cert-fixture-d", contentType: "application/pdf", size: pdfD.count, sha256: sha256Hex(pdfD)))
        try o.storeCertificate(submissionId: d.id, data: pdfD)
        clock.advance(30)
        try o.markCertificatePrinted(submissionId: d.id, by: "resident")
        try o.markCertificateCollected(submissionId: d.id, by: "resident", collector: "applicant")
        clock.advance(600)
        // 5. uploaded, certificate announced, not downloaded yet
        let e = try o.seal(NewSubmission(itemCode: "XY-T-002", itemName: "残疾人两项补贴申请", applicant: three, attachments: []))
        try o.markUploaded(id: e.id, upstreamState: .inReview)
        try o.noteCertificate(submissionId: e.id, ref: CertificateRef(ref: "cert-fixture-e", contentType: "application/pdf", size: 1234, sha256: String(repeating: "ab", count: 32)))
        clock.advance(600)
        // 6. uploaded and done, then purged by retention (no certificate)
        let f = try o.seal(NewSubmission(itemCode: "XY-V-004", itemName: "低保申请", applicant: two,
                                         attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: bytes(800, 4))]))
        try o.markAttachmentUploaded(submissionId: f.id, name: "material-1.jpg")
        try o.markUploaded(id: f.id, upstreamState: .done)
        clock.advance(40 * 86_400)
        // Retention runs 40 days later; b and d are collected (purged too), e's certificate is not collected (kept).
        let purged = try o.purgeConfirmed(olderThanDays: 30)
        #expect(purged == 3)
        // A seal on the later day: its own case counter row.
        let g = try o.seal(NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: two,
                                         attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: bytes(1000, 5))]))

        // Evaluations and messages: one sent, one queued, one quarantined; a heartbeat queued.
        try o.recordEvaluation(caseNumber: b.caseNumber, level: 5, reason: nil)
        clock.advance(10)
        try o.recordEvaluation(caseNumber: d.caseNumber, level: 2, reason: "等待时间长（测试）")
        clock.advance(10)
        try o.recordEvaluation(caseNumber: g.caseNumber, level: 4, reason: nil)
        let msgs = try o.dueMessages()
        #expect(msgs.count == 3)
        try o.markMessageSent(id: msgs[0].id)
        try o.quarantineMessage(id: msgs[1].id, reason: "evaluation: rejected with HTTP 400 (fixture)")
        try o.recordMessageFailure(id: msgs[2].id, error: "upstream unreachable (fixture)", retryAt: clock.now.addingTimeInterval(60))
        try o.queueHeartbeat(StationHeartbeat(heartbeatId: "00000000-0000-4000-8000-00000000beef", stationId: "XY-FIXTURE-001",
                                              sentAt: "2026-12-15T01:00:00Z",
                                              devices: [DeviceReport(kind: "idCardReader", state: "ready", simulated: true)],
                                              queueDepth: 2, quarantined: 1, freeDiskBytes: 1_000_000_000, acceptingSubmissions: true))

        // Staff: one active window member (signed in once, then two wrong PINs), one agent locked out, one disabled.
        let hash = PINHash.make(pin: "2468", iterations: 1000)
        try o.addStaff(staffId: "S001", name: "测试五", role: .window, idNumber: "110105198505050038", pinHash: hash)
        try o.addStaff(staffId: "A002", name: "测试六", role: .agent, idNumber: "911840198001010013", pinHash: PINHash.make(pin: "1357", iterations: 1000))
        try o.addStaff(staffId: "S003", name: "测试七", role: .window, idNumber: "110105195001010020", pinHash: PINHash.make(pin: "9999", iterations: 1000))
        guard case .signedIn = try o.verifyStaffPIN(staffId: "S001", pin: "2468") else { Issue.record("S001 not signed in"); return }
        _ = try o.verifyStaffPIN(staffId: "S001", pin: "0000")
        _ = try o.verifyStaffPIN(staffId: "S001", pin: "0000")
        for _ in 0..<5 { _ = try o.verifyStaffPIN(staffId: "A002", pin: "0000") }
        try o.setStaffActive("S003", false)

        // Help, service state, device history.
        try o.audit(actor: "resident", action: "help.requested", subject: "home")
        clock.advance(5)
        try o.audit(actor: "S001", action: "help.acknowledged")
        clock.advance(5)
        try o.audit(actor: "resident", action: "help.requested", subject: "applyMaterials")
        try o.recordDeviceState(kind: "receiptPrinter", state: "ready", usable: true)
        clock.advance(60)
        try o.recordDeviceState(kind: "receiptPrinter", state: "paperOut", usable: false)
        clock.advance(300)
        try o.recordDeviceState(kind: "receiptPrinter", state: "ready", usable: true)
        try o.recordDeviceState(kind: "a4Printer", state: "noDevice", usable: false)
        try o.setOutOfService(notice: nil, by: "S001")
        clock.advance(60)
        try o.setOutOfService(notice: "今日停电检修，请到窗口办理。", by: "S001")
        #expect(try o.verifyAuditChain() == nil)
        try o.close()
        print("fixture written to \(out): submissions \([a, b, c, d, e, f, g].map(\.caseNumber))")
    }
}
