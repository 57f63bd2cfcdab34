// A submission id belongs to the station that first used it: any other station gets 404 on
// uploads, attachments, manifests, status and certificates, and learns nothing about it.

import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import Testing

@Suite struct SubmissionOwnershipTests {
    /// Station B (station-01) sends a submission and gets a certificate; station A (station-02)
    /// tries every route on B's id. Each answer is 404 and quotes nothing of B's (case number,
    /// time, size, SHA-256), where the old intake answered 409 with them.
    @Test func anotherStationsIdIs404EverywhereAndDisclosesNothing() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let id = "sub-owned-by-b"
        let manifest = makeManifest(id: id)
        let certificate = Data("%PDF-1.4 示例证照".utf8)
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            #expect(try await client.putAttachment(id, "material-1.jpg", scanBytes).status == .created)
            let receipt = try decode(SubmissionReceipt.self, try await client.putManifest(manifest))
            let issued = try await client.execute(
                uri: "/v1/admin/submissions/\(id)/certificate", method: .post,
                headers: headers(token: adminToken, contentType: "application/pdf"),
                body: ByteBuffer(bytes: certificate))
            #expect(issued.status == .ok)
            let ref = try #require(try decode(SubmissionStatusReply.self, issued).certificate?.ref)

            let secrets = [
                manifest.caseNumber, receipt.receivedAt, IntakeDigest.sha256Hex(scanBytes), String(scanBytes.count),
                IntakeDigest.sha256Hex(certificate), stationId,
            ]
            func expectNothingDisclosed(
                _ r: TestResponse, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
            )
                throws
            {
                try expectError(r, .notFound, "not-found", sourceLocation: sourceLocation)
                let body = String(buffer: r.body)
                for secret in secrets {
                    #expect(!body.contains(secret), "\(what) discloses \(secret)", sourceLocation: sourceLocation)
                }
            }

            var mine = makeManifest(id: id, station: "station-02")
            mine.caseNumber = "BJ-20250301-0099"
            try expectNothingDisclosed(
                try await client.putAttachment(id, "material-1.jpg", otherBytes, token: otherStationToken),
                "PUT of a stored attachment name")
            try expectNothingDisclosed(
                try await client.putAttachment(id, "material-9.jpg", otherBytes, token: otherStationToken),
                "PUT of a new attachment name")
            try expectNothingDisclosed(try await client.putManifest(mine, token: otherStationToken), "PUT manifest")
            try expectNothingDisclosed(
                try await client.tusCreate(
                    length: scanBytes.count,
                    metadata: meta([
                        ("submissionId", id), ("name", "material-1.jpg"),
                        ("sha256", IntakeDigest.sha256Hex(otherBytes)),
                    ]),
                    token: otherStationToken), "tus creation")
            try expectNothingDisclosed(
                try await client.execute(
                    uri: "/v1/submissions/\(id)", method: .get, headers: headers(token: otherStationToken)), "status")
            try expectNothingDisclosed(
                try await client.execute(
                    uri: "/v1/certificates/\(ref)", method: .get, headers: headers(token: otherStationToken)),
                "certificate")

            // B's submission is untouched and still B's.
            let status = try await client.execute(uri: "/v1/submissions/\(id)", method: .get, headers: headers())
            #expect(try decode(SubmissionStatusReply.self, status).caseNumber == manifest.caseNumber)
            let own = try await client.execute(uri: "/v1/certificates/\(ref)", method: .get, headers: headers())
            #expect(own.status == .ok && Data(buffer: own.body) == certificate)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/files/\(id)")
            #expect(files == ["material-1.jpg"], "nothing of A's was stored under B's id")
        }
    }

    /// The race the issue describes: B has started uploading (tus) but its manifest is not there
    /// yet. A cannot create uploads under B's id, so B's upload and manifest go through.
    @Test func anUploadInProgressBelongsToItsStation() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let id = "sub-in-flight"
        let data = scanBytes
        let metadata = meta([
            ("submissionId", id), ("name", "material-1.jpg"), ("sha256", IntakeDigest.sha256Hex(data)),
        ])
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            let created = try await client.tusCreate(length: data.count, metadata: metadata)
            #expect(created.status == .created)
            let location = try #require(created.header("Location"))
            #expect(try await client.tusPatch(location, offset: 0, data.prefix(1000)).status == .noContent)

            // A: creation under B's id, and B's upload itself, are 404.
            try expectError(
                try await client.tusCreate(length: data.count, metadata: metadata, token: otherStationToken),
                .notFound, "not-found")
            try expectError(
                try await client.tusHead(location, token: otherStationToken), .notFound, "not-found")
            try expectError(
                try await client.tusPatch(location, offset: 1000, data.dropFirst(1000), token: otherStationToken),
                .notFound, "not-found")

            #expect(try await client.tusPatch(location, offset: 1000, data.dropFirst(1000)).status == .noContent)
            #expect(try await client.putManifest(makeManifest(id: id)).status == .created)
        }
    }

    /// First use decides, whichever station it is: the other one is refused from then on.
    @Test func theFirstStationToUseAnIdOwnsIt() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            #expect(
                try await client.putAttachment("sub-first", "material-1.jpg", otherBytes, token: otherStationToken)
                    .status == .created)
            try expectError(
                try await client.putAttachment("sub-first", "material-2.jpg", scanBytes), .notFound, "not-found")
            try expectError(
                try await client.putManifest(makeManifest(id: "sub-first")), .notFound, "not-found")
            // Its owner goes on as usual.
            #expect(
                try await client.putAttachment("sub-first", "material-2.jpg", scanBytes, token: otherStationToken)
                    .status == .created)
        }
    }

    /// A second submission with the same station and case number is refused, clearly (point 1's intake side).
    @Test func aCaseNumberNamesOneSubmissionOfItsStation() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            #expect(try await client.putAttachment("sub-case-1", "material-1.jpg", scanBytes).status == .created)
            #expect(try await client.putManifest(makeManifest(id: "sub-case-1")).status == .created)
            #expect(try await client.putAttachment("sub-case-2", "material-1.jpg", scanBytes).status == .created)
            let reply = try expectError(
                try await client.putManifest(makeManifest(id: "sub-case-2")), .conflict, "case-number-taken")
            #expect(reply.message.contains("BJ-20250301-0001") && reply.message.contains("own case number"))
            #expect(
                try await client.execute(uri: "/v1/submissions/sub-case-2", method: .get, headers: headers()).status
                    == .notFound)
        }
    }
}
