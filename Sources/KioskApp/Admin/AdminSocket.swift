import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The admin socket: a Unix stream socket under the runtime directory, mode 0660 and owned by the
/// technicians' group. Each connection sends one JSON request line and gets one JSON reply line.
/// The peer's credentials (SO_PEERCRED) are checked: root, kioskd's own user, or a member of the
/// admin group. The accept loop runs on its own thread and gives every connection a thread of its
/// own (at most `maxConnections` at once), so a client that connects and says nothing delays
/// nobody; its request line must arrive within `readTimeout`, or it is closed. Requests are
/// answered by `handler`.
public final class AdminSocketServer: Sendable {
    public let path: String
    let group: String?
    let handler: @Sendable (Data, PeerCredentials) async -> Data
    /// The listening socket (-1 before start and after the accept loop ended) and whether stop was asked.
    private let listener = Mutex((fd: Int32(-1), stopped: false))
    /// Connections being served right now.
    private let openConnections = Atomic<Int>(0)
    /// Most connections served at once; more are answered "busy" at once and closed.
    public let maxConnections: Int
    /// How long a client has to send its whole request line.
    public let readTimeout: Duration

    public struct PeerCredentials: Sendable, Equatable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
        /// Supplementary groups as the kernel recorded them when the peer connected (SO_PEERGROUPS),
        /// or from the group database for the peer's user where the kernel cannot tell.
        public var groups: [UInt32]

