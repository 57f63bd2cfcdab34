import Crypto
import Foundation

/// What the kiosk knows about its catalog bundles (`<stateDirectory>/catalog-bundles/state.json`).
public struct CatalogBundleState: Codable, Sendable, Equatable {
    /// The bundle in use (nil: the shipped default from the config, seed 001).
    public var current: String?
    /// The bundle before it, kept for `kioskctl catalog rollback`.
    public var previous: String?
    /// The last fetch or install attempt.
    public var lastCheckAt: String?
    /// installed | unchanged | refused | unreachable | rolled-back
    public var lastOutcome: String?
    public var lastError: String?
    /// Bundles refused since the kiosk was installed (bad signature, corrupt, failing the check).
    public var refusedTotal: Int
    /// The version a refused bundle claimed, when it could be read.
    public var lastRefusedVersion: String?

    public init() { refusedTotal = 0 }
}

/// The kiosk's bundles on disk: each verified bundle in `bundles/<version>/` (its signed file
/// kept as `bundle.json` next to the unpacked catalog and guides), and `state.json` naming the
/// current and the previous one. Every change of state.json is a write to a temporary file and a
/// rename, so a crash leaves either the old or the new state. kioskd applies a changed
/// `current` at the next home screen; the previous bundle stays for rollback.
public struct CatalogBundleStore: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// `<stateDirectory>/catalog-bundles`.
    public init(stateDirectory: String) { self.init(directory: stateDirectory + "/catalog-bundles") }

    var statePath: String { directory + "/state.json" }
    public func bundleDirectory(_ version: String) -> String { directory + "/bundles/" + version }

    public func state() -> CatalogBundleState {
        guard let d = FileManager.default.contents(atPath: statePath),
            let s = try? JSONDecoder().decode(CatalogBundleState.self, from: d)
        else { return CatalogBundleState() }
        return s
    }

    func save(_ s: CatalogBundleState) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try enc.encode(s), to: statePath, mode: 0o640)
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    /// The current bundle's catalog and version (nil when none is installed: use the default).
    public func currentCatalog() throws -> (catalog: Catalog, version: String)? {
        guard let v = state().current else { return nil }
        let dir = bundleDirectory(v)
        return (try Catalog.load(catalogFile: dir + "/catalog.json", guidesDirectory: dir + "/guides"), v)
    }

    public enum InstallOutcome: Equatable, Sendable {
        case installed(version: String, previous: String?)
        case unchanged(version: String)
    }

    /// Verifies `data` and makes it the current bundle (the old current becomes previous). A
    /// bundle that fails any check is refused: the state records why, `current` stays.
    @discardableResult
    public func install(_ data: Data, publicKey: Curve25519.Signing.PublicKey) throws -> InstallOutcome {
        var s = state()
        do {
            let bundle = try CatalogBundle.open(data, publicKey: publicKey)
            if bundle.version == s.current {
                s.lastCheckAt = Self.now()
                s.lastOutcome = "unchanged"
                s.lastError = nil
                try save(s)
                return .unchanged(version: bundle.version)
            }
            let fm = FileManager.default
            let staging = directory + "/bundles/.staging-\(UUID().uuidString.prefix(8))"
            defer { try? fm.removeItem(atPath: staging) }
            do { try bundle.write(to: staging) } catch {
                s.lastRefusedVersion = bundle.version
                throw error
            }
            try data.write(to: URL(fileURLWithPath: staging + "/bundle.json"))
            let target = bundleDirectory(bundle.version)
            if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
            try fm.moveItem(atPath: staging, toPath: target)
            let old = s.current
            s.previous = old
            s.current = bundle.version
            s.lastCheckAt = Self.now()
            s.lastOutcome = "installed"
            s.lastError = nil
            try save(s)
            prune(keep: [s.current, s.previous])
            return .installed(version: bundle.version, previous: old)
        } catch {
            var refused = state()
            refused.lastCheckAt = Self.now()
            refused.lastOutcome = "refused"
            refused.lastError = "\(error)"
            refused.refusedTotal += 1
            refused.lastRefusedVersion = s.lastRefusedVersion
            try? save(refused)
            throw error
        }
    }

    /// Records that the upstream could not be reached (the current bundle stays).
    public func recordUnreachable(_ error: String) {
        var s = state()
        s.lastCheckAt = Self.now()
        s.lastOutcome = "unreachable"
        s.lastError = error
        try? save(s)
    }

    /// Makes the previous bundle current again (the shipped default when the previous is none).
    /// Returns the version now current (nil: the default).
    @discardableResult
    public func rollback() throws -> String? {
        var s = state()
        guard s.current != nil else {
            throw CatalogError("no bundle is installed: the kiosk already uses the shipped default catalog")
        }
        if let p = s.previous, !FileManager.default.fileExists(atPath: bundleDirectory(p) + "/catalog.json") {
            throw CatalogError("the previous bundle \(p) is missing from \(directory); nothing to roll back to")
        }
        (s.current, s.previous) = (s.previous, s.current)
        s.lastCheckAt = Self.now()
        s.lastOutcome = "rolled-back"
        s.lastError = nil
        try save(s)
        return s.current
    }

    /// Verifies a bundle file without installing it: signature, digests and the catalog check.
    public static func verify(_ data: Data, publicKey: Curve25519.Signing.PublicKey) throws -> (
        bundle: CatalogBundle, catalog: Catalog
    ) {
        let bundle = try CatalogBundle.open(data, publicKey: publicKey)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-verify-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        return (bundle, try bundle.write(to: tmp))
    }

    func prune(keep: [String?]) {
        let dir = directory + "/bundles"
        let keepSet = Set(keep.compactMap { $0 })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        where !keepSet.contains(name) && !name.hasPrefix(".") {
            try? FileManager.default.removeItem(atPath: dir + "/" + name)
        }
    }
}
