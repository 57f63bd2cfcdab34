import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify written directly: one datagram per message to $NOTIFY_SOCKET (a path, or an abstract
/// socket when it starts with '@'). No libsystemd. Without NOTIFY_SOCKET every call is a no-op.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half of WATCHDOG_USEC, when the service manager asked for a watchdog (and it is meant for us).
    public let watchdogInterval: Duration?
    /// Test switch (hidden, for the container suite): `KIOSKD_TEST_STOP_WATCHDOG_AFTER=SECONDS`
    /// makes `watchdog()` stop petting that long after start, as a hung main loop would, so the
    /// service manager's watchdog can be seen to kill and restart the daemon.
    let stopPettingAt: ContinuousClock.Instant?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        stopPettingAt = environment["KIOSKD_TEST_STOP_WATCHDOG_AFTER"].flatMap(Double.init).map {
            ContinuousClock.now + .milliseconds(Int64(max(0, $0) * 1000))
        }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL), sa, len)
            }
        }
        return sent == payload.count
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ s: String) { send("STATUS=\(s)") }
    public func watchdog() {
        if let stop = stopPettingAt, ContinuousClock.now >= stop { return }
        send("WATCHDOG=1")
    }
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }
}
