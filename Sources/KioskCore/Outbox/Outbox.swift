import Foundation
import GRDB
import KioskProtocols

/// Local state of a submission in the outbox.
public enum OutboxState: String, Codable, Sendable {
    case sealed        // committed locally, waiting for upload
    case uploaded      // the upstream acknowledged it
    case quarantined   // permanently rejected: kept aside, reported
}

public struct NewAttachment: Sendable {
    public var name: String
    public var contentType: String
    public var data: Data
    public init(name: String, contentType: String, data: Data) {
        self.name = name; self.contentType = contentType; self.data = data
    }
}

public struct NewSubmission: Sendable {
    public var itemCode: String
    public var itemName: String
    public var applicant: ApplicantData
    public var attachments: [NewAttachment]
    public var assistedBy: String?
    public init(itemCode: String, itemName: String, applicant: ApplicantData, attachments: [NewAttachment], assistedBy: String? = nil) {
        self.itemCode = itemCode; self.itemName = itemName; self.applicant = applicant
        self.attachments = attachments; self.assistedBy = assistedBy
    }
}

/// What the kiosk knows about a submission without decrypting anything.
public struct SubmissionSummary: Sendable, Equatable {
    public var id: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var sealedAt: Date
    public var state: OutboxState
    public var upstreamState: UpstreamState?
    public var attempts: Int
    public var lastError: String?

    public init(id: String, caseNumber: String, itemCode: String, itemName: String, sealedAt: Date, state: OutboxState,
                upstreamState: UpstreamState?, attempts: Int, lastError: String?) {
        self.id = id; self.caseNumber = caseNumber; self.itemCode = itemCode; self.itemName = itemName
        self.sealedAt = sealedAt; self.state = state; self.upstreamState = upstreamState
        self.attempts = attempts; self.lastError = lastError
    }
}

public struct OutboxCounts: Sendable, Equatable, Codable {
    public var queued: Int
    public var uploaded: Int
    public var quarantined: Int
    public var attachmentsQueued: Int
    public var oldestQueuedSeconds: Int?
    public var evaluationsQueued: Int
}

public struct OutboxError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The outbox: the source of truth for submissions. SQLite (WAL, synchronous=FULL) through GRDB;
/// attachments are encrypted files outside the rows, fsynced before the row that names them commits.
public final class Outbox: Sendable {
    public let stateDirectory: String
    let pool: DatabasePool
    let cipher: AtRestCipher
    let stationId: String
    let casePrefix: String
    public let now: @Sendable () -> Date

    public var attachmentsDirectory: String { stateDirectory + "/attachments" }

    public init(stateDirectory: String, cipher: AtRestCipher, stationId: String, casePrefix: String,
                readOnly: Bool = false, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.stateDirectory = stateDirectory
        self.cipher = cipher
        self.stationId = stationId
        self.casePrefix = casePrefix
        self.now = now
        if !readOnly {
            try DurableFile.makeDirectory(stateDirectory)
            try DurableFile.makeDirectory(stateDirectory + "/attachments")
        }
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(5)
        config.label = "outbox"
        do {
            pool = try DatabasePool(path: stateDirectory + "/outbox.sqlite", configuration: config)
        } catch {
            throw OutboxError("cannot open the outbox database in \(stateDirectory) (\(error)); check the state directory and its permissions")
        }
        if !readOnly {
            // GRDB sets synchronous=NORMAL for WAL pools; a receipt must never outlive its row.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
            try removeOrphanAttachments()
        }
    }

    /// Shutdown: folds the WAL into the database file (checkpoint TRUNCATE) and closes every
    /// connection. Every commit was already durable (synchronous=FULL); this leaves one
    /// self-contained file behind. Later calls fail.
    public func close() throws {
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }

