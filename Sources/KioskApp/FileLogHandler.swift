import Foundation
import Logging

/// Appends log lines to a file (the terminal belongs to the resident screen). Callers never pass
/// personal data: case numbers, masked values and per-session ids only.
public struct FileLogHandler: LogHandler {
    final class Sink: @unchecked Sendable {
        let lock = NSLock()
        let handle: FileHandle?
        let clock = ISO8601DateFormatter()   // used under the lock only
        init(path: String) {
            let dir = (path as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) {
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
            }
            handle = FileHandle(forWritingAtPath: path)
            _ = try? handle?.seekToEnd()
        }
        /// Writes one line, prefixed with the current time.
        func write(_ line: String) {
            lock.lock(); defer { lock.unlock() }
            let stamped = clock.string(from: Date()) + " " + line
            try? handle?.write(contentsOf: Data(stamped.utf8))
            RecentEvents.shared.append(stamped)
        }
    }

    let label: String
    let sink: Sink
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    private static let sinks = SinkRegistry()
    final class SinkRegistry: @unchecked Sendable {
        let lock = NSLock()
        var sinks: [String: Sink] = [:]
        func sink(_ path: String) -> Sink {
            lock.lock(); defer { lock.unlock() }
            if let s = sinks[path] { return s }
            let s = Sink(path: path); sinks[path] = s; return s
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

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let m = explicit { all.merge(m) { $1 } }
        let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.write("\(level) \(label): \(message)\(meta)\n")
    }
}

/// The last few hundred log lines in memory, for `kioskctl logs` and diagnostic bundles.
public final class RecentEvents: @unchecked Sendable {
    public static let shared = RecentEvents(capacity: 500)
    private let lock = NSLock()
    private var lines: [String] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func append(_ line: String) {
        lock.withLock {
            let l = line.hasSuffix("\n") ? String(line.dropLast()) : line
            if lines.count < capacity { lines.append(l) } else { lines[next] = l; next = (next + 1) % capacity }
        }
    }

    /// Oldest first.
    public func last(_ n: Int) -> [String] {
        lock.withLock {
            let ordered = lines.count < capacity ? lines : Array(lines[next...] + lines[..<next])
            return Array(ordered.suffix(max(0, n)))
        }
    }
}
