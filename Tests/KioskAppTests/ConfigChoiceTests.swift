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
