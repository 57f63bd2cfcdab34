import Crypto
import Foundation
import GRDB
import KioskProtocols
import Testing
@testable import KioskCore

/// A clock the tests move by hand.
final class HandClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t: Date
    init(_ s: String) { t = ISO8601DateFormatter().date(from: s)! }
    var now: Date { lock.withLock { t } }
    func set(_ s: String) { lock.withLock { t = ISO8601DateFormatter().date(from: s)! } }
    func advance(_ s: Double) { lock.withLock { t += s } }
    /// A station clock (Asia/Shanghai) reading this clock.
    var station: StationClock { StationClock.fixed { self.now } }
}

let staffID = "110105198505050038"  // synthetic: 测试五, valid check digit

func clockedOutbox(_ dir: String, _ clock: HandClock) throws -> OutboxStores {
    try OutboxStores(
        stateDirectory: dir + "/state",
        cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))), stationId: "XY-TEST-001",
        casePrefix: "GH",
        clock: clock.station)
}

@Suite struct StaffRegistryTests {
    @Test func signInWithTheRightPINAndNothingPersonalStored() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        try await o.staff.add(
            staffId: "S001", name: "测试五", role: .window, idNumber: staffID,
            pinHash: PINHash.make(pin: "2468", iterations: 1000))
        let m = try #require(try o.staff.member(forIDNumber: staffID))
        #expect(m.staffId == "S001")
        #expect(m.displayName == "测**")
        #expect(try o.staff.member(forIDNumber: "110105200001010016") == nil)
        guard case .signedIn(let who) = try await o.staff.signIn(staffId: "S001", pin: "2468") else {
            Issue.record("not signed in")
            return
        }
        #expect(who.role == .window)
        // The registry holds neither the ID number nor the name nor the PIN.
        let db =
            try Data(contentsOf: URL(fileURLWithPath: dir + "/state/outbox.sqlite"))
            + ((try? Data(contentsOf: URL(fileURLWithPath: dir + "/state/outbox.sqlite-wal"))) ?? Data())
        #expect(db.range(of: Data(staffID.utf8)) == nil)
        #expect(db.range(of: Data("测试五".utf8)) == nil)
        let actions = try o.audit.entries().map(\.action)
        #expect(actions.contains("staff.registered"))
        #expect(actions.contains("staff.signin"))
    }

    @Test func wrongPINsCountDownThenLockOutAcrossARestart() async throws {
        let dir = tempDir()
        let clock = HandClock("2026-11-05T02:00:00Z")
        var o = try clockedOutbox(dir, clock)
        try await o.staff.add(
            staffId: "S002", name: "测试六", role: .agent, idNumber: staffID,
            pinHash: PINHash.make(pin: "1357", iterations: 1000))
        for left in [4, 3, 2] {
            #expect(try await o.staff.signIn(staffId: "S002", pin: "0000") == .wrongPIN(attemptsLeft: left))
        }
        // A restart does not reset the count.
        try o.database.close()
        o = try clockedOutbox(dir, clock)
        #expect(try await o.staff.signIn(staffId: "S002", pin: "0000") == .wrongPIN(attemptsLeft: 1))
        guard case .lockedOut(let until) = try await o.staff.signIn(staffId: "S002", pin: "0000") else {
            Issue.record("no lockout")
            return
        }
        #expect(abs(until.timeIntervalSince(clock.now) - PINRole.staff.policy.lockoutSeconds) < 1)
        // Locked: even the right PIN is refused, without checking it.
        guard case .lockedOut = try await o.staff.signIn(staffId: "S002", pin: "1357") else {
            Issue.record("right PIN let in while locked")
            return
        }
        // After the lockout the right PIN works again, and the count starts afresh.
        clock.advance(PINRole.staff.policy.lockoutSeconds + 1)
        guard case .signedIn = try await o.staff.signIn(staffId: "S002", pin: "1357") else {
            Issue.record("not signed in after lockout")
            return
        }
        #expect(try await o.staff.signIn(staffId: "S002", pin: "9999") == .wrongPIN(attemptsLeft: 4))
        let actions = try o.audit.entries().map(\.action)
        #expect(actions.filter { $0 == "staff.signin.failed" }.count == 5)
        #expect(actions.contains("staff.lockout"))
        #expect(actions.contains("staff.signin.refused"))
    }

    @Test func unlockDisableAndUnknown() async throws {
        let o = try makeOutbox(tempDir())
        try await o.staff.add(
            staffId: "S003", name: "测试七", role: .window, idNumber: staffID,
            pinHash: PINHash.make(pin: "1111", iterations: 1000))
        for _ in 0..<5 { _ = try await o.staff.signIn(staffId: "S003", pin: "2222") }
        guard case .lockedOut = try await o.staff.signIn(staffId: "S003", pin: "1111") else {
            Issue.record("not locked")
            return
        }
        #expect(try await o.staff.unlock("S003"))
        guard case .signedIn = try await o.staff.signIn(staffId: "S003", pin: "1111") else {
            Issue.record("unlock failed")
            return
        }
        #expect(try await o.staff.setActive("S003", false))
        #expect(try await o.staff.signIn(staffId: "S003", pin: "1111") == .inactive)
        #expect(try await o.staff.signIn(staffId: "NOPE", pin: "1111") == .unknown)
        await #expect(throws: StaffError.self) {
            try await o.staff.add(
                staffId: "S004", name: "某", role: .agent, idNumber: staffID,
                pinHash: PINHash.make(pin: "1111", iterations: 1000))
        }
        await #expect(throws: StaffError.self) {
            try await o.staff.add(
                staffId: "bad id!", name: "某", role: .agent, idNumber: "110105200001010016", pinHash: "x")
        }
    }

    @Test func aToolOpeningTheOutboxBesideKioskdLeavesSealsInFlightAlone() async throws {
        let dir = tempDir()
        _ = try makeOutbox(dir)
        let inFlight = dir + "/state/attachments/seal-being-committed"
        try FileManager.default.createDirectory(atPath: inFlight, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/state/seal-journal", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/state/seal-journal/seal-being-committed", contents: Data())
        _ = try OutboxStores(
            stateDirectory: dir + "/state", cipher: .ephemeral(), stationId: "XY-TEST-001", casePrefix: "GH",
            cleanOrphans: false)
        #expect(FileManager.default.fileExists(atPath: inFlight))
        _ = try makeOutbox(dir)  // the daemon's own start removes leftovers of a crash (the seal journal names them)
        #expect(!FileManager.default.fileExists(atPath: inFlight))
    }

    @Test func anAssistedSubmissionCarriesTheAgentUpstream() async throws {
        let o = try makeOutbox(tempDir())
        _ = try await o.submissions.seal(
            NewSubmission(
                itemCode: "XY-V-001", itemName: "示例事项", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))],
                assistedBy: "A007"))
        let due = try #require(try await o.uploads.nextDue().due)
        #expect(due.manifest.assistedBy == "A007")
        #expect(try o.ledger.ledger(LedgerPeriod.containing(Date(), month: true, clock: .system)).assisted == 1)
    }

    @Test func auditChainDetectsAnEditedEntry() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        try await o.audit.append(actor: "S001", action: "certificate.printed", subject: "GH202611050001")
        try await o.audit.append(
            actor: "S001", action: "certificate.collected", subject: "GH202611050001", detail: "applicant")
        #expect(try o.audit.verify() == nil)
        let q = try DatabaseQueue(path: dir + "/state/outbox.sqlite")
        try await q.write { db in try db.execute(sql: "UPDATE audit SET actor = 'S999' WHERE id = 1") }
        #expect(try o.audit.verify() == 1)
    }
}

