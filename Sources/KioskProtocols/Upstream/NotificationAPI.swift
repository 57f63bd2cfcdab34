// Progress notifications on the kiosk-intake protocol (issue 24, point 3). The kiosk asks for
// notifications only as far as the upstream says it sends them, and says no more on its screens.
//
//   GET  /v1/notifications/capabilities               -> 200 NotificationCapabilities (station token)
//   POST /v1/stations/{stationId}/notifications       -> 201/200 MessageReceipt (body NotificationRequest)
//   GET  /v1/admin/notifications[?station=S]          -> 200 NotificationRequestList (admin)

/// What the upstream does with notification requests.
public struct NotificationCapabilities: Codable, Sendable, Equatable {
    /// The upstream (or its back office) sends SMS for the events below.
    public var sms: Bool
    /// Events it notifies: accepted, needMaterials, done, certificateReady, rejected.
    public var events: [String]
    public init(sms: Bool, events: [String]) {
        self.sms = sms
        self.events = events
    }
}

/// "Tell this phone about these events of this case", idempotent by notificationId.
public struct NotificationRequest: Codable, Sendable, Equatable {
    public var notificationId: String
    public var stationId: String
    public var submissionId: String
    public var caseNumber: String
    public var events: [String]
    public var phone: String
    public var createdAt: String
    public init(
        notificationId: String, stationId: String, submissionId: String, caseNumber: String, events: [String],
        phone: String, createdAt: String
    ) {
        self.notificationId = notificationId
        self.stationId = stationId
        self.submissionId = submissionId
        self.caseNumber = caseNumber
        self.events = events
        self.phone = phone
        self.createdAt = createdAt
    }
}

public struct NotificationRequestList: Codable, Sendable, Equatable {
    public var requests: [NotificationRequest]
    /// Whether this intake sends them (the same answer the kiosks get).
    public var sms: Bool
    public init(requests: [NotificationRequest], sms: Bool) {
        self.requests = requests
        self.sms = sms
    }
}

public enum NotificationEvents {
    public static let all = ["accepted", "needMaterials", "done", "certificateReady", "rejected"]
}
