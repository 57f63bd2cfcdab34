import Foundation
import KioskCore
import KioskTestSupport
import Testing

/// The real binaries: `kiosk-intake bundle keygen|publish`, the intake serving the bundle,
/// `kioskctl catalog fetch|status|rollback`, and kioskd swapping the catalog at its next home
/// screen (never in the middle of a resident's session).
@Suite(.serialized) struct CatalogBundleEndToEndTests {
    @Test func aPublishedBundleIsFetchedVerifiedSwappedAtHomeAndRolledBack() throws {
        let keys = NSTemporaryDirectory() + "bundle-keys-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        let keygen = try run(binary("kiosk-intake"), ["bundle", "keygen", "--out", keys + "/signing.key"])
        #expect(keygen.status == 0, "\(keygen.out)")
        let publicKey = try #require(
            keygen.out.split(separator: "\n").first { $0.hasPrefix("public key: ") }?.dropFirst("public key: ".count))
        let st = try Station(
            name: "bundle", extraYAML: "catalogBundle:\n  publicKey: \"\(publicKey)\"\n  fetchMinutes: 0\n")

        // The source: the shipped catalog with the first town item of the first category renamed.
        let root = packageRoot.appendingPathComponent("kiosk-config").path
        let shipped = try Catalog.load(catalogFile: root + "/catalog.json", guidesDirectory: root + "/guides")
        let first = shipped.items(level: .town, category: shipped.categories(level: .town)[0])[0]
        let source = st.dir + "/source"
        try FileManager.default.createDirectory(atPath: source + "/guides", withIntermediateDirectories: true)
        let renamed = "示例更新后的事项名称"
        for file in ["catalog.json"]
            + (try FileManager.default.contentsOfDirectory(atPath: root + "/guides"))
            .filter({ $0.hasSuffix(".json") }).map({ "guides/" + $0 })
        {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            try text.replacingOccurrences(of: "\"\(first.name)\"", with: "\"\(renamed)\"")
                .write(toFile: source + "/" + file, atomically: true, encoding: .utf8)
        }
        let published = try run(
            binary("kiosk-intake"),
            [
                "bundle", "publish", source, "--key", keys + "/signing.key", "--data", st.intake.dir, "--version",
                "e2e-1",
            ])
        #expect(published.status == 0, "\(published.out)")

        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")

        // A resident is browsing: the items list shows the shipped name.
        try t.send("1")
        try t.send("1")
        try t.waitFor(first.name)
        let fetched = try st.kioskctl("catalog", "fetch")
        #expect(fetched.status == 0, "\(fetched.out)")
        #expect(fetched.out.contains("installed bundle e2e-1"))
        // kioskd notices within 5 s but keeps the resident's catalog until the home screen.
        Thread.sleep(forTimeInterval: 7)
        try t.send("7")  // redraw the same page
        #expect(try t.screen().contains(first.name), "no swap in the middle of a session")
        try t.send("0")
        try t.send("0")
        try t.waitFor("首页")
        try t.send("1")
        try t.send("1")
        try t.waitFor(renamed, seconds: 20)

        // The heartbeat carries the bundle version: the intake's fleet view shows it.
        try waitUntil(20, "a heartbeat with the bundle version") {
            let r = try run(binary("kiosk-intake"), ["stations", "--data", st.intake.dir, "--json"])
            return r.out.contains("\"bundleVersion\" : \"e2e-1\"") || r.out.contains("\"bundleVersion\":\"e2e-1\"")
        }

        // A tampered bundle is refused and reported; the catalog in use stays.
        let good = try Data(contentsOf: URL(fileURLWithPath: st.intake.dir + "/bundles/e2e-1.json"))
        var text = String(decoding: good, as: UTF8.self)
        let at = text.index(text.range(of: "\"payload\":\"")!.upperBound, offsetBy: 300)
        text.replaceSubrange(at...at, with: text[at] == "A" ? "B" : "A")
        try Data(text.utf8).write(to: URL(fileURLWithPath: st.intake.dir + "/bundles/e2e-bad.json"))
        try Data("e2e-bad\n".utf8).write(to: URL(fileURLWithPath: st.intake.dir + "/bundles/latest"))
        let verified = try st.kioskctl("catalog", "verify", st.intake.dir + "/bundles/e2e-1.json")
        #expect(verified.status == 0 && verified.out.contains("OK: bundle e2e-1"), "\(verified.out)")
        let notVerified = try st.kioskctl("catalog", "verify", st.intake.dir + "/bundles/e2e-bad.json")
        #expect(notVerified.status == 65 && notVerified.out.contains("signature"), "\(notVerified.out)")
        let refused = try st.kioskctl("catalog", "fetch")
        #expect(refused.status == 65, "\(refused.out)")
        let status = try st.kioskctl("catalog", "status")
        #expect(status.out.contains("current:   e2e-1"), "\(status.out)")
        #expect(status.out.contains("refused"))
        #expect(status.out.contains("refused:   1"))

        // Rollback: the shipped default again, from the next home screen.
        try t.send("0")
        try t.send("0")
        try t.waitFor("首页")
        let rolled = try st.kioskctl("catalog", "rollback")
        #expect(rolled.status == 0, "\(rolled.out)")
        Thread.sleep(forTimeInterval: 7)
        try t.send("1")
        try t.send("1")
        try t.waitFor(first.name, seconds: 20)
        #expect(!(try t.screen().contains(renamed)))
    }

    /// kioskd's own schedule: a bundle published while the kiosk was off is fetched soon after
    /// start and shown at the home screen, without kioskctl.
    @Test func kioskdFetchesOnItsScheduleAndShowsTheBundleAtHome() throws {
        let keys = NSTemporaryDirectory() + "bundle-keys-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        let keygen = try run(binary("kiosk-intake"), ["bundle", "keygen", "--out", keys + "/signing.key"])
        let publicKey = try #require(
            keygen.out.split(separator: "\n").first { $0.hasPrefix("public key: ") }?.dropFirst("public key: ".count))
        let st = try Station(
            name: "bundle-schedule", extraYAML: "catalogBundle:\n  publicKey: \"\(publicKey)\"\n  fetchMinutes: 60\n")
        let root = packageRoot.appendingPathComponent("kiosk-config").path
        let shipped = try Catalog.load(catalogFile: root + "/catalog.json", guidesDirectory: root + "/guides")
        let first = shipped.items(level: .town, category: shipped.categories(level: .town)[0])[0]
        let source = st.dir + "/source"
        try FileManager.default.createDirectory(atPath: source + "/guides", withIntermediateDirectories: true)
        let text = try String(contentsOfFile: root + "/catalog.json", encoding: .utf8)
        try text.replacingOccurrences(of: "\"\(first.name)\"", with: "\"示例定时获取的事项\"")
            .write(toFile: source + "/catalog.json", atomically: true, encoding: .utf8)
        let published = try run(
            binary("kiosk-intake"),
            [
                "bundle", "publish", source, "--key", keys + "/signing.key", "--data", st.intake.dir, "--version",
                "sched-1",
            ])
        #expect(published.status == 0, "\(published.out)")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try waitUntil(30, "kioskd to install the bundle") {
            (try st.kioskctl("catalog", "status").out).contains("current:   sched-1")
        }
        Thread.sleep(forTimeInterval: 6)  // kioskd's poll (5 s) applies it at this home screen
        try t.send("1")
        try t.send("1")
        try t.waitFor("示例定时获取的事项", seconds: 20)
    }
}
