import Foundation
#if canImport(Glibc)
    import Glibc
#endif

// Test harness (a library only the test targets use): runs the real binaries, kiosk-intake as a
// process and kioskd inside a private tmux server.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

public func binary(_ name: String) -> String {
    if let dir = ProcessInfo.processInfo.environment["KIOSK_BIN_DIR"] { return dir + "/" + name }
    for config in ["debug", "release"] {
        let p = packageRoot.appendingPathComponent(".build/\(config)/\(name)").path
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return packageRoot.appendingPathComponent(".build/debug/\(name)").path
}

/// The reference intake on loopback.
public final class Intake {
    public let dir: String
    public let port: Int
    public let token: String
    public var process: BackgroundProcess?
    /// More `serve` options (e.g. `--sms`).
    public var extraArguments: [String] = []

    public init(dir: String, port: Int, token: String) {
        self.dir = dir
        self.port = port
        self.token = token
    }

    public func start() throws {
        let log = dir + ".log"
        process = try BackgroundProcess(
            binary("kiosk-intake"),
            [
                "serve", "--port", String(port), "--data", dir, "--token", "\(token)=XY-E2E-001",
                "--admin-token", adminToken,
            ] + extraArguments, log: log)
        try waitUntil(20, "kiosk-intake to listen") {
            String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self).contains("listening")
        }
    }

    public func stop() {
        process?.stop()
        process = nil
    }

    /// The admin bearer token (the reference intake's state and certificate endpoints).
    public var adminToken: String { "admin-" + token }

    /// As the township would: attaches a certificate file to a stored submission, moving it to
    /// certificateReady (POST /v1/admin/submissions/{id}/certificate, through curl).
    public func attachCertificate(submissionId: String, file: String, contentType: String = "application/pdf") throws {
        let r = try run(
            "/usr/bin/curl",
            [
                "-fsS", "-X", "POST", "-H", "Authorization: Bearer \(adminToken)",
                "-H", "Content-Type: \(contentType)", "--data-binary", "@" + file,
                "http://127.0.0.1:\(port)/v1/admin/submissions/\(submissionId)/certificate",
            ])
        guard r.status == 0 else { throw HarnessError(description: "attaching the certificate failed: \(r.out)") }
    }

    public func count() -> Int {
        guard let r = try? run(binary("kiosk-intake"), ["count", "--data", dir]), r.status == 0 else { return 0 }
        return Int(r.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    public func list() throws -> [[String: Any]] {
        let r = try run(binary("kiosk-intake"), ["list", "--data", dir, "--json"])
        return (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]]) ?? []
    }
}

/// kioskd in a private tmux server, 80×24.
public final class KioskTerminal {
    public let socketName: String
    public let configPath: String
    public var captures: [String] = []

    /// Extra environment for kioskd only (not for tmux), e.g. umockdev's UMOCKDEV_DIR and LD_PRELOAD.
    public var kioskdEnvironment: [String: String] = [:]

    public init(configPath: String, kioskdEnvironment: [String: String] = [:]) {
        self.configPath = configPath
        self.kioskdEnvironment = kioskdEnvironment
        socketName = "kiosk-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    public func tmux(_ args: [String]) throws -> String {
        let r = try run("/usr/bin/tmux", ["-L", socketName] + args)
        return r.out
    }

    public func start() throws {
        let extra = kioskdEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let cmd = "exec env LANG=C.UTF-8 LC_ALL=C.UTF-8 \(extra) \(binary("kioskd")) --config \(configPath)"
        _ = try tmux(["new-session", "-d", "-s", "ui", "-x", "80", "-y", "24", cmd])
        _ = try tmux(["set-option", "-t", "ui", "remain-on-exit", "on"])
    }

    public func screen() throws -> String {
        let s = try tmux(["capture-pane", "-p", "-t", "ui"])
        captures.append(s)
        return s
    }

    public func waitFor(_ text: String, seconds: Double = 15) throws {
        do {
            try waitUntil(seconds, "screen to show \(text)") { try screen().contains(text) }
        } catch {
            throw HarnessError(description: "\(error)\n--- screen ---\n\((try? screen()) ?? "")")
        }
    }

    public func send(_ keys: String...) throws { _ = try tmux(["send-keys", "-t", "ui"] + keys) }

    /// The process id of this terminal's kioskd.
    public func pid() throws -> pid_t {
        let out = try tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"])
        guard let p = pid_t(out.trimmingCharacters(in: .whitespacesAndNewlines)), p > 1 else {
            throw HarnessError(description: "no pane pid")
        }
        return p
    }

