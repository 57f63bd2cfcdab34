// The intake's tus 1.0.0 endpoint, request by request (docs/intake-openapi.yaml, /v1/uploads).

import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import Testing

#if canImport(Glibc)
    import Glibc
#endif

func tusHeaders(_ extra: [String: String] = [:], token: String? = stationToken, tus: String? = "1.0.0") -> HTTPFields {
    var h = headers(token: token)
    if let tus { h[.init("Tus-Resumable")!] = tus }
    for (k, v) in extra { h[.init(k)!] = v }
    return h
}

func meta(_ pairs: [(String, String)]) -> String {
    pairs.map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
}

func chunkChecksum(_ d: Data) -> String { "sha256 " + Data(SHA256.hash(data: d)).base64EncodedString() }

extension TestClientProtocol {
    func tusCreate(length: Int, metadata: String, token: String? = stationToken) async throws -> TestResponse {
        try await execute(
            uri: "/v1/uploads", method: .post,
            headers: tusHeaders(["Upload-Length": String(length), "Upload-Metadata": metadata], token: token))
    }

    func tusPatch(_ location: String, offset: Int, _ data: Data, checksum: String? = nil, token: String? = stationToken)
        async throws -> TestResponse
    {
        var extra = ["Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream"]
        if let checksum { extra["Upload-Checksum"] = checksum }
        return try await execute(
            uri: location, method: .patch, headers: tusHeaders(extra, token: token), body: ByteBuffer(bytes: data))
    }

    func tusHead(_ location: String, token: String? = stationToken) async throws -> TestResponse {
        try await execute(uri: location, method: .head, headers: tusHeaders(token: token))
    }
}

extension TestResponse {
    func header(_ name: String) -> String? { headers[.init(name)!] }
}

@Suite struct TusServerTests {
    let id = "3f2b6c1e-8a4d-4c2e-9b1a-0d5e7f9a1b2c"

    func attachmentMeta(_ name: String = "material-1.jpg", _ data: Data = scanBytes) -> String {
        meta([
            ("submissionId", id), ("name", name), ("sha256", IntakeDigest.sha256Hex(data)), ("filename", name),
            ("filetype", "image/jpeg"),
        ])
    }

