import KioskTestSupport
import Foundation
import KioskApp
import KioskDevices
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// The kiosk-terminal .deb, built once from the already-built debug binaries (scripts/build-deb.sh
// --bin-dir), listed, extracted into a scratch root and checked: contents, control data, maintainer
// scripts, generated udev rules and usb-quirks against the profiles, `systemd-analyze verify` and
// `systemd-analyze security --offline=yes` on the packaged units, sysusers and tmpfiles applied to
// the scratch root. A missing tool fails with the package to install (scripts/deps.sh test).

/// Runs a tool that must exist; a missing one is a failure that says what to install.
@discardableResult
func tool(_ name: String, _ args: [String], package: String) throws -> (status: Int32, out: String) {
    let path = ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map { $0 + name }.first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    guard let path else {
        throw HarnessError(
            description: "\(name) is not installed: apt-get install \(package) (scripts/deps.sh test installs it)")
    }
    return try run(path, args)
}

/// The scratch folder (about 200 MB of debug binaries), removed when the test process exits.
nonisolated(unsafe) var scratchToRemove: String?

/// The package built once per test process, and a root it is extracted into.
final class BuiltPackage: Sendable {
    let deb: String
    let root: String
    let listing: String

    static let shared: Result<BuiltPackage, HarnessError> = {
        do { return .success(try BuiltPackage()) } catch let e as HarnessError { return .failure(e) } catch {
            return .failure(HarnessError(description: "\(error)"))
        }
    }()

    static func get() throws -> BuiltPackage { try shared.get() }

    private init() throws {
        let dir = NSTemporaryDirectory() + "kiosk-deb-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        scratchToRemove = dir
        atexit { if let d = scratchToRemove { try? FileManager.default.removeItem(atPath: d) } }
        let binDir = (binary("kioskd") as NSString).deletingLastPathComponent
        for b in ["kioskd", "kioskctl", "kiosk-intake"]
        where !FileManager.default.isExecutableFile(atPath: binDir + "/" + b) {
            throw HarnessError(description: "\(binDir)/\(b) is missing: run `swift build --build-tests` first")
        }
        _ = try tool("dpkg-deb", ["--version"], package: "dpkg")
        let r = try run(
            packageRoot.path + "/scripts/build-deb.sh",
            ["--bin-dir", binDir, "--out", dir + "/out", "--version", "0.0.1~test"],
            env: ["KIOSK_DEB_COMPRESSION": "none"])
        guard r.status == 0, let last = r.out.split(separator: "\n").last, last.hasSuffix(".deb") else {
            throw HarnessError(description: "scripts/build-deb.sh failed (\(r.status)):\n\(r.out)")
        }
        deb = String(last)
        print(
            "packaging: built \(deb) (\(((try? FileManager.default.attributesOfItem(atPath: deb)[.size] as? Int) ?? 0) / 1024) KiB)"
        )
        listing = try tool("dpkg-deb", ["-c", deb], package: "dpkg").out
        root = dir + "/root"
        let x = try tool("dpkg-deb", ["-x", deb, root], package: "dpkg")
        guard x.status == 0 else { throw HarnessError(description: "dpkg-deb -x failed: \(x.out)") }
        // What `systemd-analyze --root` needs besides the package: the host's stock units (targets
        // the units refer to) and /bin/kill (ExecReload=), so nothing depends on a running systemd.
        let units = root + "/usr/lib/systemd"
        try FileManager.default.createDirectory(atPath: units, withIntermediateDirectories: true)
        _ = try run("/bin/cp", ["-a", "/usr/lib/systemd/system", units + "/"])
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        _ = try run("/bin/cp", ["/usr/bin/kill", root + "/bin/kill"])
    }

    /// `dpkg-deb -c` lines as path → (mode, owner).
    var entries: [String: (mode: String, owner: String)] {
        var out: [String: (String, String)] = [:]
        for line in listing.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6 else { continue }
            var path = String(f[5...].joined(separator: " "))
            if let arrow = path.range(of: " -> ") { path = String(path[..<arrow.lowerBound]) }
            if path.hasPrefix("./") { path.removeFirst() }
            if path.count > 1, path.hasSuffix("/") { path.removeLast() }
            out[path] = (String(f[0]), String(f[1]))
        }
        return out
    }

    func text(_ path: String) -> String {
        String(decoding: FileManager.default.contents(atPath: root + path) ?? Data(), as: UTF8.self)
    }
}

func profiles() throws -> [DeviceProfile] {
    try DeviceProfiles.load(directory: packageRoot.path + "/DeviceProfiles")
}

