import ArgumentParser
import Foundation
import KioskApp
import KioskCore

// `kioskctl outbox`: counts and quarantine (default), `show CASE`, `retry CASE | --all-transient`,
// `recover`. Nothing here prints personal data; only `recover` decrypts (it needs the key).

struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox", abstract: "The outbox: counts and quarantine, one submission, retry, recovery.",
        subcommands: [
            OutboxSummaryCommand.self, OutboxShowCommand.self, OutboxRetryCommand.self, OutboxRecoverCommand.self,
        ],
        defaultSubcommand: OutboxSummaryCommand.self)
}

extension ConfigOption {
    /// The outbox database, opened without the key (nothing is decrypted).
    func existingOutbox(readOnly: Bool) throws -> (KioskConfig, OutboxStores) {
        let cfg = try load()
        let dbPath = cfg.stateDirectoryPath + "/" + OutboxDatabase.fileName
        guard FileManager.default.fileExists(atPath: dbPath) else {
            throw ValidationError(
                "no outbox at \(dbPath): kioskd creates it on its first start; if it was there before, restore it or run `kioskctl outbox recover`"
            )
        }
        do {
            return (
                cfg,
                try OutboxStores(
                    stateDirectory: cfg.stateDirectoryPath, cipher: .ephemeral(), stationId: cfg.station.id,
                    casePrefix: cfg.station.casePrefix, clock: StationClock(timeZone: cfg.timeZone),
                    readOnly: readOnly, cleanOrphans: false)
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct OutboxSummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Queued, uploaded and quarantined counts with reasons (no personal data).")
    @OptionGroup var options: ConfigOption
    @Flag(name: .long) var json = false

    func run() throws {
        // Counting needs no decryption: open read-only with a throwaway key.
        let (_, outbox) = try options.existingOutbox(readOnly: true)
        var c = try outbox.uploads.counts()
        c.keyAlarm = nil  // only kioskd, holding the key, knows
        let unaccounted = try outbox.database.unaccountedFolders()
        c.unaccountedFolders = unaccounted.count
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(c), as: UTF8.self))
            return
        }
        print("queued:        \(c.queued)  (attachments waiting: \(c.attachmentsQueued))")
        print("uploaded:      \(c.uploaded)")
        let causes = (c.quarantinedByCause ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("quarantined:   \(c.quarantined)\(causes.isEmpty ? "" : "  (" + causes.joined(separator: ", ") + ")")")
        print("oldest queued: \(c.oldestQueuedSeconds.map { "\($0) s" } ?? "-")")
        print("evaluations:   \(c.evaluationsQueued) waiting for upload")
        let m = try outbox.messages.messageCounts()
        print(
            "messages:      \(m.queued) queued, \(m.sent) sent, \(m.quarantined) quarantined (evaluations, heartbeats)")
        let disk = outbox.database.diskStatus()
        print("free disk:     \(disk.freeBytes == Int64.max ? "?" : "\(disk.freeBytes / 1_000_000) MB")")
        if !unaccounted.isEmpty {
            print(
                "UNACCOUNTED   \(unaccounted.count) attachment folder(s) no row knows: run `kioskctl outbox recover`")
        }
        for q in try outbox.uploads.quarantined() {
            print("QUARANTINED    \(q.caseNumber)  \(q.itemCode)  [\(q.cause?.rawValue ?? "unknown")]  \(q.reason)")
        }
    }
}

struct OutboxShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Explain one submission: state, attempts, last error, attachments (no personal data).")
    @OptionGroup var options: ConfigOption
    @Argument(help: "Case number, e.g. GH202612070001") var caseNumber: String
    @Flag(name: .long) var json = false

