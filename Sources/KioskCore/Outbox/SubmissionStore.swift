import Foundation
import GRDB
import KioskProtocols

extension OutboxState: DatabaseValueConvertible {}
extension MessageKind: DatabaseValueConvertible {}
extension MessageState: DatabaseValueConvertible {}

public struct NewAttachment: Sendable {
    public var name: String
    public var contentType: String
    public var data: Data
    public init(name: String, contentType: String, data: Data) {
        self.name = name
        self.contentType = contentType
        self.data = data
    }
}

public struct NewSubmission: Sendable {
    public var itemCode: String
    public var itemName: String
    public var applicant: ApplicantData
    public var attachments: [NewAttachment]
    public var assistedBy: String?
    /// A 补正: the submission id of the case these materials complete (recorded in the seal's transaction).
    public var supplementOf: String?
    public init(
        itemCode: String, itemName: String, applicant: ApplicantData, attachments: [NewAttachment],
        assistedBy: String? = nil, supplementOf: String? = nil
    ) {
        self.itemCode = itemCode
        self.itemName = itemName
        self.applicant = applicant
        self.attachments = attachments
        self.assistedBy = assistedBy
        self.supplementOf = supplementOf
    }
}

/// What the kiosk knows about a submission without decrypting anything.
public struct SubmissionSummary: Sendable, Equatable {
    public var id: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var sealedAt: Date
    public var state: OutboxState
    public var upstreamState: UpstreamState?
    public var attempts: Int
    public var lastError: String?

    public init(
        id: String, caseNumber: String, itemCode: String, itemName: String, sealedAt: Date, state: OutboxState,
        upstreamState: UpstreamState?, attempts: Int, lastError: String?
    ) {
        self.id = id
        self.caseNumber = caseNumber
        self.itemCode = itemCode
        self.itemName = itemName
        self.sealedAt = sealedAt
        self.state = state
        self.upstreamState = upstreamState
        self.attempts = attempts
        self.lastError = lastError
    }
}

public struct OutboxCounts: Sendable, Equatable, Codable {
    public var queued: Int
    public var uploaded: Int
    public var quarantined: Int
    public var attachmentsQueued: Int
    public var oldestQueuedSeconds: Int?
    public var evaluationsQueued: Int
    /// Quarantined submissions by cause (QuarantineCause raw values; "unknown" for those an older
    /// version put aside without a proven cause).
    public var quarantinedByCause: [String: Int]? = nil
    /// The key alarm: why the configured key cannot read the outbox (nil: no alarm).
    public var keyAlarm: String? = nil
    /// Attachment folders no row accounts for (a lost database): `kioskctl outbox recover`.
    public var unaccountedFolders: Int? = nil
}

/// A quarantined submission as staff and technicians see it: never personal data.
public struct QuarantinedSubmission: Sendable, Equatable {
    public var caseNumber: String
    public var itemCode: String
    public var reason: String
    /// Why, as a kind (QuarantineCause); nil for submissions quarantined by an older version.
    public var cause: QuarantineCause? = nil
}

/// The permanent, proven causes for which a submission is put aside.
public enum QuarantineCause: String, Codable, Sendable, CaseIterable {
    /// The intake itself answered that it will not take this submission (4xx with its error body).
    case refused
    /// An attachment file is missing from the state directory.
    case attachmentMissing = "attachment-missing"
    /// An attachment file was altered: it no longer decrypts, or no longer matches its digest,
    /// while the station key reads the rest of the outbox.
    case attachmentAltered = "attachment-altered"
    /// The submission's own encrypted row is damaged while the station key reads the rest.
    case damaged
}

/// The encrypted description of a submission kept in its attachment folder (`@manifest.enc`):
/// everything its database rows hold, for `kioskctl outbox recover`.
public struct SealedManifest: Codable, Sendable {
    public static let fileName = "@manifest.enc"
    public struct File: Codable, Sendable {
        public var name: String
        public var contentType: String
        public var size: Int
        public var sha256: String
        public var file: String
    }
    public var version = 1
    public var submissionId: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var stationId: String
    public var sealedAt: Double
    public var applicant: ApplicantData
    public var assistedBy: String?
    /// A 补正: the submission id of the case it completes (absent in manifests of earlier versions).
    public var supplementOf: String?
    public var attachments: [File]
}

/// Submissions: sealing (case numbers, encrypted attachments), the resident's own list, counts,
/// and retention.
public struct SubmissionStore: Sendable {
    public let database: OutboxDatabase
    let stationId: String
    let casePrefix: String

    public init(database: OutboxDatabase, stationId: String, casePrefix: String) {
        self.database = database
        self.stationId = stationId
        self.casePrefix = casePrefix
    }

    var pool: DatabasePool { database.pool }
    var cipher: AtRestCipher { database.cipher }

    static func validName(_ n: String) -> Bool {
        n.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil
    }

