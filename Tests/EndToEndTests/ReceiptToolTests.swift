import Foundation
import Testing
import KioskTestSupport

/// kioskctl's receipt tools, and the sample receipts checked by scripts/check-escpos.py, a parser
/// written independently of the Swift decoder (Python's own gb18030 codec, its own command table).
@Suite struct ReceiptToolTests {
    static let profiles: [(id: String, columns: Int, dots: Int, cut: String)] = [
        ("generic-80", 48, 576, "partial"), ("generic-58", 32, 384, "partial"),
        ("epson-tm-t88", 42, 512, "partial"), ("xprinter-xp58", 32, 384, "none"), ("snbc-bk-t680", 48, 576, "partial"),
    ]

    @Test(arguments: profiles.map(\.id))
    func sampleReceiptPassesTheIndependentCheck(profile: String) throws {
        let p = Self.profiles.first { $0.id == profile }!
        let out = NSTemporaryDirectory() + "sample-\(profile)-\(UUID().uuidString).bin"
        defer { unlink(out) }
        let r = try run(binary("kioskctl"), ["receipt", "sample", "--profile", profile, "--out", out, "--barcode"])
        #expect(r.status == 0, "\(r.out)")
        let check = try run(
            "/usr/bin/python3",
            [
                packageRoot.appendingPathComponent("scripts/check-escpos.py").path, out,
                "--columns", "\(p.columns)", "--dots", "\(p.dots)", "--cut", p.cut,
                "--expect-qr", "GH202612010001",
                "--expect-text", "受理回执", "--expect-text", "1101**********0016",
                "--expect-text", "测**", "--expect-text", "GH202612010001",
                "--expect-text", "￥0.00",
                "--forbid", "110105200001010016", "--forbid", "测试一", "--json",
            ])
        #expect(r.status == 0)
        #expect(check.status == 0, "\(check.out)")
        #expect(check.out.contains("\"ok\": true"))
    }

    @Test func decodeShowsTextSizesAlignmentQRAndCut() throws {
        let out = NSTemporaryDirectory() + "sample-decode-\(UUID().uuidString).bin"
        defer { unlink(out) }
        #expect(
            try run(binary("kioskctl"), ["receipt", "sample", "--profile", "generic-58", "--out", out]).status == 0)
        let r = try run(binary("kioskctl"), ["escpos", "decode", out])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("C 2x2   | 受理回执"))
        #expect(r.out.contains("1101**********0016"))
        #expect(r.out.contains("# QR code (module 6 dots): GH202612010001"))
        #expect(r.out.contains("# raster image 96x96 dots"))
        #expect(r.out.contains("# cut (partial)"))
        #expect(r.out.contains("# Chinese mode on"))
        #expect(!r.out.contains("110105200001010016"))
    }

    @Test func testReceiptAndTestA4UseTheConfiguredPrinters() throws {
        let dir = NSTemporaryDirectory() + "kctl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = dir + "/kiosk.yaml"
        try """
        station: { id: T-1, name: 测试, casePrefix: GH }
        stateDirectory: state
        catalog: catalog.json
        deviceProfiles: \(packageRoot.appendingPathComponent("DeviceProfiles").path)
        encryption: { keyFile: key }
        upstream: { url: "http://127.0.0.1:1", token: t }
        devices:
          idCardReader: { mode: none }
          documentCamera: { mode: none }
          receiptPrinter: { mode: simulated, profile: generic-58 }
          a4Printer: { mode: cups, uri: "ipp://127.0.0.1:\(freePort())/ipp/print", jobTimeoutSeconds: 10 }
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try run(binary("kioskctl"), ["print", "test-receipt", "--config", cfg])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("test receipt printed"))
        #expect(r.out.contains("01234567890123456789012345678901"))
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/simulator/receipts")) ?? []
        #expect(files.count == 1)
        // No A4 printer answering: a clear error, not a hang.
        let a4 = try run(binary("kioskctl"), ["print", "test-a4", "--config", cfg])
        #expect(a4.status != 0)
        #expect(a4.out.contains("cannot connect"))
    }

    @Test func toolsGiveClearErrorsForBadInput() throws {
        let bad = try run(
            binary("kioskctl"), ["receipt", "sample", "--profile", "no-such-printer", "--out", "/tmp/x.bin"])
        #expect(bad.status != 0)
        #expect(bad.out.contains("generic-80"))
        let missing = try run(binary("kioskctl"), ["escpos", "decode", "/nonexistent/file.bin"])
        #expect(missing.status != 0)
        #expect(missing.out.contains("cannot read"))
        // A truncated stream is reported, not crashed on.
        let f = NSTemporaryDirectory() + "trunc-\(UUID().uuidString).bin"
        defer { unlink(f) }
        FileManager.default.createFile(atPath: f, contents: Data([0x1B, 0x40, 0x1D, 0x28, 0x6B, 0x20, 0x00, 0x31]))
        let t = try run(binary("kioskctl"), ["escpos", "decode", f])
        #expect(t.status == 0)
        #expect(t.out.contains("truncated"))
    }
}