    /// Sends SIGKILL to the kioskd of this terminal.
    public func kill9() throws {
        let pid = try tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard let p = Int32(pid) else { throw HarnessError(description: "no pane pid") }
        Glibc.kill(p, SIGKILL)
        try waitUntil(5, "kioskd to die") {
            try tmux(["display-message", "-p", "-t", "ui", "#{pane_dead}"]).trimmingCharacters(
                in: .whitespacesAndNewlines) == "1"
        }
    }

    /// Ends kioskd first (SIGHUP, which kill-server sends, only makes it reload), then the server.
    public func stop() {
        if let out = try? tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]),
            let pid = Int32(out.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        {
            Glibc.kill(pid, SIGTERM)
            if (try? waitUntil(5, "kioskd to end") { Glibc.kill(pid, 0) != 0 }) == nil { Glibc.kill(pid, SIGKILL) }
        }
        _ = try? tmux(["kill-server"])
    }
}

public struct Station {
    public let dir: String
    public let config: String
    public let intake: Intake
    public let printerDir: String
    public let adminSocket: String
    public let metricsPort: Int

    /// `reader` is the YAML flow mapping for devices.idCardReader.
    /// `extraYAML` is appended to the config (top-level sections such as `technician:`).
    public init(
        name: String, reader: String = "{ mode: simulated }", a4Printer: String = "{ mode: none }",
        extraYAML: String = ""
    ) throws {
        dir = NSTemporaryDirectory() + "kiosk-e2e-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let token = UUID().uuidString
        intake = Intake(dir: dir + "/intake", port: freePort(), token: token)
        printerDir = dir + "/printer"
        adminSocket = dir + "/run/admin.sock"
        metricsPort = freePort()
        let key = dir + "/keys/outbox.key"
        try run(binary("kioskctl"), ["keygen", key])
        config = dir + "/kiosk.yaml"
        let root = packageRoot.path
        let yaml = """
            station:
              id: XY-E2E-001
              name: 端到端测试便民服务中心
              casePrefix: GH
            stateDirectory: \(dir)/state
            catalog: \(root)/kiosk-config/catalog.json
            guides: \(root)/kiosk-config/guides
            deviceProfiles: \(root)/DeviceProfiles
            encryption:
              keyFile: \(key)
            upstream:
              url: http://127.0.0.1:\(intake.port)
              token: \(token)
              requestTimeoutSeconds: 5
              initialBackoffSeconds: 0.3
              maxBackoffSeconds: 1
              statusSyncSeconds: 5
              chunkBytes: 65536
              heartbeatSeconds: 2
            session:
              idleTimeoutSeconds: 120
              warningSeconds: 20
            devices:
              idCardReader:   \(reader)
              documentCamera: { mode: simulated, fixtures: \(root)/kiosk-config/fixtures/camera }
              receiptPrinter: { mode: simulated }
              a4Printer:      \(a4Printer)
            simulation:
              outputDirectory: \(printerDir)
              removeCardAfterSeconds: 1
            admin:
              socket: \(adminSocket)
            metrics:
              port: \(metricsPort)
            \(extraYAML)
            """
        FileManager.default.createFile(atPath: config, contents: Data(yaml.utf8))
    }

    /// Registers a staff member with `kioskctl staff add` (ID number and PIN on stdin). A low
    /// PBKDF2 iteration count keeps debug-build tests quick; production uses the default.
    public func addStaff(id staffId: String, name: String, role: String, idNumber: String, pin: String) throws {
        let r = try run(
            "/bin/sh",
            [
                "-c",
                "printf '%s\\n%s\\n' \"$1\" \"$2\" | \"$3\" staff add --config \"$4\" --staff-id \"$5\" --name \"$6\" --role \"$7\" --iterations 1000",
                "sh", idNumber, pin, binary("kioskctl"), config, staffId, name, role,
            ])
        guard r.status == 0 else { throw HarnessError(description: "kioskctl staff add failed: \(r.out)") }
    }

    /// Runs kioskctl with this station's config.
    public func kioskctl(_ args: String...) throws -> (status: Int32, out: String) {
        try run(binary("kioskctl"), args + ["--config", config])
    }

