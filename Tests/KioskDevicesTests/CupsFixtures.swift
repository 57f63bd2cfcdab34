// Throw-away CUPS fixtures started by the tests themselves (test-harness.md §7): an ippeveprinter
// (IPP Everywhere printer, with its own private D-Bus) and a private cupsd with a test backend.
// Every process started here is stopped by PID in `stop()`; the work directory is removed.

import Foundation
import KioskDevices
import KioskTestSupport
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

enum FixtureError: Error, CustomStringConvertible {
    case missing(String)
    case notReady(String)
    var description: String {
        switch self {
        case .missing(let t):
            return
                "\(t) not found: run scripts/deps.sh test (installs cups-daemon, cups-client, cups-ipp-utils, dbus-daemon)"
        case .notReady(let t): return "fixture not ready: \(t)"
        }
    }
}

func findTool(_ name: String) throws -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    throw FixtureError.missing(name)
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

/// What one fixture started, stopped newest first by PID (SIGTERM, then SIGKILL), always reaped.
final class FixtureProcesses: Sendable {
    private let procs = Mutex<[BackgroundProcess]>([])

    func start(_ path: String, _ args: [String], env: [String: String] = [:], log: String) throws -> BackgroundProcess {
        let p = try BackgroundProcess(path, args, env: env, log: log)
        procs.withLock { $0.append(p) }
        return p
    }

    func stopAll() {
        let all = procs.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for p in all.reversed() { p.stop(grace: 3) }
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
        let ippeve = try findTool("ippeveprinter")
        let dbus = try findTool("dbus-daemon")
        let curl = try findTool("curl")
        work = try makeWorkDirectory()
        port = freePort()
        outDir = work + "/out"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work + "/spool", withIntermediateDirectories: true)
        try writeExecutable(
            work + "/printcmd.sh",
            """
            #!/bin/sh
            # ippeveprinter print command: keep the document; a jam file makes the job fail with media-jam.
            cp "$1" "\(outDir)/job-$$.pdf"
            if [ -e "\(jamFile)" ]; then echo "STATE: +media-jam" >&2; exit 1; fi
            exit 0
            """)
        do {
            // A private D-Bus bus, else ippeveprinter stops with "Unable to initialize DNS-SD."
            let bus = try procs.start(dbus, ["--session", "--nofork", "--print-address=1"], log: work + "/dbus.out")
            do {
                try waitUntil(10, "dbus-daemon to print its address") { bus.output.contains("\n") }
            } catch {
                throw FixtureError.notReady("dbus-daemon printed no address: \(bus.output)")
            }
            let address = String(bus.output.split(separator: "\n").first ?? "")
            _ = try procs.start(
                ippeve,
                [
                    "-p", "\(port)", "-n", "localhost", "-r", "off", "-d", work + "/spool",
                    "-c", work + "/printcmd.sh", "-f", formats, "KioskA4",
                ],
                env: ["DBUS_SYSTEM_BUS_ADDRESS": address, "DBUS_SESSION_BUS_ADDRESS": address],
                log: work + "/ippeveprinter.log")
            let ipptool = try findTool("ipptool")
            do {
                try waitUntil(20, "ippeveprinter to answer") {
                    try run(ipptool, ["-q", "-T", "2", uri, "get-printer-attributes.test"]).status == 0
                }
            } catch {
                throw FixtureError.notReady("ippeveprinter on port \(port) did not answer")
            }
            let level = paper ? 250 : 0
            let (st, out) = try run(
                curl,
                [
                    "-fsS", "-o", "/dev/null",
                    "http://localhost:\(port)/media?size1=iso_a4_210x297mm&type1=stationery&level1=\(level)&size3=iso_a4_210x297mm&type3=stationery&level3=\(paper ? 25 : 0)",
                ])
            guard st == 0 else { throw FixtureError.notReady("loading media failed: \(out)") }
        } catch {
            stop()
            throw error
        }
    }

    /// Loads paper into tray 1 (after starting with empty trays).
    func loadPaper() throws {
        let (st, out) = try run(
            try findTool("curl"),
            [
                "-fsS", "-o", "/dev/null",
                "http://localhost:\(port)/media?size1=iso_a4_210x297mm&type1=stationery&level1=250&size3=iso_a4_210x297mm&type3=stationery&level3=25",
            ])
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
        let cupsd = try findTool("cupsd")
        let lpadmin = try findTool("lpadmin")
        work = try makeWorkDirectory()
        chmod(work, 0o755)  // the backend runs as lp
        port = freePort()
        outDir = work + "/out"
        let fm = FileManager.default
        for d in ["root", "spool", "tmp", "cache", "state", "log", "sb", "sb/backend", "out"] {
            try fm.createDirectory(atPath: work + "/" + d, withIntermediateDirectories: true)
        }
        chmod(work + "/tmp", 0o1777)
        chmod(outDir, 0o777)
        for (link, target) in [
            ("daemon", "/usr/lib/cups/daemon"), ("notifier", "/usr/lib/cups/notifier"),
            ("filter", "/usr/lib/cups/filter"), ("backend/ipp", "/usr/lib/cups/backend/ipp"),
        ]
        where fm.fileExists(atPath: target) {
            try fm.createSymbolicLink(atPath: work + "/sb/" + link, withDestinationPath: target)
        }
        try writeExecutable(
            work + "/sb/backend/kiosktest",
            """
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
            _ = try procs.start(
                cupsd, ["-f", "-c", work + "/root/cupsd.conf", "-s", work + "/root/cups-files.conf"],
                log: work + "/cupsd.out")
            let lpstat = try findTool("lpstat")
            let ready =
                (try? waitUntil(20, "cupsd to run") {
                    try run(lpstat, ["-r"], env: ["CUPS_SERVER": server]).out.contains("is running")
                }) != nil
            guard ready else {
                throw FixtureError.notReady(
                    "cupsd on port \(port) did not start: \((try? String(contentsOfFile: work + "/log/error_log", encoding: .utf8)) ?? "")"
                )
            }
            let (st, out) = try run(
                lpadmin, ["-p", queue, "-E", "-v", "kiosktest:\(outDir)", "-o", "printer-error-policy=abort-job"],
                env: ["CUPS_SERVER": server])
            guard st == 0 else { throw FixtureError.notReady("lpadmin failed: \(out)") }
        } catch {
            stop()
            throw error
        }
    }

    var printedFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outDir)) ?? []).filter { $0.hasSuffix(".prn") }.sorted()
            .map { outDir + "/" + $0 }
    }

    func stop() {
        procs.stopAll()
        try? FileManager.default.removeItem(atPath: work)
    }
}

func testPDF(_ text: String = "Kiosk A4 test page") -> Data { A4TestPage.pdf(lines: [text]) }
