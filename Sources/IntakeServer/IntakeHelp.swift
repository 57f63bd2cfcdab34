// Help calls on the reference intake (issue 24, point 4): a resident's call for staff and the
// acknowledgement of it, received from kiosks and listed for the township's duty staff.
//
//   POST /v1/stations/{stationId}/help     201/200 MessageReceipt; 400, 401, 403, 409
//   GET  /v1/admin/help[?station=S]        200 HelpCallList (admin)
//
// Both engines keep the events as rows of `help_calls` (id, station, body and its SHA-256, received
// at); an identical repeat is success, a different body under the same id a conflict.

import Foundation
import GRDB
import Hummingbird
import KioskProtocols
import Logging
import PostgresNIO

/// What the help routes need from a store (both engines conform).
public protocol IntakeHelpStorage: Sendable {
    func putHelpCall(_ call: HelpCall) async throws -> MessagePutOutcome
    /// Every help event (of one station, or all), in the order received, with the receive time.
    func helpEvents(stationId: String?) async throws -> [(call: HelpCall, receivedAt: String)]
}

extension IntakeStore: IntakeHelpStorage {
    static func registerHelpMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v6-help-calls") { db in
            try db.execute(
                sql: """
                    CREATE TABLE help_calls (
                        id TEXT PRIMARY KEY NOT NULL, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                        body TEXT NOT NULL, received_at TEXT NOT NULL);
                    CREATE INDEX help_calls_station ON help_calls(station_id, received_at);
                    """)
        }
    }

    public func putHelpCall(_ call: HelpCall) throws -> MessagePutOutcome {
        let canonical = try Self.canonical(call)
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        return try dbPool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT body_sha256, received_at FROM help_calls WHERE id = ?", arguments: [call.helpId])
            {
                let r = MessageReceipt(id: call.helpId, receivedAt: row["received_at"])
                return (row["body_sha256"] as String) == sha ? .identical(r) : .conflict
            }
            try db.execute(
                sql: "INSERT INTO help_calls (id, station_id, body_sha256, body, received_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [call.helpId, call.stationId, sha, String(decoding: canonical, as: UTF8.self), now])
            return .created(MessageReceipt(id: call.helpId, receivedAt: now))
        }
    }

    public func helpEvents(stationId: String?) throws -> [(call: HelpCall, receivedAt: String)] {
        try dbPool.read { db in
            let rows =
                if let stationId {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT body, received_at FROM help_calls WHERE station_id = ? ORDER BY received_at, id",
                        arguments: [stationId])
                } else {
                    try Row.fetchAll(db, sql: "SELECT body, received_at FROM help_calls ORDER BY received_at, id")
                }
            return rows.compactMap { r in
                guard let c = try? JSONDecoder().decode(HelpCall.self, from: Data((r["body"] as String).utf8)) else {
                    return nil
                }
                return (c, r["received_at"] as String)
            }
        }
    }
}

extension PostgresIntakeStore: IntakeHelpStorage {
    static let helpSchema: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS help_calls (
            id TEXT PRIMARY KEY, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, body TEXT NOT NULL,
            received_at TEXT NOT NULL)
        """

    private var helpLogger: Logger { Logger(label: "kiosk-intake.help") }

    public func putHelpCall(_ call: HelpCall) async throws -> MessagePutOutcome {
        let canonical = try IntakeStore.canonical(call)
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        let body = String(decoding: canonical, as: UTF8.self)
        let inserted = try await client.query(
            """
            INSERT INTO help_calls (id, station_id, body_sha256, body, received_at)
            VALUES (\(call.helpId), \(call.stationId), \(sha), \(body), \(now))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: helpLogger
        ).collect()
        if !inserted.isEmpty { return .created(MessageReceipt(id: call.helpId, receivedAt: now)) }
        guard
            let row = try await client.query(
                "SELECT body_sha256, received_at FROM help_calls WHERE id = \(call.helpId)", logger: helpLogger
            ).collect().first
        else { return .conflict }
        let (storedSha, receivedAt) = try row.decode((String, String).self)
        return storedSha == sha ? .identical(MessageReceipt(id: call.helpId, receivedAt: receivedAt)) : .conflict
    }

    public func helpEvents(stationId: String?) async throws -> [(call: HelpCall, receivedAt: String)] {
        let rows =
            if let stationId {
                try await client.query(
                    "SELECT body, received_at FROM help_calls WHERE station_id = \(stationId) ORDER BY received_at, id",
                    logger: helpLogger
                ).collect()
            } else {
                try await client.query(
                    "SELECT body, received_at FROM help_calls ORDER BY received_at, id", logger: helpLogger
                ).collect()
            }
        return rows.compactMap { row in
            guard let pair = try? row.decode((String, String).self),
                let c = try? JSONDecoder().decode(HelpCall.self, from: Data(pair.0.utf8))
            else { return nil }
            return (c, pair.1)
        }
    }
}

struct HelpRoutes: Sendable {
    let store: any IntakeStorage
    let logger: Logger

    var helpStore: any IntakeHelpStorage {
        get throws {
            guard let s = store as? any IntakeHelpStorage else {
                throw IntakeError(.notImplemented, "not-implemented", "This store keeps no help calls.")
            }
            return s
        }
    }

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        router.group("/v1").add(middleware: auth).post("stations/{station}/help") { request, context in
            try await self.help(request, context)
        }
    }

    func registerAdmin(on admin: RouterGroup<IntakeRequestContext>) {
        admin.get("help") { request, _ in
            let station = request.uri.queryParameters.get("station").map { String($0) }
            return jsonResponse(status: .ok, HelpCallList.fold(try await helpStore.helpEvents(stationId: station)))
        }
    }

    func help(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let station = context.parameters.get("station") ?? ""
        var collected = ByteBuffer()
        for try await var part in request.body {
            guard collected.readableBytes + part.readableBytes <= 16 * 1024 else {
                throw IntakeError(.contentTooLarge, "too-large", "A help call is at most 16 KiB.")
            }
            collected.writeBuffer(&part)
        }
        let call: HelpCall
        do { call = try JSONDecoder().decode(HelpCall.self, from: Data(collected.readableBytesView)) } catch {
            throw IntakeError.badRequest(
                "invalid-body", "The body is not a HelpCall (helpId, stationId, event, createdAt …).")
        }
        guard IntakeIdentifier.isValid(call.helpId) else {
            throw IntakeError.badRequest("invalid-id", "helpId must be [A-Za-z0-9._-]{1,64}.")
        }
        guard call.event == HelpCall.requested || call.event == HelpCall.acknowledged else {
            throw IntakeError.badRequest("invalid-body", "event must be \"requested\" or \"acknowledged\".")
        }
        guard call.stationId == station else {
            throw IntakeError.badRequest(
                "id-mismatch", "The help call's stationId \(call.stationId) differs from the URL's \(station).")
        }
        if let own = context.stationId, own != station {
            throw IntakeError(.forbidden, "wrong-station", "This token belongs to station \(own), not \(station).")
        }
        let outcome = try await helpStore.putHelpCall(call)
        logger.notice(
            call.event == HelpCall.requested ? "a resident asked for staff" : "help acknowledged",
            metadata: ["station": "\(station)", "screen": "\(call.screen ?? "")", "staff": "\(call.staffId ?? "")"])
        switch outcome {
        case .created(let r): return jsonResponse(status: .created, r)
        case .identical(let r): return jsonResponse(status: .ok, r)
        case .conflict:
            throw IntakeError(.conflict, "conflict", "A different help call with this id was already received.")
        }
    }
}
