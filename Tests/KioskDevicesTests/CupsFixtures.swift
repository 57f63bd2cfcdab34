// Throw-away CUPS fixtures started by the tests themselves (test-harness.md §7): an ippeveprinter
// (IPP Everywhere printer, with its own private D-Bus) and a private cupsd with a test backend.
// Every process started here is stopped by PID in `stop()`; the work directory is removed.

import Foundation
import func E2EHarness.freePort
import KioskDevices
#if canImport(Glibc)
import Glibc
#endif

enum FixtureError: Error, CustomStringConvertible {
    case missing(String)
    case notReady(String)
    var description: String {
        switch self {
        case .missing(let t): return "\(t) not found: run scripts/deps.sh test (installs cups-daemon, cups-client, cups-ipp-utils, dbus-daemon)"
        case .notReady(let t): return "fixture not ready: \(t)"
        }
    }
}

func findTool(_ name: String) throws -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    throw FixtureError.missing(name)
}

/// Runs a tool to completion; returns (status, stdout+stderr).
@discardableResult
func runTool(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    for (k, v) in env { e[k] = v }
    p.environment = e
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Polls `ok` until it is true or `seconds` pass (no fixed sleeps as assertions).
func waitUntil(_ seconds: Double, every: Double = 0.02, _ ok: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if try ok() { return true }
        usleep(UInt32(every * 1_000_000))
    }
    return try ok()
}

/// A fresh directory under /tmp (short path without spaces: CUPS device URIs must parse).
func makeWorkDirectory() throws -> String {
    var template = Array("/tmp/kiosk-cups-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw FixtureError.notReady("mkdtemp failed") }
    return String(cString: p)
}

func writeExecutable(_ path: String, _ text: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
}

final class FixtureProcesses: @unchecked Sendable {
    private var procs: [Process] = []
    private let lock = NSLock()

    func start(_ path: String, _ args: [String], env: [String: String] = [:], stdout: Any? = nil, log: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        if let stdout { p.standardOutput = stdout }
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let h = FileHandle(forWritingAtPath: log)
            p.standardError = h
            if stdout == nil { p.standardOutput = h }
        }
        try p.run()
        lock.withLock { procs.append(p) }
        return p
    }

    /// Stops what this fixture started, newest first, by PID; waits for each to exit.
    func stopAll() {
        let all = lock.withLock { defer { procs.removeAll() }; return procs }
        for p in all.reversed() where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            let gone = waitUntil(3) { !p.isRunning }
            if !gone { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }
}

/// ippeveprinter on a free port, with A4 loaded (or empty trays). Jobs are copied to `outDir` by the
/// print command; creating `jamFile` makes the next job fail with media-jam.
final class IPPEveFixture: @unchecked Sendable {
    let work: String
    let port: Int
    let outDir: String
    let procs = FixtureProcesses()
    var uri: String { "ipp://localhost:\(port)/ipp/print" }
    var jamFile: String { work + "/jam" }

    /// `formats`: document-format-supported (ippeveprinter -f), e.g. only "image/pwg-raster".
    init(paper: Bool = true, formats: String = "application/pdf,image/pwg-raster") throws {
        let ippeve = try findTool("ippeveprinter"), dbus = try findTool("dbus-daemon"), curl = try findTool("curl")
        work = try makeWorkDirectory()
        port = freePort()
        outDir = work + "/out"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work + "/spool", withIntermediateDirectories: true)
        try writeExecutable(work + "/printcmd.sh", """
            #!/bin/sh
            # ippeveprinter print command: keep the document; a jam file makes the job fail with media-jam.
            cp "$1" "\(outDir)/job-$$.pdf"
            if [ -e "\(jamFile)" ]; then echo "STATE: +media-jam" >&2; exit 1; fi
            exit 0
            """)
        do {
            // A private D-Bus bus, else ippeveprinter stops with "Unable to initialize DNS-SD."
            let pipe = Pipe()
            _ = try procs.start(dbus, ["--session", "--nofork", "--print-address=1"], stdout: pipe)
            var address = ""
            let reader = pipe.fileHandleForReading
            while !address.contains("\n") {
                let d = reader.availableData
                if d.isEmpty { throw FixtureError.notReady("dbus-daemon printed no address") }
                address += String(decoding: d, as: UTF8.self)
            }
            address = String(address.split(separator: "\n").first ?? "")
            _ = try procs.start(ippeve, ["-p", "\(port)", "-n", "localhost", "-r", "off", "-d", work + "/spool",
                                         "-c", work + "/printcmd.sh", "-f", formats, "KioskA4"],
                                env: ["DBUS_SYSTEM_BUS_ADDRESS": address, "DBUS_SESSION_BUS_ADDRESS": address],
                                log: work + "/ippeveprinter.log")
            let ipptool = try findTool("ipptool")
            let ready = try waitUntil(20) {
                try runTool(ipptool, ["-q", "-T", "2", uri, "get-printer-attributes.test"]).0 == 0
            }
            guard ready else { throw FixtureError.notReady("ippeveprinter on port \(port) did not answer") }
            let level = paper ? 250 : 0
            let (st, out) = try runTool(curl, ["-fsS", "-o", "/dev/null",
                "http://localhost:\(port)/media?size1=iso_a4_210x297mm&type1=stationery&level1=\(level)&size3=iso_a4_210x297mm&type3=stationery&level3=\(paper ? 25 : 0)"])
            guard st == 0 else { throw FixtureError.notReady("loading media failed: \(out)") }
        } catch {
            stop()
            throw error
        }
    }

    /// Loads paper into tray 1 (after starting with empty trays).
    func loadPaper() throws {
        let (st, out) = try runTool(try findTool("curl"), ["-fsS", "-o", "/dev/null",
            "http://localhost:\(port)/media?size1=iso_a4_210x297mm&type1=stationery&level1=250&size3=iso_a4_210x297mm&type3=stationery&level3=25"])
        guard st == 0 else { throw FixtureError.notReady("loading media failed: \(out)") }
    }

    var printedFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outDir)) ?? []).sorted().map { outDir + "/" + $0 }
    }

    func stop() {
        procs.stopAll()
        try? FileManager.default.removeItem(atPath: work)
    }
}

