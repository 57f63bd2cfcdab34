import ArgumentParser
import Foundation
import KioskApp
import KioskCore
import KioskProtocols
import Logging

// Township staff tools: the staff registry, the ledger (台账), the audit trail, out of service.
// They work on the outbox database directly (WAL: safe beside a running kioskd).

extension ConfigOption {
    /// The outbox database. Only registering staff needs the encryption key (for the keyed digest
    /// of the ID number); ledgers, the audit trail and the service state decrypt nothing, so they
    /// work for anyone who may read the database. Read-only opens skip migrations.
    func outbox(readOnly: Bool, needsKey: Bool = false) throws -> (KioskConfig, OutboxStores) {
        let cfg = try load()
        let dbPath = cfg.stateDirectoryPath + "/outbox.sqlite"
        if readOnly, !FileManager.default.fileExists(atPath: dbPath) {
            throw ValidationError("no outbox at \(dbPath) yet: kioskd creates it on its first start")
        }
        do {
            let cipher =
                needsKey
                ? AtRestCipher(masterKey: try AtRestCipher.loadKey(path: cfg.resolve(cfg.encryption.keyFile)))
                : .ephemeral()
            return (
                cfg,
                try OutboxStores(
                    stateDirectory: cfg.stateDirectoryPath, cipher: cipher,
                    stationId: cfg.station.id, casePrefix: cfg.station.casePrefix,
                    clock: StationClock(timeZone: cfg.timeZone),
                    readOnly: readOnly, cleanOrphans: false)
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "The staff registry: who may sign in at the kiosk with their ID card and PIN.",
        subcommands: [StaffAddCommand.self, StaffListCommand.self, StaffSetActiveCommand.self, StaffUnlockCommand.self])
}

struct StaffAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract:
            "Register (or re-register) a staff member. Reads two lines on stdin: the ID number, then the PIN (4–12 digits). Only a keyed digest of the ID number and a slow hash of the PIN are stored."
    )
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Work number, e.g. S001 (letters, digits, '-').") var staffId: String
    @Option(name: .long, help: "Name (stored masked: first character only).") var name: String
    @Option(
        name: .long,
        help:
            "window (窗口工作人员: certificates, ledger, out of service, assisted submissions) | agent (代办员: assisted submissions)."
    )
    var role: String = "window"
    @Option(name: .long, help: .hidden) var iterations: Int = PINHash.defaultIterations

    func run() async throws {
        guard let r = StaffRole(rawValue: role) else { failLine("role must be window or agent") }
        guard let idLine = readLine(strippingNewline: true), !idLine.isEmpty else {
            failLine("no ID number on stdin (first line)")
        }
        let id = IDNumber.normalise(idLine.trimmingCharacters(in: .whitespaces))
        if let problem = IDNumber.validate(
            id, cardType: id.count == 15 ? .foreign2017 : .resident, today: Today.yyyymmdd())
        {
            failLine("the ID number is not valid (\(problem)); nothing was registered")
        }
        let pin = readPIN("no PIN on stdin (second line)")
        guard iterations >= 1000 else { failLine("iterations must be at least 1000") }
        let (_, outbox) = try options.outbox(readOnly: false, needsKey: true)
        do {
            try await outbox.staff.add(
                staffId: staffId, name: name, role: r, idNumber: id,
                pinHash: PINHash.make(pin: pin, iterations: iterations))
        } catch { failLine("\(error)") }
        print("registered \(staffId) (\(Mask.name(name)), \(r.rawValue))")
    }
}

struct StaffListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Registered staff: work number, masked name, role, state.")
    @OptionGroup var options: ConfigOption
    @Flag(name: .long) var json = false

    func run() async throws {
        let (_, outbox) = try options.outbox(readOnly: true)
        let list = try outbox.staff.list()
        if json {
            try printJSON(list)
            return
        }
        print("STAFF      NAME     ROLE     STATE")
        for m in list {
            var state = m.active ? "active" : "disabled"
            if let u = m.lockedUntil, u > outbox.database.clock.now {
                state += ", locked until \(ISO8601DateFormatter().string(from: u))"
            } else if m.failures > 0 {
                state += ", \(m.failures) wrong PIN(s)"
            }
            print(
                "\(m.staffId.padding(toLength: 10, withPad: " ", startingAt: 0)) \(m.displayName)\t  \(m.role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(state)"
            )
        }
    }
}

struct StaffSetActiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Disable a staff member (or enable again with --enable).")
    @OptionGroup var options: ConfigOption
    @Argument var staffId: String
    @Flag(name: .long) var enable = false
    func run() async throws {
        let (_, outbox) = try options.outbox(readOnly: false)
        guard try await outbox.staff.setActive(staffId, enable) else { failLine("no staff member \(staffId)") }
        print("\(staffId) \(enable ? "enabled" : "disabled")")
    }
}

