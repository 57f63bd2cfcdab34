import ArgumentParser
import Foundation
import KioskProtocols
import KioskTerminal
import Synchronization
import Yams
#if canImport(Glibc)
    import Glibc
#endif

// The kiosk's display: kioskd serves the resident screen on a Unix socket; this program draws it
// on the monitor. kiosk-display.service runs `kiosk-screen display`, which starts cage (the
// Wayland kiosk compositor, output rotated for portrait panels) with `kiosk-screen session`,
// which runs foot (the terminal, a CJK font sized so the grid fills the panel; a larger font in
// large mode) with `kiosk-screen attach` inside: that one attaches to the socket, draws, and
// relays keys and taps (foot's SGR mouse reports; touch arrives as pointer events under cage).

@main
struct KioskScreen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-screen",
        abstract: "Draws kioskd's resident screen on the kiosk's display (cage + foot) and relays keys and taps.",
        subcommands: [Attach.self, Session.self, Display.self, FootConfig.self])
}

/// The screen settings kiosk-screen needs from kiosk.yaml (`screen:`); everything else is kioskd's.
struct ScreenSection: Decodable {
    var socket: String?
    var panelWidth: Int?
    var panelHeight: Int?
    var rotation: Int?
    var columns: Int?
    var rows: Int?
    var largeScale: Double?
    var font: String?
}

struct Options: ParsableArguments {
    @Option(help: "kiosk.yaml (its screen: section: socket, panel size, rotation, grid, font).")
    var config: String = "/etc/kioskd/kiosk.yaml"
    @Option(help: "The screen socket (default: screen.socket, else /run/kioskd-screen/screen.sock).")
    var socket: String?

    func section() throws -> (ScreenSection, String) {
        var s = ScreenSection()
        if FileManager.default.fileExists(atPath: config) {
            let text: String
            do { text = try String(contentsOfFile: config, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(config): \(error)")
            }
            struct Top: Decodable { var screen: ScreenSection? }
            do { s = try YAMLDecoder().decode(Top.self, from: text).screen ?? ScreenSection() } catch {
                throw ValidationError("\(config): the screen section is not valid: \(error)")
            }
        }
        let base = (config as NSString).deletingLastPathComponent
        let path =
            socket ?? s.socket.map { $0.hasPrefix("/") ? $0 : (base as NSString).appendingPathComponent($0) }
            ?? "/run/kioskd-screen/screen.sock"
        return (s, path)
    }

    func geometry() throws -> DisplayGeometry {
        let (s, _) = try section()
        let g = DisplayGeometry(
            panelWidth: s.panelWidth ?? 1920, panelHeight: s.panelHeight ?? 1080, rotation: s.rotation ?? 0,
            columns: s.columns ?? 80, rows: s.rows ?? 24, largeScale: s.largeScale ?? 1.5,
            font: s.font ?? DisplayGeometry.defaultFont)
        guard [0, 90, 180, 270].contains(g.rotation) else {
            throw ValidationError("screen.rotation \(g.rotation): use 0, 90, 180 or 270 (degrees clockwise)")
        }
        guard (160...16384).contains(g.panelWidth), (120...16384).contains(g.panelHeight) else {
            throw ValidationError(
                "screen.panelWidth/panelHeight \(g.panelWidth)×\(g.panelHeight): give the panel's pixels")
        }
        guard g.largeScale >= 1.5, g.largeScale <= 3 else {
            throw ValidationError(
                "screen.largeScale \(g.largeScale): use 1.5…3 (large mode must be at least 1.5× taller)")
        }
        return g
    }
}

/// Restores the terminal on Ctrl-C, SIGTERM and a hangup.
func restoreOnSignals(_ terminal: TerminalIO) {
    TerminalIO.restoreOnExitSignals(terminal)
}

extension KioskScreen {
    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attach this terminal to kioskd's screen as the kiosk's display (keys and taps reach the flow).")
        @OptionGroup var options: Options

        func run() throws {
            let (_, path) = try options.section()
            let terminal = TerminalIO()
            terminal.enter()
            restoreOnSignals(terminal)
            _ = ScreenAttachment(socketPath: path, role: .display, terminal: terminal).run()
        }
    }

