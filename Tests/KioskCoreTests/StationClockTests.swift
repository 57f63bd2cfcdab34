import Crypto
import Foundation
import GRDB
import KioskProtocols
import Logging
import Testing
@testable import KioskCore

final class Prints: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [CertificatePrintOutcome]
    private(set) var jobs: [String] = []
    init(_ outcomes: [CertificatePrintOutcome]) { self.outcomes = outcomes }
    var printer: CertificatePrinter {
        { [self] _, label in
            lock.withLock {
                jobs.append(label)
                return outcomes.isEmpty ? CertificatePrintOutcome(ok: true, message: "ok") : outcomes.removeFirst()
            }
        }
    }
}

final class SettableClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t: Date
    init(_ t: Date) { self.t = t }
    var now: Date { lock.withLock { t } }
    func set(_ d: Date) { lock.withLock { t = d } }
}

@Suite struct StationClockTests {
    /// The screen clock and the ISO 8601 stamps skip ICU's formatters; they must write exactly
    /// what those formatters write, in the station's zone and in UTC.
    @Test func clockTextWithoutICUMatchesTheFormatters() throws {
        let iso = ISO8601DateFormatter()
        let isoInternet = ISO8601DateFormatter()
        isoInternet.formatOptions = [.withInternetDateTime]
        for id in ["Asia/Shanghai", "Asia/Urumqi", "UTC", "America/New_York"] {
            let tz = try #require(TimeZone(identifier: id))
            let clock = StationClock(timeZone: tz)
            let f = clock.formatter("yyyy-MM-dd HH:mm:ss")
            var t = 0.0
            while t < 2_000_000_000 {
                let d = Date(timeIntervalSince1970: t)
                #expect(StationClock.dateTimeText(d, timeZone: tz) == f.string(from: d), "\(id) \(t)")
                #expect(StationClock.iso8601UTC(d) == iso.string(from: d))
                #expect(StationClock.iso8601UTC(d) == isoInternet.string(from: d))
                t += 7_654_321.987
            }
        }
    }

    @Test func anUnknownTimeZoneIsAClearError() throws {
        #expect(try StationClock(timeZoneIdentifier: "Asia/Urumqi").timeZone.identifier == "Asia/Urumqi")
        #expect(StationClock.system.timeZone.identifier == "Asia/Shanghai")
        do {
            _ = try StationClock(timeZoneIdentifier: "Asia/Beijing")
            Issue.record("Asia/Beijing accepted")
        } catch let e as StationClockError {
            #expect(e.description.contains("Asia/Beijing") && e.description.contains("station.timeZone"))
        }
    }

    @Test func dayKeysAreInTheStationTimeZone() throws {
        let d = Date(timeIntervalSince1970: 1_762_300_800 - 60)  // 2025-11-04T23:59:00Z = 07:59 on the 5th in Beijing
        #expect(StationClock.fixed { d }.dayKey(d) == "20251105")
        #expect(try StationClock(timeZoneIdentifier: "UTC").dayKey(d) == "20251104")
    }

    /// A kiosk whose clock reset to 1970, or runs far ahead: sealing, case numbers, both ledgers
    /// and retention work and give that date's keys.
    @Test(arguments: [
        (0.0, "19700101", "1970-01-01", "1970-01"),  // 1970-01-01 08:00 in Beijing
        (-8 * 3600.0, "19700101", "1970-01-01", "1970-01"),  // 1970-01-01 00:00 in Beijing (before the epoch in UTC)
        (4_133_951_999.0 - 8 * 3600, "21001231", "2100-12-31", "2100-12"),  // 2100-12-31 23:59:59 in Beijing
    ])
    func clocksAt1970And2100CrashNothing(_ t: Double, _ key: String, _ day: String, _ month: String) async throws {
        let now = Date(timeIntervalSince1970: t)
        let hand = SettableClock(now)
        let clock = StationClock.fixed { hand.now }
        let o = try OutboxStores(
            stateDirectory: tempDir() + "/state",
            cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))),
            stationId: "XY-TEST-001", casePrefix: "GH", clock: clock)
        let a = try await o.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(10))]))
        let b = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        #expect(a.caseNumber == "GH" + key + "0001")
        #expect(b.caseNumber == "GH" + key + "0002")
        try await o.uploads.markUploaded(id: a.id, upstreamState: .done)
        try await o.messages.recordEvaluation(caseNumber: a.caseNumber, level: 4, reason: nil)
        try await o.devices.record(kind: "receiptPrinter", state: "paperOut", usable: false)
        hand.set(now.addingTimeInterval(1))  // one second of paper out, inside the day even at 23:59:59

        let dayPeriod = LedgerPeriod.containing(now, month: false, clock: clock)
        let monthPeriod = LedgerPeriod.containing(now, month: true, clock: clock)
        #expect(dayPeriod.label == day && monthPeriod.label == month)
        #expect(dayPeriod.start <= now && now < dayPeriod.end)
        #expect(monthPeriod.start <= dayPeriod.start && dayPeriod.end <= monthPeriod.end)
        #expect(try LedgerPeriod.day(day, clock: clock) == dayPeriod)
        #expect(try LedgerPeriod.month(month, clock: clock) == monthPeriod)
        for p in [dayPeriod, monthPeriod] {
            let l = try o.ledger.ledger(p)
            #expect(l.submissionsTotal == 2 && l.evaluations == [4: 1])
            #expect(l.downtime == [Ledger.DeviceDowntime(device: "receiptPrinter", seconds: 1, outages: 1)])
            #expect(!l.csv().isEmpty && !l.lines(stationName: "测试站").isEmpty)
        }
        // Retention: nothing is old enough at that time; with no retention days the confirmed one goes.
        hand.set(now)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 0)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 0) == 1)
        #expect(try o.submissions.isPurged(id: a.id) && !o.submissions.isPurged(id: b.id))
        #expect(!clock.string(now, format: "yyyy-MM-dd HH:mm").isEmpty)
    }

    @Test func ledgerInputOutsideTheCalendarIsRefusedNotFatal() {
        #expect(throws: StaffError.self) { try LedgerPeriod.month("1969-12", clock: .system) }
        #expect(throws: StaffError.self) { try LedgerPeriod.day("2026-1-5", clock: .system) }
        #expect(throws: StaffError.self) { try LedgerPeriod.day("2100-02-29", clock: .system) }
    }
}

