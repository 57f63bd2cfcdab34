// The admin socket and /metrics with clients that connect and say nothing, and the admin group
// check with real users: throwaway users and groups (CI runs as root), the real kioskctl run as
// each of them through setpriv.

import Foundation
import KioskTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import KioskApp

#if canImport(Glibc)
    import Glibc
#endif

/// A Unix-socket connection that connects and then sends nothing (or what it is told to).
final class UnixConnection: Sendable {
    let fd: Int32
    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in path.utf8.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else { throw RawConnection.RawError("connect \(path): \(String(cString: strerror(errno)))") }
    }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// True when the server closes the connection within `seconds`.
    func closedByServer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 1024)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            if read(fd, &buf, buf.count) <= 0 { return true }
        }
        return false
    }

    deinit { close(fd) }
}

func tempDir(_ prefix: String) throws -> String {
    var template = Array((NSTemporaryDirectory() + prefix + "-XXXXXX").utf8CString)
    guard let p = mkdtemp(&template) else { throw RawConnection.RawError("mkdtemp failed") }
    let path = String(cString: p)
    chmod(path, 0o755)
    return path
}

@Suite(.serialized) struct AdminSocketConcurrencyTests {
    /// 80 clients connect and say nothing, 120 trickle a request line that never ends; `status`
    /// from another client is answered at once (the old accept loop served connections on the
    /// shared dispatch pool with a per-read timeout, so such clients held its workers and `status`
    /// waited). All of them are closed once the read deadline passes. (Alone the answer takes a few
    /// milliseconds; the bound leaves room for the parallel test phase's load.)
    @Test func eightyIdleClientsDoNotDelayStatus() async throws {
        let dir = try tempDir("admin-idle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/admin.sock"
        let server = AdminSocketServer(path: path, group: nil, readTimeout: .seconds(3)) { request, _ in
            Data(#"{"ok":true,"result":"status for \#(String(decoding: request, as: UTF8.self).count) bytes"}"#.utf8)
        }
        try server.start()
        defer { server.stop() }
        let idle = try (0..<80).map { _ in try UnixConnection(path: path) }
        // And 120 that trickle a request line a byte at a time, never ending it.
        let trickling = try (0..<120).map { _ in try UnixConnection(path: path) }
        let stop = Atomic<Bool>(false)
        let trickler = Thread {
            while !stop.load(ordering: .relaxed) {
                for c in trickling { c.send("{") }
                usleep(200_000)
            }
        }
        trickler.start()
        defer { stop.store(true, ordering: .relaxed) }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try await offThread {
            try AdminClient.request(socket: path, Data(#"{"cmd":"status"}"#.utf8), timeoutSeconds: 30)
        }
        let took = clock.now - start
        print("admin socket: status answered in \(took) with 80 idle and 120 trickling clients connected")
        #expect(String(decoding: reply, as: UTF8.self).contains("\"ok\":true"))
        #expect(took < .seconds(5), "status took \(took) with 80 idle and 120 trickling clients")
        // The silent clients are closed once their read timeout passes.
        let closed = try await offThread { (idle + trickling).map { $0.closedByServer(within: 10) } }
        #expect(closed.allSatisfy { $0 }, "\(closed.filter { !$0 }.count) idle or trickling clients still open")
    }

    /// The same on /metrics (Hummingbird): 80 idle TCP clients, then a scrape is answered at once;
    /// idle connections are closed by the server's idle timeout.
    @Test func eightyIdleClientsDoNotDelayMetrics() async throws {
        let bound = Mutex<Int?>(nil)
        let app = MetricsEndpoint.application(
            port: 0, metrics: KioskMetrics.shared, logger: Logger(label: "metrics-test"), idleTimeoutSeconds: 2
        ) { port in bound.withLock { $0 = port } }
        let group = ServiceGroup(services: [app], logger: Logger(label: "metrics-test"))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await awaitCondition(10, "metrics bound") { bound.withLock { $0 } != nil }
        let port = try #require(bound.withLock { $0 })
        let idle = try (0..<80).map { _ in try RawConnection(port: port) }
        defer { for c in idle { c.close() } }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let c = try RawConnection(port: port)
        defer { c.close() }
        c.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        let reply = try await offThread { c.readUntilClosed(seconds: 30) }
        let took = clock.now - start
        print("/metrics: scrape answered in \(took) with 80 idle clients connected")
        #expect(reply.text.hasPrefix("HTTP/1.1 200"))
        #expect(took < .seconds(5), "scrape took \(took) with 80 idle clients")
        // The silent ones are closed by the idle timeout.
        let closed = try await offThread { idle.map { $0.readUntilClosed(seconds: 10).closed } }
        #expect(closed.allSatisfy { $0 }, "\(closed.filter { !$0 }.count) idle clients still open")
        await group.triggerGracefulShutdown()
    }
}

/// Real users and groups, made for the test and removed after it. The admin group's gid sits
/// between the others', so the kernel's sorted group list puts it first, in the middle or last.
@Suite(.serialized, .enabled(if: geteuid() == 0, "creates throwaway users and groups: needs root (CI runs as root)"))
struct AdminGroupRealUserTests {
    struct Fixture: Sendable {
        let tag = "kt" + String(UInt32.random(in: 0..<1_000_000), radix: 36)
        var base: UInt32 = 0
        var groups: [String] = []
        var users: [String] = []

        /// Five groups with consecutive free gids; the middle one (index 2) is the admin group.
        mutating func makeGroups() throws {
            var candidate = UInt32.random(in: 42_000..<58_000)
            while (0..<5).contains(where: { getgrgid(candidate + $0) != nil }) { candidate += 7 }
            base = candidate
            for i in 0..<5 {
                let name = "\(tag)g\(i)"
                let r = try run("/usr/sbin/groupadd", ["-g", String(base + UInt32(i)), name])
                guard r.status == 0 else { throw RawConnection.RawError("groupadd \(name): \(r.out)") }
                groups.append(name)
            }
        }

        var adminGroup: String { groups[2] }

        mutating func makeUser(_ suffix: String, primary: Int) throws -> String {
            let name = "\(tag)\(suffix)"
            let r = try run(
                "/usr/sbin/useradd",
                ["-M", "-N", "-g", groups[primary], "-s", "/usr/sbin/nologin", "-d", "/nonexistent", name])
            guard r.status == 0 else { throw RawConnection.RawError("useradd \(name): \(r.out)") }
            users.append(name)
            return name
        }

        func removeAll() {
            for u in users { _ = try? run("/usr/sbin/userdel", [u]) }
            for g in groups { _ = try? run("/usr/sbin/groupdel", [g]) }
        }
    }

    /// kioskctl run as `user` with exactly `groups` (by index) as its supplementary groups.
    func kioskctl(_ f: Fixture, user: String, primary: Int, groups: [Int], socket: String) throws -> (
        status: Int32, out: String
    ) {
        try run(
            "/usr/bin/setpriv",
            [
                "--reuid=\(user)", "--regid=\(f.base + UInt32(primary))",
                groups.isEmpty
                    ? "--clear-groups"
                    : "--groups=\(groups.map { String(f.base + UInt32($0)) }.joined(separator: ","))",
                "--", binary("kioskctl"), "logs", "--socket", socket,
            ])
    }

    @Test func theAdminGroupIsAdmittedFirstMiddleOrLastAndOthersAreRefused() async throws {
        var f = Fixture()
        defer { f.removeAll() }
        try f.makeGroups()
        let dir = try tempDir("admin-users")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/admin.sock"
        let server = AdminSocketServer(path: path, group: f.adminGroup) { _, peer in
            Data(#"{"ok":true,"result":["admitted uid \#(peer.uid)"]}"#.utf8)
        }
        try server.start()
        defer { server.stop() }
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_gid == f.base + 2, "the socket belongs to the admin group")

        // (user, primary group, supplementary groups): the admin group (2) first, middle, last.
        let members: [(String, Int, [Int])] = [
            ("first", 3, [2, 3, 4]), ("middle", 1, [1, 2, 3]), ("last", 0, [0, 1, 2]),
        ]
        for (suffix, primary, groups) in members {
            let user = try f.makeUser(suffix, primary: primary)
            let r = try await offThread { [f] in
                try kioskctl(f, user: user, primary: primary, groups: groups, socket: path)
            }
            let uid = getpwnam(user)!.pointee.pw_uid
            #expect(r.status == 0 && r.out.contains("admitted uid \(uid)"), "\(suffix): \(r.out)")
        }
        // The admin group as the primary group only.
        let primaryOnly = try f.makeUser("prim", primary: 2)
        let p = try await offThread { [f] in try kioskctl(f, user: primaryOnly, primary: 2, groups: [], socket: path) }
        #expect(p.status == 0 && p.out.contains("admitted"), "primary: \(p.out)")

        // Not a member: refused by the socket's mode, and by the peer check when the mode would let it in.
        let outsider = try f.makeUser("none", primary: 0)
        let refused = try await offThread { [f] in
            try kioskctl(f, user: outsider, primary: 0, groups: [0, 1, 3, 4], socket: path)
        }
        #expect(refused.status != 0 && !refused.out.contains("admitted"), "outsider: \(refused.out)")
        chmod(path, 0o666)
        let checked = try await offThread { [f] in
            try kioskctl(f, user: outsider, primary: 0, groups: [0, 1, 3, 4], socket: path)
        }
        #expect(checked.status != 0 && !checked.out.contains("admitted"), "outsider: \(checked.out)")
        #expect(checked.out.contains("join the \(f.adminGroup) group"), "the peer check says why: \(checked.out)")
    }
}
