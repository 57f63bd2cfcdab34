import Foundation
import GRDB
import KioskProtocols

/// What `kioskctl outbox recover` did and could not do.
public struct RecoveryReport: Codable, Sendable {
    /// Where the missing, empty or unreadable database (and its WAL) were moved; nil when the
    /// database was healthy and only folders it did not know were read.
    public var movedAside: [String] = []
    /// Why the database was replaced (nil: it was kept).
    public var databaseProblem: String?
    /// Case numbers rebuilt from the seal log (and `@manifest.enc` files of earlier versions),
    /// queued for upload again (the intake treats a repeat of a submission it holds as success).
    public var rebuilt: [String] = []
    /// Rebuilt, but an attachment is missing or altered: the uploader will quarantine them with that reason.
    public var rebuiltWithDamage: [String] = []
    /// Folders that could not be rebuilt, with the reason.
    public var notRebuilt: [String: String] = [:]
    /// Folders of seals that never finished (no receipt was printed); kioskd removes them at start.
    public var unfinishedSeals: [String] = []
    /// What a replaced database held that no file keeps.
    public var lost: [String] = []
    /// Highest case number per day after recovery (counter file and rebuilt rows).
    public var caseCounter: [String: Int] = [:]
}

/// Rebuilds the outbox from the state directory's encrypted files after its database was lost
/// (`kioskctl outbox recover`). Nothing is deleted: a damaged database is moved aside, folders
/// that cannot be read are left where they are and named in the report.
public enum OutboxRecovery {
    public static func recover(
        stateDirectory: String, cipher: AtRestCipher, stationId: String, casePrefix: String,
        clock: StationClock = .system, actor: String = "kioskctl"
    ) async throws -> RecoveryReport {
        var report = RecoveryReport()
        let path = stateDirectory + "/" + OutboxDatabase.fileName
        var database: OutboxDatabase
        do {
            database = try OutboxDatabase(
                stateDirectory: stateDirectory, cipher: cipher, clock: clock, cleanOrphans: false, stationId: stationId)
        } catch let lost as OutboxLostError {
            report.databaseProblem = lost.problem
            let stamp = Int(clock.now.timeIntervalSince1970)
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                let aside = "\(path).lost-\(stamp)\(suffix)"
                do { try FileManager.default.moveItem(atPath: path + suffix, toPath: aside) } catch {
                    throw OutboxError(
                        "cannot move \(path + suffix) aside to \(aside) (\(error)); check the state directory's permissions"
                    )
                }
                report.movedAside.append(aside)
            }
            try DurableFile.syncDirectory(stateDirectory)
            database = try OutboxDatabase(
                stateDirectory: stateDirectory, cipher: cipher, clock: clock, cleanOrphans: false, stationId: stationId,
                allowFresh: true)
            report.lost = [
                "staff registry and PIN lockouts (add staff again with `kioskctl staff add`)",
                "the audit trail before now", "device history and the out-of-service notice",
                "evaluations and heartbeats not yet sent",
                "certificate records (fetched again for rebuilt submissions)",
                "rows of submissions whose files retention had already deleted (they reached the intake)",
            ]
        }
        if let problem = database.keyProblem { throw OutboxError(problem) }
        report.unfinishedSeals =
            (database.sealJournal.entries()
            + OutboxDatabase.sealingFolders(database.attachmentsDirectory)).sorted()
        let now = clock.now
        // The seal log first: every record the database lacks is written back.
        let replay = try database.replaySealLog()
        for m in replay.written {
            if Self.damaged(m, database: database, cipher: cipher) {
                report.rebuiltWithDamage.append(m.caseNumber)
            } else {
                report.rebuilt.append(m.caseNumber)
            }
            let seq = Int(m.caseNumber.suffix(4)) ?? 0
            if seq > 0 {
                try await database.raiseCaseCounter(day: String(m.caseNumber.suffix(12).prefix(8)), to: seq)
            }
        }
        for (caseNumber, why) in replay.notWritten { report.notRebuilt[caseNumber] = why }
        // Then folders of earlier versions, each with its own `@manifest.enc`.
        for id in try database.unaccountedFolders() {
            let dir = database.attachmentsDirectory + "/" + id
            guard let box = FileManager.default.contents(atPath: dir + "/" + SealedManifest.fileName) else {
                report.notRebuilt[id] =
                    "no \(SealedManifest.fileName) (sealed by an older version): case number, item and applicant are not in the files; the folder is left as it is"
                continue
            }
            let manifest: SealedManifest
            do {
                manifest = try JSONDecoder().decode(SealedManifest.self, from: try cipher.open(box))
            } catch {
                report.notRebuilt[id] =
                    "\(SealedManifest.fileName) cannot be read with this key (\(error)); the folder is left as it is"
                continue
            }
            guard manifest.submissionId == id else {
                report.notRebuilt[id] =
                    "\(SealedManifest.fileName) names another submission; the folder is left as it is"
                continue
            }
            let isDamaged = Self.damaged(manifest, database: database, cipher: cipher)
            let day = String(manifest.caseNumber.suffix(12).prefix(8))
            let seq = Int(manifest.caseNumber.suffix(4)) ?? 0
            do {
                try await database.pool.write { db in try manifest.insertRows(db, cipher: cipher, now: now) }
            } catch {
                report.notRebuilt[id] = "case \(manifest.caseNumber) could not be written back (\(error))"
                continue
            }
            if seq > 0 { try await database.raiseCaseCounter(day: day, to: seq) }
            if isDamaged {
                report.rebuiltWithDamage.append(manifest.caseNumber)
            } else {
                report.rebuilt.append(manifest.caseNumber)
            }
        }
        report.rebuilt.sort()
        report.rebuiltWithDamage.sort()
        report.caseCounter = database.caseCounter.allDays()
        try await AuditTrail(database: database).append(
            actor: actor, action: "outbox.recover", subject: nil,
            detail:
                "rebuilt \(report.rebuilt.count + report.rebuiltWithDamage.count), not rebuilt \(report.notRebuilt.count)"
                + (report.databaseProblem.map { ", database \($0), moved aside" } ?? ""))
        try database.close()
        return report
    }

    /// Whether an attachment the manifest names is missing, unreadable or altered.
    static func damaged(_ m: SealedManifest, database: OutboxDatabase, cipher: AtRestCipher) -> Bool {
        m.attachments.contains { f in
            let ok = FileManager.default.contents(atPath: database.attachmentsDirectory + "/" + f.file).flatMap {
                try? cipher.open($0)
            }.map { sha256Hex($0) == f.sha256 }
            return ok != true
        }
    }
}
