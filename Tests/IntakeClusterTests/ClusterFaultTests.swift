// A county's intake on two nodes: PostgreSQL and nginx on loopback, two kiosk-intake processes
// (--store postgres, one shared data directory), three stations' uploaders pushing 200
// submissions through the fault proxy while the nodes are killed (SIGKILL) and restarted in turn.
// Every submission must arrive exactly once with its attachments intact, and the states and
// certificates the township sets must reach the kiosks unchanged.

import AsyncHTTPClient
import KioskTestSupport
import Foundation
@testable import IntakeServer
@testable import KioskCore
import KioskTestSupport
import Logging
import PostgresNIO
import Testing

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// A village link in front of the county's proxy: every connection ends badly sooner or later (cut, reset, 503, slow, reply lost).
@Sendable func countyLink(_ i: Int) -> ProxyFault {
    var g = SplitMix(state: UInt64(i) &* 7919 &+ 17)
    switch Int.random(in: 0..<100, using: &g) {
    case 0..<40: return .cutAfter(Int.random(in: 2_000...15_000, using: &g))  // fine for a while, then cut mid-request
    case 40..<55: return .cutAfter(Int.random(in: 300...6000, using: &g))
    case 55..<65: return .resetAfter(Int.random(in: 200...4000, using: &g))
    case 65..<72: return .serviceUnavailable
    case 72..<77: return .slow(Int.random(in: 2...15, using: &g), limit: Int.random(in: 5000...30_000, using: &g))
    case 77..<85: return .loseReply
    default: return .cutAfter(Int.random(in: 20_000...80_000, using: &g))  // no connection lives for ever
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

@Suite(.serialized) struct ClusterFaultTests {
    @Test func twoHundredSubmissionsFromThreeStationsThroughTwoNodesWithKillsArriveExactlyOnce() async throws {
        let started = Date()
        let pg = try postgres()
        let dbURL = try newDatabase()
        let work = tempFolder("intake-cluster")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let shared = work + "/shared"
        let stations = ["XY-FLEET-001", "XY-FLEET-002", "XY-FLEET-003"]
        let tokens = stations.enumerated().map { ("fleet-token-\($0.offset + 1)", $0.element) }
        let admin = "fleet-admin-token"
        let nodeArgs =
            [
                "--data", shared, "--store", "postgres", "--postgres", dbURL, "--admin-token", admin, "--log-level",
                "notice",
            ]
            + tokens.flatMap { ["--token", "\($0.0)=\($0.1)"] }
        let nodes = [
            IntakeNode(name: "node-a", port: freePort(), args: nodeArgs, logPath: work + "/node-a.log"),
            IntakeNode(name: "node-b", port: freePort(), args: nodeArgs, logPath: work + "/node-b.log"),
        ]
        for n in nodes { try n.start() }
        defer { nodes.forEach { $0.kill9() } }
        let nginx = try ThrowawayNginx(upstreams: nodes.map(\.port))
        try nginx.start()
        defer { nginx.stop() }
        let proxy = FaultProxy(upstreamPort: nginx.port, plan: countyLink)
        try proxy.start()
        defer { proxy.stop() }

        // Three stations, 67 + 67 + 66 submissions with one or two scans each.
        var g = SplitMix(state: 2026)
        var outboxes: [OutboxStores] = []
        var sealed: [String: SubmissionSummary] = [:]
        var sealedAttachments: [String: [(name: String, sha256: String)]] = [:]
        for (i, station) in stations.enumerated() {
            let dir = work + "/station-\(i + 1)"
            let o = try OutboxStores(
                stateDirectory: dir + "/state",
                cipher: AtRestCipher(masterKey: .init(data: Data(repeating: UInt8(i + 1), count: 32))),
                stationId: station, casePrefix: "F\(i + 1)")
            for n in 0..<(i < 2 ? 67 : 66) {
                let atts = (1...(n % 2 + 1)).map { k in
                    NewAttachment(
                        name: "material-\(k).jpg", contentType: "image/jpeg",
                        data: bytes(Int.random(in: 1500...7000, using: &g), seed: n * 7 + k + i * 1000))
                }
                let s = try await o.submissions.seal(
                    NewSubmission(
                        itemCode: "XY-T-00\(n % 9 + 1)", itemName: "测试事项", applicant: fixtureApplicant,
                        attachments: atts))
                sealed[s.id] = s
                sealedAttachments[s.id] = atts.map { ($0.name, hex($0.data)) }
            }
            outboxes.append(o)
        }
        #expect(sealed.count == 200)

        let logger = Logger(label: "cluster-test")
        let uploaders: [Uploader] = zip(outboxes, tokens).map { o, t in
            var cfg = UpstreamConfig(
                baseURL: "http://127.0.0.1:\(proxy.port)", token: t.0, requestTimeoutSeconds: 10,
                initialBackoffSeconds: 0.02, maxBackoffSeconds: 0.2, statusSyncSeconds: 60, chunkSize: 2048)
            cfg.stationId = t.1
            return Uploader(
                database: o.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: logger)
        }

        // The killer: SIGKILL node A once a third has arrived, back 2 s later; then node B at two thirds.
        let done = Flag()
        let kills = Counter()
        let killer = Task.detached { () throws -> Void in
            for (node, threshold) in [(nodes[0], 60), (nodes[1], 130)] {
                while !done.isSet,
                    Int((try? pg.psqlIn(dbURL, "SELECT COUNT(*) FROM submissions")) ?? "0") ?? 0 < threshold
                {
                    try await Task.sleep(for: .milliseconds(100))
                }
                if done.isSet { return }
                node.kill9()
                _ = kills.enter()
                try await Task.sleep(for: .seconds(2))
                try node.start()
            }
        }

        let deadline = Date().addingTimeInterval(600)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (o, up) in zip(outboxes, uploaders) {
                group.addTask {
                    while try o.uploads.counts().queued > 0 && Date() < deadline {
                        let wait = await up.runOnce() ?? 0
                        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(min(wait, 0.1) * 1000))) }
                    }
                }
            }
            try await group.waitForAll()
        }
        done.set()
        try await killer.value
        let uploadSeconds = Date().timeIntervalSince(started)

        // Exactly once, every byte as sealed: checked from the database (psql) and the shared files.
        for (o, station) in zip(outboxes, stations) {
            let c = try o.uploads.counts()
            #expect(c.queued == 0, "\(station): \(c.queued) still queued")
            #expect(c.quarantined == 0, "\(station): \(c.quarantined) quarantined")
        }
        let rows = try pg.psqlIn(
            dbURL, "SELECT id || '|' || station_id || '|' || case_number FROM submissions ORDER BY id"
        )
        .split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        let ids = rows.map { $0[0] }
        let duplicates = ids.count - Set(ids).count
        let lost = Set(sealed.keys).subtracting(ids).count
        #expect(ids.count == 200 && duplicates == 0 && lost == 0)
        #expect(Set(ids) == Set(sealed.keys))
        for r in rows {
            let s = try #require(sealed[r[0]])
            #expect(r[2] == s.caseNumber)
        }
        #expect(Set(rows.map { $0[1] + "/" + $0[2] }).count == 200, "case numbers unique per station")
        let attachments = try pg.psqlIn(
            dbURL, "SELECT submission_id || '|' || name || '|' || sha256 || '|' || path FROM attachments"
        )
        .split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        var expectedCount = 0
        for (id, refs) in sealedAttachments {
            expectedCount += refs.count
            for ref in refs {
                let row = try #require(
                    attachments.first { $0[0] == id && $0[1] == ref.name }, "\(id)/\(ref.name) stored")
                #expect(row[2] == ref.sha256)
                #expect(hex(FileManager.default.contents(atPath: shared + "/" + row[3]) ?? Data()) == ref.sha256)
            }
        }
        #expect(attachments.count == expectedCount)

        // The township works on them through nginx (to whichever node): a third in review, every
        // seventh certified; node A is killed in the middle of it and started again.
        let client = HTTPClient.shared
        let certified = Array(sealed.keys.sorted().enumerated().filter { $0.offset % 7 == 0 }.map(\.element))
        let reviewed = Array(sealed.keys.sorted().enumerated().filter { $0.offset % 3 == 1 }.map(\.element))
        func adminPost(_ path: String, _ body: Data, _ type: String) async throws -> Int {
            for _ in 0..<20 {
                var req = HTTPClientRequest(url: "http://127.0.0.1:\(nginx.port)" + path)
                req.method = .POST
                req.headers.add(name: "Authorization", value: "Bearer \(admin)")
                req.headers.add(name: "Content-Type", value: type)
                req.body = .bytes(body)
                if let r = try? await client.execute(req, timeout: .seconds(10)), r.status.code < 500 {
                    return Int(r.status.code)
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            return 0
        }
        for (i, id) in reviewed.enumerated() {
            if i == reviewed.count / 2 {
                nodes[0].kill9()
                _ = kills.enter()
            }
            #expect(
                try await adminPost(
                    "/v1/admin/submissions/\(id)/state", Data(#"{"state":"inReview"}"#.utf8), "application/json") == 200
            )
        }
        try nodes[0].start()
        var pdfs: [String: Data] = [:]
        for id in certified {
            let pdf = Data("%PDF-1.4 示例证照 \(id)".utf8)
            pdfs[id] = pdf
            #expect(try await adminPost("/v1/admin/submissions/\(id)/certificate", pdf, "application/pdf") == 200)
        }
        func want(_ id: String) -> UpstreamState {
            pdfs[id] != nil ? .certificateReady : (reviewed.contains(id) ? .inReview : .received)
        }
        // Every submission's status and certificate, asked through the faulty link (any node).
        var stateMismatches = 0
        var certificateMismatches = 0
        for (o, t) in zip(outboxes, tokens) {
            let cfg = UpstreamConfig(baseURL: "http://127.0.0.1:\(proxy.port)", token: t.0, requestTimeoutSeconds: 10)
            let api = IntakeClient(http: client, config: cfg)
            for s in try o.submissions.allSubmissions() {
                var reply: SubmissionStatusReply?
                for _ in 0..<30 where reply == nil {
                    reply = try? await api.status(submissionId: s.id)
                    if reply == nil { try await Task.sleep(for: .milliseconds(50)) }
                }
                if reply?.state != want(s.id) { stateMismatches += 1 }
                if let pdf = pdfs[s.id] {
                    var data: Data?
                    for _ in 0..<30 where data == nil {
                        if let ref = reply?.certificate { data = try? await api.downloadCertificate(ref) }
                        if data == nil { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    if data != pdf || reply?.certificate?.sha256 != hex(pdf) { certificateMismatches += 1 }
                } else if reply?.certificate != nil {
                    certificateMismatches += 1
                }
            }
        }
        #expect(stateMismatches == 0)
        #expect(certificateMismatches == 0)

        // The kiosks' own status sync pulls the same into their outboxes (it looks at the 50 oldest
        // open submissions of each station per pass) and fetches the certificates.
        let covered: [(OutboxStores, [SubmissionSummary])] = try outboxes.map {
            ($0, Array(try $0.submissions.allSubmissions().prefix(50)))
        }
        var kioskMismatches = -1
        let syncDeadline = Date().addingTimeInterval(180)
        while kioskMismatches != 0 && Date() < syncDeadline {
            for up in uploaders { await up.syncStatuses() }
            kioskMismatches = 0
            for (o, subs) in covered {
                for s in subs {
                    let now = try o.submissions.submission(id: s.id)
                    if now?.upstreamState != want(s.id) {
                        kioskMismatches += 1
                        continue
                    }
                    if let pdf = pdfs[s.id] {
                        let cert = try o.certificates.certificate(submissionId: s.id)
                        if cert?.data != pdf || cert?.ref.sha256 != hex(pdf) { kioskMismatches += 1 }
                    } else if try o.certificates.certificate(submissionId: s.id) != nil {
                        kioskMismatches += 1
                    }
                }
            }
            if kioskMismatches != 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(kioskMismatches == 0, "kiosk outboxes differ from the intake for \(kioskMismatches) submissions")
        let dbStates = try pg.psqlIn(
            dbURL, "SELECT state || ':' || COUNT(*) FROM submissions GROUP BY state ORDER BY state")
        #expect(try pg.psqlIn(dbURL, "SELECT COUNT(*) FROM certificates") == String(certified.count))
        // Every node start was a real restart on the same port; the kills really happened.
        #expect(kills.max == 3 && nodes.map(\.starts).reduce(0, +) == 5)

        let faults = proxy.faultCounts
        print(
            """
            cluster: 200 submissions from 3 stations through the fault proxy → nginx → 2 kiosk-intake nodes (PostgreSQL \(pg.bin.split(separator: "/").dropLast().last ?? "?"))
            cluster: stored \(ids.count), duplicates \(duplicates), lost \(lost), attachments \(attachments.count)/\(expectedCount)
            cluster: node kills (SIGKILL) \(kills.max), node starts \(nodes.map(\.starts)), upload phase \(Int(uploadSeconds)) s, total \(Int(Date().timeIntervalSince(started))) s
            cluster: proxy connections \(proxy.connectionCount), faults \(faults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            cluster: states \(dbStates.replacingOccurrences(of: "\n", with: " ")); certificates \(certified.count) (state mismatches \(stateMismatches), certificate mismatches \(certificateMismatches), kiosk outbox mismatches \(kioskMismatches))
            """)
        for kind in ["cut", "reset", "503", "lost-reply"] {
            #expect((faults[kind] ?? 0) > 0, "fault \(kind) never injected: \(faults)")
        }
    }
}

extension ThrowawayPostgres {
    /// psql against the database of `url` (one of this server's).
    func psqlIn(_ url: String, _ sql: String) throws -> String {
        let db = URLComponents(string: url)?.path.dropFirst().description ?? "intake"
        let r = try KioskTestSupport.run(
            bin + "/psql",
            [
                "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db,
                "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
            ])
        guard r.status == 0 else { throw ServerError("psql failed: \(r.out)") }
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
