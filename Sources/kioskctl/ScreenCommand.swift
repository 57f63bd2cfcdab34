import ArgumentParser
import Foundation
import KioskApp
import KioskProtocols
import KioskTerminal

/// `kioskctl screen --watch`: a read-only live mirror of the resident screen (what residents see,
/// already masked), for technicians over SSH. Nothing typed here reaches the kiosk: the mirror
/// never sends input, and kioskd never reads a watcher's.
struct ScreenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen", abstract: "Watch the resident screen live, read-only (Ctrl-C ends it).")
    @OptionGroup var options: ConfigOption
    @Flag(name: .long, help: "Mirror the screen until Ctrl-C (read-only).")
    var watch = false
    @Option(name: .long, help: "The screen socket (default: the config's screen.socket).")
    var socket: String?
    @Flag(name: .long, help: "Print the screen once as text and exit (for scripts).")
    var once = false

    func run() throws {
        guard watch || once else { throw ValidationError("say --watch (live, read-only) or --once") }
        let path: String
        if let socket {
            path = socket
        } else {
            guard let p = try options.load().screenSocketPath else {
                throw ValidationError(
                    "kioskd serves no screen socket: set screen.socket in kiosk.yaml (or pass --socket)")
            }
            path = p
        }
        if once {
            print(try ScreenSnapshot.take(socketPath: path))
            return
        }
        let terminal = TerminalIO()
        if terminal.isTTY {
            terminal.enter()
            TerminalIO.restoreOnExitSignals(terminal)
        }
        let error = ScreenAttachment(socketPath: path, role: .watch, terminal: terminal).run(once: !terminal.isTTY)
        terminal.restore()
        if let error, !terminal.isTTY { throw ValidationError(error) }
    }
}