    func run() throws {
        let (_, outbox) = try options.existingOutbox(readOnly: true)
        guard let e = try outbox.uploads.explain(caseNumber: caseNumber) else {
            failLine("no submission with case number \(caseNumber) in this outbox")
        }
        if json {
            try printJSON(e)
            return
        }
        print("case \(e.caseNumber)  (submission \(e.submissionId), station \(e.stationId))")
        print("item:          \(e.itemCode) \(e.itemName)")
        print("sealed:        \(e.sealedAt)\(e.receiptPrintedAt.map { ", receipt printed \($0)" } ?? "")")
        if let a = e.assistedBy { print("assisted by:   \(a)") }
        switch e.state {
        case "sealed":
            print("state:         queued for upload, \(e.attempts) attempt(s), next at \(e.nextAttemptAt ?? "-")")
        case "uploaded":
            print(
                "state:         uploaded \(e.uploadedAt ?? "")\(e.upstreamState.map { ", upstream: \($0)" } ?? "")")
        default:
            print("state:         QUARANTINED (\(e.quarantineCause ?? "unknown")) after \(e.attempts) attempt(s)")
            print(
                "               put back with `kioskctl outbox retry \(e.caseNumber)` once the cause is fixed")
        }
        if let err = e.lastError { print("last error:    \(err)") }
        if e.purged { print("personal data: deleted by retention") }
        for f in e.attachments {
            let disk = e.purged ? "deleted" : f.encryptedBytesOnDisk.map { "on disk \($0) B" } ?? "FILE MISSING"
            print(
                "attachment    \(f.name)  \(f.contentType)  \(f.size) B  sha256 \(f.sha256.prefix(16))…  \(f.uploaded ? "uploaded" : f.resumableUpload ? "upload in progress" : "not uploaded")  \(disk)"
            )
        }
    }
}

struct OutboxRetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract:
            "Put quarantined submissions back in the upload queue (audited): one by case number, or --all-transient (every one put aside without a proven cause)."
    )
    @OptionGroup var options: ConfigOption
    @Argument(help: "Case number of a quarantined submission") var caseNumber: String?
    @Flag(name: .long, help: "Every quarantined submission without a proven permanent cause.") var allTransient = false
    @Option(name: .long, help: "Who asks (technician or staff id) for the audit trail.") var by: String = "technician"

    func validate() throws {
        if (caseNumber == nil) == !allTransient {
            throw ValidationError("name one case number, or --all-transient")
        }
    }

    func run() async throws {
        let (_, outbox) = try options.existingOutbox(readOnly: false)
        let back = try await outbox.uploads.retryQuarantined(
            caseNumber: caseNumber, allTransient: allTransient, actor: "kioskctl:\(by)")
        if back.isEmpty {
            if let caseNumber { failLine("\(caseNumber) is not a quarantined submission of this outbox") }
            print("no quarantined submission without a proven cause")
            return
        }
        for c in back { print("queued again: \(c)") }
        print("kioskd uploads them on its next pass (recorded in the audit trail)")
    }
}

struct OutboxRecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract:
            "After the outbox database was lost: move what is left of it aside, rebuild submissions from the encrypted files, and say what could not be rebuilt. Run with kioskd stopped."
    )
    @OptionGroup var options: ConfigOption
    @Flag(name: .long) var json = false

    func run() async throws {
        let cfg = try options.load()
        let report: RecoveryReport
        do {
            let key = try AtRestCipher.loadKey(path: cfg.resolve(cfg.encryption.keyFile))
            report = try await OutboxRecovery.recover(
                stateDirectory: cfg.stateDirectoryPath, cipher: AtRestCipher(masterKey: key),
                stationId: cfg.station.id, casePrefix: cfg.station.casePrefix,
                clock: StationClock(timeZone: cfg.timeZone))
        } catch {
            failLine("\(error)")
        }
        if json {
            try printJSON(report)
            return
        }
        if let p = report.databaseProblem {
            let aside =
                report.movedAside.isEmpty
                ? "nothing to move aside" : "moved aside: " + report.movedAside.joined(separator: ", ")
            print("database was \(p) (\(aside)); a new one was created")
        } else {
            print("database is healthy; kept")
        }
        print(
            "rebuilt \(report.rebuilt.count) submission(s), queued for upload again: \(report.rebuilt.joined(separator: " "))"
        )
        if !report.rebuiltWithDamage.isEmpty {
            print(
                "rebuilt with a missing or altered attachment (will be quarantined with the reason): \(report.rebuiltWithDamage.joined(separator: " "))"
            )
        }
        for (folder, why) in report.notRebuilt.sorted(by: { $0.key < $1.key }) {
            print("NOT REBUILT   attachments/\(folder): \(why)")
        }
        if !report.unfinishedSeals.isEmpty {
            print(
                "\(report.unfinishedSeals.count) unfinished seal(s) (no receipt was printed): kioskd removes them at start"
            )
        }
        for l in report.lost { print("NOT RECOVERABLE  \(l)") }
        let counter = report.caseCounter.sorted { $0.key < $1.key }.suffix(3).map { "\($0.key): \($0.value)" }
        print("case counter (last days): \(counter.joined(separator: ", ")); kioskd also checks the intake's highest")
    }
}
