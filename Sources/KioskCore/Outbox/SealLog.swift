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
/// then commits the batch's rows in one transaction, so a seal waits for one hand-off, not two.
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

    /// The valid records of a segment's bytes and where the valid part ends.
    static func decode(_ bytes: [UInt8], day: String) -> (records: [Record], validEnd: Int) {
        var records: [Record] = []
        var at = 0
        while at + 8 <= bytes.count, Array(bytes[at..<at + 4]) == magic {
            let length = Array(bytes[at + 4..<at + 8])
            let n = Int(length[0]) | Int(length[1]) << 8 | Int(length[2]) << 16 | Int(length[3]) << 24
            let end = at + 8 + n + 16
            guard n > 0, end <= bytes.count else { break }
            let payload = Array(bytes[at + 8..<at + 8 + n])
            guard Array(sha256(length + payload).prefix(16)) == Array(bytes[at + 8 + n..<end]) else { break }
            guard let nl = payload.firstIndex(of: 0x0A) else { break }
            let head = String(decoding: payload[..<nl], as: UTF8.self).split(separator: " ")
            guard head.count == 2 else { break }
            records.append(
                Record(day: day, id: String(head[0]), caseNumber: String(head[1]), box: Data(payload[(nl + 1)...])))
            at = end
        }
        return (records, at)
    }

    /// Every valid record, oldest day first, in append order.
    public func records() -> [Record] {
        var out: [Record] = []
        for day in days() {
            guard let data = FileManager.default.contents(atPath: path(day)) else { continue }
            out += Self.decode([UInt8](data), day: day).records
        }
        return out
    }

    /// The days that have a segment.
    public func days() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            name.hasSuffix(".log") && name.count == 12 ? String(name.prefix(8)) : nil
        }.sorted()
    }

    /// Whether any segment holds a record (evidence that this directory held an outbox).
    public var isEmpty: Bool {
        !days().contains { day in
            ((try? FileManager.default.attributesOfItem(atPath: path(day)))?[.size] as? Int ?? 0) > 0
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
            do {
                try write(batch.map { ($0.day, $0.bytes) })
            } catch {
                for e in batch { e.waiter.resume(throwing: error) }
                continue
            }
            let committed = commit(batch.map(\.rows))
            for (e, ok) in zip(batch, committed) { e.waiter.resume(returning: ok) }
        }
    }

    /// Runs the batch's rows in one transaction, each in its own savepoint (one seal's failure
    /// leaves the others); the transaction is not fsynced of its own.
    private func commit(_ rows: [Rows?]) -> [Bool] {
        var ok = [Bool](repeating: false, count: rows.count)
        guard rows.contains(where: { $0 != nil }), let pool = rowsPool.withLock({ $0 }) else { return ok }
        do {
            ok = try pool.writeWithoutTransaction { db -> [Bool] in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
                var done = [Bool](repeating: false, count: rows.count)
                try db.inTransaction {
                    for (i, r) in rows.enumerated() {
                        guard let r else { continue }
                        do {
                            try db.inSavepoint {
                                try r(db)
                                return .commit
                            }
                            done[i] = true
                        } catch {}
                    }
                    return .commit
                }
                return done
            }
        } catch {
            return [Bool](repeating: false, count: rows.count)
        }
        return ok
    }

    private func write(_ records: [(day: String, bytes: [UInt8])]) throws {
        var byDay: [(String, [UInt8])] = []
        for r in records {
            if let i = byDay.firstIndex(where: { $0.0 == r.day }) {
                byDay[i].1 += r.bytes
            } else {
                byDay.append((r.day, r.bytes))
            }
        }
        try segment.withLock { seg in
            for (day, bytes) in byDay {
                if seg?.day != day {
                    if let s = seg { close(s.fd) }
                    seg = nil
                    seg = try open(day: day)
                }
                guard var s = seg else { continue }
                let start = s.end
                var written = 0
                var err: Int32 = 0
                if start + off_t(bytes.count) > s.allocated {
                    let target =
                        (start + off_t(bytes.count)) / off_t(Self.preallocate) * off_t(Self.preallocate)
                        + off_t(Self.preallocate)
                    let zeros = [UInt8](repeating: 0, count: Int(target - s.allocated))
                    let n = zeros.withUnsafeBytes { pwrite(s.fd, $0.baseAddress, $0.count, s.allocated) }
                    if n == zeros.count && fdatasync(s.fd) == 0 { s.allocated = target } else { err = errno }
                }
                if err == 0 {
                    bytes.withUnsafeBytes { raw in
                        while written < raw.count {
                            let n = pwrite(
                                s.fd, raw.baseAddress! + written, raw.count - written, start + off_t(written))
                            if n < 0 {
                                if errno == EINTR { continue }
                                err = errno
                                return
                            }
                            written += n
                        }
                    }
                }
                if err == 0 && fdatasync(s.fd) != 0 { err = errno }
                guard err == 0 else {
                    // Nothing of this batch counts: cut it off so the next append starts clean.
                    _ = ftruncate(s.fd, start)
                    _ = fdatasync(s.fd)
                    close(s.fd)
                    seg = nil
                    throw FileIOError(
                        description:
                            "cannot write the seal log \(path(day)): \(String(cString: strerror(err))); nothing was submitted; free disk space or check the disk"
                    )
                }
                s.end = start + off_t(written)
                seg = s
            }
        }
    }

    /// Opens (creating durably) a day's segment for appending, cutting off a torn last record.
    private func open(day: String) throws -> Segment {
        if !FileManager.default.fileExists(atPath: directory) {
            try DurableFile.makeDirectory(directory)
            try DurableFile.syncDirectory((directory as NSString).deletingLastPathComponent)
        }
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
        if existed {
            let bytes = [UInt8](FileManager.default.contents(atPath: p) ?? Data())
            let valid = Self.decode(bytes, day: day).validEnd
            allocated = off_t(bytes.count)
            // Past the last valid record: zeros written ahead, or a torn record cut off here.
            if bytes[valid...].contains(where: { $0 != 0 }) {
                _ = ftruncate(fd, off_t(valid))
                _ = fdatasync(fd)
                allocated = off_t(valid)
            }
            end = off_t(valid)
        } else {
            do { try DurableFile.syncDirectory(directory) } catch {
                close(fd)
                throw error
            }
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
                guard let data = FileManager.default.contents(atPath: path(day)) else { continue }
                let all = Self.decode([UInt8](data), day: day).records
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
