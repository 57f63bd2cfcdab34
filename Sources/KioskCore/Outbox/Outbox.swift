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

/// The state directory's disk is below the configured floor: no new submission is taken.
public struct DiskFloorError: Error, CustomStringConvertible, Sendable {
    public var freeBytes: Int64
    public var floorBytes: Int64
    public var description: String {
        "free space in the state directory is \(freeBytes / 1_000_000) MB, below storage.minFreeMegabytes (\(floorBytes / 1_000_000) MB): new submissions are paused; free disk space (the outbox drains once the upstream is reachable)"
    }
    /// What a resident reads.
    public static let residentMessage = "本机存储空间不足，暂停受理新的申请。已提交的申请不受影响，请联系工作人员。"
}

/// The outbox: the source of truth for submissions. SQLite (WAL, synchronous=FULL) through GRDB;
/// attachments are encrypted files outside the rows, fsynced before the row that names them commits.
public final class Outbox: Sendable {
    public let stateDirectory: String
    let pool: DatabasePool
    let cipher: AtRestCipher
    let stationId: String
    let casePrefix: String
    /// Free space the state directory's file system must keep; below it `seal` refuses (storage.minFreeMegabytes).
    public let minFreeBytes: Int64
    public let now: @Sendable () -> Date

    public var attachmentsDirectory: String { stateDirectory + "/attachments" }

