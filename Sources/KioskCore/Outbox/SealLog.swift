import Foundation
import GRDB
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The seal log (`seal-log/DAY.log`): the durable point of a seal. Each seal appends one record
/// (its id and case number in clear, the encrypted `SealedManifest`: everything its rows hold)
/// and is sealed once that record is fdatasynced. The rows are then committed without an fsync
/// of their own (synchronous=NORMAL for that one transaction): a power cut that loses them is
/// repaired at the next start, when every record without a row is written back ("replay").
///
/// The log also keeps what the earlier design kept in three places: the encrypted manifest for
/// `kioskctl outbox recover` (was `attachments/ID/@manifest.enc`), the highest case number of each
/// day (was an fsynced write of `case-counter` per seal; that file is now written at start, at
/// compaction and at close) and the mark of a seal in progress (was `seal-journal/ID`; now an
/// `@sealing` file inside the new attachment folder, made durable with the attachments).
///
/// Several seals waiting at once share one write (group commit): records queue while the previous
/// batch is being written, and the next batch takes them all. One thread (the log thread) does a
/// batch: it inserts the rows first, in one transaction on the database's writer that it keeps
/// open while the records are written and made durable, so a seal whose rows the database refuses
/// never gets a record and no reader sees rows before their records are durable. It then answers
/// the seals and commits; until the commit is done, everyone who asks for the database waits at a
/// fence (`awaitCommitted`), so whoever reads after a seal sees it. After a batch the log thread
/// stays a moment for the next one before it sleeps, and a seal alone polls a moment for its
/// answer before its caller parks: seals one after another skip both thread wake-ups.
///
/// Segments are written with O_DIRECT|O_DSYNC where the file system allows it: whole 4 KiB blocks
/// (the block the log ends in is kept in memory and written again with the new records), durable
/// when the write returns, one system call and no page cache; elsewhere (tmpfs, some overlays)
/// buffered writes and an fdatasync. Either way a record overwrites zeros written and synced
/// ahead, so its sync has no size or allocation to write back.
///
/// Record layout: "SLR1", payload length (UInt32, little-endian), payload, the first 16 bytes of
/// SHA-256 over length and payload. Payload: "ID CASENUMBER\n" then the AES-GCM box. A torn last
/// record (power cut during an append that never returned) fails its checksum and is cut off.
/// Records of a day are kept until retention purges every submission in them.
public final class SealLog: Sendable {
    public static let directoryName = "seal-log"
    static let magic: [UInt8] = Array("SLR1".utf8)

    public struct Record: Sendable, Equatable {
        public var day: String
        public var id: String
        public var caseNumber: String
        public var box: Data
    }

    public let directory: String
    private let queue = DispatchQueue(label: "kiosk.outbox.seal-log", qos: .userInitiated)

    /// The rows of one seal, inserted before its record is written, committed once it is durable.
    public typealias Rows = @Sendable (Database) throws -> Void

    private struct Entry: Sendable {
        var day: String
        var bytes: [UInt8]
        var rows: Rows?
        /// `rows` run exactly one statement, which SQLite undoes whole if it fails: no savepoint.
        var oneStatement: Bool
        var answer: Answer
    }

    /// Where a seal's answer goes: to its caller, spinning for it a moment (a seal alone, see
    /// `append`), or to the continuation the caller parked on.
    final class Answer: Sendable {
        private let state = Mutex<(result: Result<Bool, Error>?, waiter: CheckedContinuation<Bool, Error>?)>((nil, nil))
        private let ready = Atomic<Bool>(false)

        func resume(with result: Result<Bool, Error>) {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Error>? in
                if let w = s.waiter {
                    s.waiter = nil
                    return w
                }
                s.result = result
                return nil
            }
            ready.store(true, ordering: .releasing)
            waiter?.resume(with: result)
        }