    /// Size of the WAL file in bytes (0 after `close`), for tests.
    public static func walSize(stateDirectory: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: stateDirectory + "/outbox.sqlite-wal")[.size] as? Int) ?? 0
    }

    /// Reads back the writer connection's synchronous level (2 = FULL).
    public func synchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
            CREATE TABLE submission (
              id TEXT PRIMARY KEY NOT NULL,
              case_number TEXT NOT NULL UNIQUE,
              item_code TEXT NOT NULL,
              item_name TEXT NOT NULL,
              station_id TEXT NOT NULL,
              sealed_at REAL NOT NULL,
              state TEXT NOT NULL,
              upstream_state TEXT,
              attempts INTEGER NOT NULL DEFAULT 0,
              next_attempt_at REAL NOT NULL,
              last_error TEXT,
              uploaded_at REAL,
              id_lookup TEXT NOT NULL,
              personal BLOB NOT NULL,
              assisted_by TEXT,
              receipt_printed_at REAL
            );
            CREATE INDEX submission_due ON submission(state, next_attempt_at);
            CREATE INDEX submission_lookup ON submission(id_lookup);
            CREATE TABLE attachment (
              submission_id TEXT NOT NULL REFERENCES submission(id) ON DELETE CASCADE,
              name TEXT NOT NULL,
              content_type TEXT NOT NULL,
              size INTEGER NOT NULL,
              sha256 TEXT NOT NULL,
              file TEXT NOT NULL,
              uploaded INTEGER NOT NULL DEFAULT 0,
              PRIMARY KEY (submission_id, name)
            );
            CREATE TABLE case_counter (day TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL);
            CREATE TABLE evaluation (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              case_number TEXT NOT NULL,
              level INTEGER NOT NULL,
              reason TEXT,
              created_at REAL NOT NULL,
              uploaded INTEGER NOT NULL DEFAULT 0
            );
            """)
        }
        return m
    }

    nonisolated(unsafe) private static let dayFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Asia/Shanghai")
        f.dateFormat = "yyyyMMdd"
        return f
    }()

    static func day(_ d: Date) -> String { dayFormatter.string(from: d) }

    /// Seals a submission: attachment files written and fsynced, then rows committed in one
    /// transaction. Only after this returns may a receipt be printed.
    public func seal(_ s: NewSubmission) throws -> SubmissionSummary {
        for a in s.attachments where a.name.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) == nil {
            throw OutboxError("attachment name \(a.name) is not allowed")
        }
        let id = UUID().uuidString.lowercased()
        let dir = attachmentsDirectory + "/" + id
        try DurableFile.makeDirectory(dir)
        try DurableFile.syncDirectory(attachmentsDirectory)
        struct Written { var a: NewAttachment; var sha: String; var file: String }
        var written: [Written] = []
        do {
            for a in s.attachments {
                guard a.name.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
                    throw OutboxError("attachment name \(a.name) is not allowed")
                }
                let file = id + "/" + a.name + ".enc"
                try DurableFile.write(try cipher.seal(a.data), to: attachmentsDirectory + "/" + file)
                written.append(Written(a: a, sha: sha256Hex(a.data), file: file))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        let personal: Data
        do { personal = try cipher.seal(try JSONEncoder().encode(s.applicant)) } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        let lookup = cipher.lookupToken(IDNumber.normalise(s.applicant.idNumber))
        let sealedAt = now()
        let day = Self.day(sealedAt)
        let station = stationId
        let prefix = casePrefix
        do {
            return try pool.write { db -> SubmissionSummary in
                let seq = (try Int.fetchOne(db, sql: "SELECT seq FROM case_counter WHERE day = ?", arguments: [day]) ?? 0) + 1
                try db.execute(sql: "INSERT OR REPLACE INTO case_counter(day, seq) VALUES (?, ?)", arguments: [day, seq])
                let caseNumber = prefix + day + String(format: "%04d", seq)
                try db.execute(sql: """
                    INSERT INTO submission(id, case_number, item_code, item_name, station_id, sealed_at, state,
                      attempts, next_attempt_at, id_lookup, personal, assisted_by)
                    VALUES (?, ?, ?, ?, ?, ?, 'sealed', 0, ?, ?, ?, ?)
                    """, arguments: [id, caseNumber, s.itemCode, s.itemName, station, sealedAt.timeIntervalSince1970,
                                     sealedAt.timeIntervalSince1970, lookup, personal, s.assistedBy])
                for w in written {
                    try db.execute(sql: """
                        INSERT INTO attachment(submission_id, name, content_type, size, sha256, file)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """, arguments: [id, w.a.name, w.a.contentType, w.a.data.count, w.sha, w.file])
                }
                return SubmissionSummary(id: id, caseNumber: caseNumber, itemCode: s.itemCode, itemName: s.itemName,
                                         sealedAt: sealedAt, state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw OutboxError("the submission could not be saved (\(error)); nothing was submitted, please try again or call staff")
        }
    }

    /// Attachment folders without a committed row are leftovers of a crash in the middle of a seal.
    func removeOrphanAttachments() throws {
        let known = Set(try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM submission") })
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: attachmentsDirectory)) ?? []
        for e in entries where !known.contains(e) {
            try? FileManager.default.removeItem(atPath: attachmentsDirectory + "/" + e)
        }
    }

    public func markReceiptPrinted(id: String) throws {
        let t = now().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: "UPDATE submission SET receipt_printed_at = ? WHERE id = ?", arguments: [t, id])
        }
    }

    static func summary(_ row: Row) -> SubmissionSummary {
        SubmissionSummary(id: row["id"], caseNumber: row["case_number"], itemCode: row["item_code"],
                          itemName: row["item_name"], sealedAt: Date(timeIntervalSince1970: row["sealed_at"]),
                          state: OutboxState(rawValue: row["state"]) ?? .sealed,
                          upstreamState: (row["upstream_state"] as String?).flatMap(UpstreamState.init(rawValue:)),
                          attempts: row["attempts"], lastError: row["last_error"])
    }

    /// A resident's own submissions, found by the keyed digest of their ID number.
    public func submissions(forIDNumber idNumber: String, limit: Int = 20) throws -> [SubmissionSummary] {
        let token = cipher.lookupToken(IDNumber.normalise(idNumber))
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM submission WHERE id_lookup = ? ORDER BY sealed_at DESC LIMIT ?",
                             arguments: [token, limit]).map(Self.summary)
        }
    }

    public func submission(id: String) throws -> SubmissionSummary? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM submission WHERE id = ?", arguments: [id]).map(Self.summary) }
    }

    public func allSubmissions() throws -> [SubmissionSummary] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM submission ORDER BY sealed_at").map(Self.summary) }
    }

    public func counts() throws -> OutboxCounts {
        let t = now().timeIntervalSince1970
        return try pool.read { db in
            let q = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submission WHERE state = 'sealed'") ?? 0
            let u = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submission WHERE state = 'uploaded'") ?? 0
            let qu = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submission WHERE state = 'quarantined'") ?? 0
            let a = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM attachment JOIN submission ON submission.id = attachment.submission_id
                WHERE submission.state = 'sealed' AND attachment.uploaded = 0
                """) ?? 0
            let oldest = try Double.fetchOne(db, sql: "SELECT MIN(sealed_at) FROM submission WHERE state = 'sealed'")
            let ev = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM evaluation WHERE uploaded = 0") ?? 0
            return OutboxCounts(queued: q, uploaded: u, quarantined: qu, attachmentsQueued: a,
                                oldestQueuedSeconds: oldest.map { max(0, Int(t - $0)) }, evaluationsQueued: ev)
        }
    }

    // MARK: Upload support

    public struct PendingAttachment: Sendable {
        public var ref: AttachmentRef
        public var uploaded: Bool
        public var file: String
    }

    public struct PendingUpload: Sendable {
        public var summary: SubmissionSummary
        public var manifest: SubmissionManifest
        public var attachments: [PendingAttachment]
    }

    /// The submission due for upload soonest, if any is due now; and the time the next one is due.
    /// A row that cannot be read back (wrong key, damaged blob) is quarantined with the reason so it
    /// never blocks the rows behind it. A retry time implausibly far ahead (the clock was wrong when
    /// it was recorded: kiosks without a battery-backed clock) counts as due now.
    public func nextDue(maxDelay: TimeInterval = 3600) throws -> (due: PendingUpload?, nextAt: Date?) {
        let t = now().timeIntervalSince1970
        while true {
            let row = try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM submission WHERE state = 'sealed' ORDER BY next_attempt_at, sealed_at LIMIT 1")
            }
            guard let row else { return (nil, nil) }
            let next: Double = row["next_attempt_at"]
            guard next <= t || next > t + maxDelay else { return (nil, Date(timeIntervalSince1970: next)) }
            do {
                return (try pending(row), nil)
            } catch {
                let id: String = row["id"]
                try quarantine(id: id, reason: "stored submission cannot be read back (\(error)); check encryption.keyFile is the key it was written with")
            }
        }
    }

    nonisolated(unsafe) private static let iso: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f
    }()

    func pending(_ row: Row) throws -> PendingUpload {
        let summary = Self.summary(row)
        let personalBlob: Data = row["personal"]
        let applicant = try JSONDecoder().decode(ApplicantData.self, from: try cipher.open(personalBlob))
        let id = summary.id
        let atts = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM attachment WHERE submission_id = ? ORDER BY name", arguments: [id])
        }.map { r in
            PendingAttachment(ref: AttachmentRef(name: r["name"], contentType: r["content_type"], size: r["size"], sha256: r["sha256"]),
                              uploaded: (r["uploaded"] as Int) != 0, file: r["file"])
        }
        let manifest = SubmissionManifest(submissionId: id, caseNumber: summary.caseNumber, stationId: row["station_id"],
                                          itemCode: summary.itemCode, itemName: summary.itemName,
                                          submittedAt: Self.iso.string(from: summary.sealedAt), applicant: applicant,
                                          attachments: atts.map(\.ref), assistedBy: row["assisted_by"])
        return PendingUpload(summary: summary, manifest: manifest, attachments: atts)
    }

    /// Decrypted bytes of an attachment, verified against the digest recorded at seal time.
    public func attachmentData(_ a: PendingAttachment) throws -> Data {
        guard let enc = FileManager.default.contents(atPath: attachmentsDirectory + "/" + a.file) else {
            throw OutboxError("attachment file \(a.file) is missing from the state directory")
        }
        let data = try cipher.open(enc)
        guard sha256Hex(data) == a.ref.sha256 else { throw OutboxError("attachment file \(a.file) does not match its recorded digest") }
        return data
    }

    public func markAttachmentUploaded(submissionId: String, name: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE attachment SET uploaded = 1 WHERE submission_id = ? AND name = ?", arguments: [submissionId, name])
        }
    }

    public func resetAttachments(submissionId: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE attachment SET uploaded = 0 WHERE submission_id = ?", arguments: [submissionId])
        }
    }

    public func markUploaded(id: String, upstreamState: UpstreamState) throws {
        let t = now().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: """
                UPDATE submission SET state = 'uploaded', upstream_state = ?, uploaded_at = ?, last_error = NULL
                WHERE id = ?
                """, arguments: [upstreamState.rawValue, t, id])
        }
    }

    public func recordFailure(id: String, error: String, retryAt: Date) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE submission SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?
                """, arguments: [error, retryAt.timeIntervalSince1970, id])
        }
    }

    public func quarantine(id: String, reason: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE submission SET state = 'quarantined', last_error = ?, attempts = attempts + 1 WHERE id = ?",
                           arguments: [reason, id])
        }
    }

    public func updateUpstreamState(id: String, state: UpstreamState) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE submission SET upstream_state = ? WHERE id = ?", arguments: [state.rawValue, id])
        }
    }

    /// Uploaded submissions whose upstream state may still change.
    public func openUploaded(limit: Int = 50) throws -> [SubmissionSummary] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM submission WHERE state = 'uploaded'
                AND (upstream_state IS NULL OR upstream_state NOT IN ('done', 'rejected'))
                ORDER BY sealed_at LIMIT ?
                """, arguments: [limit]).map(Self.summary)
        }
    }

    // MARK: Evaluations (好差评)

    public func recordEvaluation(caseNumber: String, level: Int, reason: String?) throws {
        guard (1...5).contains(level) else { throw OutboxError("evaluation level must be 1…5") }
        let t = now().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: "INSERT INTO evaluation(case_number, level, reason, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [caseNumber, level, reason, t])
        }
    }

    public func evaluations() throws -> [(caseNumber: String, level: Int, reason: String?)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluation ORDER BY id").map { ($0["case_number"], $0["level"], $0["reason"]) }
        }
    }
}
