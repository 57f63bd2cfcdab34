import Foundation
import KioskApp
import Testing

/// Settings with a fixed set of values are decoded once into enums; anything else is refused with
/// the key's full name and the values it takes (kioskd turns that into exit 78).
@Suite struct ConfigChoiceTests {
    func load(_ edit: (String) -> String) throws -> Result<KioskConfig, Error> {
        let shipped = try String(contentsOf: root.appendingPathComponent("kiosk-config/kiosk.yaml"), encoding: .utf8)
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("choice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let f = d.appendingPathComponent("kiosk.yaml")
        try edit(shipped).write(to: f, atomically: true, encoding: .utf8)
        return Result { try KioskConfig.load(path: f.path) }
    }

    func error(_ edit: (String) -> String) throws -> String? {
        if case .failure(let e) = try load(edit) { return "\(e)" }
        return nil
    }

    @Test func theShippedConfigDecodesIntoTypedChoices() throws {
        let c = try load { $0 }.get()
        #expect(c.devices.idCardReader.mode == .simulated)
        #expect(c.devices.receiptPrinter.mode == .simulated)
        #expect(c.devices.a4Printer?.mode == A4PrinterMode.none)
        #expect(c.accessibility?.language == .zh)
        #expect(c.timeZone.identifier == "Asia/Shanghai")
    }

    @Test(arguments: [
        (
            "idCardReader:   { mode: simulated }", "idCardReader:   { mode: usbb }", "devices.idCardReader.mode",
            "usb, serial, hid, auto, simulated, none"
        ),
        (
            "documentCamera: { mode: simulated,", "documentCamera: { mode: uvc,", "devices.documentCamera.mode",
            "v4l2, simulated, none"
        ),
        (
            "receiptPrinter: { mode: simulated,", "receiptPrinter: { mode: serial,", "devices.receiptPrinter.mode",
            "usb, simulated, none"
        ),
        (
            "a4Printer:      { mode: none }", "a4Printer:      { mode: ipp }", "devices.a4Printer.mode",
            "cups, simulated, none"
        ),
        ("  language: zh ", "  language: fr ", "accessibility.language", "zh, en"),
    ])
    func anUnknownValueNamesTheKeyAndTheChoices(_ from: String, _ to: String, _ key: String, _ choices: String) throws {
        let e = try #require(try error { $0.replacingOccurrences(of: from, with: to) })
        #expect(e.contains("`\(key)`"), "\(e)")
        #expect(e.contains(choices), "\(e)")
    }

    @Test func logLevelAndTimeZoneAreChecked() throws {
        let bad = try error {
            $0.replacingOccurrences(of: "  casePrefix: GH ", with: "  casePrefix: GH\n  timeZone: Mars/Olympus ")
        }
        #expect(bad?.contains("station.timeZone") == true, "\(bad ?? "accepted")")
        let urumqi = try load {
            $0.replacingOccurrences(of: "  casePrefix: GH ", with: "  casePrefix: GH\n  timeZone: Asia/Urumqi ")
        }.get()
        #expect(urumqi.timeZone.identifier == "Asia/Urumqi")
        let level = try error { $0.replacingOccurrences(of: "  level: info ", with: "  level: loud ") }
        #expect(level?.contains("`logging.level`") == true, "\(level ?? "accepted")")
        #expect(
            try load { $0.replacingOccurrences(of: "  level: info ", with: "  level: debug ") }.get().logging?.level
                == .debug)
    }
}

/// Settings that could hurt (0 s intervals, an empty station id, a key others can read) stop kioskd
/// with the key's name, before it does anything.
@Suite struct ConfigRangeTests {
    func error(_ edit: (String) -> String) throws -> String? {
        if case .failure(let e) = try ConfigChoiceTests().load(edit) { return "\(e)" }
        return nil
    }