@Suite(.serialized) struct PackagingTests {
    @Test func debContainsBinariesUnitsRulesConfigAndProfiles() throws {
        let p = try BuiltPackage.get()
        let lines = p.listing.split(separator: "\n")
        let shown = lines.filter {
            !$0.contains("/usr/share/kioskd/guides/") && !$0.contains("/usr/share/kioskd/fixtures/camera/")
        }
        print(
            "packaging: dpkg-deb -c (\(lines.count) entries; guide and camera-fixture files not shown)\n"
                + shown.joined(separator: "\n"))
        let e = p.entries
        var expected = [
            "/usr/bin/kioskd", "/usr/bin/kioskctl", "/usr/bin/kiosk-intake", "/usr/bin/kiosk-screen",
            "/lib/systemd/system/kioskd.service", "/lib/systemd/system/kiosk-intake.service",
            "/lib/systemd/system/kiosk-display.service",
            "/lib/udev/rules.d/60-kioskd.rules", "/usr/lib/sysusers.d/kioskd.conf", "/usr/lib/tmpfiles.d/kioskd.conf",
            "/lib/udev/rules.d/99-kioskd-late.rules", "/usr/lib/modules-load.d/kioskd.conf",
            "/usr/share/cups/usb/kiosk.usb-quirks", "/etc/kioskd/kiosk.yaml", "/etc/kioskd/working-calendar.json",
            "/usr/share/kioskd/catalog.json", "/usr/share/kioskd/guides", "/usr/share/kioskd/fixtures/camera",
            "/usr/share/doc/kiosk-terminal/README.md",
        ]
        expected += ["kiosk-alerts.yml", "kiosk-alerts.test.yml", "kiosk-fleet-dashboard.json"].map {
            "/usr/share/kioskd/monitoring/" + $0
        }
        for prof in try profiles() {
            expected.append("/usr/share/kioskd/DeviceProfiles/" + ((prof.file ?? "") as NSString).lastPathComponent)
        }
        for path in expected { #expect(e[path] != nil, "\(path) is in the package") }
        for b in ["kioskd", "kioskctl", "kiosk-intake", "kiosk-screen"] {
            #expect(e["/usr/bin/" + b]?.mode == "-rwxr-xr-x")
        }
        #expect(e.values.allSatisfy { $0.owner == "root/root" }, "every file is owned by root")
        #expect(
            !e.keys.contains { $0.hasPrefix("/etc/kioskd/outbox.key") || $0.hasSuffix("upstream-token") },
            "no secrets shipped")
        #expect(e.keys.filter { $0.hasPrefix("/var") }.isEmpty, "no state shipped")

        let control = try tool("dpkg-deb", ["-f", p.deb], package: "dpkg").out
        #expect(control.contains("Package: kiosk-terminal"))
        #expect(control.contains("Version: 0.0.1~test"))
        #expect(control.range(of: "Depends:.*libusb-1.0-0", options: .regularExpression) != nil, "\(control)")
        // Not linked (dlopen on first use), so not found by ldd: listed by build-deb.sh itself.
        #expect(control.range(of: "Depends:.*libcups2", options: .regularExpression) != nil, "\(control)")
        // The oldest glibc the binaries run on, from their symbol versions: refused, not broken, on older systems.
        #expect(
            control.range(of: #"Depends:.*libc6 \(>= 2\.[0-9]+\)"#, options: .regularExpression) != nil, "\(control)")
        let info = p.root + "/DEBIAN-info"
        _ = try tool("dpkg-deb", ["-e", p.deb, info], package: "dpkg")
        let conffiles = String(
            decoding: FileManager.default.contents(atPath: info + "/conffiles") ?? Data(), as: UTF8.self)
        #expect(conffiles.contains("/etc/kioskd/kiosk.yaml"))
        #expect(conffiles.contains("/etc/kioskd/working-calendar.json"))  // edited on site every year
        for s in ["postinst", "prerm", "postrm"] {
            #expect(FileManager.default.isExecutableFile(atPath: info + "/" + s), "\(s) is executable")
            #expect(try run("/bin/sh", ["-n", info + "/" + s]).status == 0, "\(s) parses")
        }
        let postinst = String(
            decoding: FileManager.default.contents(atPath: info + "/postinst") ?? Data(), as: UTF8.self)
        for needed in [
            "systemd-sysusers", "adduser", "udevadm control --reload", "udevadm trigger", "systemctl daemon-reload",
            "kioskctl keygen",
        ] {
            #expect(postinst.contains(needed), "postinst runs \(needed)")
        }
        for never in ["systemctl enable", "systemctl start", "deb-systemd-helper enable"] {
            #expect(!postinst.contains(never), "postinst does not \(never)")
        }
    }

    @Test func packagedConfigPointsAtPackagedFiles() throws {
        let p = try BuiltPackage.get()
        let cfg = try KioskConfig.load(path: p.root + "/etc/kioskd/kiosk.yaml")
        #expect(cfg.stateDirectory == "/var/lib/kioskd")
        #expect(cfg.encryption.keyFile == "/run/credentials/kioskd.service/outbox-key")
        #expect(cfg.upstream.tokenFile == "/run/credentials/kioskd.service/upstream-token")
        for path in [
            cfg.catalog, cfg.guides ?? "", cfg.deviceProfiles ?? "", cfg.devices.documentCamera.fixtures ?? "",
        ] {
            #expect(path.hasPrefix("/usr/share/kioskd/"), "\(path) is an installed path")
            #expect(FileManager.default.fileExists(atPath: p.root + path), "\(path) is in the package")
        }
        // The working calendar beside kiosk.yaml, found through the relative `workingCalendar:`.
        #expect(cfg.workingCalendar == "working-calendar.json")
        #expect(FileManager.default.fileExists(atPath: p.root + "/etc/kioskd/" + (cfg.workingCalendar ?? "")))
        let unit = p.text("/lib/systemd/system/kioskd.service")
        #expect(unit.contains("LoadCredential=outbox-key:/etc/kioskd/outbox.key"))
        #expect(unit.contains("LoadCredential=upstream-token:/etc/kioskd/upstream-token"))
    }

    @Test func udevRulesGiveExactlyTheProfilesDevicesToKioskdev() throws {
        let p = try BuiltPackage.get()
        let rules = p.text("/lib/udev/rules.d/60-kioskd.rules")
        // What the package ships is what the profiles in the tree generate.
        let fresh = try run(
            binary("kioskctl"), ["packaging", "udev-rules", "--profiles", packageRoot.path + "/DeviceProfiles"])
        #expect(fresh.status == 0)
        #expect(fresh.out == rules)
        let lines = rules.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(!rules.contains("0666"), "no world-writable device")
        #expect(lines.allSatisfy { $0.contains("GROUP=\"kioskdev\", MODE=\"0660\"") })
        var expectedLines = 0
        for prof in try profiles() {
            guard let v = prof.usb?.vendorId, !["simulator", "cups"].contains(prof.transport) else { continue }
            expectedLines += 1
            let vid = String(format: "%04x", v)
            let pid = prof.usb?.productId.map { String(format: "%04x", $0) }
            let mine = lines.filter {
                $0.contains("{idVendor}==\"\(vid)\"") && (pid == nil || $0.contains("{idProduct}==\"\(pid!)\""))
            }
            #expect(mine.count == 1, "one rule for \(prof.id)")
            guard let rule = mine.first else { continue }
            switch prof.transport {
            case "usb-bulk", "usb-printer", "usb-vendor":
                #expect(rule.hasPrefix("SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", ATTR{idVendor}"), "\(rule)")
            case "serial":
                #expect(rule.hasPrefix("SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*|ttyACM*\", ATTRS{idVendor}"), "\(rule)")
            case "hid-a", "hid-b":
                #expect(rule.hasPrefix("SUBSYSTEM==\"hidraw\", KERNEL==\"hidraw*\", ATTRS{idVendor}"), "\(rule)")
            case "v4l2":
                #expect(rule.hasPrefix("SUBSYSTEM==\"video4linux\""), "\(rule)")
            default:
                Issue.record("profile \(prof.id): transport \(prof.transport) has no rule kind")
            }
        }
        #expect(lines.count == expectedLines)
        #expect(expectedLines >= 7, "the shipped reader profiles all have ids")
        print("packaging: \(lines.count) udev rules for \(expectedLines) profiles with USB ids")
    }

    @Test func receiptPrinterProfilesGetAUsbRuleAndACupsBlacklistLine() throws {
        // The shipped tree may have no USB receipt printer yet; profiles from other branches must
        // flow through without code changes, so try two made-up ones beside the shipped profiles.
        let dir = NSTemporaryDirectory() + "kiosk-profiles-\(UUID().uuidString.prefix(8))"
        _ = try run("/bin/cp", ["-r", packageRoot.path + "/DeviceProfiles", dir])
        FileManager.default.createFile(
            atPath: dir + "/test-printer-a.yaml",
            contents: Data(
                """
                id: test-printer-a
                name: "Test receipt printer (0FE6:811E)"
                kind: receiptPrinter
                transport: usb-printer
                usb: { vendorId: 0x0FE6, productId: 0x811E, interfaceClass: 0x07 }
                protocol: escpos
                receipt: { paperWidthMM: 80, dots: 576, columns: 48 }
                """.utf8))
        FileManager.default.createFile(
            atPath: dir + "/test-printer-b.yaml",
            contents: Data(
                """
                id: test-printer-b
                name: "Test vendor-class receipt printer, any product of 0x0519"
                kind: receiptPrinter
                transport: usb-vendor
                usb:
                  vendorId: 0x0519
                protocol: escpos
                receipt: { paperWidthMM: 58, dots: 384, columns: 32 }
                """.utf8))
        let quirks = try run(binary("kioskctl"), ["packaging", "usb-quirks", "--profiles", dir])
        #expect(quirks.status == 0, "\(quirks.out)")
        let q = quirks.out.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        // The shipped receipt printers plus the two made-up ones, one line each, in profile-id order.
        #expect(q.contains("0x0fe6 0x811e blacklist") && q.contains("0x0519 blacklist"))
        let shippedPrinters = try profiles().filter {
            $0.kind == "receiptPrinter" && $0.usb?.vendorId != nil && $0.transport != "simulator"
        }
        #expect(q.count == shippedPrinters.count + 2, "\(q)")
        let rules = try run(binary("kioskctl"), ["packaging", "udev-rules", "--profiles", dir]).out
        #expect(
            rules.contains(
                "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", ATTR{idVendor}==\"0fe6\", ATTR{idProduct}==\"811e\", GROUP=\"kioskdev\", MODE=\"0660\""
            ))
        #expect(rules.contains("ATTR{idVendor}==\"0519\", GROUP=\"kioskdev\", MODE=\"0660\""))

        // The shipped quirks file has one blacklist line per shipped USB receipt printer (readers never).
        let shipped = try BuiltPackage.get().text("/usr/share/cups/usb/kiosk.usb-quirks")
        let printers = try profiles().filter {
            $0.kind == "receiptPrinter" && $0.usb?.vendorId != nil && $0.transport != "simulator"
        }
        let lines = shipped.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        #expect(lines.count == printers.count)
        #expect(
            lines.allSatisfy {
                $0.range(of: "^0x[0-9a-f]{4}( 0x[0-9a-f]{4})? blacklist$", options: .regularExpression) != nil
            })
    }

    @Test func unitsPassSystemdAnalyzeVerify() throws {
        let p = try BuiltPackage.get()
        let units = ["kioskd.service", "kiosk-intake.service", "kiosk-display.service"].map {
            p.root + "/lib/systemd/system/" + $0
        }
        let r = try tool("systemd-analyze", ["verify", "--man=no", "--root=" + p.root] + units, package: "systemd")
        print("packaging: systemd-analyze verify: status \(r.status)\(r.out.isEmpty ? ", no findings" : "\n" + r.out)")
        #expect(r.status == 0)
        #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no warnings: \(r.out)")
        // A broken line is reported (the check can fail).
        let broken = p.root + "/lib/systemd/system/kiosk-broken.service"
        try Data(
            p.text("/lib/systemd/system/kioskd.service").replacingOccurrences(of: "Type=notify", with: "Type=notifyy")
                .utf8
        )
        .write(to: URL(fileURLWithPath: broken))
        defer { unlink(broken) }
        let b = try tool("systemd-analyze", ["verify", "--man=no", "--root=" + p.root, broken], package: "systemd")
        #expect(b.out.contains("Failed to parse service type"))
    }

    @Test func kioskdExposureIsAtMostThree() throws {
        let p = try BuiltPackage.get()
        for (unit, limit) in [("kioskd.service", 3.0), ("kiosk-intake.service", 3.0)] {
            let r = try tool(
                "systemd-analyze", ["security", "--offline=yes", "--root=" + p.root, "--no-pager", unit],
                package: "systemd")
            guard let m = r.out.range(of: "Overall exposure level for \(unit): [0-9.]+", options: .regularExpression)
            else {
                Issue.record("no exposure figure for \(unit):\n\(r.out)")
                continue
            }
            let figure = Double(r.out[m].split(separator: " ").last ?? "") ?? 99
            print("packaging: systemd-analyze security --offline=yes \(unit): exposure \(figure)")
            #expect(figure <= limit, "\(unit) exposure \(figure) > \(limit):\n\(r.out)")
        }
        // The sandbox keeps what the devices and CUPS need.
        let unit = p.text("/lib/systemd/system/kioskd.service")
        for line in [
            "Type=notify", "WatchdogSec=", "Restart=always", "User=kioskd", "SupplementaryGroups=kioskdev",
            "StandardInput=null", "StateDirectory=kioskd", "RuntimeDirectory=kioskd",
            "ReadWritePaths=-/run/kioskd-screen",
            "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
            "DevicePolicy=closed", "DeviceAllow=char-usb_device rw", "DeviceAllow=char-hidraw rw",
            "DeviceAllow=char-ttyUSB rw", "SystemCallFilter=@system-service",
        ] {
            #expect(unit.contains("\n" + line), "kioskd.service has \(line)")
        }
        // kioskd owns no terminal: the display unit owns tty1 and draws the screen socket.
        #expect(!unit.contains("\nTTYPath="), "kioskd.service owns no terminal")
        let display = p.text("/lib/systemd/system/kiosk-display.service")
        for line in [
            "ExecStart=/usr/bin/kiosk-screen display --config /etc/kioskd/kiosk.yaml", "Restart=always",
            "User=kiosk-display", "SupplementaryGroups=kioskscreen video input render", "PAMName=login",
            "TTYPath=/dev/tty1", "Conflicts=getty@tty1.service",
        ] {
            #expect(display.contains("\n" + line), "kiosk-display.service has \(line)")
        }
        let control = try tool("dpkg-deb", ["-f", p.deb, "Recommends"], package: "dpkg").out
        for pkg in ["cage", "foot", "fonts-wqy-microhei", "xwayland"] {
            #expect(control.contains(pkg), "the package recommends \(pkg): \(control)")
        }
        #expect(!unit.contains("\nPrivateDevices=yes"), "PrivateDevices= would hide /dev/bus/usb")
        let families = unit.split(separator: "\n").first { $0.hasPrefix("RestrictAddressFamilies=") } ?? ""
        for f in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"] {
            #expect(families.contains(f), "\(f) allowed (CUPS, upstream, hot-plug)")
        }
        #expect(!unit.contains("InaccessiblePaths=/run"), "the CUPS socket stays reachable")
    }

    @Test func sysusersAndTmpfilesCreateTheUserGroupAndDirectories() throws {
        let p = try BuiltPackage.get()
        let scratch = p.root + "-sysroot-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: scratch + "/etc", withIntermediateDirectories: true)
        let s = try tool(
            "systemd-sysusers", ["--root=" + scratch, p.root + "/usr/lib/sysusers.d/kioskd.conf"], package: "systemd")
        #expect(s.status == 0, "\(s.out)")
        let passwd = String(
            decoding: FileManager.default.contents(atPath: scratch + "/etc/passwd") ?? Data(), as: UTF8.self)
        let group = String(
            decoding: FileManager.default.contents(atPath: scratch + "/etc/group") ?? Data(), as: UTF8.self)
        #expect(
            passwd.split(separator: "\n").contains {
                $0.hasPrefix("kioskd:x:") && $0.hasSuffix(":/var/lib/kioskd:/usr/sbin/nologin")
            }, "\(passwd)")
        #expect(
            group.split(separator: "\n").contains { $0.hasPrefix("kioskdev:x:") && $0.hasSuffix(":kioskd") }, "\(group)"
        )
        let t = try tool(
            "systemd-tmpfiles", ["--root=" + scratch, "--create", p.root + "/usr/lib/tmpfiles.d/kioskd.conf"],
            package: "systemd")
        #expect(t.status == 0, "\(t.out)")
        let uid =
            passwd.split(separator: "\n").first { $0.hasPrefix("kioskd:") }.map {
                Int($0.split(separator: ":")[2]) ?? -1
            } ?? -1
        #expect(
            group.split(separator: "\n").contains { $0.hasPrefix("kioskscreen:x:") && $0.hasSuffix(":kiosk-display") },
            "\(group)")
        for (dir, mode) in [
            ("/var/lib/kioskd", 0o700), ("/var/lib/kioskd/logs", 0o700), ("/run/kioskd", 0o750),
            ("/run/kioskd-screen", 0o755),
        ] {
            let a = try FileManager.default.attributesOfItem(atPath: scratch + dir)
            #expect((a[.posixPermissions] as? Int) == mode, "\(dir) mode")
            #expect((a[.ownerAccountID] as? Int) == uid, "\(dir) owned by kioskd")
        }
    }
}
