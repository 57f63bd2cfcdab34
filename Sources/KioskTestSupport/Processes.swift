import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

// The one way the tests run programs, find ports and wait: posix_spawn with output to a file
// (Foundation's Process did not reap the tmux client reliably here, and a pipe can fill up),
// loopback ports from the kernel, and waiting on a condition with a deadline — never a fixed sleep.

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Starts `path` with `args`; stdin is /dev/null, stdout and stderr go to `outputPath` (appended).
func spawn(_ path: String, _ args: [String], env: [String: String], outputPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    // A clean signal mask and default dispositions, as systemd or a login shell gives a program: the
    // test runner's threads block signals, and an inherited mask would make SIGTERM and SIGHUP
    // pending forever (a child that outlives its test then takes later tests' input).
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
    guard rc == 0 else { throw HarnessError(description: "cannot start \(path): \(String(cString: strerror(rc)))") }
    return pid
}

/// A wait status as a shell would report it: the exit code, or 128 + the signal.
func exitCode(_ status: Int32) -> Int32 { (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }

/// Runs a program to completion (killed after `timeout` seconds) and returns its exit status and
/// its output (stdout and stderr together).
@discardableResult
public func run(_ path: String, _ args: [String], env: [String: String] = [:], timeout: Double = 600) throws
    -> (status: Int32, out: String)
{
    let outPath = NSTemporaryDirectory() + "kiosk-run-\(UUID().uuidString)"
    defer { unlink(outPath) }
    let p = try BackgroundProcess(path, args, env: env, log: outPath)
    let status =
        p.wait(timeout: timeout)
        ?? {
            p.signal(SIGKILL)
            return p.wait(timeout: 10) ?? 137
        }()
    return (status, p.output)
}

/// A program running beside the test, its output appended to a log file. `stop()` ends it
/// (SIGTERM, then SIGKILL) and reaps it; so does the end of the test that holds the last reference.
public final class BackgroundProcess: Sendable {
    public let pid: pid_t
    public let logPath: String
    private let exited = Mutex<Int32?>(nil)

    public init(_ path: String, _ args: [String], env: [String: String] = [:], log: String? = nil) throws {
        logPath = log ?? (NSTemporaryDirectory() + "kiosk-proc-\(UUID().uuidString).log")
        if !FileManager.default.fileExists(atPath: logPath) {
            FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        pid = try spawn(path, args, env: env, outputPath: logPath)
    }

    /// The exit status once it has ended (reaped without blocking), else nil.
    public var exitStatus: Int32? {
        exited.withLock { done in
            if let done { return done }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { done = exitCode(status) }
            return done
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Everything it wrote so far.
    public var output: String {
        String(decoding: FileManager.default.contents(atPath: logPath) ?? Data(), as: UTF8.self)
    }

    public func signal(_ sig: Int32) { if isRunning { _ = kill(pid, sig) } }

    /// Waits up to `timeout` seconds for it to end; its exit status, or nil if it is still running.
    @discardableResult
    public func wait(timeout: Double) -> Int32? {
        _ = try? waitUntil(timeout, "process \(pid) to end", every: 0.01) { !isRunning }
        return exitStatus
    }

    /// SIGTERM, up to `grace` seconds, then SIGKILL; always reaped.
    public func stop(grace: Double = 5) {
        signal(SIGTERM)
        if wait(timeout: grace) == nil {
            signal(SIGKILL)
            wait(timeout: 10)
        }
    }

    deinit {
        if isRunning {
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }
}

/// A free TCP port on 127.0.0.1 (the kernel picks it).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Checks `check` until it is true; throws naming `what` after `seconds`.
public func waitUntil(_ seconds: Double, _ what: String, every: Double = 0.05, _ check: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try check() { return }
        usleep(UInt32(every * 1_000_000))
    }
    if try check() { return }
    throw HarnessError(description: "timed out after \(seconds) s waiting for \(what)")
}

/// `waitUntil` for async tests: sleeps between checks without holding a thread.
public func awaitCondition(_ seconds: Double, _ what: String, every: Double = 0.05, _ check: () async throws -> Bool)
    async throws
{
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await check() { return }
        try await Task.sleep(for: .milliseconds(Int(every * 1000)))
    }
    if try await check() { return }
    throw HarnessError(description: "timed out after \(seconds) s waiting for \(what)")
}
