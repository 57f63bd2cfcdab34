import Foundation
import KioskProtocols
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Saved terminal state for the restore paths that cannot allocate (signal handlers).
nonisolated(unsafe) private var savedTermios = termios()
nonisolated(unsafe) private var haveSavedTermios = false
nonisolated(unsafe) private var terminalFD: Int32 = 1
private let restoreSequence: [UInt8] = Array("\u{1B}[0m\u{1B}[?1000l\u{1B}[?1006l\u{1B}[?25h\u{1B}[?1049l".utf8)

/// Restores the terminal: async-signal-safe (write + tcsetattr only).
private func restoreTerminalSignalSafe() {
    restoreSequence.withUnsafeBufferPointer { p in _ = Glibc.write(terminalFD, p.baseAddress, p.count) }
    if haveSavedTermios { _ = tcsetattr(0, TCSAFLUSH, &savedTermios) }
}

/// Makes sure every global the crash handler reads is initialised before the handler is installed:
/// Swift initialises globals lazily (swift_once), which must never happen inside a signal handler.
private func prepareCrashHandler() {
    _ = restoreSequence.count
    _ = terminalFD
    _ = haveSavedTermios
    _ = savedTermios
}

private let crashHandler: @convention(c) (Int32) -> Void = { sig in
    restoreTerminalSignalSafe()
    signal(sig, SIG_DFL)
    raise(sig)
}

private let exitHandler: @convention(c) (Int32) -> Void = { _ in
    restoreTerminalSignalSafe()
    _exit(0)
}

/// The terminal the kiosk owns: raw keypad input, alternate screen, cursor hidden; restored on
/// every exit path (normal, SIGTERM/SIGINT/SIGHUP via the runtime, crashes via signal handlers).
public final class TerminalIO: Sendable {
    public let inputFD: Int32
    public let outputFD: Int32
    /// Whether the terminal is in the kiosk's mode (raw, alternate screen); guards enter/restore.
    private let active = Mutex(false)
    /// Set by `restore()`: later frames are dropped (writes also serialise on it).
    private let finished = Mutex(false)
    /// What taking the terminal back after a hangup or a reset needs: its device (nil when input is
    /// not a terminal), whether the output is that terminal too (decided before any hangup: a
    /// hung-up descriptor no longer says it is a terminal), and the raw settings.
    private struct Ownership: Sendable {
        var ttyPath: String?
        var outputIsTheTerminal = false
        var raw: termios?
    }
    private let owned = Mutex(Ownership())
    private let reopenHandler = Mutex<(@Sendable () -> Void)?>(nil)
    /// Called after the terminal was reopened following a hangup, or taken back after a reset:
    /// the screen must be redrawn whole.
    public var onReopen: (@Sendable () -> Void)? {
        get { reopenHandler.withLock { $0 } }
        set { reopenHandler.withLock { $0 = newValue } }
    }

    /// UTF-8, or GB18030 for serial hardware terminals (`screen.encoding`).
    public let encoding: TerminalTextEncoding

    public init(inputFD: Int32 = 0, outputFD: Int32 = 1, encoding: TerminalTextEncoding = .utf8) {
        self.inputFD = inputFD
        self.outputFD = outputFD
        self.encoding = encoding
    }

    public var isTTY: Bool { isatty(inputFD) == 1 }

