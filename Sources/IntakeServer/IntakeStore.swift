// Durable storage of the reference upstream: SQLite (WAL) through GRDB plus attachment files.
//
// Layout under the data directory:
//   intake.sqlite                  submissions + attachments tables
//   files/<submissionId>/<name>    attachment bytes (written to tmp/, fsynced, renamed)
//   tmp/                           staging files of uploads in progress (cleared at open)

import Foundation
import GRDB
import KioskProtocols
import Logging

/// What happened to an attachment upload.
public enum AttachmentPutOutcome: Sendable, Equatable {
    /// First upload of this name: stored.
    case created(AttachmentReceipt)
    /// Same name, same bytes as already stored: nothing changed.
    case identical(AttachmentReceipt)
    /// Same name, different bytes: refused; `existing` describes what is stored.
    case conflict(existing: AttachmentReceipt)
    /// The submission's manifest was already accepted and does not list this name.
    case submissionClosed
}

/// Why a listed attachment is not acceptable for a manifest.
public struct AttachmentProblem: Sendable, Equatable, Codable {
    public var name: String
    /// "not-uploaded", "sha256-differs" or "size-differs".
    public var reason: String
    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}

/// What happened to a manifest.
public enum ManifestPutOutcome: Sendable, Equatable {
    /// First time this submission id is seen: stored in state `received`.
    case created(SubmissionReceipt)
    /// Same submission id, same canonical manifest: the original receipt.
    case identical(SubmissionReceipt)
    /// Same submission id, different manifest: refused; the stored one stays.
    case conflict(existing: SubmissionReceipt)
    /// Some listed attachments are not stored (or differ from what is stored).
    case missingAttachments([AttachmentProblem])
    /// The station already used this case number for another submission id.
    case caseNumberTaken(caseNumber: String, submissionId: String)
}

/// One stored submission, without any personal data (for the operator's `list`).
public struct StoredSubmissionSummary: Codable, Sendable, Equatable {
    public var submissionId: String
    public var caseNumber: String
    public var stationId: String
    public var itemCode: String
    public var state: UpstreamState
    public var attachmentCount: Int
    public var receivedAt: String
    public var updatedAt: String
    public var note: String?
}

/// Storage of the reference intake. Thread-safe; share one instance.
public final class IntakeStore: IntakeStorage {
    public let dataDirectory: String
    public var engine: String { "sqlite" }
    public var databasePath: String { dataDirectory + "/intake.sqlite" }

    let dbPool: DatabasePool
    private let logger: Logger
    /// One PATCH at a time per upload (a single node: an in-process lock is enough).
    let uploadLocks = TusLocks()

