import Foundation
import KioskCore
import KioskDevices
import Yams

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The station configuration (kiosk.yaml). Relative paths are resolved against the config file's folder.
public struct KioskConfig: Codable, Sendable {
    public struct Station: Codable, Sendable {
        public var id: String
        public var name: String
        /// Prefix of case numbers (办件编号): letters and digits, e.g. "GH" → GH202611230001.
        public var casePrefix: String
    }
    public struct Encryption: Codable, Sendable {
        public var keyFile: String
    }
    public struct Upstream: Codable, Sendable {
        public var url: String
        public var token: String?
        public var tokenFile: String?
        public var requestTimeoutSeconds: Int?
        public var initialBackoffSeconds: Double?
        public var maxBackoffSeconds: Double?
        public var statusSyncSeconds: Double?
    }
    public struct Session: Codable, Sendable {
        public var idleTimeoutSeconds: Int?
        public var warningSeconds: Int?
        public var itemsPerPage: Int?
    }
    public struct Device: Codable, Sendable {
        /// simulated | none; reader also usb | serial | hid | auto
        public var mode: String
        public var profile: String?
        public var fixtures: String?
        /// Reader: tty (serial), hidraw node (hid) or USB port path such as 1-1.4 (usb).
        public var path: String?
        /// Reader on a serial line: baud rate (default 115200, 8N1).
        public var baud: Int?
        /// Reader: also read fingerprint templates (30 10). Off unless a service needs them.
        public var readFingerprints: Bool?
        /// Reader: a licensed WLT photo decoder run as a separate helper process (see README).
        public var photoDecoder: String?
        /// Camera: how accepted captures are re-encoded for upload.
        public var upload: UploadEncoding?
        /// Camera: check blank / dark / overexposed / blurred before accepting (default true).
        public var qualityCheck: Bool?
    }
    public struct Devices: Codable, Sendable {
        public var idCardReader: Device
        public var documentCamera: Device
        public var receiptPrinter: Device
        public var a4Printer: Device?
    }
    public struct Simulation: Codable, Sendable {
        public var outputDirectory: String?
        public var removeCardAfterSeconds: Double?
    }
    public struct Admin: Codable, Sendable {
        /// The admin socket kioskctl talks to (default: $RUNTIME_DIRECTORY/admin.sock, else /run/kioskd/admin.sock).
        public var socket: String?
        /// Group whose members may use it (default kioskadm; root and kioskd's own user always may).
        public var group: String?
    }
    public struct Technician: Codable, Sendable {
        /// `kioskctl technician-pin` prints one; technician mode is off without it.
        public var pinHash: String?
    }
    public struct MetricsConfig: Codable, Sendable {
        /// Loopback port for Prometheus scrapes (GET /metrics on 127.0.0.1); off when absent.
        public var port: Int?
    }
    public struct Logging: Codable, Sendable {
        public var file: String?
        public var level: String?
    }

    public var station: Station
    public var stateDirectory: String
    public var catalog: String
    public var guides: String?
    public var deviceProfiles: String?
    public var encryption: Encryption
    public var upstream: Upstream
    public var session: Session?
    public var devices: Devices
    public var simulation: Simulation?
    public var logging: Logging?
    public var admin: Admin?
    public var metrics: MetricsConfig?
    public var technician: Technician?

    /// Folder the config file lives in (for relative paths).
    public var baseDirectory: String = "."

