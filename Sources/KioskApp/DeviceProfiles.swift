import Foundation
import KioskDevices

/// The DeviceProfiles folder keyed by `id` (loading and checks: `DeviceProfiles` in KioskDevices).
public struct DeviceProfileCatalog: Sendable {
    public var profiles: [String: DeviceProfile]

    public init(_ profiles: [DeviceProfile]) {
        var d: [String: DeviceProfile] = [:]
        for p in profiles { d[p.id] = p }
        self.profiles = d
    }

    public func profile(_ id: String) -> DeviceProfile? { profiles[id] }

    public var receiptPrinters: [DeviceProfile] {
        profiles.values.filter(\.isReceiptPrinter).sorted { $0.id < $1.id }
    }

    public static func load(directory: String) throws -> DeviceProfileCatalog {
        DeviceProfileCatalog(try DeviceProfiles.load(directory: directory))
    }

    /// The DeviceProfiles folder shipped with the software: in the working directory, beside a build
    /// in the source tree, or where the package installs it.
    public static func shippedDirectory() -> String? {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            FileManager.default.currentDirectoryPath + "/DeviceProfiles",
            exe.appendingPathComponent("../../../DeviceProfiles").standardizedFileURL.path,
            exe.appendingPathComponent("../../DeviceProfiles").standardizedFileURL.path,
            "/usr/share/kioskd/DeviceProfiles",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/generic-80.yaml") }
    }
}