@Suite struct PINGateTests {
    let technicianHash = PINHash.make(pin: "8642", iterations: 1000)

    @Test func theTechnicianLockoutSurvivesARestart() async throws {
        let dir = tempDir()
        let clock = HandClock("2026-11-05T02:00:00Z")
        var o = try clockedOutbox(dir, clock)
        let subject = DatabasePINGate.technicianSubject
        #expect(PINRole.technician.policy == PINPolicy(maxFailures: 3, lockoutSeconds: 300))
        #expect(PINRole.staff.policy == PINPolicy(maxFailures: 5, lockoutSeconds: 900))
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "0000", against: technicianHash)
                == .wrong(failures: 1, attemptsLeft: 2))
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "0000", against: technicianHash)
                == .wrong(failures: 2, attemptsLeft: 1))
        let until = clock.now.addingTimeInterval(300)
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "0000", against: technicianHash)
                == .lockedOut(until: until, byThisAttempt: true))
        // kioskd restarts: the lockout is still there, even for the right PIN.
        try o.database.close()
        o = try clockedOutbox(dir, clock)
        #expect(try o.pinGate.lockedUntil(role: .technician, subject: subject) == until)
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "8642", against: technicianHash)
                == .lockedOut(until: until, byThisAttempt: false))
        // A technician lockout is not a staff lockout (and the other way round).
        #expect(try o.pinGate.lockedUntil(role: .staff, subject: subject) == nil)
        clock.advance(301)
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "8642", against: technicianHash)
                == .accepted)
        #expect(try o.pinGate.lockedUntil(role: .technician, subject: subject) == nil)
        // After a success the count starts afresh.
        #expect(
            try await o.pinGate.check(role: .technician, subject: subject, pin: "0000", against: technicianHash)
                == .wrong(failures: 1, attemptsLeft: 2))
    }

    @Test func attemptsTypedWhileOthersAreHashedCannotPassTheLimit() async throws {
        // Ten wrong PINs typed faster than they are checked, then the right one: exactly three count
        // as wrong, the rest (and the right PIN) meet the lockout the third one set.
        let o = try makeOutbox(tempDir())
        let subject = DatabasePINGate.technicianSubject
        let gate = o.pinGate
        let hash = technicianHash
        let results = try await withThrowingTaskGroup(of: PINCheckResult.self) { g in
            for _ in 0..<10 {
                g.addTask { try await gate.check(role: .technician, subject: subject, pin: "0000", against: hash) }
            }
            var all: [PINCheckResult] = []
            for try await r in g { all.append(r) }
            return all
        }
        let counted = results.filter {
            if case .wrong = $0 { return true }
            if case .lockedOut(_, true) = $0 { return true }
            return false
        }
        #expect(counted.count == 3, "\(results)")
        guard
            case .lockedOut(_, false) = try await gate.check(
                role: .technician, subject: subject, pin: "8642", against: hash)
        else {
            Issue.record("the right PIN got past the lockout")
            return
        }
    }

    @Test func staffAndTechnicianShareTheGateButNotTheirCounters() async throws {
        let o = try makeOutbox(tempDir())
        try await o.staff.add(
            staffId: "S001", name: "测试五", role: .window, idNumber: staffID,
            pinHash: PINHash.make(pin: "2468", iterations: 1000))
        for _ in 0..<2 {
            _ = try await o.pinGate.check(
                role: .technician, subject: DatabasePINGate.technicianSubject, pin: "1", against: technicianHash)
        }
        #expect(try await o.staff.signIn(staffId: "S001", pin: "0000") == .wrongPIN(attemptsLeft: 4))
        #expect(try o.staff.list().first?.failures == 1)
        #expect(try await o.staff.unlock("S001"))
        #expect(try o.staff.list().first?.failures == 0)
        // The technician's two failures are untouched by the staff unlock.
        guard
            case .lockedOut(_, true) = try await o.pinGate.check(
                role: .technician, subject: DatabasePINGate.technicianSubject, pin: "1",
                against: technicianHash)
        else {
            Issue.record("the third wrong technician PIN did not lock")
            return
        }
        #expect(try o.staff.list().first?.lockedUntil == nil)
    }
}

