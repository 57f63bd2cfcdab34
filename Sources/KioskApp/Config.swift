import Foundation
import KioskCore
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
        /// Bytes per tus chunk (default 262144): the most sent again after an interruption.
        public var chunkBytes: Int?
        /// Upload bandwidth cap in bytes per second; absent = no cap.
        public var maxBytesPerSecond: Double?
        /// tus creation URL, relative to `url` or absolute (default /v1/uploads).
        public var tusPath: String?
        /// Station heartbeat interval (default 300 s); 0 disables heartbeats.
        public var heartbeatSeconds: Double?
        public var tls: TLS?
    }
    public struct TLS: Codable, Sendable {
        /// PEM file of the CA(s) that sign the upstream's certificate (default: the system's roots).
        public var caFile: String?
        /// PEM client certificate and key for mutual TLS.
        public var clientCertificateFile: String?
        public var clientKeyFile: String?
    }
    public struct Storage: Codable, Sendable {
        /// Below this much free space in the state directory no new submission is taken (default 100 MB).
        public var minFreeMegabytes: Int?
        /// Days after the upstream confirmed a submission before its personal data and files are deleted (default 30).
        public var retentionDays: Double?
    }
    public struct Session: Codable, Sendable {
        public var idleTimeoutSeconds: Int?
        public var warningSeconds: Int?
        public var itemsPerPage: Int?
    }
    public struct Device: Codable, Sendable {
        /// simulated | usb | serial | cups | none
        public var mode: String
        public var profile: String?
        public var fixtures: String?
        public var path: String?
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
    public var storage: Storage?

    /// Folder the config file lives in (for relative paths).
    public var baseDirectory: String = "."

    enum CodingKeys: String, CodingKey {
        case station, stateDirectory, catalog, guides, deviceProfiles, encryption, upstream, session, devices, simulation, logging, storage
    }

    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }

    public var stateDirectoryPath: String { resolve(stateDirectory) }
    public var simulatorOutputPath: String { resolve(simulation?.outputDirectory ?? (stateDirectoryPath + "/simulator")) }
    public var logFilePath: String { resolve(logging?.file ?? (stateDirectoryPath + "/logs/kioskd.log")) }

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
        for (name, d) in [("idCardReader", devices.idCardReader), ("documentCamera", devices.documentCamera), ("receiptPrinter", devices.receiptPrinter)] {
            guard ["simulated", "none"].contains(d.mode) else {
                throw ConfigError("devices.\(name).mode \(d.mode) is not supported by this build yet; use `simulated` or `none`")
            }
        }
        if let c = upstream.chunkBytes, c < 1024 || c > 64 << 20 {
            throw ConfigError("upstream.chunkBytes must be between 1024 and 67108864 (256 KiB suits slow links)")
        }
        if let b = upstream.maxBytesPerSecond, b < 1024 {
            throw ConfigError("upstream.maxBytesPerSecond must be at least 1024 (or left out for no cap)")
        }
        if let d = storage?.retentionDays, d < 0 { throw ConfigError("storage.retentionDays must not be negative") }
        if let m = storage?.minFreeMegabytes, m < 0 { throw ConfigError("storage.minFreeMegabytes must not be negative") }
        let stateDir = (stateDirectoryPath as NSString).standardizingPath + "/"
        if (resolve(encryption.keyFile) as NSString).standardizingPath.hasPrefix(stateDir) {
            throw ConfigError("encryption.keyFile must not be inside stateDirectory (the key must never sit beside the data it protects)")
        }
        if let t = session?.idleTimeoutSeconds, t < 15 {
            throw ConfigError("session.idleTimeoutSeconds must be at least 15 seconds (residents need time to read)")
        }
    }

    public var upstreamTLS: UpstreamTLS {
        UpstreamTLS(caFile: upstream.tls?.caFile.map(resolve), clientCertificateFile: upstream.tls?.clientCertificateFile.map(resolve),
                    clientKeyFile: upstream.tls?.clientKeyFile.map(resolve))
    }

    public func upstreamConfig() throws -> UpstreamConfig {
        var c = UpstreamConfig(baseURL: upstream.url, token: try upstreamToken(),
                       requestTimeoutSeconds: Int64(upstream.requestTimeoutSeconds ?? 30),
                       initialBackoffSeconds: upstream.initialBackoffSeconds ?? 2,
                       maxBackoffSeconds: upstream.maxBackoffSeconds ?? 300,
                       statusSyncSeconds: upstream.statusSyncSeconds ?? 60,
                       chunkSize: upstream.chunkBytes ?? 256 * 1024,
                       maxBytesPerSecond: upstream.maxBytesPerSecond,
                       tusPath: upstream.tusPath ?? "/v1/uploads",
                       heartbeatSeconds: upstream.heartbeatSeconds ?? 300,
                       retentionDays: storage?.retentionDays ?? 30)
        c.stationId = station.id
        return c
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