    /// Opens (creating when `create` is true) the store in `dataDirectory`.
    /// With `create == false` a missing database is an error (used by read-only CLI commands).
    public init(dataDirectory: String, create: Bool = true, logger: Logger = Logger(label: "kiosk-intake.store")) throws
    {
        let dir = (dataDirectory as NSString).standardizingPath
        self.dataDirectory = dir
        self.logger = logger
        let dbPath = dir + "/intake.sqlite"
        if !create, !FileManager.default.fileExists(atPath: dbPath) {
            throw IntakeStoreError.noDatabase(dbPath)
        }
        try Self.prepareDataDirectory(dir)
        // Staging files left behind by a crash are incomplete uploads: drop them (one node owns this directory).
        if create { Self.clearStaging(dir, olderThan: nil) }

        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.dbPool = try DatabasePool(path: dbPath, configuration: config)  // DatabasePool = WAL mode
        // GRDB sets synchronous=NORMAL on the writer when it turns WAL on, after prepareDatabase:
        // set FULL again, or an acknowledged manifest or attachment could vanish in a power cut.
        try dbPool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(dbPool)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE submissions (
                        id TEXT PRIMARY KEY NOT NULL,
                        case_number TEXT NOT NULL,
                        station_id TEXT NOT NULL,
                        item_code TEXT NOT NULL,
                        manifest_json TEXT NOT NULL,
                        manifest_sha256 TEXT NOT NULL,
                        state TEXT NOT NULL,
                        received_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        note TEXT
                    );
                    CREATE INDEX submissions_station ON submissions(station_id, received_at);
                    CREATE TABLE attachments (
                        submission_id TEXT NOT NULL,
                        name TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        sha256 TEXT NOT NULL,
                        path TEXT NOT NULL,
                        PRIMARY KEY (submission_id, name)
                    );
                    """)
        }
        migrator.registerMigration("v2-tus") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tus_uploads (
                        id TEXT PRIMARY KEY NOT NULL,
                        length INTEGER NOT NULL,
                        upload_offset INTEGER NOT NULL DEFAULT 0,
                        metadata TEXT NOT NULL,
                        submission_id TEXT,
                        name TEXT,
                        sha256 TEXT,
                        station_id TEXT,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL,
                        completed INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE INDEX tus_uploads_expiry ON tus_uploads(completed, expires_at);
                    """)
        }
        registerMessageMigration(&migrator)
        migrator.registerMigration("v4-case-number-per-station") { db in
            // A case number names one submission of its station: a second id with the same number is refused.
            try db.execute(sql: "CREATE UNIQUE INDEX submissions_station_case ON submissions(station_id, case_number)")
        }
        migrator.registerMigration("v5-submission-owners") { db in
            // The station that first used a submission id owns it; earlier data names its owners
            // through manifests and through uploads created with a station's token.
            try db.execute(
                sql: """
                    CREATE TABLE submission_owners (
                        submission_id TEXT PRIMARY KEY NOT NULL,
                        station_id TEXT NOT NULL,
                        claimed_at REAL NOT NULL
                    );
                    INSERT OR IGNORE INTO submission_owners (submission_id, station_id, claimed_at)
                        SELECT id, station_id, 0 FROM submissions;
                    INSERT OR IGNORE INTO submission_owners (submission_id, station_id, claimed_at)
                        SELECT submission_id, station_id, MIN(created_at) FROM tus_uploads
                        WHERE submission_id IS NOT NULL AND station_id IS NOT NULL GROUP BY submission_id;
                    """)
        }
        registerHelpMigration(&migrator)
        registerFollowUpMigration(&migrator)
        registerNotificationMigration(&migrator)
        return migrator
    }

    // MARK: Attachments

    /// Moves a finished, fsynced file on the data directory's file system (a staged PUT body or a
    /// completed tus upload) into place as `files/<submissionId>/<name>`, unless an attachment of
    /// that name already exists. `discard` removes it when it is not moved into place.
    public func commitAttachment(
        submissionId: String, name: String, file: String, discard: @Sendable () -> Void, size: Int, sha256: String
    ) throws
        -> AttachmentPutOutcome
    {
        precondition(IntakeIdentifier.isValid(submissionId) && IntakeIdentifier.isValid(name))
        let filesDirectory = self.filesDirectory
        let submissionDirectory = filesDirectory + "/" + submissionId
        let relativePath = "files/\(submissionId)/\(name)"
        let finalPath = dataDirectory + "/" + relativePath
        var moved = false
        defer { if !moved { discard() } }
        return try dbPool.write { db -> AttachmentPutOutcome in
            if let row = try Row.fetchOne(
                db, sql: "SELECT size, sha256 FROM attachments WHERE submission_id = ? AND name = ?",
                arguments: [submissionId, name])
            {
                let existing = AttachmentReceipt(
                    submissionId: submissionId, name: name, size: row["size"], sha256: row["sha256"])
                if existing.sha256 == sha256 && existing.size == size {
                    return .identical(existing)
                }
                return .conflict(existing: existing)
            }
            if try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM submissions WHERE id = ?)", arguments: [submissionId]) == true
            {
                return .submissionClosed
            }
            try DurableFile.ensureDirectory(submissionDirectory, parent: filesDirectory)
            try DurableFile.rename(file, finalPath)
            moved = true
            try DurableFile.syncDirectory(submissionDirectory)
            try db.execute(
                sql: "INSERT INTO attachments (submission_id, name, size, sha256, path) VALUES (?, ?, ?, ?, ?)",
                arguments: [submissionId, name, size, sha256, relativePath])
            return .created(AttachmentReceipt(submissionId: submissionId, name: name, size: size, sha256: sha256))
        }
    }

    /// Attachments stored for a submission, by name.
    public func attachments(submissionId: String) throws -> [AttachmentReceipt] {
        try dbPool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT name, size, sha256 FROM attachments WHERE submission_id = ? ORDER BY name",
                arguments: [submissionId]
            ).map {
                AttachmentReceipt(submissionId: submissionId, name: $0["name"], size: $0["size"], sha256: $0["sha256"])
            }
        }
    }

    /// Absolute path of a stored attachment file, or nil if unknown.
    public func attachmentPath(submissionId: String, name: String) throws -> String? {
        try dbPool.read { db in
            try String.fetchOne(
                db, sql: "SELECT path FROM attachments WHERE submission_id = ? AND name = ?",
                arguments: [submissionId, name])
        }.map { dataDirectory + "/" + $0 }
    }

    // MARK: Manifests

    /// The canonical form of a manifest (sorted keys, no unknown fields) and its SHA-256.
    /// Two manifests are "identical" when these hashes are equal.
    public static func canonicalJSON(_ manifest: SubmissionManifest) throws -> (json: String, sha256: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(manifest)
        return (String(decoding: data, as: UTF8.self), IntakeDigest.sha256Hex(data))
    }

    /// Records a manifest idempotently by its submission id.
    public func putManifest(_ manifest: SubmissionManifest, now: Date = Date()) throws -> ManifestPutOutcome {
        let (json, sha) = try Self.canonicalJSON(manifest)
        let timestamp = IntakeClock.timestamp(now)
        return try dbPool.write { db -> ManifestPutOutcome in
            if let row = try Row.fetchOne(
                db, sql: "SELECT case_number, manifest_sha256, received_at FROM submissions WHERE id = ?",
                arguments: [manifest.submissionId])
            {
                let receipt = SubmissionReceipt(
                    submissionId: manifest.submissionId, caseNumber: row["case_number"], state: .received,
                    receivedAt: row["received_at"])
                let storedSha: String = row["manifest_sha256"]
                return storedSha == sha ? .identical(receipt) : .conflict(existing: receipt)
            }
            var stored: [String: (size: Int, sha256: String)] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT name, size, sha256 FROM attachments WHERE submission_id = ?",
                arguments: [manifest.submissionId])
            {
                stored[row["name"]] = (row["size"], row["sha256"])
            }
            let problems = Self.attachmentProblems(manifest, stored: stored)
            if !problems.isEmpty { return .missingAttachments(problems) }
            if let other = try String.fetchOne(
                db, sql: "SELECT id FROM submissions WHERE station_id = ? AND case_number = ?",
                arguments: [manifest.stationId, manifest.caseNumber])
            {
                return .caseNumberTaken(caseNumber: manifest.caseNumber, submissionId: other)
            }
            try db.execute(
                sql: """
                    INSERT INTO submissions (id, case_number, station_id, item_code, manifest_json, manifest_sha256,
                                             state, received_at, updated_at, note)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                    """,
                arguments: [
                    manifest.submissionId, manifest.caseNumber, manifest.stationId, manifest.itemCode, json, sha,
                    UpstreamState.received.rawValue, timestamp, timestamp,
                ])
            return .created(
                SubmissionReceipt(
                    submissionId: manifest.submissionId, caseNumber: manifest.caseNumber, state: .received,
                    receivedAt: timestamp))
        }
    }

    /// The manifest as stored (canonical JSON), or nil. Contains personal data: never log it.
    public func manifest(submissionId: String) throws -> SubmissionManifest? {
        let json = try dbPool.read { db in
            try String.fetchOne(
                db, sql: "SELECT manifest_json FROM submissions WHERE id = ?", arguments: [submissionId])
        }
        guard let json else { return nil }
        return try JSONDecoder().decode(SubmissionManifest.self, from: Data(json.utf8))
    }

    // MARK: Status

    private static let statusColumns = "id, case_number, station_id, state, updated_at, note"

    private static func statusReply(_ row: Row) throws -> SubmissionStatusReply {
        let raw: String = row["state"]
        guard let state = UpstreamState(rawValue: raw) else { throw IntakeStoreError.corruptState(raw) }
        return SubmissionStatusReply(
            submissionId: row["id"], caseNumber: row["case_number"], state: state, updatedAt: row["updated_at"],
            note: row["note"])
    }

    /// Current status of one submission, or nil when unknown.
    public func status(submissionId: String) throws -> SubmissionStatusReply? {
        guard
            var reply = try dbPool.read({ db in
                try Row.fetchOne(
                    db, sql: "SELECT \(Self.statusColumns) FROM submissions WHERE id = ?", arguments: [submissionId]
                )
                .map(Self.statusReply)
            })
        else { return nil }
        reply.certificate = try certificate(submissionId: submissionId)
        return reply
    }

    /// Station that submitted `submissionId`, or nil when unknown.
    public func stationId(submissionId: String) throws -> String? {
        try dbPool.read { db in
            try String.fetchOne(db, sql: "SELECT station_id FROM submissions WHERE id = ?", arguments: [submissionId])
        }
    }

    public func claimSubmission(_ submissionId: String, stationId: String) throws -> Bool {
        try dbPool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO submission_owners (submission_id, station_id, claimed_at) VALUES (?, ?, ?)",
                arguments: [submissionId, stationId, Date().timeIntervalSince1970])
            return try String.fetchOne(
                db, sql: "SELECT station_id FROM submission_owners WHERE submission_id = ?", arguments: [submissionId])
                == stationId
        }
    }

    public func submissionOwner(_ submissionId: String) throws -> String? {
        try dbPool.read { db in
            try String.fetchOne(
                db, sql: "SELECT station_id FROM submission_owners WHERE submission_id = ?", arguments: [submissionId])
        }
    }

    /// Statuses of a station's submissions, oldest first.
    public func list(stationId: String) throws -> [SubmissionStatusReply] {
        try dbPool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.statusColumns) FROM submissions WHERE station_id = ? ORDER BY received_at, id",
                arguments: [stationId]
            ).map(Self.statusReply)
        }
    }

    /// Moves a submission to `state` (operator action). Returns the new status, or nil when unknown.
    public func setState(submissionId: String, state: UpstreamState, note: String?, now: Date = Date()) throws
        -> SubmissionStatusReply?
    {
        let timestamp = IntakeClock.timestamp(now)
        return try dbPool.write { db in
            try db.execute(
                sql: "UPDATE submissions SET state = ?, note = ?, updated_at = ? WHERE id = ?",
                arguments: [state.rawValue, note, timestamp, submissionId])
            guard db.changesCount > 0 else { return nil }
            return try Row.fetchOne(
                db, sql: "SELECT \(Self.statusColumns) FROM submissions WHERE id = ?", arguments: [submissionId]
            ).map(Self.statusReply)
        }
    }

    // MARK: Operator views

    /// Every stored submission without personal data, oldest first.
    public func summaries() throws -> [StoredSubmissionSummary] {
        try dbPool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id, s.case_number, s.station_id, s.item_code, s.state, s.received_at, s.updated_at, s.note,
                           (SELECT COUNT(*) FROM attachments a WHERE a.submission_id = s.id) AS attachment_count
                    FROM submissions s ORDER BY s.received_at, s.id
                    """
            ).map { row in
                let raw: String = row["state"]
                guard let state = UpstreamState(rawValue: raw) else { throw IntakeStoreError.corruptState(raw) }
                return StoredSubmissionSummary(
                    submissionId: row["id"], caseNumber: row["case_number"], stationId: row["station_id"],
                    itemCode: row["item_code"], state: state, attachmentCount: row["attachment_count"],
                    receivedAt: row["received_at"], updatedAt: row["updated_at"], note: row["note"])
            }
        }
    }

    /// Number of stored submissions (manifests accepted).
    public func count() throws -> Int {
        try dbPool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submissions") ?? 0 }
    }
}

public enum IntakeStoreError: Error, CustomStringConvertible {
    case noDatabase(String)
    case corruptState(String)

    public var description: String {
        switch self {
        case .noDatabase(let path): "no intake database at \(path); start `kiosk-intake serve --data DIR` first"
        case .corruptState(let raw): "stored state \"\(raw)\" is not a known UpstreamState"
        }
    }
}