    @Test func optionsAdvertisesVersionExtensionsAndSha256() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            let r = try await client.execute(uri: "/v1/uploads", method: .options)
            #expect(r.status == .noContent)
            #expect(r.header("Tus-Resumable") == "1.0.0")
            #expect(r.header("Tus-Version") == "1.0.0")
            let ext = Set((r.header("Tus-Extension") ?? "").split(separator: ",").map(String.init))
            #expect(ext.isSuperset(of: ["creation", "checksum", "expiration", "termination"]))
            #expect(r.header("Tus-Checksum-Algorithm") == "sha256")
            #expect(r.header("Tus-Max-Size") == String(20 * 1024 * 1024))
        }
    }

    @Test func chunkedUploadBecomesTheAttachmentAndTheManifestIsAccepted() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        try await buildIntakeApplication(configuration: configuration(dir), store: store).test(.router) { client in
            let created = try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta())
            #expect(created.status == .created)
            #expect(created.header("Tus-Resumable") == "1.0.0")
            #expect(created.header("Upload-Expires") != nil)
            let loc = try #require(created.header("Location"))
            #expect(loc.hasPrefix("/v1/uploads/"))

            let head0 = try await client.tusHead(loc)
            #expect(head0.status == .ok)
            #expect(head0.header("Upload-Offset") == "0")
            #expect(head0.header("Upload-Length") == String(scanBytes.count))
            #expect(head0.header("Cache-Control") == "no-store")

            var offset = 0
            while offset < scanBytes.count {
                let chunk = scanBytes.subdata(in: offset..<min(offset + 1500, scanBytes.count))
                let r = try await client.tusPatch(loc, offset: offset, chunk, checksum: chunkChecksum(chunk))
                #expect(r.status == .noContent)
                #expect(r.header("Tus-Resumable") == "1.0.0")
                offset = Int(r.header("Upload-Offset") ?? "") ?? -1
                #expect(offset > 0)
            }
            #expect(try store.attachments(submissionId: id).map(\.sha256) == [IntakeDigest.sha256Hex(scanBytes)])
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/files/\(id)/material-1.jpg")) == scanBytes)
            #expect(try await client.tusHead(loc).header("Upload-Offset") == String(scanBytes.count))
            #expect(try await client.putManifest(makeManifest()).status == .created)

            // Creating the same attachment again (a kiosk that lost the upload URL): already complete.
            let again = try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta())
            #expect(again.status == .created)
            let h = try await client.tusHead(try #require(again.header("Location")))
            #expect(h.header("Upload-Offset") == String(scanBytes.count))
        }
        #expect(try store.count() == 1)
    }

    /// Sends a PATCH whose body stops after `sent` of `chunk`'s bytes and, once the intake has
    /// written them to `file` (so the PATCH holds the upload's lock), closes the connection (a link
    /// cut mid-request).
    static func cutPatch(port: Int, path: String, file: String, offset: Int, chunk: Data, sent: Int) async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(rc == 0)
        let head =
            "PATCH \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(stationToken)\r\n"
            + "Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
            + "Upload-Offset: \(offset)\r\nUpload-Checksum: \(chunkChecksum(chunk))\r\n"
            + "Content-Length: \(chunk.count)\r\n\r\n"
        let bytes = Array(head.utf8) + Array(chunk.prefix(sent))
        var o = 0
        while o < bytes.count {
            let n = bytes[o...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            try #require(n > 0)
            o += n
        }
        var st = stat()
        for _ in 0..<1000 {
            if stat(file, &st) == 0 && Int(st.st_size) == offset + sent { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Int(st.st_size) == offset + sent, "the intake never received the bytes sent")
    }

    func uploadFile(_ dir: TempDirectory, _ location: String) -> String {
        dir.path + "/uploads/" + (location.split(separator: "/").last.map(String.init) ?? "") + ".bin"
    }

    /// tus keeps what arrived of an interrupted PATCH: with the whole file's SHA-256 in the metadata
    /// the bytes of a cut checksummed chunk stay (the client resumes after them) and the whole file
    /// is verified at completion; without it a checksummed chunk stays all or nothing.
    @Test func interruptedPatchKeepsItsBytesWhenTheWholeFileDigestIsKnown() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        try await buildIntakeApplication(configuration: configuration(dir), store: store).test(.live) { client in
            let port = try #require(client.port)
            // Whole-file digest known: 2,000 of the 4,000-byte chunk arrive and are kept.
            let created = try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta())
            let loc = try #require(created.header("Location"))
            let chunk = scanBytes.prefix(4000)
            try await Self.cutPatch(
                port: port, path: loc, file: uploadFile(dir, loc), offset: 0, chunk: Data(chunk), sent: 2000)
            // HEAD waits for the cut PATCH (the upload's lock): it answers the offset with the kept bytes.
            #expect(try await client.tusHead(loc).header("Upload-Offset") == "2000")
            let stale = try await client.tusPatch(loc, offset: 0, Data(chunk), checksum: chunkChecksum(Data(chunk)))
            #expect(stale.status == .conflict)
            let rest = scanBytes.subdata(in: 2000..<scanBytes.count)
            let done = try await client.tusPatch(loc, offset: 2000, rest, checksum: chunkChecksum(rest))
            #expect(done.status == .noContent)
            #expect(done.header("Upload-Offset") == String(scanBytes.count))
            #expect(try store.attachments(submissionId: id).map(\.sha256) == [IntakeDigest.sha256Hex(scanBytes)])

            // Kept bytes that were damaged in transit fail the whole-file check at completion.
            var damaged = scanBytes
            damaged[10] ^= 0xFF
            let c2 = try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta("material-2.jpg"))
            let loc2 = try #require(c2.header("Location"))
            try await Self.cutPatch(
                port: port, path: loc2, file: uploadFile(dir, loc2), offset: 0, chunk: damaged.prefix(4000), sent: 1000)
            #expect(try await client.tusHead(loc2).header("Upload-Offset") == "1000")
            let rest2 = scanBytes.subdata(in: 1000..<scanBytes.count)
            let bad = try await client.tusPatch(loc2, offset: 1000, rest2, checksum: chunkChecksum(rest2))
            #expect(bad.status.code == 460)
            #expect(try await client.tusHead(loc2).status == .notFound)
            #expect(try store.attachments(submissionId: id).count == 1)

            // No whole-file digest: the cut checksummed chunk is dropped; offset stays 0.
            let c3 = try await client.tusCreate(
                length: scanBytes.count, metadata: meta([("submissionId", id), ("name", "material-3.jpg")]))
            let loc3 = try #require(c3.header("Location"))
            try await Self.cutPatch(
                port: port, path: loc3, file: uploadFile(dir, loc3), offset: 0, chunk: Data(chunk), sent: 2000)
            let again = try await client.tusPatch(loc3, offset: 0, Data(chunk), checksum: chunkChecksum(Data(chunk)))
            #expect(again.status == .noContent)
            #expect(again.header("Upload-Offset") == "4000")
        }
    }

    @Test func offsetMismatchChecksumMismatchAndVersionAreRefused() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            let loc = try #require(
                try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta()).header("Location"))
            let first = scanBytes.prefix(1000)
            #expect(
                try await client.tusPatch(loc, offset: 0, Data(first), checksum: chunkChecksum(Data(first))).status
                    == .noContent)

            // Wrong offset: 409, nothing appended.
            let wrong = try await client.tusPatch(loc, offset: 0, Data(first))
            try expectError(wrong, .conflict, "offset-mismatch")
            #expect(wrong.header("Tus-Resumable") == "1.0.0")

            // Damaged chunk: 460, discarded, offset unchanged.
            let next = scanBytes.subdata(in: 1000..<2000)
            let bad = try await client.tusPatch(loc, offset: 1000, next, checksum: chunkChecksum(Data("other".utf8)))
            #expect(bad.status.code == 460)
            #expect(try await client.tusHead(loc).header("Upload-Offset") == "1000")

            // Unsupported checksum algorithm: 400.
            try expectError(
                try await client.tusPatch(loc, offset: 1000, next, checksum: "md5 AAAA"), .badRequest,
                "checksum-algorithm")

            // Missing Tus-Resumable: 412 with Tus-Version.
            let noVersion = try await client.execute(uri: loc, method: .head, headers: tusHeaders(tus: nil))
            #expect(noVersion.status == .preconditionFailed)
            #expect(noVersion.header("Tus-Version") == "1.0.0")

            // Wrong content type on PATCH: 415.
            let ct = try await client.execute(
                uri: loc, method: .patch,
                headers: tusHeaders(["Upload-Offset": "1000", "Content-Type": "image/jpeg"]),
                body: ByteBuffer(bytes: next))
            #expect(ct.status == .unsupportedMediaType)

            // Past the end: 400, nothing appended.
            let tooMuch = try await client.tusPatch(loc, offset: 1000, Data(count: scanBytes.count))
            try expectError(tooMuch, .badRequest, "exceeds-length")
            #expect(try await client.tusHead(loc).header("Upload-Offset") == "1000")

            // Another station's token does not see the upload.
            #expect(try await client.tusHead(loc, token: otherStationToken).status == .notFound)
            // No token at all: 401, still a tus reply.
            let unauth = try await client.tusHead(loc, token: nil)
            #expect(unauth.status == .unauthorized)
            #expect(unauth.header("Tus-Resumable") == "1.0.0")
        }
    }

    @Test func wholeFileDigestMismatchDiscardsTheUpload() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        try await buildIntakeApplication(configuration: configuration(dir), store: store).test(.router) { client in
            // Metadata promises scanBytes' digest; other bytes of the same length arrive.
            let loc = try #require(
                try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta()).header("Location"))
            let r = try await client.tusPatch(loc, offset: 0, Data(repeating: 1, count: scanBytes.count))
            #expect(r.status.code == 460)
            #expect(try await client.tusHead(loc).status == .notFound)
        }
        #expect(try store.attachments(submissionId: id).isEmpty)
    }

    @Test func creationConflictsAndBadHeaders() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir, maxAttachmentBytes: 10_000)).test(.router) {
            client in
            #expect(try await client.putAttachment(id, "material-1.jpg", scanBytes).status == .created)
            // Different bytes under a stored name: 409 conflict at creation.
            try expectError(
                try await client.tusCreate(length: 17, metadata: attachmentMeta("material-1.jpg", otherBytes)),
                .conflict, "conflict")
            try expectError(try await client.tusCreate(length: 20_000, metadata: ""), .contentTooLarge, "too-large")
            try expectError(
                try await client.execute(uri: "/v1/uploads", method: .post, headers: tusHeaders()), .badRequest,
                "missing-length")
            try expectError(
                try await client.tusCreate(length: 5, metadata: "name !!notbase64"), .badRequest, "invalid-metadata")
            try expectError(
                try await client.tusCreate(length: 5, metadata: meta([("submissionId", "../x"), ("name", "a")])),
                .badRequest, "invalid-name")
            // After the manifest, an unlisted name cannot be added.
            #expect(try await client.putManifest(makeManifest()).status == .created)
            try expectError(
                try await client.tusCreate(length: 5, metadata: attachmentMeta("material-9.jpg", Data("hello".utf8))),
                .conflict, "conflict")
        }
    }

    @Test func expiredUploadsAnswer410AndAreDeleted() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var config = configuration(dir)
        config.uploadExpirySeconds = -1  // expired the moment it is created
        let store = try IntakeStore(dataDirectory: dir.path)
        try await buildIntakeApplication(configuration: config, store: store).test(.router) { client in
            let loc = try #require(
                try await client.tusCreate(length: scanBytes.count, metadata: attachmentMeta()).header("Location"))
            #expect(try await client.tusHead(loc).status == .gone)
            #expect(try await client.tusHead(loc).status == .notFound)  // gone for good
        }
        #expect(try store.openUploadCount() == 0)
    }

    @Test func terminationDeletesAnUnfinishedUpload() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            let loc = try #require(try await client.tusCreate(length: 10, metadata: "").header("Location"))
            #expect(try await client.execute(uri: loc, method: .delete, headers: tusHeaders()).status == .noContent)
            #expect(try await client.tusHead(loc).status == .notFound)
        }
    }

    @Test func evaluationsAndHeartbeatsAreIdempotentByTheirIds() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try IntakeStore(dataDirectory: dir.path)
        try await buildIntakeApplication(configuration: configuration(dir), store: store).test(.router) { client in
            let e = EvaluationReport(
                evaluationId: "ev-1", stationId: stationId, caseNumber: "GH202612010001", level: 2,
                reason: "等候时间长", createdAt: "2026-12-01T08:00:00Z")
            let post = { (v: EvaluationReport) in
                try await client.execute(
                    uri: "/v1/evaluations", method: .post, headers: headers(contentType: "application/json"),
                    body: try json(v))
            }
            #expect(try await post(e).status == .created)
            #expect(try await post(e).status == .ok)
            var changed = e
            changed.level = 5
            try expectError(try await post(changed), .conflict, "conflict")
            var other = e
            other.stationId = "station-02"
            other.evaluationId = "ev-2"
            try expectError(try await post(other), .forbidden, "wrong-station")

            let hb = StationHeartbeat(
                heartbeatId: "hb-1", stationId: stationId, sentAt: "2026-12-01T08:00:00Z",
                devices: [DeviceReport(kind: "receiptPrinter", state: "paperOut", simulated: true)],
                queueDepth: 3, quarantined: 1, freeDiskBytes: 5_000_000_000, acceptingSubmissions: true)
            let r = try await client.execute(
                uri: "/v1/stations/\(stationId)/heartbeats", method: .post,
                headers: headers(contentType: "application/json"), body: try json(hb))
            #expect(r.status == .created)
            #expect(try decode(MessageReceipt.self, r).id == "hb-1")
        }
        #expect(try store.evaluations().map(\.level) == [2])
        #expect(try store.heartbeats(stationId: stationId).first?.devices.first?.state == "paperOut")
    }

    @Test func certificateReadyCarriesADownloadReference() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            #expect(try await client.putAttachment(id, "material-1.jpg", scanBytes).status == .created)
            #expect(try await client.putManifest(makeManifest()).status == .created)
            let pdf = Data("%PDF-1.4 示例证照\n%%EOF\n".utf8)
            let attach = try await client.execute(
                uri: "/v1/admin/submissions/\(id)/certificate", method: .post,
                headers: headers(token: adminToken, contentType: "application/pdf"), body: ByteBuffer(bytes: pdf))
            #expect(attach.status == .ok)
            let st = try decode(
                SubmissionStatusReply.self,
                try await client.execute(uri: "/v1/submissions/\(id)", method: .get, headers: headers()))
            #expect(st.state == .certificateReady)
            let cert = try #require(st.certificate)
            #expect(cert.sha256 == IntakeDigest.sha256Hex(pdf))
            let dl = try await client.execute(uri: "/v1/certificates/\(cert.ref)", method: .get, headers: headers())
            #expect(dl.status == .ok)
            #expect(dl.headers[.contentType] == "application/pdf")
            #expect(Data(dl.body.readableBytesView) == pdf)
            #expect(
                try await client.execute(
                    uri: "/v1/certificates/\(cert.ref)", method: .get, headers: headers(token: otherStationToken)
                ).status == .notFound)
        }
    }
}
