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
    /// With the key alarm raised (the configured key is not the outbox's key) nothing is due and
    /// nothing is quarantined: `KeyAlarm` is thrown. A row the right key cannot read back is
    /// damaged: it is quarantined with that reason so it never blocks the rows behind it. A retry
    /// time implausibly far ahead (the clock was wrong when it was recorded: kiosks without a
    /// battery-backed clock) counts as due now.
    /// `excluding`: submissions already being uploaded (not offered again).
    public func nextDue(maxDelay: TimeInterval = 3600, excluding: Set<String> = []) async throws -> (
        due: PendingUpload?, nextAt: Date?
    ) {
        if let problem = database.keyProblem { throw KeyAlarm(description: problem) }
        let t = database.clock.now.timeIntervalSince1970
        while true {
            let record = try await pool.read { db in
                try SubmissionRecord.filter(S.state == OutboxState.sealed).filter(!excluding.contains(S.id))
                    .order(S.nextAttemptAt, S.sealedAt).fetchOne(db)
            }
            guard let record else { return (nil, nil) }
            let next = record.nextAttemptAt.timeIntervalSince1970
            guard next <= t || next > t + maxDelay else { return (nil, record.nextAttemptAt) }
            do {
                return (try pending(record), nil)
            } catch {
                try await quarantine(
                    id: record.id, cause: .damaged,
                    reason:
                        "the stored personal data of this submission is damaged (\(error)); the station key reads the rest of the outbox"
                )
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

    /// Decrypted bytes of an attachment, verified against the digest recorded at seal time. A
    /// missing or altered file throws `AttachmentDamage` (the key was checked before: see nextDue).
    public func attachmentData(_ a: PendingAttachment) throws -> Data {
        guard let enc = FileManager.default.contents(atPath: database.attachmentsDirectory + "/" + a.file) else {
            throw AttachmentDamage(
                cause: .attachmentMissing,
                description:
                    "attachment \(a.ref.name) is missing from the state directory (attachments/\(a.file)); restore the file and run `kioskctl outbox retry CASE`"
            )
        }
        let data: Data
        do { data = try database.cipher.open(enc) } catch {
            throw AttachmentDamage(
                cause: .attachmentAltered,
                description:
                    "attachment \(a.ref.name) was altered: attachments/\(a.file) no longer decrypts with the station key, which reads the rest of the outbox"
            )
        }
        guard sha256Hex(data) == a.ref.sha256 else {
            throw AttachmentDamage(
                cause: .attachmentAltered,
                description:
                    "attachment \(a.ref.name) was altered: attachments/\(a.file) no longer matches its recorded digest")
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

    /// Records the tus upload URLs of several attachments in one commit (durably, as `setUploadURL`).
    public func setUploadURLs(submissionId: String, _ urls: [(name: String, url: String)]) async throws {
        _ = try await pool.write { db in
            for (name, url) in urls {
                try AttachmentRecord.filter(A.submissionId == submissionId && A.name == name).updateAll(
                    db, A.uploadURL.set(to: url))
            }
        }
    }

    public func resetAttachments(submissionId: String) async throws {
        _ = try await pool.write { db in
            try AttachmentRecord.filter(A.submissionId == submissionId).updateAll(
                db, A.uploaded.set(to: false), A.uploadURL.set(to: nil))
        }
    }

    /// Marks a submission uploaded, its attachments with it, and appends `history` to its case
    /// history (a step identical to the case's last one is not repeated, as in `CaseEvents`), in
    /// one commit.
    public func markUploaded(id: String, upstreamState: UpstreamState, history: [(state: String, at: Date)] = [])
        async throws
    {
        let t = database.clock.now.timeIntervalSince1970
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.state.set(to: OutboxState.uploaded), S.upstreamState.set(to: upstreamState.rawValue),
                S.uploadedAt.set(to: t), S.lastError.set(to: nil))
            try AttachmentRecord.filter(A.submissionId == id && A.uploaded == false).updateAll(
                db, A.uploaded.set(to: true), A.uploadURL.set(to: nil))
            for step in history {
                let last = try Row.fetchOne(
                    db,
                    sql: "SELECT state, note FROM case_event WHERE submission_id = ?"
                        + " ORDER BY at DESC, id DESC LIMIT 1",
                    arguments: [id])
                if let last, (last["state"] as String?) == step.state, (last["note"] as String?) == nil { continue }
                try db.execute(
                    sql: "INSERT INTO case_event (submission_id, state, at, note) VALUES (?, ?, ?, NULL)",
                    arguments: [id, step.state, step.at.timeIntervalSince1970])
            }
        }
    }

    public func recordFailure(id: String, error: String, retryAt: Date) async throws {
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.attempts += 1, S.lastError.set(to: error),
                S.nextAttemptAt.set(to: retryAt.timeIntervalSince1970))
        }
    }

    /// Puts a submission aside for a permanent, proven cause.
    public func quarantine(id: String, cause: QuarantineCause, reason: String) async throws {
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, S.state.set(to: OutboxState.quarantined), S.lastError.set(to: reason), S.attempts += 1,
                S.quarantineCause.set(to: cause.rawValue))
        }
    }

    /// Puts quarantined submissions back in the queue (due now), with an audit entry each:
    /// `caseNumber` one by its case number, else (`allTransient`) every one without a proven
    /// cause (put aside by an older version). Returns the case numbers put back.
    public func retryQuarantined(caseNumber: String?, allTransient: Bool, actor: String) async throws -> [String] {
        let t = database.clock.now.timeIntervalSince1970
        return try await pool.write { db in
            var request = SubmissionRecord.filter(S.state == OutboxState.quarantined)
            if let caseNumber {
                request = request.filter(S.caseNumber == caseNumber)
            } else if allTransient {
                request = request.filter(S.quarantineCause == nil)
            } else {
                return []
            }
            let rows = try request.fetchAll(db)
            for r in rows {
                try SubmissionRecord.filter(key: r.id).updateAll(
                    db, S.state.set(to: OutboxState.sealed), S.nextAttemptAt.set(to: t), S.attempts.set(to: 0),
                    S.quarantineCause.set(to: nil))
                try AuditTrail.append(
                    db, at: t, actor: actor, action: "outbox.retry", subject: r.caseNumber,
                    detail: "quarantined for: \(r.lastError ?? "?")")
            }
            return rows.map(\.caseNumber)
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
            var byCause: [String: Int] = [:]
            if qu > 0 {
                let hasCause = try db.columns(in: "submission").contains { $0.name == "quarantine_cause" }
                let rows = try Row.fetchAll(
                    db,
                    sql: hasCause
                        ? "SELECT quarantine_cause AS c, COUNT(*) AS n FROM submission WHERE state = 'quarantined' GROUP BY quarantine_cause"
                        : "SELECT NULL AS c, COUNT(*) AS n FROM submission WHERE state = 'quarantined'")
                for r in rows {
                    let cause: String? = r["c"]
                    let n: Int = r["n"]
                    byCause[cause ?? "unknown"] = n
                }
            }
            return OutboxCounts(
                queued: q, uploaded: u, quarantined: qu, attachmentsQueued: a,
                oldestQueuedSeconds: oldest.map { max(0, Int(t - $0)) }, evaluationsQueued: ev,
                quarantinedByCause: byCause, keyAlarm: database.keyProblem)
        }
    }

    /// Quarantined submissions for staff and technicians: case number, item, why (never personal data).
    public func quarantined() throws -> [QuarantinedSubmission] {
        try pool.read { db in
            try SubmissionRecord.filter(SubmissionRecord.Columns.state == OutboxState.quarantined)
                .order(SubmissionRecord.Columns.sealedAt).fetchAll(db)
                .map {
                    QuarantinedSubmission(
                        caseNumber: $0.caseNumber, itemCode: $0.itemCode, reason: $0.lastError ?? "",
                        cause: $0.quarantineCause.flatMap(QuarantineCause.init(rawValue:)))
                }
        }
    }

    /// Everything the kiosk knows about one submission, found by case number, without personal
    /// data (nothing is decrypted): for `kioskctl outbox show`.
    public func explain(caseNumber: String) throws -> SubmissionExplanation? {
        let attachmentsDirectory = database.attachmentsDirectory
        return try pool.read { db in
            guard let r = try SubmissionRecord.filter(S.caseNumber == caseNumber).fetchOne(db) else { return nil }
            let atts = try AttachmentRecord.filter(A.submissionId == r.id).order(A.name).fetchAll(db)
            let files = atts.map { a in
                let onDisk = FileStatus.size(attachmentsDirectory + "/" + a.file)
                return SubmissionExplanation.File(
                    name: a.name, contentType: a.contentType, size: a.size, sha256: a.sha256, uploaded: a.uploaded,
                    resumableUpload: a.uploadURL != nil, encryptedBytesOnDisk: onDisk)
            }
            return SubmissionExplanation(
                submissionId: r.id, caseNumber: r.caseNumber, itemCode: r.itemCode, itemName: r.itemName,
                stationId: r.stationId, sealedAt: UploadQueue.isoString(r.sealedAt), state: r.state.rawValue,
                upstreamState: r.upstreamState, attempts: r.attempts,
                nextAttemptAt: r.state == .sealed ? UploadQueue.isoString(r.nextAttemptAt) : nil,
                lastError: r.lastError,
                quarantineCause: r.state == .quarantined ? (r.quarantineCause ?? "unknown") : nil,
                uploadedAt: r.uploadedAt.map(UploadQueue.isoString),
                receiptPrintedAt: r.receiptPrintedAt.map(UploadQueue.isoString), assistedBy: r.assistedBy,
                purged: r.purgedAt != nil, attachments: files)
        }
    }
}

/// One submission as `kioskctl outbox show` explains it (no personal data).
public struct SubmissionExplanation: Codable, Sendable {
    public struct File: Codable, Sendable {
        public var name: String
        public var contentType: String
        public var size: Int
        public var sha256: String
        public var uploaded: Bool
        public var resumableUpload: Bool
        /// Size of the encrypted file in the state directory; nil when it is missing.
        public var encryptedBytesOnDisk: Int?
    }
    public var submissionId: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var stationId: String
    public var sealedAt: String
    public var state: String
    public var upstreamState: String?
    public var attempts: Int
    public var nextAttemptAt: String?
    public var lastError: String?
    public var quarantineCause: String?
    public var uploadedAt: String?
    public var receiptPrintedAt: String?
    public var assistedBy: String?
    public var purged: Bool
    public var attachments: [File]
}

/// The configured key cannot read the outbox: the uploader stops, the station raises its alarm.
public struct KeyAlarm: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// An attachment file is missing or altered (with the key known to be right).
public struct AttachmentDamage: Error, CustomStringConvertible, Sendable {
    public var cause: QuarantineCause
    public var description: String
}
