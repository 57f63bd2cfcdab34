import Foundation
import GRDB
import KioskProtocols

// GRDB record types, one per table of the outbox database. Columns come from `CodingKeys`
// (typed `Columns`); dates are stored as seconds since 1970 (REAL), as the schema always has.

/// A record of the outbox database: dates as REAL seconds since 1970.
protocol OutboxRecord: Codable, FetchableRecord, PersistableRecord {}

extension OutboxRecord {
    static func databaseDateEncodingStrategy(for column: String) -> DatabaseDateEncodingStrategy {
        .timeIntervalSince1970
    }
    static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy {
        .timeIntervalSince1970
    }
}

/// Local state of a submission in the outbox.
public enum OutboxState: String, Codable, Sendable {
    case sealed  // committed locally, waiting for upload
    case uploaded  // the upstream acknowledged it
    case quarantined  // permanently rejected: kept aside, reported
}

/// Row of `submission`: one sealed submission; `personal` is the encrypted applicant.
struct SubmissionRecord: OutboxRecord, Sendable {
    static let databaseTableName = "submission"
    var id: String
    var caseNumber: String
    var itemCode: String
    var itemName: String
    var stationId: String
    var sealedAt: Date
    var state: OutboxState
    /// The upstream's word, kept as text: a state this build does not know is shown as unknown, never lost.
    var upstreamState: String?
    var attempts: Int
    var nextAttemptAt: Date
    var lastError: String?
    var uploadedAt: Date?
    var idLookup: String
    var personal: Data
    var assistedBy: String?
    var receiptPrintedAt: Date?
    var purgedAt: Date?
    /// QuarantineCause raw value (migration v5); nil for rows of older versions.
    var quarantineCause: String? = nil

    enum CodingKeys: String, CodingKey {
        case id, caseNumber = "case_number", itemCode = "item_code", itemName = "item_name", stationId = "station_id"
        case sealedAt = "sealed_at", state, upstreamState = "upstream_state", attempts, nextAttemptAt =
            "next_attempt_at"
        case lastError = "last_error", uploadedAt = "uploaded_at", idLookup = "id_lookup", personal, assistedBy =
            "assisted_by"
        case receiptPrintedAt = "receipt_printed_at", purgedAt = "purged_at", quarantineCause = "quarantine_cause"
    }
    enum Columns {
        static let id = Column(CodingKeys.id)
        static let caseNumber = Column(CodingKeys.caseNumber)
        static let itemCode = Column(CodingKeys.itemCode)
        static let sealedAt = Column(CodingKeys.sealedAt)
        static let state = Column(CodingKeys.state)
        static let upstreamState = Column(CodingKeys.upstreamState)
        static let attempts = Column(CodingKeys.attempts)
        static let nextAttemptAt = Column(CodingKeys.nextAttemptAt)
        static let lastError = Column(CodingKeys.lastError)
        static let uploadedAt = Column(CodingKeys.uploadedAt)
        static let idLookup = Column(CodingKeys.idLookup)
        static let personal = Column(CodingKeys.personal)
        static let receiptPrintedAt = Column(CodingKeys.receiptPrintedAt)
        static let purgedAt = Column(CodingKeys.purgedAt)
        static let assistedBy = Column(CodingKeys.assistedBy)
        static let quarantineCause = Column(CodingKeys.quarantineCause)
    }

