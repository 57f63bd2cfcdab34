import Foundation
import GRDB
import KioskProtocols

// What happened to a case after the kiosk sealed it (issue 24, points 1 and 2): each upstream state
// the kiosk learned, when, and the upstream's note (补正: what is missing; a refusal: why), kept
// encrypted; and which case a 补正 submission completes.

/// One step of a case as the kiosk learned it.
public struct CaseEvent: Sendable, Equatable {
    /// An upstream state's raw value, or `sent` (the upstream took the manifest).
    public var state: String
    public var at: Date
    public var note: String?
    public init(state: String, at: Date, note: String?) {
        self.state = state
        self.at = at
        self.note = note
    }
}

/// A case with everything the resident's progress screen shows about it.
public struct CaseDetail: Sendable, Equatable {
    public var summary: SubmissionSummary
    public var events: [CaseEvent]
    public var uploadedAt: Date?
    public var certificate: CertificateRecord?
    /// The case number this 补正 submission completes (nil: a new application).
    public var supplementOf: String?
    public init(
        summary: SubmissionSummary, events: [CaseEvent], uploadedAt: Date?, certificate: CertificateRecord?,
        supplementOf: String?
    ) {
        self.summary = summary
        self.events = events
        self.uploadedAt = uploadedAt
        self.certificate = certificate
        self.supplementOf = supplementOf
    }

    /// The upstream's latest note (补正 materials, reason for refusal …), if any.
    public var latestNote: String? { events.last(where: { $0.note != nil })?.note }
}

extension OutboxSchema {
    static func registerCaseEventMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6-case-events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE case_event (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      submission_id TEXT NOT NULL REFERENCES submission(id) ON DELETE CASCADE,
                      state TEXT NOT NULL,
                      at REAL NOT NULL,
                      note TEXT
                    );
                    CREATE INDEX case_event_submission ON case_event(submission_id, at);
                    CREATE TABLE supplement (
                      submission_id TEXT PRIMARY KEY NOT NULL REFERENCES submission(id) ON DELETE CASCADE,
                      of_submission TEXT NOT NULL
                    );
                    """)
        }
    }
}

/// The case history store (over the outbox database).
public struct CaseEvents: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }

    var pool: DatabasePool { database.pool }

    /// Records a step; a step identical to the last one of the case (state and note) is not repeated.
    public func record(submissionId: String, state: String, at: Date, note: String?) async throws {
        let cipher = database.cipher
        let stored = try note.map { "enc:" + (try cipher.seal(Data($0.utf8))).base64EncodedString() }
        let last = try events(submissionId: submissionId).last
        if let last, last.state == state, last.note == note { return }
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO case_event (submission_id, state, at, note) VALUES (?, ?, ?, ?)",
                arguments: [submissionId, state, at.timeIntervalSince1970, stored])
        }
    }

    /// The steps of a case, oldest first, notes decrypted.
    public func events(submissionId: String) throws -> [CaseEvent] {
        let cipher = database.cipher
        return try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT state, at, note FROM case_event WHERE submission_id = ? ORDER BY at, id",
                arguments: [submissionId]
            ).map { r in
                let note = (r["note"] as String?).map { n -> String in
                    guard n.hasPrefix("enc:"), let d = Data(base64Encoded: String(n.dropFirst(4))),
                        let p = try? cipher.open(d)
                    else { return n }
                    return String(decoding: p, as: UTF8.self)
                }
                return CaseEvent(state: r["state"], at: Date(timeIntervalSince1970: r["at"]), note: note)
            }
        }
    }

    /// Marks a submission as the 补正 of another, inside the transaction that seals (or rebuilds) it
    /// (`NewSubmission.supplementOf`), so the uploader never sees it without the link.
    static func insertSupplementLink(_ db: Database, submissionId: String, of original: String) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO supplement (submission_id, of_submission) VALUES (?, ?)",
            arguments: [submissionId, original])
    }

    /// The submission id a 补正 submission completes.
    public func supplementOf(submissionId: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT of_submission FROM supplement WHERE submission_id = ?", arguments: [submissionId])
        }
    }

    /// Everything the progress screen shows about one case.
    public func detail(submissionId: String, certificates: CertificateStore) throws -> CaseDetail? {
        let row = try pool.read { db in
            try SubmissionRecord.fetchOne(db, key: submissionId)
        }
        guard let row else { return nil }
        let of = try supplementOf(submissionId: submissionId)
        let ofCase = try of.flatMap { id in
            try pool.read { db in try SubmissionRecord.fetchOne(db, key: id)?.caseNumber }
        }
        return CaseDetail(
            summary: row.summary, events: try events(submissionId: submissionId), uploadedAt: row.uploadedAt,
            certificate: try certificates.certificateRecord(submissionId: submissionId), supplementOf: ofCase)
    }

    /// Notes and states of cases that have one: the latest note per submission (for listings).
    public func latestNotes(submissionIds: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for id in submissionIds {
            if let n = try events(submissionId: id).last(where: { $0.note != nil })?.note { out[id] = n }
        }
        return out
    }
}

extension CaseEvents {
    /// Retention for what issue 24 keeps: the upstream's notes of purged cases, the collector's
    /// masked name of their hand-over, and sent notification requests (they hold a phone number)
    /// older than `days`. States, dates and counts stay for the ledger.
    @discardableResult
    public func purgePersonal(olderThanDays days: Double) async throws -> Int {
        let cutoff = database.clock.now.addingTimeInterval(-days * 86_400).timeIntervalSince1970
        return try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE case_event SET note = NULL WHERE note IS NOT NULL
                      AND submission_id IN (SELECT id FROM submission WHERE purged_at IS NOT NULL)
                    """)
            var n = db.changesCount
            try db.execute(
                sql: """
                    UPDATE certificate_handover SET collector_name = '' WHERE collector_name != ''
                      AND submission_id IN (SELECT id FROM submission WHERE purged_at IS NOT NULL)
                    """)
            n += db.changesCount
            try db.execute(
                sql: "DELETE FROM message WHERE kind = 'notification' AND state = 'sent' AND created_at <= ?",
                arguments: [cutoff])
            return n + db.changesCount
        }
    }
}

extension OutboxStores {
    /// Case histories (upstream steps and notes, 补正 links).
    public var caseEvents: CaseEvents { CaseEvents(database: database) }
}
