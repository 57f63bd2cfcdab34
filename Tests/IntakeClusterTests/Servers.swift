// Throwaway servers for the cluster tests, all on loopback under one temporary folder:
// PostgreSQL (initdb + pg_ctl, run as an unprivileged user when the tests run as root, as CI does),
// nginx with a temporary config, and kiosk-intake nodes as real processes.

import KioskTestSupport
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

struct ServerError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs commands as `nobody` when we are root (PostgreSQL refuses to run as root); as ourselves otherwise.
enum Unprivileged {
    static var needed: Bool { geteuid() == 0 }
    static let user = "nobody"

    static var runuser: String? {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// The command line that runs `path args` unprivileged.
    static func command(_ path: String, _ args: [String]) throws -> (String, [String]) {
        guard needed else { return (path, args) }
        guard let runuser else {
            throw ServerError("running as root, and runuser (util-linux) is missing to drop to \(user)")
        }
        return (runuser, ["-u", user, "--", path] + args)
    }

    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, out: String) {
        let (p, a) = try command(path, args)
        return try KioskTestSupport.run(p, a)
    }

    /// Gives a folder tree to the unprivileged user.
    static func own(_ path: String) throws {
        guard needed else { return }
        let r = try KioskTestSupport.run("/bin/chown", ["-R", "\(user):", path])
        guard r.status == 0 else { throw ServerError("chown \(path) to \(user): \(r.out)") }
    }
}

func makeTempRoot(_ prefix: String) throws -> String {
    var template = Array((NSTemporaryDirectory() + prefix + "-XXXXXX").utf8CString)
    guard let p = mkdtemp(&template) else { throw ServerError("mkdtemp: \(String(cString: strerror(errno)))") }
    let path = String(cString: p)
    chmod(path, 0o755)
    return path
}

/// A PostgreSQL server of its own: `initdb` into a temporary folder, `pg_ctl start` on a free
/// loopback port, one database `intake`. Trust authentication on loopback only.
final class ThrowawayPostgres: @unchecked Sendable {
    let root: String
    let port: Int
    let bin: String
    var data: String { root + "/data" }

    static func findBin() throws -> String {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted {
            (Int($0) ?? 0) > (Int($1) ?? 0)
        }
        for v in versions where FileManager.default.isExecutableFile(atPath: "\(base)/\(v)/bin/initdb") {
            return "\(base)/\(v)/bin"
        }
        throw ServerError(
            "no PostgreSQL server under \(base)/*/bin (initdb, pg_ctl): install Debian's postgresql (scripts/deps.sh test does)"
        )
    }

    init() throws {
        bin = try Self.findBin()
        root = try makeTempRoot("intake-pg")
        port = freePort()
    }