    /// Inserts the row through one cached statement, the same values as the Codable `insert`
    /// (dates as seconds since 1970): the seal's row, on the seal's critical path.
    func insertSealed(_ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO submission (id, case_number, item_code, item_name, station_id, sealed_at, state, \
                upstream_state, attempts, next_attempt_at, last_error, uploaded_at, id_lookup, personal, assisted_by, \
                receipt_printed_at, purged_at, quarantine_cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        try statement.execute(arguments: [
            id, caseNumber, itemCode, itemName, stationId, sealedAt.timeIntervalSince1970, state.rawValue,
            upstreamState, attempts, nextAttemptAt.timeIntervalSince1970, lastError, uploadedAt?.timeIntervalSince1970,
            idLookup, personal, assistedBy, receiptPrintedAt?.timeIntervalSince1970, purgedAt?.timeIntervalSince1970,
            quarantineCause,
        ])
    }

    var summary: SubmissionSummary {
        SubmissionSummary(
            id: id, caseNumber: caseNumber, itemCode: itemCode, itemName: itemName, sealedAt: sealedAt, state: state,
            upstreamState: upstreamState.flatMap(UpstreamState.init(rawValue:)), attempts: attempts,
            lastError: lastError)
    }
}

/// Row of `attachment`: an encrypted file of a submission and its upload progress.
struct AttachmentRecord: OutboxRecord, Sendable {
    static let databaseTableName = "attachment"
    var submissionId: String
    var name: String
    var contentType: String
    var size: Int
    var sha256: String
    /// Path of the encrypted file, relative to the attachments folder.
    var file: String
    var uploaded: Bool
    var uploadURL: String?

    enum CodingKeys: String, CodingKey {
        case submissionId = "submission_id", name, contentType = "content_type", size, sha256, file, uploaded,
            uploadURL = "upload_url"
    }
    enum Columns {
        static let submissionId = Column(CodingKeys.submissionId)
        static let name = Column(CodingKeys.name)
        static let uploaded = Column(CodingKeys.uploaded)
        static let uploadURL = Column(CodingKeys.uploadURL)
    }
}

/// Row of `case_counter`: the last case number issued on a day (yyyyMMdd in the station's time zone).
struct CaseCounterRecord: OutboxRecord, Sendable {
    static let databaseTableName = "case_counter"
    var day: String
    var seq: Int
}

/// Row of `evaluation` (好差评). `reason` is `enc:` + base64 of the encrypted text.
struct EvaluationRecord: OutboxRecord, Sendable {
    static let databaseTableName = "evaluation"
    var id: Int64?
    var caseNumber: String
    var level: Int
    var reason: String?
    var createdAt: Date
    var uploaded: Bool

    enum CodingKeys: String, CodingKey {
        case id, caseNumber = "case_number", level, reason, createdAt = "created_at", uploaded
    }
    enum Columns {
        static let id = Column(CodingKeys.id)
        static let level = Column(CodingKeys.level)
        static let createdAt = Column(CodingKeys.createdAt)
        static let uploaded = Column(CodingKeys.uploaded)
    }
}

/// What travels through the message queue.
public enum MessageKind: String, Codable, Sendable { case evaluation, heartbeat, help, notification }
public enum MessageState: String, Codable, Sendable { case queued, sent, quarantined }

/// Row of `message`: an encrypted JSON body for the upstream (evaluation or heartbeat).
struct MessageRecord: OutboxRecord, Sendable {
    static let databaseTableName = "message"
    var id: String
    var kind: MessageKind
    var body: Data
    var createdAt: Date
    var state: MessageState
    var attempts: Int
    var nextAttemptAt: Date
    var lastError: String?
    var sentAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, kind, body, createdAt = "created_at", state, attempts, nextAttemptAt = "next_attempt_at", lastError =
            "last_error", sentAt = "sent_at"
    }
    enum Columns {
        static let id = Column(CodingKeys.id)
        static let kind = Column(CodingKeys.kind)
        static let createdAt = Column(CodingKeys.createdAt)
        static let state = Column(CodingKeys.state)
        static let attempts = Column(CodingKeys.attempts)
        static let nextAttemptAt = Column(CodingKeys.nextAttemptAt)
        static let lastError = Column(CodingKeys.lastError)
        static let sentAt = Column(CodingKeys.sentAt)
    }
}