    public init(stateDirectory: String, cipher: AtRestCipher, stationId: String, casePrefix: String,
                readOnly: Bool = false, minFreeBytes: Int64 = 0, cleanOrphans: Bool = true,
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.stateDirectory = stateDirectory
        self.minFreeBytes = minFreeBytes
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
        // Deleted rows (purged personal data) are overwritten, not left in free pages.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        do {
            pool = try DatabasePool(path: stateDirectory + "/outbox.sqlite", configuration: config)
        } catch {
            throw OutboxError("cannot open the outbox database in \(stateDirectory) (\(error)); check the state directory and its permissions")
        }
        if !readOnly {
            // GRDB sets synchronous=NORMAL for WAL pools; a receipt must never outlive its row.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(pool)
            // Only the daemon may: a tool opening the database beside a running kioskd would
            // otherwise delete the files of a seal that is being committed right now.
            if cleanOrphans { try removeOrphanAttachments() }
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
        m.registerMigration("v2-tus-messages-retention") { db in
            try db.execute(sql: """
            ALTER TABLE attachment ADD COLUMN upload_url TEXT;
            ALTER TABLE submission ADD COLUMN purged_at REAL;
            CREATE TABLE message (
              id TEXT PRIMARY KEY NOT NULL,
              kind TEXT NOT NULL,
              body BLOB NOT NULL,
              created_at REAL NOT NULL,
              state TEXT NOT NULL DEFAULT 'queued',
              attempts INTEGER NOT NULL DEFAULT 0,
              next_attempt_at REAL NOT NULL,
              last_error TEXT,
              sent_at REAL
            );
            CREATE INDEX message_due ON message(state, next_attempt_at);
            CREATE TABLE certificate (
              submission_id TEXT PRIMARY KEY NOT NULL REFERENCES submission(id) ON DELETE CASCADE,
              ref TEXT NOT NULL,
              content_type TEXT NOT NULL,
              size INTEGER NOT NULL,
              sha256 TEXT NOT NULL,
              file TEXT,
              downloaded_at REAL,
              printed_at REAL,
              last_error TEXT
            );
            """)
        }
        m.registerMigration("v3-staff-audit-ledger") { db in
            try db.execute(sql: """
            CREATE TABLE staff (
              staff_id TEXT PRIMARY KEY NOT NULL,
              display_name TEXT NOT NULL,
              role TEXT NOT NULL,
              id_digest TEXT NOT NULL UNIQUE,
              pin_hash TEXT NOT NULL,
              failures INTEGER NOT NULL DEFAULT 0,
              locked_until REAL,
              active INTEGER NOT NULL DEFAULT 1,
              created_at REAL NOT NULL
            );
            CREATE TABLE audit (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              at REAL NOT NULL,
              actor TEXT NOT NULL,
              action TEXT NOT NULL,
              subject TEXT,
              detail TEXT,
              chain TEXT NOT NULL
            );
            CREATE INDEX audit_at ON audit(at);
            CREATE TABLE device_event (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              kind TEXT NOT NULL,
              state TEXT NOT NULL,
              usable INTEGER NOT NULL,
              at REAL NOT NULL
            );
            CREATE INDEX device_event_at ON device_event(kind, at);
            CREATE TABLE kiosk_setting (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL);
            ALTER TABLE certificate ADD COLUMN print_count INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE certificate ADD COLUMN first_printed_at REAL;
            ALTER TABLE certificate ADD COLUMN printed_by TEXT;
            ALTER TABLE certificate ADD COLUMN collected_at REAL;
            ALTER TABLE certificate ADD COLUMN collected_by TEXT;
            ALTER TABLE certificate ADD COLUMN collector TEXT;
            ALTER TABLE certificate ADD COLUMN ready_at REAL;
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
        try checkDiskFloor(incoming: s.attachments.reduce(0) { $0 + $1.data.count })
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

    /// Free bytes in the state directory, and whether a new submission may be taken.
    public func diskStatus() -> (freeBytes: Int64, accepting: Bool) {
        let free = DurableFile.freeBytes(at: stateDirectory) ?? Int64.max
        return (free, free >= minFreeBytes)
    }

    /// Throws DiskFloorError when taking `incoming` bytes (plus their encryption overhead) would
    /// leave less than the floor. Checked before anything is written.
    public func checkDiskFloor(incoming: Int = 0) throws {
        guard minFreeBytes > 0 else { return }
        let free = DurableFile.freeBytes(at: stateDirectory) ?? Int64.max
        if free - Int64(incoming) * 2 < minFreeBytes { throw DiskFloorError(freeBytes: free, floorBytes: minFreeBytes) }
    }

    /// Attachment folders without a committed row are leftovers of a crash in the middle of a seal.
    func removeOrphanAttachments() throws {
        let known = Set(try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM submission WHERE purged_at IS NULL") })
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
        /// The tus upload this attachment is being sent to (resumed after a restart).
        public var uploadURL: String?
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
                              uploaded: (r["uploaded"] as Int) != 0, file: r["file"], uploadURL: r["upload_url"])
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
            try db.execute(sql: "UPDATE attachment SET uploaded = 1, upload_url = NULL WHERE submission_id = ? AND name = ?", arguments: [submissionId, name])
        }
    }

    /// Records (durably, synchronous=FULL) the tus upload URL of an attachment before bytes go to it.
    public func setUploadURL(submissionId: String, name: String, url: String?) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE attachment SET upload_url = ? WHERE submission_id = ? AND name = ?", arguments: [url, submissionId, name])
        }
    }

    public func resetAttachments(submissionId: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE attachment SET uploaded = 0, upload_url = NULL WHERE submission_id = ?", arguments: [submissionId])
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

    /// Records an evaluation and queues it for upload in the same transaction.
    public func recordEvaluation(caseNumber: String, level: Int, reason: String?) throws {
        guard (1...5).contains(level) else { throw OutboxError("evaluation level must be 1…5") }
        let at = now()
        let t = at.timeIntervalSince1970
        let report = EvaluationReport(evaluationId: UUID().uuidString.lowercased(), stationId: stationId, caseNumber: caseNumber,
                                      level: level, reason: reason, createdAt: Self.iso.string(from: at))
        let body = try cipher.seal(try JSONEncoder().encode(report))
        // A free-text reason may name people: stored encrypted like every personal field.
        let storedReason = try reason.map { "enc:" + (try cipher.seal(Data($0.utf8))).base64EncodedString() }
        try pool.write { db in
            try db.execute(sql: "INSERT INTO evaluation(case_number, level, reason, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [caseNumber, level, storedReason, t])
            try db.execute(sql: "INSERT INTO message(id, kind, body, created_at, next_attempt_at) VALUES (?, 'evaluation', ?, ?, ?)",
                           arguments: [report.evaluationId, body, t, t])
        }
    }

    // MARK: Messages (evaluations, heartbeats): small JSON bodies, encrypted, sent in order

    public enum MessageKind: String, Sendable { case evaluation, heartbeat }

    public struct PendingMessage: Sendable {
        public var id: String
        public var kind: MessageKind
        public var body: Data          // decrypted JSON
        public var attempts: Int
    }

    /// Queues a heartbeat; an older unsent heartbeat is replaced (only the latest state matters).
    public func queueHeartbeat(_ hb: StationHeartbeat) throws {
        let t = now().timeIntervalSince1970
        let body = try cipher.seal(try JSONEncoder().encode(hb))
        try pool.write { db in
            try db.execute(sql: "DELETE FROM message WHERE kind = 'heartbeat' AND state = 'queued'")
            try db.execute(sql: "INSERT INTO message(id, kind, body, created_at, next_attempt_at) VALUES (?, 'heartbeat', ?, ?, ?)",
                           arguments: [hb.heartbeatId, body, t, t])
            // Sent heartbeats are history nobody needs on the kiosk.
            try db.execute(sql: "DELETE FROM message WHERE kind = 'heartbeat' AND state = 'sent'")
        }
    }

    /// Messages due now, oldest first. Unreadable ones are quarantined.
    public func dueMessages(limit: Int = 20) throws -> [PendingMessage] {
        let t = now().timeIntervalSince1970
        let rows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM message WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                             arguments: [t, limit])
        }
        var out: [PendingMessage] = []
        for r in rows {
            let id: String = r["id"]
            do {
                out.append(PendingMessage(id: id, kind: MessageKind(rawValue: r["kind"]) ?? .evaluation,
                                          body: try cipher.open(r["body"]), attempts: r["attempts"]))
            } catch {
                try quarantineMessage(id: id, reason: "stored message cannot be read back (\(error))")
            }
        }
        return out
    }

    public func markMessageSent(id: String) throws {
        let t = now().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: "UPDATE message SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?", arguments: [t, id])
            if let row = try Row.fetchOne(db, sql: "SELECT kind, created_at FROM message WHERE id = ?", arguments: [id]),
               (row["kind"] as String) == "evaluation" {
                try db.execute(sql: "UPDATE evaluation SET uploaded = 1 WHERE created_at = ? AND uploaded = 0",
                               arguments: [row["created_at"] as Double])
            }
        }
    }

    public func recordMessageFailure(id: String, error: String, retryAt: Date) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE message SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           arguments: [error, retryAt.timeIntervalSince1970, id])
        }
    }

    public func quarantineMessage(id: String, reason: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE message SET state = 'quarantined', last_error = ?, attempts = attempts + 1 WHERE id = ?",
                           arguments: [reason, id])
        }
    }

    public func messageCounts() throws -> (queued: Int, sent: Int, quarantined: Int) {
        try pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE state = 'queued'") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE state = 'sent'") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE state = 'quarantined'") ?? 0)
        }
    }

    // MARK: Certificates (证照) downloaded for printing

    public var certificatesDirectory: String { stateDirectory + "/certificates" }

    /// The upstream says a certificate is ready: remember where to fetch it.
    public func noteCertificate(submissionId: String, ref: CertificateRef) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO certificate(submission_id, ref, content_type, size, sha256, ready_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(submission_id) DO UPDATE SET ref = excluded.ref, content_type = excluded.content_type,
                  size = excluded.size, sha256 = excluded.sha256,
                  file = CASE WHEN certificate.sha256 = excluded.sha256 THEN certificate.file ELSE NULL END
                """, arguments: [submissionId, ref.ref, ref.contentType, ref.size, ref.sha256, now().timeIntervalSince1970])
        }
    }

