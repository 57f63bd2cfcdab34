// The intake's storage behind one protocol, so the routes do not know which engine they talk to:
//
//   IntakeStore          SQLite through GRDB, one machine (the default)
//   PostgresIntakeStore  PostgreSQL through postgres-nio, for several intake nodes behind a proxy
//
// Both keep the bytes (attachments, tus uploads, certificates) as files under the data directory;
// with PostgreSQL that directory is shared by every node (NFS or similar), and everything that
// must agree across nodes (tus offsets, which upload a node may append to, case numbers, manifest
// idempotency) lives in the database. The contract tests in IntakeClusterTests run the same
// checks against both engines.

import Foundation
import KioskProtocols

/// A station's latest heartbeat, as the fleet view shows it.
public struct StationLastHeartbeat: Sendable, Equatable {
    public var stationId: String
    /// When the intake received it (ISO 8601, the intake's clock).
    public var receivedAt: String
    public var heartbeat: StationHeartbeat
    public init(stationId: String, receivedAt: String, heartbeat: StationHeartbeat) {
        self.stationId = stationId
        self.receivedAt = receivedAt
        self.heartbeat = heartbeat
    }
}

/// What the routes need from a store. Sync implementations satisfy the async requirements.
public protocol IntakeStorage: Sendable {
    /// Folder of the files (shared by every node with PostgreSQL).
    var dataDirectory: String { get }
    /// "sqlite" or "postgres" (for logs and the fleet view).
    var engine: String { get }

    // Attachments
    func commitAttachment(
        submissionId: String, name: String, file: String, discard: @Sendable () -> Void, size: Int, sha256: String
    )
        async throws -> AttachmentPutOutcome
    func attachments(submissionId: String) async throws -> [AttachmentReceipt]
    func attachmentPath(submissionId: String, name: String) async throws -> String?

    // Manifests and status
    func putManifest(_ manifest: SubmissionManifest, now: Date) async throws -> ManifestPutOutcome
    func manifest(submissionId: String) async throws -> SubmissionManifest?
    func status(submissionId: String) async throws -> SubmissionStatusReply?
    func stationId(submissionId: String) async throws -> String?
    func list(stationId: String) async throws -> [SubmissionStatusReply]
    func setState(submissionId: String, state: UpstreamState, note: String?, now: Date) async throws
        -> SubmissionStatusReply?
    func summaries() async throws -> [StoredSubmissionSummary]
    func count() async throws -> Int
    func submissionExists(_ submissionId: String) async throws -> Bool

    // Ownership: a submission id belongs to the station that first used it (an upload, an
    // attachment or a manifest), on every node; other stations are told nothing about it.
    /// Records `stationId` as the owner of `submissionId` unless another station already is;
    /// true when `stationId` owns it (now or before).
    func claimSubmission(_ submissionId: String, stationId: String) async throws -> Bool
    /// The station that first used `submissionId`, or nil when nobody has.
    func submissionOwner(_ submissionId: String) async throws -> String?

    // tus upload state
    func tusUpload(id: String) async throws -> TusUpload?
    func openUploadCount() async throws -> Int
    func insertUpload(_ upload: TusUpload) async throws
    func setUploadOffset(id: String, offset: Int, completed: Bool) async throws
    /// As `setUploadOffset`, for an offset whose bytes are already fsynced: the update need not be
    /// durable by itself (a later durable commit carries it). Lost in a crash, the upload only
    /// reports an older offset, whose bytes the file holds, and the client sends the rest again.
    func recordUploadOffset(id: String, offset: Int, completed: Bool) async throws
    func deleteUploadRow(id: String) async throws
    func expiredUploadIds(now: Date) async throws -> [String]
    /// Runs `body` while holding the upload's lock: only one PATCH (on any node) appends at a time.
    func withUploadLock<T: Sendable>(id: String, _ body: @Sendable () async throws -> T) async throws -> T

    // Messages
    func putEvaluation(_ e: EvaluationReport) async throws -> MessagePutOutcome
    func putHeartbeat(_ h: StationHeartbeat) async throws -> MessagePutOutcome
    func evaluations() async throws -> [EvaluationReport]
    func heartbeats(stationId: String) async throws -> [StationHeartbeat]
    /// Each station's most recent heartbeat (by the intake's receive time).
    func latestHeartbeats() async throws -> [StationLastHeartbeat]
    /// Every station that sent a submission or a heartbeat.
    func knownStations() async throws -> [String]

    // Certificates
    func upsertCertificate(
        ref: String, submissionId: String, contentType: String, size: Int, sha256: String, path: String) async throws
    func certificate(submissionId: String) async throws -> CertificateRef?
    func certificateFile(ref: String) async throws -> (ref: CertificateRef, path: String, submissionId: String)?
}

/// Files under the data directory; the same layout for every engine.
extension IntakeStorage {
    var filesDirectory: String { dataDirectory + "/files" }
    var stagingDirectory: String { dataDirectory + "/tmp" }
    var uploadsDirectory: String { dataDirectory + "/uploads" }
    var certificatesDirectory: String { dataDirectory + "/certificates" }
    func uploadPath(_ id: String) -> String { uploadsDirectory + "/" + id + ".bin" }

    /// A new staging file for streaming an upload into.
    func makeStagingFile() throws -> StagingFile {
        try StagingFile(directory: stagingDirectory)
    }

