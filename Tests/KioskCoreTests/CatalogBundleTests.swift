import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import KioskTestSupport
import Logging
import Testing
@testable import KioskCore

/// A copy of the shipped catalog (seed 001's 142 items and the sample guides) to publish from.
func shippedCatalogCopy(_ dir: String) throws -> String {
    let src = packageRoot.appendingPathComponent("kiosk-config").path
    let out = dir + "/source"
    try FileManager.default.createDirectory(atPath: out + "/guides", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: src + "/catalog.json", toPath: out + "/catalog.json")
    for g in try FileManager.default.contentsOfDirectory(atPath: src + "/guides") where g.hasSuffix(".json") {
        try FileManager.default.copyItem(atPath: src + "/guides/" + g, toPath: out + "/guides/" + g)
    }
    return out
}

/// Renames item `code` in a source folder's catalog.json (and its guide), so two bundles differ.
func renameItem(_ source: String, code: String, to name: String) throws {
    for path in [source + "/catalog.json", source + "/guides/\(code).json"] {
        guard var text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
        let json = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let old: String? =
            if let d = json as? [String: Any], let items = d["items"] as? [[String: Any]] {
                items.first { $0["code"] as? String == code }?["name"] as? String
            } else {
                (json as? [String: Any])?["name"] as? String
            }
        text = text.replacingOccurrences(of: "\"\(old!)\"", with: "\"\(name)\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

func writeKey(_ dir: String, _ key: Curve25519.Signing.PrivateKey) throws -> String {
    let path = dir + "/signing.key"
    try key.rawRepresentation.base64EncodedString().write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct CatalogBundleTests {
    let key = Curve25519.Signing.PrivateKey()

    @Test func theShippedCatalogPassesTheCatalogCheckAndStaysTheDefault() throws {
        let root = packageRoot.appendingPathComponent("kiosk-config").path
        let c = try Catalog.load(catalogFile: root + "/catalog.json", guidesDirectory: root + "/guides")
        #expect(c.items.count == 142)
        #expect(c.items.filter { $0.level == .town }.count == 99)
        #expect(c.items.allSatisfy { $0.code.hasPrefix("XY-") })
        #expect(CatalogCheck.problems(c) == [])
        // Without a bundle the store names none: the kiosk uses this default.
        #expect(CatalogBundleStore(directory: tempDir()).state().current == nil)
    }

    @Test func theCatalogCheckCoversSampleMaterialsAndClaimsTheKioskCannotKeep() throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        let path = source + "/guides/XY-T-001.json"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"requirements\": \"【示例】在有效期内", with: "\"requirements\": \"在有效期内")
        text = text.replacingOccurrences(of: "\"fee\": \"【示例】", with: "\"fee\": \"【示例】可在一体机缴费；")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Catalog.load(catalogFile: source + "/catalog.json", guidesDirectory: source + "/guides")
        let problems = CatalogCheck.problems(c)
        #expect(problems.contains { $0.contains("XY-T-001") && $0.contains("requirements are not marked 示例") })
        #expect(problems.contains { $0.contains("XY-T-001") && $0.contains("一体机缴费") })
        // The publisher refuses to sign it.
        #expect(throws: CatalogBundleError.self) { try CatalogBundle.make(directory: source, key: key) }
    }

    @Test func aSignedBundleRoundTripsAndEveryDamageIsRefused() throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        let made = try CatalogBundle.make(directory: source, version: "v1", key: key)
        let b = try CatalogBundle.open(made.data, publicKey: key.publicKey)
        #expect(b.version == "v1")
        #expect(b.files.count == 7)  // catalog.json + 6 guides

        // Truncated.
        #expect(throws: CatalogBundleError.self) {
            try CatalogBundle.open(made.data.prefix(made.data.count / 2), publicKey: key.publicKey)
        }
        // Signed with another key.
        #expect(throws: CatalogBundleError.badSignature) {
            try CatalogBundle.open(made.data, publicKey: Curve25519.Signing.PrivateKey().publicKey)
        }
        // One character of the signed payload changed (still valid base64 and JSON framing).
        #expect(throws: CatalogBundleError.badSignature) {
            try CatalogBundle.open(tampered(made.data), publicKey: key.publicKey)
        }
    }

    @Test func theStoreInstallsRefusesAndRollsBackKeepingTheOldBundleInUse() throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        let store = CatalogBundleStore(directory: dir + "/state/catalog-bundles")
        let v1 = try CatalogBundle.make(directory: source, version: "v1", key: key).data
        #expect(try store.install(v1, publicKey: key.publicKey) == .installed(version: "v1", previous: nil))
        #expect(try store.install(v1, publicKey: key.publicKey) == .unchanged(version: "v1"))
        try renameItem(source, code: "XY-T-001", to: "示例更名事项")
        let v2 = try CatalogBundle.make(directory: source, version: "v2", key: key).data
        #expect(try store.install(v2, publicKey: key.publicKey) == .installed(version: "v2", previous: "v1"))
        #expect(try store.currentCatalog()?.catalog.item(code: "XY-T-001")?.name == "示例更名事项")

        let other = Curve25519.Signing.PrivateKey()
        let damaged: [(String, Data)] = [
            ("tampered", tampered(v2)), ("truncated", v2.prefix(v2.count - 40)),
            ("wrongly signed", try CatalogBundle.make(directory: source, version: "v3", key: other).data),
            ("not JSON", Data("<html>captive portal</html>".utf8)),
        ]
        for (i, (what, data)) in damaged.enumerated() {
            #expect(throws: CatalogBundleError.self, "\(what) bundle refused") {
                try store.install(data, publicKey: key.publicKey)
            }
            let s = store.state()
            #expect(s.current == "v2", "\(what): the old bundle stays in use")
            #expect(s.previous == "v1")
            #expect(s.lastOutcome == "refused")
            #expect(s.refusedTotal == i + 1)
            #expect(try store.currentCatalog()?.catalog.items.count == 142)
        }
        #expect(try store.rollback() == "v1")
        #expect(try store.currentCatalog()?.catalog.item(code: "XY-T-001")?.name != "示例更名事项")
        #expect(store.state().previous == "v2")
    }

    @Test func aSignedBundleThatFailsTheCatalogCheckIsRefused() throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        let store = CatalogBundleStore(directory: dir + "/bundles")
        try store.install(
            try CatalogBundle.make(directory: source, version: "good", key: key).data, publicKey: key.publicKey)
        // The upstream signs a bundle with a guide for an item the catalog lacks (bypassing make's check).
        let guide = try String(contentsOfFile: source + "/guides/XY-T-001.json", encoding: .utf8)
            .replacingOccurrences(of: "\"XY-T-001\"", with: "\"XY-T-999\"")
        let bad = try signedBundle(
            version: "bad",
            files: [
                "catalog.json": try Data(contentsOf: URL(fileURLWithPath: source + "/catalog.json")),
                "guides/XY-T-999.json": Data(guide.utf8),
            ], key: key)
        #expect(throws: CatalogBundleError.self) { try store.install(bad, publicKey: key.publicKey) }
        #expect(store.state().current == "good")
        #expect(store.state().lastRefusedVersion == "bad")
        #expect(store.state().lastError?.contains("catalog check") == true)
    }

    /// Publish → fetch → verify → install → heartbeat → refusals → rollback, through the real
    /// reference intake (in-process, its HTTP route and the publish command's code).
    @Test func publishFetchVerifySwapAndRollBackThroughTheReferenceIntake() async throws {
        let dir = tempDir()
        let source = try shippedCatalogCopy(dir)
        let keyFile = try writeKey(dir, key)
        let intakeData = dir + "/intake"
        let intake = try IntakeStore(dataDirectory: intakeData)
        let outbox = try makeOutbox(dir)
        let store = CatalogBundleStore(stateDirectory: dir + "/state")
        let keyRaw = key.rawRepresentation
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: intakeData, port: 0, stationTokens: [token: "XY-TEST-001"]), store: intake
        )
        .test(.live) { client in
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: keyRaw)
            var cfg = UpstreamConfig(
                baseURL: "http://127.0.0.1:\(try #require(client.port))", token: token, requestTimeoutSeconds: 30)
            cfg.stationId = "XY-TEST-001"
            let updater = CatalogBundleUpdater(
                http: HTTPClient.shared, upstream: cfg, store: store, publicKey: key.publicKey)

            // Nothing published yet: the shipped default stays.
            #expect(await updater.check() == .upToDate(version: nil))

            let v1 = try IntakeBundles.publish(
                source: source, keyFile: keyFile, dataDirectory: intakeData, version: "2026.12-1")
            #expect(await updater.check() == .installed(version: v1))
            #expect(await updater.check() == .upToDate(version: v1))  // If-None-Match → 304

            try renameItem(source, code: "XY-V-001", to: "示例新版事项")
            let v2 = try IntakeBundles.publish(source: source, keyFile: keyFile, dataDirectory: intakeData)
            #expect(v2 != v1)
            #expect(await updater.check() == .installed(version: v2))
            #expect(store.state().previous == v1)
            #expect(try store.currentCatalog()?.catalog.item(code: "XY-V-001")?.name == "示例新版事项")

            // The heartbeat carries the version in use; the intake's fleet view shows it.
            let up = Uploader(
                database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: Logger(label: "t"))
            await up.setVersions(software: "test", bundle: store.state().current)
            await up.queueHeartbeat()
            await up.sendMessages()
            #expect(try intake.heartbeats(stationId: "XY-TEST-001").last?.bundleVersion == v2)

            // Damaged bundles served by the intake are refused; v2 stays in use.
            let good = try #require(IntakeBundles.latest(dataDirectory: intakeData)).data
            let wrongKey = try CatalogBundle.make(
                directory: source, version: "v-wrong", key: Curve25519.Signing.PrivateKey()
            ).data
            for (version, data) in [
                ("v-tampered", tampered(good)), ("v-truncated", good.prefix(good.count * 3 / 4)),
                ("v-wrong", wrongKey),
            ] {
                try IntakeBundles.publish(bundle: data, version: version, dataDirectory: intakeData)
                guard case .refused = await updater.check() else {
                    Issue.record("\(version) was not refused")
                    continue
                }
                #expect(store.state().current == v2, "\(version): the old bundle stays in use")
            }
            #expect(store.state().refusedTotal == 3)
            await up.setBundleProblem(store.state().lastError)
            await up.queueHeartbeat()
            await up.sendMessages()
            let hb = try #require(try intake.heartbeats(stationId: "XY-TEST-001").last)
            #expect(hb.bundleVersion == v2)
            #expect(hb.bundleProblem?.contains("signature") == true)

            // Rollback to v1.
            #expect(try store.rollback() == v1)
            #expect(try store.currentCatalog()?.catalog.item(code: "XY-V-001")?.name != "示例新版事项")
        }
    }
}