    public func size() -> (width: Int, height: Int) {
        var ws = winsize()
        if ioctl(outputFD, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 {
            return (Int(ws.ws_col), Int(ws.ws_row))
        }
        return (80, 24)
    }

    public func enter() {
        active.withLock { active in
            guard !active else { return }
            enterLocked()
            active = true
        }
    }

    private func enterLocked() {
        terminalFD = outputFD
        if isatty(inputFD) == 1, tcgetattr(inputFD, &savedTermios) == 0 {
            haveSavedTermios = true
            var raw = savedTermios
            raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
            raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN)  // ISIG stays: Ctrl-C is a clean SIGINT
            raw.c_cflag |= tcflag_t(CS8)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            tcsetattr(inputFD, TCSAFLUSH, &raw)
            let path = ttyname(inputFD).map { String(cString: $0) }
            let out = outputFD != inputFD ? ttyname(outputFD).map { String(cString: $0) } : nil
            owned.withLock { o in
                o.raw = raw
                o.ttyPath = path
                o.outputIsTheTerminal = out != nil && out == path
            }
        }
        prepareCrashHandler()
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            signal(sig, crashHandler)
        }
        // Alternate screen, hidden cursor, and touch: taps arrive as SGR 1006 mouse reports.
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[?1000h\u{1B}[?1006h\u{1B}[2J\u{1B}[3J\u{1B}[H")
    }

    /// For clients that own nothing else (kiosk-screen, kioskctl screen --watch): Ctrl-C, SIGTERM
    /// and a hangup restore the terminal and end the process. Call after `enter()`.
    public static func restoreOnExitSignals(_ terminal: TerminalIO) {
        prepareCrashHandler()
        var ending = sigset_t()
        sigemptyset(&ending)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, exitHandler)
            sigaddset(&ending, sig)
        }
        // A mask inherited from whatever started us (some runners block everything) must not keep
        // these pending forever: a display whose terminal is gone would live on and reconnect.
        pthread_sigmask(SIG_UNBLOCK, &ending, nil)
    }

    public func restore() {
        active.withLock { active in
            guard active else { return }
            active = false
            // The last bytes this terminal gets from us: a frame drawn after them (a status change
            // while shutting down) would hide the cursor again on the shell's screen.
            finished.withLock { finished in
                finished = true
                writeAll(encoding.encode("\u{1B}[2J\u{1B}[3J\u{1B}[H"))
                restoreTerminalSignalSafe()
            }
        }
    }

    private static let enterSequence = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?1000h\u{1B}[?1006h\u{1B}[2J\u{1B}[3J\u{1B}[H"

    /// After a hangup (vhangup(2), `TTYVHangup=` of another unit on the same terminal, systemd's
    /// handling of `ExecReload=`) the descriptors are dead but the device is still there: opens it
    /// again onto the input (and the output, when that is the same terminal), back in raw mode on
    /// the alternate screen. A few tries over about 2 s; false when the device is gone (a
    /// pseudo-terminal whose other end closed).
    public func reopenAfterHangup() -> Bool {
        guard active.withLock({ $0 }),
            let (path, sameOutput, raw) = owned.withLock({ o in
                o.ttyPath.map { ($0, o.outputIsTheTerminal, o.raw) }
            })
        else { return false }
        for attempt in 0..<10 {
            if attempt > 0 { usleep(200_000) }
            let fd = open(path, O_RDWR | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT || errno == ENXIO || errno == ENODEV { return false }
                continue
            }
            guard dup2(fd, inputFD) >= 0 else {
                close(fd)
                continue
            }
            if sameOutput { _ = dup2(fd, outputFD) }
            close(fd)
            if var raw { tcsetattr(inputFD, TCSAFLUSH, &raw) }
            write(Self.enterSequence)
            return true
        }
        return false
    }

    /// Someone reset the terminal without hanging it up (systemd's `TTYReset=` around
    /// `ExecReload=`, `stty sane`): back to raw mode on the alternate screen. True when it had been
    /// reset (the screen must then be drawn again). Checked whenever input is idle.
    public func restoreRawModeIfReset() -> Bool {
        guard active.withLock({ $0 }), var raw = owned.withLock({ $0.raw }) else { return false }
        var now = termios()
        guard tcgetattr(inputFD, &now) == 0 else { return false }
        let lmask = tcflag_t(ECHO | ICANON | IEXTEN)
        let imask = tcflag_t(ICRNL | IXON)
        if now.c_lflag & lmask == raw.c_lflag & lmask && now.c_iflag & imask == raw.c_iflag & imask { return false }
        tcsetattr(inputFD, TCSANOW, &raw)  // keys typed meanwhile are kept
        write(Self.enterSequence)
        return true
    }

    /// Clears the screen and the scrollback: used when a resident's session ends.
    public func wipe() {
        write("\u{1B}[0m\u{1B}[2J\u{1B}[3J\u{1B}[H")
    }

    public func write(_ s: String) {
        writeBytes(encoding.encode(s))
    }

    /// Bytes as they are (what kioskd sent a screen client: already encoded). Nothing is written
    /// once the terminal was restored.
    public func writeBytes(_ data: [UInt8]) {
        finished.withLock { finished in
            if !finished { writeAll(data) }
        }
    }

    private func writeAll(_ data: [UInt8]) {
        var bytes = data
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBufferPointer { p in
                Glibc.write(outputFD, p.baseAddress! + off, p.count - off)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            off += n
        }
    }

    /// Keys from the terminal, decoded; a lone ESC becomes Esc after 50 ms of silence.
    /// Reads on a dedicated thread with poll(), so no async task blocks on the file descriptor.
    public func keys() -> AsyncStream<Key> {
        let fd = inputFD
        return AsyncStream { continuation in
            let flag = StopFlag()
            let thread = Thread {
                var decoder = KeyDecoder()
                var buf = [UInt8](repeating: 0, count: 256)
                while !flag.isSet {
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let timeout: Int32 = decoder.hasPending ? 50 : 500
                    let r = poll(&pfd, 1, timeout)
                    if r < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    if r == 0 {
                        for k in decoder.flush() { continuation.yield(k) }
                        if self.restoreRawModeIfReset() { self.onReopen?() }
                        continue
                    }
                    let hungUp =
                        pfd.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 && pfd.revents & Int16(POLLIN) == 0
                    let n = hungUp ? 0 : read(fd, &buf, buf.count)
                    if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if n <= 0 {
                        // End of input or a hangup: a terminal that is still there is reopened
                        // (a hangup is no reason to stop); otherwise the input has ended.
                        if !flag.isSet, self.reopenAfterHangup() {
                            decoder = KeyDecoder()
                            self.onReopen?()
                            continue
                        }
                        break
                    }
                    for k in decoder.feed(Array(buf[0..<n])) { continuation.yield(k) }
                }
                continuation.finish()
            }
            thread.name = "terminal-input"
            continuation.onTermination = { _ in flag.set() }
            thread.start()
        }
    }
}

/// Set once to stop the input thread.
private final class StopFlag: Sendable {
    private let stop = Atomic(false)
    var isSet: Bool { stop.load(ordering: .acquiring) }
    func set() { stop.store(true, ordering: .releasing) }
}
