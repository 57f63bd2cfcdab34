import Foundation
import KioskCore
import Logging
import Synchronization

/// Appends log lines to a file (the terminal belongs to the resident screen). Callers never pass
/// personal data: case numbers, masked values and per-session ids only.
public struct FileLogHandler: LogHandler {
    final class Sink: Sendable {
        /// The file, used by one writer at a time.
        private let out: Mutex<FileHandle?>
        init(path: String) {
            let dir = (path as NSString).deletingLastPathComponent
            // Owner-only, like the rest of kioskd's state (the log may sit in the state directory).
            try? FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if !FileManager.default.fileExists(atPath: path) {
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            let handle = FileHandle(forWritingAtPath: path)
            _ = try? handle?.seekToEnd()
            out = Mutex(handle)
        }
        /// Writes one line, prefixed with the current time.
        func write(_ line: String) {
            let stamped: String = out.withLock { handle in
                let stamped = StationClock.iso8601UTC(Date()) + " " + line  // ISO 8601, UTC, without ICU
                try? handle?.write(contentsOf: Data(stamped.utf8))
                return stamped
            }
            RecentEvents.shared.append(stamped)
        }
    }

    let label: String
    let sink: Sink
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    private static let sinks = SinkRegistry()
    final class SinkRegistry: Sendable {
        private let sinks = Mutex<[String: Sink]>([:])
        func sink(_ path: String) -> Sink {
            sinks.withLock { sinks in
                if let s = sinks[path] { return s }
                let s = Sink(path: path)
                sinks[path] = s
                return s
            }
        }
    }

    public init(label: String, path: String, level: Logger.Level) {
        self.label = label
        self.sink = Self.sinks.sink(path)
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
        source: String, file: String, function: String, line: UInt
    ) {
        var all = metadata
        if let m = explicit { all.merge(m) { $1 } }
        let meta =
            all.isEmpty
            ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.write("\(level) \(label): \(message)\(meta)\n")
    }
}

/// The last few hundred log lines in memory, for `kioskctl logs` and diagnostic bundles.
public final class RecentEvents: Sendable {
    public static let shared = RecentEvents(capacity: 500)
    /// A ring of lines: `next` is where the oldest line is once the ring is full.
    private let ring = Mutex((lines: [String](), next: 0))
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func append(_ line: String) {
        let l = line.hasSuffix("\n") ? String(line.dropLast()) : line
        let capacity = capacity
        ring.withLock { r in
            if r.lines.count < capacity {
                r.lines.append(l)
            } else {
                r.lines[r.next] = l
                r.next = (r.next + 1) % capacity
            }
        }
    }

    /// Oldest first.
    public func last(_ n: Int) -> [String] {
        let capacity = capacity
        return ring.withLock { r in
            let ordered = r.lines.count < capacity ? r.lines : Array(r.lines[r.next...] + r.lines[..<r.next])
            return Array(ordered.suffix(max(0, n)))
        }
    }
}