/// Changes one character inside the signed payload (base64 letter swapped for another).
func tampered(_ bundle: Data) -> Data {
    var text = String(decoding: bundle, as: UTF8.self)
    let payload = text.range(of: "\"payload\":\"")!
    var at = text.index(payload.upperBound, offsetBy: 400)
    while !(text[at].isLetter && text[at].isASCII) || text[text.index(before: at)] == "\\" {
        at = text.index(after: at)
    }
    let c = text[at]
    text.replaceSubrange(at...at, with: c == "A" ? "B" : "A")
    return Data(text.utf8)
}

/// A bundle signed by `key` with exactly these files (no catalog check on the publishing side).
func signedBundle(version: String, files: [String: Data], key: Curve25519.Signing.PrivateKey) throws -> Data {
    let payload = CatalogBundle.Payload(
        format: CatalogBundle.format, version: version, publishedAt: "2026-12-07T00:00:00Z",
        files: files.sorted { $0.key < $1.key }.map { p, d in
            CatalogBundle.Payload.File(
                path: p, sha256: SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined(),
                content: d.base64EncodedString())
        })
    let bytes = try JSONEncoder().encode(payload)
    let env = CatalogBundle.Envelope(
        format: CatalogBundle.format, version: version, payload: bytes.base64EncodedString(),
        signature: try key.signature(for: bytes).base64EncodedString())
    return try JSONEncoder().encode(env)
}
