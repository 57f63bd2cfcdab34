// A fault-injecting TCP proxy on 127.0.0.1 for tests and the benchmark: it sits between the
// kiosk's uploader and an upstream and, per connection, passes bytes through or breaks the link
// the way village networks do. Plain POSIX sockets and one thread per direction.

import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

public enum ProxyFault: Sendable, Equatable {
    case pass
    /// Forward this many client→server bytes, then close both sides (a cut in the middle of a request).
    case cutAfter(Int)
    /// As cutAfter, but the client sees a TCP reset.
    case resetAfter(Int)
    /// Answer the first request with 503 (Retry-After: 0) without reaching the upstream.
    case serviceUnavailable
    /// Answer the first request with a captive portal's 200 text/html login page.
    case captivePortal
    /// Delay every server→client write by this many milliseconds (and, with a limit, close after
    /// that many client bytes).
    case slow(Int, limit: Int? = nil)
    /// Forward the request; drop the connection as soon as the upstream starts replying
    /// (the upstream committed, the client never hears it).
    case loseReply
}

public final class FaultProxy: Sendable {
    public let upstreamPort: Int
    private let plan: @Sendable (Int) -> ProxyFault
    /// Everything the accept and pump threads share, under one lock (the listening socket too, so
    /// `stop` never closes a descriptor another thread is about to use).
    private struct State {
        var port = 0
        var listenFD: Int32 = -1
        var connections = 0
        var clientBytes = 0
        var serverBytes = 0
        var faults: [String: Int] = [:]
        var stopped = false
    }
    private let state = Mutex(State())

    /// `plan` picks the fault of each new connection (by its index from 0).
    public init(upstreamPort: Int, plan: @escaping @Sendable (Int) -> ProxyFault) {
        self.upstreamPort = upstreamPort
        self.plan = plan
    }

    /// Bytes the client sent through the proxy (request heads and bodies: the bytes on the wire).
    public var bytesFromClient: Int { state.withLock { $0.clientBytes } }
    public var bytesFromServer: Int { state.withLock { $0.serverBytes } }
    public var connectionCount: Int { state.withLock { $0.connections } }
    public var faultCounts: [String: Int] { state.withLock { $0.faults } }
    /// The loopback port the proxy listens on (0 before `start`).
    public var port: Int { state.withLock { $0.port } }

    public func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProxyError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw ProxyError("bind/listen: \(String(cString: strerror(errno)))")
        }
        let bound = Int(UInt16(bigEndian: addr.sin_port))
        state.withLock {
            $0.port = bound
            $0.listenFD = fd
        }
        let t = Thread { [self] in acceptLoop(fd) }
        t.start()
    }

    public func stop() {
        let fd: Int32 = state.withLock { st in
            st.stopped = true
            let f = st.listenFD
            st.listenFD = -1
            return f
        }
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    struct ProxyError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = UInt16(port).bigEndian
        return a
    }

    private func acceptLoop(_ lfd: Int32) {
        while true {
            let c = accept(lfd, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            if state.withLock({ $0.stopped }) {
                close(c)
                return
            }
            let index: Int = state.withLock { st in
                st.connections += 1
                return st.connections - 1
            }
            let fault = plan(index)
            state.withLock { $0.faults[Self.name(fault), default: 0] += 1 }
            let t = Thread { [self] in handle(client: c, fault: fault) }
            t.start()
        }
    }

    static func name(_ f: ProxyFault) -> String {
        switch f {
        case .pass: "pass"
        case .cutAfter: "cut"
        case .resetAfter: "reset"
        case .serviceUnavailable: "503"
        case .captivePortal: "captive-portal"
        case .slow: "slow"
        case .loseReply: "lost-reply"
        }
    }

    private func handle(client: Int32, fault: ProxyFault) {
        var noDelay: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        switch fault {
        case .serviceUnavailable:
            answerFirstRequest(
                client,
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"
            )
            return
        case .captivePortal:
            let body = "<html><head><title>WiFi 登录</title></head><body>请先登录本村无线网络</body></html>"
            answerFirstRequest(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
                    + body)
            return
        default: break
        }
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = Self.loopback(port: upstreamPort)
        let connected = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard server >= 0, connected else {
            if server >= 0 { close(server) }
            close(client)
            return
        }
        setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let pair = SocketPair(client: client, server: server)
        let up = Thread { [self] in
            pump(
                from: client, to: server, pair: pair,
                limit: {
                    switch fault {
                    case .cutAfter(let n), .resetAfter(let n): n
                    case .slow(_, let l): l
                    default: nil
                    }
                }(),
                reset: { if case .resetAfter = fault { true } else { false } }(), clientToServer: true, delayMs: 0,
                dropOnFirst: false)
        }
        up.start()
        var delay = 0
        if case .slow(let ms, _) = fault { delay = ms }
        pump(
            from: server, to: client, pair: pair, limit: nil, reset: false, clientToServer: false, delayMs: delay,
            dropOnFirst: fault == .loseReply)
    }

    /// Reads the first request head, writes a canned reply, closes.
    private func answerFirstRequest(_ c: Int32, _ reply: String) {
        var seen = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(c, &buf, buf.count)
            if n <= 0 { break }
            state.withLock { $0.clientBytes += n }
            seen.append(contentsOf: buf[0..<n])
            if seen.count > 65536 || Self.hasHeadEnd(seen) { break }
        }
        _ = Array(reply.utf8).withUnsafeBytes { send(c, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(c, Int32(SHUT_WR))
        // Drain a little so the close does not turn into a reset before the reply is read.
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while read(c, &buf, buf.count) > 0 {}
        close(c)
    }

    static func hasHeadEnd(_ b: [UInt8]) -> Bool {
        guard b.count >= 4 else { return false }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return true
        }
        return false
    }

    final class SocketPair: Sendable {
        let client: Int32
        let server: Int32
        /// How many directions have finished, and whether the sockets were shut down.
        private let ends = Mutex((done: 0, broken: false))
        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }
        /// Ends both directions; the second caller closes the sockets.
        func finish(reset: Bool) {
            let client = client
            let server = server
            let last: Bool = ends.withLock { e in
                if !e.broken {
                    e.broken = true
                    if reset {
                        // No FIN: wake the reader, then close with linger 0 so the client gets a RST.
                        var l = linger(l_onoff: 1, l_linger: 0)
                        setsockopt(client, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
                        shutdown(client, Int32(SHUT_RD))
                    } else {
                        shutdown(client, Int32(SHUT_RDWR))
                    }
                    shutdown(server, Int32(SHUT_RDWR))
                }
                e.done += 1
                return e.done == 2
            }
            if last {
                close(client)
                close(server)
            }
        }
    }

    private func pump(
        from: Int32, to: Int32, pair: SocketPair, limit: Int?, reset: Bool, clientToServer: Bool, delayMs: Int,
        dropOnFirst: Bool
    ) {
        var buf = [UInt8](repeating: 0, count: 65536)
        var forwarded = 0
        loop: while true {
            var want = buf.count
            if let limit { want = min(want, limit - forwarded) }
            if want <= 0 { break }
            let n = read(from, &buf, want)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if dropOnFirst { break }  // the reply is lost
            if delayMs > 0 { usleep(UInt32(delayMs) * 1000) }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { send(to, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { break loop }
                off += w
            }
            forwarded += n
            state.withLock { st in
                if clientToServer { st.clientBytes += n } else { st.serverBytes += n }
            }
        }
        pair.finish(reset: reset)
    }
}