        /// The answer if it comes within `limit` seconds, polling (nil: it did not; `wait`).
        func spin(for limit: Double) -> Result<Bool, Error>? {
            let stop = SealLog.monotonic() + limit
            while !ready.load(ordering: .acquiring) {
                if SealLog.monotonic() > stop { return nil }
                sched_yield()
            }
            return state.withLock { $0.result }
        }

        func wait() async throws -> Bool {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Bool, Error>) in
                let result = state.withLock { s -> Result<Bool, Error>? in
                    if s.result == nil { s.waiter = c }
                    return s.result
                }
                if let result { c.resume(with: result) }
            }
        }
    }
    private struct Pending: Sendable {
        var entries: [Entry] = []
        var flushing = false
        /// The log thread holds a batch it has not answered yet.
        var settling = false
    }
    /// Where batches commit their rows (set once the database is open).
    private let rowsPool = Mutex<(pool: DatabasePool, rowsLost: @Sendable () -> Void)?>(nil)
    private let pending = Mutex(Pending())
    /// How many entries wait in `pending`: the log thread polls this, not the lock, while it
    /// waits for the next seal.
    private let waiting = Atomic<Int>(0)

    /// The entries that wait, taken (nil: none). `stopping`: with none, the log thread stops
    /// (the next append starts it again); checked under the lock, so no append is missed.
    private func takePending(stopping: Bool = false) -> [Entry]? {
        if !stopping && waiting.load(ordering: .acquiring) == 0 { return nil }
        return pending.withLock { p -> [Entry]? in
            if p.entries.isEmpty {
                if stopping { p.flushing = false }
                return nil
            }
            let b = p.entries
            p.entries = []
            p.settling = true
            waiting.subtract(b.count, ordering: .releasing)
            return b
        }
    }

    /// The open segment; touched only on `queue`.
    private struct Segment: Sendable {
        var day: String
        var fd: Int32
        var end: off_t
        /// The file's size: zeros past `end`, written and synced ahead (see `preallocate`).
        var allocated: off_t
        /// Opened O_DIRECT|O_DSYNC: every write is whole blocks, durable when it returns (no page
        /// cache, no fdatasync); `tail` holds the bytes of the block `end` lies in, before `end`.
        /// Where the file system has no O_DIRECT (tmpfs, some overlays): buffered writes and
        /// fdatasync.
        var direct: Bool
        var tail: [UInt8]
    }
    /// The block size of direct writes (a multiple of every disk's logical block).
    static let block = 4096
    #if arch(x86_64)
        static let oDirect: Int32 = 0o40000
    #elseif arch(arm64)
        static let oDirect: Int32 = 0o200000
    #else
        static let oDirect: Int32 = 0
    #endif
    /// Segments grow by this much of zeros at a time, synced once: a record then overwrites
    /// blocks that already exist, and its fdatasync has no size or allocation to write back.
    static let preallocate = 256 * 1024
    private let segment = Mutex<Segment?>(nil)
    /// Per day, where the fdatasynced part of this process's appends ends.
    private let syncedEnd = Mutex<[String: off_t]>([:])

    /// Whether segments are written directly where the file system allows it (tests turn it off
    /// to exercise the buffered path).
    let directIO: Bool

    public init(stateDirectory: String, directIO: Bool = true) {
        directory = stateDirectory + "/" + Self.directoryName
        self.directIO = directIO
    }

    /// Names the database the rows of each batch are committed to.
    /// `rowsLost` writes back rows whose commit failed after their seals were answered.
    func commitRows(into pool: DatabasePool, rowsLost: @escaping @Sendable () -> Void) {
        rowsPool.withLock { $0 = (pool, rowsLost) }
    }

    deinit {
        segment.withLock { s in
            if let s { close(s.fd) }
        }
    }

    static func encode(id: String, caseNumber: String, box: Data) -> [UInt8] {
        var payload = Array("\(id) \(caseNumber)\n".utf8)
        payload.append(contentsOf: box)
        let n = UInt32(payload.count)
        let length: [UInt8] = [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)]
        var out = magic + length
        out.append(contentsOf: payload)
        out.append(contentsOf: sha256(length + payload).prefix(16))
        return out
    }

    /// One record at `at`, and where it ends (nil: no valid record starts there).
    static func record(_ bytes: [UInt8], at: Int, day: String) -> (Record, Int)? {
        guard at + 8 <= bytes.count, Array(bytes[at..<at + 4]) == magic else { return nil }
        let length = Array(bytes[at + 4..<at + 8])
        let n = Int(length[0]) | Int(length[1]) << 8 | Int(length[2]) << 16 | Int(length[3]) << 24
        let end = at + 8 + n + 16
        guard n > 0, end <= bytes.count else { return nil }
        let payload = Array(bytes[at + 8..<at + 8 + n])
        guard Array(sha256(length + payload).prefix(16)) == Array(bytes[at + 8 + n..<end]) else { return nil }
        guard let nl = payload.firstIndex(of: 0x0A) else { return nil }
        let head = String(decoding: payload[..<nl], as: UTF8.self).split(separator: " ")
        guard head.count == 2 else { return nil }
        return (
            Record(day: day, id: String(head[0]), caseNumber: String(head[1]), box: Data(payload[(nl + 1)...])), end
        )
    }

    /// The valid records of a segment's bytes, where the last one ends, and whether bytes that
    /// are neither records nor the zeros written ahead lie between them (damage: the records
    /// after it are still read, found by scanning for the next valid record).
    static func decode(_ bytes: [UInt8], day: String) -> (records: [Record], validEnd: Int, damaged: Bool) {
        var records: [Record] = []
        var at = 0
        var validEnd = 0
        var damaged = false
        while at < bytes.count {
            if let (r, end) = record(bytes, at: at, day: day) {
                records.append(r)
                if at > validEnd { damaged = true }
                at = end
                validEnd = end
                continue
            }
            // Not a record here: zeros written ahead (the end), or damage; look further.
            guard let next = bytes[(at + 1)...].firstIndex(of: magic[0]) else { break }
            at = next
        }
        return (records, validEnd, damaged)
    }

    /// Reads a whole segment through its own descriptor; an existing segment that cannot be read
    /// is an error (never taken for an empty one).
    static func read(_ path: String) throws -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileIOError(
                description:
                    "cannot read the seal log \(path): \(String(cString: strerror(errno))); check the state directory and the disk"
            )
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileIOError(description: "cannot read the seal log \(path): \(String(cString: strerror(errno)))")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw FileIOError(
                    description:
                        "cannot read the seal log \(path): \(n < 0 ? String(cString: strerror(errno)) : "shorter than its size"); check the disk"
                )
            }
            got += n
        }
        return bytes
    }

    /// Every valid record, oldest day first, in append order. Of a segment this process appends
    /// to, only what was fdatasynced (a record being written is not a seal yet).
    public func records() throws -> [Record] {
        var out: [Record] = []
        let synced = syncedEnd.withLock { $0 }
        for day in days() {
            guard var bytes = try Self.read(path(day)) else { continue }
            if let end = synced[day], Int(end) < bytes.count { bytes = Array(bytes[..<Int(end)]) }
            out += Self.decode(bytes, day: day).records
        }
        return out
    }

    /// The days that have a segment.
    public func days() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            name.hasSuffix(".log") && name.count == 12 && name.prefix(8).allSatisfy(\.isASCII)
                && name.prefix(8).allSatisfy(\.isNumber) ? String(name.prefix(8)) : nil
        }.sorted()
    }

    /// Whether any segment holds a record (evidence that this directory held an outbox).
    public var isEmpty: Bool {
        !days().contains { day in
            (FileStatus.size(path(day)) ?? 0) > 0
        }
    }

    func path(_ day: String) -> String { directory + "/" + day + ".log" }

    /// Appends a seal's record; durable (with its segment's directory entry) when it returns.
    /// Appends made while another batch is written share the next write. `rows` run first in the
    /// batch's one transaction (synchronous=NORMAL: the record is what is durable); returns
    /// whether they commit (if not, they are written back from the record). `rowsAreOneStatement`:
    /// `rows` run exactly one SQL statement (a failed statement leaves nothing behind, so they
    /// need no savepoint of their own).
    @discardableResult
    public func append(
        day: String, id: String, caseNumber: String, box: Data, rowsAreOneStatement: Bool = false, rows: Rows? = nil
    ) async throws -> Bool {
        let bytes = Self.encode(id: id, caseNumber: caseNumber, box: box)
        let answer = Answer()
        let (lead, alone) = pending.withLock { p -> (Bool, Bool) in
            let alone = p.entries.isEmpty && !p.settling
            p.entries.append(
                Entry(day: day, bytes: bytes, rows: rows, oneStatement: rowsAreOneStatement, answer: answer))
            waiting.add(1, ordering: .releasing)
            if p.flushing { return (false, alone) }
            p.flushing = true
            return (true, alone)
        }
        if lead { queue.async { self.flush() } }
        // A seal alone (nothing queued or being written) polls for its answer a moment before it
        // parks: one write usually returns within that, and the caller's thread then goes on
        // without a wake-up (tens of microseconds a seal). Seals that wait together park at once,
        // leaving the cooperative pool's threads to the others.
        if alone, let result = answer.spin(for: Self.spin) { return try result.get() }
        return try await answer.wait()
    }

    /// How long a seal alone polls for its answer before it parks (seconds): longer than one
    /// direct write on an SSD, short against anything a person notices.
    static let spin = 0.0005

    /// Answers the seals the log thread took; it then holds none unanswered (a seal that comes
    /// now is alone).
    private func answer(_ entries: [Entry], with results: [Result<Bool, Error>]) {
        for (e, r) in zip(entries, results) { e.answer.resume(with: r) }
        pending.withLock { $0.settling = false }
    }

    /// Writes batches until nothing waits (on `queue`). After a batch the thread stays a moment
    /// (`linger`) for the next seal before it sleeps: one after another, a resident's or a staff
    /// desk's seals then skip a thread wake-up each (tens of microseconds on a small machine).
    private func flush() {
        var idleSince: Double? = nil
        while true {
            var batch = takePending()
            if batch == nil, let t = idleSince, Self.monotonic() - t > Self.linger {
                // Lingered long enough: stop, unless a seal came just now.
                batch = takePending(stopping: true)
                if batch == nil { return }
            }
            guard let batch else {
                if idleSince == nil { idleSince = Self.monotonic() }
                sched_yield()
                continue
            }
            idleSince = nil
            settle(batch)
        }
    }

    /// How long the log thread waits for another seal before it sleeps (seconds).
    static let linger = 0.0005

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// A seal whose rows the database refused (a constraint, a full disk): nothing of it was
    /// written to the log, nothing of it is durable.
    public struct RowsRefused: Error, CustomStringConvertible {
        public var underlying: String
        public var description: String { "the outbox database refused the submission's rows (\(underlying))" }
    }

    /// Where one day's records of a batch were written: `start..<end` of its segment; durable
    /// once `fd` is fdatasynced, or at once when written directly (`durable`).
    private struct Placed {
        var day: String
        var fd: Int32
        var start: off_t
        var end: off_t
        var durable: Bool
    }

    /// One batch, on the log thread. With rows (seals): the rows are inserted first, in one open
    /// transaction on the database's writer (run on this thread), each seal in its own savepoint
    /// when several wait together; a seal whose rows the database refuses is refused and its
    /// record never written. Then the records of the rest are written and made durable, one write
    /// per day (a batch spans two days only at midnight), and the seals are answered. The
    /// transaction stays open a moment (`linger`) for the next batch, which joins it (its seals'
    /// rows each in a savepoint), up to `groupBatches` batches or `groupAge`; then it commits, not
    /// fsynced of its own (the records are what is durable). Until the commit is done the fence
    /// (`awaitCommitted`) holds back everyone who asks for the database: no reader sees rows
    /// before their records are durable, and every reader after a seal was answered sees its
    /// rows. A failed write rolls the rows back; rows lost to a rollback or a failed commit after
    /// their seals were answered are written back from the records (`rowsLost`).
    private func settle(_ first: [Entry]) {
        guard first.contains(where: { $0.rows != nil }), let target = rowsPool.withLock({ $0 }) else {
            let failed = writeRecords(first, skipping: [])
            answer(first, with: first.map { e in failed[e.day].map { .failure($0) } ?? .success(false) })
            return
        }
        // The last fence epoch answered in this transaction (0: none yet).
        var epoch: UInt64 = 0
        // The batch in progress while it is not answered, and whether its records were written.
        var unanswered = first
        var written = false
        var rolledBack = false
        do {
            try target.pool.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                defer { try? db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute() }
                try db.inTransaction {
                    let began = Self.monotonic()
                    var batch = first
                    var joined = 1
                    while true {
                        unanswered = batch
                        written = false
                        // A lone seal's rows need no savepoint while nothing else is in the transaction:
                        // if they fail, it rolls back.
                        let savepoints = epoch != 0 || batch.filter({ $0.rows != nil }).count > 1
                        var results = [Result<Bool, Error>?](repeating: nil, count: batch.count)
                        var refused = Set<Int>()
                        for i in batch.indices {
                            guard let rows = batch[i].rows else { continue }
                            do {
                                if savepoints && !batch[i].oneStatement {
                                    try Self.inSavepoint(db, rows)
                                } else {
                                    try rows(db)
                                }
                            } catch {
                                refused.insert(i)
                                results[i] = .failure(RowsRefused(underlying: "\(error)"))
                            }
                            // Some errors (a full disk, an I/O error) end the whole transaction:
                            // nothing more may run outside it. Every seal of the batch not yet
                            // refused fails with it; what was answered before comes back from the log.
                            guard db.isInsideTransaction else {
                                throw RowsRefused(underlying: "the transaction ended after a failed statement")
                            }
                        }
                        written = true
                        let failed = writeRecords(batch, skipping: refused)
                        for (i, e) in batch.enumerated() where results[i] == nil {
                            results[i] = failed[e.day].map { .failure($0) } ?? .success(true)
                        }
                        // A day that failed had its rows in this transaction: it rolls back (the other
                        // records are durable; their rows come back from the log), as it does for a
                        // lone seal's refused rows.
                        if !failed.isEmpty || (!savepoints && !refused.isEmpty) {
                            for i in batch.indices { if case .success = results[i] { results[i] = .success(false) } }
                            unanswered = []
                            answer(batch, with: results.map { $0! })
                            rolledBack = true
                            return .rollback
                        }
                        // Answered now; readers wait at the fence until the commit is done.
                        epoch = raiseFence()
                        unanswered = []
                        answer(batch, with: results.map { $0! })
                        guard joined < Self.groupBatches, let next = nextBatch(before: began + Self.groupAge) else {
                            return .commit
                        }
                        batch = next
                        joined += 1
                    }
                }
            }
        } catch {
            // The transaction failed. A batch not yet answered: before its records were written,
            // nothing of it is durable (each seal fails); after, its records hold the seals and
            // their rows come back from the log.
            let outcome: Result<Bool, Error> = written ? .success(false) : .failure(RowsRefused(underlying: "\(error)"))
            answer(unanswered, with: unanswered.map { _ in outcome })
            rolledBack = true
        }
        if epoch != 0 {
            // Seals answered whose rows did not commit: their records hold them.
            if rolledBack { DispatchQueue.global(qos: .utility).async { target.rowsLost() } }
            lowerFence(epoch)
        }
    }

    /// `rows` in a savepoint, through cached statements: all of them or, if they throw, none.
    static func inSavepoint(_ db: Database, _ rows: Rows) throws {
        try db.cachedStatement(sql: "SAVEPOINT seal").execute()
        do {
            try rows(db)
            try db.cachedStatement(sql: "RELEASE SAVEPOINT seal").execute()
        } catch {
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT seal").execute()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT seal").execute()
            throw error
        }
    }

    /// A transaction takes in further batches for this long at most, and this many.
    static let groupAge = 0.005
    static let groupBatches = 32

    /// The next batch that waits, polling for it until `linger` passes or `deadline`.
    private func nextBatch(before deadline: Double) -> [Entry]? {
        let stop = min(deadline, Self.monotonic() + Self.linger)
        while true {
            if let batch = takePending() { return batch }
            if Self.monotonic() > stop { return nil }
            sched_yield()
        }
    }

    /// Writes the records of the batch but `refused`, one write per day, each made durable
    /// (written directly, or fdatasynced), and publishes where each day's durable records end.
    /// Returns the days that failed, with the error; their records are cut off again.
    private func writeRecords(_ batch: [Entry], skipping refused: Set<Int>) -> [String: Error] {
        var days: [String] = []
        for (i, e) in batch.enumerated() where !refused.contains(i) && !days.contains(e.day) { days.append(e.day) }
        var failed: [String: Error] = [:]
        for day in days {
            let bytes = batch.enumerated().filter { !refused.contains($0.offset) && $0.element.day == day }
                .flatMap(\.element.bytes)
            do {
                let p = try write(day: day, bytes: bytes)
                if !p.durable && fdatasync(p.fd) != 0 { throw cutOff(p, errno) }
                syncedEnd.withLock { $0[day] = p.end }
            } catch {
                failed[day] = error
            }
        }
        return failed
    }

    /// The fence: seals answered (`answeredEpoch`) before their rows committed (`committedEpoch`).
    private let answeredEpoch = Atomic<UInt64>(0)
    private let committedEpoch = Atomic<UInt64>(0)
    /// Where readers wait for the fence to come down.
    private let fenceLowered = FenceCondition()

    /// A pthread mutex and condition (what NSCondition wraps, without Foundation's object machinery
    /// on kioskd's start path). Used only through `withLock`, `wait` and `broadcast`.
    final class FenceCondition: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(condition, nil)
        }
        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            condition.deallocate()
            mutex.deallocate()
        }
        func withLock<T>(_ body: () -> T) -> T {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return body()
        }
        /// Inside `withLock` only.
        func wait() { pthread_cond_wait(condition, mutex) }
        /// Inside `withLock` only.
        func broadcast() { pthread_cond_broadcast(condition) }
    }

    private func raiseFence() -> UInt64 {
        answeredEpoch.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
    }

    private func lowerFence(_ epoch: UInt64) {
        fenceLowered.withLock {
            committedEpoch.store(epoch, ordering: .releasing)
            fenceLowered.broadcast()
        }
    }

    /// Returns once the rows of every seal answered so far are committed (or lost to a failed
    /// commit and being written back): whoever reads the database after a seal sees it. Usually
    /// at once; at most one commit's time.
    public func awaitCommitted() {
        let answered = answeredEpoch.load(ordering: .acquiring)
        if committedEpoch.load(ordering: .acquiring) >= answered { return }
        fenceLowered.withLock {
            while committedEpoch.load(ordering: .acquiring) < answered { fenceLowered.wait() }
        }
    }

    /// Appends `bytes` to the day's segment (opening it, and writing zeros ahead when it is
    /// full); not synced. A failed write is cut off again and thrown.
    private func write(day: String, bytes: [UInt8]) throws -> Placed {
        try segment.withLock { seg in
            if seg?.day != day {
                if let s = seg { close(s.fd) }
                seg = nil
                seg = try open(day: day)
            }
            guard var s = seg else { throw FileIOError(description: "the seal log segment of \(day) is not open") }
            let start = s.end
            var err: Int32 = 0
            if start + off_t(bytes.count) > s.allocated {
                let target =
                    (start + off_t(bytes.count)) / off_t(Self.preallocate) * off_t(Self.preallocate)
                    + off_t(Self.preallocate)
                let zeros = [UInt8](repeating: 0, count: Int(target - s.allocated))
                if s.direct {
                    // `allocated` is a multiple of the block (see `open`).
                    err = Self.writeDirect(s.fd, prefix: [], bytes: zeros, at: s.allocated)
                } else {
                    err = Self.writeAll(s.fd, zeros, at: s.allocated)
                    if err == 0 && fdatasync(s.fd) != 0 { err = errno }
                }
                if err == 0 { s.allocated = target }
            }
            if err == 0 {
                err =
                    s.direct
                    ? Self.writeDirect(s.fd, prefix: s.tail, bytes: bytes, at: start)
                    : Self.writeAll(s.fd, bytes, at: start)
            }
            let placed = Placed(day: day, fd: s.fd, start: start, end: start + off_t(bytes.count), durable: s.direct)
            guard err == 0 else {
                seg = s
                throw cutOffLocked(&seg, placed, err)
            }
            if s.direct { s.tail = Self.tail(prefix: s.tail, bytes: bytes, at: start) }
            s.end = placed.end
            seg = s
            return placed
        }
    }

    /// The bytes of the block the end of `prefix` + `bytes` lies in, before that end (`prefix`
    /// being the bytes of `start`'s block before `start`).
    static func tail(prefix: [UInt8], bytes: [UInt8], at start: off_t) -> [UInt8] {
        let blockStart = Int(start) - prefix.count
        let end = Int(start) + bytes.count
        let tailStart = end / block * block
        if tailStart >= Int(start) { return Array(bytes[(tailStart - Int(start))...]) }
        return Array(prefix[(tailStart - blockStart)...]) + bytes
    }

    /// One direct, synchronous write: whole blocks from `start`'s block, `prefix` (that block's
    /// bytes before `start`), `bytes`, then zeros to the block's end (the zeros written ahead
    /// are there already). Durable when it returns 0; else the errno (ENOSPC for a short write).
    static func writeDirect(_ fd: Int32, prefix: [UInt8], bytes: [UInt8], at start: off_t) -> Int32 {
        let length = (prefix.count + bytes.count + block - 1) / block * block
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: block)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        prefix.withUnsafeBytes {
            if $0.count > 0 { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        bytes.withUnsafeBytes {
            if $0.count > 0 {
                (buffer.baseAddress! + prefix.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
        }
        let offset = start - off_t(prefix.count)
        var written = 0
        while written < length {
            let n = pwrite(fd, buffer.baseAddress! + written, length - written, offset + off_t(written))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            // A short direct write leaves the rest unaligned: the disk is full.
            if n == 0 || n % block != 0 { return ENOSPC }
            written += n
        }
        return 0
    }

    /// A write or sync of `p` failed: the records are cut off so they count for nothing; if even
    /// that fails, what is on disk is unknown: the seals fail, and the next start decides from
    /// what survived. Returns the error to report.
    private func cutOff(_ p: Placed, _ err: Int32) -> Error {
        segment.withLock { seg in cutOffLocked(&seg, p, err) }
    }

    private func cutOffLocked(_ seg: inout Segment?, _ p: Placed, _ err: Int32) -> Error {
        if let s = seg, s.fd == p.fd {
            close(s.fd)
            seg = nil
        }
        let fd = Glibc.open(path(p.day), O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = ftruncate(fd, p.start)
            _ = fdatasync(fd)
            close(fd)
        }
        return Self.writeError(path(p.day), err)
    }

    /// A failed write of the seal log at `path`, and what to do.
    static func writeError(_ path: String, _ err: Int32) -> FileIOError {
        FileIOError(
            description:
                "cannot write the seal log \(path): \(String(cString: strerror(err))); free disk space or check the disk"
        )
    }

    /// pwrite of all of `bytes` at `offset`; the errno of a failure (ENOSPC for a short write).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: off_t) -> Int32 {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes {
                pwrite(fd, $0.baseAddress! + written, $0.count - written, offset + off_t(written))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return ENOSPC }
            written += n
        }
        return 0
    }

    /// Opens (creating durably) a day's segment for appending, cutting off a torn last record.
    private func open(day: String) throws -> Segment {
        if !FileManager.default.fileExists(atPath: directory) { try DurableFile.makeDirectory(directory) }
        let p = path(day)
        let existed = FileManager.default.fileExists(atPath: p)
        let fd = Glibc.open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw FileIOError(
                description:
                    "cannot open the seal log \(p): \(String(cString: strerror(errno))); check the state directory")
        }
        var end: off_t = 0
        var allocated: off_t = 0
        var bytes: [UInt8] = []
        do {
            if existed {
                bytes = try Self.read(p) ?? []
                let valid = Self.decode(bytes, day: day).validEnd
                allocated = off_t(bytes.count)
                // Past the last valid record: zeros written ahead, or a torn record (an append
                // that never returned), cut off here. Damage before it is kept as it is.
                if bytes[valid...].contains(where: { $0 != 0 }) {
                    guard ftruncate(fd, off_t(valid)) == 0, fdatasync(fd) == 0 else {
                        throw FileIOError(
                            description:
                                "cannot cut the torn end of the seal log \(p): \(String(cString: strerror(errno))); check the disk"
                        )
                    }
                    allocated = off_t(valid)
                }
                end = off_t(valid)
            }
            // Zeros ahead to a whole number of blocks (direct writes start on one), synced.
            if allocated % off_t(Self.block) != 0 || allocated == 0 {
                let target = (allocated / off_t(Self.preallocate) + 1) * off_t(Self.preallocate)
                var err = Self.writeAll(fd, [UInt8](repeating: 0, count: Int(target - allocated)), at: allocated)
                if err == 0 && fdatasync(fd) != 0 { err = errno }
                guard err == 0 else { throw Self.writeError(p, err) }
                allocated = target
            }
            // The segment's name and the folder's: durable once per process, whatever an earlier
            // run managed before it stopped.
            try DurableFile.syncDirectory(directory)
            try DurableFile.syncDirectory((directory as NSString).deletingLastPathComponent)
        } catch {
            close(fd)
            throw error
        }
        let tailStart = Int(end) / Self.block * Self.block
        let tail = tailStart < bytes.count ? Array(bytes[tailStart..<Int(end)]) : []
        // Direct and synchronous where the file system allows it.
        if Self.oDirect != 0 && directIO {
            let direct = Glibc.open(p, O_RDWR | O_CLOEXEC | O_DSYNC | Self.oDirect)
            if direct >= 0 {
                close(fd)
                return Segment(day: day, fd: direct, end: end, allocated: allocated, direct: true, tail: tail)
            }
        }
        return Segment(day: day, fd: fd, end: end, allocated: allocated, direct: false, tail: [])
    }

    /// Rewrites the segments of days before `today`, keeping only the records `keep` accepts;
    /// a segment left empty is removed. Serialised with appends. Returns the records dropped.
    @discardableResult
    public func compact(before today: String, keep: @Sendable (Record) -> Bool) throws -> [Record] {
        try queue.sync {
            var dropped: [Record] = []
            for day in days() where day < today {
                guard let bytes = try Self.read(path(day)) else { continue }
                let decoded = Self.decode(bytes, day: day)
                // A damaged segment is left as it is (recover and a technician may read it).
                if decoded.damaged || bytes[decoded.validEnd...].contains(where: { $0 != 0 }) { continue }
                let all = decoded.records
                let kept = all.filter(keep)
                if kept.count == all.count && !all.isEmpty { continue }
                dropped += all.filter { !keep($0) }
                segment.withLock { seg in
                    if let s = seg, s.day == day {
                        close(s.fd)
                        seg = nil
                    }
                }
                if kept.isEmpty {
                    unlink(path(day))
                } else {
                    let bytes = kept.flatMap { Self.encode(id: $0.id, caseNumber: $0.caseNumber, box: $0.box) }
                    try DurableFile.write(Data(bytes), to: path(day))
                }
            }
            if !dropped.isEmpty { try DurableFile.syncDirectory(directory) }
            return dropped
        }
    }
}
