import Foundation
import GRDB
import KioskProtocols

/// An attachment waiting for (or done with) its upload.
public struct PendingAttachment: Sendable {
    public var ref: AttachmentRef
    public var uploaded: Bool
    /// Path of the encrypted file, relative to the attachments folder.
    public var file: String
    /// The tus upload this attachment is being sent to (resumed after a restart).
    public var uploadURL: String?
}

/// A submission due for upload: its manifest (decrypted) and its attachments.
public struct PendingUpload: Sendable {
    public var summary: SubmissionSummary
    public var manifest: SubmissionManifest
    public var attachments: [PendingAttachment]
}

/// The upload side of submissions: what is due, tus upload URLs, results, quarantine and the
/// upstream state of uploaded submissions.
public struct UploadQueue: Sendable {
    public let database: OutboxDatabase

    public init(database: OutboxDatabase) { self.database = database }

    var pool: DatabasePool { database.pool }
    typealias S = SubmissionRecord.Columns
    typealias A = AttachmentRecord.Columns

    /// ISO 8601 in UTC, as ISO8601DateFormatter(.withInternetDateTime) wrote it, without ICU.
    static func isoString(_ d: Date) -> String { StationClock.iso8601UTC(d) }

    /// The submission due for upload soonest, if any is due now; and the time the next one is due.
    /// A row that cannot be read back (wrong key, damaged blob) is quarantined with the reason so it
    /// never blocks the rows behind it. A retry time implausibly far ahead (the clock was wrong when
    /// it was recorded: kiosks without a battery-backed clock) counts as due now.
    public func nextDue(maxDelay: TimeInterval = 3600) async throws -> (due: PendingUpload?, nextAt: Date?) {
        let t = database.clock.now.timeIntervalSince1970
        while true {
            let record = try await pool.read { db in
                try SubmissionRecord.filter(S.state == OutboxState.sealed).order(S.nextAttemptAt, S.sealedAt).fetchOne(
                    db)
            }
            guard let record else { return (nil, nil) }
            let next = record.nextAttemptAt.timeIntervalSince1970
            guard next <= t || next > t + maxDelay else { return (nil, record.nextAttemptAt) }
            do {
                return (try pending(record), nil)
            } catch {
                try await quarantine(
                    id: record.id,
                    reason: Uploader.keyAlarmReasonPrefix
                        + " (\(error)); check encryption.keyFile is the key it was written with")
            }
        }
    }

    func pending(_ record: SubmissionRecord) throws -> PendingUpload {
        let summary = record.summary
        let applicant = try JSONDecoder().decode(ApplicantData.self, from: try database.cipher.open(record.personal))
        let atts = try pool.read { db in
            try AttachmentRecord.filter(A.submissionId == record.id).order(A.name).fetchAll(db)
        }.map { r in
            PendingAttachment(
                ref: AttachmentRef(name: r.name, contentType: r.contentType, size: r.size, sha256: r.sha256),
                uploaded: r.uploaded, file: r.file, uploadURL: r.uploadURL)
        }
        let manifest = SubmissionManifest(
            submissionId: record.id, caseNumber: record.caseNumber, stationId: record.stationId,
            itemCode: record.itemCode, itemName: record.itemName,
            submittedAt: Self.isoString(record.sealedAt), applicant: applicant,
            attachments: atts.map(\.ref), assistedBy: record.assistedBy)
        return PendingUpload(summary: summary, manifest: manifest, attachments: atts)
    }

    /// Decrypted bytes of an attachment, verified against the digest recorded at seal time.
    public func attachmentData(_ a: PendingAttachment) throws -> Data {
        guard let enc = FileManager.default.contents(atPath: database.attachmentsDirectory + "/" + a.file) else {
            throw OutboxError("attachment file \(a.file) is missing from the state directory")
        }
        let data = try database.cipher.open(enc)
        guard sha256Hex(data) == a.ref.sha256 else {
            throw OutboxError("attachment file \(a.file) does not match its recorded digest")
        }
        return data
    }

