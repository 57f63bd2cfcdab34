// 差评 follow-up on the reference intake (issue 24, point 5): 核实 / 整改 / 回访 with dates, listed
// for the township and pulled back by each kiosk for its ledger.
//
//   POST /v1/admin/evaluations/{id}/followup   200 EvaluationFollowUp; 400, 404 (admin)
//   GET  /v1/admin/complaints[?station=S]      200 EvaluationFollowUpList (admin)
//   GET  /v1/stations/{stationId}/complaints   200 EvaluationFollowUpList; 401, 403 (station token)

import Foundation
import GRDB
import Hummingbird
import KioskProtocols
import Logging
import PostgresNIO

/// One recorded stage of a follow-up.
public struct FollowUpRecord: Sendable, Equatable {
    public var evaluationId: String
    public var stage: FollowUpStage
    public var note: String?
    public var at: String
}

/// What the follow-up routes need from a store (both engines conform).
public protocol IntakeFollowUpStorage: Sendable {
    /// Records a stage (a repeat of the same stage replaces its note and date).
    func putFollowUp(_ r: FollowUpRecord) async throws
    func followUps() async throws -> [FollowUpRecord]
}

extension IntakeStorage {
    /// Poor ratings (level 1–2) with their follow-up stages, oldest first.
    func complaints(stationId: String?) async throws -> [EvaluationFollowUp] {
        guard let fs = self as? any IntakeFollowUpStorage else { return [] }
        let stages = Dictionary(grouping: try await fs.followUps(), by: \.evaluationId)
        return try await evaluations().filter { $0.level <= 2 && (stationId == nil || $0.stationId == stationId) }.map {
            e in
            var f = EvaluationFollowUp(
                evaluationId: e.evaluationId, stationId: e.stationId, caseNumber: e.caseNumber, level: e.level,
                service: e.service, createdAt: e.createdAt)
            for s in (stages[e.evaluationId] ?? []).sorted(by: { $0.at < $1.at }) {
                switch s.stage {
                case .verified: f.verifiedAt = s.at
                case .rectified: f.rectifiedAt = s.at
                case .revisited: f.revisitedAt = s.at
                }
                if s.note != nil { f.note = s.note }
            }
            return f
        }
    }
}

extension IntakeStore: IntakeFollowUpStorage {
    static func registerFollowUpMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7-evaluation-followups") { db in
            try db.execute(
                sql: """
                    CREATE TABLE evaluation_followups (
                        evaluation_id TEXT NOT NULL, stage TEXT NOT NULL, note TEXT, at TEXT NOT NULL,
                        PRIMARY KEY (evaluation_id, stage));
                    """)
        }
    }

    public func putFollowUp(_ r: FollowUpRecord) throws {
        try dbPool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO evaluation_followups (evaluation_id, stage, note, at) VALUES (?, ?, ?, ?)",
                arguments: [r.evaluationId, r.stage.rawValue, r.note, r.at])
        }
    }

    public func followUps() throws -> [FollowUpRecord] {
        try dbPool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluation_followups ORDER BY at").compactMap { r in
                guard let stage = FollowUpStage(rawValue: r["stage"]) else { return nil }
                return FollowUpRecord(evaluationId: r["evaluation_id"], stage: stage, note: r["note"], at: r["at"])
            }
        }
    }
}

extension PostgresIntakeStore: IntakeFollowUpStorage {
    static let followUpSchema: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS evaluation_followups (
            evaluation_id TEXT NOT NULL, stage TEXT NOT NULL, note TEXT, at TEXT NOT NULL,
            PRIMARY KEY (evaluation_id, stage))
        """

    public func putFollowUp(_ r: FollowUpRecord) async throws {
        _ = try await client.query(
            """
            INSERT INTO evaluation_followups (evaluation_id, stage, note, at)
            VALUES (\(r.evaluationId), \(r.stage.rawValue), \(r.note), \(r.at))
            ON CONFLICT (evaluation_id, stage) DO UPDATE SET note = EXCLUDED.note, at = EXCLUDED.at
            """, logger: Logger(label: "kiosk-intake.followups")
        ).collect()
    }

    public func followUps() async throws -> [FollowUpRecord] {
        try await client.query(
            "SELECT evaluation_id, stage, note, at FROM evaluation_followups ORDER BY at",
            logger: Logger(label: "kiosk-intake.followups")
        ).collect().compactMap { row in
            guard let r = try? row.decode((String, String, String?, String).self),
                let s = FollowUpStage(rawValue: r.1)
            else { return nil }
            return FollowUpRecord(evaluationId: r.0, stage: s, note: r.2, at: r.3)
        }
    }
}

struct FollowUpRoutes: Sendable {
    let store: any IntakeStorage
    let logger: Logger

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        router.group("/v1").add(middleware: auth).get("stations/{station}/complaints") { request, context in
            let station = context.parameters.get("station") ?? ""
            if let own = context.stationId, own != station {
                throw IntakeError(.forbidden, "wrong-station", "This token belongs to station \(own), not \(station).")
            }
            return jsonResponse(
                status: .ok, EvaluationFollowUpList(evaluations: try await store.complaints(stationId: station)))
        }
    }

    func registerAdmin(on admin: RouterGroup<IntakeRequestContext>) {
        admin.get("complaints") { request, _ in
            let station = request.uri.queryParameters.get("station").map { String($0) }
            return jsonResponse(
                status: .ok, EvaluationFollowUpList(evaluations: try await store.complaints(stationId: station)))
        }
        admin.post("evaluations/{id}/followup") { request, context in
            let id = context.parameters.get("id") ?? ""
            var collected = ByteBuffer()
            for try await var part in request.body {
                guard collected.readableBytes + part.readableBytes <= 16 * 1024 else {
                    throw IntakeError(.contentTooLarge, "too-large", "A follow-up is at most 16 KiB.")
                }
                collected.writeBuffer(&part)
            }
            let change: FollowUpChange
            do { change = try JSONDecoder().decode(FollowUpChange.self, from: Data(collected.readableBytesView)) } catch
            {
                throw IntakeError.badRequest(
                    "invalid-body", #"Send JSON {"stage": "verified" | "rectified" | "revisited", "note": "optional"}."#
                )
            }
            guard let fs = store as? any IntakeFollowUpStorage,
                try await store.evaluations().contains(where: { $0.evaluationId == id && $0.level <= 2 })
            else { throw IntakeError.notFound("No poor rating (level 1–2) with id \(id) is stored.") }
            try await fs.putFollowUp(
                FollowUpRecord(evaluationId: id, stage: change.stage, note: change.note, at: IntakeClock.timestamp()))
            logger.info("complaint follow-up", metadata: ["evaluation": "\(id)", "stage": "\(change.stage.rawValue)"])
            guard let f = try await store.complaints(stationId: nil).first(where: { $0.evaluationId == id }) else {
                throw IntakeError.notFound("No poor rating with id \(id).")
            }
            return jsonResponse(status: .ok, f)
        }
    }
}
