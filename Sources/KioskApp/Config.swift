import Foundation
import KioskCore
import KioskDevices
import KioskFlow
import KioskProtocols
import Logging
import Yams

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A setting with a fixed set of values (a device's mode, the language, the log level): decoded once
/// into an enum; any other value stops kioskd with exit 78 and a message naming the key and the choices.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable, Equatable where RawValue == String {}

extension ConfigChoice {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let raw = try c.decode(String.self)
        guard let v = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                in: c,
                debugDescription:
                    "`\(raw)` is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = v
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// How kioskd reaches the ID-card reader.
public enum ReaderMode: String, ConfigChoice {
    case usb, serial, hid, auto, simulated, none
    /// Where a real reader is looked for (nil for the simulated reader and none).
    public var link: ReaderLinkMode? {
        switch self {
        case .usb: .usb
        case .serial: .serial
        case .hid: .hid
        case .auto: .auto
        case .simulated, .none: nil
        }
    }
}
/// How kioskd reaches the document camera.
public enum CameraMode: String, ConfigChoice { case v4l2, simulated, none }
/// How kioskd reaches the receipt printer.
public enum ReceiptPrinterMode: String, ConfigChoice { case usb, simulated, none }
/// How kioskd reaches the A4 printer.
public enum A4PrinterMode: String, ConfigChoice { case cups, simulated, none }
/// Log levels (swift-log's names).
public enum LogLevelChoice: String, ConfigChoice {
    case trace, debug, info, notice, warning, error, critical
    public var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
/// What kioskd writes to its own terminal.
public enum ScreenEncodingChoice: String, ConfigChoice {
    case utf8 = "utf-8"
    case gb18030
    public var encoding: TerminalTextEncoding { self == .gb18030 ? .gb18030 : .utf8 }
}
/// The language each resident starts in.
public enum LanguageChoice: String, ConfigChoice {
    case zh, en
    public var language: Language { self == .en ? .en : .zh }
}

/// The station configuration (kiosk.yaml). Relative paths are resolved against the config file's folder.
public struct KioskConfig: Codable, Sendable {
    public struct Station: Codable, Sendable {
        public var id: String
        public var name: String
        /// Prefix of case numbers (办件编号): letters and digits, e.g. "GH" → GH202611230001.
        public var casePrefix: String
        /// The station's time zone for dates on screens, receipts, case numbers and ledgers (default Asia/Shanghai).
        public var timeZone: String?
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
    public struct Device<Mode: ConfigChoice>: Codable, Sendable {
        /// simulated | none; reader also usb | serial | hid | auto; camera v4l2; receipt printer usb; A4 cups
        public var mode: Mode
        /// DeviceProfiles id (receipt printer: required for `usb`, e.g. generic-80).
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
        // Receipt printer, mode usb: pick one device when several match (hex strings or numbers).
        public var vendorId: Int?
        public var productId: Int?
        /// Bytes per bulk write (64…4096); overrides the profile's chunkBytes.
        public var chunkBytes: Int?
        /// Timeout of one bulk write chunk, in milliseconds (2000–5000 is usual).
        public var writeTimeoutMs: Int?
        // A4 printer, mode cups:
        /// CUPS queue name (e.g. cert_a4), printed through cupsd.
        public var queue: String?
        /// Or a direct IPP Everywhere printer URI (ipp://host/ipp/print), without cupsd.
        public var uri: String?
        /// cupsd "host:port" or socket path; default: libcups' (CUPS_SERVER, /etc/cups/client.conf).
        public var server: String?
        /// A job not completed by then is cancelled (default 120).
        public var jobTimeoutSeconds: Int?
    }
    public struct Devices: Codable, Sendable {
        public var idCardReader: Device<ReaderMode>
        public var documentCamera: Device<CameraMode>
        public var receiptPrinter: Device<ReceiptPrinterMode>
        public var a4Printer: Device<A4PrinterMode>?
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
        public var level: LogLevelChoice?
    }
    /// Elderly-friendly defaults (适老化); residents switch both on every screen.
    public struct Accessibility: Codable, Sendable {
        /// zh (default) | en: the language each resident starts in.
        public var language: LanguageChoice?
        /// Start every session in large mode (default false).
        public var largeMode: Bool?
        /// Idle timeout in large mode (default: twice session.idleTimeoutSeconds).
        public var largeIdleTimeoutSeconds: Int?
    }
    /// Voice prompts through espeak-ng: each screen's main prompt and each error, spoken without delaying the screen.
    public struct Voice: Codable, Sendable {
        public var enabled: Bool?
        /// espeak-ng voice for Chinese (default cmn, Mandarin) and for English (default en).
        public var voice: String?
        public var englishVoice: String?
        /// Words per minute (80–450, default 140) and amplitude (0–200, default 100).
        public var rate: Int?
        public var volume: Int?
        /// Write each prompt as a WAV file here instead of playing it (tests, recording).
        public var outputDirectory: String?
        /// espeak-ng binary (default: found on PATH, /usr/bin/espeak-ng).
        public var command: String?
    }
    /// Signed catalog bundles from upstream (`catalogBundle:`). Without it the kiosk keeps the
    /// shipped catalog (`catalog`, `guides`: seed 001).
    public struct CatalogBundleConfig: Codable, Sendable {
        /// The upstream's Ed25519 public key: 32 bytes in base64 (`kiosk-intake bundle keygen` prints it)…
        public var publicKey: String?
        /// …or a file holding it.
        public var publicKeyFile: String?
        /// Minutes between checks for a new bundle (default 60; 0 = only on demand, `kioskctl catalog fetch`).
        public var fetchMinutes: Double?
    }
    /// The resident screen: kioskd's own terminal (when it runs on one) and the screen socket the
    /// display and technicians' mirrors attach to; the panel the display stack draws on.
    public struct ScreenSettings: Codable, Sendable {
        /// utf-8 (default) or gb18030 (serial hardware terminals): what kioskd writes to its own terminal.
        public var encoding: ScreenEncodingChoice?
        /// The screen socket (default /run/kioskd-screen/screen.sock when that folder exists; else none).
        public var socket: String?
        /// Group whose members may drive the screen (the display user; default kioskscreen).
        public var displayGroup: String?
        /// The panel in pixels as mounted (before rotation; default 1920×1080) and its rotation
        /// (0, 90, 180, 270 degrees clockwise; portrait panels): `kiosk-screen` sizes the font from them.
        public var panelWidth: Int?
        public var panelHeight: Int?
        public var rotation: Int?
        /// The grid in normal mode (default 80×24); large mode divides both by `largeScale` (default 1.5).
        public var columns: Int?
        public var rows: Int?
        public var largeScale: Double?
        /// The font (a fontconfig name with CJK glyphs; default WenQuanYi Micro Hei Mono).
        public var font: String?
    }
    /// Where residents find help (said on the call-staff screen).
    public struct Help: Codable, Sendable {
        public var location: String?
        public var phone: String?
        /// 投诉电话 (complaints) and the 办不成事 channel, on the help and guide screens.
        public var complaintPhone: String?
        public var unresolved: String?
    }

    public var station: Station
    public var stateDirectory: String
    public var catalog: String
    public var guides: String?
    /// The working calendar (holidays, 调休 make-up days) for due dates; default: `working-calendar.json`
    /// beside `catalog` when there is one. A signed bundle's own calendar wins over both.
    public var workingCalendar: String?
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
    public var storage: Storage?
    public var accessibility: Accessibility?
    public var voice: Voice?
    public var help: Help?
    public var catalogBundle: CatalogBundleConfig?
    public var screen: ScreenSettings?

    /// Folder the config file lives in (for relative paths).
    public var baseDirectory: String = "."

    /// The station's time zone (station.timeZone, validated at load; default Asia/Shanghai).
    public var timeZone: TimeZone {
        station.timeZone.flatMap(TimeZone.init(identifier:)) ?? StationClock.defaultTimeZone
    }

    enum CodingKeys: String, CodingKey {
        case station, stateDirectory, catalog, guides, workingCalendar, deviceProfiles, encryption, upstream, session,
            devices,
            simulation, logging, admin, metrics, technician, storage
        case accessibility, voice, help, catalogBundle, screen
    }

    /// The bundle signing key from `catalogBundle` (nil when bundles are not configured).
    public func catalogBundleKey() throws -> String? {
        guard let b = catalogBundle else { return nil }
        if let k = b.publicKey { return k }
        if let f = b.publicKeyFile {
            guard let d = FileManager.default.contents(atPath: resolve(f)) else {
                throw ConfigError("catalogBundle.publicKeyFile \(resolve(f)) cannot be read")
            }
            return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }

    /// The station's working calendar: `workingCalendar:`, else the file beside the shipped catalog.
    public func stationWorkingCalendar() throws -> WorkingCalendar? {
        let file = workingCalendar.map(resolve) ?? WorkingCalendar.besideCatalog(resolve(catalog))
        return try file.map(WorkingCalendar.load(file:))
    }

    /// Where kioskd keeps verified bundles and their state.
    public var catalogBundleDirectory: String { stateDirectoryPath + "/catalog-bundles" }

    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }

    public var stateDirectoryPath: String { resolve(stateDirectory) }
    public var simulatorOutputPath: String {
        resolve(simulation?.outputDirectory ?? (stateDirectoryPath + "/simulator"))
    }
    public var logFilePath: String { resolve(logging?.file ?? (stateDirectoryPath + "/logs/kioskd.log")) }
    public var adminSocketPath: String {
        if let s = admin?.socket { return resolve(s) }
        if let rd = ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"], !rd.isEmpty {
            return (rd.split(separator: ":").first.map(String.init) ?? rd) + "/admin.sock"
        }
        return "/run/kioskd/admin.sock"
    }
    public var adminGroup: String { admin?.group ?? "kioskadm" }
    /// The screen socket kioskd serves: `screen.socket`, else the packaged place when it exists.
    public var screenSocketPath: String? {
        if let s = screen?.socket { return resolve(s) }
        return FileManager.default.fileExists(atPath: Self.packagedScreenDirectory)
            ? Self.packagedScreenDirectory + "/screen.sock" : nil
    }
    public static let packagedScreenDirectory = "/run/kioskd-screen"
    public var screenEncoding: TerminalTextEncoding { screen?.encoding?.encoding ?? .utf8 }

    /// The device profile folder: the config's `deviceProfiles`, else the installed or source-tree one.
    public var deviceProfilesPath: String {
        if let p = deviceProfiles { return resolve(p) }
        for c in ["/usr/share/kioskd/DeviceProfiles", resolve("../DeviceProfiles")]
        where FileManager.default.fileExists(atPath: c) { return c }
        return "/usr/share/kioskd/DeviceProfiles"
    }

    public static func load(path: String) throws -> KioskConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("config file \(path) cannot be read: pass --config with the path of kiosk.yaml")
        }
        var config: KioskConfig
        do {
            config = try YAMLDecoder().decodeWithoutRegex(KioskConfig.self, from: String(decoding: data, as: UTF8.self))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ConfigError(
                "config \(path): missing setting `\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))`; see kiosk-config/kiosk.yaml for an example"
            )
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            throw ConfigError(
                "config \(path): setting `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))`: \(ctx.debugDescription)"
            )
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ConfigError(
                "config \(path): setting `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` has the wrong type (\(ctx.debugDescription))"
            )
        } catch {
            throw ConfigError(
                "config \(path) is not valid YAML for the kiosk (\(error)); compare with kiosk-config/kiosk.yaml")
        }
        config.baseDirectory =
            ((path as NSString).deletingLastPathComponent as String).isEmpty
            ? "." : (path as NSString).deletingLastPathComponent
        try config.validate()
        return config
    }

    /// Whether `s` is `lengths` characters, every one ASCII and `allowed`: what the anchored patterns
    /// `^[…]{m,n}$` checked, without NSRegularExpression (the first one compiled sets up ICU's regex
    /// engine and Unicode property sets, which then stay in kioskd's resident set). Unlike ICU's `$`,
    /// a trailing line break is not let through.
    static func isName(_ s: String, _ lengths: ClosedRange<Int>, _ allowed: (Unicode.Scalar) -> Bool) -> Bool {
        lengths.contains(s.unicodeScalars.count) && s.unicodeScalars.allSatisfy { $0.isASCII && allowed($0) }
    }

    public func validate() throws {
        if let tz = station.timeZone, TimeZone(identifier: tz) == nil {
            throw ConfigError(
                "station.timeZone \(tz) is not a time zone name; use one such as Asia/Shanghai (see /usr/share/zoneinfo)"
            )
        }
        if let t = accessibility?.largeIdleTimeoutSeconds, t < 30 || t > 1800 {
            throw ConfigError("accessibility.largeIdleTimeoutSeconds \(t) must be 30…1800")
        }
        if let r = voice?.rate, r < 80 || r > 450 {
            throw ConfigError("voice.rate \(r) must be 80…450 words per minute")
        }
        if let v = voice?.volume, v < 0 || v > 200 { throw ConfigError("voice.volume \(v) must be 0…200") }
        for v in [voice?.voice, voice?.englishVoice].compactMap({ $0 })
        where !Self.isName(v, 1...40, { isLetterOrDigit($0) || $0 == "_" || $0 == "+" || $0 == "-" }) {
            throw ConfigError("voice \(v) is not an espeak-ng voice name (see `espeak-ng --voices`)")
        }
        guard Self.isName(station.casePrefix, 1...8, { ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) else {
            throw ConfigError("station.casePrefix must be 1–8 capital letters or digits (it starts every case number)")
        }
        guard upstream.url.hasPrefix("http://") || upstream.url.hasPrefix("https://") else {
            throw ConfigError("upstream.url must start with http:// or https://")
        }
        let reader = devices.idCardReader
        if let b = reader.baud, ![9600, 19200, 38400, 57600, 115_200, 230_400].contains(b) {
            throw ConfigError(
                "devices.idCardReader.baud \(b) is not supported; use 115200 (the SAM default), 57600, 38400, 19200 or 9600"
            )
        }
        if let d = reader.photoDecoder, !FileManager.default.isExecutableFile(atPath: resolve(d)) {
            throw ConfigError("devices.idCardReader.photoDecoder \(resolve(d)) is not an executable file")
        }
        let cam = devices.documentCamera
        if cam.mode == .v4l2, cam.path == nil {
            throw ConfigError(
                "devices.documentCamera.mode v4l2 needs devices.documentCamera.path, e.g. /dev/video0 (or /dev/v4l/by-id/…)"
            )
        }
        if let u = cam.upload {
            if let q = u.quality, !(1...100).contains(q) {
                throw ConfigError("devices.documentCamera.upload.quality must be 1–100")
            }
            if let l = u.longSide, l < 320 {
                throw ConfigError("devices.documentCamera.upload.longSide must be at least 320 pixels")
            }
            if let d = u.dpi, !(50...600).contains(d) {
                throw ConfigError("devices.documentCamera.upload.dpi must be 50–600")
            }
        }
        try validateReceiptPrinter()
        try validateA4Printer()
        if let h = technician?.pinHash, !PINHash.isWellFormed(h) {
            throw ConfigError("technician.pinHash is not a PIN hash; create one with `kioskctl technician-pin`")
        }
        if let p = metrics?.port, !(0...65535).contains(p) {
            throw ConfigError("metrics.port must be 0–65535 (0 picks a free port; leave metrics out to turn them off)")
        }
        if let c = upstream.chunkBytes, c < 1024 || c > 64 << 20 {
            throw ConfigError("upstream.chunkBytes must be between 1024 and 67108864 (256 KiB suits slow links)")
        }
        if let b = upstream.maxBytesPerSecond, b < 1024 {
            throw ConfigError("upstream.maxBytesPerSecond must be at least 1024 (or left out for no cap)")
        }
        if let d = storage?.retentionDays, d < 0 { throw ConfigError("storage.retentionDays must not be negative") }
        if let m = storage?.minFreeMegabytes, m < 0 {
            throw ConfigError("storage.minFreeMegabytes must not be negative")
        }
        let stateDir = (stateDirectoryPath as NSString).standardizingPath + "/"
        if (resolve(encryption.keyFile) as NSString).standardizingPath.hasPrefix(stateDir) {
            throw ConfigError(
                "encryption.keyFile must not be inside stateDirectory (the key must never sit beside the data it protects)"
            )
        }
        if let t = session?.idleTimeoutSeconds, t < 15 {
            throw ConfigError("session.idleTimeoutSeconds must be at least 15 seconds (residents need time to read)")
        }
        try validateRanges()
    }

    /// Every interval and timeout within a range that cannot hurt: 0 would mean hundreds of requests a
    /// second (status sync, backoff) or never uploading (request timeout); an empty station id would
    /// make every submission unacceptable upstream.
    func validateRanges() throws {
        func check<T: Comparable>(_ key: String, _ value: T?, _ range: ClosedRange<T>, _ why: String) throws {
            guard let value, !range.contains(value) else { return }
            throw ConfigError("\(key) \(value) is out of range: use \(range.lowerBound)…\(range.upperBound) (\(why))")
        }
        guard
            Self.isName(station.id, 1...64, { isLetterOrDigit($0) || $0 == "." || $0 == "_" || $0 == "-" }),
            isLetterOrDigit(station.id.unicodeScalars.first!)
        else {
            throw ConfigError(
                "station.id `\(station.id)` must be 1–64 letters, digits, '.', '_' or '-' (the upstream knows the station by it)"
            )
        }
        guard !station.name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigError("station.name is empty: it heads every screen and receipt")
        }
        try check("upstream.requestTimeoutSeconds", upstream.requestTimeoutSeconds, 1...600, "30 suits village links")
        try check("upstream.initialBackoffSeconds", upstream.initialBackoffSeconds, 0.1...600, "2 is usual")
        try check("upstream.maxBackoffSeconds", upstream.maxBackoffSeconds, 1...86_400, "300 is usual")
        if let i = upstream.initialBackoffSeconds, let m = upstream.maxBackoffSeconds, m < i {
            throw ConfigError("upstream.maxBackoffSeconds \(m) is below upstream.initialBackoffSeconds \(i)")
        }
        try check("upstream.statusSyncSeconds", upstream.statusSyncSeconds, 2...86_400, "60 is usual")
        if let h = upstream.heartbeatSeconds, h != 0 {
            try check("upstream.heartbeatSeconds", h, 1...86_400, "0 turns heartbeats off; 300 is usual")
        }
        try check("session.idleTimeoutSeconds", session?.idleTimeoutSeconds, 15...1800, "90 is usual")
        try check("session.warningSeconds", session?.warningSeconds, 3...300, "20 is usual")
        if let w = session?.warningSeconds, w >= (session?.idleTimeoutSeconds ?? 90) {
            throw ConfigError("session.warningSeconds \(w) must be shorter than session.idleTimeoutSeconds")
        }
        try check("session.itemsPerPage", session?.itemsPerPage, 1...12, "6 fits 80×24")
        try check("storage.retentionDays", storage?.retentionDays, 0...3650, "30 is usual")
        try check("storage.minFreeMegabytes", storage?.minFreeMegabytes, 0...1_000_000, "100 is usual")
        try check("simulation.removeCardAfterSeconds", simulation?.removeCardAfterSeconds, 0...600, "2 is usual")
        if let b = catalogBundle {
            if let m = b.fetchMinutes, m != 0 {
                try check("catalogBundle.fetchMinutes", m, 1...10_080, "0 fetches only on demand; 60 is usual")
            }
            guard (b.publicKey == nil) != (b.publicKeyFile == nil) else {
                throw ConfigError(
                    "catalogBundle needs exactly one of publicKey (base64) or publicKeyFile: the upstream's bundle signing key"
                )
            }
            if let k = b.publicKey {
                guard let raw = Data(base64Encoded: k), raw.count == 32 else {
                    throw ConfigError(
                        "catalogBundle.publicKey must be 32 bytes in base64 (the line kiosk-intake bundle keygen prints)"
                    )
                }
            }
        }
        try check("screen.panelWidth", screen?.panelWidth, 160...16_384, "the panel's pixels, e.g. 1920")
        try check("screen.panelHeight", screen?.panelHeight, 120...16_384, "the panel's pixels, e.g. 1080")
        try check("screen.columns", screen?.columns, 40...300, "80 is usual; portrait panels fewer")
        try check("screen.rows", screen?.rows, 12...200, "24 is usual")
        try check("screen.largeScale", screen?.largeScale, 1.5...3, "large mode at least 1.5× taller")
        if let r = screen?.rotation, ![0, 90, 180, 270].contains(r) {
            throw ConfigError("screen.rotation \(r) is not one of 0, 90, 180, 270 (degrees clockwise)")
        }
    }

    /// Secret files (the outbox key, the upstream token, the TLS client key) readable by anyone but
    /// their owner are refused. systemd credentials (`$CREDENTIALS_DIRECTORY`) are the unit's own.
    public func checkSecretFilePermissions(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let credentials = environment["CREDENTIALS_DIRECTORY"].map { ($0 as NSString).standardizingPath + "/" }
        var files: [(String, String)] = [("encryption.keyFile", resolve(encryption.keyFile))]
        if let t = upstream.tokenFile { files.append(("upstream.tokenFile", resolve(t))) }
        if let k = upstream.tls?.clientKeyFile { files.append(("upstream.tls.clientKeyFile", resolve(k))) }
        for (key, path) in files {
            let real = (path as NSString).resolvingSymlinksInPath
            if let c = credentials, real.hasPrefix(c) || path.hasPrefix(c) { continue }
            // A missing file gets its own clear error where it is read.
            guard let mode = FileStatus(path: real)?.permissions else { continue }
            if mode & 0o077 != 0 {
                throw ConfigError(
                    "\(key) \(path) is readable by others (mode \(String(mode & 0o777, radix: 8))): run `chmod 600 \(path)` (a secret must be readable by kioskd's user only)"
                )
            }
        }
    }

    func validateReceiptPrinter() throws {
        let d = devices.receiptPrinter
        if let c = d.chunkBytes, c < 64 || c > 4096 {
            throw ConfigError("devices.receiptPrinter.chunkBytes \(c) must be 64…4096 (printers buffer 512 B–4 KiB)")
        }
        if let t = d.writeTimeoutMs, t < 200 || t > 30000 {
            throw ConfigError("devices.receiptPrinter.writeTimeoutMs \(t) must be 200…30000 (2000–5000 is usual)")
        }
        guard d.mode == .usb else { return }
        guard let id = d.profile else {
            throw ConfigError(
                "devices.receiptPrinter.profile is required for mode usb: name a receipt printer profile such as generic-80 or generic-58 (see DeviceProfiles/)"
            )
        }
        let p = try receiptPrinterProfile(id)
        guard p.transport == "usb-printer" || p.transport == "usb-vendor" else {
            throw ConfigError(
                "devices.receiptPrinter.profile \(id) has transport \(p.transport); mode usb needs a usb-printer or usb-vendor profile"
            )
        }
    }

    func validateA4Printer() throws {
        guard let d = devices.a4Printer else { return }
        guard d.mode == .cups else { return }
        switch (d.queue, d.uri) {
        case (nil, nil):
            throw ConfigError(
                "devices.a4Printer needs `queue` (a CUPS queue, e.g. cert_a4) or `uri` (ipp://printer/ipp/print) for mode cups"
            )
        case (.some, .some):
            throw ConfigError("devices.a4Printer: set either `queue` or `uri`, not both")
        default: break
        }
        if let q = d.queue, !Self.isName(q, 1...127, { isLetterOrDigit($0) || $0 == "_" || $0 == "." || $0 == "-" }) {
            throw ConfigError("devices.a4Printer.queue \(q) is not a CUPS queue name (letters, digits, _ . -)")
        }
        if let u = d.uri, !(u.hasPrefix("ipp://") || u.hasPrefix("ipps://")) {
            throw ConfigError("devices.a4Printer.uri must start with ipp:// or ipps://")
        }
        if let t = d.jobTimeoutSeconds, t < 10 || t > 3600 {
            throw ConfigError("devices.a4Printer.jobTimeoutSeconds \(t) must be 10…3600")
        }
    }

    /// Loads the named receipt printer profile from the profile folder.
    public func receiptPrinterProfile(_ id: String) throws -> DeviceProfile {
        let dir =
            deviceProfiles == nil ? (DeviceProfileCatalog.shippedDirectory() ?? deviceProfilesPath) : deviceProfilesPath
        let catalog: DeviceProfileCatalog
        do { catalog = try DeviceProfileCatalog.load(directory: dir) } catch { throw ConfigError("\(error)") }
        guard let p = catalog.profile(id) else {
            let known = catalog.receiptPrinters.map(\.id).joined(separator: ", ")
            throw ConfigError("devices.receiptPrinter.profile \(id) is not in \(dir); known receipt printers: \(known)")
        }
        guard p.isReceiptPrinter else {
            throw ConfigError("profile \(id) is a \(p.kind) profile, not a receipt printer")
        }
        return p
    }

    /// A4 printer settings for mode cups.
    public var a4PrinterSettings: A4PrinterSettings? {
        guard let d = devices.a4Printer, d.mode == .cups else { return nil }
        return A4PrinterSettings(
            queue: d.queue, uri: d.uri, server: d.server,
            jobTimeout: .seconds(d.jobTimeoutSeconds ?? 120))
    }

    public var upstreamTLS: UpstreamTLS {
        UpstreamTLS(
            caFile: upstream.tls?.caFile.map(resolve),
            clientCertificateFile: upstream.tls?.clientCertificateFile.map(resolve),
            clientKeyFile: upstream.tls?.clientKeyFile.map(resolve))
    }

    public func upstreamConfig() throws -> UpstreamConfig {
        var c = UpstreamConfig(
            baseURL: upstream.url, token: try upstreamToken(),
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

/// A-Z, a-z or 0-9.
private func isLetterOrDigit(_ c: Unicode.Scalar) -> Bool {
    ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c)
}
