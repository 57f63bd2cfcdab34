import Crypto
import Foundation

// A catalog bundle: the catalog and its guides as the upstream publishes them, signed with
// Ed25519. One JSON file:
//
//   {"format": "kiosk-catalog-bundle/1", "version": V, "payload": base64(P), "signature": base64(S)}
//
// where S is the Ed25519 signature of the bytes P, and P is the JSON
//
//   {"format": "kiosk-catalog-bundle/1", "version": V, "publishedAt": ISO 8601,
//    "files": [{"path": "catalog.json" | "working-calendar.json" | "guides/<code>.json", "sha256": hex,
//               "content": base64}]}
//
// Only P is trusted, after its signature checks: the outer "version" is a hint for humans. A
// truncated or corrupted file fails to parse or fails the signature; a file whose bytes differ
// from its listed digest is refused too.

public enum CatalogBundleError: Error, Equatable, CustomStringConvertible, Sendable {
    case notABundle(String)
    case badSignature
    case badKey(String)
    case unsafePath(String)
    case digestMismatch(String)
    case missingCatalog
    case failsCatalogCheck([String])

    public var description: String {
        switch self {
        case .notABundle(let why):
            return "not a complete catalog bundle (\(why)); the download may be truncated or corrupt: fetch it again"
        case .badSignature:
            return "the bundle's signature does not match the configured public key (catalogBundle.publicKey): "
                + "it was altered or signed with another key; ask the upstream operator"
        case .badKey(let why): return "catalogBundle public key is unusable: \(why)"
        case .unsafePath(let p):
            return "the bundle names a file outside catalog.json, working-calendar.json and guides/ (\(p)); refused"
        case .digestMismatch(let p): return "the bundle's file \(p) does not match its SHA-256; refused"
        case .missingCatalog: return "the bundle has no catalog.json; refused"
        case .failsCatalogCheck(let problems):
            return "the bundle fails the catalog check: " + problems.prefix(5).joined(separator: "; ")
                + (problems.count > 5 ? " (and \(problems.count - 5) more)" : "")
        }
    }
}

public struct CatalogBundle: Sendable {
    public static let format = "kiosk-catalog-bundle/1"
    /// Largest bundle a kiosk downloads or opens.
    public static let maxBytes = 16 * 1024 * 1024

    public let version: String
    public let publishedAt: String
    /// Relative path → bytes: `catalog.json` and `guides/<code>.json`.
    public let files: [String: Data]

    struct Envelope: Codable {
        var format: String
        var version: String
        var payload: String
        var signature: String
    }

    struct Payload: Codable {
        struct File: Codable {
            var path: String
            var sha256: String
            var content: String
        }
        var format: String
        var version: String
        var publishedAt: String
        var files: [File]
    }

