import Foundation
import KioskApp
import KioskDevices
import KioskProtocols
import Testing

@Suite struct DeviceProfileTests {
    let dir = root.appendingPathComponent("DeviceProfiles").path

    @Test func shippedProfilesLoadAndCoverRealFamiliesAndGenerics() throws {
        let catalog = try DeviceProfileCatalog.load(directory: dir)
        let printers = catalog.receiptPrinters
        let generic80 = try #require(catalog.profile("generic-80"))
        let generic58 = try #require(catalog.profile("generic-58"))
        #expect(generic80.receiptPrinterProfile?.dots == 576 && generic80.receiptPrinterProfile?.columns == 48)
        #expect(generic58.receiptPrinterProfile?.dots == 384 && generic58.receiptPrinterProfile?.columns == 32)
        let real = printers.filter { !$0.id.hasPrefix("generic-") && $0.transport != "simulator" }
        #expect(real.count >= 3, "\(real.map(\.id))")
        for p in printers {
            let r = try #require(p.receiptPrinterProfile)
            #expect(p.writeChunkBytes <= 4096)
            #expect(r.dots % 8 == 0)
        }
        // Hex USB ids in YAML.
        let epson = try #require(catalog.profile("epson-tm-t88"))
        #expect(epson.usb?.vendorId == 0x04B8 && epson.usb?.interfaceClass == 0xFF && epson.transport == "usb-vendor")
        #expect(catalog.profile("xprinter-xp58")?.receiptPrinterProfile?.supportsCut == false)
    }

    @Test func badProfilesNameTheFieldToFix() {
        let base = """
            id: test-printer
            name: Test
            kind: receiptPrinter
            transport: usb-printer
            protocol: escpos
            """
        #expect(throws: DeviceProfileError.self) { try DeviceProfiles.parse(yaml: base, name: "t.yaml") }  // no receipt
        do {
            _ = try DeviceProfiles.parse(
                yaml: base + "\nreceipt: { paperWidthMM: 80, dots: 570, columns: 48 }", name: "t.yaml")
            Issue.record("dots 570 accepted")
        } catch { #expect("\(error)".contains("receipt.dots")) }
        do {
            _ = try DeviceProfiles.parse(
                yaml: base + "\nreceipt: { paperWidthMM: 80, dots: 576, columns: 48, chunkBytes: 65536 }",
                name: "t.yaml")
            Issue.record("chunk 65536 accepted")
        } catch { #expect("\(error)".contains("chunkBytes")) }
        do {
            _ = try DeviceProfiles.parse(
                yaml: base + "\nusb: { interfaceClass: 0xFF }\nreceipt: { paperWidthMM: 80, dots: 576, columns: 48 }",
                name: "t.yaml")
            Issue.record("class FF on usb-printer accepted")
        } catch { #expect("\(error)".contains("usb-vendor")) }
        do {
            _ = try DeviceProfiles.parse(
                yaml: base + "\nreceipt: { paperWidthMM: 80, dots: 576, columns: 48, encoding: UTF-8 }", name: "t.yaml")
            Issue.record("UTF-8 accepted")
        } catch { #expect("\(error)".contains("GB18030")) }
        #expect(throws: DeviceProfileError.self) { try DeviceProfiles.parse(yaml: "::: not yaml", name: "t.yaml") }
        let ok = try? DeviceProfiles.parse(
            yaml: base + "\nreceipt: { paperWidthMM: 58, dots: 384, columns: 32, status: none, cut: none }",
            name: "t.yaml")
        #expect(ok?.statusSupport == DeviceProfile.StatusSupport.none)
        #expect(ok?.receiptPrinterProfile?.supportsCut == false)
    }

    func config(_ devices: String) throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let yaml = """
            station: { id: T-1, name: 测试, casePrefix: GH }
            stateDirectory: state
            catalog: catalog.json
            deviceProfiles: \(dir)
            encryption: { keyFile: key }
            upstream: { url: "http://127.0.0.1:1", token: t }
            devices:
            \(devices)
            """
        let f = d.appendingPathComponent("kiosk.yaml")
        try yaml.write(to: f, atomically: true, encoding: .utf8)
        return f
    }

    func loadError(_ devices: String) throws -> String? {
        let f = try config(devices)
        do {
            _ = try KioskConfig.load(path: f.path)
            return nil
        } catch { return "\(error)" }
    }

    @Test func receiptPrinterAndA4ModesAreValidated() throws {
        let common = "  idCardReader: { mode: simulated }\n  documentCamera: { mode: simulated }\n"
        #expect(
            try loadError(
                common
                    + "  receiptPrinter: { mode: usb, profile: generic-58 }\n  a4Printer: { mode: cups, queue: cert_a4 }"
            ) == nil)
        #expect(try loadError(common + "  receiptPrinter: { mode: usb }")?.contains("profile") == true)
        #expect(
            try loadError(common + "  receiptPrinter: { mode: usb, profile: no-such }")?.contains("generic-80") == true)
        #expect(
            try loadError(common + "  receiptPrinter: { mode: usb, profile: simulated-escpos-80mm }")?.contains(
                "transport") == true)
        #expect(
            try loadError(common + "  receiptPrinter: { mode: usb, profile: generic-80, chunkBytes: 10000 }")?.contains(
                "chunkBytes") == true)
        #expect(try loadError(common + "  receiptPrinter: { mode: serial }")?.contains("usb") == true)
        #expect(
            try loadError(common + "  receiptPrinter: { mode: none }\n  a4Printer: { mode: cups }")?.contains("queue")
                == true)
        #expect(
            try loadError(common + "  receiptPrinter: { mode: none }\n  a4Printer: { mode: cups, uri: \"http://x\" }")?
                .contains("ipp://") == true)
        let f = try config(
            common
                + "  receiptPrinter: { mode: none }\n  a4Printer: { mode: cups, uri: \"ipp://127.0.0.1:8631/ipp/print\", jobTimeoutSeconds: 30 }"
        )
        let cfg = try KioskConfig.load(path: f.path)
        #expect(cfg.a4PrinterSettings?.uri == "ipp://127.0.0.1:8631/ipp/print")
        #expect(cfg.a4PrinterSettings?.jobTimeout == .seconds(30))
    }
}
