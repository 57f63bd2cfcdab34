// Raw TCP for tests: clients that misbehave on purpose.

import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to a loopback server, for clients that misbehave on purpose (slow,
/// idle, half-sent, reset), and for reading a reply byte for byte.
public final class RawConnection: Sendable {
    public let fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RawError("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw RawError("connect: \(String(cString: strerror(e)))")
        }
    }

    public struct RawError: Error, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count }
    }

    /// Everything the server sends until it closes the connection or `seconds` pass; and whether it closed.
    public func readUntilClosed(seconds: Double) -> (text: String, closed: Bool) {
        var out = [UInt8]()
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&p, 1, ms) > 0 else { continue }
            let n = read(fd, &buf, buf.count)
            if n <= 0 { return (String(decoding: out, as: UTF8.self), true) }
            out.append(contentsOf: buf[0..<n])
        }
        return (String(decoding: out, as: UTF8.self), false)
    }

    /// Closes with an RST instead of a FIN (SO_LINGER with a zero timeout).
    public func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        Glibc.close(fd)
    }

    public func close() { Glibc.close(fd) }
}

/// Runs blocking work (a socket read, a child process) on a thread of its own, so an async test
/// never holds one of the few cooperative threads the server under test needs to answer it.
public func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let t = Thread { continuation.resume(with: Result { try body() }) }
        t.start()
    }
}
