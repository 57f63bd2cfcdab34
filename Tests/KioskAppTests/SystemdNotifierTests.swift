import Foundation
import Testing
@testable import KioskApp
import KioskTestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite struct SystemdNotifierTests {
    @Test(arguments: [false, true]) func readyAndStatusReachTheSocket(abstract: Bool) throws {
        let s = try NotifyListener(abstract: abstract)
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name])
        n.ready(status: "ready; idCardReader=online")
        #expect(s.next(seconds: 2) == "READY=1\nSTATUS=ready; idCardReader=online")
        n.watchdog()
        #expect(s.next(seconds: 2) == "WATCHDOG=1")
    }

    @Test(arguments: [false, true]) func stoppingReloadingAndUnusableSockets(abstract: Bool) throws {
        let s = try NotifyListener(abstract: abstract)
        let n = SystemdNotifier(environment: ["NOTIFY_SOCKET": s.name])
        n.stopping()
        #expect(s.next(seconds: 2) == "STOPPING=1\nSTATUS=stopping")
        #expect(n.send("RELOADING=1\nSTATUS=reloading configuration"))
        #expect(s.next(seconds: 2) == "RELOADING=1\nSTATUS=reloading configuration")
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
