import Foundation
import KioskFlow
import KioskProtocols
import KioskTerminal
import KioskTestSupport
import Synchronization
import Testing
@testable import KioskApp
#if canImport(Glibc)
    import Glibc
#endif

/// kioskd's screen socket in-process: who may drive it and who may only watch; frames out as
/// terminal output (a new client gets the whole screen, then only changed rows); the display's
/// keys and taps in, a watcher's never.
@Suite struct ScreenSocketServerTests {
    let display: UInt32 = 2001
    let admin: UInt32 = 2002
    func peer(uid: UInt32 = 1500, gid: UInt32 = 1500, _ groups: [UInt32] = []) -> AdminSocketServer.PeerCredentials {
        AdminSocketServer.PeerCredentials(pid: 1, uid: uid, gid: gid, groups: groups)
    }

    @Test func displayNeedsTheDisplayGroupAndWatchingAlsoAllowsTheAdminGroup() {
        func ok(_ p: AdminSocketServer.PeerCredentials, _ r: ScreenRole) -> Bool {
            ScreenSocketServer.isAllowed(p, role: r, ownUID: 999, displayGID: display, watchGID: admin)
        }
        #expect(ok(peer([display]), .display))
        #expect(ok(peer(gid: display), .display))
        #expect(ok(peer([display]), .watch))
        #expect(ok(peer([7, admin]), .watch))
        #expect(!ok(peer([admin]), .display), "a technician's mirror never drives the kiosk")
        #expect(!ok(peer([7]), .watch))
        #expect(!ok(peer([7]), .display))
        #expect(ok(peer(uid: 0, gid: 0), .display))
        #expect(ok(peer(uid: 999, gid: 999), .display))
    }

    final class Keys: Sendable {
        let got = Mutex<[Key]>([])
        let redraws = Atomic(0)
    }

    func frame(_ title: String) -> Frame {
        Frame(rows: [
            ScreenLine("测试便民服务中心", .inverse), ScreenLine(title, .bold),
            ScreenLine("  1  镇级事项", targets: [TapTarget(columns: 2..<12, key: .digit(1))]),
        ])
    }

    func read(_ c: ScreenConnection, until: (ScreenGrid) -> Bool) throws -> (ScreenGrid, ScreenMode?) {
        var reader = ScreenMessageReader()
        var grid = ScreenGrid(columns: 40, rows: 5)
        var mode: ScreenMode?
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while !until(grid) {
            guard let b = c.read() else { throw HarnessError(description: "closed; grid so far:\n\(grid.text)") }
            for m in try reader.feed(b) {
                if m.type == .output { grid.feed(m.payload) }
                if m.type == .mode { mode = try JSONDecoder().decode(ScreenMode.self, from: Data(m.payload)) }
            }
        }
        return (grid, mode)
    }

    @Test func framesOutKeysInAndAWatchersKeysIgnored() throws {
        let path = NSTemporaryDirectory() + "kiosk-screen-test-\(UUID().uuidString.prefix(6)).sock"
        let server = ScreenSocketServer(path: path, displayGroup: nil, watchGroup: nil)
        let keys = Keys()
        try server.start(
            key: { k in keys.got.withLock { $0.append(k) } },
            redraw: { keys.redraws.add(1, ordering: .relaxed) })
        defer { server.stop() }

        let d = try ScreenConnection.connect(path: path)
        defer { d.close() }
        #expect(d.sendJSON(.hello, ScreenHello(role: .display, columns: 40, rows: 5)))
        try waitUntil(5, "the display to attach") { server.displaySize == ScreenSize(columns: 40, rows: 5) }
        #expect(keys.redraws.load(ordering: .relaxed) >= 1, "an attaching display asks for a redraw")
        server.publish(frame("首页"), width: 40, height: 5, largeMode: false)
        let (g, mode) = try read(d) { $0.text.contains("镇级事项") }
        #expect(g.text.hasPrefix("测试便民服务中心\n首页\n  1  镇级事项"))
        #expect(mode == ScreenMode(largeMode: false, columns: 40, rows: 5))

        // Keys and an SGR tap from the display reach the flow; a lone Esc after a moment of quiet.
        d.send(ScreenMessage(.input, Array("1\u{1B}[<0;5;3M".utf8)))
        d.send(ScreenMessage(.input, [0x1B]))
        try waitUntil(5, "the keys") { keys.got.withLock { $0.count } >= 3 }
        #expect(keys.got.withLock { $0 } == [.digit(1), .tap(column: 5, row: 3), .escape])

        // A resize is a size message: the grid to lay out for.
        #expect(d.sendJSON(.size, ScreenSize(columns: 55, rows: 16)))
        try waitUntil(5, "the new size") { server.displaySize == ScreenSize(columns: 55, rows: 16) }

        // A watcher gets the whole screen at once, and what it types is dropped.
        let w = try ScreenConnection.connect(path: path)
        defer { w.close() }
        #expect(w.sendJSON(.hello, ScreenHello(role: .watch, columns: 0, rows: 0)))
        try waitUntil(5, "the watcher") { server.clientCount == 2 }
        server.publish(frame("请选择类别"), width: 40, height: 5, largeMode: true)
        let (wg, wm) = try read(w) { $0.text.contains("请选择类别") }
        #expect(wg.text.contains("镇级事项"))
        #expect(wm?.largeMode == true)
        w.send(ScreenMessage(.input, Array("2\r".utf8)))
        w.send(ScreenMessage(.size, Array(#"{"columns":10,"rows":3}"#.utf8)))
        usleep(300_000)
        #expect(keys.got.withLock { $0.count } == 3)
        #expect(server.displaySize == ScreenSize(columns: 55, rows: 16))

        // The display leaves: no display size any more; the watcher stays.
        d.close()
        try waitUntil(5, "the display to detach") { server.displaySize == nil && server.clientCount == 1 }
    }
}

/// `screen.encoding: gb18030`: what kioskd writes to its own terminal (a serial hardware terminal
/// that does not speak UTF-8) arrives in GB18030, box drawing included; UTF-8 stays the default.
@Suite struct TerminalEncodingTests {
    @Test func gb18030ReachesTheTerminalThroughTerminalIO() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let gb = TerminalIO(inputFD: fds[0], outputFD: fds[0], encoding: .gb18030)
        gb.write("首页─1")
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fds[1], &buf, buf.count)
        #expect(Array(buf[0..<max(0, n)]) == [0xCA, 0xD7, 0xD2, 0xB3, 0xA9, 0xA4, 0x31])
        let yaml = try KioskConfig.load(path: root.appendingPathComponent("kiosk-config/kiosk.yaml").path)
        #expect(yaml.screenEncoding == .utf8)
    }
}
