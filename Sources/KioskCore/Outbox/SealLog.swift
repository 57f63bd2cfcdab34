import Foundation
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
/// while the previous batch is being synced, and the next batch takes them all.
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

    private struct Pending: Sendable {
        var records: [(day: String, bytes: [UInt8])] = []
        var waiters: [CheckedContinuation<Void, Error>] = []
        var flushing = false
    }
    private let pending = Mutex(Pending())

    /// The open segment; touched only on `queue`.
    private struct Segment: Sendable {
        var day: String
        var fd: Int32
        var end: off_t
    }
    private let segment = Mutex<Segment?>(nil)

    public init(stateDirectory: String) {
        directory = stateDirectory + "/" + Self.directoryName
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
    /// returns. Appends made while another batch syncs share the next write and fdatasync.
    public func append(day: String, id: String, caseNumber: String, box: Data) async throws {
        let bytes = Self.encode(id: id, caseNumber: caseNumber, box: box)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            let lead = pending.withLock { p -> Bool in
                p.records.append((day, bytes))
                p.waiters.append(c)
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
            let batch = pending.withLock { p -> Pending? in
                if p.records.isEmpty {
                    p.flushing = false
                    return nil
                }
                let b = p
                p.records = []
                p.waiters = []
                return b
            }
            guard let batch else { return }
            let result = Result { try write(batch.records) }
            for w in batch.waiters { w.resume(with: result) }
        }
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
                bytes.withUnsafeBytes { raw in
                    while written < raw.count {
                        let n = pwrite(s.fd, raw.baseAddress! + written, raw.count - written, start + off_t(written))
                        if n < 0 {
                            if errno == EINTR { continue }
                            err = errno
                            return
                        }
                        written += n
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
        if existed {
            let bytes = [UInt8](FileManager.default.contents(atPath: p) ?? Data())
            let valid = Self.decode(bytes, day: day).validEnd
            if valid < bytes.count {
                _ = ftruncate(fd, off_t(valid))
                _ = fdatasync(fd)
            }
            end = off_t(valid)
        } else {
            do { try DurableFile.syncDirectory(directory) } catch {
                close(fd)
                throw error
            }
        }
        return Segment(day: day, fd: fd, end: end)
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
