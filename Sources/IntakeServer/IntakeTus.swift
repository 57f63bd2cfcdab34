// tus 1.0.0 on the reference intake: core, creation, checksum (sha256), expiration, termination.
//
//   OPTIONS /v1/uploads          204 capabilities (no auth)
//   POST    /v1/uploads          201 Location: /v1/uploads/{uploadId}
//   HEAD    /v1/uploads/{uid}    200 Upload-Offset, Upload-Length (Cache-Control: no-store); waits for a running PATCH
//   PATCH   /v1/uploads/{uid}    204 Upload-Offset; 409 offset mismatch; 460 checksum mismatch; 410 expired
//   DELETE  /v1/uploads/{uid}    204
//
// An upload whose Upload-Metadata names `submissionId` and `name` becomes that submission's
// attachment when its last byte arrives (checked against the metadata's `sha256` if given), exactly
// as if it had been PUT whole. Uploads without them are kept as plain files (generic tus clients).
// Uploads are stored under uploads/<uid>.bin; the offset in the database only moves after fsync,
// so no reply (and no HEAD, even after a crash) names an offset whose bytes are not on disk. That
// offset record needs no fsync of its own: lost in a crash, the upload reports an older offset
// whose bytes the file holds, and the client sends the rest again (one fsync per PATCH, not two).
// The bytes of an interrupted PATCH that arrived are kept (fsynced, offset moved), also for a
// checksummed chunk when the metadata names the whole file's sha256, checked at completion.

import Crypto
import Foundation
import GRDB
import Hummingbird
import KioskProtocols
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public struct TusUpload: Sendable, Equatable {
    public var id: String
    public var length: Int
    public var offset: Int
    public var metadata: String
    public var submissionId: String?
    public var name: String?
    public var sha256: String?
    public var stationId: String?
    public var expiresAt: Date
    public var completed: Bool
}

extension IntakeStore {
    private static func upload(_ row: Row) -> TusUpload {
        TusUpload(
            id: row["id"], length: row["length"], offset: row["upload_offset"], metadata: row["metadata"],
            submissionId: row["submission_id"], name: row["name"], sha256: row["sha256"], stationId: row["station_id"],
            expiresAt: Date(timeIntervalSince1970: row["expires_at"]), completed: (row["completed"] as Int) != 0)
    }

    public func tusUpload(id: String) throws -> TusUpload? {
        try dbPool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tus_uploads WHERE id = ?", arguments: [id]).map(Self.upload)
        }
    }

    /// Number of tus uploads not finished yet (for tests and operators).
    public func openUploadCount() throws -> Int {
        try dbPool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tus_uploads WHERE completed = 0") ?? 0 }
    }

    public func insertUpload(_ up: TusUpload) throws {
        try dbPool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO tus_uploads (id, length, upload_offset, metadata, submission_id, name, sha256, station_id,
                                             created_at, expires_at, completed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    up.id, up.length, up.offset, up.metadata, up.submissionId, up.name, up.sha256, up.stationId,
                    Date().timeIntervalSince1970, up.expiresAt.timeIntervalSince1970, up.completed ? 1 : 0,
                ])
        }
    }

    public func setUploadOffset(id: String, offset: Int, completed: Bool) throws {
        try dbPool.write { db in
            try db.execute(
                sql: "UPDATE tus_uploads SET upload_offset = ?, completed = ? WHERE id = ?",
                arguments: [offset, completed ? 1 : 0, id])
        }
    }

    /// The offset update without its own fsync (synchronous=NORMAL for this commit): its bytes
    /// are fsynced already, and the next durable commit (any of them: one WAL) carries it.
    public func recordUploadOffset(id: String, offset: Int, completed: Bool) throws {
        try dbPool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            try db.inTransaction {
                try db.execute(
                    sql: "UPDATE tus_uploads SET upload_offset = ?, completed = ? WHERE id = ?",
                    arguments: [offset, completed ? 1 : 0, id])
                return .commit
            }
        }
    }

    public func deleteUploadRow(id: String) throws {
        try dbPool.write { db in try db.execute(sql: "DELETE FROM tus_uploads WHERE id = ?", arguments: [id]) }
    }

    public func expiredUploadIds(now: Date) throws -> [String] {
        try dbPool.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM tus_uploads WHERE expires_at < ?", arguments: [now.timeIntervalSince1970])
        }
    }

    /// Drops expired uploads (rows and partial files). Returns how many.
    @discardableResult
    public func purgeExpiredUploads(now: Date = Date()) throws -> Int {
        let ids = try expiredUploadIds(now: now)
        for id in ids {
            try deleteUploadRow(id: id)
            DurableFile.remove(uploadPath(id))
        }
        return ids.count
    }

    public func withUploadLock<T: Sendable>(id: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await uploadLocks.lock(id)
        do {
            let r = try await body()
            await uploadLocks.unlock(id)
            return r
        } catch {
            await uploadLocks.unlock(id)
            throw error
        }
    }

    /// Has the manifest of `submissionId` been accepted already?
    public func submissionExists(_ submissionId: String) throws -> Bool {
        try dbPool.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM submissions WHERE id = ?)", arguments: [submissionId]) ?? false
        }
    }
}

