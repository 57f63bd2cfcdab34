import Foundation
import KioskProtocols
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// A connection to kioskd's screen socket (see ScreenWire): used by `kiosk-screen attach` (the
/// display: draws, relays keys and taps) and `kioskctl screen --watch` (a read-only mirror).
public final class ScreenConnection: Sendable {
    public let fd: Int32
    private let closed = Atomic(false)

    public struct ConnectError: Error, CustomStringConvertible {
        public var description: String
    }

    private init(fd: Int32) { self.fd = fd }

    /// Connects to the socket at `path`. Errors say what to do.
    public static func connect(path: String) throws -> ScreenConnection {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ConnectError(description: "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let b = Array(path.utf8)
        guard b.count < 108 else {
            Glibc.close(s)
            throw ConnectError(description: "screen socket path \(path) is too long (max 107 bytes)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for i in 0..<b.count { p[i] = b[i] }
            p[b.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(s)
            let why =
                e == ENOENT || e == ECONNREFUSED
                ? "kioskd is not serving its screen (no socket at \(path)): is kioskd running?"
                : e == EACCES
                    ? "permission denied on \(path): technicians need the kioskadm group" : String(cString: strerror(e))
            throw ConnectError(description: why)
        }
        return ScreenConnection(fd: s)
    }

    /// Sends one message; false once the peer is gone.
    @discardableResult
    public func send(_ m: ScreenMessage) -> Bool {
        let bytes = m.encoded
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBufferPointer { p in
                Glibc.send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    public func sendJSON<T: Encodable>(_ type: ScreenMessageType, _ value: T) -> Bool {
        guard let d = try? JSONEncoder().encode(value) else { return false }
        return send(ScreenMessage(type, Array(d)))
    }

    /// Reads what is available (blocking until something is); nil at end of stream or error.
    public func read() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            return Array(buf[0..<n])
        }
    }

    /// Closes the connection (once; later calls do nothing).
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// The client loop shared by `kiosk-screen attach` and `kioskctl screen --watch`: connects (again
/// and again: kioskd may restart), says hello with this terminal's size, writes what kioskd sends
/// to the terminal and, for the display role only, sends the terminal's input (keys, SGR mouse
/// reports from taps) and size changes. While kioskd is away the screen says so.
public final class ScreenAttachment: Sendable {
    public let socketPath: String
    public let role: ScreenRole
    let terminal: TerminalIO
    /// Called with each mode message (large mode on or off, the grid).
    let onMode: @Sendable (ScreenMode) -> Void
    private let current = Mutex<ScreenConnection?>(nil)
    private let lastSize = Mutex((0, 0))

    public init(
        socketPath: String, role: ScreenRole, terminal: TerminalIO,
        onMode: @escaping @Sendable (ScreenMode) -> Void = { _ in }
    ) {
        self.socketPath = socketPath
        self.role = role
        self.terminal = terminal
        self.onMode = onMode
    }

    /// Runs until `once` is set and the first connection ends, or forever. Returns the last error
    /// when it gives up (only with `once`).
    public func run(once: Bool = false, retryMilliseconds: Int = 200) -> String? {
        var shownWaiting = false
        if role == .display { startInputThread() }
        while true {
            let conn: ScreenConnection
            do { conn = try ScreenConnection.connect(path: socketPath) } catch {
                if once { return "\(error)" }
                if !shownWaiting {
                    // Said in both languages: nobody is in a session while kioskd is away.
                    terminal.write(
                        "\u{1B}[0m\u{1B}[2J\u{1B}[H\r\n  正在连接自助服务程序，请稍候…\r\n  Connecting to the kiosk service, please wait…"
                    )
                    shownWaiting = true
                }
                usleep(UInt32(retryMilliseconds * 1000))
                continue
            }
            shownWaiting = false
            let size = terminal.size()
            lastSize.withLock { $0 = (size.width, size.height) }
            guard conn.sendJSON(.hello, ScreenHello(role: role, columns: size.width, rows: size.height)) else {
                conn.close()
                continue
            }
            current.withLock { $0 = conn }
            var reader = ScreenMessageReader()
            var failed: String?
            while let bytes = conn.read() {
                let messages: [ScreenMessage]
                do { messages = try reader.feed(bytes) } catch {
                    failed = "\(error)"
                    break
                }
                for m in messages {
                    switch m.type {
                    case .output: terminal.writeBytes(m.payload)
                    case .mode:
                        if let mode = try? JSONDecoder().decode(ScreenMode.self, from: Data(m.payload)) { onMode(mode) }
                    default: break
                    }
                }
            }
            current.withLock { $0 = nil }
            conn.close()
            if once { return failed ?? "kioskd closed the screen connection" }
        }
    }

    /// Keys and taps from the terminal go to kioskd as they are; a resize is sent as a size message
    /// (checked whenever input is idle, and on SIGWINCH's wake-up of poll).
    private func startInputThread() {
        let fd = terminal.inputFD
        let t = Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&pfd, 1, 250)
                if r < 0 && errno != EINTR { return }
                checkSize()
                if r <= 0 { continue }
                let n = Glibc.read(fd, &buf, buf.count)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 {
                    // The terminal is gone (foot closed): nothing more to relay.
                    exit(0)
                }
                let conn = current.withLock { $0 }
                conn?.send(ScreenMessage(.input, Array(buf[0..<n])))
            }
        }
        t.name = "screen-input"
        t.start()
    }

    private func checkSize() {
        let s = terminal.size()
        let changed = lastSize.withLock { last -> Bool in
            if last == (s.width, s.height) { return false }
            last = (s.width, s.height)
            return true
        }
        if changed, let conn = current.withLock({ $0 }) {
            _ = conn.sendJSON(.size, ScreenSize(columns: s.width, rows: s.height))
        }
    }
}

/// The resident screen once, as text: attaches as a watcher, reads until the screen has been drawn
/// and kioskd has been quiet for a moment. For `kioskctl screen --once` and tests.
public enum ScreenSnapshot {
    public static func take(socketPath: String, quietMilliseconds: Int32 = 300, timeoutSeconds: Double = 5) throws
        -> String
    {
        let conn = try ScreenConnection.connect(path: socketPath)
        defer { conn.close() }
        _ = conn.sendJSON(.hello, ScreenHello(role: .watch, columns: 0, rows: 0))
        var reader = ScreenMessageReader()
        var grid: ScreenGrid?
        var said = ""  // output before any screen: kioskd refusing the peer says why
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            var pfd = pollfd(fd: conn.fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, grid == nil ? 1000 : quietMilliseconds)
            if r == 0 {
                if grid != nil { break }
                continue
            }
            guard r > 0, let bytes = conn.read() else { break }
            for m in try reader.feed(bytes) {
                switch m.type {
                case .mode:
                    if let mode = try? JSONDecoder().decode(ScreenMode.self, from: Data(m.payload)),
                        grid?.columns != mode.columns || grid?.rows != mode.rows
                    {
                        grid = ScreenGrid(columns: mode.columns, rows: mode.rows)
                    }
                case .output:
                    if grid == nil { said += String(decoding: m.payload, as: UTF8.self) } else { grid?.feed(m.payload) }
                default: break
                }
            }
        }
        guard let grid else {
            let why = said.trimmingCharacters(in: .whitespacesAndNewlines)
            throw ScreenConnection.ConnectError(
                description: why.isEmpty ? "kioskd sent no screen within \(Int(timeoutSeconds)) s" : why)
        }
        return grid.text
    }
}
