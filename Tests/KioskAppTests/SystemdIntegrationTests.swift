import Foundation
import KioskProtocols
import KioskTerminal
import Logging
import KioskTestSupport
import Testing
@testable import KioskApp
#if canImport(Glibc)
    import Glibc
#endif

/// The admin socket's peer check: a member of the admin group is let in wherever the group stands
/// among the peer's supplementary groups (the old /proc parser never matched the first one).
@Suite struct AdminPeerCheckTests {
    let admin: UInt32 = 1001
    func peer(uid: UInt32 = 1500, gid: UInt32 = 1500, _ groups: [UInt32]) -> AdminSocketServer.PeerCredentials {
        AdminSocketServer.PeerCredentials(pid: 4242, uid: uid, gid: gid, groups: groups)
    }

    @Test(arguments: [[1001, 1002, 1003], [1000, 1001, 1003], [1000, 1002, 1001], [1001]] as [[UInt32]])
    func adminGroupAnywhereAmongSupplementaryGroups(groups: [UInt32]) {
        #expect(AdminSocketServer.isAllowed(peer(groups), ownUID: 999, adminGID: admin))
    }

    @Test func othersAreRefused() {
        #expect(!AdminSocketServer.isAllowed(peer([]), ownUID: 999, adminGID: admin))
        #expect(!AdminSocketServer.isAllowed(peer([1000, 1002, 10010, 100]), ownUID: 999, adminGID: admin))
        // No admin group on this machine: only root and kioskd itself.
        #expect(!AdminSocketServer.isAllowed(peer([1001]), ownUID: 999, adminGID: nil))
    }

    @Test func rootOwnUserAndPrimaryGroup() {
        #expect(AdminSocketServer.isAllowed(peer(uid: 0, gid: 0, []), ownUID: 999, adminGID: admin))
        #expect(AdminSocketServer.isAllowed(peer(uid: 999, gid: 999, []), ownUID: 999, adminGID: nil))
        #expect(AdminSocketServer.isAllowed(peer(gid: 1001, []), ownUID: 999, adminGID: admin))
    }

    /// The kernel's SO_PEERGROUPS on a real socket pair is this process's own group list.
    @Test func peerGroupsComeFromTheKernel() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let n = getgroups(0, nil)
        var own = [gid_t](repeating: 0, count: Int(max(n, 1)))
        let count = getgroups(n, &own)
        let server = AdminSocketServer(path: "/nonexistent/admin.sock", group: nil) { d, _ in d }
        let cred = try #require(server.credentials(fds[0]))
        #expect(cred.pid == getpid())
        #expect(cred.uid == getuid())
        #expect(cred.gid == getgid())
        #expect(Set(cred.groups) == Set(own.prefix(Int(count))))
        #expect(AdminSocketServer.peerGroups(fds[0]).map(Set.init) == Set(own.prefix(Int(count))))
    }

    /// Kernels without SO_PEERGROUPS: the group database (root's groups include root's group).
    @Test func databaseGroupsForTheFallback() throws {
        let groups = try #require(AdminSocketServer.databaseGroups(uid: getuid(), gid: getgid()))
        #expect(groups.contains(getgid()))
        #expect(AdminSocketServer.databaseGroups(uid: 4_000_000_000, gid: 1) == nil, "unknown user")
    }
}

/// journald's native protocol, written by JournaldLogHandler.
@Suite(.serialized) struct JournaldLogHandlerTests {
    /// A datagram socket standing in for /run/systemd/journal/socket.
    final class FakeJournal {
        let fd: Int32
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "journal-\(UUID().uuidString.prefix(8)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0 else { throw CocoaError(.fileWriteUnknown) }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit {
            close(fd)
            unlink(path)
        }

        /// One entry, decoded the way journald does (both the text and the binary field form).
        func receive() -> [String: String]? {
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { return nil }
            return FakeJournal.decode(Array(buf[0..<n]))
        }

