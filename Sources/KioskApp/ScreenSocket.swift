import Foundation
import KioskFlow
import KioskProtocols
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// kioskd's screen on a local Unix socket (ScreenWire): frames out, keys and taps in. The resident's
/// session lives in kioskd; the display (`kiosk-screen attach` in the terminal on the kiosk's
/// monitor) only draws and relays, so either side restarts without the other losing anything.
///
/// Who may connect is decided by the peer's credentials (SO_PEERCRED/SO_PEERGROUPS; the socket
/// itself is 0666 in a directory anyone may enter): the `display` role — whose input reaches the
/// flow — needs root, kioskd's own user or the display group (`screen.displayGroup`, default
/// kioskscreen); a `watch` (read-only mirror, `kioskctl screen --watch`) also the admin group.
/// A watcher's input is never read into the flow.
public final class ScreenSocketServer: Sendable {
    public let path: String
    let displayGroup: String?
    let watchGroup: String?

    struct Client: Sendable {
        var fd: Int32
        var role: ScreenRole
        var renderer: TerminalRenderer
        var queue: DispatchQueue
        var sentMode: ScreenMode?
        var closed = false
    }
    struct State: Sendable {
        var listenFD: Int32 = -1
        var stopped = false
        var clients: [Int: Client] = [:]
        var nextId = 1
        /// The size of the display that attached last (its grid is the one frames are laid out for).
        var displaySize: ScreenSize?
        var displayId: Int?
    }
    private let state = Mutex(State())
    /// A key or tap from the display, and "something attached or resized: draw again".
    private let handlers = Mutex<(key: @Sendable (Key) -> Void, redraw: @Sendable () -> Void)>(({ _ in }, {}))

    public init(path: String, displayGroup: String?, watchGroup: String?) {
        self.path = path
        self.displayGroup = displayGroup
        self.watchGroup = watchGroup
    }

    public struct ScreenSocketError: Error, CustomStringConvertible { public var description: String }

    /// The grid of the attached display, if one is attached.
    public var displaySize: ScreenSize? { state.withLock { $0.displayId != nil ? $0.displaySize : nil } }
    public var clientCount: Int { state.withLock { $0.clients.count } }

