import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import Logging
import Testing
@testable import KioskCore

func allFiles(under root: String) -> [String] {
    (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).map { root + "/" + $0 }.filter {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue
    }
}

func plaintext(_ needles: [String], in root: String) -> [String] {
    allFiles(under: root).flatMap { f -> [String] in
        guard let data = FileManager.default.contents(atPath: f) else { return [] }
        return needles.filter { data.range(of: Data($0.utf8)) != nil }.map { "\($0) in \(f)" }
    }
}

@Suite struct OutboxLifecycleTests {
    @Test func stateDirectoryHoldsNoPlaintextIDNumberOrName() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        for _ in 0..<3 {
            _ = try await o.submissions.seal(
                NewSubmission(
                    itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                    attachments: [
                        NewAttachment(
                            name: "material-1.jpg", contentType: "image/jpeg",
                            data: Data("扫描件 测试一 110105200001010016".utf8) + jpeg(3000))
                    ]))
        }
        try await o.messages.recordEvaluation(caseNumber: "GH202612010001", level: 1, reason: "测试一 说等候太久")
        let hits = plaintext(["110105200001010016", "测试一", "13800000000"], in: dir + "/state")
        #expect(hits.isEmpty, "\(hits)")
        #expect(!allFiles(under: dir + "/state").isEmpty)
    }

    @Test func diskFloorStopsNewSubmissionsBeforeAnythingIsWritten() async throws {
        let dir = tempDir()
        let o = try OutboxStores(
            stateDirectory: dir + "/state",
            cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))),
            stationId: "XY-TEST-001", casePrefix: "GH", minFreeBytes: Int64.max / 4)
        #expect(o.database.diskStatus().accepting == false)
        await #expect(throws: DiskFloorError.self) {
            _ = try await o.submissions.seal(
                NewSubmission(
                    itemCode: "c", itemName: "n", applicant: applicant,
                    attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        }
        #expect(try o.submissions.allSubmissions().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/state/attachments").isEmpty)
        #expect(DiskFloorError.residentMessage.contains("存储空间不足"))
    }

    @Test func retentionDeletesPersonalDataAndFilesAfterConfirmation() async throws {
        let dir = tempDir()
        let clock = TestClock()
        let o = try OutboxStores(
            stateDirectory: dir + "/state",
            cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))),
            stationId: "XY-TEST-001", casePrefix: "GH", clock: .fixed { clock.now })
        let a = try await o.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        let b = try await o.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        try await o.uploads.markUploaded(id: a.id, upstreamState: .received)  // b is never confirmed
        clock.advance(days: 29)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 0)
        clock.advance(days: 2)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 1)
        #expect(try o.submissions.isPurged(id: a.id))
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/attachments/" + a.id))
        #expect(try !o.submissions.isPurged(id: b.id))  // unconfirmed data is never deleted
        #expect(FileManager.default.fileExists(atPath: dir + "/state/attachments/" + b.id))
        // The resident still finds the case (number, item, state), without the personal data.
        #expect(try o.submissions.submissions(forIDNumber: applicant.idNumber).map(\.id).contains(a.id))
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 0)  // once only
    }
}

final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t = Date()
    var now: Date { lock.withLock { t } }
    func advance(days: Double) { lock.withLock { t = t.addingTimeInterval(days * 86_400) } }
}

@Suite(.serialized) struct StatusSyncTests {
    @Test func statusSyncDownloadsAVerifiedCertificateAndMessagesTravelThroughTheOutbox() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(5000))]))
        try await outbox.messages.recordEvaluation(caseNumber: s.caseNumber, level: 5, reason: nil)
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        let pdf = Data("%PDF-1.4\n示例证照 (sample)\n%%EOF\n".utf8)
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: [token: "XY-TEST-001"]), store: store
        )
        .test(.live) { client in
            var cfg = UpstreamConfig(
                baseURL: "http://127.0.0.1:\(try #require(client.port))", token: token, requestTimeoutSeconds: 30,
                initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.05)
            cfg.stationId = "XY-TEST-001"
            let up = Uploader(
                database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: Logger(label: "t"))
            _ = await up.runOnce()
            await up.queueHeartbeat()
            await up.sendMessages()
            #expect(try outbox.messages.messageCounts().sent == 2)
            #expect(try outbox.messages.messageCounts().queued == 0)

            _ = try store.setState(submissionId: s.id, state: .inReview, note: nil)
            await up.syncStatuses()
            #expect(try outbox.submissions.submission(id: s.id)?.upstreamState == .inReview)

            _ = try store.attachCertificate(
                submissionId: s.id, data: pdf, contentType: "application/pdf", note: "请到窗口领取")
            await up.syncStatuses()
        }
        #expect(try outbox.submissions.submission(id: s.id)?.upstreamState == .certificateReady)
        let cert = try #require(try outbox.certificates.certificate(submissionId: s.id))
        #expect(cert.data == pdf)
        #expect(cert.ref.sha256 == sha256Hex(pdf))
        // Stored encrypted.
        let files = allFiles(under: dir + "/state/certificates")
        #expect(files.count == 1)
        #expect(FileManager.default.contents(atPath: files[0])?.range(of: Data("%PDF".utf8)) == nil)
        #expect(try store.evaluations().map(\.caseNumber) == [s.caseNumber])
        #expect(try store.heartbeats(stationId: "XY-TEST-001").count == 1)
        #expect(try store.heartbeats(stationId: "XY-TEST-001").first?.queueDepth == 0)
    }

    @Test func aCertificateThatDoesNotMatchItsDigestIsNotStored() async throws {
        let dir = tempDir()
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        try await outbox.uploads.markUploaded(id: s.id, upstreamState: .received)
        let router = Router()
        let lie = CertificateRef(
            ref: "cert-1", contentType: "application/pdf", size: 5, sha256: String(repeating: "0", count: 64))
        router.get("/v1/submissions/{id}") { _, _ in
            let body = try JSONEncoder().encode(
                SubmissionStatusReply(
                    submissionId: s.id, caseNumber: s.caseNumber, state: .certificateReady,
                    updatedAt: "2026-12-01T00:00:00Z", certificate: lie))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/v1/certificates/cert-1") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/pdf"],
                body: .init(byteBuffer: ByteBuffer(string: "%PDF!")))
        }
        try await Application(router: router).test(.live) { client in
            await uploader(outbox, port: try #require(client.port)).syncStatuses()
        }
        #expect(try outbox.certificates.certificate(submissionId: s.id) == nil)
        #expect(try outbox.certificates.certificatesToDownload().count == 1)  // tried again later
    }
}
