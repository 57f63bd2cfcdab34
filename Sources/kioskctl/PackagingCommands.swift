import ArgumentParser
import Foundation
import KioskDevices

/// `kioskctl packaging udev-rules|usb-quirks --profiles DIR`: the host files generated from the
/// device profiles (scripts/build-deb.sh runs them; tests compare them with the profiles).
struct PackagingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packaging",
        abstract: "Generate host files from the device profiles (udev rules, CUPS usb-quirks).",
        subcommands: [UdevRules.self, USBQuirks.self])

    struct Options: ParsableArguments {
        @Option(name: .long, help: "DeviceProfiles folder.")
        var profiles: String = "/usr/share/kioskd/DeviceProfiles"
        @Option(name: .long, help: "Write here instead of stdout.")
        var output: String?

        func emit(_ text: String) throws {
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                    throw ValidationError("cannot write \(output)")
                }
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }

        func load() throws -> [DeviceProfile] {
            do { return try DeviceProfiles.load(directory: profiles) } catch { throw ValidationError("\(error)") }
        }
    }

    struct UdevRules: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "udev-rules", abstract: "udev rules giving group kioskdev (mode 0660) the profiles' devices.")
        @OptionGroup var options: Options
        @Option(name: .long, help: "Group that gets the devices.")
        var group: String = "kioskdev"
        @Flag(
            name: .long,
            help: "The rules that run after the distribution's (brltty, ModemManager): 99-kioskd-late.rules.")
        var late = false
        func run() throws {
            let profiles = try options.load()
            try options.emit(
                late
                    ? DeviceAccessRules.lateUdevRules(profiles: profiles)
                    : DeviceAccessRules.udevRules(profiles: profiles, group: group))
        }
    }

    struct USBQuirks: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "usb-quirks",
            abstract: "CUPS usb-quirks lines blacklisting the receipt printers kioskd drives.")
        @OptionGroup var options: Options
        func run() throws { try options.emit(DeviceAccessRules.cupsUSBQuirks(profiles: try options.load())) }
    }
}