@Suite struct CertificateDeskTests {
    func setUp() async throws -> (OutboxStores, StoreCertificateDesk, [SubmissionSummary]) {
        let o = try makeOutbox(tempDir())
        var subs: [SubmissionSummary] = []
        for (i, type) in ["application/pdf", "application/pdf", "image/png"].enumerated() {
            let s = try await o.submissions.seal(
                NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
            try await o.uploads.markUploaded(id: s.id, upstreamState: .certificateReady)
            let data = Data("%PDF-1.4 \(i)".utf8)
            try await o.certificates.noteCertificate(
                submissionId: s.id,
                ref: CertificateRef(ref: "r\(i)", contentType: type, size: data.count, sha256: sha256Hex(data)))
            try await o.certificates.storeCertificate(submissionId: s.id, data: data)
            subs.append(s)
        }
        return (o, o.certificateDesk(logger: Logger(label: "test")), subs)
    }

    @Test func aJamLeavesTheCertificateWaitingForAReprint() async throws {
        let (o, desk, s) = try await setUp()
        let prints = Prints([CertificatePrintOutcome(ok: false, message: "A4打印机卡纸，未能打印。请联系工作人员处理后补打")])
        let jam = await desk.print(submissionId: s[0].id, by: .staff("S001"), on: prints.printer)
        #expect(!jam.ok && jam.message.contains("卡纸"))
        var r = try #require(try o.certificates.certificateRecord(submissionId: s[0].id))
        #expect(r.printCount == 0 && r.printedBy == nil && r.lastError?.contains("卡纸") == true)
        #expect(
            CertificatePolicy.residentMayPrint(r) && CertificatePolicy.inBatch(r) && !CertificatePolicy.mayCollect(r))
        let again = await desk.print(submissionId: s[0].id, by: .staff("S001"), on: prints.printer)
        #expect(again == CertificatePrintOutcome(ok: true, message: "已打印：\(s[0].caseNumber)"))
        r = try #require(try o.certificates.certificateRecord(submissionId: s[0].id))
        #expect(r.printCount == 1 && r.printedBy == .staff("S001") && r.collectedAt == nil)
        #expect(
            !CertificatePolicy.residentMayPrint(r) && CertificatePolicy.mayCollect(r)
                && CertificatePolicy.staffMayPrint(r))
        // Collected only through a hand-over that names the collector: a proxy with their own card.
        let proxyCard = IDCardIdentity(
            cardType: .resident, name: "测试五", sexCode: "1", nationCode: "01", birthDate: "19850505",
            address: "测试省示例县演示路5号", idNumber: staffID, issuingAuthority: "示例县公安局",
            validFrom: .date("20200101"), validTo: .longTerm)
        let handed = try await o.staffTools.handOver(
            submissionId: s[0].id, card: proxyCard, collector: .proxy, relation: "村代办员", staffId: "S001",
            certificates: o.certificates)
        #expect(handed.collectorMaskedName == proxyCard.maskedName && handed.relation == "村代办员")
        r = try #require(try o.certificates.certificateRecord(submissionId: s[0].id))
        #expect(r.collectedBy == .staff("S001") && r.collector == .proxy)
        #expect(try o.staffTools.handover(submissionId: s[0].id)?.collectorMaskedName == proxyCard.maskedName)
        await #expect(throws: (any Error).self) {
            _ = try await o.staffTools.handOver(
                submissionId: s[0].id, card: proxyCard, collector: .proxy, relation: "配偶", staffId: "S001",
                certificates: o.certificates)
        }
        #expect(try o.staffTools.handover(submissionId: s[0].id)?.relation == "村代办员")  // the first stays
        let actions = try o.audit.entries().map(\.action)
        #expect(actions == ["certificate.print.failed", "certificate.printed", "certificate.collected"])
    }

    /// The same failure is told to a resident as "ask staff" and to staff as what to do.
    @Test func printFailuresAreWordedForWhoeverPrinted() async throws {
        let (_, desk, s) = try await setUp()
        let jam = "A4打印机卡纸，未能打印。请联系工作人员处理后补打"
        let resident = await desk.print(
            submissionId: s[0].id, by: .resident, on: Prints([.init(ok: false, message: jam)]).printer)
        #expect(resident.message == jam)
        let staff = await desk.print(
            submissionId: s[0].id, by: .staff("S001"), on: Prints([.init(ok: false, message: jam)]).printer)
        #expect(staff.message == "A4打印机卡纸，未能打印。请打开打印机取出卡纸后重新操作。")
        let png = await desk.print(submissionId: s[2].id, by: .staff("S001"), on: Prints([]).printer)
        #expect(png.message.contains("请从业务系统打印后交付"))
        for m in [staff.message, png.message] {
            for p in StaffWording.residentPhrases { #expect(!m.contains(p)) }
        }
        // Every device message the layers give residents has a staff wording that says what to do.
        for resident in [
            "A4打印机暂不可用，请联系工作人员", "A4打印机缺纸，未能打印。请联系工作人员加纸后补打", "回执打印机缺纸", "回执打印机已断开",
            "打印中纸张用完", "文件格式无法打印，请联系工作人员", "A4打印机正忙，请稍后再试", "证照打印机未连接，请到窗口领取",
        ] {
            let w = StaffWording.device(resident)
            for p in StaffWording.residentPhrases { #expect(!w.contains(p), "\(w)") }
            #expect(w.contains("请"), "\(w) says what to do")
        }
        #expect(StaffWording.device("回执打印机缺纸") == "回执打印机缺纸。请加纸后重新操作。")
    }

    /// The collector's row and the collection are one transaction: if the row cannot be written,
    /// the certificate stays uncollected (a crash between them can leave neither half alone).
    @Test func aCollectionWithoutItsCollectorRowIsRolledBack() async throws {
        let (o, desk, s) = try await setUp()
        let prints = Prints([])
        _ = await desk.print(submissionId: s[0].id, by: .staff("S001"), on: prints.printer)
        await #expect(throws: (any Error).self) {
            try await o.certificates.markCertificateCollected(
                submissionId: s[0].id, by: .staff("S001"), collector: .proxy
            ) { db in
                try db.execute(sql: "INSERT INTO no_such_table VALUES (1)")
            }
        }
        let r = try #require(try o.certificates.certificateRecord(submissionId: s[0].id))
        #expect(r.collectedAt == nil && r.collector == nil && CertificatePolicy.mayCollect(r))
        #expect(!(try o.audit.entries().map(\.action).contains("certificate.collected")))
    }

    @Test func residentsPrintTheirOwnOnceAndOnlyPDFs() async throws {
        let (o, desk, s) = try await setUp()
        let prints = Prints([])
        let r = await desk.print(submissionId: s[1].id, by: .resident, on: prints.printer)
        #expect(r == CertificatePrintOutcome(ok: true, message: "证照已打印，请在A4打印机出纸口取走"))
        let rec = try #require(try o.certificates.certificateRecord(submissionId: s[1].id))
        #expect(rec.printedBy == .resident && rec.collectedBy == .resident && rec.collector == .applicant)
        #expect(try desk.forPickup(idNumber: applicant.idNumber).map(\.submissionId) == [s[0].id, s[2].id])
        let png = await desk.print(submissionId: s[2].id, by: .resident, on: prints.printer)
        #expect(png == CertificatePrintOutcome(ok: false, message: "此证照不能在本机打印，请到窗口领取"))
        #expect(prints.jobs.count == 1)
        #expect(try o.certificates.certificateRecord(submissionId: s[2].id)?.lastError == "not a PDF (image/png)")
        #expect(CertificatePolicy.staffMayUseDesk(.window) && !CertificatePolicy.staffMayUseDesk(.agent))
    }

    @Test func aBatchStopsAtTheFirstJam() async throws {
        let (o, desk, s) = try await setUp()
        let prints = Prints([
            CertificatePrintOutcome(ok: true, message: "ok"), CertificatePrintOutcome(ok: false, message: "卡纸"),
        ])
        #expect(await desk.printBatch(by: "S001", on: prints.printer) == "已打印 1 份，其余未打印：卡纸。请打开打印机取出卡纸后重新操作。")
        #expect(try o.certificates.certificateRecord(submissionId: s[0].id)?.printCount == 1)
        #expect(try o.certificates.certificateRecord(submissionId: s[1].id)?.printCount == 0)
        #expect(try o.audit.entries().last?.detail == "1/3 printed")
    }
}