/// A private cupsd (its own config, spool and logs under a temp dir) with a raw queue `kiosk` on the
/// test backend `kiosktest`, which writes each job to `outDir`. While `outDir/fault` exists the
/// backend reports `STATE: +<its content>` and holds the job; `outDir/jam` makes the job fail with
/// media-jam-error (error policy abort-job -> job aborted).
final class CupsdFixture: @unchecked Sendable {
    let work: String
    let port: Int
    let outDir: String
    let queue = "kiosk"
    let procs = FixtureProcesses()
    var server: String { "127.0.0.1:\(port)" }
    var faultFile: String { outDir + "/fault" }
    var jamFile: String { outDir + "/jam" }

    init() throws {
        let cupsd = try findTool("cupsd"), lpadmin = try findTool("lpadmin")
        work = try makeWorkDirectory()
        chmod(work, 0o755)   // the backend runs as lp
        port = freePort()
        outDir = work + "/out"
        let fm = FileManager.default
        for d in ["root", "spool", "tmp", "cache", "state", "log", "sb", "sb/backend", "out"] {
            try fm.createDirectory(atPath: work + "/" + d, withIntermediateDirectories: true)
        }
        chmod(work + "/tmp", 0o1777)
        chmod(outDir, 0o777)
        for (link, target) in [("daemon", "/usr/lib/cups/daemon"), ("notifier", "/usr/lib/cups/notifier"),
                               ("filter", "/usr/lib/cups/filter"), ("backend/ipp", "/usr/lib/cups/backend/ipp")]
            where fm.fileExists(atPath: target) {
            try fm.createSymbolicLink(atPath: work + "/sb/" + link, withDestinationPath: target)
        }
        try writeExecutable(work + "/sb/backend/kiosktest", """
            #!/bin/sh
            # Test backend: DEVICE_URI=kiosktest:/dir. Writes the job to /dir/job-<id>.prn.
            if [ $# -eq 0 ]; then echo 'direct kiosktest "Unknown" "Kiosk test backend"'; exit 0; fi
            dir="${DEVICE_URI#kiosktest:}"
            if [ -n "$6" ]; then cp "$6" "$dir/job-$1.prn"; else cat > "$dir/job-$1.prn"; fi
            if [ -e "$dir/jam" ]; then echo "STATE: +media-jam-error" >&2; echo "ERROR: paper jam" >&2; exit 1; fi
            reason=""
            while [ -e "$dir/fault" ]; do
              reason="$(cat "$dir/fault")"
              echo "STATE: +$reason" >&2
              sleep 0.2
            done
            if [ -n "$reason" ]; then echo "STATE: -$reason" >&2; fi
            echo "PAGE: 1 1" >&2
            exit 0
            """)
        try """
            LogLevel warn
            Listen 127.0.0.1:\(port)
            Listen \(work)/cups.sock
            Browsing Off
            BrowseLocalProtocols none
            DefaultAuthType None
            WebInterface No
            <Location />
              Order allow,deny
              Allow all
            </Location>
            <Location /admin>
              Order allow,deny
              Allow all
            </Location>
            """.write(toFile: work + "/root/cupsd.conf", atomically: true, encoding: .utf8)
        try """
            SystemGroup root
            User lp
            Group lp
            ServerRoot \(work)/root
            RequestRoot \(work)/spool
            TempDir \(work)/tmp
            CacheDir \(work)/cache
            StateDir \(work)/state
            AccessLog \(work)/log/access_log
            ErrorLog \(work)/log/error_log
            PageLog \(work)/log/page_log
            ServerBin \(work)/sb
            DataDir /usr/share/cups
            FileDevice Yes
            """.write(toFile: work + "/root/cups-files.conf", atomically: true, encoding: .utf8)
        do {
            _ = try procs.start(cupsd, ["-f", "-c", work + "/root/cupsd.conf", "-s", work + "/root/cups-files.conf"],
                                log: work + "/cupsd.out")
            let lpstat = try findTool("lpstat")
            let ready = try waitUntil(20) {
                try runTool(lpstat, ["-r"], env: ["CUPS_SERVER": server]).1.contains("is running")
            }
            guard ready else { throw FixtureError.notReady("cupsd on port \(port) did not start: \((try? String(contentsOfFile: work + "/log/error_log", encoding: .utf8)) ?? "")") }
            let (st, out) = try runTool(lpadmin, ["-p", queue, "-E", "-v", "kiosktest:\(outDir)", "-o", "printer-error-policy=abort-job"],
                                        env: ["CUPS_SERVER": server])
            guard st == 0 else { throw FixtureError.notReady("lpadmin failed: \(out)") }
        } catch {
            stop()
            throw error
        }
    }

    var printedFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outDir)) ?? []).filter { $0.hasSuffix(".prn") }.sorted().map { outDir + "/" + $0 }
    }

    func stop() {
        procs.stopAll()
        try? FileManager.default.removeItem(atPath: work)
    }
}

func testPDF(_ text: String = "Kiosk A4 test page") -> Data { A4TestPage.pdf(lines: [text]) }
