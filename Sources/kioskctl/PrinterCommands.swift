import ArgumentParser
import Foundation
import KioskApp
import KioskDevices
import KioskProtocols
import Logging

/// Loads a receipt printer profile by id from --profiles, the config's deviceProfiles, or the shipped folder.
func loadReceiptProfile(_ id: String, profilesDir: String?) throws -> DeviceProfile {
    guard let dir = profilesDir ?? DeviceProfileCatalog.shippedDirectory() else {
        throw ValidationError("no DeviceProfiles folder found: pass --profiles DIR")
    }
    let catalog: DeviceProfileCatalog
    do { catalog = try DeviceProfileCatalog.load(directory: dir) } catch { throw ValidationError("\(error)") }
    guard let p = catalog.profile(id), p.isReceiptPrinter, p.receiptPrinterProfile != nil else {
        throw ValidationError(
            "no receipt printer profile \"\(id)\" in \(dir); known: \(catalog.receiptPrinters.map(\.id).joined(separator: ", "))"
        )
    }
    return p
}

struct ReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt", abstract: "Receipt tools.", subcommands: [ReceiptSampleCommand.self])
}

struct ReceiptSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract:
            "Write the ESC/POS bytes of a sample acceptance receipt (made-up applicant, masked) for a printer profile.")
    @Option(name: .long, help: "Receipt printer profile id (e.g. generic-80, generic-58).") var profile: String
    @Option(name: .long, help: "Where to write the bytes.") var out: String
    @Option(name: .long, help: "DeviceProfiles folder (default: the shipped one).") var profiles: String?
    @Flag(name: .long, help: "Leave out the raster logo.") var noLogo = false
    @Flag(name: .long, help: "Add a CODE128 barcode of the case number.") var barcode = false

    func run() throws {
        let p = try loadReceiptProfile(profile, profilesDir: profiles)
        let doc = SampleReceipt.acceptance(logo: !noLogo, barcode: barcode)
        let bytes: [UInt8]
        do {
            bytes = try ESCPOSEncoder(
                profile: p.receiptPrinterProfile!, autoStatusBackMask: nil, endOfJobSentinel: true
            ).encode(doc)
        } catch { throw ValidationError("cannot encode the sample for \(p.id): \(error)") }
        guard FileManager.default.createFile(atPath: out, contents: Data(bytes)) else {
            throw ValidationError("cannot write \(out): check the folder exists and is writable")
        }
        let rp = p.receiptPrinterProfile!
        print("wrote \(bytes.count) bytes for \(p.id) (\(rp.paperWidthMM) mm, \(rp.columns) columns) to \(out)")
    }
}

struct EscposCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escpos", abstract: "ESC/POS tools.", subcommands: [EscposDecodeCommand.self])
}

struct EscposDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract:
            "Print a readable view of an ESC/POS file: text (GB18030), alignment, sizes, QR payloads, images, cuts.")
    @Argument(help: "File with ESC/POS bytes (- for standard input).") var file: String

    func run() throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file): check the path")
            }
            data = d
        }
        print(ESCPOSReadableView.render(Array(data)))
    }
}

struct PrintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print", abstract: "Technician print tests.",
        subcommands: [PrintTestReceiptCommand.self, PrintTestA4Command.self])
}

struct PrintTestReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-receipt",
        abstract:
            "Print a test receipt (rulers, sizes, substitutions, QR, cut) on the configured receipt printer and show its status."
    )
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let cfg = try options.load()
        let logger = Logger(label: "kioskctl")
        let setup: DeviceFactory.ReceiptPrinterSetup?
        do { setup = try DeviceFactory.receiptPrinter(cfg, logger: logger) } catch { throw ValidationError("\(error)") }
        guard let setup else { throw ValidationError("devices.receiptPrinter.mode is none: nothing to print on") }
        let before = await setup.printer.refresh()
        print(
            "printer: \(before.model) (\(setup.profileId)) state=\(before.state.rawValue) paper=\(before.paper?.rawValue ?? "unknown")"
        )
        do {
            try await setup.printer.print(
                SampleReceipt.testPage(profileName: setup.profileId, columns: setup.profile.columns))
        } catch let e as DeviceError {
            throw ValidationError("test receipt not printed: \(e.description)")
        }
        let after = await setup.printer.status()
        print("test receipt printed; state=\(after.state.rawValue) paper=\(after.paper?.rawValue ?? "unknown")")
        if let sim = setup.simulator, let r = sim.receipts.last {
            print("(simulated printer) " + r.text.replacingOccurrences(of: "\n", with: "\n  "))
        }
    }
}

struct PrintTestA4Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-a4",
        abstract: "Print an A4 test page through CUPS and follow the job to its end.")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "CUPS queue (instead of the config's).") var queue: String?
    @Option(name: .long, help: "IPP printer URI (instead of the config's).") var uri: String?
    @Option(name: .long, help: "cupsd host:port (with --queue).") var server: String?
    @Option(name: .long, help: "Seconds before the job is cancelled.") var timeout: Int = 120

    func run() async throws {
        var settings: A4PrinterSettings
        if queue != nil || uri != nil {
            settings = A4PrinterSettings(queue: queue, uri: uri, server: server)
        } else {
            let cfg = try options.load()
            guard let s = cfg.a4PrinterSettings else {
                throw ValidationError(
                    "devices.a4Printer is not in mode cups: set mode cups with queue or uri, or pass --queue / --uri")
            }
            settings = s
        }
        settings.jobTimeout = .seconds(max(5, timeout))
        let printer = A4Printer(settings: settings, logger: Logger(label: "kioskctl"))
        let s = await printer.refresh()
        print(
            "A4 printer \(settings.target): state=\(s.state.rawValue) paper=\(s.paper?.rawValue ?? "unknown") toner=\(s.toner?.rawValue ?? "unknown") reasons=\((s.reasons ?? []).joined(separator: ","))"
        )
        let pdf = A4TestPage.pdf(lines: [
            "Kiosk A4 test page", "Target: \(settings.target)", "No personal data on this page.",
        ])
        let r: A4JobResult
        do { r = try await printer.printPDF(pdf, label: "test-a4") } catch let e as DeviceError {
            throw ValidationError(e.description)
        }
        let after = await printer.status()
        print("job \(r.jobId): \(r.outcome) reasons=\((after.reasons ?? []).joined(separator: ","))")
        if r.outcome != .completed { throw ExitCode(1) }
    }
}