    /// Seals a submission. Only after this returns may a receipt be printed. In order, each step
    /// durable before the next (see StateDirectory.swift):
    ///   1. a seal-journal entry for the new id (so a crash leftover is recognised as one);
    ///   2. the case number: the day's highest of the counter file and the database, plus one,
    ///      written to the counter file (so no later seal, even over a lost database, reuses it);
    ///   3. the attachment folder with the encrypted files and `@manifest.enc` (the encrypted
    ///      submission, from which `kioskctl outbox recover` can rebuild the row);
    ///   4. the rows, in one transaction (synchronous=FULL); then the journal entry is dropped.
    /// A failure before 4 removes the folder; a number reserved in 2 is then skipped, never reused.
    public func seal(_ s: NewSubmission) async throws -> SubmissionSummary {
        try database.checkDiskFloor(incoming: s.attachments.reduce(0) { $0 + $1.data.count })
        if let problem = database.keyProblem { throw OutboxError(problem) }
        for a in s.attachments where !Self.validName(a.name) {
            throw OutboxError("attachment name \(a.name) is not allowed")
        }
        let id = UUID().uuidString.lowercased()
        let attachmentsDirectory = database.attachmentsDirectory
        let dir = attachmentsDirectory + "/" + id
        let cipher = self.cipher
        let database = self.database
        let journal = database.sealJournal
        let sealedAt = database.clock.now
        let day = database.clock.dayKey(sealedAt)
        let prefix = casePrefix
        let stationId = self.stationId
        let personal: Data
        let lookup: String
        do {
            personal = try cipher.seal(try JSONEncoder().encode(s.applicant))
            lookup = cipher.lookupToken(IDNumber.normalise(s.applicant.idNumber))
        } catch {
            throw OutboxError("the submission could not be encrypted (\(error)); nothing was submitted, call staff")
        }
        let records: [AttachmentRecord]
        let caseNumber: String
        do {
            let sealed = try await FileSync.run { () throws -> ([AttachmentRecord], String) in
                try journal.begin(id)
                let seq = try database.reserveCaseNumber(day: day)
                let number = prefix + day + String(format: "%04d", seq)
                try DurableFile.makeDirectory(dir)
                var out: [AttachmentRecord] = []
                for a in s.attachments {
                    let file = id + "/" + a.name + ".enc"
                    try DurableFile.writeNew(try cipher.seal(a.data), to: attachmentsDirectory + "/" + file)
                    out.append(
                        AttachmentRecord(
                            submissionId: id, name: a.name, contentType: a.contentType, size: a.data.count,
                            sha256: sha256Hex(a.data), file: file, uploaded: false, uploadURL: nil))
                }
                let manifest = SealedManifest(
                    submissionId: id, caseNumber: number, itemCode: s.itemCode, itemName: s.itemName,
                    stationId: stationId, sealedAt: sealedAt.timeIntervalSince1970, applicant: s.applicant,
                    assistedBy: s.assistedBy, supplementOf: s.supplementOf,
                    attachments: out.map {
                        .init(
                            name: $0.name, contentType: $0.contentType, size: $0.size, sha256: $0.sha256, file: $0.file)
                    })
                // Each file is written in place and fsynced (the folder is new and journalled: no
                // temp file and rename each), then the folder once and its parent once; only after
                // that does the rows' commit make them part of the outbox.
                try DurableFile.writeNew(
                    try cipher.seal(try JSONEncoder().encode(manifest)), to: dir + "/" + SealedManifest.fileName)
                try DurableFile.syncDirectory(dir)
                try DurableFile.syncDirectory(attachmentsDirectory)
                return (out, number)
            }
            records = sealed.0
            caseNumber = sealed.1
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            journal.end(id)
            throw error
        }
        let record = SubmissionRecord(
            id: id, caseNumber: caseNumber, itemCode: s.itemCode, itemName: s.itemName, stationId: stationId,
            sealedAt: sealedAt, state: .sealed, upstreamState: nil, attempts: 0, nextAttemptAt: sealedAt,
            lastError: nil, uploadedAt: nil, idLookup: lookup, personal: personal, assistedBy: s.assistedBy,
            receiptPrintedAt: nil, purgedAt: nil)
        let seq = Int(caseNumber.suffix(4)) ?? 0
        do {
            let summary = try await pool.write { db -> SubmissionSummary in
                let current = try CaseCounterRecord.fetchOne(db, key: day)?.seq ?? 0
                if seq > current { try CaseCounterRecord(day: day, seq: seq).save(db) }
                try record.insert(db)
                for a in records { try a.insert(db) }
                // A 补正 is linked to its case in the same transaction: never sealed without the link
                // (the uploader's manifest names the case it completes).
                if let of = s.supplementOf { try CaseEvents.insertSupplementLink(db, submissionId: id, of: of) }
                return record.summary
            }
            journal.end(id)
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            journal.end(id)
            throw OutboxError(
                "the submission could not be saved (\(error)); nothing was submitted, please try again or call staff")
        }
    }

    public func markReceiptPrinted(id: String) async throws {
        let t = database.clock.now
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, SubmissionRecord.Columns.receiptPrintedAt.set(to: t.timeIntervalSince1970))
        }
    }

    /// A resident's own submissions, found by the keyed digest of their ID number.
    public func submissions(forIDNumber idNumber: String, limit: Int = 20) throws -> [SubmissionSummary] {
        let token = cipher.lookupToken(IDNumber.normalise(idNumber))
        return try pool.read { db in
            try SubmissionRecord.filter(SubmissionRecord.Columns.idLookup == token)
                .order(SubmissionRecord.Columns.sealedAt.desc).limit(limit).fetchAll(db).map(\.summary)
        }
    }

    public func submission(id: String) throws -> SubmissionSummary? {
        try pool.read { db in try SubmissionRecord.fetchOne(db, key: id)?.summary }
    }

    public func allSubmissions() throws -> [SubmissionSummary] {
        try pool.read { db in try SubmissionRecord.order(SubmissionRecord.Columns.sealedAt).fetchAll(db).map(\.summary)
        }
    }

    public func isPurged(id: String) throws -> Bool {
        try pool.read { db in try SubmissionRecord.fetchOne(db, key: id)?.purgedAt != nil }
    }
}
