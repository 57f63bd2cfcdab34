// Tests of the reference upstream. Applicants here are made up: 测试一 with ID number
// 110105200001010016 (valid check digit, obviously fake) and phone 13800000000.

import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import Testing

// MARK: Fixtures

/// A fresh data directory per test; `defer { dir.remove() }` after creating it.
struct TempDirectory: Sendable {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "intake-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

let stationToken = "tok-station-01"
let otherStationToken = "tok-station-02"
let adminToken = "admin-secret"
let stationId = "station-01"

func configuration(
    _ dir: TempDirectory, tokens: [String: String] = [stationToken: stationId, otherStationToken: "station-02"],
    admin: String? = adminToken, maxAttachmentBytes: Int = 20 * 1024 * 1024
) -> IntakeConfiguration {
    IntakeConfiguration(
        dataDirectory: dir.path, port: 0, stationTokens: tokens, maxAttachmentBytes: maxAttachmentBytes,
        adminToken: admin)
}

func headers(token: String? = stationToken, sha256: String? = nil, contentType: String? = nil) -> HTTPFields {
    var fields = HTTPFields()
    if let token { fields[.authorization] = "Bearer \(token)" }
    if let sha256 { fields[.init("X-Content-SHA256")!] = sha256 }
    if let contentType { fields[.contentType] = contentType }
    return fields
}

let scanBytes = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
let otherBytes = Data("not the same scan".utf8)

func attachmentRef(_ name: String = "material-1.jpg", _ data: Data = scanBytes) -> AttachmentRef {
    AttachmentRef(name: name, contentType: "image/jpeg", size: data.count, sha256: IntakeDigest.sha256Hex(data))
}

func makeManifest(
    id: String = "3f2b6c1e-8a4d-4c2e-9b1a-0d5e7f9a1b2c", attachments: [AttachmentRef] = [attachmentRef()],
    station: String = stationId, phone: String = "13800000000"
) -> SubmissionManifest {
    SubmissionManifest(
        submissionId: id, caseNumber: "BJ-20250301-0001", stationId: station, itemCode: "HJ-001",
        itemName: "户籍证明开具", submittedAt: "2025-03-01T08:00:00Z",
        applicant: ApplicantData(idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: phone),
        attachments: attachments)
}

func json(_ value: some Encodable) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONEncoder().encode(value))
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
}

/// Asserts an ErrorReply JSON with the given status and code; returns it.
@discardableResult
func expectError(
    _ response: TestResponse, _ status: HTTPResponse.Status, _ code: String,
    sourceLocation: SourceLocation = #_sourceLocation
)
    throws -> ErrorReply
{
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
    let reply = try decode(ErrorReply.self, response)
    #expect(reply.error == code, sourceLocation: sourceLocation)
    #expect(!reply.message.isEmpty, sourceLocation: sourceLocation)
    return reply
}

extension TestClientProtocol {
    func putAttachment(
        _ id: String, _ name: String, _ data: Data, sha256: String? = nil, token: String? = stationToken
    ) async throws -> TestResponse {
        try await execute(
            uri: "/v1/submissions/\(id)/attachments/\(name)", method: .put,
            headers: headers(token: token, sha256: sha256 ?? IntakeDigest.sha256Hex(data), contentType: "image/jpeg"),
            body: ByteBuffer(bytes: data))
    }

    func putManifest(_ manifest: SubmissionManifest, token: String? = stationToken) async throws -> TestResponse {
        try await execute(
            uri: "/v1/submissions/\(manifest.submissionId)", method: .put,
            headers: headers(token: token, contentType: "application/json"), body: try json(manifest))
    }
}

// MARK: Tests

