import AsyncHTTPClient
import Crypto
import Foundation
import KioskProtocols
import NIOCore
import NIOHTTP1

/// How one bundle check ended.
public enum CatalogBundleCheck: Equatable, Sendable {
    /// A new bundle was verified and is now current (kioskd shows it from the next home screen).
    case installed(version: String)
    /// The upstream's bundle is the one in use (or it has none).
    case upToDate(version: String?)
    /// The download was refused (signature, corruption, catalog check); the old bundle stays.
    case refused(String)
    /// The upstream could not be reached or answered with an error; tried again at the next check.
    case unreachable(String)
}

/// Fetches the upstream's catalog bundle (`GET /v1/catalog/bundle`, with `If-None-Match` the
/// version in use), verifies it and installs it into the store. On a schedule from kioskd and on
/// demand from `kioskctl catalog fetch`.
public struct CatalogBundleUpdater: Sendable {
    public static let path = "/v1/catalog/bundle"
    let http: HTTPClient
    let config: UpstreamConfig
    public let store: CatalogBundleStore
    /// The raw 32 bytes (the key type itself is not Sendable).
    let publicKeyBytes: Data

    public init(
        http: HTTPClient, upstream: UpstreamConfig, store: CatalogBundleStore, publicKey: Curve25519.Signing.PublicKey
    ) {
        self.http = http
        self.config = upstream
        self.store = store
        self.publicKeyBytes = publicKey.rawRepresentation
    }

    public func check() async -> CatalogBundleCheck {
        let current = store.state().current
        var req = HTTPClientRequest(url: config.baseURL + Self.path)
        req.headers.add(name: "Authorization", value: "Bearer \(config.token)")
        req.headers.add(name: "User-Agent", value: "kioskd")
        if let current { req.headers.add(name: "If-None-Match", value: "\"\(current)\"") }
        let status: Int
        let body: Data
        let contentType: String
        do {
            let resp = try await http.execute(req, timeout: .seconds(max(config.requestTimeoutSeconds, 30)))
            status = Int(resp.status.code)
            contentType = resp.headers.first(name: "Content-Type")?.lowercased() ?? ""
            let buf = try await resp.body.collect(upTo: CatalogBundle.maxBytes + 1)
            body = Data(buf.readableBytesView)
            if status == 200, let expected = resp.headers.first(name: "Content-Length").flatMap(Int.init),
                expected != body.count
            {
                return refuse(CatalogBundleError.notABundle("received \(body.count) of \(expected) bytes"))
            }
        } catch {
            let why = "catalog bundle: upstream unreachable (\(String(describing: error).prefix(120)))"
            store.recordUnreachable(why)
            return .unreachable(why)
        }
        switch status {
        case 304:
            return .upToDate(version: current)
        case 404:
            return .upToDate(version: current)
        case 200 where !contentType.hasPrefix("application/json"):
            // A captive portal or proxy page, not the upstream: try again later, nothing refused.
            let why =
                "catalog bundle: the reply is \(contentType.isEmpty ? "untyped" : contentType), not a bundle (captive portal or proxy in the way?)"
            store.recordUnreachable(why)
            return .unreachable(why)
        case 200:
            do {
                let key = try Curve25519.Signing.PublicKey(rawRepresentation: publicKeyBytes)
                switch try store.install(body, publicKey: key) {
                case .installed(let v, _): return .installed(version: v)
                case .unchanged(let v): return .upToDate(version: v)
                }
            } catch {
                return .refused("\(error)")
            }
        default:
            let why = "catalog bundle: upstream answered HTTP \(status)"
            store.recordUnreachable(why)
            return .unreachable(why)
        }
    }

    private func refuse(_ error: CatalogBundleError) -> CatalogBundleCheck {
        var s = store.state()
        s.lastCheckAt = ISO8601DateFormatter().string(from: Date())
        s.lastOutcome = "refused"
        s.lastError = "\(error)"
        s.refusedTotal += 1
        try? store.save(s)
        return .refused("\(error)")
    }
}