    public func markAttachmentUploaded(submissionId: String, name: String) async throws {
        _ = try await pool.write { db in
            try AttachmentRecord.filter(A.submissionId == submissionId && A.name == name)
                .updateAll(db, A.uploaded.set(to: true), A.uploadURL.set(to: nil))
        }
    }

    /// Records (durably, synchronous=FULL) the tus upload URL of an attachment before bytes go to it.
    public func setUploadURL(submissionId: String, name: String, url: String?) async throws {
        _ = try await pool.write { db in
            try AttachmentRecord.filter(A.submissionId == submissionId && A.name == name).updateAll(
                db, A.uploadURL.set(to: url))
        }
    }

    public func resetAttachments(submissionId: String) async throws {
        _ = try await pool.write { db in
            try AttachmentRecord.filter(A.submissionId == submissionId).updateAll(
                db, A.uploaded.set(to: false), A.uploadURL.set(to: nil))
        }
    }

    public func markUploaded(id: String, upstreamState: UpstreamState) async throws {
        let t = database.clock.now.timeIntervalSince1970
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.state.set(to: OutboxState.uploaded), S.upstreamState.set(to: upstreamState.rawValue),
                S.uploadedAt.set(to: t), S.lastError.set(to: nil))
        }
    }

    public func recordFailure(id: String, error: String, retryAt: Date) async throws {
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.attempts += 1, S.lastError.set(to: error),
                S.nextAttemptAt.set(to: retryAt.timeIntervalSince1970))
        }
    }

    public func quarantine(id: String, reason: String) async throws {
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.state.set(to: OutboxState.quarantined), S.lastError.set(to: reason), S.attempts += 1)
        }
    }

    public func updateUpstreamState(id: String, state: UpstreamState) async throws {
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(db, S.upstreamState.set(to: state.rawValue))
        }
    }

    /// Uploaded submissions whose upstream state may still change.
    public func openUploaded(limit: Int = 50) throws -> [SubmissionSummary] {
        try pool.read { db in
            try SubmissionRecord.filter(S.state == OutboxState.uploaded)
                .filter(
                    S.upstreamState == nil
                        || ![UpstreamState.done.rawValue, UpstreamState.rejected.rawValue].contains(S.upstreamState)
                )
                .order(S.sealedAt).limit(limit).fetchAll(db).map(\.summary)
        }
    }

    /// Queue depths for the admin status, metrics and heartbeats.
    public func counts() throws -> OutboxCounts {
        let t = database.clock.now.timeIntervalSince1970
        return try pool.read { db in
            typealias C = SubmissionRecord.Columns
            let q = try SubmissionRecord.filter(C.state == OutboxState.sealed).fetchCount(db)
            let u = try SubmissionRecord.filter(C.state == OutboxState.uploaded).fetchCount(db)
            let qu = try SubmissionRecord.filter(C.state == OutboxState.quarantined).fetchCount(db)
            let a =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM attachment JOIN submission ON submission.id = attachment.submission_id
                        WHERE submission.state = 'sealed' AND attachment.uploaded = 0
                        """) ?? 0
            let oldest = try Double.fetchOne(
                db, SubmissionRecord.select(min(C.sealedAt)).filter(C.state == OutboxState.sealed))
            let ev = try EvaluationRecord.filter(EvaluationRecord.Columns.uploaded == false).fetchCount(db)
            return OutboxCounts(
                queued: q, uploaded: u, quarantined: qu, attachmentsQueued: a,
                oldestQueuedSeconds: oldest.map { max(0, Int(t - $0)) }, evaluationsQueued: ev)
        }
    }

    /// Quarantined submissions for staff and technicians: case number, item, why (never personal data).
    public func quarantined() throws -> [QuarantinedSubmission] {
        try pool.read { db in
            try SubmissionRecord.filter(SubmissionRecord.Columns.state == OutboxState.quarantined)
                .order(SubmissionRecord.Columns.sealedAt).fetchAll(db)
                .map {
                    QuarantinedSubmission(caseNumber: $0.caseNumber, itemCode: $0.itemCode, reason: $0.lastError ?? "")
                }
        }
    }
}