        static func decode(_ b: [UInt8]) -> [String: String]? {
            var out: [String: String] = [:]
            var i = 0
            while i < b.count {
                guard let nl = b[i...].firstIndex(of: 0x0A) else { return nil }
                let line = b[i..<nl]
                if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
                    out[String(decoding: b[i..<eq], as: UTF8.self)] = String(decoding: b[(eq + 1)..<nl], as: UTF8.self)
                    i = nl + 1
                } else {
                    let name = String(decoding: line, as: UTF8.self)
                    guard nl + 9 <= b.count else { return nil }
                    var len: UInt64 = 0
                    for k in 0..<8 { len |= UInt64(b[nl + 1 + k]) << (8 * UInt64(k)) }
                    let start = nl + 9
                    let end = start + Int(len)
                    guard end < b.count, b[end] == 0x0A else { return nil }
                    out[name] = String(decoding: b[start..<end], as: UTF8.self)
                    i = end + 1
                }
            }
            return out
        }
    }

    @Test func entryCarriesPriorityMessageAndStructuredFields() throws {
        let j = try FakeJournal()
        var log = Logger(label: "kioskd") {
            JournaldLogHandler(label: $0, level: .info, socketPath: j.path, identifier: "kioskd")
        }
        log[metadataKey: "station"] = "XY-GH-001"
        log.info("submission sealed", metadata: ["case": "GH202612070001", "item": "XY-T-001", "attachments": "2"])
        let e = try #require(j.receive())
        #expect(e["MESSAGE"] == "submission sealed attachments=2 case=GH202612070001 item=XY-T-001 station=XY-GH-001")
        #expect(e["PRIORITY"] == "6")
        #expect(e["SYSLOG_IDENTIFIER"] == "kioskd")
        #expect(e["KIOSK_CASE"] == "GH202612070001")
        #expect(e["KIOSK_EVENT"] == "submission-sealed")
        #expect(e["KIOSK_ITEM"] == "XY-T-001")
        #expect(e["KIOSK_STATION"] == "XY-GH-001")
        #expect(e["CODE_FUNC"] != nil && e["CODE_LINE"] != nil)

        log.warning(
            "device state", metadata: ["device": "receiptPrinter", "state": "noDevice", "event": "device-state"])
        let d = try #require(j.receive())
        #expect(d["PRIORITY"] == "4")
        #expect(d["KIOSK_DEVICE"] == "receiptPrinter")
        #expect(d["KIOSK_STATE"] == "noDevice")
        #expect(d["KIOSK_EVENT"] == "device-state")

        log.critical("start-up failed")
        #expect(j.receive()?["PRIORITY"] == "2")
        log.debug("below the level")
        log.error("after the debug line")
        #expect(
            j.receive()?["MESSAGE"] == "after the debug line station=XY-GH-001", "debug is below the configured level")
    }

    @Test func idNumbersAreMaskedAndNewlinesUseTheBinaryForm() throws {
        let j = try FakeJournal()
        let log = Logger(label: "kioskd") {
            JournaldLogHandler(label: $0, level: .info, socketPath: j.path, identifier: "kioskd")
        }
        // Made-up number of the shape of a resident ID: never reaches the journal whole.
        log.error(
            "upstream said: bad request\nfor 11010520000101018X", metadata: ["error": "rejected 11010520000101018X"])
        let e = try #require(j.receive())
        let message = try #require(e["MESSAGE"])
        #expect(message.hasPrefix("upstream said: bad request\nfor "))
        #expect(!message.contains("11010520000101018X"))
        #expect(!(e["KIOSK_ERROR"] ?? "").contains("11010520000101018X"))
        #expect(message.contains("1101**********018X"), "masked, not dropped: \(message)")
    }

    @Test func fieldNamesAreValidForTheJournal() {
        #expect(JournaldLogHandler.fieldName("readerProfiles") == "KIOSK_READER_PROFILES")
        #expect(JournaldLogHandler.fieldName("assistedBy") == "KIOSK_ASSISTED_BY")
        #expect(JournaldLogHandler.fieldName("x-y.z") == "KIOSK_X_Y_Z")
        #expect(JournaldLogHandler.fieldName("状态") == nil)
        #expect(JournaldLogHandler.fieldName(String(repeating: "a", count: 100))!.count == 64)
        #expect(JournaldLogHandler.slug("SIGHUP: reloading configuration") == "sighup-reloading-configuration")
        #expect(JournaldLogHandler.slug("上传完成") == "")
    }

    @Test func fileUnlessOutputIsTheJournalStream() throws {
        let j = try FakeJournal()
        let file = NSTemporaryDirectory() + "kioskd-\(UUID().uuidString.prefix(8)).log"
        defer { unlink(file) }
        // Not under systemd, or a JOURNAL_STREAM inherited from elsewhere: the log file.
        for env in [[:], ["JOURNAL_STREAM": "8:12345"], ["JOURNAL_STREAM": "garbage"], ["INVOCATION_ID": "abc"]] {
            let h = JournaldLogHandler.factory(fileFallback: file, level: .info, socketPath: j.path, environment: env)(
                "kioskd")
            #expect(h is FileLogHandler, "\(env)")
        }
        // Standard error is the stream JOURNAL_STREAM names: the journal.
        var st = stat()
        #expect(fstat(2, &st) == 0)
        let env = ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]
        #expect(JournaldLogHandler.outputGoesToJournal(environment: env))
        #expect(
            JournaldLogHandler.factory(fileFallback: file, level: .info, socketPath: j.path, environment: env)("kioskd")
                is JournaldLogHandler)
        // ... unless journald's socket is not there.
        #expect(
            JournaldLogHandler.factory(
                fileFallback: file, level: .info, socketPath: j.path + ".missing", environment: env)("kioskd")
                is FileLogHandler)
    }
}

