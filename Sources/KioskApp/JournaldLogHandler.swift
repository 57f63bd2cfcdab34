import Foundation
import Synchronization
import Logging
#if canImport(Glibc)
    import Glibc
#endif

/// Logs to journald through its native protocol: one datagram per entry to
/// `/run/systemd/journal/socket`, each field `NAME=value\n` (or, for a value with a newline,
/// `NAME\n` + its length as 64-bit little-endian + the bytes + `\n`). Fields: `MESSAGE`,
/// `PRIORITY` (syslog levels), `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and the
/// kiosk's own structured fields: `KIOSK_EVENT` (the event, from `event` metadata or the message),
/// `KIOSK_CASE` (case number), `KIOSK_DEVICE`, and `KIOSK_<KEY>` for every other metadata key.
/// `journalctl -u kioskd KIOSK_CASE=GH…` then finds a submission's lines.
///
/// Callers never pass personal data (case numbers, device names and states, counts only); as for
/// `kioskctl logs`, anything shaped like an ID number is masked again before it leaves. Every line
/// also goes to `RecentEvents` (kioskctl logs, bundles). If the socket refuses an entry, the line
/// goes to standard error with a `<priority>` prefix, which the journal's stream reader parses.
public struct JournaldLogHandler: LogHandler {
    public static let defaultSocketPath = "/run/systemd/journal/socket"

    /// The datagram socket to journald (one per process and path).
    final class Sink: Sendable {
        let path: String
        /// The socket, used by one sender at a time.
        private let fd: Mutex<Int32>
        nonisolated(unsafe) private let address: sockaddr_un  // written once in init
        private let addressLength: socklen_t
        let identifier: String