/// PATCH body bytes this process's intake received (written to an upload file, kept or not), for
/// the benchmark: received minus payload is what crossed the wire twice.
public enum TusTraffic {
    private static let received = Atomic<Int>(0)
    public static var bytesReceived: Int { received.load(ordering: .relaxed) }
    static func count(received n: Int) { received.add(n, ordering: .relaxed) }
}

/// One PATCH at a time per upload: a retry that arrives while the interrupted request is still
/// being read waits for it, then sees the offset it left.
actor TusLocks {
    private var busy: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func lock(_ id: String) async {
        if !busy.contains(id) {
            busy.insert(id)
            return
        }
        await withCheckedContinuation { waiters[id, default: []].append($0) }
    }

    func unlock(_ id: String) {
        if var w = waiters[id], !w.isEmpty {
            let next = w.removeFirst()
            waiters[id] = w.isEmpty ? nil : w
            next.resume()
        } else {
            busy.remove(id)
        }
    }
}

/// Adds `Tus-Resumable` to every reply under /v1/uploads, errors included, and checks the
/// client's version (412 when it is not 1.0.0).
struct TusHeaderMiddleware: RouterMiddleware {
    typealias Context = IntakeRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        if request.method != .options, request.headers[named: Tus.resumable] != Tus.version {
            var r = jsonResponse(
                status: .preconditionFailed,
                ErrorReply(
                    error: "tus-version",
                    message:
                        "Send Tus-Resumable: \(Tus.version) with every tus request; this intake speaks tus \(Tus.version) only."
                ))
            r.headers[named: Tus.versionHeader] = Tus.version
            response = r
        } else {
            do { response = try await next(request, context) } catch let e as IntakeError {
                response = jsonResponse(status: e.status, e.reply)
            }
        }
        response.headers[named: Tus.resumable] = Tus.version
        return response
    }
}

struct TusRoutes: Sendable {
    let configuration: IntakeConfiguration
    let store: any IntakeStorage
    let logger: Logger