    func commitAttachment(submissionId: String, name: String, staged: StagingFile, size: Int, sha256: String)
        async throws
        -> AttachmentPutOutcome
    {
        let path = staged.path
        return try await commitAttachment(
            submissionId: submissionId, name: name, file: path, discard: { DurableFile.remove(path) },
            size: size, sha256: sha256)
    }

    /// Creates an empty upload (the file, then the row). `alreadyComplete` records an upload
    /// whose bytes the intake already holds (an identical attachment): offset = length, no file.
    /// The empty file is not fsynced: every PATCH fsyncs it before its offset is recorded, and an
    /// upload whose file a crash lost answers 410 (the client creates a new one), never bytes it
    /// does not hold.
    func createUpload(
        length: Int, metadata: String, submissionId: String?, name: String?, sha256: String?,
        stationId: String?, expiresAt: Date, alreadyComplete: Bool
    ) async throws -> TusUpload {
        let id = UUID().uuidString.lowercased()
        if !alreadyComplete {
            try DurableFile.createEmpty(uploadPath(id), sync: false)
        }
        let up = TusUpload(
            id: id, length: length, offset: alreadyComplete ? length : 0, metadata: metadata,
            submissionId: submissionId, name: name, sha256: sha256, stationId: stationId,
            expiresAt: expiresAt, completed: alreadyComplete)
        try await insertUpload(up)
        return up
    }

    public func recordUploadOffset(id: String, offset: Int, completed: Bool) async throws {
        try await setUploadOffset(id: id, offset: offset, completed: completed)
    }

    func deleteUpload(id: String) async throws {
        try await deleteUploadRow(id: id)
        DurableFile.remove(uploadPath(id))
    }

    /// Drops expired uploads (rows and partial files). Returns how many.
    @discardableResult
    public func purgeExpired(now: Date = Date()) async throws -> Int {
        let ids = try await expiredUploadIds(now: now)
        for id in ids { try await deleteUpload(id: id) }
        return ids.count
    }

    /// Stores a certificate file for a submission and moves it to `certificateReady`.
    public func issueCertificate(submissionId: String, data: Data, contentType: String, note: String?) async throws
        -> SubmissionStatusReply?
    {
        guard try await status(submissionId: submissionId) != nil else { return nil }
        let f = try Self.writeCertificateFile(dataDirectory: dataDirectory, submissionId: submissionId, data: data)
        try await upsertCertificate(
            ref: f.ref, submissionId: submissionId, contentType: contentType, size: f.size, sha256: f.sha256,
            path: f.path)
        _ = try await setState(submissionId: submissionId, state: .certificateReady, note: note, now: Date())
        return try await status(submissionId: submissionId)
    }

    /// Writes a certificate's bytes durably as certificates/<ref> (replacing an earlier one).
    static func writeCertificateFile(dataDirectory: String, submissionId: String, data: Data) throws
        -> (ref: String, path: String, size: Int, sha256: String)
    {
        // The whole id through SHA-256 (236 of its bits in 59 hex digits): two submission ids never
        // share a reference, however long their common prefix (the ref must stay a 1-64 identifier).
        let ref = "cert-" + IntakeDigest.sha256Hex(Data(submissionId.utf8)).prefix(59)
        let rel = "certificates/\(ref)"
        let dir = dataDirectory + "/certificates"
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let staged = try StagingFile(directory: dataDirectory + "/tmp")
        do {
            try data.withUnsafeBytes { try staged.write($0) }
            let (size, sha) = try staged.finish()
            try DurableFile.rename(staged.path, dataDirectory + "/" + rel)
            try DurableFile.syncDirectory(dir)
            return (ref, rel, size, sha)
        } catch {
            staged.discard()
            throw error
        }
    }

    /// Checks a manifest's attachments against what is stored; empty when all are there.
    static func attachmentProblems(_ manifest: SubmissionManifest, stored: [String: (size: Int, sha256: String)])
        -> [AttachmentProblem]
    {
        var problems: [AttachmentProblem] = []
        for ref in manifest.attachments {
            guard let have = stored[ref.name] else {
                problems.append(.init(name: ref.name, reason: "not-uploaded"))
                continue
            }
            if have.sha256 != ref.sha256 {
                problems.append(.init(name: ref.name, reason: "sha256-differs"))
            } else if have.size != ref.size {
                problems.append(.init(name: ref.name, reason: "size-differs"))
            }
        }
        return problems
    }

    /// Creates the folders of the data directory (owner-only: the scans hold personal data).
    static func prepareDataDirectory(_ dir: String) throws {
        let fm = FileManager.default
        let ownerOnly: [FileAttributeKey: Any] = [.posixPermissions: 0o700]
        for path in [dir, dir + "/files", dir + "/tmp", dir + "/uploads", dir + "/certificates"]
        where !fm.fileExists(atPath: path) {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: ownerOnly)
        }
    }

    /// Removes staging files left behind by a crash. With `olderThan` only those last written
    /// that long ago (a shared directory: another node may be writing its own right now).
    static func clearStaging(_ dir: String, olderThan: TimeInterval?) {
        let fm = FileManager.default
        guard let leftovers = try? fm.contentsOfDirectory(atPath: dir + "/tmp") else { return }
        for name in leftovers where name.hasSuffix(".part") {
            let path = dir + "/tmp/" + name
            if let olderThan {
                guard let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                    Date().timeIntervalSince(modified) > olderThan
                else { continue }
            }
            DurableFile.remove(path)
        }
    }
}
