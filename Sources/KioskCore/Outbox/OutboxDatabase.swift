import Foundation
import GRDB
import KioskProtocols

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

/// The outbox database: one SQLite file (WAL, synchronous=FULL) behind one GRDB `DatabasePool`,
/// its migrations, the encryption key and the folders of encrypted files (attachments,
/// certificates). The stores (`SubmissionStore`, `UploadQueue`, `MessageQueue`,
/// `CertificateStore`, `StaffRegistry`, `AuditTrail`, `DeviceHistory`, `ServiceStateStore`,
/// `LedgerStore`, `DatabasePINGate`) each own one concern and share this value.
///
/// Writes are `async`: GRDB runs them on its own writer queue, and fsynced file writes go
/// through `FileSync`'s dedicated queue, so no actor executor or the terminal loop waits on a disk.
public final class OutboxDatabase: Sendable {
    public let stateDirectory: String
    let pool: DatabasePool
    let cipher: AtRestCipher
    public let clock: StationClock
    /// Free space the state directory's file system must keep; below it a seal refuses (storage.minFreeMegabytes).
    public let minFreeBytes: Int64

    public var attachmentsDirectory: String { stateDirectory + "/attachments" }
    public var certificatesDirectory: String { stateDirectory + "/certificates" }
    public static let fileName = "outbox.sqlite"

    /// Opens (and, unless `readOnly`, creates and migrates) the outbox in `stateDirectory`.
    /// `cleanOrphans`: only the daemon may; a tool opening the database beside a running kioskd
    /// would otherwise delete the files of a seal that is being committed right now.
    public init(
        stateDirectory: String, cipher: AtRestCipher, clock: StationClock = .system,
        readOnly: Bool = false, minFreeBytes: Int64 = 0, cleanOrphans: Bool = true
    ) throws {
        self.stateDirectory = stateDirectory
        self.cipher = cipher
        self.clock = clock
        self.minFreeBytes = minFreeBytes
        if !readOnly {
            try DurableFile.makeDirectory(stateDirectory)
            try DurableFile.makeDirectory(stateDirectory + "/attachments")
        }
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(5)
        config.label = "outbox"
        // Two readers are plenty for one screen, the uploader and the admin socket (GRDB's
        // default is five, each with its own connection and page cache once used).
        config.maximumReaderCount = 2
        // Deleted rows (purged personal data) are overwritten, not left in free pages.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        do {
            pool = try DatabasePool(path: stateDirectory + "/" + Self.fileName, configuration: config)
        } catch {
            throw OutboxError(
                "cannot open the outbox database in \(stateDirectory) (\(error)); check the state directory and its permissions"
            )
        }
        if !readOnly {
            // GRDB sets synchronous=NORMAL for WAL pools; a receipt must never outlive its row.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try OutboxSchema.migrator.migrate(pool)
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
        (try? FileManager.default.attributesOfItem(atPath: stateDirectory + "/" + fileName + "-wal")[.size] as? Int)
            ?? 0
    }

    /// Reads back the writer connection's synchronous level (2 = FULL).
    public func synchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// The migrations applied to this database, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try OutboxSchema.migrator.appliedIdentifiers(db).sorted() }
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
        let known = Set(
            try pool.read { db in
                try String.fetchAll(
                    db,
                    SubmissionRecord.select(SubmissionRecord.Columns.id).filter(
                        SubmissionRecord.Columns.purgedAt == nil))
            })
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: attachmentsDirectory)) ?? []
        for e in entries where !known.contains(e) {
            try? FileManager.default.removeItem(atPath: attachmentsDirectory + "/" + e)
        }
    }

    /// Case number of a submission (its id when unknown), for audit entries.
    func caseNumber(_ submissionId: String) throws -> String {
        try pool.read { db in
            try String.fetchOne(
                db, SubmissionRecord.select(SubmissionRecord.Columns.caseNumber).filter(key: submissionId))
                ?? submissionId
        }
    }
}

/// Blocking file work (write + fsync, the slow PIN KDF) on dedicated dispatch queues, awaited
/// through a continuation: it never occupies a thread of Swift's cooperative pool, an actor's
/// executor or the terminal loop.
public enum FileSync {
    static let files = DispatchQueue(label: "kiosk.outbox.fsync", qos: .userInitiated)
    static let kdf = DispatchQueue(label: "kiosk.pin.kdf", qos: .userInitiated)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(on: files, work)
    }

    static func run<T: Sendable>(on queue: DispatchQueue, _ work: @escaping @Sendable () throws -> T) async throws -> T
    {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            queue.async { c.resume(with: Result { try work() }) }
        }
    }

    static func compute<T: Sendable>(on queue: DispatchQueue, _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            queue.async { c.resume(returning: work()) }
        }
    }
}

/// The schema: migrations applied in order. An applied migration is never edited; a change is a new one.
enum OutboxSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
            try db.execute(
                sql: """
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
        // One PIN gate for staff and the technician: failures and lockouts per (role, subject).
        // Staff counters move here from the staff table (whose columns stay, unused).
        m.registerMigration("v4-pin-gate") { db in
            try db.execute(
                sql: """
                    CREATE TABLE pin_lockout (
                      role TEXT NOT NULL,
                      subject TEXT NOT NULL,
                      failures INTEGER NOT NULL DEFAULT 0,
                      locked_until REAL,
                      PRIMARY KEY (role, subject)
                    );
                    INSERT INTO pin_lockout(role, subject, failures, locked_until)
                      SELECT 'staff', staff_id, failures, locked_until FROM staff WHERE failures > 0 OR locked_until IS NOT NULL;
                    """)
        }
        return m
    }
}