    static let basePath = "/v1/uploads"

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        router.on(RouterPath(Self.basePath), method: .options) { _, _ in self.options() }
        let g = router.group(RouterPath(Self.basePath)).add(middleware: TusHeaderMiddleware(logger: logger)).add(
            middleware: auth)
        g.post { request, context in try await self.create(request, context) }
        g.head("{uid}") { request, context in try await self.head(request, context) }
        g.patch("{uid}") { request, context in try await self.patch(request, context) }
        g.delete("{uid}") { request, context in try await self.terminate(request, context) }
    }

    func options() -> Response {
        var h = HTTPFields()
        h[named: Tus.resumable] = Tus.version
        h[named: Tus.versionHeader] = Tus.version
        h[named: Tus.extensionHeader] = Tus.intakeExtensions.joined(separator: ",")
        h[named: Tus.checksumAlgorithm] = "sha256"
        h[named: Tus.maxSize] = String(configuration.maxAttachmentBytes)
        return Response(status: .noContent, headers: h)
    }

    private func expiresHeader(_ up: TusUpload) -> String { Tus.httpDate(up.expiresAt) }

    private func conflict(_ message: String) -> IntakeError { IntakeError(.conflict, "conflict", message) }

    // MARK: creation

    func create(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        _ = try? await store.purgeExpired()
        guard request.headers[named: "Upload-Defer-Length"] == nil else {
            throw IntakeError.badRequest(
                "defer-length-unsupported",
                "This intake needs Upload-Length at creation (creation-defer-length is not offered).")
        }
        guard let length = Tus.parseOffset(request.headers[named: Tus.uploadLength]) else {
            throw IntakeError.badRequest(
                "missing-length", "Send Upload-Length: the file's size in bytes, as a non-negative integer.")
        }
        guard length <= configuration.maxAttachmentBytes else {
            throw IntakeError(
                .contentTooLarge, "too-large",
                "Upload-Length \(length) is more than the \(configuration.maxAttachmentBytes) bytes this intake accepts (Tus-Max-Size)."
            )
        }
        let rawMeta = request.headers[named: Tus.uploadMetadata] ?? ""
        guard let meta = Tus.decodeMetadata(rawMeta) else {
            throw IntakeError.badRequest(
                "invalid-metadata",
                "Upload-Metadata must be comma-separated `key base64(value)` pairs with unique keys.")
        }
        let submissionId = meta["submissionId"]
        let name = meta["name"]
        let sha = meta["sha256"]?.lowercased()
        if let sha, !IntakeDigest.isSHA256Hex(sha) {
            throw IntakeError.badRequest(
                "bad-checksum-header", "Upload-Metadata sha256 must be 64 hex digits (the SHA-256 of the whole file).")
        }
        var alreadyComplete = false
        if submissionId != nil || name != nil {
            guard let submissionId, IntakeIdentifier.isValid(submissionId), let name, IntakeIdentifier.isValid(name)
            else {
                throw IntakeError.badRequest(
                    "invalid-name",
                    "Upload-Metadata needs both submissionId and name, each 1-64 characters of A-Z a-z 0-9 . _ - (not . or ..)."
                )
            }
            // Before anything about the submission is looked at: another station's id is a plain 404.
            try await store.claim(submissionId, for: context)
            if let existing = try await store.attachments(submissionId: submissionId).first(where: { $0.name == name })
            {
                guard existing.size == length, sha == nil || existing.sha256 == sha else {
                    throw conflict(
                        "Attachment \(name) of submission \(submissionId) is already stored with different content (\(existing.size) bytes, SHA-256 \(existing.sha256)). Stored attachments never change."
                    )
                }
                alreadyComplete = true  // identical repeat: an upload that is already complete
            } else if try await store.submissionExists(submissionId) {
                throw conflict(
                    "Submission \(submissionId) was already accepted and its manifest does not list \(name). An accepted submission cannot gain attachments: send a new submission."
                )
            }
        }
        let up = try await store.createUpload(
            length: length, metadata: rawMeta, submissionId: submissionId, name: name, sha256: sha,
            stationId: context.stationId,
            expiresAt: Date().addingTimeInterval(configuration.uploadExpirySeconds),
            alreadyComplete: alreadyComplete || length == 0 && submissionId == nil)
        if length == 0, submissionId != nil, !alreadyComplete {
            _ = try await finish(up)
        }
        logger.info(
            "upload created",
            metadata: [
                "upload": "\(up.id)", "submission": "\(submissionId ?? "-")", "length": "\(length)",
                "repeat": "\(alreadyComplete)",
            ])
        var h = HTTPFields()
        h[.location] = Self.basePath + "/" + up.id
        h[named: Tus.uploadExpires] = expiresHeader(up)
        // Where the upload stands (0, or its length for a repeat of a stored attachment): the
        // client starts there without a HEAD.
        h[named: Tus.uploadOffset] = String(alreadyComplete || length == 0 ? length : 0)
        return Response(status: .created, headers: h)
    }

    // MARK: core

    private func lookup(_ context: IntakeRequestContext) async throws -> TusUpload {
        guard let uid = context.parameters.get("uid"), IntakeIdentifier.isValid(uid),
            let up = try await store.tusUpload(id: uid),
            context.stationId == nil || up.stationId == nil || up.stationId == context.stationId
        else {
            throw IntakeError.notFound("No such upload. Create a new one with POST \(Self.basePath).")
        }
        if up.expiresAt < Date() {
            try? await store.deleteUpload(id: up.id)
            throw IntakeError(
                .gone, "expired",
                "This upload expired at \(Tus.httpDate(up.expiresAt)) and was deleted. Create a new one with POST \(Self.basePath) and send the file from the start."
            )
        }
        return up
    }

    func head(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        guard let uid = context.parameters.get("uid"), IntakeIdentifier.isValid(uid) else {
            throw IntakeError.notFound("No such upload. Create a new one with POST \(Self.basePath).")
        }
        // Behind the upload's lock, like PATCH: a client that asks at once after its PATCH was cut
        // gets the offset that PATCH left, with the bytes it kept, not the one from before it.
        let up = try await store.withUploadLock(id: uid) { try await self.lookup(context) }
        var h = HTTPFields()
        h[named: Tus.uploadOffset] = String(up.offset)
        h[named: Tus.uploadLength] = String(up.length)
        if !up.metadata.isEmpty { h[named: Tus.uploadMetadata] = up.metadata }
        h[named: Tus.uploadExpires] = expiresHeader(up)
        h[.cacheControl] = "no-store"
        return Response(status: .ok, headers: h)
    }

    func terminate(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let up = try await lookup(context)
        // a finished attachment stays: it belongs to its submission
        try await store.withUploadLock(id: up.id) { try await store.deleteUpload(id: up.id) }
        return Response(status: .noContent)
    }

    func patch(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        guard let uid = context.parameters.get("uid"), IntakeIdentifier.isValid(uid) else {
            throw IntakeError.notFound("No such upload. Create a new one with POST \(Self.basePath).")
        }
        // The lock holds across nodes (PostgreSQL: an advisory lock): the offset read below is the
        // one every earlier PATCH left, wherever it ran, and nobody else appends until this one ends.
        return try await store.withUploadLock(id: uid) { try await self.patchLocked(request, context) }
    }

    private func patchLocked(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let up = try await lookup(context)
        guard (request.headers[.contentType] ?? "").lowercased().hasPrefix(Tus.offsetContentType) else {
            throw IntakeError(
                .unsupportedMediaType, "bad-content-type", "PATCH needs Content-Type: \(Tus.offsetContentType).")
        }
        guard let offset = Tus.parseOffset(request.headers[named: Tus.uploadOffset]) else {
            throw IntakeError.badRequest(
                "missing-offset", "Send Upload-Offset: the byte position this chunk starts at (ask with HEAD).")
        }
        guard offset == up.offset else {
            throw IntakeError(
                .conflict, "offset-mismatch",
                "Upload-Offset \(offset) is not the upload's offset \(up.offset). HEAD the upload and continue from its Upload-Offset."
            )
        }
        var expectedDigest: Data?
        if let c = request.headers[named: Tus.uploadChecksum] {
            guard let parsed = Tus.parseChecksum(c) else {
                throw IntakeError.badRequest("bad-checksum-header", "Upload-Checksum must be `sha256 <base64 digest>`.")
            }
            guard parsed.algorithm == "sha256" else {
                throw IntakeError.badRequest(
                    "checksum-algorithm",
                    "Upload-Checksum algorithm \(parsed.algorithm) is not supported; use sha256 (Tus-Checksum-Algorithm)."
                )
            }
            expectedDigest = parsed.digest
        }
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if up.completed {
            // Nothing more to take; an empty PATCH at the end is answered with the offset.
            var h = HTTPFields()
            h[named: Tus.uploadOffset] = String(up.offset)
            return Response(status: .noContent, headers: h)
        }

        let path = store.uploadPath(up.id)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            try? await store.deleteUpload(id: up.id)
            throw IntakeError(
                .gone, "expired", "The upload's data is gone. Create a new upload and send the file from the start.")
        }
        defer { close(fd) }
        // Bytes past the recorded offset are leftovers of a request cut before its offset was recorded.
        guard ftruncate(fd, off_t(offset)) == 0, lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else {
            throw IntakeIOError(operation: "prepare upload file", code: errno)
        }
        var hasher = SHA256()
        var wholeHasher = SHA256()
        var written = 0
        let room = up.length - offset
        var interrupted: (any Error)?
        var tooLong = false
        do {
            for try await buffer in request.body {
                var buffer = buffer
                let n = buffer.readableBytes
                if written + n > room {
                    tooLong = true
                    break
                }
                try buffer.withUnsafeReadableBytes { raw in
                    hasher.update(bufferPointer: raw)
                    if offset == 0 { wholeHasher.update(bufferPointer: raw) }
                    var o = 0
                    while o < raw.count {
                        let w = Glibc.write(fd, raw.baseAddress! + o, raw.count - o)
                        if w < 0 {
                            if errno == EINTR { continue }
                            throw IntakeIOError(operation: "write upload", code: errno)
                        }
                        o += w
                    }
                }
                written += n
                buffer.moveReaderIndex(forwardBy: n)
            }
        } catch {
            interrupted = error
        }
        TusTraffic.count(received: written)
        if interrupted == nil, let declared, written < declared {
            interrupted = IntakeError.badRequest("short-body", "The body ended after \(written) of \(declared) bytes.")
        }
        if tooLong {
            _ = ftruncate(fd, off_t(offset))
            throw IntakeError.badRequest(
                "exceeds-length", "The chunk goes past Upload-Length \(up.length). Send at most \(room) more bytes.")
        }
        if let expectedDigest {
            // A chunk's checksum is checked where the chunk completes. An interrupted chunk is kept
            // (as tus intends: the client resumes at the new offset instead of sending it again)
            // when the upload's metadata carries the whole file's SHA-256, which `finish` verifies
            // before the file becomes an attachment; without it a checksummed chunk is all or nothing.
            if interrupted != nil && up.sha256 == nil {
                _ = ftruncate(fd, off_t(offset))
                throw interrupted!
            }
            guard interrupted != nil || Data(hasher.finalize()) == expectedDigest else {
                _ = ftruncate(fd, off_t(offset))
                logger.notice(
                    "chunk checksum mismatch",
                    metadata: ["upload": "\(up.id)", "offset": "\(offset)", "bytes": "\(written)"])
                throw IntakeError(
                    HTTPResponse.Status(code: Tus.checksumMismatchStatus, reasonPhrase: "Checksum Mismatch"),
                    "checksum-mismatch",
                    "The chunk's SHA-256 differs from Upload-Checksum: it was damaged in transit and was discarded. Send it again from offset \(offset)."
                )
            }
        }
        // The offset a reply (or a HEAD) reports never runs ahead of the bytes on disk: fsync
        // first, then record it (that record needs no fsync of its own; see recordUploadOffset).
        guard fsync(fd) == 0 else { throw IntakeIOError(operation: "fsync upload", code: errno) }
        let newOffset = offset + written
        try await store.recordUploadOffset(id: up.id, offset: newOffset, completed: false)
        if let interrupted { throw interrupted }  // kept what arrived; the client resumes from HEAD

        var done = up
        done.offset = newOffset
        if newOffset == up.length {
            // A PATCH that carried the whole file hashed all of it on the way in: no second read.
            done = try await finish(done, digest: offset == 0 ? IntakeDigest.hex(wholeHasher.finalize()) : nil)
        }
        var h = HTTPFields()
        h[named: Tus.uploadOffset] = String(done.offset)
        h[named: Tus.uploadExpires] = expiresHeader(done)
        return Response(status: .noContent, headers: h)
    }

    /// The last byte arrived: check the whole file and, when the upload names a submission
    /// attachment, move it into place as that attachment.
    private func finish(_ up: TusUpload, digest: String? = nil) async throws -> TusUpload {
        let path = store.uploadPath(up.id)
        let (size, sha) = try digest.map { (up.length, $0) } ?? Self.digest(path)
        if let want = up.sha256, want != sha {
            try? await store.deleteUpload(id: up.id)
            logger.notice("upload digest mismatch", metadata: ["upload": "\(up.id)", "size": "\(size)"])
            throw IntakeError(
                HTTPResponse.Status(code: Tus.checksumMismatchStatus, reasonPhrase: "Checksum Mismatch"),
                "checksum-mismatch",
                "The whole file (\(size) bytes) has SHA-256 \(sha), not the \(want) of its Upload-Metadata. The upload was discarded: create a new one."
            )
        }
        if let sid = up.submissionId, let name = up.name {
            switch try await store.commitAttachment(
                submissionId: sid, name: name, file: path, discard: { DurableFile.remove(path) },
                size: size, sha256: sha)
            {
            case .created, .identical:
                logger.info("attachment stored", metadata: ["submission": "\(sid)", "size": "\(size)", "via": "tus"])
            case .conflict(let existing):
                try? await store.deleteUpload(id: up.id)
                throw conflict(
                    "Attachment \(name) of submission \(sid) is already stored with different content (\(existing.size) bytes, SHA-256 \(existing.sha256))."
                )
            case .submissionClosed:
                try? await store.deleteUpload(id: up.id)
                throw conflict("Submission \(sid) was already accepted and its manifest does not list \(name).")
            }
        }
        // The attachment's own commit was durable; this flag needs no fsync of its own.
        try await store.recordUploadOffset(id: up.id, offset: up.length, completed: true)
        var done = up
        done.offset = up.length
        done.completed = true
        return done
    }

    static func digest(_ path: String) throws -> (Int, String) {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw IntakeIOError(operation: "open upload", code: errno)
        }
        defer { try? h.close() }
        var hasher = SHA256()
        var size = 0
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += chunk.count
        }
        return (size, IntakeDigest.hex(hasher.finalize()))
    }
}
