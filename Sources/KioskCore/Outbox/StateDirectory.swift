import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

// What the state directory keeps beside `outbox.sqlite`, so that losing the database (a technician
// moved it out to inspect it, a disk error) is noticed instead of silently starting fresh:
//
//   station.json      the station identity: written once the database is healthy; its presence
//                     says "this directory has held an outbox".
//   seal-log/DAY.log  one record per seal, fdatasynced before the seal returns: its id and case
//                     number, and the encrypted submission (item, applicant, attachment digests)
//                     from which kioskd writes back rows a power cut lost and `kioskctl outbox
//                     recover` rebuilds a lost database (see SealLog.swift).
//   case-counter      the highest case number issued per day, written at start, at seal-log
//                     compaction and at close (the seal log holds the numbers in between); kept
//                     beside the database so a lost database never reissues numbers.
//   attachments/ID/   the encrypted files of a submission. While its seal is in progress the folder
//                     also holds `@sealing`, made durable with the files and removed once the rows
//                     committed: a folder with the mark and no row is a crash leftover; a folder
//                     without either is never deleted (`kioskctl outbox recover` reads it).
//   seal-journal/ID   (earlier versions) the mark of a seal in progress; still honoured at start.
//                     Earlier versions also kept `@manifest.enc` in each folder; recover reads it.

/// The database is missing, empty or unreadable while the state directory shows earlier data.
/// kioskd refuses to start (exit 66) instead of issuing case numbers again and deleting folders.
public struct OutboxLostError: Error, CustomStringConvertible, Sendable {
    public var databasePath: String
    public var problem: String
    public var evidence: [String]
    /// kioskd's exit status for this refusal (EX_NOINPUT: restarting cannot fix it).
    public static let exitCode: Int32 = 66
    public var description: String {
        "the outbox database \(databasePath) is \(problem) but the state directory holds earlier data (\(evidence.joined(separator: ", "))): restore outbox.sqlite (and outbox.sqlite-wal if it was moved too) to the state directory, or run `kioskctl outbox recover` to rebuild what the encrypted files hold; kioskd will not start a fresh outbox over them"
    }
}

/// The station identity file (`station.json`).
public struct StationIdentity: Codable, Sendable, Equatable {
    public var stationId: String
    public var createdAt: Double
    public static let fileName = "station.json"

    static func read(_ stateDirectory: String) -> StationIdentity? {
        FileManager.default.contents(atPath: stateDirectory + "/" + fileName).flatMap {
            try? JSONDecoder().decode(StationIdentity.self, from: $0)
        }
    }

    /// Writes the identity file if there is none (durably: temp file, fsync, rename, directory fsync).
    static func ensure(_ stateDirectory: String, stationId: String, now: Date) throws {
        let path = stateDirectory + "/" + fileName
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let id = StationIdentity(stationId: stationId, createdAt: now.timeIntervalSince1970)
        try DurableFile.write(try JSONEncoder().encode(id), to: path)
    }
}

/// What the state directory shows of earlier data, checked before the database is opened.
enum StateEvidence {
    static func found(_ stateDirectory: String) -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        if fm.fileExists(atPath: stateDirectory + "/" + StationIdentity.fileName) {
            out.append("station identity \(StationIdentity.fileName)")
        }
        if !CaseCounterFile.load(stateDirectory + "/" + CaseCounterFile.fileName).days.isEmpty {
            out.append("case counter \(CaseCounterFile.fileName)")
        }
        if !SealLog(stateDirectory: stateDirectory).isEmpty { out.append("seal log \(SealLog.directoryName)") }
        let wal = stateDirectory + "/" + OutboxDatabase.fileName + "-wal"
        if let size = FileStatus.size(wal), size > 0 {
            out.append("write-ahead log \(OutboxDatabase.fileName)-wal")
        }
        let folders = ((try? fm.contentsOfDirectory(atPath: stateDirectory + "/attachments")) ?? []).filter {
            !$0.hasPrefix(".")
        }
        if !folders.isEmpty { out.append("\(folders.count) attachment folder(s)") }
        let certs = (try? fm.contentsOfDirectory(atPath: stateDirectory + "/certificates")) ?? []
        if !certs.isEmpty { out.append("\(certs.count) certificate file(s)") }
        return out
    }

    /// Why the database file cannot be the outbox without opening it through GRDB (nil: it may be).
    static func fileProblem(_ path: String) -> String? {
        guard let size = FileStatus.size(path) else { return "missing" }
        if size == 0 { return "empty" }
        return nil
    }
}