    /// PDFs the simulated A4 printer printed, oldest first.
    public func a4Printed() -> [Data] {
        let d = printerDir + "/a4"
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).sorted().compactMap {
            FileManager.default.contents(atPath: d + "/" + $0)
        }
    }

    public func receipts() -> [String] {
        let d = printerDir + "/receipts"
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).sorted().map {
            String(decoding: FileManager.default.contents(atPath: d + "/" + $0) ?? Data(), as: UTF8.self)
        }
    }

    public func logs() -> String {
        String(decoding: FileManager.default.contents(atPath: dir + "/state/logs/kioskd.log") ?? Data(), as: UTF8.self)
    }

    /// Every regular file under the state directory, for the plaintext search.
    public func stateFiles() -> [String] {
        let root = dir + "/state"
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        return e.compactMap { $0 as? String }.map { root + "/" + $0 }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    public func outboxCounts() throws -> [String: Any] {
        let r = try run(binary("kioskctl"), ["outbox", "--config", config, "--json"])
        return (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]) ?? [:]
    }
}

/// Drives one application from the home screen to "提交成功"; returns the case number and photo count.
/// `placeCard` puts the resident's card on the reader (default: the simulated card A).
/// `from` is the screen it starts on: the home screen, or the staff menu (帮办代办: 1 is town items there too).
public func applyOnce(_ t: KioskTerminal, from: String = "首页", placeCard: (() throws -> Void)? = nil) throws -> (
    caseNumber: String, photos: Int
) {
    try t.waitFor(from)
    try t.send("1")
    try t.waitFor("请选择类别")
    try t.send("1")
    try t.waitFor("第 1/")
    try t.send("1")
    try t.waitFor("办事指南")
    try t.send("2")
    try t.waitFor("请放置身份证")
    if let placeCard { try placeCard() } else { try t.send("a") }
    try t.waitFor("请核对您的身份信息")
    try t.send("Enter")
    // 帮办代办: the resident consents on screen first.
    try waitUntil(15, "photos or the consent") {
        let s = try t.screen()
        return s.contains("拍摄申请材料") || s.contains("帮办代办确认")
    }
    if try t.screen().contains("帮办代办确认") { try t.send("1") }
    try t.waitFor("拍摄申请材料")
    var photos = 0
    while try t.screen().contains("拍摄申请材料") {
        let before = try t.screen()
        let marker = before.split(separator: "\n").first { $0.contains("份：") }.map(String.init) ?? ""
        try t.send("Enter")
        try t.waitFor("状态：已拍摄")
        photos += 1
        try t.send("Enter")
        try waitUntil(10, "next step") {
            let s = try t.screen()
            return !s.contains(marker) || !s.contains("拍摄申请材料")
        }
    }
    try t.waitFor("请输入手机号码")
    try t.send("13800000000", "Enter")
    try t.waitFor("请确认申请信息")
    try t.send("Enter")
    try t.waitFor("提交成功")
    let s = try t.screen()
    guard let r = s.range(of: "GH[0-9]{12}", options: .regularExpression) else {
        throw HarnessError(description: "no case number on screen:\n\(s)")
    }
    return (String(s[r]), photos)
}

/// A datagram socket the test owns, standing in for systemd's notify socket: pass `name` as
/// NOTIFY_SOCKET (a path, or `@name` for the abstract namespace). Records each datagram with the
/// time it arrived.
public final class NotifyListener: @unchecked Sendable {
    public let fd: Int32
    public let name: String
    public private(set) var received: [(at: ContinuousClock.Instant, message: String)] = []

    public init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        name =
            abstract
            ? "@kiosk-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            : NSTemporaryDirectory() + "kiosk-notify-\(UUID().uuidString.prefix(8)).sock"
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard rc == 0 else {
            throw HarnessError(description: "cannot bind notify socket \(name): \(String(cString: strerror(errno)))")
        }
    }

    /// The next datagram within `seconds`, or nil.
    public func next(seconds: Double) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(seconds * 1000)) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        let m = String(decoding: buf[0..<n], as: UTF8.self)
        received.append((ContinuousClock.now, m))
        return m
    }

    /// Reads until a datagram satisfies `match` (returned) or `seconds` pass (throws).
    @discardableResult
    public func waitFor(_ what: String, seconds: Double, _ match: (String) -> Bool) throws -> String {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let left = (deadline - ContinuousClock.now) / .seconds(1)
            if let m = next(seconds: max(0.05, left)), match(m) { return m }
        }
        throw HarnessError(
            description: "no \(what) on the notify socket within \(seconds) s; got: \(received.map(\.message))")
    }

    /// Everything that arrives during the next `seconds`.
    public func collect(seconds: Double) {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline { _ = next(seconds: 0.05) }
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }
}
