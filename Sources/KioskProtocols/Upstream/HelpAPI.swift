// Help calls (呼叫工作人员) on the kiosk-intake protocol: a resident's request for staff goes
// upstream at once (through the outbox when offline), and so does a staff member's acknowledgement.
//
//   POST /v1/stations/{stationId}/help     -> 201/200 MessageReceipt (body HelpCall), idempotent by helpId
//   GET  /v1/admin/help[?station=S]        -> 200 HelpCallList (admin token): requests with their acknowledgement

/// One help event from a kiosk: a request (`requested`, with the screen) or an acknowledgement
/// (`acknowledged`, by a staff id, naming the requests it answers). No personal data.
public struct HelpCall: Codable, Sendable, Equatable {
    public static let requested = "requested"
    public static let acknowledged = "acknowledged"

    public var helpId: String  // chosen by the kiosk (UUID), the idempotency key
    public var stationId: String
    public var event: String  // "requested" | "acknowledged"
    public var screen: String?  // requested: where the resident was (a screen name, no data)
    public var requestIds: [String]?  // acknowledged: the requests answered
    public var staffId: String?  // acknowledged: by whom
    public var createdAt: String  // ISO 8601 UTC

    public init(
        helpId: String, stationId: String, event: String, screen: String? = nil, requestIds: [String]? = nil,
        staffId: String? = nil, createdAt: String
    ) {
        self.helpId = helpId
        self.stationId = stationId
        self.event = event
        self.screen = screen
        self.requestIds = requestIds
        self.staffId = staffId
        self.createdAt = createdAt
    }
}

/// A request as the intake lists it, with its acknowledgement when one arrived.
public struct HelpCallRow: Codable, Sendable, Equatable {
    public var helpId: String
    public var stationId: String
    public var screen: String?
    public var createdAt: String
    public var receivedAt: String
    public var acknowledgedBy: String?
    public var acknowledgedAt: String?
    public init(
        helpId: String, stationId: String, screen: String?, createdAt: String, receivedAt: String,
        acknowledgedBy: String? = nil, acknowledgedAt: String? = nil
    ) {
        self.helpId = helpId
        self.stationId = stationId
        self.screen = screen
        self.createdAt = createdAt
        self.receivedAt = receivedAt
        self.acknowledgedBy = acknowledgedBy
        self.acknowledgedAt = acknowledgedAt
    }
}

public struct HelpCallList: Codable, Sendable, Equatable {
    public var calls: [HelpCallRow]
    public init(calls: [HelpCallRow]) { self.calls = calls }

    /// Folds received events (with the intake's receive time) into requests and their acknowledgements.
    public static func fold(_ events: [(call: HelpCall, receivedAt: String)]) -> HelpCallList {
        var rows: [HelpCallRow] = []
        var index: [String: Int] = [:]
        for (c, at) in events where c.event == HelpCall.requested {
            index[c.helpId] = rows.count
            rows.append(
                HelpCallRow(
                    helpId: c.helpId, stationId: c.stationId, screen: c.screen, createdAt: c.createdAt, receivedAt: at))
        }
        for (c, _) in events where c.event == HelpCall.acknowledged {
            for id in c.requestIds ?? [] {
                guard let i = index[id], rows[i].stationId == c.stationId, rows[i].acknowledgedAt == nil else {
                    continue
                }
                rows[i].acknowledgedBy = c.staffId
                rows[i].acknowledgedAt = c.createdAt
            }
        }
        return HelpCallList(calls: rows)
    }
}
