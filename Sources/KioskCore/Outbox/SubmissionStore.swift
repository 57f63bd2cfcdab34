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
    public init(
        itemCode: String, itemName: String, applicant: ApplicantData, attachments: [NewAttachment],
        assistedBy: String? = nil
    ) {
        self.itemCode = itemCode
        self.itemName = itemName
        self.applicant = applicant
        self.attachments = attachments
        self.assistedBy = assistedBy
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
}

/// A quarantined submission as staff and technicians see it: never personal data.
public struct QuarantinedSubmission: Sendable, Equatable {
    public var caseNumber: String
    public var itemCode: String
    public var reason: String
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

    /// Seals a submission: attachment files written and fsynced (on `FileSync`'s queue), then rows
    /// committed in one transaction (on GRDB's writer queue). Only after this returns may a receipt be printed.
    public func seal(_ s: NewSubmission) async throws -> SubmissionSummary {
        try database.checkDiskFloor(incoming: s.attachments.reduce(0) { $0 + $1.data.count })
        for a in s.attachments where !Self.validName(a.name) {
            throw OutboxError("attachment name \(a.name) is not allowed")
        }
        let id = UUID().uuidString.lowercased()
        let attachmentsDirectory = database.attachmentsDirectory
        let dir = attachmentsDirectory + "/" + id
        let cipher = self.cipher
        let records: [AttachmentRecord]
        let personal: Data
        do {
            records = try await FileSync.run {
                // Durable with the fewest fsyncs, by order: the files go straight into a new
                // directory no row names yet (no temp file and rename each), each is fsynced, then
                // that directory once and its parent once; only after that does the row's commit
                // (synchronous=FULL: the WAL's fsync) make them part of the outbox. A power cut
                // before the commit leaves a directory no row names, removed at the next start
                // (removeOrphanAttachments); after it, every byte the row refers to is on disk.
                // No attachments: no directory, and the commit is the seal's only fsync.
                guard !s.attachments.isEmpty else { return [] }
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
                try DurableFile.syncDirectory(dir)
                try DurableFile.syncDirectory(attachmentsDirectory)
                return out
            }
            personal = try cipher.seal(try JSONEncoder().encode(s.applicant))
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        let lookup = cipher.lookupToken(IDNumber.normalise(s.applicant.idNumber))
        let sealedAt = database.clock.now
        let day = database.clock.dayKey(sealedAt)
        let record0 = SubmissionRecord(
            id: id, caseNumber: "", itemCode: s.itemCode, itemName: s.itemName, stationId: stationId,
            sealedAt: sealedAt, state: .sealed, upstreamState: nil, attempts: 0, nextAttemptAt: sealedAt,
            lastError: nil, uploadedAt: nil, idLookup: lookup, personal: personal, assistedBy: s.assistedBy,
            receiptPrintedAt: nil, purgedAt: nil)
        let prefix = casePrefix
        do {
            return try await pool.write { db -> SubmissionSummary in
                var counter = try CaseCounterRecord.fetchOne(db, key: day) ?? CaseCounterRecord(day: day, seq: 0)
                counter.seq += 1
                try counter.save(db)
                var record = record0
                record.caseNumber = prefix + day + String(format: "%04d", counter.seq)
                try record.insert(db)
                for a in records { try a.insert(db) }
                return record.summary
            }
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
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