    enum CodingKeys: String, CodingKey {
        case station, stateDirectory, catalog, guides, deviceProfiles, encryption, upstream, session, devices, simulation, logging, admin, metrics, technician
    }

    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }

    public var stateDirectoryPath: String { resolve(stateDirectory) }
    public var simulatorOutputPath: String { resolve(simulation?.outputDirectory ?? (stateDirectoryPath + "/simulator")) }
    public var logFilePath: String { resolve(logging?.file ?? (stateDirectoryPath + "/logs/kioskd.log")) }
    public var adminSocketPath: String {
        if let s = admin?.socket { return resolve(s) }
        if let rd = ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"], !rd.isEmpty {
            return (rd.split(separator: ":").first.map(String.init) ?? rd) + "/admin.sock"
        }
        return "/run/kioskd/admin.sock"
    }
    public var adminGroup: String { admin?.group ?? "kioskadm" }

    /// The device profile folder: the config's `deviceProfiles`, else the installed or source-tree one.
    public var deviceProfilesPath: String {
        if let p = deviceProfiles { return resolve(p) }
        for c in ["/usr/share/kioskd/DeviceProfiles", resolve("../DeviceProfiles")] where FileManager.default.fileExists(atPath: c) { return c }
        return "/usr/share/kioskd/DeviceProfiles"
    }

    public static func load(path: String) throws -> KioskConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("config file \(path) cannot be read: pass --config with the path of kiosk.yaml")
        }
        var config: KioskConfig
        do {
            config = try YAMLDecoder().decode(KioskConfig.self, from: String(decoding: data, as: UTF8.self))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ConfigError("config \(path): missing setting `\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))`; see kiosk-config/kiosk.yaml for an example")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ConfigError("config \(path): setting `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` has the wrong type (\(ctx.debugDescription))")
        } catch {
            throw ConfigError("config \(path) is not valid YAML for the kiosk (\(error)); compare with kiosk-config/kiosk.yaml")
        }
        config.baseDirectory = ((path as NSString).deletingLastPathComponent as String).isEmpty ? "." : (path as NSString).deletingLastPathComponent
        try config.validate()
        return config
    }

    public func validate() throws {
        guard station.casePrefix.range(of: "^[A-Z0-9]{1,8}$", options: .regularExpression) != nil else {
            throw ConfigError("station.casePrefix must be 1–8 capital letters or digits (it starts every case number)")
        }
        guard upstream.url.hasPrefix("http://") || upstream.url.hasPrefix("https://") else {
            throw ConfigError("upstream.url must start with http:// or https://")
        }
        let reader = devices.idCardReader
        guard ["simulated", "none", "usb", "serial", "hid", "auto"].contains(reader.mode) else {
            throw ConfigError("devices.idCardReader.mode \(reader.mode) is not known; use usb, serial, hid, auto, simulated or none")
        }
        if let b = reader.baud, ![9600, 19200, 38400, 57600, 115_200, 230_400].contains(b) {
            throw ConfigError("devices.idCardReader.baud \(b) is not supported; use 115200 (the SAM default), 57600, 38400, 19200 or 9600")
        }
        if let d = reader.photoDecoder, !FileManager.default.isExecutableFile(atPath: resolve(d)) {
            throw ConfigError("devices.idCardReader.photoDecoder \(resolve(d)) is not an executable file")
        }
        let cam = devices.documentCamera
        guard ["simulated", "none", "v4l2"].contains(cam.mode) else {
            throw ConfigError("devices.documentCamera.mode \(cam.mode) is not known; use v4l2 (with path: /dev/videoN), simulated or none")
        }
        if cam.mode == "v4l2", cam.path == nil {
            throw ConfigError("devices.documentCamera.mode v4l2 needs devices.documentCamera.path, e.g. /dev/video0 (or /dev/v4l/by-id/…)")
        }
        if let u = cam.upload {
            if let q = u.quality, !(1...100).contains(q) { throw ConfigError("devices.documentCamera.upload.quality must be 1–100") }
            if let l = u.longSide, l < 320 { throw ConfigError("devices.documentCamera.upload.longSide must be at least 320 pixels") }
            if let d = u.dpi, !(50...600).contains(d) { throw ConfigError("devices.documentCamera.upload.dpi must be 50–600") }
        }
        for (name, d) in [("receiptPrinter", devices.receiptPrinter)] {
            guard ["simulated", "none"].contains(d.mode) else {
                throw ConfigError("devices.\(name).mode \(d.mode) is not supported by this build yet; use `simulated` or `none`")
            }
        }
        if let h = technician?.pinHash, !PINHash.isWellFormed(h) {
            throw ConfigError("technician.pinHash is not a PIN hash; create one with `kioskctl technician-pin`")
        }
        if let p = metrics?.port, !(0...65535).contains(p) {
            throw ConfigError("metrics.port must be 0–65535 (0 picks a free port; leave metrics out to turn them off)")
        }
        if let t = session?.idleTimeoutSeconds, t < 15 {
            throw ConfigError("session.idleTimeoutSeconds must be at least 15 seconds (residents need time to read)")
        }
    }

    public func upstreamToken() throws -> String {
        if let t = upstream.token, !t.isEmpty { return t }
        if let f = upstream.tokenFile {
            guard let d = FileManager.default.contents(atPath: resolve(f)) else {
                throw ConfigError("upstream.tokenFile \(resolve(f)) cannot be read")
            }
            return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw ConfigError("set upstream.token or upstream.tokenFile: the station's bearer token for the upstream")
    }
}
