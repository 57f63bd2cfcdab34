import ArgumentParser
import Foundation
import KioskApp
import KioskDevices

/// `kioskctl commission`: udev rules pinned to the devices attached to this kiosk, for the
/// configured receipt printer, camera and serial reader (README "Installing on a kiosk").
struct CommissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commission",
        abstract:
            "Write udev rules giving kioskd exactly the attached devices the config names (pinned by USB ids + serial or port), then reload udev."
    )
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Where to write the rules.") var output: String = Commissioning.rulesPath
    @Flag(name: .long, help: "Print the rules instead of writing them.") var dryRun = false
    @Flag(name: .long, help: "Do not run udevadm afterwards.") var noReload = false
    @Option(name: .long, help: "sysfs root (tests).") var sysRoot: String = "/sys"

    func run() throws {
        let cfg = try options.load()
        var req = Commissioning.Request()
        let rp = cfg.devices.receiptPrinter
        if String(describing: rp.mode) == "usb" {
            req.receiptPrinterProfile = try cfg.receiptPrinterProfile(rp.profile ?? "generic-80")
            req.receiptPrinterVendorId = rp.vendorId.map { UInt16(truncatingIfNeeded: $0) }
            req.receiptPrinterProductId = rp.productId.map { UInt16(truncatingIfNeeded: $0) }
            req.receiptPrinterPort = rp.path
        }
        let cam = cfg.devices.documentCamera
        if String(describing: cam.mode) == "v4l2" { req.cameraPath = cam.path ?? "/dev/video0" }
        let reader = cfg.devices.idCardReader
        if String(describing: reader.mode) == "serial", let p = reader.path { req.serialReaderPath = p }
        let plan: Commissioning.Plan
        do {
            plan = try Commissioning.plan(req, devices: Commissioning.usbDevices(sysRoot: sysRoot), sysRoot: sysRoot)
        } catch let e as Commissioning.Refusal {
            FileHandle.standardError.write(Data("kioskctl commission: \(e.description)\n".utf8))
            throw ExitCode(2)
        }
        if dryRun {
            print(plan.rules, terminator: "")
            return
        }
        guard
            FileManager.default.createFile(
                atPath: output, contents: Data(plan.rules.utf8),
                attributes: [.posixPermissions: 0o644])
        else {
            throw ValidationError("cannot write \(output) (run as root)")
        }
        for line in plan.pinned { print("pinned: \(line)") }
        print("wrote \(output)")
        if !noReload {
            for args in [
                ["control", "--reload"],
                [
                    "trigger", "--action=change", "--subsystem-match=usb", "--subsystem-match=video4linux",
                    "--subsystem-match=tty",
                ],
            ] {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/udevadm")
                p.arguments = args
                do {
                    try p.run()
                    p.waitUntilExit()
                } catch {
                    throw ValidationError(
                        "udevadm \(args.joined(separator: " ")) failed: \(error); run it yourself, then replug the devices"
                    )
                }
                if p.terminationStatus != 0 {
                    throw ValidationError(
                        "udevadm \(args.joined(separator: " ")) exited \(p.terminationStatus); run it yourself, then replug the devices"
                    )
                }
            }
            print(
                "udev reloaded; the devices now belong to group kioskdev (check with `ls -l /dev/video* /dev/bus/usb/*/*`)"
            )
        }
    }
}
