import Foundation
import GRDB
import KioskProtocols
import Logging
import NIOHTTP1

// 好差评 for every service (issue 24, point 5): ratings of progress queries, pick-up and guides
// travel like ratings of applications; the township's 核实 / 整改 / 回访 of each 差评 comes back
// from the upstream and is kept here for the ledger.

/// A 差评's follow-up as the kiosk last heard it from the upstream.
public struct StoredFollowUp: Sendable, Equatable {
    public var evaluationId: String
    public var level: Int
    public var verifiedAt: String?
    public var rectifiedAt: String?
    public var revisitedAt: String?
}

extension MessageQueue {
    /// Records a rating of any service (service: apply, progress, pickup, guide) and queues it.
    public func recordServiceEvaluation(
        service: String, caseNumber: String?, itemCode: String?, level: Int, reason: String?
    ) async throws {
        guard (1...5).contains(level) else { throw OutboxError("evaluation level must be 1…5") }
        let at = database.clock.now
        let cipher = database.cipher
        let report = EvaluationReport(
            evaluationId: UUID().uuidString.lowercased(), stationId: stationId, caseNumber: caseNumber ?? "",
            level: level, reason: reason, createdAt: UploadQueue.isoString(at), service: service, itemCode: itemCode)
        let body = try cipher.seal(try JSONEncoder().encode(report))
        let storedReason = try reason.map { "enc:" + (try cipher.seal(Data($0.utf8))).base64EncodedString() }
        try await pool.write { db in
            try EvaluationRecord(
                id: nil, caseNumber: caseNumber ?? "", level: level, reason: storedReason, createdAt: at,
                uploaded: false
            ).insert(db)
            try db.execute(
                sql: "INSERT INTO evaluation_service (evaluation_id, service, created_at) VALUES (?, ?, ?)",
                arguments: [report.evaluationId, service, at.timeIntervalSince1970])
            try MessageRecord(
                id: report.evaluationId, kind: .evaluation, body: body, createdAt: at, state: .queued, attempts: 0,
                nextAttemptAt: at, lastError: nil, sentAt: nil
            ).insert(db)
        }
    }

    /// Replaces the kiosk's copy of its 差评 follow-ups with what the upstream reported.
    public func storeFollowUps(_ list: [EvaluationFollowUp]) async throws {
        try await pool.write { db in
            for f in list {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO evaluation_followup (evaluation_id, level, verified_at, rectified_at, revisited_at)
                        VALUES (?, ?, ?, ?, ?)
                        """, arguments: [f.evaluationId, f.level, f.verifiedAt, f.rectifiedAt, f.revisitedAt])
            }
        }
    }

    public func followUps() throws -> [StoredFollowUp] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluation_followup ORDER BY evaluation_id").map {
                StoredFollowUp(
                    evaluationId: $0["evaluation_id"], level: $0["level"], verifiedAt: $0["verified_at"],
                    rectifiedAt: $0["rectified_at"], revisitedAt: $0["revisited_at"])
            }
        }
    }
}

extension OutboxSchema {
    static func registerServiceEvaluationMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7-service-evaluations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE evaluation_service (
                      evaluation_id TEXT PRIMARY KEY NOT NULL,
                      service TEXT NOT NULL,
                      created_at REAL NOT NULL
                    );
                    CREATE TABLE evaluation_followup (
                      evaluation_id TEXT PRIMARY KEY NOT NULL,
                      level INTEGER NOT NULL,
                      verified_at TEXT,
                      rectified_at TEXT,
                      revisited_at TEXT
                    );
                    """)
        }
    }
}

extension IntakeClient {
    /// GET /v1/stations/{id}/complaints: this station's 差评 with their follow-up stages.
    public func complaints(stationId: String) async throws(UploadFailure) -> [EvaluationFollowUp] {
        let r = try await request(.GET, "/v1/stations/\(stationId)/complaints")
        guard r.status == 200 else { throw failure(r, what: "complaints") }
        return try decode(EvaluationFollowUpList.self, r, what: "complaints").evaluations
    }
}

extension Uploader {
    /// Pulls the follow-up states of this station's 差评 (with the status sync).
    public func syncFollowUps() async {
        do {
            let list = try await client.complaints(stationId: config.stationId)
            try await messages.storeFollowUps(list)
        } catch {
            logger.debug("complaint follow-ups not pulled", metadata: ["error": "\(error)"])
        }
    }
}
