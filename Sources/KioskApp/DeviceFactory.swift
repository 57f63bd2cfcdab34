import Foundation
import KioskCore
import KioskDevices
import KioskProtocols
import Logging

/// Builds the printers a config describes; shared by kioskd and kioskctl.
public enum DeviceFactory {
    public struct ReceiptPrinterSetup: Sendable {
        public var printer: ReceiptPrinter
        public var simulator: SimulatedReceiptPrinter?
        public var profile: ReceiptPrinterProfile
        public var profileId: String
    }

    /// The receipt printer of `config` (nil for mode none). `usb` opens the device now: a printer
    /// that is not plugged in yet is an error naming what was looked for.
    public static func receiptPrinter(_ config: KioskConfig, logger: Logger) throws -> ReceiptPrinterSetup? {
        let d = config.devices.receiptPrinter
        switch d.mode {
        case .simulated:
            let out = config.simulatorOutputPath + "/receipts"
            try DurableFile.makeDirectory(out)
            let sim = SimulatedReceiptPrinter(outputDirectory: out)
            var profile = ReceiptPrinterProfile.mm80
            var id = "simulated-escpos-80mm"
            if let pid = d.profile, let p = try? config.receiptPrinterProfile(pid), let rp = p.receiptPrinterProfile {
                profile = rp
                id = pid
            }
            let printer = ReceiptPrinter(
                transport: SimulatorLink(model: sim, name: "receipt-printer"),
                profile: profile, model: "simulated \(profile.paperWidthMM) mm ESC/POS printer",
                simulated: true, bidirectional: true, logger: logger,
                bufferClearCommand: SimulatedReceiptPrinter.clearBufferCommand)
            return ReceiptPrinterSetup(printer: printer, simulator: sim, profile: profile, profileId: id)
        case .usb:
            let p = try config.receiptPrinterProfile(d.profile ?? "generic-80")
            guard let rp = p.receiptPrinterProfile else { throw ConfigError("profile \(p.id) has no receipt section") }
            let printer = try USBReceiptPrinterFactory.open(profile: p, device: d, logger: logger)
            return ReceiptPrinterSetup(printer: printer, simulator: nil, profile: rp, profileId: p.id)
        case .none:
            return nil
        }
    }

    /// The simulated A4 printer of `config` (mode simulated): PDFs land in <simulation output>/a4.
    public static func simulatedA4Printer(_ config: KioskConfig) -> SimulatedA4Printer? {
        guard config.devices.a4Printer?.mode == .simulated else { return nil }
        return SimulatedA4Printer(outputDirectory: config.simulatorOutputPath + "/a4")
    }

    /// The A4 printer of `config` (nil unless mode cups).
    public static func a4Printer(_ config: KioskConfig, logger: Logger) -> A4Printer? {
        guard let s = config.a4PrinterSettings else { return nil }
        return A4Printer(settings: s, model: "CUPS \(s.target)", logger: logger)
    }
}
