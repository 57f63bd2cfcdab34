import Foundation
import GRDB
import KioskProtocols

/// A message due for sending, decrypted.
public struct PendingMessage: Sendable {
    public var id: String
    public var kind: MessageKind
    public var body: Data  // decrypted JSON
    public var attempts: Int
}

/// An evaluation as recorded (reason decrypted).
public struct StoredEvaluation: Sendable, Equatable {
    public var caseNumber: String
    public var level: Int
    public var reason: String?
    public var createdAt: Date
    public var uploaded: Bool
}

public struct MessageCounts: Sendable, Equatable {
    public var queued: Int
    public var sent: Int
    public var quarantined: Int
}

/// Evaluations (好差评) and station heartbeats: small JSON bodies, encrypted, sent in order
/// through the `message` table.
public struct MessageQueue: Sendable {
    public let database: OutboxDatabase
    let stationId: String

    public init(database: OutboxDatabase, stationId: String) {
        self.database = database
        self.stationId = stationId
    }

    var pool: DatabasePool { database.pool }
    typealias M = MessageRecord.Columns

    /// Records an evaluation and queues it for upload in the same transaction.
    public func recordEvaluation(caseNumber: String, level: Int, reason: String?) async throws {
        guard (1...5).contains(level) else { throw OutboxError("evaluation level must be 1…5") }
        let at = database.clock.now
        let cipher = database.cipher
        let report = EvaluationReport(
            evaluationId: UUID().uuidString.lowercased(), stationId: stationId, caseNumber: caseNumber,
            level: level, reason: reason, createdAt: UploadQueue.isoString(at))
        let body = try cipher.seal(try JSONEncoder().encode(report))
        // A free-text reason may name people: stored encrypted like every personal field.
        let storedReason = try reason.map { "enc:" + (try cipher.seal(Data($0.utf8))).base64EncodedString() }
        try await pool.write { db in
            let e = EvaluationRecord(
                id: nil, caseNumber: caseNumber, level: level, reason: storedReason, createdAt: at, uploaded: false)
            try e.insert(db)
            try MessageRecord(
                id: report.evaluationId, kind: .evaluation, body: body, createdAt: at, state: .queued, attempts: 0,
                nextAttemptAt: at, lastError: nil, sentAt: nil
            ).insert(db)
        }
    }

    /// Every evaluation, oldest first, reasons decrypted.
    public func evaluations() throws -> [StoredEvaluation] {
        let cipher = database.cipher
        return try pool.read { db in
            try EvaluationRecord.order(EvaluationRecord.Columns.id).fetchAll(db).map { e in
                let reason = e.reason.map { r -> String in
                    guard r.hasPrefix("enc:"), let d = Data(base64Encoded: String(r.dropFirst(4))),
                        let p = try? cipher.open(d)
                    else { return r }
                    return String(decoding: p, as: UTF8.self)
                }
                return StoredEvaluation(
                    caseNumber: e.caseNumber, level: e.level, reason: reason, createdAt: e.createdAt,
                    uploaded: e.uploaded)
            }
        }
    }

    /// Queues a heartbeat; an older unsent heartbeat is replaced (only the latest state matters).
    public func queueHeartbeat(_ hb: StationHeartbeat) async throws {
        let at = database.clock.now
        let body = try database.cipher.seal(try JSONEncoder().encode(hb))
        try await pool.write { db in
            try MessageRecord.filter(M.kind == MessageKind.heartbeat && M.state == MessageState.queued).deleteAll(db)
            try MessageRecord(
                id: hb.heartbeatId, kind: .heartbeat, body: body, createdAt: at, state: .queued, attempts: 0,
                nextAttemptAt: at, lastError: nil, sentAt: nil
            ).insert(db)
            // Sent heartbeats are history nobody needs on the kiosk.
            try MessageRecord.filter(M.kind == MessageKind.heartbeat && M.state == MessageState.sent).deleteAll(db)
        }
    }

    /// Messages due now, oldest first. Unreadable ones are quarantined.
    public func dueMessages(limit: Int = 20) async throws -> [PendingMessage] {
        let t = database.clock.now.timeIntervalSince1970
        let records = try await pool.read { db in
            try MessageRecord.filter(M.state == MessageState.queued && M.nextAttemptAt <= t).order(M.createdAt).limit(
                limit
            ).fetchAll(db)
        }
        var out: [PendingMessage] = []
        for r in records {
            do {
                out.append(
                    PendingMessage(id: r.id, kind: r.kind, body: try database.cipher.open(r.body), attempts: r.attempts)
                )
            } catch {
                // Under the key alarm the key is wrong, not the message: leave it for the right key.
                if database.keyProblem != nil { continue }
                try await quarantineMessage(id: r.id, reason: "stored message cannot be read back (\(error))")
            }
        }
        return out
    }

    public func markMessageSent(id: String) async throws {
        let t = database.clock.now.timeIntervalSince1970
        try await pool.write { db in
            try MessageRecord.filter(key: id).updateAll(
                db, M.state.set(to: MessageState.sent), M.sentAt.set(to: t), M.lastError.set(to: nil))
            if let m = try MessageRecord.fetchOne(db, key: id), m.kind == .evaluation,
                let created = try Double.fetchOne(db, MessageRecord.select(M.createdAt).filter(key: id))
            {
                // The evaluation row written in the same transaction as this message (same stored time).
                try EvaluationRecord.filter(
                    EvaluationRecord.Columns.createdAt == created && EvaluationRecord.Columns.uploaded == false
                )
                .updateAll(db, EvaluationRecord.Columns.uploaded.set(to: true))
            }
        }
    }

    public func recordMessageFailure(id: String, error: String, retryAt: Date) async throws {
        _ = try await pool.write { db in
            try MessageRecord.filter(key: id).updateAll(
                db, M.attempts += 1, M.lastError.set(to: error),
                M.nextAttemptAt.set(to: retryAt.timeIntervalSince1970))
        }
    }

    public func quarantineMessage(id: String, reason: String) async throws {
        _ = try await pool.write { db in
            try MessageRecord.filter(key: id).updateAll(
                db, M.state.set(to: MessageState.quarantined), M.lastError.set(to: reason), M.attempts += 1)
        }
    }

    public func messageCounts() throws -> MessageCounts {
        try pool.read { db in
            MessageCounts(
                queued: try MessageRecord.filter(M.state == MessageState.queued).fetchCount(db),
                sent: try MessageRecord.filter(M.state == MessageState.sent).fetchCount(db),
                quarantined: try MessageRecord.filter(M.state == MessageState.quarantined).fetchCount(db))
        }
    }
}
