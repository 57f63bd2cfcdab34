import Foundation
import GRDB
import KioskProtocols
import NIOHTTP1

// Progress notifications (issue 24, point 3): the kiosk asks the upstream what it sends, and
// queues a request (case, events, phone) only when the upstream confirmed it sends SMS. The phone
// number travels encrypted in the outbox like every personal field.

extension MessageQueue {
    @discardableResult
    public func queueNotificationRequest(submissionId: String, caseNumber: String, events: [String], phone: String)
        async throws -> String
    {
        let at = database.clock.now
        let r = NotificationRequest(
            notificationId: UUID().uuidString.lowercased(), stationId: stationId, submissionId: submissionId,
            caseNumber: caseNumber, events: events, phone: phone, createdAt: UploadQueue.isoString(at))
        let body = try database.cipher.seal(try JSONEncoder().encode(r))
        try await pool.write { db in
            try MessageRecord(
                id: r.notificationId, kind: .notification, body: body, createdAt: at, state: .queued, attempts: 0,
                nextAttemptAt: at, lastError: nil, sentAt: nil
            ).insert(db)
        }
        return r.notificationId
    }
}

extension IntakeClient {
    /// GET /v1/notifications/capabilities: whether the upstream sends SMS, and for which events.
    public func notificationCapabilities() async throws(UploadFailure) -> NotificationCapabilities {
        let r = try await request(.GET, "/v1/notifications/capabilities")
        guard r.status == 200 else { throw failure(r, what: "notification capabilities") }
        return try decode(NotificationCapabilities.self, r, what: "notification capabilities")
    }
}
