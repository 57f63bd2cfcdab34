import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import Logging
import Testing
@testable import KioskCore

let token = "station-token-1"

func intakeApp(_ dir: String) throws -> some ApplicationProtocol {
    try buildIntakeApplication(
        configuration: IntakeConfiguration(dataDirectory: dir, port: 0, stationTokens: [token: "XY-TEST-001"]))
}

func uploader(_ outbox: OutboxStores, port: Int) -> Uploader {
    let cfg = UpstreamConfig(
        baseURL: "http://127.0.0.1:\(port)", token: token, requestTimeoutSeconds: 30,
        initialBackoffSeconds: 1, maxBackoffSeconds: 10, statusSyncSeconds: 60)
    return Uploader(
        database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
        logger: Logger(label: "test"))
}

@Suite(.serialized) struct UploaderTests {
    @Test func uploadsSealedSubmissionOnceWithAttachments() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [
                    NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(20_000)),
                    NewAttachment(name: "material-2.jpg", contentType: "image/jpeg", data: jpeg(30_000)),
                ]))
        try await intakeApp(dir + "/intake").test(.live) { client in
            let up = uploader(outbox, port: client.port ?? 0)
            _ = await up.runOnce()
            _ = await up.runOnce()  // nothing due: nothing sent again
        }
        #expect(try outbox.uploads.counts().uploaded == 1)
        #expect(try outbox.submissions.submission(id: s.id)?.upstreamState == .received)
        let store = try IntakeStore(dataDirectory: dir + "/intake", create: false)
        #expect(try store.count() == 1)
        #expect(try store.attachments(submissionId: s.id).count == 2)
        #expect(try store.manifest(submissionId: s.id)?.caseNumber == s.caseNumber)
    }

    @Test func lostAcknowledgementRepeatIsStillExactlyOnce() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        _ = try await outbox.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        let p = try #require(try await outbox.uploads.nextDue().due)
        try await intakeApp(dir + "/intake").test(.live) { client in
            let up = uploader(outbox, port: client.port ?? 0)
            // As if the first upload's reply was lost: the whole upload runs twice.
            try await up.upload(p)
            try await up.upload(p)
        }
        #expect(try IntakeStore(dataDirectory: dir + "/intake", create: false).count() == 1)
    }

    @Test func unreachableUpstreamBacksOffAndKeepsTheSubmission() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        // A port nobody listens on.
        let up = uploader(outbox, port: 9)
        let delay = await up.runOnce()
        let row = try #require(try outbox.submissions.submission(id: s.id))
        #expect(row.state == .sealed)
        #expect(row.attempts == 1)
        #expect(row.lastError?.contains("unreachable") == true)
        #expect(try await outbox.uploads.nextDue().due == nil)  // not retried immediately
        #expect((delay ?? 0) > 0.3)
        #expect(await up.reachable == false)
    }

    @Test func anOutageEndsThePassInsteadOfTryingEveryItem() async throws {
        let outbox = try makeOutbox(tempDir())
        for _ in 0..<3 {
            _ = try await outbox.submissions.seal(
                NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        }
        _ = await uploader(outbox, port: 9).runOnce()
        let attempts = try outbox.submissions.allSubmissions().map(\.attempts).sorted()
        #expect(attempts == [0, 0, 1])
        #expect(try outbox.uploads.counts().queued == 3)
    }

    @Test func captivePortalHTMLIsNotSuccess() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        let router = Router()
        router.get("/**") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html"],
                body: .init(byteBuffer: ByteBuffer(string: "<html>请登录 WiFi</html>")))
        }
        router.put("/**") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html"],
                body: .init(byteBuffer: ByteBuffer(string: "<html>login</html>")))
        }
        try await Application(router: router).test(.live) { client in
            let up = uploader(outbox, port: client.port ?? 0)
            _ = await up.runOnce()
        }
        let row = try #require(try outbox.submissions.submission(id: s.id))
        #expect(row.state == .sealed)  // still queued, not marked uploaded, not quarantined
        #expect(row.lastError?.contains("captive portal") == true)
    }

    @Test func conflictingSubmissionIsQuarantinedWithoutBlockingOthers() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let bad = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        let good = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        // The upstream already holds a different submission under the first id.
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        var other = try #require(try await outbox.uploads.nextDue().due).manifest
        other.submissionId = bad.id
        other.itemCode = "something-else"
        _ = try store.putManifest(other)
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: [token: "XY-TEST-001"]), store: store
        )
        .test(.live) { client in
            _ = await uploader(outbox, port: client.port ?? 0).runOnce()
        }
        #expect(try outbox.submissions.submission(id: bad.id)?.state == .quarantined)
        #expect(try outbox.submissions.submission(id: bad.id)?.lastError?.contains("conflict") == true)
        #expect(try outbox.submissions.submission(id: good.id)?.state == .uploaded)
        // Reported for staff and technicians: case number and reason, nothing personal.
        let q = try outbox.uploads.quarantined()
        #expect(q.map(\.caseNumber) == [bad.caseNumber])
        #expect(q.first?.reason.contains("conflict") == true)
        #expect(q.first?.reason.contains("测试一") == false)
    }
}
