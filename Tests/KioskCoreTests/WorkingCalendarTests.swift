import Crypto
import Foundation
import KioskTestSupport
import Testing

@testable import KioskCore

/// Due dates in the working calendar: public holidays skipped, 调休 make-up days worked, data from a
/// file beside the catalog (or named in the config), carried by the signed bundle, used by the
/// ledger's overdue count.
@Suite struct WorkingCalendarTests {
    let tz = TimeZone(identifier: "Asia/Shanghai")!

    func at(_ local: String) -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.date(from: local)!
    }

    func day(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: d)
    }

    func shipped() throws -> WorkingCalendar {
        try WorkingCalendar.load(file: packageRoot.appendingPathComponent("kiosk-config/working-calendar.json").path)
    }

    @Test func theShippedCalendarIsASampleThatSkipsHolidaysAndCountsMakeUpDays() throws {
        let c = try shipped()
        #expect(c.sample)  // labelled: not checked against the notice by this project
        #expect(c.years == [2025, 2026])
        #expect(c.source?.contains("国办发明电") == true)
        // 国庆 2025: Thursday 25 September + 5 working days. Weekends only: Thursday 2 October.
        let accepted = at("2025-09-25 10:00")
        #expect(day(CaseDeadline.addWorkingDays(5, to: accepted, timeZone: tz)) == "2025-10-02 23:59")
        // With the calendar: Fri 26, Sun 28 (调休), Mon 29, Tue 30, then 1–8 October off: Thu 9.
        #expect(day(CaseDeadline.addWorkingDays(5, to: accepted, timeZone: tz, calendar: c)) == "2025-10-09 23:59")
        // 春节 2026: Friday 13 February + 3: Sat 14 (调休), 15–23 off, Tue 24, Wed 25.
        #expect(
            day(CaseDeadline.addWorkingDays(3, to: at("2026-02-13 09:00"), timeZone: tz, calendar: c))
                == "2026-02-25 23:59")
        #expect(c.isWorkingDay(at("2026-02-28 12:00"), timeZone: tz))  // a Saturday worked
        #expect(!c.isWorkingDay(at("2026-10-05 12:00"), timeZone: tz))  // a Monday off
        // A year the file does not list: weekends only (and kioskd warns).
        #expect(!c.covers(at("2027-10-01 12:00"), timeZone: tz))
        #expect(c.isWorkingDay(at("2027-10-01 12:00"), timeZone: tz))
        #expect(
            CaseDeadline.due(accepted: accepted, limit: "5个工作日", timeZone: tz, calendar: c)
                == CaseDeadline.addWorkingDays(5, to: accepted, timeZone: tz, calendar: c))
    }

    /// The calendar's days are read by hand (no ICU at start): the same days, and the same refusals,
    /// as a non-lenient en_US_POSIX DateFormatter that must write the text back unchanged.
    @Test func daysAreReadAsAStrictDateFormatterReadsThem() {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        f.isLenient = false
        func formatter(_ s: String) -> Date? {
            guard s.count == 10, let d = f.date(from: s), f.string(from: d) == s else { return nil }
            return d
        }
        var texts = [
            "2025-01-01", "2025-12-31", "2024-02-29", "2025-02-29", "2100-02-29", "2000-02-29", "2026-02-30",
            "2026-04-31", "2026-00-10", "2026-13-01", "2026-01-00", "2026-1-05", "2026-01-5", "2026/01/05",
            "20260105", "2026-01-05 ", " 2026-01-05", "2026-01-05\n", "２０２６-01-05", "2026-０1-05", "abcd-ef-gh",
            "1970-01-01", "1969-12-31", "2038-01-19", "9999-12-31", "+026-01-05", "-026-01-05", "2026-+1-05", "",
        ]
        var d = WorkingCalendar.day("2023-12-25")!
        for _ in 0..<(5 * 366) {
            texts.append(WorkingCalendar.key(d))
            d += 86_400
        }
        for t in texts {
            #expect(WorkingCalendar.day(t) == formatter(t), "\(t)")
        }
    }

    @Test func rangesAreCutAtTwoDotsAsFoundationCutsThem() {
        for e in [
            "2026-10-01..2026-10-08", "2026-10-01", "", "..", "a..b..c", "a...b", "a....b", "2026-10-01..", "..x",
            "a.b",
        ] {
            #expect(WorkingCalendar.rangeEnds(e) == e.components(separatedBy: ".."), "\(e)")
        }
    }

    @Test func mistakesInTheFileAreRefusedWithTheDateToFix() throws {
        func problem(_ json: String) -> String? {
            do {
                _ = try WorkingCalendar.parse(Data(json.utf8), name: "cal.json")
                return nil
            } catch { return "\(error)" }
        }
        let ok = #"{"years": [2025], "holidays": ["2025-10-01..2025-10-08"], "workdays": ["2025-09-28"]}"#
        #expect(problem(ok) == nil)
        #expect(
            problem(#"{"years": [2025], "holidays": [], "workdays": ["2025-09-29"]}"#)?.contains(
                "2025-09-29 is not a Saturday or Sunday") == true)
        #expect(
            problem(#"{"years": [2025], "holidays": ["2026-01-01"], "workdays": []}"#)?.contains(
                "not listed under years") == true)
        #expect(
            problem(#"{"years": [2025], "holidays": ["2025-02-30"], "workdays": []}"#)?.contains("2025-02-30") == true)
        #expect(
            problem(#"{"years": [2025], "holidays": ["2025-10-08..2025-10-01"], "workdays": []}"#)?.contains("reversed")
                == true)
        #expect(
            problem(#"{"years": [2025], "holidays": ["2025-09-27..2025-09-28"], "workdays": ["2025-09-28"]}"#)?
                .contains("both a holiday and a make-up working day") == true)
        #expect(problem(#"{"holidays": []}"#)?.contains("not valid JSON") == true)
    }

    @Test func theCatalogFindsTheCalendarBesideItAndTheSignedBundleCarriesIt() throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        #expect(try Catalog.load(catalogFile: source + "/catalog.json", guidesDirectory: nil).workingCalendar == nil)
        let text = #"{"source": "测试", "years": [2025], "holidays": ["2025-10-01..2025-10-08"], "workdays": []}"#
        try text.write(toFile: source + "/" + WorkingCalendar.fileName, atomically: true, encoding: .utf8)
        let beside = try Catalog.load(catalogFile: source + "/catalog.json", guidesDirectory: nil)
        #expect(beside.workingCalendar?.holidays.count == 8)
        // A file named explicitly wins over the one beside the catalog.
        let explicit = try Catalog.load(
            catalogFile: source + "/catalog.json", guidesDirectory: nil,
            workingCalendarFile: packageRoot.appendingPathComponent("kiosk-config/working-calendar.json").path)
        #expect(explicit.workingCalendar == (try shipped()))

        let key = Curve25519.Signing.PrivateKey()
        let made = try CatalogBundle.make(directory: source, version: "cal1", key: key)
        let bundle = try CatalogBundle.open(made.data, publicKey: key.publicKey)
        #expect(bundle.files[WorkingCalendar.fileName] == Data(text.utf8))
        let installed = try bundle.write(to: dir + "/installed")
        #expect(installed.workingCalendar == beside.workingCalendar)
        // A bundle whose calendar is wrong is refused like a catalog that fails the check.
        let bad = try signedBundle(
            version: "cal2",
            files: [
                "catalog.json": try Data(contentsOf: URL(fileURLWithPath: source + "/catalog.json")),
                WorkingCalendar.fileName: Data(#"{"years": [2025], "holidays": [], "workdays": ["2025-10-09"]}"#.utf8),
            ], key: key)
        #expect(throws: CatalogBundleError.self) {
            try CatalogBundle.open(bad, publicKey: key.publicKey).write(to: dir + "/bad")
        }
    }

    /// The ledger's overdue count uses the calendar: a case whose promised days run over a
    /// holiday is not overdue while weekends alone would make it so.
    @Test func theLedgersOverdueCountSkipsHolidays() async throws {
        var catalog = try Catalog.load(
            catalogFile: packageRoot.appendingPathComponent("kiosk-config/catalog.json").path,
            guidesDirectory: packageRoot.appendingPathComponent("kiosk-config/guides").path)
        #expect(catalog.guide(for: "XY-T-001")?.promisedTimeLimit?.contains("10个工作日") == true)
        let o = try makeOutbox(tempDir())
        let now = o.database.clock.now
        let s = try await o.submissions.seal(
            NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant, attachments: []))
        try await o.uploads.markUploaded(id: s.id, upstreamState: .accepted)
        let accepted = now - 16 * 86400
        try await o.caseEvents.record(submissionId: s.id, state: "accepted", at: accepted, note: nil)
        let period = LedgerPeriod.containing(now, month: true, clock: o.database.clock)
        // Weekends only: 10 working days are at most 14 days, so it is past due.
        catalog.workingCalendar = nil
        #expect(try o.ledger.afterService(period, catalog: catalog).overdue == 1)
        // Seven days off right after acceptance (a 国庆-like week): due later, not overdue yet.
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = o.database.clock.timeZone
        var off = Set<String>()
        var years = Set<Int>()
        for i in 1...7 {
            let d = cal.date(byAdding: .day, value: i, to: accepted)!
            let c = cal.dateComponents([.year, .month, .day], from: d)
            off.insert(String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!))
            years.insert(c.year!)
        }
        catalog.workingCalendar = WorkingCalendar(holidays: off, years: years)
        let due = try #require(
            CaseDeadline.due(
                accepted: accepted, limit: "10个工作日", timeZone: o.database.clock.timeZone,
                calendar: catalog.workingCalendar))
        #expect(due > now)
        let a = try o.ledger.afterService(period, catalog: catalog)
        #expect(a.overdue == 0 && a.overdueCases.isEmpty)
    }
}