    /// Binds the socket and starts accepting; `key` receives the display's keys and taps, `redraw`
    /// is called when a client attached or the display's size changed.
    public func start(key: @escaping @Sendable (Key) -> Void, redraw: @escaping @Sendable () -> Void) throws {
        handlers.withLock { $0 = (key, redraw) }
        guard path.utf8.count < 100 else {
            throw ScreenSocketError(
                description: "screen socket path \(path) is too long for a Unix socket (max 99 bytes)")
        }
        unlink(path)
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ScreenSocketError(description: "screen socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            let b = Array(path.utf8)
            for i in 0..<b.count { p[i] = b[i] }
            p[b.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0, listen(s, 8) == 0 else {
            let e = errno
            Glibc.close(s)
            throw ScreenSocketError(
                description:
                    "screen socket \(path) cannot be bound: \(String(cString: strerror(e))); check screen.socket and that its directory exists and is kioskd's"
            )
        }
        // Anyone may connect; the peer's credentials decide what it may do.
        chmod(path, 0o666)
        state.withLock { $0.listenFD = s }
        let t = Thread { [weak self] in self?.acceptLoop(s) }
        t.name = "screen-socket"
        t.start()
    }

    public func stop() {
        let (fd, clients): (Int32, [Int32]) = state.withLock { st in
            st.stopped = true
            return (st.listenFD, st.clients.values.map(\.fd))
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        for c in clients { shutdown(c, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    private func acceptLoop(_ fd: Int32) {
        defer {
            state.withLock { $0.listenFD = -1 }
            Glibc.close(fd)
        }
        while !state.withLock({ $0.stopped }) {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            let t = Thread { [self] in serve(c) }
            t.name = "screen-client"
            t.start()
        }
    }

    /// Whether a peer may take `role`: root, kioskd's own user, the display group; for watching
    /// also the watch (admin) group.
    static func isAllowed(
        _ p: AdminSocketServer.PeerCredentials, role: ScreenRole, ownUID: UInt32, displayGID: UInt32?, watchGID: UInt32?
    ) -> Bool {
        if p.uid == 0 || p.uid == ownUID { return true }
        func member(_ g: UInt32?) -> Bool { g.map { p.gid == $0 || p.groups.contains($0) } ?? false }
        if member(displayGID) { return true }
        return role == .watch && member(watchGID)
    }

    private func serve(_ c: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var reader = ScreenMessageReader()
        var buf = [UInt8](repeating: 0, count: 16384)
        var id: Int?
        var role: ScreenRole = .watch
        var decoder = KeyDecoder()
        defer {
            if let id { detach(id) } else { Glibc.close(c) }
        }
        guard let peer = AdminSocketServer.peerCredentials(c) else { return }
        while true {
            var pfd = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, decoder.hasPending ? 50 : 1000)
            if r < 0 {
                if errno == EINTR { continue }
                return
            }
            if r == 0 {
                // A lone ESC that nothing followed is the Esc key.
                if id != nil, role == .display {
                    let keys = decoder.flush()
                    let key = handlers.withLock { $0.key }
                    for k in keys { key(k) }
                }
                if state.withLock({ $0.stopped }) { return }
                continue
            }
            let n = read(c, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            let messages: [ScreenMessage]
            do { messages = try reader.feed(buf[0..<n]) } catch { return }
            for m in messages {
                switch m.type {
                case .hello where id == nil:
                    guard let hello = try? JSONDecoder().decode(ScreenHello.self, from: Data(m.payload)) else { return }
                    let displayGID = displayGroup.flatMap { SystemGroups.gid(named: $0) }
                    let watchGID = watchGroup.flatMap { SystemGroups.gid(named: $0) }
                    guard
                        Self.isAllowed(
                            peer, role: hello.role, ownUID: getuid(), displayGID: displayGID, watchGID: watchGID)
                    else {
                        let why =
                            hello.role == .display
                            ? "\r\nkioskd: permission denied: the display needs the \(displayGroup ?? "kioskscreen") group\r\n"
                            : "\r\nkioskd: permission denied: join the \(watchGroup ?? "kioskadm") group to watch the screen\r\n"
                        _ = Self.write(c, ScreenMessage(.output, Array(why.utf8)).encoded)
                        return
                    }
                    role = hello.role
                    id = attach(c, hello)
                case .input where id != nil && role == .display:
                    let keys = decoder.feed(m.payload)
                    let key = handlers.withLock { $0.key }
                    for k in keys { key(k) }
                case .size where id != nil && role == .display:
                    if let s = try? JSONDecoder().decode(ScreenSize.self, from: Data(m.payload)), s.columns > 0,
                        s.rows > 0
                    {
                        state.withLock { $0.displaySize = s }
                        handlers.withLock { $0.redraw }()
                    }
                default:
                    // A watcher's keys (and anything unexpected) never reach the flow.
                    break
                }
            }
        }
    }

    private func attach(_ fd: Int32, _ hello: ScreenHello) -> Int {
        let id = state.withLock { st -> Int in
            let id = st.nextId
            st.nextId += 1
            st.clients[id] = Client(
                fd: fd, role: hello.role, renderer: TerminalRenderer(width: 80, height: 24),
                queue: DispatchQueue(label: "screen-client-\(id)"))
            if hello.role == .display {
                st.displayId = id
                if hello.columns > 0, hello.rows > 0 {
                    st.displaySize = ScreenSize(columns: hello.columns, rows: hello.rows)
                }
            }
            return id
        }
        handlers.withLock { $0.redraw }()
        return id
    }

    private func detach(_ id: Int) {
        let client = state.withLock { st -> Client? in
            let c = st.clients.removeValue(forKey: id)
            if st.displayId == id { st.displayId = nil }
            return c
        }
        if let client {
            client.queue.async {
                shutdown(client.fd, Int32(SHUT_RDWR))
                Glibc.close(client.fd)
            }
        }
    }

    /// Sends the frame to every client (each gets only the rows that changed for it; a client
    /// that just attached gets the whole screen), preceded by the mode when it changed.
    public func publish(_ frame: Frame, width: Int, height: Int, largeMode: Bool) {
        let mode = ScreenMode(largeMode: largeMode, columns: width, rows: height)
        let sends: [(Int32, DispatchQueue, [UInt8])] = state.withLock { st in
            var out: [(Int32, DispatchQueue, [UInt8])] = []
            for (id, var c) in st.clients {
                var bytes: [UInt8] = []
                if c.sentMode != mode {
                    if let d = try? JSONEncoder().encode(mode) { bytes += ScreenMessage(.mode, Array(d)).encoded }
                    c.sentMode = mode
                }
                if c.renderer.width != width || c.renderer.height != height {
                    c.renderer.resize(width: width, height: height)
                }
                let text = c.renderer.render(frame)
                if !text.isEmpty { bytes += ScreenMessage(.output, Array(text.utf8)).encoded }
                st.clients[id] = c
                if !bytes.isEmpty { out.append((c.fd, c.queue, bytes)) }
            }
            return out
        }
        for (fd, q, bytes) in sends {
            q.async { if !Self.write(fd, bytes) { shutdown(fd, Int32(SHUT_RDWR)) } }
        }
    }

    /// A session ended: every client clears its screen and scrollback; the next frame is drawn whole.
    public func wipe() {
        let wipe = ScreenMessage(.output, Array("\u{1B}[0m\u{1B}[2J\u{1B}[3J\u{1B}[H".utf8)).encoded
        let sends: [(Int32, DispatchQueue)] = state.withLock { st in
            for id in st.clients.keys { st.clients[id]?.renderer.invalidate() }
            return st.clients.values.map { ($0.fd, $0.queue) }
        }
        for (fd, q) in sends { q.async { _ = Self.write(fd, wipe) } }
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBufferPointer { p in
                send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
}
