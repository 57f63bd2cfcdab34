import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import KioskTestSupport
import Logging
import Testing
@testable import KioskCore

/// A small deterministic generator so a failing run can be repeated.
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

/// The faults of connection `i`: about half carry some requests and then drop (connections are
/// reused, so a connection that never broke would carry everything); the rest break at once in
/// every way the field does.
func villageLink(_ i: Int) -> ProxyFault {
    var g = SplitMix(state: UInt64(i) &* 7919 &+ 17)
    let r = Int.random(in: 0..<100, using: &g)
    switch r {
    case 0..<45: return .cutAfter(Int.random(in: 20_000...100_000, using: &g))
    case 45..<60: return .cutAfter(Int.random(in: 200...9000, using: &g))
    case 60..<70: return .resetAfter(Int.random(in: 200...9000, using: &g))
    case 70..<78: return .serviceUnavailable
    case 78..<85: return .captivePortal
    case 85..<90: return .slow(Int.random(in: 5...40, using: &g), limit: Int.random(in: 10_000...60_000, using: &g))
    default: return .loseReply
    }
}

@Suite(.serialized) struct FaultProxyTests {
    @Test func twoHundredSubmissionsThroughAFaultyLinkArriveExactlyOnce() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        var g = SplitMix(state: 42)
        var sealed: [SubmissionSummary] = []
        for i in 0..<200 {
            let atts = (1...2).map { n in
                NewAttachment(
                    name: "material-\(n).jpg", contentType: "image/jpeg",
                    data: jpeg(Int.random(in: 2000...9000, using: &g) + i))
            }
            sealed.append(
                try await outbox.submissions.seal(
                    NewSubmission(
                        itemCode: "XY-T-00\(i % 9 + 1)", itemName: "测试事项", applicant: applicant, attachments: atts)))
        }
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        let app = try buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: [token: "XY-TEST-001"]), store: store)
        let faultBox = Box<[String: Int]>([:])
        try await app.test(.live) { client in
            let proxy = FaultProxy(upstreamPort: try #require(client.port), plan: villageLink)
            try proxy.start()
            defer { proxy.stop() }
            let cfg = UpstreamConfig(
                baseURL: "http://127.0.0.1:\(proxy.port)", token: token, requestTimeoutSeconds: 5,
                initialBackoffSeconds: 0.005, maxBackoffSeconds: 0.03, statusSyncSeconds: 60, chunkSize: 2048)
            let up = Uploader(
                database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: Logger(label: "test"))
            let deadline = Date().addingTimeInterval(300)
            while try outbox.uploads.counts().queued > 0 && Date() < deadline {
                let wait = await up.runOnce() ?? 0
                if wait > 0 { try await Task.sleep(for: .milliseconds(Int(min(wait, 0.05) * 1000))) }
            }
            faultBox.value = proxy.faultCounts
        }
        let faults = faultBox.value
        let counts = try outbox.uploads.counts()
        #expect(counts.queued == 0)
        #expect(counts.uploaded == 200)
        #expect(counts.quarantined == 0)
        // Exactly once: 200 manifests, one per submission id, every attachment as sealed.
        #expect(try store.count() == 200)
        let stored = try store.summaries()
        #expect(Set(stored.map(\.caseNumber)).count == 200)
        #expect(Set(stored.map(\.submissionId)) == Set(sealed.map(\.id)))
        for s in sealed.prefix(200) {
            let m = try #require(try store.manifest(submissionId: s.id))
            #expect(m.caseNumber == s.caseNumber)
            let atts = try store.attachments(submissionId: s.id)
            #expect(atts.map(\.sha256) == m.attachments.map(\.sha256))
            for a in atts {
                let path = try #require(try store.attachmentPath(submissionId: s.id, name: a.name))
                #expect(sha256Hex(try Data(contentsOf: URL(fileURLWithPath: path))) == a.sha256)
            }
        }
        // Every kind of fault actually happened.
        for kind in ["cut", "reset", "503", "captive-portal", "slow", "lost-reply"] {
            #expect((faults[kind] ?? 0) > 0, "fault \(kind) never injected: \(faults)")
        }
    }
}
