// The catalog bundles the intake publishes to its kiosks (an addition to protocol 1):
//
//   GET /v1/catalog/bundle    200 the latest signed bundle (ETag: "<version>"); 304 when the
//                             request's If-None-Match names it; 404 when none is published
//
// Bundles are files under the data directory (bundles/<version>.json, and bundles/latest naming
// the version), so every engine serves them the same way: with PostgreSQL the data directory is
// the one every node shares. `kiosk-intake bundle publish DIR --key KEY` builds, checks and signs
// one (KioskCore's CatalogBundle) and makes it the latest with a rename.

import Crypto
import Foundation
import Hummingbird
import KioskCore

public enum IntakeBundles {
    static func directory(_ dataDirectory: String) -> String { dataDirectory + "/bundles" }

    /// Builds and signs a bundle from `source` (catalog.json + guides/) and publishes it as the latest.
    @discardableResult
    public static func publish(source: String, keyFile: String, dataDirectory: String, version: String? = nil)
        throws -> String
    {
        let key = try CatalogBundle.privateKey(file: keyFile)
        let made = try CatalogBundle.make(directory: source, version: version, key: key)
        try publish(bundle: made.data, version: made.version, dataDirectory: dataDirectory)
        return made.version
    }

    /// Stores already signed bundle bytes under `version` and makes them the latest (used by
    /// `publish`, and by tests that serve a damaged bundle).
    public static func publish(bundle data: Data, version: String, dataDirectory: String) throws {
        guard CatalogBundle.isValidVersion(version) else {
            throw CatalogBundleError.notABundle("version \(version) must be 1-64 of A-Z a-z 0-9 . _ -")
        }
        let dir = directory(dataDirectory)
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try write(data, to: dir + "/" + version + ".json")
        try write(Data((version + "\n").utf8), to: dir + "/latest")
    }

    static func write(_ data: Data, to path: String) throws {
        try KioskCore.DurableFile.write(data, to: path, mode: 0o644)
    }

    /// The latest published bundle: its version and bytes (nil when none).
    public static func latest(dataDirectory: String) -> (version: String, data: Data)? {
        let dir = directory(dataDirectory)
        guard let v = FileManager.default.contents(atPath: dir + "/latest"),
            case let version = String(decoding: v, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            CatalogBundle.isValidVersion(version),
            let data = FileManager.default.contents(atPath: dir + "/" + version + ".json")
        else { return nil }
        return (version, data)
    }

    /// A new Ed25519 key pair as base64 of the raw 32 bytes: (private, public).
    public static func makeKeyPair() -> (privateKey: String, publicKey: String) {
        let k = Curve25519.Signing.PrivateKey()
        return (k.rawRepresentation.base64EncodedString(), k.publicKey.rawRepresentation.base64EncodedString())
    }
}

struct BundleRoutes: Sendable {
    let store: any IntakeStorage

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        router.group("/v1/catalog").add(middleware: auth).get("bundle") { request, _ in
            try self.bundle(request)
        }
    }

    func bundle(_ request: Request) throws -> Response {
        guard let latest = IntakeBundles.latest(dataDirectory: store.dataDirectory) else {
            throw IntakeError.notFound(
                "No catalog bundle is published yet; the operator publishes one with kiosk-intake bundle publish.")
        }
        var h = HTTPFields()
        h[.eTag] = "\"\(latest.version)\""
        h[.cacheControl] = "no-cache"
        if let tag = request.headers[.ifNoneMatch],
            tag.split(separator: ",").contains(where: {
                $0.trimmingCharacters(in: .whitespaces) == "\"\(latest.version)\""
            })
        {
            return Response(status: .notModified, headers: h)
        }
        h[.contentType] = "application/json"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: latest.data)))
    }
}