struct StaffUnlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock", abstract: "Clear a lockout after too many wrong PINs.")
    @OptionGroup var options: ConfigOption
    @Argument var staffId: String
    func run() async throws {
        let (_, outbox) = try options.outbox(readOnly: false)
        guard try await outbox.staff.unlock(staffId) else { failLine("no staff member \(staffId)") }
        print("\(staffId) unlocked")
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract:
            "The ledger (台账) of a month or a day: submissions by item and state, assisted submissions, evaluations by level, certificates printed and collected, device downtime."
    )
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "YYYY-MM (default: this month).") var month: String?
    @Option(name: .long, help: "YYYY-MM-DD: one day instead of a month.") var day: String?
    @Flag(name: .long, help: "CSV (UTF-8; columns section,key,name,detail,value).") var csv = false
    @Flag(name: .long, help: "With --csv: start with a UTF-8 byte-order mark, for Excel and WPS.") var bom = false
    @Flag(name: .long) var json = false
    @Option(name: .long, help: "Also write the ledger as an A4 PDF to this file (ruled tables, fonts embedded).")
    var pdf: String?
    @Option(name: .customLong("printed-by"), help: "Who prints it, for the PDF's title block (default: kioskctl).")
    var printedBy = "kioskctl"

    func run() async throws {
        let (cfg, outbox) = try options.outbox(readOnly: true)
        let period: LedgerPeriod
        do {
            if let day {
                period = try LedgerPeriod.day(day, clock: outbox.database.clock)
            } else if let month {
                period = try LedgerPeriod.month(month, clock: outbox.database.clock)
            } else {
                period = LedgerPeriod.containing(outbox.database.clock.now, month: true, clock: outbox.database.clock)
            }
        } catch { failLine("\(error)") }
        let l: Ledger
        do { l = try outbox.ledger.ledger(period) } catch {
            failLine(
                "the ledger could not be computed: \(error) (restart kioskd once after an upgrade so the database is migrated)"
            )
        }
        // The after-service part: satisfaction, 差评 follow-up, overdue cases (time limits from the catalog), help.
        // The catalog kioskd shows (the current signed bundle, else the shipped one) with its working calendar.
        let catalog = try? KioskServices.activeCatalog(
            cfg, store: CatalogBundleStore(directory: cfg.catalogBundleDirectory),
            logger: Logger(label: "kioskctl", factory: { _ in SwiftLogNoOpLogHandler() })
        ).0
        let after = try? outbox.ledger.afterService(period, catalog: catalog)
        let tz = outbox.database.clock.timeZone
        let allLines = l.lines(stationName: cfg.station.name) + (after.map { [""] + $0.lines(timeZone: tz) } ?? [])
        if let pdf {
            // A ruled document with embedded font subsets (fonts-droid-fallback, fonts-dejavu-core).
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = outbox.database.clock.timeZone
            f.dateFormat = "yyyy-MM-dd HH:mm"
            do {
                try LedgerDocument.pdf(
                    l, after: after, stationName: cfg.station.name,
                    printedAt: f.string(from: outbox.database.clock.now),
                    printedBy: printedBy, timeZone: tz
                ).write(to: URL(fileURLWithPath: pdf))
            } catch { failLine("the ledger PDF could not be made: \(error)") }
        }
        if csv {
            FileHandle.standardOutput.write(Data((l.csv(bom: bom) + (after?.csv() ?? "")).utf8))
        } else if json {
            // Everything the printed and A4 ledger show: the ledger's own fields, the title block and
            // the after-service part (overdue cases, satisfaction, 差评 follow-up, help, agents, collections).
            print(
                try LedgerReport(
                    ledger: l, afterService: after, stationName: cfg.station.name, period: period,
                    generatedAt: outbox.database.clock.now
                ).json())
        } else {
            for line in allLines { print(line) }
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "The audit trail: every staff sign-in and action, certificate prints and collections (no personal data).")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "YYYY-MM (default: everything).") var month: String?
    @Flag(name: .long, help: "Check the hash chain: exit 1 if an entry was changed or removed.") var verify = false
    @Flag(name: .long) var json = false

    func run() async throws {
        let (_, outbox) = try options.outbox(readOnly: true)
        if verify {
            if let bad = try outbox.audit.verify() {
                failLine("audit trail broken at entry \(bad): an entry was changed or removed")
            }
            print("audit trail intact")
            return
        }
        let p = try month.map { m -> LedgerPeriod in
            do { return try LedgerPeriod.month(m, clock: outbox.database.clock) } catch { failLine("\(error)") }
        }
        let entries = try outbox.audit.entries(from: p?.start, to: p?.end)
        if json {
            try printJSON(entries)
            return
        }
        let f = ISO8601DateFormatter()
        f.timeZone = outbox.database.clock.timeZone
        for e in entries {
            print([f.string(from: e.at), e.actor, e.action, e.subject ?? "", e.detail ?? ""].joined(separator: "  "))
        }
    }
}

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract:
            "Take the kiosk out of service with a notice for residents (off), bring it back (on), or show the state (status). kioskd applies it within seconds."
    )
    @OptionGroup var options: ConfigOption
    @Argument(help: "off | on | status") var action: String
    @Option(name: .long, help: "off: the notice residents see on the home screen.") var notice: String =
        "设备维护中，暂停服务，请到窗口办理。"
    @Option(name: .long, help: "Who is doing it (a staff id or a technician's name), for the audit trail.") var by:
        String = "kioskctl"

    func run() async throws {
        switch action {
        case "off":
            let (_, outbox) = try options.outbox(readOnly: false)
            guard !notice.trimmingCharacters(in: .whitespaces).isEmpty, notice.count <= 200 else {
                failLine("the notice must be 1–200 characters")
            }
            try await outbox.service.setOutOfService(notice: notice, by: by)
            print("out of service: \(notice)")
        case "on":
            let (_, outbox) = try options.outbox(readOnly: false)
            try await outbox.service.setOutOfService(notice: nil, by: by)
            print("in service")
        case "status":
            let (_, outbox) = try options.outbox(readOnly: true)
            if let n = try outbox.service.outOfServiceNotice() {
                print("out of service: \(n)")
            } else {
                print("in service")
            }
        default:
            failLine("action must be off, on or status")
        }
    }
}