        public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
            self.pid = pid
            self.uid = uid
            self.gid = gid
            self.groups = groups
        }
    }

    public init(
        path: String, group: String?, maxConnections: Int = 256, readTimeout: Duration = .seconds(5),
        handler: @escaping @Sendable (Data, PeerCredentials) async -> Data
    ) {
        self.path = path
        self.group = group
        self.maxConnections = maxConnections
        self.readTimeout = readTimeout
        self.handler = handler
    }

    public struct AdminError: Error, CustomStringConvertible { public var description: String }

    /// Binds and starts accepting. A stale socket file from a crashed run is replaced.
    public func start() throws {
        let dir = (path as NSString).deletingLastPathComponent
        // Group-searchable (0750), so admin group members reach the socket under kioskd's umask 077.
        try? FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        guard path.utf8.count < 100 else {
            throw AdminError(description: "admin socket path \(path) is too long for a Unix socket (max 107 bytes)")
        }
        unlink(path)
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw AdminError(description: "admin socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            let b = Array(path.utf8)
            for i in 0..<b.count { p[i] = b[i] }
            p[b.count] = 0
        }
        let old = umask(0o117)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(old)
        guard rc == 0, listen(s, 128) == 0 else {
            let e = errno
            Glibc.close(s)
            throw AdminError(
                description:
                    "admin socket \(path) cannot be bound: \(String(cString: strerror(e))); check admin.socket and the runtime directory"
            )
        }
        chmod(path, 0o660)
        // The socket belongs to the admin group. Under systemd that is kioskd's primary group
        // (Group=kioskadm), so nothing is to change; elsewhere chown, which a filter may refuse.
        if let group, let gid = SystemGroups.gid(named: group) {
            var st = stat()
            if stat(path, &st) == 0, st.st_gid != gid, chown(path, getuid(), gid) != 0 {
                FileHandle.standardError.write(
                    Data(
                        "kioskd: admin socket \(path) stays group \(st.st_gid), not \(group): \(String(cString: strerror(errno))); only root and kioskd's user can use kioskctl status\n"
                            .utf8))
            }
        }
        listener.withLock { $0.fd = s }
        let t = Thread { [weak self] in self?.acceptLoop(s) }
        t.name = "admin-socket"
        t.start()
    }

    /// Wakes the accept loop (shutdown), which closes the listening socket itself as it ends: the
    /// descriptor is never closed under a thread still using it, nor reused while accept waits on it.
    public func stop() {
        let fd: Int32 = listener.withLock { l in
            l.stopped = true
            return l.fd
        }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    private func acceptLoop(_ fd: Int32) {
        defer {
            listener.withLock { $0.fd = -1 }
            Glibc.close(fd)
        }
        while !listener.withLock({ $0.stopped }) {
            let c = accept(fd, nil, nil)
            if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            let conn = c
            // A thread per connection, not a shared pool: a client that never writes holds its own
            // thread until readTimeout, never a worker that another client's `status` waits for.
            guard openConnections.add(1, ordering: .relaxed).newValue <= maxConnections else {
                openConnections.subtract(1, ordering: .relaxed)
                writeAll(
                    conn,
                    Data(
                        "{\"ok\":false,\"error\":\"kioskd is busy (too many admin connections open); try again\"}\n"
                            .utf8))
                Glibc.close(conn)
                continue
            }
            let t = Thread { [self] in
                serve(conn)
                openConnections.subtract(1, ordering: .relaxed)
            }
            t.name = "admin-connection"
            t.stackSize = 512 * 1024
            t.start()
        }
    }

    /// The request line (up to 1 MiB), read until a newline, end of input or the deadline: a client
    /// that trickles bytes gets no more time than one that sends nothing.
    func readRequest(_ c: Int32) -> Data {
        let deadline = ContinuousClock.now.advanced(by: readTimeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        var req = Data()
        while req.count < 1 << 20 {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { break }
            let ms = Int32(
                clamping: max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, ms)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let n = read(c, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            req.append(contentsOf: buf[0..<n])
            if req.contains(0x0A) { break }
        }
        return req
    }

    func credentials(_ c: Int32) -> PeerCredentials? { Self.peerCredentials(c) }

    /// The connected peer's pid, user, group and supplementary groups (also used by the screen socket).
    static func peerCredentials(_ c: Int32) -> PeerCredentials? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (needs _GNU_SOURCE in C; laid out by hand)
        struct UCred {
            var pid: Int32 = 0
            var uid: UInt32 = 0
            var gid: UInt32 = 0
        }
        var cred = UCred()
        var len = socklen_t(MemoryLayout<UCred>.size)
        let soPeerCred: Int32 = 17  // SO_PEERCRED on Linux
        guard getsockopt(c, SOL_SOCKET, soPeerCred, &cred, &len) == 0 else { return nil }
        // The kernel's record of the peer's groups at connect(): no /proc lookup (hidden from us by
        // ProtectProc=invisible, and racy against pid reuse). Older kernels: the group database.
        let groups = Self.peerGroups(c) ?? Self.databaseGroups(uid: cred.uid, gid: cred.gid) ?? []
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: groups)
    }

    /// SO_PEERGROUPS (Linux 4.13+): the supplementary groups of the process that connected, as they
    /// were at connect(). Nil when the kernel does not offer it.
    static func peerGroups(_ c: Int32) -> [UInt32]? {
        let soPeerGroups: Int32 = 59  // SO_PEERGROUPS on Linux
        var capacity = 64
        for _ in 0..<8 {
            var buf = [UInt32](repeating: 0, count: capacity)
            var len = socklen_t(capacity * MemoryLayout<UInt32>.size)
            if getsockopt(c, SOL_SOCKET, soPeerGroups, &buf, &len) == 0 {
                return Array(buf.prefix(Int(len) / MemoryLayout<UInt32>.size))
            }
            guard errno == ERANGE else { return nil }
            // The kernel says how much room it needs.
            capacity = max(capacity * 2, Int(len) / MemoryLayout<UInt32>.size)
        }
        return nil
    }

    /// The groups the database gives the user (getgrouplist), for kernels without SO_PEERGROUPS.
    static func databaseGroups(uid: UInt32, gid: UInt32) -> [UInt32]? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var strings = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pw, &strings, strings.count, &result) == 0, result != nil, let name = pw.pw_name else {
            return nil
        }
        var count: Int32 = 64
        for _ in 0..<8 {
            var buf = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &buf, &n) >= 0 { return Array(buf.prefix(Int(n))) }
            count = max(count * 2, n)
        }
        return nil
    }

    /// Root, our own user, or a member of the admin group (primary or supplementary).
    func allowed(_ p: PeerCredentials) -> Bool {
        let adminGID = group.flatMap { SystemGroups.gid(named: $0) }
        return Self.isAllowed(p, ownUID: getuid(), adminGID: adminGID)
    }

    /// The decision itself: root, `ownUID`, or `adminGID` as the primary group or anywhere among
    /// the supplementary groups (first, middle or last alike). No admin group: nobody else.
    static func isAllowed(_ p: PeerCredentials, ownUID: UInt32, adminGID: UInt32?) -> Bool {
        if p.uid == 0 || p.uid == ownUID { return true }
        guard let adminGID else { return false }
        return p.gid == adminGID || p.groups.contains(adminGID)
    }

    private func serve(_ c: Int32) {
        defer { Glibc.close(c) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let peer = credentials(c) else { return }
        guard allowed(peer) else {
            writeAll(
                c,
                Data(
                    "{\"ok\":false,\"error\":\"permission denied: join the \(group ?? "kioskd") group to use kioskctl\"}\n"
                        .utf8))
            return
        }
        let req = readRequest(c)
        guard !req.isEmpty else { return }
        let sem = DispatchSemaphore(value: 0)
        let box = ReplyBox()
        let h = handler
        Task {
            box.set(await h(req, peer))
            sem.signal()
        }
        if sem.wait(timeout: .now() + 60) == .timedOut {
            writeAll(c, Data("{\"ok\":false,\"error\":\"kioskd did not answer within 60 s\"}\n".utf8))
            return
        }
        var reply = box.get()
        if reply.last != 0x0A { reply.append(0x0A) }
        writeAll(c, reply)
    }

    final class ReplyBox: Sendable {
        private let data = Mutex(Data())
        func set(_ d: Data) { data.withLock { $0 = d } }
        func get() -> Data { data.withLock { $0 } }
    }

    private func writeAll(_ c: Int32, _ d: Data) {
        d.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = send(c, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }
}

/// kioskctl's side: one request, one reply.
public enum AdminClient {
    public static func request(socket path: String, _ body: Data, timeoutSeconds: Int = 70) throws -> Data {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else {
            throw AdminSocketServer.AdminError(description: "socket: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(s) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            let b = Array(path.utf8.prefix(106))
            for i in 0..<b.count { p[i] = b[i] }
            p[b.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            let why =
                e == ENOENT || e == ECONNREFUSED
                ? "kioskd is not running (no admin socket at \(path))"
                : e == EACCES
                    ? "permission denied on \(path): join the kioskd admin group" : String(cString: strerror(e))
            throw AdminSocketServer.AdminError(description: why)
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var req = body
        if req.last != 0x0A { req.append(0x0A) }
        _ = req.withUnsafeBytes { send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(s, &buf, buf.count)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        guard !out.isEmpty else {
            throw AdminSocketServer.AdminError(description: "kioskd closed the admin connection without answering")
        }
        return out
    }
}
