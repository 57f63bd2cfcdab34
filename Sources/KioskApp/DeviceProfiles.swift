import Foundation
import KioskDevices
import Yams

/// The DeviceProfiles/ folder: one YAML file per model, keyed by `id`.
public struct DeviceProfileCatalog: Sendable {
    public var profiles: [String: DeviceProfile]

    public init(_ profiles: [DeviceProfile]) {
        var d: [String: DeviceProfile] = [:]
        for p in profiles { d[p.id] = p }
        self.profiles = d
    }

    public func profile(_ id: String) -> DeviceProfile? { profiles[id] }

    public var receiptPrinters: [DeviceProfile] {
        profiles.values.filter { $0.kind == .receiptPrinter }.sorted { $0.id < $1.id }
    }

    /// Parses one profile file's text. `file` names it in errors.
    public static func parse(_ yaml: String, file: String) throws -> DeviceProfile {
        let p: DeviceProfile
        do {
            p = try YAMLDecoder().decode(DeviceProfile.self, from: yaml)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ProfileError("\(file): missing `\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))`; see DeviceProfiles/README.md")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ProfileError("\(file): `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` has the wrong type; see DeviceProfiles/README.md")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ProfileError("\(file): `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` \(ctx.debugDescription); see DeviceProfiles/README.md")
        } catch {
            throw ProfileError("\(file) is not a valid device profile (\(error)); see DeviceProfiles/README.md")
        }
        do { try p.validate() } catch let e as ProfileError { throw ProfileError("\(file): \(e.description)") }
        return p
    }

    /// Loads every *.yaml / *.yml file of `directory`. Two files with one id is an error.
    public static func load(directory: String) throws -> DeviceProfileCatalog {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw ProfileError("device profile folder \(directory) cannot be read: set deviceProfiles in kiosk.yaml to the DeviceProfiles folder")
        }
        var seen: [String: String] = [:]
        var all: [DeviceProfile] = []
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = fm.contents(atPath: path) else { throw ProfileError("\(path) cannot be read") }
            let p = try parse(String(decoding: data, as: UTF8.self), file: path)
            if let other = seen[p.id] { throw ProfileError("profile id \(p.id) is used by both \(other) and \(path); ids must be unique") }
            seen[p.id] = path
            all.append(p)
        }
        return DeviceProfileCatalog(all)
    }

    /// The DeviceProfiles folder shipped with the software: beside the working directory, a build in
    /// the source tree, or where the package installs it.
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