    /// A version is also a directory name: 1–64 of A–Z a–z 0–9 . _ - (not starting with a dot).
    public static func isValidVersion(_ v: String) -> Bool {
        !v.isEmpty && v.count <= 64 && !v.hasPrefix(".")
            && v.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "."
                    || $0 == "_" || $0 == "-"
            }
    }

    static func isAllowedPath(_ p: String) -> Bool {
        if p == "catalog.json" || p == WorkingCalendar.fileName { return true }
        guard p.hasPrefix("guides/"), p.hasSuffix(".json") else { return false }
        let name = p.dropFirst("guides/".count)
        return !name.contains("/") && !name.hasPrefix(".") && isValidVersion(String(name.dropLast(5)))
    }

    // MARK: Keys

    /// A key file holds the 32 raw key bytes in base64 (one line); the public key may also be
    /// given inline in the config.
    public static func publicKey(base64 text: String) throws -> Curve25519.Signing.PublicKey {
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32
        else {
            throw CatalogBundleError.badKey("expected 32 bytes in base64 (kiosk-intake bundle keygen prints one)")
        }
        do { return try Curve25519.Signing.PublicKey(rawRepresentation: raw) } catch {
            throw CatalogBundleError.badKey("\(error)")
        }
    }

    public static func privateKey(file: String) throws -> Curve25519.Signing.PrivateKey {
        guard let text = FileManager.default.contents(atPath: file),
            let raw = Data(
                base64Encoded: String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            raw.count == 32
        else {
            throw CatalogBundleError.badKey(
                "\(file) must hold a 32-byte Ed25519 private key in base64 (make one with kiosk-intake bundle keygen)")
        }
        do { return try Curve25519.Signing.PrivateKey(rawRepresentation: raw) } catch {
            throw CatalogBundleError.badKey("\(error)")
        }
    }

    // MARK: Publishing

    /// Builds and signs a bundle from `directory` (catalog.json and guides/*.json). The catalog
    /// must pass the catalog check. Version: given, or the UTC publish time plus the content's digest.
    public static func make(
        directory: String, version: String? = nil, key: Curve25519.Signing.PrivateKey, now: Date = Date()
    ) throws -> (version: String, data: Data) {
        let fm = FileManager.default
        guard let catalogData = fm.contents(atPath: directory + "/catalog.json") else {
            throw CatalogBundleError.missingCatalog
        }
        var files: [(String, Data)] = [("catalog.json", catalogData)]
        // The working calendar (holidays, 调休) travels with the time limits it counts.
        if let calendar = fm.contents(atPath: directory + "/" + WorkingCalendar.fileName) {
            files.append((WorkingCalendar.fileName, calendar))
        }
        let guides = directory + "/guides"
        for name in ((try? fm.contentsOfDirectory(atPath: guides)) ?? []).sorted() where name.hasSuffix(".json") {
            guard let d = fm.contents(atPath: guides + "/" + name) else { continue }
            let path = "guides/" + name
            guard isAllowedPath(path) else { throw CatalogBundleError.unsafePath(path) }
            files.append((path, d))
        }
        // The upstream publishes only what a kiosk would accept.
        let catalog = try Catalog.load(
            catalogFile: directory + "/catalog.json", guidesDirectory: fm.fileExists(atPath: guides) ? guides : nil)
        let problems = CatalogCheck.problems(catalog)
        guard problems.isEmpty else { throw CatalogBundleError.failsCatalogCheck(problems) }

        var digest = SHA256()
        for (p, d) in files {
            digest.update(data: Data(p.utf8))
            digest.update(data: d)
        }
        let stamp = ISO8601DateFormatter().string(from: now)
        let v =
            version
            ?? {
                let f = DateFormatter()
                f.locale = Locale(identifier: "en_US_POSIX")
                f.timeZone = TimeZone(identifier: "UTC")
                f.dateFormat = "yyyyMMdd'T'HHmmss"
                return f.string(from: now) + "-"
                    + digest.finalize().map { String(format: "%02x", $0) }.joined().prefix(8)
            }()
        guard isValidVersion(v) else {
            throw CatalogBundleError.notABundle("version \(v) must be 1-64 of A-Z a-z 0-9 . _ -")
        }
        let payload = Payload(
            format: format, version: v, publishedAt: stamp,
            files: files.map { p, d in
                Payload.File(
                    path: p, sha256: SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined(),
                    content: d.base64EncodedString())
            })
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let payloadBytes = try enc.encode(payload)
        let signature = try key.signature(for: payloadBytes)
        let envelope = Envelope(
            format: format, version: v, payload: payloadBytes.base64EncodedString(),
            signature: signature.base64EncodedString())
        return (v, try enc.encode(envelope))
    }

    // MARK: Opening

    /// Parses and verifies a bundle: the signature over the payload, then every file's digest and path.
    public static func open(_ data: Data, publicKey: Curve25519.Signing.PublicKey) throws -> CatalogBundle {
        guard data.count <= maxBytes else { throw CatalogBundleError.notABundle("larger than \(maxBytes) bytes") }
        let envelope: Envelope
        do { envelope = try JSONDecoder().decode(Envelope.self, from: data) } catch {
            throw CatalogBundleError.notABundle("not a bundle's JSON")
        }
        guard envelope.format == format else {
            throw CatalogBundleError.notABundle("format \(envelope.format), expected \(format)")
        }
        guard let payloadBytes = Data(base64Encoded: envelope.payload),
            let signature = Data(base64Encoded: envelope.signature)
        else { throw CatalogBundleError.notABundle("payload or signature is not base64") }
        guard publicKey.isValidSignature(signature, for: payloadBytes) else { throw CatalogBundleError.badSignature }
        let payload: Payload
        do { payload = try JSONDecoder().decode(Payload.self, from: payloadBytes) } catch {
            throw CatalogBundleError.notABundle("signed payload does not parse")
        }
        guard payload.format == format, isValidVersion(payload.version) else {
            throw CatalogBundleError.notABundle(
                "signed payload has format \(payload.format), version \(payload.version)")
        }
        var files: [String: Data] = [:]
        for f in payload.files {
            guard isAllowedPath(f.path), files[f.path] == nil else { throw CatalogBundleError.unsafePath(f.path) }
            guard let d = Data(base64Encoded: f.content),
                SHA256.hash(data: d).map({ String(format: "%02x", $0) }).joined() == f.sha256.lowercased()
            else { throw CatalogBundleError.digestMismatch(f.path) }
            files[f.path] = d
        }
        guard files["catalog.json"] != nil else { throw CatalogBundleError.missingCatalog }
        return CatalogBundle(version: payload.version, publishedAt: payload.publishedAt, files: files)
    }

    /// Writes the files under `directory` (created; must not exist) and loads and checks the catalog.
    @discardableResult
    public func write(to directory: String) throws -> Catalog {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory + "/guides", withIntermediateDirectories: true)
        for (p, d) in files { try d.write(to: URL(fileURLWithPath: directory + "/" + p)) }
        let catalog: Catalog
        do {
            catalog = try Catalog.load(catalogFile: directory + "/catalog.json", guidesDirectory: directory + "/guides")
        } catch { throw CatalogBundleError.failsCatalogCheck(["\(error)"]) }
        let problems = CatalogCheck.problems(catalog)
        guard problems.isEmpty else { throw CatalogBundleError.failsCatalogCheck(problems) }
        return catalog
    }
}