    func start() throws {
        try FileManager.default.createDirectory(atPath: root + "/sock", withIntermediateDirectories: true)
        try Unprivileged.own(root)
        var r = try Unprivileged.run(
            bin + "/initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        guard r.status == 0 else { throw ServerError("initdb failed: \(r.out)") }
        r = try Unprivileged.run(
            bin + "/pg_ctl",
            [
                "-D", data, "-l", root + "/postgres.log", "-w", "-t", "60",
                "-o", "-p \(port) -k \(root)/sock -c listen_addresses=127.0.0.1 -c max_connections=100", "start",
            ])
        guard r.status == 0 else { throw ServerError("pg_ctl start failed: \(r.out)\n\(log())") }
        r = try Unprivileged.run(
            bin + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "intake"])
        guard r.status == 0 else { throw ServerError("createdb failed: \(r.out)") }
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/intake?sslmode=disable" }

    func log() -> String {
        String(decoding: FileManager.default.contents(atPath: root + "/postgres.log") ?? Data(), as: UTF8.self)
    }

    /// Runs SQL through psql (for checks independent of the code under test).
    func psql(_ sql: String) throws -> String {
        let r = try KioskTestSupport.run(
            bin + "/psql",
            [
                "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "intake",
                "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
            ])
        guard r.status == 0 else { throw ServerError("psql failed: \(r.out)") }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
        _ = try? Unprivileged.run(bin + "/pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// nginx in front of the intake nodes: round robin, the next node when one refuses connections,
/// request bodies streamed (tus PATCH) rather than buffered.
final class ThrowawayNginx: @unchecked Sendable {
    let root: String
    let port: Int
    let upstreams: [Int]
    private var process: Process?

    init(upstreams: [Int]) throws {
        root = try makeTempRoot("intake-nginx")
        port = freePort()
        self.upstreams = upstreams
    }

    static var binary: String? {
        ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func start() throws {
        guard let nginx = Self.binary else {
            throw ServerError("nginx is not installed: install Debian's nginx-light (scripts/deps.sh test does)")
        }
        for d in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        let servers = upstreams.map { "    server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(
            separator: "\n")
        let conf = """
            worker_processes 1;
            daemon off;
            pid \(root)/nginx.pid;
            error_log \(root)/error.log warn;
            events { worker_connections 512; }
            http {
              access_log off;
              client_body_temp_path \(root)/body;
              proxy_temp_path \(root)/proxy;
              fastcgi_temp_path \(root)/fastcgi;
              uwsgi_temp_path \(root)/uwsgi;
              scgi_temp_path \(root)/scgi;
              upstream intake {
            \(servers)
                keepalive 16;
              }
              server {
                listen 127.0.0.1:\(port);
                client_max_body_size 0;
                location / {
                  proxy_pass http://intake;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_request_buffering off;
                  proxy_buffering off;
                  proxy_next_upstream error timeout http_502 http_503;
                  proxy_connect_timeout 2s;
                  proxy_read_timeout 60s;
                  proxy_send_timeout 60s;
                }
              }
            }
            """
        try conf.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
        try Unprivileged.own(root)
        let test = try Unprivileged.run(
            nginx, ["-t", "-q", "-p", root, "-e", root + "/error.log", "-c", root + "/nginx.conf"])
        guard test.status == 0 else { throw ServerError("nginx -t: \(test.out)") }
        let (path, args) = try Unprivileged.command(
            nginx, ["-p", root, "-e", root + "/error.log", "-c", root + "/nginx.conf"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try waitUntil(20, "nginx to listen on \(port)") { canConnect(port) }
    }

    func stop() {
        if let pidText = try? String(contentsOfFile: root + "/nginx.pid", encoding: .utf8),
            let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(pid, SIGQUIT)
        }
        process?.waitUntilExit()
        process = nil
        try? FileManager.default.removeItem(atPath: root)
    }
}

func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// One kiosk-intake process (`serve --store postgres`) on a fixed port, restartable.
final class IntakeNode: @unchecked Sendable {
    let name: String
    let port: Int
    let args: [String]
    let logPath: String
    private let lock = NSLock()
    private var process: Process?
    private(set) var starts = 0

    init(name: String, port: Int, args: [String], logPath: String) {
        self.name = name
        self.port = port
        self.args = args
        self.logPath = logPath
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary("kiosk-intake"))
        p.arguments = ["serve", "--port", String(port)] + args
        if !FileManager.default.fileExists(atPath: logPath) {
            FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        h.seekToEndOfFile()
        p.standardOutput = h
        p.standardError = h
        let before = log().components(separatedBy: "listening on").count
        try p.run()
        lock.withLock {
            process = p
            starts += 1
        }
        try waitUntil(30, "\(name) to listen") {
            guard p.isRunning else { throw ServerError("\(name) exited: \(self.log().suffix(2000))") }
            return self.log().components(separatedBy: "listening on").count > before
        }
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    func kill9() {
        let p: Process? = lock.withLock {
            let p = process
            process = nil
            return p
        }
        guard let p else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// SIGTERM and wait: the ServiceGroup's graceful shutdown. Returns the exit status.
    @discardableResult
    func terminate() -> Int32 {
        let p: Process? = lock.withLock {
            let p = process
            process = nil
            return p
        }
        guard let p else { return -1 }
        p.terminate()
        p.waitUntilExit()
        return p.terminationStatus
    }

    func log() -> String { String(decoding: FileManager.default.contents(atPath: logPath) ?? Data(), as: UTF8.self) }
}