    /// Certificates known but not downloaded yet.
    public func certificatesToDownload() throws -> [(submissionId: String, ref: CertificateRef)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT certificate.* FROM certificate JOIN submission ON submission.id = certificate.submission_id
                WHERE certificate.file IS NULL AND submission.purged_at IS NULL
                """).map {
                ($0["submission_id"], CertificateRef(ref: $0["ref"], contentType: $0["content_type"], size: $0["size"], sha256: $0["sha256"]))
            }
        }
    }

    /// Stores a downloaded certificate, encrypted, after checking its SHA-256.
    public func storeCertificate(submissionId: String, data: Data) throws {
        let expected = try pool.read { db in
            try String.fetchOne(db, sql: "SELECT sha256 FROM certificate WHERE submission_id = ?", arguments: [submissionId])
        }
        guard let expected else { throw OutboxError("no certificate is expected for submission \(submissionId)") }
        guard sha256Hex(data) == expected else { throw OutboxError("certificate of \(submissionId) does not match its SHA-256") }
        try DurableFile.makeDirectory(certificatesDirectory)
        let file = submissionId + ".enc"
        try DurableFile.write(try cipher.seal(data), to: certificatesDirectory + "/" + file)
        let t = now().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: "UPDATE certificate SET file = ?, downloaded_at = ?, last_error = NULL WHERE submission_id = ?",
                           arguments: [file, t, submissionId])
        }
    }

    /// Decrypted bytes of a downloaded certificate (for the A4 printer), verified again.
    public func certificate(submissionId: String) throws -> (ref: CertificateRef, data: Data)? {
        guard let row = try pool.read({ db in
            try Row.fetchOne(db, sql: "SELECT * FROM certificate WHERE submission_id = ? AND file IS NOT NULL", arguments: [submissionId])
        }) else { return nil }
        let ref = CertificateRef(ref: row["ref"], contentType: row["content_type"], size: row["size"], sha256: row["sha256"])
        guard let enc = FileManager.default.contents(atPath: certificatesDirectory + "/" + (row["file"] as String)) else { return nil }
        let data = try cipher.open(enc)
        guard sha256Hex(data) == ref.sha256 else { throw OutboxError("stored certificate of \(submissionId) is damaged") }
        return (ref, data)
    }

    // MARK: Retention

    /// Deletes personal data, attachment files and certificates of submissions the upstream
    /// confirmed more than `days` ago. The row stays (case number, item, state) with its keyed
    /// ID digest so the resident can still see progress. Returns the number purged.
    @discardableResult
    public func purgeConfirmed(olderThanDays days: Double) throws -> Int {
        let cutoff = now().timeIntervalSince1970 - days * 86_400
        let ids = try pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT id FROM submission WHERE state = 'uploaded' AND purged_at IS NULL AND uploaded_at IS NOT NULL AND uploaded_at <= ?
                AND id NOT IN (SELECT submission_id FROM certificate WHERE collected_at IS NULL)
                """, arguments: [cutoff])
        }
        let t = now().timeIntervalSince1970
        for id in ids {
            // Rows first (the blob is what holds the data), then files; a crash in between leaves
            // only files of a purged row, removed on the next pass.
            try pool.write { db in
                try db.execute(sql: "UPDATE submission SET personal = X'', purged_at = ? WHERE id = ?", arguments: [t, id])
                try db.execute(sql: "UPDATE certificate SET file = NULL WHERE submission_id = ?", arguments: [id])
            }
            try? FileManager.default.removeItem(atPath: attachmentsDirectory + "/" + id)
            try? FileManager.default.removeItem(atPath: certificatesDirectory + "/" + id + ".enc")
        }
        if !ids.isEmpty { try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") } }
        return ids.count
    }

    /// Quarantined submissions for staff and technicians: case number, item, why (never personal data).
    public func quarantined() throws -> [(caseNumber: String, itemCode: String, reason: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT case_number, item_code, last_error FROM submission WHERE state = 'quarantined' ORDER BY sealed_at")
                .map { ($0["case_number"], $0["item_code"], ($0["last_error"] as String?) ?? "") }
        }
    }

    public func isPurged(id: String) throws -> Bool {
        try pool.read { db in try Double.fetchOne(db, sql: "SELECT purged_at FROM submission WHERE id = ?", arguments: [id]) != nil }
    }

    public func evaluations() throws -> [(caseNumber: String, level: Int, reason: String?)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluation ORDER BY id").map { row in
                let raw: String? = row["reason"]
                let reason = raw.map { r -> String in
                    guard r.hasPrefix("enc:"), let d = Data(base64Encoded: String(r.dropFirst(4))), let p = try? cipher.open(d) else { return r }
                    return String(decoding: p, as: UTF8.self)
                }
                return (row["case_number"], row["level"], reason)
            }
        }
    }
}
