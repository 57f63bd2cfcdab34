// Notification requests on the reference intake (issue 24, point 3): recorded and listed. The
// reference intake sends no SMS itself; `serve --sms` says a back office sends from this list,
// and the capabilities reply tells the kiosks which of the two is true.
//
//   GET  /v1/notifications/capabilities           200 NotificationCapabilities
//   POST /v1/stations/{stationId}/notifications   201/200 MessageReceipt; 400, 401, 403, 409
//   GET  /v1/admin/notifications[?station=S]      200 NotificationRequestList (admin)

import Foundation
import GRDB
import Hummingbird
import KioskProtocols
import Logging
import PostgresNIO

public protocol IntakeNotificationStorage: Sendable {
    func putNotificationRequest(_ r: NotificationRequest) async throws -> MessagePutOutcome
    func notificationRequests(stationId: String?) async throws -> [NotificationRequest]
}

extension IntakeStore: IntakeNotificationStorage {
    static func registerNotificationMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8-notification-requests") { db in
            try db.execute(
                sql: """
                    CREATE TABLE notification_requests (
                        id TEXT PRIMARY KEY NOT NULL, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                        body TEXT NOT NULL, received_at TEXT NOT NULL);
                    """)
        }
    }

    public func putNotificationRequest(_ r: NotificationRequest) throws -> MessagePutOutcome {
        let canonical = try Self.canonical(r)
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        return try dbPool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT body_sha256, received_at FROM notification_requests WHERE id = ?",
                arguments: [r.notificationId])
            {
                let receipt = MessageReceipt(id: r.notificationId, receivedAt: row["received_at"])
                return (row["body_sha256"] as String) == sha ? .identical(receipt) : .conflict
            }
            try db.execute(
                sql:
                    "INSERT INTO notification_requests (id, station_id, body_sha256, body, received_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [r.notificationId, r.stationId, sha, String(decoding: canonical, as: UTF8.self), now])
            return .created(MessageReceipt(id: r.notificationId, receivedAt: now))
        }
    }

    public func notificationRequests(stationId: String?) throws -> [NotificationRequest] {
        try dbPool.read { db in
            let bodies =
                if let stationId {
                    try String.fetchAll(
                        db, sql: "SELECT body FROM notification_requests WHERE station_id = ? ORDER BY received_at, id",
                        arguments: [stationId])
                } else {
                    try String.fetchAll(db, sql: "SELECT body FROM notification_requests ORDER BY received_at, id")
                }
            return bodies.compactMap { try? JSONDecoder().decode(NotificationRequest.self, from: Data($0.utf8)) }
        }
    }
}

extension PostgresIntakeStore: IntakeNotificationStorage {
    static let notificationSchema: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS notification_requests (
            id TEXT PRIMARY KEY, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, body TEXT NOT NULL,
            received_at TEXT NOT NULL)
        """

    public func putNotificationRequest(_ r: NotificationRequest) async throws -> MessagePutOutcome {
        let log = Logger(label: "kiosk-intake.notifications")
        let canonical = try IntakeStore.canonical(r)
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        let body = String(decoding: canonical, as: UTF8.self)
        let inserted = try await client.query(
            """
            INSERT INTO notification_requests (id, station_id, body_sha256, body, received_at)
            VALUES (\(r.notificationId), \(r.stationId), \(sha), \(body), \(now))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: log
        ).collect()
        if !inserted.isEmpty { return .created(MessageReceipt(id: r.notificationId, receivedAt: now)) }
        guard
            let row = try await client.query(
                "SELECT body_sha256, received_at FROM notification_requests WHERE id = \(r.notificationId)", logger: log
            ).collect().first
        else { return .conflict }
        let (storedSha, receivedAt) = try row.decode((String, String).self)
        return storedSha == sha ? .identical(MessageReceipt(id: r.notificationId, receivedAt: receivedAt)) : .conflict
    }

    public func notificationRequests(stationId: String?) async throws -> [NotificationRequest] {
        let log = Logger(label: "kiosk-intake.notifications")
        let rows =
            if let stationId {
                try await client.query(
                    "SELECT body FROM notification_requests WHERE station_id = \(stationId) ORDER BY received_at, id",
                    logger: log
                ).collect()
            } else {
                try await client.query("SELECT body FROM notification_requests ORDER BY received_at, id", logger: log)
                    .collect()
            }
        return rows.compactMap { row in
            guard let body = try? row.decode(String.self) else { return nil }
            return try? JSONDecoder().decode(NotificationRequest.self, from: Data(body.utf8))
        }
    }
}

struct NotificationRoutes: Sendable {
    let store: any IntakeStorage
    let sms: Bool
    let logger: Logger

    var capabilities: NotificationCapabilities {
        NotificationCapabilities(sms: sms, events: sms ? NotificationEvents.all : [])
    }

    var notificationStore: any IntakeNotificationStorage {
        get throws {
            guard let s = store as? any IntakeNotificationStorage else {
                throw IntakeError(.notImplemented, "not-implemented", "This store keeps no notification requests.")
            }
            return s
        }
    }

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        let g = router.group("/v1").add(middleware: auth)
        g.get("notifications/capabilities") { _, _ in jsonResponse(status: .ok, self.capabilities) }
        g.post("stations/{station}/notifications") { request, context in try await self.post(request, context) }
    }

    func registerAdmin(on admin: RouterGroup<IntakeRequestContext>) {
        admin.get("notifications") { request, _ in
            let station = request.uri.queryParameters.get("station").map { String($0) }
            return jsonResponse(
                status: .ok,
                NotificationRequestList(
                    requests: try await notificationStore.notificationRequests(stationId: station), sms: sms))
        }
    }

    func post(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let station = context.parameters.get("station") ?? ""
        var collected = ByteBuffer()
        for try await var part in request.body {
            guard collected.readableBytes + part.readableBytes <= 16 * 1024 else {
                throw IntakeError(.contentTooLarge, "too-large", "A notification request is at most 16 KiB.")
            }
            collected.writeBuffer(&part)
        }
        let r: NotificationRequest
        do { r = try JSONDecoder().decode(NotificationRequest.self, from: Data(collected.readableBytesView)) } catch {
            throw IntakeError.badRequest(
                "invalid-body", "The body is not a NotificationRequest (notificationId, caseNumber, events, phone …).")
        }
        guard IntakeIdentifier.isValid(r.notificationId) else {
            throw IntakeError.badRequest("invalid-id", "notificationId must be [A-Za-z0-9._-]{1,64}.")
        }
        guard r.stationId == station else {
            throw IntakeError.badRequest(
                "id-mismatch", "The request's stationId \(r.stationId) differs from the URL's \(station).")
        }
        if let own = context.stationId, own != station {
            throw IntakeError(.forbidden, "wrong-station", "This token belongs to station \(own), not \(station).")
        }
        guard r.phone.count == 11, r.phone.allSatisfy(\.isASCII), r.phone.allSatisfy(\.isNumber) else {
            throw IntakeError.badRequest("invalid-body", "phone must be an 11-digit mobile number.")
        }
        let outcome = try await notificationStore.putNotificationRequest(r)
        // Never the phone number in the log.
        logger.info("notification request", metadata: ["case": "\(r.caseNumber)", "events": "\(r.events.count)"])
        switch outcome {
        case .created(let receipt): return jsonResponse(status: .created, receipt)
        case .identical(let receipt): return jsonResponse(status: .ok, receipt)
        case .conflict:
            throw IntakeError(
                .conflict, "conflict", "A different notification request with this id was already received.")
        }
    }
}
