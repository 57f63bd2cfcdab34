import Foundation
import GRDB
import KioskProtocols

/// A help call as the kiosk keeps it: the event, and whether the upstream acknowledged receiving it.
public struct StoredHelpCall: Sendable, Equatable {
    public var call: HelpCall
    public var createdAt: Date
    /// The upstream answered 201/200 for it (staff on duty upstream have it).
    public var delivered: Bool
    public var lastError: String?
}

// Help calls (呼叫工作人员) travel upstream through the `message` table like evaluations: written
// durably first, sent at once when the upstream answers, later when it is back. The body names
// a screen and a staff id, never a resident.
extension MessageQueue {
    /// Queues a help event; returns its id.
    @discardableResult
    public func queueHelpCall(
        event: String, screen: String? = nil, requestIds: [String]? = nil, staffId: String? = nil
    ) async throws -> String {
        let at = database.clock.now
        let call = HelpCall(
            helpId: UUID().uuidString.lowercased(), stationId: stationId, event: event, screen: screen,
            requestIds: requestIds, staffId: staffId, createdAt: UploadQueue.isoString(at))
        let body = try database.cipher.seal(try JSONEncoder().encode(call))
        try await pool.write { db in
            try MessageRecord(
                id: call.helpId, kind: .help, body: body, createdAt: at, state: .queued, attempts: 0,
                nextAttemptAt: at, lastError: nil, sentAt: nil
            ).insert(db)
        }
        return call.helpId
    }

    /// Whether the message was sent (the upstream acknowledged it).
    public func messageSent(id: String) throws -> Bool {
        try pool.read { db in
            try MessageRecord.filter(key: id).fetchOne(db)?.state == .sent
        }
    }

    /// Help events, newest first (at most `limit`).
    public func helpCalls(limit: Int = 50) throws -> [StoredHelpCall] {
        let cipher = database.cipher
        return try pool.read { db in
            try MessageRecord.filter(M.kind == MessageKind.help).order(M.createdAt.desc).limit(limit).fetchAll(db)
                .compactMap { r in
                    guard let plain = try? cipher.open(r.body),
                        let call = try? JSONDecoder().decode(HelpCall.self, from: plain)
                    else { return nil }
                    return StoredHelpCall(
                        call: call, createdAt: r.createdAt, delivered: r.state == .sent, lastError: r.lastError)
                }
        }
    }

    /// Requests not yet answered by an acknowledgement recorded on this kiosk.
    public func openHelpRequests() throws -> [StoredHelpCall] {
        let all = try helpCalls(limit: 500)
        let answered = Set(all.filter { $0.call.event == HelpCall.acknowledged }.flatMap { $0.call.requestIds ?? [] })
        return all.filter { $0.call.event == HelpCall.requested && !answered.contains($0.call.helpId) }
    }
}