    @Test(arguments: [
        ("  statusSyncSeconds: 60 ", "  statusSyncSeconds: 0 ", "upstream.statusSyncSeconds"),
        ("  maxBackoffSeconds: 300", "  maxBackoffSeconds: 0", "upstream.maxBackoffSeconds"),
        ("  requestTimeoutSeconds: 30", "  requestTimeoutSeconds: 0", "upstream.requestTimeoutSeconds"),
        ("  initialBackoffSeconds: 2", "  initialBackoffSeconds: 0", "upstream.initialBackoffSeconds"),
        ("  heartbeatSeconds: 300 ", "  heartbeatSeconds: -5 ", "upstream.heartbeatSeconds"),
        ("  warningSeconds: 20 ", "  warningSeconds: 95 ", "session.warningSeconds"),
        ("  retentionDays: 30 ", "  retentionDays: 99999 ", "storage.retentionDays"),
        ("  id: XY-GH-001 ", "  id: \"\" ", "station.id"),
        ("  id: XY-GH-001 ", "  id: \"站 1\" ", "station.id"),
        ("  id: XY-GH-001 ", "  id: -XY-GH-001 ", "station.id"),
        ("  id: XY-GH-001 ", "  id: X\(String(repeating: "y", count: 64)) ", "station.id"),
        ("  id: XY-GH-001 ", "  id: \"XY-GH-001\\n\" ", "station.id"),
        ("  casePrefix: GH ", "  casePrefix: gh ", "station.casePrefix"),
        ("  casePrefix: GH ", "  casePrefix: GH12345678 ", "station.casePrefix"),
        ("  casePrefix: GH ", "  casePrefix: ＧＨ ", "station.casePrefix"),
    ])
    func outOfRangeNamesTheKey(_ from: String, _ to: String, _ key: String) throws {
        let e = try #require(try error { $0.replacingOccurrences(of: from, with: to) }, "\(to) was accepted")
        #expect(e.contains(key), "\(e)")
    }

    /// The name checks are written out (no NSRegularExpression at start): the longest and the
    /// first-character rules still hold, and a `<<` merge key still merges.
    @Test func namesAtTheirLimitsAndMergeKeysAreAccepted() throws {
        let longest = "X" + String(repeating: "y.", count: 31) + "z"  // 64
        #expect(try error { $0.replacingOccurrences(of: "  id: XY-GH-001 ", with: "  id: \(longest) ") } == nil)
        #expect(try error { $0.replacingOccurrences(of: "  casePrefix: GH ", with: "  casePrefix: AB345678 ") } == nil)
        let merged = try ConfigChoiceTests().load {
            "defaults: &d { maxBackoffSeconds: 123 }\n"
                + $0.replacingOccurrences(of: "upstream:\n", with: "upstream:\n  <<: *d\n")
                .replacingOccurrences(of: "  maxBackoffSeconds: 300\n", with: "")
        }
        #expect(try merged.get().upstream.maxBackoffSeconds == 123)
    }

    @Test func theShippedValuesAreInRangeAndHeartbeatsMayBeOff() throws {
        #expect(try error { $0 } == nil)
        #expect(
            try error { $0.replacingOccurrences(of: "  heartbeatSeconds: 300 ", with: "  heartbeatSeconds: 0 ") } == nil
        )
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyperm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let key = dir + "/outbox.key"
        try String(repeating: "ab", count: 32).write(toFile: key, atomically: true, encoding: .utf8)
        let cfg = try ConfigChoiceTests().load {
            $0.replacingOccurrences(of: "/run/credentials/kioskd.service/outbox-key", with: key)
        }.get()
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        #expect(throws: ConfigError.self) { try cfg.checkSecretFilePermissions(environment: [:]) }
        do {
            try cfg.checkSecretFilePermissions(environment: [:])
        } catch {
            #expect("\(error)".contains("encryption.keyFile") && "\(error)".contains("chmod 600"))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        try cfg.checkSecretFilePermissions(environment: [:])
        // systemd credentials belong to the unit whatever their mode.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        try cfg.checkSecretFilePermissions(environment: ["CREDENTIALS_DIRECTORY": dir])
    }
}