/// The case counter kept redundantly beside the database (`case-counter`): the highest sequence
/// issued per day. Two fixed 4 KiB slots are overwritten in turn (pwrite + fdatasync), each with a
/// generation and a SHA-256, so a torn write leaves the other slot; reading takes the valid slot
/// of the highest generation. Written at start, at seal-log compaction and at close; the seal log
/// holds the numbers issued in between.
public final class CaseCounterFile: Sendable {
    public static let fileName = "case-counter"
    static let slotSize = 4096
    /// Days kept in the file (older days cannot be issued again: the station clock moves forward).
    static let daysKept = 62

    struct State: Sendable {
        var generation: UInt64 = 0
        var days: [String: Int] = [:]
    }

    let path: String
    private let state: Mutex<State>

    /// Opens (creating durably when missing) the counter file in `stateDirectory`.
    public init(stateDirectory: String, create: Bool = true) throws {
        path = stateDirectory + "/" + Self.fileName
        if !FileManager.default.fileExists(atPath: path) {
            guard create else {
                state = Mutex(State())
                return
            }
            try DurableFile.write(Data(count: Self.slotSize * 2), to: path)
        }
        state = Mutex(Self.load(path))
    }

    static func load(_ path: String) -> State {
        guard let data = FileManager.default.contents(atPath: path) else { return State() }
        var best: State?
        for slot in 0..<2 {
            let lo = slot * slotSize
            guard data.count >= lo + slotSize else { continue }
            let bytes = data.subdata(in: lo..<lo + slotSize)
            // Layout: "KC1 <generation> <sha256 of body>\n" + body ("day seq\n" lines), NUL padded.
            let text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            guard let nl = text.firstIndex(of: "\n") else { continue }
            let head = text[..<nl].split(separator: " ")
            let body = String(text[text.index(after: nl)...])
            guard head.count == 3, head[0] == "KC1", let gen = UInt64(head[1]),
                sha256Hex(Data(body.utf8)) == head[2]
            else { continue }
            var s = State(generation: gen)
            for line in body.split(separator: "\n") {
                let p = line.split(separator: " ")
                if p.count == 2, let n = Int(p[1]) { s.days[String(p[0])] = n }
            }
            if best == nil || gen > best!.generation { best = s }
        }
        return best ?? State()
    }

    /// The highest sequence issued on `day` according to this file.
    public func last(day: String) -> Int { state.withLock { $0.days[day] ?? 0 } }

    /// Every day the file knows, for reconciling the database's counter.
    public func allDays() -> [String: Int] { state.withLock { $0.days } }

    /// Records that `seq` has been issued on `day` (no-op when the file already knows a higher one).
    /// Durable when it returns: pwrite of the next slot, then fdatasync.
    public func raise(day: String, to seq: Int) throws { try raise([day: seq]) }

    /// Raises several days at once: one durable write, none when the file knows them all.
    public func raise(_ days: [String: Int]) throws {
        try state.withLock { s in
            var next = s
            for (day, seq) in days where seq > (next.days[day] ?? 0) { next.days[day] = seq }
            guard next.days != s.days else { return }
            next.generation += 1
            if next.days.count > Self.daysKept {
                for d in next.days.keys.sorted().prefix(next.days.count - Self.daysKept) { next.days[d] = nil }
            }
            try Self.store(next, path: path)
            s = next
        }
    }

    static func store(_ s: State, path: String) throws {
        let body = s.days.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
        var bytes = Array("KC1 \(s.generation) \(sha256Hex(Data(body.utf8)))\n\(body)".utf8)
        guard bytes.count < slotSize else { throw FileIOError(description: "case counter record too large") }
        bytes += [UInt8](repeating: 0, count: slotSize - bytes.count)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileIOError(
                description: "cannot open \(path): \(String(cString: strerror(errno))); check the state directory")
        }
        defer { close(fd) }
        let offset = off_t(Int(s.generation % 2) * slotSize)
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, offset) }
        guard n == slotSize, fdatasync(fd) == 0 else {
            throw FileIOError(
                description:
                    "cannot write the case counter \(path): \(String(cString: strerror(errno))); free disk space or check the disk"
            )
        }
    }
}

/// The seal journal (`seal-journal/`) of earlier versions, which recorded a seal in progress
/// before its attachment folder existed. Read at start (a folder with an entry and no row is the
/// leftover of a seal that never returned) and emptied; this version marks folders `@sealing`.
public struct SealJournal: Sendable {
    public let directory: String
    public init(stateDirectory: String) { directory = stateDirectory + "/seal-journal" }

    /// Forgets a seal (its rows committed, or its files removed). Not fsynced: an entry that
    /// comes back after a power cut names a submission whose row exists, and is simply dropped.
    func end(_ id: String) { unlink(directory + "/" + id) }

    /// Submissions whose seal began and was not forgotten.
    public func entries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            SubmissionStore.validName($0)
        }
    }
}