        init(path: String, identifier: String) {
            self.path = path
            self.identifier = identifier
            let bytes = Array(path.utf8)
            var address = sockaddr_un()
            var length: socklen_t = 0
            if bytes.count < MemoryLayout.size(ofValue: address.sun_path) {
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
                length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
            }
            self.address = address
            addressLength = length
            let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if s >= 0 {
                // journald entries can be larger than the default send buffer allows.
                var size: Int32 = 8 << 20
                _ = setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            fd = Mutex(s)
        }

        deinit {
            let s = fd.withLock { $0 }
            if s >= 0 { close(s) }
        }

        /// Sends one entry; false when journald did not take it.
        func send(_ datagram: [UInt8]) -> Bool {
            let addressLength = addressLength
            return fd.withLock { fd in
                guard fd >= 0, addressLength > 0 else { return false }
                var addr = address
                let sent = withUnsafePointer(to: &addr) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        datagram.withUnsafeBytes {
                            sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, addressLength)
                        }
                    }
                }
                return sent == datagram.count
            }
        }
    }

    private static let sinks = SinkRegistry()
    final class SinkRegistry: Sendable {
        private let sinks = Mutex<[String: Sink]>([:])
        func sink(_ path: String, identifier: String) -> Sink {
            sinks.withLock { sinks in
                if let s = sinks[path] { return s }
                let s = Sink(path: path, identifier: identifier)
                sinks[path] = s
                return s
            }
        }
    }

    let label: String
    let sink: Sink
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(
        label: String, level: Logger.Level, socketPath: String = Self.defaultSocketPath,
        identifier: String = ProcessInfo.processInfo.processName
    ) {
        self.label = label
        self.logLevel = level
        self.sink = Self.sinks.sink(socketPath, identifier: identifier)
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
        let entry = Self.fields(
            level: level, message: "\(message)", metadata: all, identifier: sink.identifier,
            label: label, file: file, function: function, line: line)
        let text = entry.first { $0.name == "MESSAGE" }?.value ?? ""
        RecentEvents.shared.append(Date().formatted(.iso8601) + " \(level) \(label): \(text)")
        if !sink.send(Self.encode(entry)) {
            FileHandle.standardError.write(Data("<\(Self.priority(level))>\(text)\n".utf8))
        }
    }

    // MARK: - The entry

    public struct Field: Equatable, Sendable {
        public var name: String
        public var value: String
    }

    /// syslog priorities: trace and debug 7, info 6, notice 5, warning 4, error 3, critical 2.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The fields of one entry, every value scrubbed of anything shaped like an ID number.
    static func fields(
        level: Logger.Level, message: String, metadata: Logger.Metadata, identifier: String,
        label: String, file: String, function: String, line: UInt
    ) -> [Field] {
        let meta = metadata.sorted { $0.key < $1.key }.map { ($0.key, AdminService.scrub("\($0.value)")) }
        let message = AdminService.scrub(message)
        let text = meta.isEmpty ? message : message + " " + meta.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        var out = [
            Field(name: "MESSAGE", value: text),
            Field(name: "PRIORITY", value: "\(priority(level))"),
            Field(name: "SYSLOG_IDENTIFIER", value: identifier),
            Field(name: "KIOSK_LOGGER", value: label),
            Field(name: "CODE_FILE", value: file),
            Field(name: "CODE_LINE", value: "\(line)"),
            Field(name: "CODE_FUNC", value: function),
        ]
        var event = slug(message)
        for (key, value) in meta {
            switch key {
            case "event": event = value
            case "case", "caseNumber": out.append(Field(name: "KIOSK_CASE", value: value))
            case "device", "kind": out.append(Field(name: "KIOSK_DEVICE", value: value))
            default:
                if let name = fieldName(key) { out.append(Field(name: name, value: value)) }
            }
        }
        if !event.isEmpty { out.append(Field(name: "KIOSK_EVENT", value: event)) }
        return out
    }

    /// `camelCase-key` → `KIOSK_CAMEL_CASE_KEY`: journal field names are A–Z, 0–9 and `_`, at most 64.
    static func fieldName(_ key: String) -> String? {
        var name = "KIOSK_"
        var previousLower = false
        for u in key.unicodeScalars {
            if u.properties.isUppercase, previousLower { name += "_" }
            if ("a"..."z").contains(u) || ("A"..."Z").contains(u) || ("0"..."9").contains(u) {
                name += String(u).uppercased()
            } else if !name.hasSuffix("_") {
                name += "_"
            }
            previousLower = ("a"..."z").contains(u) || ("0"..."9").contains(u)
        }
        while name.hasSuffix("_") { name.removeLast() }
        guard name.count > "KIOSK_".count else { return nil }
        return String(name.prefix(64))
    }

    /// "submission sealed" → "submission-sealed": a stable name to filter on (ASCII words only).
    static func slug(_ message: String) -> String {
        var out = ""
        for u in message.unicodeScalars {
            if ("a"..."z").contains(u) || ("0"..."9").contains(u) {
                out.unicodeScalars.append(u)
            } else if ("A"..."Z").contains(u) {
                out += String(u).lowercased()
            } else if !out.isEmpty, !out.hasSuffix("-") {
                out += "-"
            }
            if out.count >= 48 { break }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out
    }

    /// The native protocol's bytes for one entry. Values are cut at 48 KiB (no log line of ours
    /// comes near that), so an entry always fits one datagram.
    static func encode(_ fields: [Field]) -> [UInt8] {
        var out: [UInt8] = []
        for f in fields {
            var value = Array(f.value.utf8)
            if value.count > 48 * 1024 { value = Array(value.prefix(48 * 1024)) }
            out += Array(f.name.utf8)
            if value.contains(0x0A) {
                out.append(0x0A)
                var n = UInt64(value.count).littleEndian
                withUnsafeBytes(of: &n) { out += $0 }
                out += value
            } else {
                out.append(UInt8(ascii: "="))
                out += value
            }
            out.append(0x0A)
        }
        return out
    }

    // MARK: - Choosing journal or file

    /// True when this process's standard output or error is a stream into the journal: systemd sets
    /// `JOURNAL_STREAM` to that stream's `device:inode` (systemd.exec(5)). Checked against the
    /// descriptors themselves, so a variable inherited by a shell or a test is not enough.
    public static func outputGoesToJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool
    {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        for fd: Int32 in [1, 2] {
            var st = stat()
            if fstat(fd, &st) == 0, UInt64(st.st_dev) == dev, UInt64(st.st_ino) == ino { return true }
        }
        return false
    }

    /// kioskd's log handler factory: under systemd (standard output or error connected to the
    /// journal, and journald's socket present) the journal; otherwise the log file.
    public static func factory(
        fileFallback path: String, level: Logger.Level,
        socketPath: String = defaultSocketPath,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> @Sendable (String) -> any LogHandler {
        if outputGoesToJournal(environment: environment), access(socketPath, W_OK) == 0 {
            return { label in JournaldLogHandler(label: label, level: level, socketPath: socketPath) }
        }
        return { label in FileLogHandler(label: label, path: path, level: level) }
    }
}
