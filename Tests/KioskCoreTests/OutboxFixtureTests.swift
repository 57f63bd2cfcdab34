import Crypto
import Foundation
import KioskProtocols
import Testing
@testable import KioskCore

// Tests/Fixtures/outbox-v3 was written by the Outbox of main at 81fbece (schema v1…v3) through
// Tests/KioskCoreTests/WriteOutboxFixture.swift, added in commit c43e463 and removed once the
// Outbox was gone (KIOSK_WRITE_OUTBOX_FIXTURE=DIR ran it). Every table has rows; made-up people
// only. The stores open a copy, migrate it (v4) and read every row back.

enum OutboxFixture {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/outbox-v3").path
    }

    /// A copy of the fixture's state directory and its key (the original is never opened for writing).
    static func copy() throws -> (state: String, key: SymmetricKey) {
        let dst = tempDir() + "/state"
        try FileManager.default.copyItem(atPath: directory + "/state", toPath: dst)
        return (dst, try AtRestCipher.loadKey(path: directory + "/outbox-test.key"))
    }

    static func bytes(_ n: Int, _ seed: UInt8) -> Data {
        Data([0xFF, 0xD8]) + Data((0..<n).map { UInt8(($0 + Int(seed)) % 251) }) + Data([0xFF, 0xD9])
    }

    // 2025-11-05 09:00:00 +08:00 and the times the generator advanced its clock to.
    static let t0 = 1_762_304_400.0
    static let later = 1_765_763_670.0  // 40 days and 3270 s after t0: retention, case GH202512150001
    static let end = 1_765_764_120.0  // the last write (out of service)
}

@Suite struct OutboxFixtureTests {
    func open(at t: Double = OutboxFixture.end + 60) throws -> (OutboxStores, String) {
        let (state, key) = try OutboxFixture.copy()
        let clock = StationClock.fixed { Date(timeIntervalSince1970: t) }
        let stores = try OutboxStores(
            stateDirectory: state, cipher: AtRestCipher(masterKey: key), stationId: "XY-FIXTURE-001",
            casePrefix: "GH", clock: clock)
        return (stores, state)
    }