/// SIGHUP: a process's kill is a reload request; the kernel's (terminal hangup) is not.
@Suite(.serialized) struct HangupSignalTests {
    @Test func signalCodesAreClassified() {
        #expect(HangupSignal.origin(signalCode: 0) == .reloadRequest)  // SI_USER: kill(2)
        #expect(HangupSignal.origin(signalCode: -1) == .reloadRequest)  // SI_QUEUE
        #expect(HangupSignal.origin(signalCode: -6) == .reloadRequest)  // SI_TKILL
        #expect(HangupSignal.origin(signalCode: 0x80) == .terminalHangup)  // SI_KERNEL: tty hangup
    }

    @Test func killIsAReloadRequest() throws {
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var origins: [HangupSignal.Origin] = []
        }
        let seen = Seen()
        try HangupSignal.install { o in seen.lock.withLock { seen.origins.append(o) } }
        kill(getpid(), SIGHUP)
        let deadline = Date().addingTimeInterval(5)
        while seen.lock.withLock({ seen.origins.isEmpty }) && Date() < deadline { usleep(10_000) }
        #expect(seen.lock.withLock { seen.origins } == [.reloadRequest])
    }
}

/// A hangup of the terminal the kiosk reads: input goes on after the terminal is reopened.
@Suite(.serialized) struct TerminalHangupTests {
    @Test(.enabled(if: getuid() == 0, "vhangup needs CAP_SYS_ADMIN"))
    func inputContinuesAfterAHangup() throws {
        // A pseudo-terminal by hand (posix_openpt is not imported): unlock it, ask for its number.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        #expect(master >= 0)
        defer { close(master) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        #expect(ioctl(master, UInt(0x4004_5431), &unlock) == 0)  // TIOCSPTLCK
        #expect(ioctl(master, UInt(0x8004_5430), &number) == 0)  // TIOCGPTN
        let name = "/dev/pts/\(number)"
        let slave = open(name, O_RDWR | O_NOCTTY)
        #expect(slave >= 0)
        let terminal = TerminalIO(inputFD: slave, outputFD: dup(slave))
        terminal.enter()
        defer {
            terminal.restore()
            close(terminal.outputFD)
            close(terminal.inputFD)
        }
        final class Reopened: @unchecked Sendable {
            let lock = NSLock()
            var count = 0
        }
        let reopened = Reopened()
        terminal.onReopen = { reopened.lock.withLock { reopened.count += 1 } }
        final class Keys: @unchecked Sendable {
            let lock = NSLock()
            var keys: [Key] = []
            var ended = false
        }
        let got = Keys()
        let stream = terminal.keys()
        let reader = Task {
            for await k in stream { got.lock.withLock { got.keys.append(k) } }
            got.lock.withLock { got.ended = true }
        }
        defer { reader.cancel() }
        var shown: [UInt8] = []  // what the terminal received
        func drain() {
            var b = [UInt8](repeating: 0, count: 4096)
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, 50) > 0 {
                let n = read(master, &b, b.count)
                if n <= 0 { break }
                shown += b[0..<n]
            }
        }
        func waitFor(_ what: String, _ cond: () -> Bool) {
            let deadline = Date().addingTimeInterval(5)
            while !cond() && Date() < deadline {
                drain()
                usleep(20_000)
            }
            #expect(cond(), "\(what)")
        }
        _ = Glibc.write(master, "1", 1)
        waitFor("the first key") { got.lock.withLock { got.keys.count == 1 } }
        // The hangup: the old descriptors go dead (read returns 0), the device stays.
        drain()
        shown = []
        #expect(ioctl(slave, UInt(TIOCVHANGUP), 0) == 0, "TIOCVHANGUP: \(String(cString: strerror(errno)))")
        waitFor("the terminal reopened") { reopened.lock.withLock { reopened.count == 1 } }
        // The output was reopened too: the alternate screen is entered again and writes arrive.
        terminal.write("after")
        waitFor("output after the hangup") { String(decoding: shown, as: UTF8.self).contains("after") }
        #expect(String(decoding: shown, as: UTF8.self).contains("\u{1B}[?1049h"))
        _ = Glibc.write(master, "2", 1)
        waitFor("a key after the hangup") { got.lock.withLock { got.keys.count == 2 } }
        #expect(got.lock.withLock { got.keys } == [.digit(1), .digit(2)])
        #expect(!got.lock.withLock { got.ended }, "input did not end")

        // A reset without a hangup (stty sane, systemd's TTYReset=): raw mode comes back by itself.
        var sane = termios()
        #expect(tcgetattr(slave, &sane) == 0)
        sane.c_lflag |= tcflag_t(ECHO | ICANON)
        #expect(tcsetattr(slave, TCSANOW, &sane) == 0)
        waitFor("raw mode restored") {
            var now = termios()
            _ = tcgetattr(slave, &now)
            return now.c_lflag & tcflag_t(ECHO | ICANON) == 0 && reopened.lock.withLock { reopened.count == 2 }
        }
        _ = Glibc.write(master, "3", 1)
        waitFor("a key after the reset") { got.lock.withLock { got.keys.count == 3 } }
    }
}

/// The hidden watchdog switch the container suite uses: petting stops, everything else goes on.
@Suite struct WatchdogTestSwitchTests {
    @Test func stopsPettingOnlyAfterTheGivenTime() throws {
        let s = try NotifyListener(abstract: true)
        let stopped = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name, "KIOSKD_TEST_STOP_WATCHDOG_AFTER": "0"])
        stopped.watchdog()
        stopped.status("still talking")
        #expect(s.next(seconds: 2) == "STATUS=still talking", "no WATCHDOG=1 before it")
        let later = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name, "KIOSKD_TEST_STOP_WATCHDOG_AFTER": "60"])
        later.watchdog()
        #expect(s.next(seconds: 2) == "WATCHDOG=1")
    }
}