@Suite struct IntakeServerTests {
    @Test func healthNeedsNoTokenAndCarriesTheProtocolHeader() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/v1/health", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.init("Kiosk-Intake-Protocol")!] == "1")
            #expect(response.headers[.contentType] == "application/json")
            #expect(
                try decode(HealthReply.self, response) == HealthReply(service: "kiosk-intake", protocolVersion: "1"))

            let probe = try await client.execute(uri: "/v1/health", method: .head)
            #expect(probe.status == .noContent)
            #expect(probe.headers[.init("Kiosk-Intake-Protocol")!] == "1")
        }
    }

    @Test func uploadThenManifestIsCreatedAndRepeatIsIdempotent() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        let manifest = makeManifest()
        let id = manifest.submissionId
        try await app.test(.router) { client in
            let first = try await client.putAttachment(id, "material-1.jpg", scanBytes)
            #expect(first.status == .created)
            #expect(first.headers[.contentType] == "application/json")
            let receipt = try decode(AttachmentReceipt.self, first)
            #expect(
                receipt
                    == AttachmentReceipt(
                        submissionId: id, name: "material-1.jpg", size: scanBytes.count,
                        sha256: IntakeDigest.sha256Hex(scanBytes)))

            // The bytes are on disk under files/<id>/<name>.
            let stored = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/files/\(id)/material-1.jpg"))
            #expect(stored == scanBytes)

            // Same bytes again (lost acknowledgement): success, nothing changes.
            let again = try await client.putAttachment(id, "material-1.jpg", scanBytes)
            #expect(again.status == .ok)
            #expect(try decode(AttachmentReceipt.self, again) == receipt)

            let created = try await client.putManifest(manifest)
            #expect(created.status == .created)
            let submissionReceipt = try decode(SubmissionReceipt.self, created)
            #expect(submissionReceipt.submissionId == id)
            #expect(submissionReceipt.caseNumber == "BJ-20250301-0001")
            #expect(submissionReceipt.state == .received)

            let repeated = try await client.putManifest(manifest)
            #expect(repeated.status == .ok)
            #expect(try decode(SubmissionReceipt.self, repeated) == submissionReceipt)

            // Key order and unknown fields do not make a manifest "different".
            var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(manifest)) as! [String: Any]
            object["someFutureField"] = "ignored"
            let reordered = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted])
            let third = try await client.execute(
                uri: "/v1/submissions/\(id)", method: .put, headers: headers(), body: ByteBuffer(bytes: reordered))
            #expect(third.status == .ok)

            let list = try await client.execute(
                uri: "/v1/submissions?station=\(stationId)", method: .get, headers: headers())
            #expect(list.status == .ok)
            #expect(try decode(SubmissionList.self, list).submissions.map(\.submissionId) == [id])
        }
        #expect(try store.count() == 1)
        #expect(try store.attachments(submissionId: id).count == 1)
        #expect(try store.manifest(submissionId: id) == manifest)
        let summaries = try store.summaries()
        #expect(summaries.count == 1)
        #expect(summaries.first?.attachmentCount == 1)
        #expect(summaries.first?.state == .received)
    }

    @Test func differentManifestForTheSameIdIsAConflict() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        let manifest = makeManifest()
        try await app.test(.router) { client in
            let a = try await client.putAttachment(manifest.submissionId, "material-1.jpg", scanBytes)
            #expect(a.status == .created)
            let m = try await client.putManifest(manifest)
            #expect(m.status == .created)
            let changed = makeManifest(phone: "13900000000")
            let response = try await client.putManifest(changed)
            let reply = try expectError(response, .conflict, "conflict")
            #expect(reply.message.contains(manifest.submissionId))
            // The message names ids and case numbers only, never the applicant.
            #expect(!reply.message.contains("测试一"))
            #expect(!reply.message.contains("110105200001010016"))
        }
        #expect(try store.count() == 1)
        #expect(try store.manifest(submissionId: manifest.submissionId)?.applicant.phone == "13800000000")
    }

    @Test func manifestWithAMissingOrDifferentAttachmentIs422() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        let id = "sub-missing-1"
        try await app.test(.router) { client in
            #expect(try await client.putAttachment(id, "material-1.jpg", scanBytes).status == .created)
            let manifest = makeManifest(
                id: id, attachments: [attachmentRef(), attachmentRef("material-2.jpg", otherBytes)])
            let reply = try expectError(
                try await client.putManifest(manifest), .unprocessableContent, "missing-attachment")
            #expect(reply.message.contains("material-2.jpg"))
            #expect(!reply.message.contains("material-1.jpg"))

            // Listed with another checksum than the stored bytes: also refused.
            let wrong = makeManifest(
                id: id,
                attachments: [
                    AttachmentRef(
                        name: "material-1.jpg", contentType: "image/jpeg", size: otherBytes.count,
                        sha256: IntakeDigest.sha256Hex(otherBytes))
                ])
            let wrongReply = try expectError(
                try await client.putManifest(wrong), .unprocessableContent, "missing-attachment")
            #expect(wrongReply.message.contains("sha256-differs"))

            // After uploading the missing one, the manifest goes through.
            #expect(try await client.putAttachment(id, "material-2.jpg", otherBytes).status == .created)
            #expect(try await client.putManifest(manifest).status == .created)
        }
        #expect(try store.count() == 1)
    }

    @Test func checksumMismatchIs400AndStoresNothing() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        try await app.test(.router) { client in
            let response = try await client.putAttachment(
                "sub-sum-1", "material-1.jpg", scanBytes, sha256: IntakeDigest.sha256Hex(otherBytes))
            try expectError(response, .badRequest, "checksum-mismatch")

            let missingHeader = try await client.execute(
                uri: "/v1/submissions/sub-sum-1/attachments/material-1.jpg", method: .put, headers: headers(),
                body: ByteBuffer(bytes: scanBytes))
            try expectError(missingHeader, .badRequest, "missing-checksum")

            let badHeader = try await client.putAttachment("sub-sum-1", "material-1.jpg", scanBytes, sha256: "xyz")
            try expectError(badHeader, .badRequest, "bad-checksum-header")
        }
        #expect(try store.attachments(submissionId: "sub-sum-1").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/files/sub-sum-1/material-1.jpg"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }

    @Test func differentBytesForAnExistingAttachmentIs409() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        try await app.test(.router) { client in
            #expect(try await client.putAttachment("sub-att-1", "material-1.jpg", scanBytes).status == .created)
            try expectError(
                try await client.putAttachment("sub-att-1", "material-1.jpg", otherBytes), .conflict, "conflict")
            // The original bytes are kept.
            let stored = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/files/sub-att-1/material-1.jpg"))
            #expect(stored == scanBytes)
        }
    }

    @Test func newAttachmentAfterAcceptedManifestIs409() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        let manifest = makeManifest(id: "sub-closed-1")
        try await app.test(.router) { client in
            #expect(try await client.putAttachment("sub-closed-1", "material-1.jpg", scanBytes).status == .created)
            #expect(try await client.putManifest(manifest).status == .created)
            try expectError(
                try await client.putAttachment("sub-closed-1", "late.jpg", otherBytes), .conflict, "conflict")
            // A repeat of a listed attachment is still fine.
            #expect(try await client.putAttachment("sub-closed-1", "material-1.jpg", scanBytes).status == .ok)
        }
    }

    @Test func oversizedAttachmentIs413() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir, maxAttachmentBytes: 1000))
        _ = try await app.test(.router) { client in
            try expectError(
                try await client.putAttachment("sub-big-1", "material-1.jpg", scanBytes), .contentTooLarge, "too-large")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }

    @Test func missingOrUnknownTokenIs401() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        try await app.test(.router) { client in
            let none = try await client.execute(uri: "/v1/submissions/sub-1", method: .get)
            try expectError(none, .unauthorized, "unauthorized")
            let wrong = try await client.execute(
                uri: "/v1/submissions/sub-1", method: .get, headers: headers(token: "guess"))
            try expectError(wrong, .unauthorized, "unauthorized")
            var basic = HTTPFields()
            basic[.authorization] = "Basic \(stationToken)"
            try expectError(
                try await client.execute(uri: "/v1/submissions/sub-1", method: .get, headers: basic), .unauthorized,
                "unauthorized")
            try expectError(
                try await client.putAttachment("sub-1", "material-1.jpg", scanBytes, token: "guess"), .unauthorized,
                "unauthorized")
            try expectError(try await client.putManifest(makeManifest(), token: nil), .unauthorized, "unauthorized")
            // A known token passes.
            let ok = try await client.execute(
                uri: "/v1/submissions?station=\(stationId)", method: .get, headers: headers())
            #expect(ok.status == .ok)
        }
    }

    @Test func withoutATokenTableAnyBearerTokenIsAccepted() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir, tokens: [:]))
        try await app.test(.router) { client in
            let ok = try await client.execute(
                uri: "/v1/submissions?station=x", method: .get, headers: headers(token: "anything"))
            #expect(ok.status == .ok)
            try expectError(
                try await client.execute(uri: "/v1/submissions?station=x", method: .get), .unauthorized, "unauthorized")
            try expectError(
                try await client.execute(uri: "/v1/submissions", method: .get, headers: headers(token: "anything")),
                .badRequest, "missing-station")
        }
    }

    @Test func stationsOnlySeeAndSubmitTheirOwn() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        let manifest = makeManifest(id: "sub-station-1")
        try await app.test(.router) { client in
            #expect(try await client.putAttachment("sub-station-1", "material-1.jpg", scanBytes).status == .created)
            try expectError(
                try await client.putManifest(manifest, token: otherStationToken), .forbidden, "wrong-station")
            #expect(try await client.putManifest(manifest).status == .created)
            let other = try await client.execute(
                uri: "/v1/submissions/sub-station-1", method: .get, headers: headers(token: otherStationToken))
            try expectError(other, .notFound, "not-found")
            let otherList = try await client.execute(
                uri: "/v1/submissions?station=\(stationId)", method: .get, headers: headers(token: otherStationToken))
            try expectError(otherList, .forbidden, "wrong-station")
            // Without ?station= the token's own station is listed.
            let own = try await client.execute(uri: "/v1/submissions", method: .get, headers: headers())
            #expect(try decode(SubmissionList.self, own).submissions.count == 1)
        }
    }

    @Test func statusOfKnownAndUnknownSubmissions() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        let manifest = makeManifest(id: "sub-status-1")
        try await app.test(.router) { client in
            let unknown = try await client.execute(
                uri: "/v1/submissions/sub-status-1", method: .get, headers: headers())
            try expectError(unknown, .notFound, "not-found")

            #expect(try await client.putAttachment("sub-status-1", "material-1.jpg", scanBytes).status == .created)
            let receipt = try decode(SubmissionReceipt.self, try await client.putManifest(manifest))

            let known = try await client.execute(uri: "/v1/submissions/sub-status-1", method: .get, headers: headers())
            #expect(known.status == .ok)
            #expect(known.headers[.contentType] == "application/json")
            let status = try decode(SubmissionStatusReply.self, known)
            #expect(
                status
                    == SubmissionStatusReply(
                        submissionId: "sub-status-1", caseNumber: manifest.caseNumber, state: .received,
                        updatedAt: receipt.receivedAt, note: nil))
        }
    }

    @Test func adminMovesTheStateAndIsGuarded() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        let manifest = makeManifest(id: "sub-admin-1")
        let route = "/v1/admin/submissions/sub-admin-1/state"
        try await app.test(.router) { client in
            #expect(try await client.putAttachment("sub-admin-1", "material-1.jpg", scanBytes).status == .created)
            #expect(try await client.putManifest(manifest).status == .created)

            let change = try json(AdminStateChange(state: .certificateReady, note: "证照已制作，请到窗口领取"))
            try expectError(
                try await client.execute(uri: route, method: .post, headers: headers(), body: change), .unauthorized,
                "unauthorized")
            try expectError(
                try await client.execute(uri: route, method: .post, body: change), .unauthorized, "unauthorized")

            let moved = try await client.execute(
                uri: route, method: .post, headers: headers(token: adminToken), body: change)
            #expect(moved.status == .ok)
            let movedStatus = try decode(SubmissionStatusReply.self, moved)
            #expect(movedStatus.state == .certificateReady)
            #expect(movedStatus.note == "证照已制作，请到窗口领取")

            let seen = try decode(
                SubmissionStatusReply.self,
                try await client.execute(uri: "/v1/submissions/sub-admin-1", method: .get, headers: headers()))
            #expect(seen == movedStatus)

            // The receipt of a repeated manifest stays the original one.
            let repeated = try await client.putManifest(manifest)
            #expect(repeated.status == .ok)
            #expect(try decode(SubmissionReceipt.self, repeated).state == .received)

            let bogus = ByteBuffer(string: #"{"state":"teleported"}"#)
            try expectError(
                try await client.execute(uri: route, method: .post, headers: headers(token: adminToken), body: bogus),
                .badRequest, "invalid-state")
            let unknown = try await client.execute(
                uri: "/v1/admin/submissions/sub-nope/state", method: .post, headers: headers(token: adminToken),
                body: change)
            try expectError(unknown, .notFound, "not-found")
        }
    }

    @Test func adminRouteIsAbsentWithoutAnAdminToken() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir, admin: nil))
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/v1/admin/submissions/x/state", method: .post, headers: headers(token: adminToken),
                body: try json(AdminStateChange(state: .done)))
            try expectError(response, .notFound, "not-found")
        }
    }

    @Test func pathTraversalAndBadNamesAreRejected() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        try await app.test(.router) { client in
            for name in [
                "..", ".", "..%2F..%2Fintake.sqlite", "%2E%2E", "a%20b", "%E5%90%8D.jpg",
                String(repeating: "a", count: 65),
            ] {
                let response = try await client.putAttachment("sub-trav-1", name, scanBytes)
                try expectError(response, .badRequest, "invalid-name")
            }
            for id in ["..", "%2E%2E%2Fx", "id%00"] {
                let response = try await client.putAttachment(id, "material-1.jpg", scanBytes)
                try expectError(response, .badRequest, "invalid-id")
            }
            // Extra path segments never reach a handler.
            let nested = try await client.putAttachment("sub-trav-1", "a/../../b", scanBytes)
            #expect(nested.status == .notFound || nested.status == .badRequest)

            // A manifest cannot smuggle a bad name either.
            let manifest = makeManifest(
                id: "sub-trav-2",
                attachments: [
                    AttachmentRef(
                        name: "../../intake.sqlite", contentType: "image/jpeg", size: 1,
                        sha256: IntakeDigest.sha256Hex(Data([1])))
                ])
            try expectError(try await client.putManifest(manifest), .badRequest, "invalid-manifest")
        }
        #expect(try store.count() == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/files").isEmpty)
    }

    @Test func malformedManifestsAre400() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        try await app.test(.router) { client in
            let notJSON = try await client.execute(
                uri: "/v1/submissions/sub-bad-1", method: .put, headers: headers(),
                body: ByteBuffer(string: "<html>login</html>"))
            try expectError(notJSON, .badRequest, "invalid-manifest")

            let incomplete = try await client.execute(
                uri: "/v1/submissions/sub-bad-1", method: .put, headers: headers(),
                body: ByteBuffer(string: #"{"submissionId":"sub-bad-1"}"#))
            let reply = try expectError(incomplete, .badRequest, "invalid-manifest")
            #expect(reply.message.contains("missing"))

            let mismatch = try await client.execute(
                uri: "/v1/submissions/sub-bad-1", method: .put, headers: headers(),
                body: try json(makeManifest(id: "sub-bad-2", attachments: [])))
            try expectError(mismatch, .badRequest, "id-mismatch")
        }
    }

    @Test func unknownRoutesAnswerJSON() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let app = try buildIntakeApplication(configuration: configuration(dir))
        _ = try await app.test(.router) { client in
            try expectError(try await client.execute(uri: "/v2/whatever", method: .get), .notFound, "not-found")
        }
    }

    /// Over a real socket: port 0 is reported through onServerRunning, and a real HTTP client
    /// (AsyncHTTPClient) can upload, submit and read back.
    @Test func liveServerReportsItsPortAndServesRealClients() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let reported = PortBox()
        let app = try buildIntakeApplication(configuration: configuration(dir)) { _, port in
            reported.set(port)
        }
        try await app.test(.live) { client in
            let port = try #require(reported.get())
            #expect(port > 0)
            #expect(port == client.port)
            let base = "http://localhost:\(port)"
            let http = HTTPClient.shared

            let health = try await http.execute(HTTPClientRequest(url: base + "/v1/health"), timeout: .seconds(10))
            #expect(health.status == .ok)
            #expect(health.headers.first(name: "Kiosk-Intake-Protocol") == "1")

            let manifest = makeManifest(id: "sub-live-1")
            var upload = HTTPClientRequest(url: base + "/v1/submissions/sub-live-1/attachments/material-1.jpg")
            upload.method = .PUT
            upload.headers.add(name: "Authorization", value: "Bearer \(stationToken)")
            upload.headers.add(name: "X-Content-SHA256", value: IntakeDigest.sha256Hex(scanBytes))
            upload.body = .bytes(ByteBuffer(bytes: scanBytes))
            let uploaded = try await http.execute(upload, timeout: .seconds(10))
            #expect(uploaded.status == .created)

            var put = HTTPClientRequest(url: base + "/v1/submissions/sub-live-1")
            put.method = .PUT
            put.headers.add(name: "Authorization", value: "Bearer \(stationToken)")
            put.headers.add(name: "Content-Type", value: "application/json")
            put.body = .bytes(try json(manifest))
            let submitted = try await http.execute(put, timeout: .seconds(10))
            #expect(submitted.status == .created)
            #expect(submitted.headers.first(name: "Content-Type") == "application/json")
            let body = try await submitted.body.collect(upTo: 1 << 20)
            let receipt = try JSONDecoder().decode(SubmissionReceipt.self, from: Data(body.readableBytesView))
            #expect(receipt.submissionId == "sub-live-1")
        }
    }
}