    @Test func migratesTheDatabaseOfTheOldOutbox() throws {
        let (s, state) = try open()
        #expect(
            try s.database.appliedMigrations() == [
                "v1", "v2-tus-messages-retention", "v3-staff-audit-ledger", "v4-pin-gate", "v5-quarantine-cause",
                "v6-case-events", "v7-service-evaluations", "v8-certificate-handover",
            ])
        #expect(try s.database.synchronousLevel() == 2)
        // Nothing was removed as an orphan: every attachment folder of an unpurged submission is there.
        let folders = Set(try FileManager.default.contentsOfDirectory(atPath: state + "/attachments"))
        let a = try #require(try s.submissions.allSubmissions().first { $0.caseNumber == "GH202511050001" })
        let g = try #require(try s.submissions.allSubmissions().first { $0.caseNumber == "GH202512150001" })
        #expect(folders.isSuperset(of: [a.id, g.id]))
        try s.database.close()
        // Opened again (already migrated), it reads the same.
        let again = try OutboxStores(
            stateDirectory: state, cipher: AtRestCipher(masterKey: try OutboxFixture.copy().key),
            stationId: "XY-FIXTURE-001", casePrefix: "GH")
        #expect(try again.submissions.allSubmissions().count == 7)
    }

    @Test func submissionsReadBack() async throws {
        let (s, _) = try open()
        let all = try s.submissions.allSubmissions()
        #expect(
            all.map(\.caseNumber) == [
                "GH202511050001", "GH202511050002", "GH202511050003", "GH202511050004",
                "GH202511050005", "GH202511050006", "GH202512150001",
            ])
        #expect(all.map(\.state) == [.sealed, .uploaded, .quarantined, .uploaded, .uploaded, .uploaded, .sealed])
        #expect(all.map(\.upstreamState) == [nil, .certificateReady, nil, .certificateReady, .inReview, .done, nil])
        #expect(
            all.map(\.itemCode) == ["XY-T-001", "XY-T-002", "XY-V-003", "XY-T-001", "XY-T-002", "XY-V-004", "XY-T-001"])
        #expect(all[1].itemName == "残疾人两项补贴申请")
        #expect(all[0].sealedAt == Date(timeIntervalSince1970: OutboxFixture.t0))
        #expect(all[6].sealedAt == Date(timeIntervalSince1970: OutboxFixture.later))
        #expect(all[0].attempts == 1 && all[0].lastError == "upstream unreachable (fixture)")
        #expect(all[2].attempts == 1 && all[2].lastError == "manifest: rejected with HTTP 400 (fixture)")
        #expect(
            try s.uploads.quarantined() == [
                QuarantinedSubmission(
                    caseNumber: "GH202511050003", itemCode: "XY-V-003",
                    reason: "manifest: rejected with HTTP 400 (fixture)")
            ])
        // Retention purged b, d and f (confirmed, certificates collected); e keeps its uncollected certificate.
        #expect(
            try all.map { try s.submissions.isPurged(id: $0.id) } == [false, true, false, true, false, true, false])
        // The resident's own list comes from the keyed digest of the ID number.
        #expect(
            try s.submissions.submissions(forIDNumber: "110105200001010016").map(\.caseNumber) == [
                "GH202511050004", "GH202511050001",
            ])
        #expect(
            try s.submissions.submissions(forIDNumber: "110105195001010020").map(\.caseNumber) == [
                "GH202512150001", "GH202511050006", "GH202511050002",
            ])
        let c = try s.uploads.counts()
        #expect(c.queued == 2 && c.uploaded == 4 && c.quarantined == 1)
        #expect(c.attachmentsQueued == 2)  // a's material-2 and g's material-1
        #expect(c.evaluationsQueued == 2)
        // Case numbers continue from the stored counter of the day.
        let next = try await s.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放",
                applicant: ApplicantData(
                    idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000001"),
                attachments: []))
        #expect(next.caseNumber == "GH202512150002")
    }

    @Test func uploadQueueReadsManifestsAndEncryptedAttachments() async throws {
        let (s, _) = try open(at: OutboxFixture.later + 1)
        let due = try await s.uploads.nextDue()
        let p = try #require(due.due)
        #expect(p.summary.caseNumber == "GH202511050001")
        #expect(
            p.manifest.applicant
                == ApplicantData(
                    idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000001"))
        #expect(p.manifest.stationId == "XY-FIXTURE-001")
        #expect(p.manifest.submittedAt == "2025-11-05T01:00:00Z")
        #expect(p.manifest.assistedBy == nil)
        #expect(p.attachments.map(\.ref.name) == ["material-1.jpg", "material-2.jpg"])
        #expect(p.attachments.map(\.uploaded) == [true, false])
        #expect(p.attachments[1].uploadURL == "http://127.0.0.1:8780/v1/uploads/fixture-upload-2")
        #expect(p.attachments[1].ref.sha256 == sha256Hex(OutboxFixture.bytes(2000, 2)))
        #expect(try s.uploads.attachmentData(p.attachments[0]) == OutboxFixture.bytes(3000, 1))
        #expect(try s.uploads.attachmentData(p.attachments[1]) == OutboxFixture.bytes(2000, 2))
        // g is next once a is done.
        try await s.uploads.markUploaded(id: p.summary.id, upstreamState: .received)
        let g = try #require(try await s.uploads.nextDue().due)
        #expect(g.summary.caseNumber == "GH202512150001")
        #expect(g.manifest.applicant.name == "测试二")
        #expect(try s.uploads.attachmentData(g.attachments[0]) == OutboxFixture.bytes(1000, 5))
        #expect(
            try s.uploads.openUploaded().map(\.caseNumber) == [
                "GH202511050001", "GH202511050002", "GH202511050004", "GH202511050005",
            ])
    }

    @Test func certificatesReadBackWithTypedActors() throws {
        let (s, _) = try open()
        let all = try s.submissions.allSubmissions()
        let b = all[1]
        let d = all[3]
        let e = all[4]
        let rb = try #require(try s.certificates.certificateRecord(submissionId: b.id))
        #expect(
            rb.printCount == 2 && rb.printedBy == .staff("S001") && rb.collectedBy == .staff("S001")
                && rb.collector == .proxy)
        #expect(rb.readyAt == Date(timeIntervalSince1970: OutboxFixture.t0 + 600))
        #expect(rb.printedAt == Date(timeIntervalSince1970: OutboxFixture.t0 + 780))
        #expect(rb.collectedAt == Date(timeIntervalSince1970: OutboxFixture.t0 + 840))
        #expect(rb.lastError == "A4打印机卡纸")
        #expect(!rb.downloaded)  // purged by retention
        #expect(try s.certificates.certificate(submissionId: b.id) == nil)
        let rd = try #require(try s.certificates.certificateRecord(submissionId: d.id))
        #expect(
            rd.printCount == 1 && rd.printedBy == .resident && rd.collectedBy == .resident && rd.collector == .applicant
        )
        #expect(try s.certificates.certificatesOutstanding().map(\.caseNumber) == [e.caseNumber])
        let todo = try s.certificates.certificatesToDownload()
        #expect(todo.map(\.submissionId) == [e.id])
        #expect(
            todo.first?.ref
                == CertificateRef(
                    ref: "cert-fixture-e", contentType: "application/pdf", size: 1234,
                    sha256: String(repeating: "ab", count: 32)))
        #expect(try s.certificates.certificatesForPickup(idNumber: "810000199001010027").isEmpty)  // not downloaded
    }

    @Test func evaluationsAndMessagesReadBack() async throws {
        let (s, _) = try open()
        let ev = try s.messages.evaluations()
        #expect(ev.map(\.caseNumber) == ["GH202511050002", "GH202511050004", "GH202512150001"])
        #expect(ev.map(\.level) == [5, 2, 4])
        #expect(ev.map(\.reason) == [nil, "等待时间长（测试）", nil])
        #expect(ev.map(\.uploaded) == [true, false, false])
        #expect(ev[1].createdAt == Date(timeIntervalSince1970: OutboxFixture.later + 10))
        #expect(try s.messages.messageCounts() == MessageCounts(queued: 2, sent: 1, quarantined: 1))
        let due = try await s.messages.dueMessages()
        #expect(due.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.evaluation, .heartbeat])
        let evaluation = try #require(due.first { $0.kind == .evaluation })
        let report = try JSONDecoder().decode(EvaluationReport.self, from: evaluation.body)
        #expect(report.caseNumber == "GH202512150001" && report.level == 4 && report.stationId == "XY-FIXTURE-001")
        #expect(evaluation.attempts == 1)
        let heartbeat = try #require(due.first { $0.kind == .heartbeat })
        let hb = try JSONDecoder().decode(StationHeartbeat.self, from: heartbeat.body)
        #expect(hb.heartbeatId == "00000000-0000-4000-8000-00000000beef" && hb.queueDepth == 2 && hb.devices.count == 1)
        try await s.messages.markMessageSent(id: evaluation.id)
        #expect(try s.messages.evaluations().map(\.uploaded) == [true, false, true])
    }

    @Test func staffAndPINGateReadBackAndKeepCounting() async throws {
        let (s, _) = try open()
        let list = try s.staff.list()
        #expect(list.map(\.staffId) == ["A002", "S001", "S003"])
        #expect(list.map(\.role) == [.agent, .window, .window])
        #expect(list.map(\.active) == [true, true, false])
        #expect(list.map(\.displayName) == [Mask.name("测试六"), Mask.name("测试五"), Mask.name("测试七")])
        // Counters migrated from the staff table into the PIN gate.
        #expect(list.map(\.failures) == [5, 2, 0])
        #expect(list[0].lockedUntil == Date(timeIntervalSince1970: OutboxFixture.later + 20 + 900))
        #expect(list[1].lockedUntil == nil)
        #expect(try s.staff.member(forIDNumber: "110105198505050038")?.staffId == "S001")
        #expect(try s.staff.member(forIDNumber: "110105200001010016") == nil)
        // A002 is still locked out at the fixture's end; S001's two wrong PINs count on.
        guard case .lockedOut = try await s.staff.signIn(staffId: "A002", pin: "1357") else {
            Issue.record("A002 not locked out")
            return
        }
        #expect(try await s.staff.signIn(staffId: "S001", pin: "1111") == .wrongPIN(attemptsLeft: 2))
        guard case .signedIn(let m) = try await s.staff.signIn(staffId: "S001", pin: "2468") else {
            Issue.record("S001 refused")
            return
        }
        #expect(m.staffId == "S001" && m.role == .window)
        #expect(try await s.staff.signIn(staffId: "S003", pin: "9999") == .inactive)
    }

    @Test func auditDevicesServiceAndLedgerReadBack() throws {
        let (s, _) = try open()
        let entries = try s.audit.entries()
        #expect(entries.count == 23)
        #expect(try s.audit.verify() == nil)
        #expect(
            entries.first?.action == "certificate.print.failed" && entries.first?.actor == "S001"
                && entries.first?.subject == "GH202511050002")
        #expect(entries.map(\.action).filter { $0.hasPrefix("staff.") }.count == 12)
        #expect(entries.last?.action == "service.suspended" && entries.last?.detail == "今日停电检修，请到窗口办理。")
        let help = try s.audit.pendingHelpRequests()
        #expect(help.count == 1 && help.last == Date(timeIntervalSince1970: OutboxFixture.later + 30))
        #expect(try s.service.outOfServiceNotice() == "今日停电检修，请到窗口办理。")
        let printer = try s.devices.events(kind: "receiptPrinter")
        #expect(printer.map(\.state) == ["ready", "paperOut", "ready"])
        #expect(printer.map(\.usable) == [true, false, true])
        #expect(printer[1].at == Date(timeIntervalSince1970: OutboxFixture.later + 90))
        #expect(try s.devices.events(kind: "a4Printer").map(\.state) == ["noDevice"])

        let clock = StationClock.fixed { Date(timeIntervalSince1970: OutboxFixture.end + 60) }
        let nov = try s.ledger.ledger(try LedgerPeriod.month("2025-11", clock: clock))
        #expect(nov.submissionsTotal == 6 && nov.assisted == 1)
        #expect(nov.certificatesReady == 3 && nov.certificatesPrinted == 2 && nov.certificateReprints == 1)
        #expect(nov.certificatesCollected == 2 && nov.certificatesSelfPickup == 1 && nov.certificatesWaiting == 0)
        let dec = try s.ledger.ledger(try LedgerPeriod.month("2025-12", clock: clock))
        #expect(dec.submissionsTotal == 1)
        #expect(dec.evaluations == [5: 1, 2: 1, 4: 1])
        #expect(
            dec.downtime.first { $0.device == "receiptPrinter" }
                == Ledger.DeviceDowntime(device: "receiptPrinter", seconds: 300, outages: 1))
        #expect(dec.outOfServiceSeconds == 60)
    }
}
