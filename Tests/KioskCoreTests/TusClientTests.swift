import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import Logging
import Testing
@testable import KioskCore

func tusClient(port: Int, chunk: Int = 4096, resumes: Int = 4) -> TusClient {
    TusClient(
        http: HTTPClient.shared, creationURL: "http://127.0.0.1:\(port)/v1/uploads",
        headers: [("Authorization", "Bearer \(token)")], chunkSize: chunk, timeoutSeconds: 60, resumesPerCall: resumes)
}

func uploadMeta(_ sid: String, _ name: String, _ data: Data) -> [(String, String)] {
    [
        ("submissionId", sid), ("name", name), ("sha256", sha256Hex(data)), ("filename", name),
        ("filetype", "image/jpeg"),
    ]
}

/// A URL box the save callback can write into from the client's non-escaping closure.
final class SavedURL: @unchecked Sendable {
    var value: String?
    var saves = 0
}
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}

@Suite struct TusClientTests {
    @Test func pureHelpersRoundTripAndRejectNonsense() {
        let m = Tus.encodeMetadata([("filename", "材料-1.jpg"), ("empty", "")])
        #expect(Tus.decodeMetadata(m) == ["filename": "材料-1.jpg", "empty": ""])
        #expect(Tus.decodeMetadata("a b c") == nil)
        #expect(Tus.decodeMetadata("a !!!") == nil)
        #expect(Tus.decodeMetadata("a YQ==,a YQ==") == nil)
        #expect(Tus.parseOffset("42") == 42)
        #expect(Tus.parseOffset("-1") == nil)
        #expect(Tus.parseOffset("4x") == nil)
        #expect(Tus.parseOffset(nil) == nil)
        #expect(Tus.acceptPatchOffset(150, sent: 100, count: 100, length: 1000) == 150)  // kept part of a chunk
        #expect(Tus.acceptPatchOffset(100, sent: 100, count: 100, length: 1000) == nil)  // no progress
        #expect(Tus.acceptPatchOffset(300, sent: 100, count: 100, length: 1000) == nil)  // more than sent
        #expect(
            Tus.resolveLocation("/v1/uploads/x", against: "http://127.0.0.1:9/v1/uploads")
                == "http://127.0.0.1:9/v1/uploads/x")
        #expect(Tus.resolveLocation("https://h/u/1", against: "http://a/b") == "https://h/u/1")
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(Tus.retryAfterSeconds("7", now: now) == 7)
        #expect(Tus.retryAfterSeconds(Tus.httpDate(now.addingTimeInterval(30)), now: now) == 30)
        #expect(Tus.retryAfterSeconds("soon", now: now) == nil)
    }

    @Test func uploadsInChunksAndResumesFromTheServersOffset() async throws {
        let dir = tempDir()
        let data = jpeg(20_000)
        let sid = UUID().uuidString.lowercased()
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: [token: "XY-TEST-001"]), store: store
        )
        .test(.live) { client in
            let port = try #require(client.port)
            let tus = tusClient(port: port)
            // A first attempt that only got 3 chunks through before the kiosk died.
            var s0 = TusClient.Stats()
            let loc = try await tus.create(
                length: data.count, metadata: uploadMeta(sid, "material-1.jpg", data), stats: &s0)
            var off = 0
            for _ in 0..<3 {
                guard
                    case .offset(let n) = try await tus.patch(
                        loc, offset: off, chunk: data.subdata(in: off..<off + 4096),
                        checksum: true, length: data.count, stats: &s0)
                else {
                    Issue.record("patch")
                    return
                }
                off = n
            }
            // After the restart: resume at the stored URL; only the rest is sent.
            var stats = TusClient.Stats()
            let saved = SavedURL()
            let url = try await tus.upload(
                data: data, existingURL: loc, metadata: uploadMeta(sid, "material-1.jpg", data),
                stats: &stats
            ) {
                saved.value = $0
                saved.saves += 1
            }
            #expect(url == loc)
            #expect(saved.saves == 0)
            #expect(stats.bytesSent == data.count - 3 * 4096)
            #expect(stats.interruptions == 0)
        }
        #expect(try store.attachments(submissionId: sid).map(\.sha256) == [sha256Hex(data)])
    }

    @Test func anExpiredUploadIsStartedAgain() async throws {
        let dir = tempDir()
        var config = IntakeConfiguration(dataDirectory: dir + "/intake", port: 0, stationTokens: [token: "XY-TEST-001"])
        config.uploadExpirySeconds = 3600
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        let data = jpeg(9000)
        let sid = UUID().uuidString.lowercased()
        try await buildIntakeApplication(configuration: config, store: store).test(.live) { client in
            let tus = tusClient(port: try #require(client.port))
            var s = TusClient.Stats()
            let old = try await tus.create(length: data.count, metadata: uploadMeta(sid, "m.jpg", data), stats: &s)
            _ = try store.purgeExpiredUploads(now: Date().addingTimeInterval(7200))  // the intake forgot it
            let saved = SavedURL()
            var stats = TusClient.Stats()
            let url = try await tus.upload(
                data: data, existingURL: old, metadata: uploadMeta(sid, "m.jpg", data), stats: &stats
            ) {
                saved.value = $0
                saved.saves += 1
            }
            #expect(url != old)
            #expect(saved.value == url)  // the new URL was recorded before bytes went to it
            #expect(stats.recreated == 1)
            #expect(stats.bytesSent == data.count)
        }
        #expect(try store.attachments(submissionId: sid).count == 1)
    }

    @Test func liesAndPortalsAreNeverSuccess() async throws {
        // A server that speaks just enough tus to be believed, then lies in different ways.
        let router = Router()
        let tusHeaders: HTTPFields = [.init("Tus-Resumable")!: "1.0.0"]
        router.on("/files", method: .options) { _, _ in
            Response(
                status: .noContent,
                headers: [
                    .init("Tus-Resumable")!: "1.0.0", .init("Tus-Version")!: "1.0.0",
                    .init("Tus-Extension")!: "creation",
                ])
        }
        router.post("/files") { _, _ in
            var h = tusHeaders
            h[.location] = "/files/one"
            return Response(status: .created, headers: h)
        }
        router.head("/files/one") { _, _ in
            var h = tusHeaders
            h[.init("Upload-Offset")!] = "0"
            return Response(status: .ok, headers: h)
        }
        // PATCH: claims more bytes than were sent.
        router.patch("/files/one") { _, _ in
            var h = tusHeaders
            h[.init("Upload-Offset")!] = "999999"
            return Response(status: .noContent, headers: h)
        }
        router.post("/portal") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html"],
                body: .init(byteBuffer: ByteBuffer(string: "<html>登录</html>")))
        }
        router.on("/busy", method: .options) { _, _ in
            Response(status: .serviceUnavailable, headers: [.init("Retry-After")!: "42"])
        }
        try await Application(router: router).test(.live) { client in
            let port = try #require(client.port)
            let liar = TusClient(
                http: HTTPClient.shared, creationURL: "http://127.0.0.1:\(port)/files", chunkSize: 1000,
                timeoutSeconds: 60, resumesPerCall: 2)
            var s = TusClient.Stats()
            await #expect(throws: UploadFailure.self) {
                _ = try await liar.upload(data: Data(count: 3000), existingURL: nil, metadata: [], stats: &s) { _ in }
            }
            let portal = TusClient(
                http: HTTPClient.shared, creationURL: "http://127.0.0.1:\(port)/portal", chunkSize: 1000,
                timeoutSeconds: 60, resumesPerCall: 0)
            do {
                var s2 = TusClient.Stats()
                _ = try await portal.upload(data: Data(count: 10), existingURL: nil, metadata: [], stats: &s2) { _ in }
                Issue.record("a portal page counted as success")
            } catch let error as UploadFailure {
                guard case .transient(let m, _) = error else {
                    Issue.record("portal must be transient, got \(error)")
                    return
                }
                #expect(m.contains("captive portal") || m.contains("without the tus headers"))
            }
            let busy = TusClient(
                http: HTTPClient.shared, creationURL: "http://127.0.0.1:\(port)/busy", chunkSize: 1000,
                timeoutSeconds: 60, resumesPerCall: 3)
            do {
                var s3 = TusClient.Stats()
                _ = try await busy.upload(data: Data(count: 10), existingURL: nil, metadata: [], stats: &s3) { _ in }
                Issue.record("503 counted as success")
            } catch let error as UploadFailure {
                guard case .transient(_, let ra) = error else {
                    Issue.record("503 must be transient")
                    return
                }
                #expect(ra == 42)  // Retry-After honoured, not retried at once
            }
        }
    }

    @Test func retryAfterSetsTheNextAttemptOfTheSubmission() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        let router = Router()
        router.get("/v1/health") { _, _ in
            Response(
                status: .serviceUnavailable, headers: [.init("Retry-After")!: "120", .contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"internal","message":"maintenance"}"#)))
        }
        try await Application(router: router).test(.live) { client in
            let delay = await uploader(outbox, port: try #require(client.port)).runOnce()
            #expect((delay ?? 0) >= 120)
        }
        #expect(try outbox.submissions.submission(id: s.id)?.state == .sealed)
        #expect(try await outbox.uploads.nextDue(maxDelay: 3600).due == nil)
    }

    @Test func bandwidthCapPacesChunks() async {
        let limiter = BandwidthLimiter(bytesPerSecond: 100_000)
        let start = ContinuousClock.now
        for _ in 0..<4 { await limiter.take(10_000) }  // 40 kB at 100 kB/s: the 4th waits ≥ 0.3 s
        #expect(ContinuousClock.now - start >= .milliseconds(290))
    }
}
