import Foundation
import GRDB
import KioskProtocols
import Synchronization

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

/// The outbox database: one SQLite file (WAL, synchronous=FULL except a seal's rows, whose
/// durable point is the seal log) behind one GRDB `DatabasePool`,
/// its migrations, the encryption key and the folders of encrypted files (attachments,
/// certificates). The stores (`SubmissionStore`, `UploadQueue`, `MessageQueue`,
/// `CertificateStore`, `StaffRegistry`, `AuditTrail`, `DeviceHistory`, `ServiceStateStore`,
/// `LedgerStore`, `DatabasePINGate`) each own one concern and share this value.
///
/// Writes are `async`: GRDB runs them on its own writer queue, and fsynced file writes go
/// through `FileSync`'s dedicated queue, so no actor executor or the terminal loop waits on a disk.
public final class OutboxDatabase: Sendable {
    public let stateDirectory: String
    /// The database; every access waits at the seal log's fence (`SealLog.awaitCommitted`), so
    /// that whoever reads after a seal was answered sees its rows.
    var pool: DatabasePool {
        sealLog.awaitCommitted()
        return rawPool
    }
    let rawPool: DatabasePool
    let cipher: AtRestCipher
    public let clock: StationClock
    /// Free space the state directory's file system must keep; below it a seal refuses (storage.minFreeMegabytes).
    public let minFreeBytes: Int64

    public var attachmentsDirectory: String { stateDirectory + "/attachments" }
    public var certificatesDirectory: String { stateDirectory + "/certificates" }
    public static let fileName = "outbox.sqlite"

    /// The redundant case counter beside the database (see StateDirectory.swift).
    public let caseCounter: CaseCounterFile
    /// The seal journal of earlier versions (see StateDirectory.swift): read at start, no longer written.
    public let sealJournal: SealJournal
    /// The seal log: each seal's durable point (see SealLog.swift).
    public let sealLog: SealLog
    /// The highest case number issued per day, in memory: the maximum of the counter file, the
    /// database and the seal log at start, raised by each seal (durable through its log record).
    let issued = Mutex<[String: Int]>([:])
    /// What the start-up replay of the seal log wrote back or could not (see `replaySealLog`).
    public var replayedAtStart: SealLogReplay { replayed.withLock { $0 } }
    private let replayed = Mutex(SealLogReplay())
    /// The daemon's lock on `state/kioskd.lock` (a POSIX record lock, held while the process lives).
    private let lockFile = Mutex<Int32>(-1)
    /// Why the configured key cannot be the outbox's key (nil: it is, or the database is read-only
    /// and nothing was checked). The uploader stops and the station raises its key alarm; nothing
    /// is quarantined for it and no new submission is sealed with a key the rest cannot be read with.
    public let keyProblem: String?