@Suite struct LedgerTests {
    /// A known month: 4 submissions (one assisted) on two items, upstream states set, 3
    /// evaluations, 2 certificates (one self pick-up, one printed twice by staff and collected by a
    /// proxy), a reader outage of 30 minutes and an hour out of service.
    @Test func figuresFromAKnownSetOfSubmissionsAndEvaluations() async throws {
        let dir = tempDir()
        let clock = HandClock("2026-11-03T01:00:00Z")
        let o = try clockedOutbox(dir, clock)
        func seal(_ code: String, _ name: String, assisted: String? = nil) async throws -> SubmissionSummary {
            try await o.submissions.seal(
                NewSubmission(
                    itemCode: code, itemName: name, applicant: applicant,
                    attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))],
                    assistedBy: assisted))
        }
        // October: must not count.
        clock.set("2026-10-31T15:59:00Z")  // 23:59 Beijing time, 31 October
        _ = try await seal("A1", "老年人高龄补贴发放")
        clock.set("2026-10-31T16:00:00Z")  // 00:00 Beijing time, 1 November: counts
        let a = try await seal("A1", "老年人高龄补贴发放")
        clock.set("2026-11-03T01:00:00Z")
        let b = try await seal("A1", "老年人高龄补贴发放", assisted: "S001")
        let c = try await seal("B2", "残疾人两项补贴")
        _ = try await seal("B2", "残疾人两项补贴")  // stays sealed (not uploaded)
        try await o.uploads.markUploaded(id: a.id, upstreamState: .received)
        try await o.uploads.updateUpstreamState(id: a.id, state: .certificateReady)
        try await o.uploads.markUploaded(id: b.id, upstreamState: .received)
        try await o.uploads.markUploaded(id: c.id, upstreamState: .received)
        try await o.uploads.updateUpstreamState(id: c.id, state: .certificateReady)

        try await o.messages.recordEvaluation(caseNumber: a.caseNumber, level: 5, reason: nil)
        try await o.messages.recordEvaluation(caseNumber: b.caseNumber, level: 5, reason: nil)
        try await o.messages.recordEvaluation(caseNumber: c.caseNumber, level: 2, reason: "等候时间长")

        let pdf = Data("%PDF-1.4 test".utf8)
        for s in [a, c] {
            try await o.certificates.noteCertificate(
                submissionId: s.id,
                ref: CertificateRef(
                    ref: "ref-" + s.id.prefix(8), contentType: "application/pdf",
                    size: pdf.count, sha256: sha256Hex(pdf)))
            try await o.certificates.storeCertificate(submissionId: s.id, data: pdf)
        }
        #expect(try o.certificates.certificatesForPickup(idNumber: applicant.idNumber).count == 2)
        clock.advance(60)
        try await o.certificates.markCertificatePrinted(submissionId: a.id, by: .resident)
        try await o.certificates.markCertificateCollected(submissionId: a.id, by: .resident, collector: .applicant)
        try await o.certificates.markCertificatePrinted(submissionId: c.id, by: .staff("S001"))
        try await o.certificates.recordCertificatePrintFailure(submissionId: c.id, by: .staff("S001"), reason: "jam")
        // reprint after the jam
        try await o.certificates.markCertificatePrinted(submissionId: c.id, by: .staff("S001"))
        #expect(try o.certificates.certificatesOutstanding().map(\.submissionId) == [c.id])
        #expect(try o.certificates.certificatesOutstanding().first?.printCount == 2)
        await #expect(throws: StaffError.self) {
            try await o.certificates.markCertificateCollected(
                submissionId: a.id, by: .staff("S001"), collector: .applicant)
        }

        // Reader down 02:00–02:30 UTC on the 4th; out of service 03:00–04:00.
        try await o.devices.record(
            kind: "idCardReader", state: "online", usable: true,
            at: ISO8601DateFormatter().date(from: "2026-11-01T00:00:00Z"))
        try await o.devices.record(
            kind: "idCardReader", state: "powerOff", usable: false,
            at: ISO8601DateFormatter().date(from: "2026-11-04T02:00:00Z"))
        try await o.devices.record(
            kind: "idCardReader", state: "powerOff", usable: false,
            at: ISO8601DateFormatter().date(from: "2026-11-04T02:10:00Z"))  // repeat: ignored
        try await o.devices.record(
            kind: "idCardReader", state: "online", usable: true,
            at: ISO8601DateFormatter().date(from: "2026-11-04T02:30:00Z"))
        clock.set("2026-11-04T03:00:00Z")
        try await o.service.setOutOfService(notice: "设备维护中", by: "S001")
        #expect(try o.service.outOfServiceNotice() == "设备维护中")
        clock.set("2026-11-04T04:00:00Z")
        try await o.service.setOutOfService(notice: nil, by: "S001")
        #expect(try o.service.outOfServiceNotice() == nil)

        clock.set("2026-11-20T04:00:00Z")
        try await o.certificates.markCertificateCollected(submissionId: c.id, by: .staff("S001"), collector: .proxy)

        clock.set("2026-12-02T00:00:00Z")
        let l = try o.ledger.ledger(try LedgerPeriod.month("2026-11", clock: .system))
        #expect(l.submissionsTotal == 4)
        #expect(l.assisted == 1)
        let rows = Dictionary(uniqueKeysWithValues: l.submissions.map { ("\($0.itemCode)/\($0.state)", $0.count) })
        #expect(rows == ["A1/certificateReady": 1, "A1/received": 1, "B2/certificateReady": 1, "B2/sealed": 1])
        #expect(l.evaluations == [5: 2, 2: 1])
        #expect(l.certificatesReady == 2)
        #expect(l.certificatesPrinted == 2)
        #expect(l.certificateReprints == 1)
        #expect(l.certificatesCollected == 2)
        #expect(l.certificatesSelfPickup == 1)
        #expect(l.certificatesWaiting == 0)
        #expect(l.downtime == [Ledger.DeviceDowntime(device: "idCardReader", seconds: 1800, outages: 1)])
        #expect(l.outOfServiceSeconds == 3600)

        let csv = l.csv()
        #expect(csv.hasPrefix("section,key,name,detail,value\r\n"))
        #expect(csv.contains("submissions_total,,申请合计,,4\r\n"))
        #expect(csv.contains("assisted,,帮办代办,,1\r\n"))
        #expect(csv.contains("evaluations,5,非常满意,,2\r\n"))
        #expect(csv.contains("evaluations,2,不满意,,1\r\n"))
        #expect(csv.contains("certificates,collected,已领取,,2\r\n"))
        #expect(csv.contains("downtime_seconds,idCardReader,身份证阅读器,outages 1,1800\r\n"))
        #expect(!csv.contains(applicant.idNumber))
        #expect(l.csv(bom: true).hasPrefix("\u{FEFF}section"))

        // A day: only the 3rd's submissions; the printable forms carry the same figures.
        let day = try o.ledger.ledger(try LedgerPeriod.day("2026-11-03", clock: .system))
        #expect(day.submissionsTotal == 3)
        #expect(day.lines(stationName: "测试站").contains { $0.contains("合计 3 件，其中帮办代办 1 件") })
        let receipt = day.receipt(stationName: "测试站", printedAt: "2026-11-03 10:00")
        #expect(receipt.elements.contains(.keyValue("申请合计", "3")))
        // October stays in October.
        #expect(try o.ledger.ledger(try LedgerPeriod.month("2026-10", clock: .system)).submissionsTotal == 1)
        #expect(throws: StaffError.self) { try LedgerPeriod.month("2026-13", clock: .system) }
        #expect(throws: StaffError.self) { try LedgerPeriod.day("2026-02-30", clock: .system) }
    }

    /// A reprint next month does not rewrite last month's "waiting"; retention keeps what is not collected.
    @Test func pastLedgersStayAndUncollectedCertificatesAreNotPurged() async throws {
        let dir = tempDir()
        let clock = HandClock("2026-11-28T02:00:00Z")
        let o = try clockedOutbox(dir, clock)
        let s = try await o.submissions.seal(
            NewSubmission(
                itemCode: "A1", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        try await o.uploads.markUploaded(id: s.id, upstreamState: .certificateReady)
        let pdf = Data("%PDF-1.4 test".utf8)
        try await o.certificates.noteCertificate(
            submissionId: s.id,
            ref: CertificateRef(ref: "ref-1", contentType: "application/pdf", size: pdf.count, sha256: sha256Hex(pdf)))
        try await o.certificates.storeCertificate(submissionId: s.id, data: pdf)
        try await o.certificates.markCertificatePrinted(submissionId: s.id, by: .staff("S001"))
        clock.set("2026-12-02T02:00:00Z")
        try await o.certificates.markCertificatePrinted(submissionId: s.id, by: .staff("S001"))
        #expect(try o.ledger.ledger(try LedgerPeriod.month("2026-11", clock: .system)).certificatesWaiting == 1)
        clock.set("2027-03-01T02:00:00Z")
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 0)  // still waiting to be collected
        #expect(try o.certificates.certificate(submissionId: s.id) != nil)
        try await o.certificates.markCertificateCollected(submissionId: s.id, by: .staff("S001"), collector: .applicant)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 1)
        #expect(try o.ledger.ledger(try LedgerPeriod.month("2026-11", clock: .system)).certificatesWaiting == 1)
    }

    @Test func ledgerPDFIsAPDFWithTheChineseText() async throws {
        let pdf = TextPDF.make(lines: ["工作台账 2026-11", "申请合计 4"] + (0..<80).map { "第\($0)行" })
        let s = String(decoding: pdf, as: UTF8.self)
        #expect(s.hasPrefix("%PDF-1.4"))
        #expect(s.contains("/Count 2"))  // 82 lines: two pages
        #expect(s.contains("/UniGB-UCS2-H"))
        #expect(s.contains("<5DE54F5C53F08D26"))  // 工作台账 in UCS-2
        #expect(s.hasSuffix("%%EOF\n"))
    }
}
