// The fleet view end to end: a kiosk's uploader sends its heartbeat (with the optional fields),
// `kiosk-intake stations` shows it; `serve` stops gracefully on SIGTERM (ServiceGroup).

import AsyncHTTPClient
import KioskTestSupport
import Foundation
import Hummingbird
@testable import IntakeServer
@testable import KioskCore
import Logging
import Testing

@Suite(.serialized) struct FleetCLITests {
    @Test func theKiosksHeartbeatCarriesVersionsQueueAgeFloorAndKeyAlarm() async throws {
        let dir = tempFolder("fleet-hb")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbox = try OutboxStores(
            stateDirectory: dir + "/state", cipher: AtRestCipher(masterKey: .init(data: Data(repeating: 5, count: 32))),
            stationId: "XY-C-001", casePrefix: "HB", minFreeBytes: 123_000_000)
        _ = try await outbox.submissions.seal(
            NewSubmission(itemCode: "XY-T-001", itemName: "测试事项", applicant: fixtureApplicant, attachments: []))
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        let app = try buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: ["hb-token": "XY-C-001"]), store: store)
        try await app.test(.live) { client in
            var cfg = UpstreamConfig(baseURL: "http://127.0.0.1:\(client.port ?? 0)", token: "hb-token")
            cfg.stationId = "XY-C-001"
            let up = Uploader(
                database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: Logger(label: "t"))
            await up.setVersions(software: "9.8.7", bundle: "0123456789ab")
            try await Task.sleep(for: .milliseconds(1100))  // the queued submission is at least a second old
            await up.queueHeartbeat()
            await up.sendMessages()
        }
        let hb = try #require(try store.heartbeats(stationId: "XY-C-001").first)
        #expect(hb.softwareVersion == "9.8.7")
        #expect(hb.bundleVersion == "0123456789ab")
        #expect(hb.freeDiskFloorBytes == 123_000_000)
        #expect(hb.keyAlarm == 0)
        #expect(hb.queueDepth == 1)
        #expect((hb.oldestQueuedSeconds ?? 0) >= 1)
    }

    @Test func stationsListsTheFleetAndServeShutsDownGracefully() throws {
        let dir = tempFolder("fleet-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = IntakeNode(
            name: "intake", port: freePort(),
            args: ["--data", dir + "/intake", "--token", "t1=XY-C-001", "--token", "t2=XY-C-002"],
            logPath: dir + "/intake.log")
        try node.start()
        func post(_ token: String, _ station: String, _ body: String) throws {
            let r = try run(
                "/usr/bin/curl",
                [
                    "-fsS", "-X", "POST", "-H", "Authorization: Bearer \(token)", "-H",
                    "Content-Type: application/json",
                    "--data-binary", body, "http://127.0.0.1:\(node.port)/v1/stations/\(station)/heartbeats",
                ])
            #expect(r.status == 0, "\(r.out)")
        }
        try post(
            "t1", "XY-C-001",
            #"{"heartbeatId":"h1","stationId":"XY-C-001","sentAt":"2026-11-01T08:00:00Z","devices":[{"kind":"idCardReader","state":"online","simulated":false},{"kind":"receiptPrinter","state":"userError","simulated":false}],"queueDepth":4,"quarantined":0,"freeDiskBytes":900000000,"acceptingSubmissions":true,"oldestQueuedSeconds":4000,"softwareVersion":"0.4.0","bundleVersion":"abcdef012345","freeDiskFloorBytes":200000000,"keyAlarm":0}"#
        )
        try post(
            "t2", "XY-C-002",
            #"{"heartbeatId":"h2","stationId":"XY-C-002","sentAt":"2026-11-01T08:00:00Z","devices":[],"queueDepth":0,"quarantined":0,"freeDiskBytes":-1,"acceptingSubmissions":true}"#
        )
        // Graceful shutdown through the ServiceGroup: SIGTERM, exit 0.
        #expect(node.terminate() == 0, "\(node.log().suffix(1500))")

        let json = try run(binary("kiosk-intake"), ["stations", "--data", dir + "/intake", "--json"])
        #expect(json.status == 0, "\(json.out)")
        let rows = try JSONDecoder().decode([FleetStation].self, from: Data(json.out.utf8))
        #expect(rows.map(\.stationId) == ["XY-C-001", "XY-C-002"])
        #expect(rows[0].queueDepth == 4 && rows[0].oldestQueuedSeconds == 4000 && rows[0].softwareVersion == "0.4.0")
        #expect(rows[0].devicesDown == ["receiptPrinter=userError"])
        let noneSilent = rows.allSatisfy { !$0.silent }
        #expect(noneSilent)
        #expect(rows[1].softwareVersion == nil && rows[1].freeDiskBytes == nil)

        Thread.sleep(forTimeInterval: 1.2)
        let table = try run(binary("kiosk-intake"), ["stations", "--data", dir + "/intake", "--silent-after", "1"])
        #expect(table.status == 0)
        let lines = table.out.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(
            lines[1].hasPrefix("!") && lines[1].contains("XY-C-001") && lines[1].contains("SILENT")
                && lines[1].contains("receiptPrinter=userError"))
        #expect(lines[2].hasPrefix("!") && lines[2].contains("XY-C-002"))

        let noPG = try run(binary("kiosk-intake"), ["stations", "--data", dir + "/intake", "--store", "postgres"])
        #expect(noPG.status != 0 && noPG.out.contains("--store postgres needs --postgres"))
        let missing = try run(binary("kiosk-intake"), ["stations", "--data", dir + "/nothing-here"])
        #expect(missing.status != 0 && missing.out.contains("no intake database"))
        let badWait = try run(binary("kiosk-intake"), ["stations", "--data", dir + "/intake", "--silent-after", "-5"])
        #expect(badWait.status != 0 && badWait.out.contains("--silent-after"))
        // A PostgreSQL that is not there: a clear error and a non-zero exit, not a hang.
        let closed = freePort()
        let t0 = Date()
        let noServer = try run(
            binary("kiosk-intake"),
            [
                "count", "--data", dir + "/shared", "--store", "postgres",
                "--postgres", "postgres://postgres@127.0.0.1:\(closed)/intake?sslmode=disable",
            ])
        #expect(
            noServer.status != 0 && noServer.out.contains("PostgreSQL database of --postgres cannot be used"),
            "\(noServer.out)")
        #expect(Date().timeIntervalSince(t0) < 60)
    }
}