    /// Opens (and, unless `readOnly`, creates and migrates) the outbox in `stateDirectory`.
    /// `cleanOrphans`: only the daemon may; a tool opening the database beside a running kioskd
    /// would otherwise delete the files of a seal that is being committed right now.
    /// Unless `readOnly` or `allowFresh`, a missing, empty or unreadable database in a directory
    /// that shows earlier data throws `OutboxLostError` (only `kioskctl outbox recover` passes
    /// `allowFresh`, after moving the damaged file aside).
    public init(
        stateDirectory: String, cipher: AtRestCipher, clock: StationClock = .system,
        readOnly: Bool = false, minFreeBytes: Int64 = 0, cleanOrphans: Bool = true, stationId: String = "",
        allowFresh: Bool = false
    ) throws {
        self.stateDirectory = stateDirectory
        self.cipher = cipher
        self.clock = clock
        self.minFreeBytes = minFreeBytes
        sealJournal = SealJournal(stateDirectory: stateDirectory)
        sealLog = SealLog(stateDirectory: stateDirectory)
        let path = stateDirectory + "/" + Self.fileName
        let evidence = readOnly || allowFresh ? [] : StateEvidence.found(stateDirectory)
        if !evidence.isEmpty, let problem = StateEvidence.fileProblem(path) {
            throw OutboxLostError(databasePath: path, problem: problem, evidence: evidence)
        }
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
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            if !evidence.isEmpty {
                throw OutboxLostError(databasePath: path, problem: "unreadable (\(error))", evidence: evidence)
            }
            throw OutboxError(
                "cannot open the outbox database in \(stateDirectory) (\(error)); check the state directory and its permissions"
            )
        }
        // A WAL beside a database without tables is a first start cut short before its
        // migrations committed; every other sign means the directory held an outbox.
        if evidence.contains(where: { !$0.hasPrefix("write-ahead log") }) {
            // A file that is not a database, or a database without the outbox's tables, is not
            // the outbox this directory held: refuse before migrating anything into it.
            let hasTables: Bool
            do {
                hasTables = try pool.read { db in try db.tableExists("submission") }
            } catch {
                throw OutboxLostError(databasePath: path, problem: "unreadable (\(error))", evidence: evidence)
            }
            if !hasTables {
                throw OutboxLostError(
                    databasePath: path, problem: "empty (it holds no outbox tables)", evidence: evidence)
            }
        }
        rawPool = pool
        if !readOnly {
            // GRDB sets synchronous=NORMAL for WAL pools; every write but a seal's rows (which the
            // seal log makes durable first) must survive a power cut once it returns.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try OutboxSchema.migrator.migrate(pool)
            // A new database file's directory entry must survive a power cut like its contents.
            try DurableFile.syncDirectory(stateDirectory)
            // Only now (the database durable and migrated) the files that say an outbox lived here.
            caseCounter = try CaseCounterFile(stateDirectory: stateDirectory)
            try StationIdentity.ensure(stateDirectory, stationId: stationId, now: clock.now)
            keyProblem = try OutboxDatabase.checkKey(pool, cipher)
            // Only the daemon replays and cleans: a tool beside a running kioskd would write back
            // the rows of a seal whose own commit is under way. One daemon per state directory:
            // two would append to one seal log and issue the same case numbers.
            if cleanOrphans {
                let fd = try Self.lockStateDirectory(stateDirectory)
                lockFile.withLock { $0 = fd }
            }
            if cleanOrphans && keyProblem == nil {
                let r = try replaySealLog()
                replayed.withLock { $0 = r }
            }
            try reconcileCaseCounter()
            if cleanOrphans {
                try removeSealLeftovers()
                // Best effort: a full disk must not keep the daemon (and the outbox's drain) down.
                if keyProblem == nil { try? compactSealLog() }
            }
        } else {
            caseCounter = try CaseCounterFile(stateDirectory: stateDirectory, create: false)
            keyProblem = nil
        }
        // A seal's rows commit after it was answered; if that commit fails, they are written back.
        sealLog.commitRows(into: pool) { [weak self] in _ = try? self?.replaySealLog() }
    }

    deinit {
        lockFile.withLock { if $0 >= 0 { Glibc.close($0) } }
    }

    /// Takes the state directory's lock for this process, or says which process holds it.
    static func lockStateDirectory(_ stateDirectory: String) throws -> Int32 {
        let path = stateDirectory + "/kioskd.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw OutboxError("cannot open \(path): \(String(cString: strerror(errno))); check the state directory")
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        if fcntl(fd, F_SETLK, &lock) != 0 {
            var held = flock()
            held.l_type = Int16(F_WRLCK)
            held.l_whence = Int16(SEEK_SET)
            _ = fcntl(fd, F_GETLK, &held)
            Glibc.close(fd)
            throw OutboxError(
                "the state directory \(stateDirectory) is in use by another kioskd (process \(held.l_pid)): stop it first (systemctl stop kioskd); two would issue the same case numbers"
            )
        }
        return fd
    }

    /// Shutdown: folds the WAL into the database file (checkpoint TRUNCATE) and closes every
    /// connection. Every commit was already durable (synchronous=FULL, or a seal's rows through the
    /// seal log) and the counter file is brought up to date; this leaves one
    /// self-contained file behind. Later calls fail.
    public func close() throws {
        try persistCaseCounter()
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }

    /// Writes the numbers issued since start to the counter file (durably; nothing when it knows them).
    func persistCaseCounter() throws {
        try caseCounter.raise(issued.withLock { $0 })
    }

    /// Size of the WAL file in bytes (0 after `close`), for tests.
    public static func walSize(stateDirectory: String) -> Int {
        FileStatus.size(stateDirectory + "/" + fileName + "-wal") ?? 0
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

    /// Removes the leftovers of seals that crashed before their log record: folders marked
    /// `@sealing` (or named by the seal journal of earlier versions) that have neither a row nor a
    /// seal-log record. A folder unknown to all of them is left alone (see `unaccountedFolders`;
    /// `kioskctl outbox recover` reads it).
    func removeSealLeftovers() throws {
        let journal = sealJournal.entries()
        let marked = Self.sealingFolders(attachmentsDirectory)
        let ids = journal + marked
        guard !ids.isEmpty else { return }
        let known = try existingIds(ids)
        // A folder whose seal has a log record is a seal that returned: its rows come from the
        // log (if replay could not write them now, on a later start); never deleted here.
        let logged = Set(try sealLog.records().map(\.id))
        for id in ids where !logged.contains(id) || known.contains(id) {
            if !known.contains(id) {
                try? FileManager.default.removeItem(atPath: attachmentsDirectory + "/" + id)
            } else {
                unlink(attachmentsDirectory + "/" + id + "/" + SubmissionStore.sealingMark)
            }
        }
        for id in journal { sealJournal.end(id) }
        try? DurableFile.syncDirectory(attachmentsDirectory)
    }

    /// Attachment folders that still carry the mark of a seal in progress.
    static func sealingFolders(_ attachmentsDirectory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: attachmentsDirectory)) ?? []).filter {
            SubmissionStore.validName($0) && !$0.hasPrefix(".")
                && FileManager.default.fileExists(
                    atPath: attachmentsDirectory + "/" + $0 + "/" + SubmissionStore.sealingMark)
        }
    }

    /// Writes back the rows of every seal-log record the database lacks: a power cut that kept the
    /// record (the seal's durable point) and lost the rows' commit (not fsynced of its own), or a
    /// database rebuilt by `kioskctl outbox recover`. Rows come back sealed, queued for upload.
    public func replaySealLog() throws -> SealLogReplay {
        var out = SealLogReplay()
        let records = try sealLog.records()
        guard !records.isEmpty else { return out }
        let known = try existingIds(records.map(\.id))
        let now = clock.now
        for r in records where !known.contains(r.id) {
            let manifest: SealedManifest
            do {
                manifest = try JSONDecoder().decode(SealedManifest.self, from: try cipher.open(r.box))
            } catch {
                out.notWritten[r.caseNumber] = "its seal-log record cannot be read with this key (\(error))"
                continue
            }
            guard manifest.submissionId == r.id, manifest.caseNumber == r.caseNumber else {
                out.notWritten[r.caseNumber] = "its seal-log record names another submission"
                continue
            }
            do {
                try pool.write { db in try manifest.insertRows(db, cipher: cipher, now: now) }
                out.written.append(manifest)
            } catch {
                out.notWritten[r.caseNumber] = "its rows could not be written back (\(error))"
            }
        }
        return out
    }

    /// Which of `ids` have a row (with `purgedOnly`, a purged row), asked 500 at a time (a
    /// statement takes a limited number of parameters).
    func existingIds(_ ids: [String], purgedOnly: Bool = false) throws -> Set<String> {
        var out = Set<String>()
        var at = 0
        while at < ids.count {
            let chunk = Array(ids[at..<min(at + 500, ids.count)])
            at += chunk.count
            let found = try pool.read { db in
                var request = SubmissionRecord.select(SubmissionRecord.Columns.id).filter(keys: chunk)
                if purgedOnly { request = request.filter(SubmissionRecord.Columns.purgedAt != nil) }
                return try String.fetchAll(db, request)
            }
            out.formUnion(found)
        }
        return out
    }

    /// Drops from the seal log the records of submissions whose personal data retention purged
    /// (their files went with it); segments of earlier days only. The counter file keeps the
    /// highest numbers first.
    public func compactSealLog() throws {
        let records = try sealLog.records()
        let today = clock.dayKey(clock.now)
        let old = records.filter { $0.day < today }
        guard !old.isEmpty else { return }
        try persistCaseCounter()
        let purged = try existingIds(old.map(\.id), purgedOnly: true)
        try sealLog.compact(before: today) { !purged.contains($0.id) }
    }

    /// Attachment folders that no row and no seal in progress accounts for (a lost database's
    /// submissions): never deleted; `kioskctl outbox recover` rebuilds their rows.
    public func unaccountedFolders() throws -> [String] {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: attachmentsDirectory)) ?? []).filter {
            SubmissionStore.validName($0) && !$0.hasPrefix(".")
        }
        guard !entries.isEmpty else { return [] }
        let known = Set(try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM submission") })
        let inProgress = Set(sealJournal.entries() + Self.sealingFolders(attachmentsDirectory))
        return entries.filter { !known.contains($0) && !inProgress.contains($0) }.sorted()
    }

    /// Brings the database's per-day counter and the counter file to the same (highest) values.
    /// Also sets the in-memory counter: the highest of the file, the database's counter and case
    /// numbers, and the seal log, per day.
    func reconcileCaseCounter() throws {
        var highest: [String: Int] = [:]
        func raise(_ day: String, _ seq: Int) { if seq > highest[day] ?? 0 { highest[day] = seq } }
        let rows = try pool.read { db in try CaseCounterRecord.order(Column("day").desc).limit(62).fetchAll(db) }
        for r in rows { raise(r.day, r.seq) }
        // Rows written back without their counter (recovery, replay) count too: one scan at start.
        let used = try pool.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT substr(case_number, -12, 8) AS day, max(CAST(substr(case_number, -4) AS INTEGER)) AS seq FROM submission GROUP BY day"
            )
        }
        for r in used { if let d: String = r["day"], let q: Int = r["seq"] { raise(d, q) } }
        for r in try sealLog.records() {
            if let seq = Int(r.caseNumber.suffix(4)) { raise(String(r.caseNumber.suffix(12).prefix(8)), seq) }
        }
        for (day, seq) in caseCounter.allDays() { raise(day, seq) }
        // The file learns what only the database or the log knew (one durable write at start).
        try caseCounter.raise(
            Dictionary(uniqueKeysWithValues: highest.sorted { $0.key > $1.key }.prefix(62).map { ($0.key, $0.value) }))
        let fileDays = caseCounter.allDays()
        try pool.write { db in
            for (day, seq) in fileDays {
                let current = try CaseCounterRecord.fetchOne(db, key: day)?.seq ?? 0
                if seq > current { try CaseCounterRecord(day: day, seq: seq).save(db) }
            }
        }
        issued.withLock { $0 = highest }
    }

    /// Raises the case counter of `day` to at least `seq` (the highest number the upstream has
    /// seen from this station): both the file and the database.
    public func raiseCaseCounter(day: String, to seq: Int) async throws {
        issued.withLock { if seq > $0[day] ?? 0 { $0[day] = seq } }
        try caseCounter.raise(day: day, to: seq)
        try await pool.write { db in
            let current = try CaseCounterRecord.fetchOne(db, key: day)?.seq ?? 0
            if seq > current { try CaseCounterRecord(day: day, seq: seq).save(db) }
        }
    }

    /// Issues the next case number of `day`: one more than the highest issued (see `issued`).
    /// Not written anywhere by itself: the seal's log record, fsynced before any receipt, is what
    /// keeps it; a number whose seal failed before that may be issued again (nobody holds it).
    func reserveCaseNumber(day: String) throws -> Int {
        let seq = issued.withLock { counts -> Int in
            let seq = (counts[day] ?? 0) + 1
            if seq <= 9999 { counts[day] = seq }
            return seq
        }
        // A case number holds four digits of sequence: the 10,000th seal of a day waits for tomorrow.
        guard seq <= 9999 else {
            throw OutboxError("today's 9,999 case numbers are all issued; new submissions resume tomorrow, call staff")
        }
        return seq
    }

    static let keyCheckSetting = "outbox_key_check"
    static let keyCheckPlaintext = Data("kiosk outbox key check v1".utf8)

    /// Checks the configured key against the outbox: a stored check value sealed with the key the
    /// outbox was written with. Without one (a database from before the check), the key must read
    /// one of the stored submissions before it is recorded as the outbox's key.
    static func checkKey(_ pool: DatabasePool, _ cipher: AtRestCipher) throws -> String? {
        if cipher.isEphemeral { return nil }  // a tool that decrypts nothing
        let stored = try pool.read { db in try SettingRecord.fetchOne(db, key: keyCheckSetting)?.value }
        if let stored {
            if let box = Data(base64Encoded: stored), (try? cipher.open(box)) == keyCheckPlaintext { return nil }
            return
                "the encryption key (encryption.keyFile) is not the key this outbox was written with: put the right key back and restart kioskd; nothing is uploaded or sealed until then"
        }
        let samples = try pool.read { db in
            try Data.fetchAll(
                db, sql: "SELECT personal FROM submission WHERE purged_at IS NULL AND length(personal) > 0 LIMIT 5")
        }
        if !samples.isEmpty && !samples.contains(where: { (try? cipher.open($0)) != nil }) {
            return
                "the encryption key (encryption.keyFile) cannot read any stored submission: put the right key back and restart kioskd; nothing is uploaded or sealed until then"
        }
        let box = try cipher.seal(keyCheckPlaintext).base64EncodedString()
        try pool.write { db in
            try SettingRecord(key: keyCheckSetting, value: box, updatedAt: Date()).save(db)
        }
        return nil
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
        // Why a submission was put aside, as a kind (QuarantineCause); NULL for older rows.
        m.registerMigration("v5-quarantine-cause") { db in
            try db.execute(sql: "ALTER TABLE submission ADD COLUMN quarantine_cause TEXT")
        }
        registerCaseEventMigration(&m)
        registerServiceEvaluationMigration(&m)
        registerStaffToolsMigration(&m)
        return m
    }
}