/// Row of `certificate`: a certificate (证照) the upstream announced, its encrypted file, prints and hand-over.
struct CertificateFileRecord: OutboxRecord, Sendable {
    static let databaseTableName = "certificate"
    var submissionId: String
    var ref: String
    var contentType: String
    var size: Int
    var sha256: String
    var file: String?
    var downloadedAt: Date?
    var printedAt: Date?
    var lastError: String?
    var printCount: Int
    var firstPrintedAt: Date?
    var printedBy: CertificateActor?
    var collectedAt: Date?
    var collectedBy: CertificateActor?
    var collector: CertificateCollector?
    var readyAt: Date?

    enum CodingKeys: String, CodingKey {
        case submissionId = "submission_id", ref, contentType = "content_type", size, sha256, file, downloadedAt =
            "downloaded_at"
        case printedAt = "printed_at", lastError = "last_error", printCount = "print_count", firstPrintedAt =
            "first_printed_at"
        case printedBy = "printed_by", collectedAt = "collected_at", collectedBy = "collected_by", collector, readyAt =
            "ready_at"
    }
    enum Columns {
        static let submissionId = Column(CodingKeys.submissionId)
        static let file = Column(CodingKeys.file)
        static let downloadedAt = Column(CodingKeys.downloadedAt)
        static let printCount = Column(CodingKeys.printCount)
        static let collectedAt = Column(CodingKeys.collectedAt)
        static let readyAt = Column(CodingKeys.readyAt)
        static let lastError = Column(CodingKeys.lastError)
    }
    var ref_: CertificateRef { CertificateRef(ref: ref, contentType: contentType, size: size, sha256: sha256) }
}

/// Row of `staff`. The `failures` / `locked_until` columns of schema v3 are no longer used: the
/// PIN gate keeps its counters in `pin_lockout` (migration v4 moved them there).
struct StaffRecord: OutboxRecord, Sendable {
    static let databaseTableName = "staff"
    var staffId: String
    var displayName: String
    var role: StaffRole
    var idDigest: String
    var pinHash: String
    var active: Bool
    var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case staffId = "staff_id", displayName = "display_name", role, idDigest = "id_digest", pinHash = "pin_hash",
            active, createdAt = "created_at"
    }
    enum Columns {
        static let staffId = Column(CodingKeys.staffId)
        static let idDigest = Column(CodingKeys.idDigest)
        static let active = Column(CodingKeys.active)
    }
}

/// Row of `audit`: one hash-chained entry. `at` stays a Double: the chain hashes it as written.
struct AuditRecord: OutboxRecord, Sendable {
    static let databaseTableName = "audit"
    var id: Int64?
    var at: Double
    var actor: String
    var action: String
    var subject: String?
    var detail: String?
    var chain: String

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let at = Column(CodingKeys.at)
        static let action = Column(CodingKeys.action)
        static let chain = Column(CodingKeys.chain)
    }
}

/// Row of `device_event`: a device's state whenever it changed.
struct DeviceEventRecord: OutboxRecord, Sendable {
    static let databaseTableName = "device_event"
    var id: Int64?
    var kind: String
    var state: String
    var usable: Bool
    var at: Date

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let kind = Column(CodingKeys.kind)
        static let usable = Column(CodingKeys.usable)
        static let at = Column(CodingKeys.at)
    }
}

/// Row of `kiosk_setting`: a named value (the out-of-service notice).
struct SettingRecord: OutboxRecord, Sendable {
    static let databaseTableName = "kiosk_setting"
    var key: String
    var value: String
    var updatedAt: Date
    enum CodingKeys: String, CodingKey { case key, value, updatedAt = "updated_at" }
}

/// Row of `pin_lockout` (migration v4): wrong PINs in a row and the lockout, per role and subject.
struct PINLockoutRecord: OutboxRecord, Sendable {
    static let databaseTableName = "pin_lockout"
    var role: PINRole
    var subject: String
    var failures: Int
    var lockedUntil: Date?
    enum CodingKeys: String, CodingKey { case role, subject, failures, lockedUntil = "locked_until" }
    enum Columns {
        static let role = Column(CodingKeys.role)
        static let subject = Column(CodingKeys.subject)
    }
}