    struct FootConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "foot-ini", abstract: "Print the foot.ini the session uses (normal or --large).")
        @OptionGroup var options: Options
        @Flag var large = false
        func run() throws {
            let g = try options.geometry()
            print(g.footINI(large: large), terminator: "")
            let p = g.plan(large: large)
            FileHandle.standardError.write(
                Data(
                    "grid \(p.columns)×\(p.rows), cell \(p.cellWidth)×\(p.cellHeight) px, font \(p.pixelSize) px on \(g.outputWidth)×\(g.outputHeight)\n"
                        .utf8))
        }
    }

    /// Inside cage: foot with the font for the current mode, `kiosk-screen attach` inside it. When
    /// large mode goes on or off, foot is started again with the other font (the session is in
    /// kioskd; the new foot attaches and is redrawn at once). When foot dies it is started again.
    struct Session: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run foot with the font sized for the panel, kiosk-screen attach inside; follow large mode.")
        @OptionGroup var options: Options
        @Option(help: "The terminal.") var foot: String = "/usr/bin/foot"
        @Option(help: "Where the generated foot.ini files go (default: $XDG_RUNTIME_DIR or /tmp).")
        var configDirectory: String?

        func run() throws {
            let g = try options.geometry()
            let (_, path) = try options.section()
            let dir =
                configDirectory ?? ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].flatMap {
                    $0.isEmpty ? nil : $0
                }
                ?? "/tmp"
            let normal = dir + "/kiosk-foot-normal.ini"
            let large = dir + "/kiosk-foot-large.ini"
            try g.footINI(large: false).write(toFile: normal, atomically: true, encoding: .utf8)
            try g.footINI(large: true).write(toFile: large, atomically: true, encoding: .utf8)
            let me =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            let follower = ModeFollower(socketPath: path)
            follower.start()
            signal(SIGPIPE, SIG_IGN)
            // The session ends with cage (its parent): no foot restarted against a dead compositor.
            let parent = getppid()
            while getppid() == parent {
                let wantLarge = follower.large
                let args = [foot, "-c", wantLarge ? large : normal, "--", me, "attach", "--socket", path]
                var pid: pid_t = 0
                let cargs = args.map { strdup($0) } + [nil]
                defer { cargs.forEach { free($0) } }
                let rc = posix_spawn(&pid, foot, nil, nil, cargs, environ)
                if rc != 0 {
                    FileHandle.standardError.write(
                        Data("kiosk-screen: cannot start \(foot): \(String(cString: strerror(rc)))\n".utf8))
                    sleep(2)
                    continue
                }
                follower.child(pid, startedLarge: wantLarge)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                follower.child(nil, startedLarge: wantLarge)
                if follower.large == wantLarge { usleep(300_000) }  // died on its own: do not spin
            }
        }
    }

    /// The unit's entry: cage with the output turned for the panel, the session inside.
    struct Display: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Start cage (rotated per screen.rotation) running kiosk-screen session; for kiosk-display.service.")
        @OptionGroup var options: Options
        @Option(help: "The compositor.") var cage: String = "/usr/bin/cage"

        func run() throws {
            let g = try options.geometry()
            let me =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            // fontconfig's cache where the display user may write (its home is not writable).
            let env = ProcessInfo.processInfo.environment
            if env["XDG_CACHE_HOME"] == nil, let rd = env["XDG_RUNTIME_DIR"], !rd.isEmpty {
                setenv("XDG_CACHE_HOME", rd + "/cache", 1)
            }
            var args = [cage, "-d"] + Array(repeating: "-r", count: g.quarterTurns)
            args += ["--", me, "session", "--config", options.config]
            if let s = options.socket { args += ["--socket", s] }
            let cargs = args.map { strdup($0) } + [nil]
            execv(cage, cargs)
            throw ValidationError(
                "cannot start \(cage): \(String(cString: strerror(errno))) (install the cage package)")
        }
    }
}

/// Follows kioskd's mode over a watch connection; when large mode flips, ends the running foot so
/// the session starts it again with the other font.
final class ModeFollower: Sendable {
    let socketPath: String
    private let state = Mutex((large: false, pid: pid_t(0), startedLarge: false))
    init(socketPath: String) { self.socketPath = socketPath }

    var large: Bool { state.withLock { $0.large } }

    func child(_ pid: pid_t?, startedLarge: Bool) {
        state.withLock {
            $0.pid = pid ?? 0
            $0.startedLarge = startedLarge
        }
        checkRestart()
    }

    private func checkRestart() {
        let kill: pid_t? = state.withLock { s in s.pid > 0 && s.large != s.startedLarge ? s.pid : nil }
        if let kill { Glibc.kill(kill, SIGTERM) }
    }

    func start() {
        let t = Thread { [self] in
            while true {
                guard let conn = try? ScreenConnection.connect(path: socketPath) else {
                    usleep(300_000)
                    continue
                }
                _ = conn.sendJSON(.hello, ScreenHello(role: .watch, columns: 80, rows: 24))
                var reader = ScreenMessageReader()
                while let bytes = conn.read(), let messages = try? reader.feed(bytes) {
                    for m in messages where m.type == .mode {
                        if let mode = try? JSONDecoder().decode(ScreenMode.self, from: Data(m.payload)) {
                            state.withLock { $0.large = mode.largeMode }
                            checkRestart()
                        }
                    }
                }
                conn.close()
                usleep(300_000)
            }
        }
        t.name = "mode-follower"
        t.start()
    }
}
