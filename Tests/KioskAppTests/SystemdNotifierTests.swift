import Foundation
import Testing
@testable import KioskApp
#if canImport(Glibc)
    import Glibc
#endif

/// A datagram socket the test owns, standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let name: String

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        name =
            abstract
            ? "@kiosk-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            : NSTemporaryDirectory() + "notify-\(UUID().uuidString.prefix(8)).sock"
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard rc == 0 else { throw CocoaError(.fileWriteUnknown) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() -> String? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }
}

@Suite struct SystemdNotifierTests {
    @Test(arguments: [false, true]) func readyAndStatusReachTheSocket(abstract: Bool) throws {
        let s = try NotifySocket(abstract: abstract)
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name])
        n.ready(status: "ready; idCardReader=online")
        #expect(s.receive() == "READY=1\nSTATUS=ready; idCardReader=online")
        n.watchdog()
        #expect(s.receive() == "WATCHDOG=1")
    }

    @Test(arguments: [false, true]) func stoppingReloadingAndUnusableSockets(abstract: Bool) throws {
        let s = try NotifySocket(abstract: abstract)
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name])
        n.stopping()
        #expect(s.receive() == "STOPPING=1\nSTATUS=stopping")
        #expect(n.send("RELOADING=1\nSTATUS=reloading configuration"))
        #expect(s.receive() == "RELOADING=1\nSTATUS=reloading configuration")
        // A name too long for sun_path, a socket nobody listens on, an empty NOTIFY_SOCKET: false, no crash.
        #expect(
            SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]).send("READY=1")
                == false)
        #expect(
            SystemdNotifier(environment: ["NOTIFY_SOCKET": "@kiosk-nobody-\(UUID().uuidString)"]).send("READY=1")
                == false)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).socketPath == nil)
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        let n = SystemdNotifier(environment: ["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(n.watchdogInterval == .seconds(5))
        let other = SystemdNotifier(environment: ["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"])
        #expect(other.watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:]).send("READY=1") == false)
    }
}
