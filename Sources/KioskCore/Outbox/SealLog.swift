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
/// Several seals waiting at once share one write and one fdatasync (group commit): records queue
/// while the previous batch is being synced, and the next batch takes them all. The same thread
/// inserts the batch's rows first, in one transaction it keeps open while the records are written
/// and synced, and commits it after: a seal whose rows the database refuses never gets a record,
/// no reader sees rows before their records are durable, and a seal waits for one hand-off.
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

    /// The rows of one seal, written after its record is durable.
    public typealias Rows = @Sendable (Database) throws -> Void

    private struct Entry: Sendable {
        var day: String
        var bytes: [UInt8]
        var rows: Rows?
        var waiter: CheckedContinuation<Bool, Error>
    }
    private struct Pending: Sendable {
        var entries: [Entry] = []
        var flushing = false
    }
    /// Where batches commit their rows (set once the database is open).
    private let rowsPool = Mutex<DatabasePool?>(nil)
    private let pending = Mutex(Pending())

    /// The open segment; touched only on `queue`.
    private struct Segment: Sendable {
        var day: String
        var fd: Int32
        var end: off_t
        /// The file's size: zeros past `end`, written and synced ahead (see `preallocate`).
        var allocated: off_t
    }
    /// Segments grow by this much of zeros at a time, synced once: a record then overwrites
    /// blocks that already exist, and its fdatasync has no size or allocation to write back.
    static let preallocate = 256 * 1024
    private let segment = Mutex<Segment?>(nil)
    /// Per day, where the fdatasynced part of this process's appends ends.
    private let syncedEnd = Mutex<[String: off_t]>([:])

    public init(stateDirectory: String) {
        directory = stateDirectory + "/" + Self.directoryName
    }

    /// Names the database the rows of each batch are committed to.
    func commitRows(into pool: DatabasePool) { rowsPool.withLock { $0 = pool } }

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

    /// Appends a seal's record; durable (fdatasynced, with its segment's directory entry) when it
    /// returns. Appends made while another batch syncs share the next write and fdatasync. Then
    /// `rows` run in the batch's one transaction (synchronous=NORMAL: the record is what is
    /// durable); returns whether they committed (if not, they are written back from the record).
    @discardableResult
    public func append(day: String, id: String, caseNumber: String, box: Data, rows: Rows? = nil) async throws -> Bool {
        let bytes = Self.encode(id: id, caseNumber: caseNumber, box: box)
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Bool, Error>) in
            let lead = pending.withLock { p -> Bool in
                p.entries.append(Entry(day: day, bytes: bytes, rows: rows, waiter: c))
                if p.flushing { return false }
                p.flushing = true
                return true
            }
            if lead { queue.async { self.flush() } }
        }
    }

    /// Writes batches until nothing waits (on `queue`).
    private func flush() {
        while true {
            let batch = pending.withLock { p -> [Entry]? in
                if p.entries.isEmpty {
                    p.flushing = false
                    return nil
                }
                let b = p.entries
                p.entries = []
                return b
            }
            guard let batch else { return }
            let outcome = settle(batch)
            for (e, r) in zip(batch, outcome) { e.waiter.resume(with: r) }
        }
    }

    /// A seal whose rows the database refused (a constraint, a full disk): nothing of it was
    /// written to the log, nothing of it is durable.
    public struct RowsRefused: Error, CustomStringConvertible {
        public var underlying: String
        public var description: String { "the outbox database refused the submission's rows (\(underlying))" }
    }

    /// One batch: its rows inserted first in one open transaction (each seal in its own savepoint;
    /// a seal whose rows fail is refused and its record never written), then the records of the
    /// rest written and fdatasynced per day, then the transaction committed (not fsynced of its
    /// own: the records are what is durable). The rows are invisible to every reader until the
    /// records are on disk; a failed write rolls them back. Per entry: whether its rows committed,
    /// or the error.
    private func settle(_ batch: [Entry]) -> [Result<Bool, Error>] {
        var results = [Result<Bool, Error>?](repeating: nil, count: batch.count)
        var written = false
        func writeRecords(skipping refused: Set<Int>) -> [String: Error] {
            var failed: [String: Error] = [:]
            var days: [String] = []
            for (i, e) in batch.enumerated() where !refused.contains(i) && !days.contains(e.day) { days.append(e.day) }
            for day in days {
                let bytes = batch.enumerated().filter { !refused.contains($0.offset) && $0.element.day == day }
                    .flatMap(\.element.bytes)
                do { try write(day: day, bytes: bytes) } catch { failed[day] = error }
            }
            written = true
            return failed
        }
        guard batch.contains(where: { $0.rows != nil }), let pool = rowsPool.withLock({ $0 }) else {
            let failed = writeRecords(skipping: [])
            return batch.map { e in failed[e.day].map { .failure($0) } ?? .success(false) }
        }
        do {
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                try db.inTransaction {
                    var refused = Set<Int>()
                    for (i, e) in batch.enumerated() {
                        guard let rows = e.rows else { continue }
                        do {
                            try db.inSavepoint {
                                try rows(db)
                                return .commit
                            }
                        } catch {
                            refused.insert(i)
                            results[i] = .failure(RowsRefused(underlying: "\(error)"))
                        }
                    }
                    let failed = writeRecords(skipping: refused)
                    for (i, e) in batch.enumerated() where results[i] == nil {
                        results[i] = failed[e.day].map { .failure($0) } ?? .success(true)
                    }
                    // A day that failed had its rows in this transaction: none of them commit. The
                    // other days' records are durable; their rows come back from the log.
                    if !failed.isEmpty {
                        for i in batch.indices { if case .success = results[i] { results[i] = .success(false) } }
                        return .rollback
                    }
                    return .commit
                }
            }
        } catch {
            // The transaction failed: before the records were written, nothing is durable (each
            // seal fails); after (its commit), the records hold the seals and their rows come back.
            for i in batch.indices {
                if written {
                    if case .success = results[i] { results[i] = .success(false) }
                } else if results[i] == nil {
                    results[i] = .failure(RowsRefused(underlying: "\(error)"))
                }
            }
        }
        return results.map { $0 ?? .success(false) }
    }

    private func write(day: String, bytes: [UInt8]) throws {
        try segment.withLock { seg in
            if seg?.day != day {
                if let s = seg { close(s.fd) }
                seg = nil
                seg = try open(day: day)
            }
            guard var s = seg else { return }
            let start = s.end
            var err: Int32 = 0
            if start + off_t(bytes.count) > s.allocated {
                let target =
                    (start + off_t(bytes.count)) / off_t(Self.preallocate) * off_t(Self.preallocate)
                    + off_t(Self.preallocate)
                let zeros = [UInt8](repeating: 0, count: Int(target - s.allocated))
                err = Self.writeAll(s.fd, zeros, at: s.allocated)
                if err == 0 && fdatasync(s.fd) != 0 { err = errno }
                if err == 0 { s.allocated = target }
            }
            if err == 0 { err = Self.writeAll(s.fd, bytes, at: start) }
            if err == 0 && fdatasync(s.fd) != 0 { err = errno }
            guard err == 0 else {
                // Cut this batch off so it counts for nothing; if even that fails, what is on disk
                // is unknown: the seals fail, and the next start decides from what survived.
                close(s.fd)
                seg = nil
                let fd = Glibc.open(path(day), O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    _ = ftruncate(fd, start)
                    _ = fdatasync(fd)
                    close(fd)
                }
                throw FileIOError(
                    description:
                        "cannot write the seal log \(path(day)): \(String(cString: strerror(err))); free disk space or check the disk"
                )
            }
            s.end = start + off_t(bytes.count)
            seg = s
            let end = s.end
            syncedEnd.withLock { $0[day] = end }
        }
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
        do {
            if existed {
                let bytes = try Self.read(p) ?? []
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
            // The segment's name and the folder's: durable once per process, whatever an earlier
            // run managed before it stopped.
            try DurableFile.syncDirectory(directory)
            try DurableFile.syncDirectory((directory as NSString).deletingLastPathComponent)
        } catch {
            close(fd)
            throw error
        }
        return Segment(day: day, fd: fd, end: end, allocated: allocated)
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
