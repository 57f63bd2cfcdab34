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
            try? handle?.write(contentsOf: Data((clock.string(from: Date()) + " " + line).utf8))
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
