import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IntakeServer
import KioskCore
import KioskTestSupport
import Testing

/// GET /v1/catalog/bundle on both engines: bundles are files under the data directory (shared by
/// every node with PostgreSQL), published with the code of `kiosk-intake bundle publish`.
@Suite(.serialized) struct BundleRouteContractTests {
    @Test(arguments: engines) func theBundleRouteServesThePublishedBundleOnEitherEngine(engine: String) async throws {
        let keyRaw = Curve25519.Signing.PrivateKey().rawRepresentation
        _ = try await withStore(engine) { store, dir in
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: keyRaw)
            let keyFile = dir + "/signing.key"
            try key.rawRepresentation.base64EncodedString().write(toFile: keyFile, atomically: true, encoding: .utf8)
            let root = packageRoot.appendingPathComponent("kiosk-config").path
            let publicRaw = key.publicKey.rawRepresentation
            let v = try IntakeBundles.publish(source: root, keyFile: keyFile, dataDirectory: dir, version: "contract-1")
            #expect(v == "contract-1")
            try await buildIntakeApplication(
                configuration: IntakeConfiguration(dataDirectory: dir, port: 0, stationTokens: ["tok": "XY-C-001"]),
                store: store
            ).test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer tok"]
                let r = try await client.execute(uri: "/v1/catalog/bundle", method: .get, headers: auth)
                #expect(r.status == .ok)
                #expect(r.headers[.eTag] == "\"contract-1\"")
                let bundle = try CatalogBundle.open(
                    Data(r.body.readableBytesView),
                    publicKey: try Curve25519.Signing.PublicKey(rawRepresentation: publicRaw))
                #expect(bundle.version == "contract-1")
                #expect(bundle.files["catalog.json"] != nil)
                var again = auth
                again[.ifNoneMatch] = "\"contract-1\""
                #expect(
                    try await client.execute(uri: "/v1/catalog/bundle", method: .get, headers: again).status
                        == .notModified)
                #expect(try await client.execute(uri: "/v1/catalog/bundle", method: .get).status == .unauthorized)
            }
            // A station reports the bundle it uses and a refusal; the fleet view shows both.
            _ = try await store.putHeartbeat(
                StationHeartbeat(
                    heartbeatId: "hb-bundle-1", stationId: "XY-C-001", sentAt: "2026-12-07T06:00:00Z", devices: [],
                    queueDepth: 0, quarantined: 0, freeDiskBytes: 900_000_000, acceptingSubmissions: true,
                    bundleVersion: "contract-1", bundleProblem: "the bundle's signature does not match"))
            let fleet = try await FleetView.stations(store: store, silentAfter: 900)
            #expect(fleet.first?.bundleVersion == "contract-1")
            #expect(fleet.first?.bundleProblem != nil)
            #expect(FleetView.table(fleet).contains { $0.contains("contract-1 REFUSED") })
            return true
        }
    }
}
