import ArgumentParser
import Foundation
import KioskApp
import KioskCore
import KioskDevices
import KioskProtocols
import Yams

/// Talks to the running kioskd over its admin socket.
struct AdminConnection: ParsableArguments {
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Admin socket (default: from the config, else /run/kioskd/admin.sock).") var socket:
        String?

    func path() -> String {
        if let socket { return socket }
        if let cfg = try? options.load() { return cfg.adminSocketPath }
        return "/run/kioskd/admin.sock"
    }

    func call<T: Codable & Sendable>(_ req: AdminRequest, as: T.Type) throws -> T {
        let data: Data
        do { data = try AdminClient.request(socket: path(), try JSONEncoder().encode(req)) } catch {
            failLine("\(error)")
        }
        guard let r = try? JSONDecoder().decode(AdminReply<T>.self, from: data) else {
            failLine("kioskd sent an unreadable reply")
        }
        guard r.ok, let result = r.result else { failLine(r.error ?? "kioskd refused the request") }
        return result
    }
}

func printJSON<T: Encodable>(_ v: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(v), as: UTF8.self))
}

func humanBytes(_ b: Int64?) -> String {
    guard let b else { return "-" }
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(b)
    var i = 0
    while v >= 1024 && i < units.count - 1 {
        v /= 1024
        i += 1
    }
    return String(format: i == 0 ? "%.0f %@" : "%.1f %@", v, units[i])
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Devices, outbox, upstream, disk, version and uptime of the running kioskd.")
    @OptionGroup var conn: AdminConnection
    @Flag(name: .long, help: "JSON for machines.") var json = false

    func run() throws {
        let s = try conn.call(AdminRequest(cmd: "status"), as: StatusReport.self)
        if json {
            try printJSON(s)
            return
        }
        print(
            "kioskd \(s.version)  station \(s.station)  up \(s.uptimeSeconds / 3600) h \(s.uptimeSeconds / 60 % 60) min"
        )
        print("")
        print("DEVICE            STATE          MODEL / CONNECTION")
        for d in s.devices {
            let name = d.kind.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
            let state = (d.state.rawValue + (d.simulated ? "*" : "")).padding(toLength: 14, withPad: " ", startingAt: 0)
            print("\(name) \(state) \(d.model)\(d.connection.map { "  [\($0)]" } ?? "")")
            var extra: [String] = []
            if let p = d.paper { extra.append("paper \(p.rawValue)") }
            if let m = d.media { extra.append("media \(m.rawValue)") }
            if let i = d.identity { extra.append("id \(i)") }
            if !d.counters.isEmpty {
                extra.append(
                    d.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            if !extra.isEmpty { print("                  " + extra.joined(separator: "  ")) }
            if let e = d.lastError {
                print("                  last error: \(e)\(d.action.map { " (action: \($0.rawValue))" } ?? "")")
            }
        }
        print("(* simulated)")
        print("")
        if let o = s.outbox {
            print(
                "outbox: \(o.queued) queued (\(o.attachmentsQueued) attachments), \(o.uploaded) uploaded, \(o.quarantined) quarantined, oldest queued \(o.oldestQueuedSeconds.map { "\($0) s" } ?? "-")"
            )
            let causes = (o.quarantinedByCause ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            if !causes.isEmpty { print("quarantined by cause: \(causes.joined(separator: ", "))") }
            if let alarm = o.keyAlarm { print("KEY ALARM: \(alarm)") }
        } else {
            print("outbox: unreadable: \(s.outboxError ?? "?")")
        }
        print(
            "upstream: \(s.upstream.url) \(s.upstream.reachable ? "reachable" : "NOT reachable: \(s.upstream.detail ?? "")")"
        )
        print("free disk: \(humanBytes(s.freeDiskBytes)) in \(s.stateDirectory)")
    }
}

struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract:
            "Run device self-tests in the running kioskd: reader (SAM status and id), printer (status; --print for a test receipt), camera (capture and quality check), a4 (CUPS queue state)."
    )
    @OptionGroup var conn: AdminConnection
    @Argument(help: "reader | printer | camera | a4 (all when omitted)") var device: String?
    @Flag(name: .long, help: "Printer: also print a test receipt.") var print = false
    @Flag(name: .long) var json = false

    func run() throws {
        if let device, !["reader", "printer", "camera", "a4"].contains(device) {
            throw ValidationError("unknown device \(device): use reader, printer, camera or a4")
        }
        let rs = try conn.call(
            AdminRequest(cmd: "selftest", device: device, printTestReceipt: print), as: [SelftestResult].self)
        if json {
            try printJSON(rs)
        } else {
            for r in rs {
                Swift.print("\(r.passed ? "PASS" : "FAIL")  \(r.device): \(r.reasons.joined(separator: "; "))")
                for (k, v) in r.details.sorted(by: { $0.key < $1.key }) { Swift.print("      \(k): \(v)") }
            }
        }
        if rs.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Recent events of the running kioskd (no personal data).")
    @OptionGroup var conn: AdminConnection
    @Option(name: [.customShort("n"), .long], help: "How many lines.") var lines: Int = 100

    func run() throws {
        for l in try conn.call(AdminRequest(cmd: "logs", lines: lines), as: [String].self) { print(l) }
    }
}

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract:
            "Write a diagnostic archive (.tar.gz): config without secrets, device states, recent events, outbox counts, versions. No personal data."
    )
    @OptionGroup var conn: AdminConnection
    @Argument(help: "Archive to write, e.g. kiosk-diag.tar.gz") var file: String

    func run() throws {
        let dir = NSTemporaryDirectory() + "kiosk-bundle-\(UUID().uuidString.prefix(8))"
        let root = dir + "/kiosk-diagnostics"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func put(_ name: String, _ text: String) throws {
            try text.write(toFile: root + "/" + name, atomically: true, encoding: .utf8)
        }
        var notes: [String] = []
        // The daemon's view (if it runs).
        let status: StatusReport? = try? {
            let data = try AdminClient.request(
                socket: conn.path(), try JSONEncoder().encode(AdminRequest(cmd: "status")))
            struct R: Decodable { var result: StatusReport? }
            return try JSONDecoder().decode(R.self, from: data).result
        }()
        if let status {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try put("status.json", String(decoding: try enc.encode(status), as: UTF8.self))
        } else {
            notes.append("kioskd did not answer on \(conn.path()): status missing")
        }
        if let data = try? AdminClient.request(
            socket: conn.path(), try JSONEncoder().encode(AdminRequest(cmd: "logs", lines: 500)))
        {
            struct R: Decodable { var result: [String]? }
            let lines = (try? JSONDecoder().decode(R.self, from: data).result) ?? nil
            try put("events.log", (lines ?? []).map(AdminService.scrub).joined(separator: "\n") + "\n")
        }
        // The config with secrets removed.
        let cfgPath = conn.options.config
        if let text = try? String(
            contentsOfFile: FileManager.default.fileExists(atPath: cfgPath)
                ? cfgPath : FileManager.default.currentDirectoryPath + "/.demo/kiosk.yaml", encoding: .utf8)
        {
            if let redacted = ConfigRedaction.redact(yaml: text) {
                try put("kiosk.yaml", redacted)
            } else {
                notes.append("config \(cfgPath) is not valid YAML: left out (it might hold secrets)")
            }
        } else {
            notes.append("config \(cfgPath) not readable")
        }
        var uts = utsname()
        uname(&uts)
        let machine = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        try put(
            "versions.txt",
            "kioskctl \(KioskVersion.string)\nkioskd \(status?.version ?? "not running")\nkernel \(machine)\n")
        if !notes.isEmpty { try put("NOTES.txt", notes.joined(separator: "\n") + "\n") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = [
            "-czf",
            (file as NSString).standardizingPath.hasPrefix("/")
                ? file : FileManager.default.currentDirectoryPath + "/" + file, "-C", dir, "kiosk-diagnostics",
        ]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { failLine("tar failed writing \(file)") }
        print("wrote \(file)\(notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")")")
    }
}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract:
            "Demo and test hook, simulated devices only: unplug/plug the reader, take the printer's paper out or put it back, jam or clear the A4 printer."
    )
    @OptionGroup var conn: AdminConnection
    @Argument(help: "reader | printer | a4") var device: String
    @Argument(help: "reader: unplug | plug; printer: paperOut | paperIn; a4: jam | clear") var action: String

    func run() throws {
        _ = try conn.call(AdminRequest(cmd: "simulate", device: device, action: action), as: String.self)
        print("\(device): \(action)")
    }
}

struct TechnicianPINCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "technician-pin",
        abstract:
            "Read a technician PIN (4–12 digits) on stdin and print its hash for technician.pinHash in kiosk.yaml.")

    func run() throws {
        print(PINHash.make(pin: readPIN()))
    }
}

/// A PIN from the next line of stdin: 4–12 digits (the kiosk keypad has digits only), else exit 1.
func readPIN(_ what: String = "no PIN on stdin") -> String {
    guard let line = readLine(strippingNewline: true) else { failLine(what) }
    let pin = line.trimmingCharacters(in: .whitespaces)
    guard (4...12).contains(pin.count), pin.allSatisfy({ $0.isASCII && $0.isNumber }) else {
        failLine("the PIN must be 4–12 digits (the kiosk keypad has digits only)")
    }
    return pin
}
