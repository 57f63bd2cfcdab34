import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// SIGHUP has two senders that want opposite things. A process (`systemctl reload` runs
/// `kill -HUP`) asks for the config to be re-read. The kernel sends it when the terminal hangs up
/// (vhangup, `TTYVHangup=` of a unit on the same terminal, the session leader's tty going away):
/// that is no reload request, and the daemon must not stop over it either (the terminal is
/// reopened by `TerminalIO`). `siginfo_t.si_code` tells them apart: positive (SI_KERNEL) for the
/// kernel, zero or negative (SI_USER, SI_QUEUE, SI_TKILL) when a process sent it.
public enum HangupSignal {
    public enum Origin: Sendable, Equatable {
        /// kill(2), sigqueue(3), tgkill(2): a reload request.
        case reloadRequest
        /// Sent by the kernel: the controlling terminal hung up.
        case terminalHangup
    }

    public struct SetupError: Error, CustomStringConvertible { public var description: String }

    public static func origin(signalCode code: Int32) -> Origin {
        code > 0 ? .terminalHangup : .reloadRequest
    }

    /// Installs the SIGHUP handler; `handler` runs on a dedicated thread (never in signal context),
    /// once per signal. Installing again replaces the handler.
    public static func install(_ handler: @escaping @Sendable (Origin) -> Void) throws {
        try Watcher.shared.install(handler)
    }

    final class Watcher: Sendable {
        static let shared = Watcher()
        /// The handler in use, and whether the pipe, thread and signal handler are set up.
        private let state = Mutex<(handler: (@Sendable (Origin) -> Void)?, started: Bool)>((nil, false))

        func install(_ h: @escaping @Sendable (Origin) -> Void) throws {
            try state.withLock { st in
                st.handler = h
                guard !st.started else { return }
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else {
                    throw SetupError(description: "SIGHUP pipe: \(String(cString: strerror(errno)))")
                }
                for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                sighupPipeWrite = fds[1]
                let readFD = fds[0]
                let t = Thread { [self] in
                    var byte: UInt8 = 0
                    while true {
                        let n = read(readFD, &byte, 1)
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { return }
                        let h = state.withLock { $0.handler }
                        h?(byte == UInt8(ascii: "H") ? .terminalHangup : .reloadRequest)
                    }
                }
                t.name = "sighup"
                t.start()
                var sa = sigaction()
                sa.__sigaction_handler.sa_sigaction = sighupAction
                sa.sa_flags = SA_SIGINFO | SA_RESTART
                sigemptyset(&sa.sa_mask)
                guard sigaction(SIGHUP, &sa, nil) == 0 else {
                    throw SetupError(description: "SIGHUP handler: \(String(cString: strerror(errno)))")
                }
                st.started = true
            }
        }
    }
}

/// Written once before the handler is installed, read only by the handler.
nonisolated(unsafe) private var sighupPipeWrite: Int32 = -1

/// Async-signal-safe: one byte into the pipe ('H' hangup, 'R' reload), errno preserved.
private let sighupAction: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, info, _ in
    let saved = errno
    let code = info.map { $0.pointee.si_code } ?? 0
    var byte: UInt8 = HangupSignal.origin(signalCode: code) == .terminalHangup ? UInt8(ascii: "H") : UInt8(ascii: "R")
    _ = write(sighupPipeWrite, &byte, 1)
    errno = saved
}