/// Holds the port reported by onServerRunning.
final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?
    func set(_ value: Int) {
        lock.lock()
        port = value
        lock.unlock()
    }
    func get() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        return port
    }
}

@Suite struct DemoCertifierTests {
    /// The demo's stand-in for a township: a received submission gets a sample PDF certificate
    /// once it is old enough (receivedAt carries fractional seconds).
    @Test func issuesASampleCertificateOnceTheSubmissionIsOldEnough() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        let app = try buildIntakeApplication(configuration: configuration(dir), store: store)
        let manifest = makeManifest()
        try await app.test(.router) { client in
            let a = try await client.putAttachment(manifest.submissionId, "material-1.jpg", scanBytes)
            #expect(a.status == .created)
            let m = try await client.putManifest(manifest)
            #expect(m.status == .created)
        }
        let certifier = DemoCertifier(store: store, after: 60, logger: .init(label: "test"))
        #expect(await certifier.runOnce(now: Date()).isEmpty)  // too young
        #expect(await certifier.runOnce(now: Date().addingTimeInterval(61)) == [manifest.caseNumber])
        let st = try #require(try store.status(submissionId: manifest.submissionId))
        #expect(st.state == .certificateReady)
        #expect(st.certificate?.contentType == "application/pdf")
        #expect(await certifier.runOnce(now: Date().addingTimeInterval(120)).isEmpty)  // once only
    }
}
