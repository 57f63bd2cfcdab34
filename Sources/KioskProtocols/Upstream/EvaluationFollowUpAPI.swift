// 差评 follow-up on the kiosk-intake protocol (issue 24, point 5): every poor rating (level 1–2)
// goes through 核实 (verified), 整改 (rectified) and 回访 (revisited); the township records each
// stage with a date, and the kiosk pulls its own station's states back for its ledger.
//
//   POST /v1/admin/evaluations/{id}/followup           -> 200 EvaluationFollowUp (admin; body FollowUpChange)
//   GET  /v1/admin/complaints[?station=S]              -> 200 EvaluationFollowUpList (admin)
//   GET  /v1/stations/{stationId}/complaints           -> 200 EvaluationFollowUpList (the station's own)

public enum FollowUpStage: String, Codable, Sendable, CaseIterable {
    case verified  // 核实
    case rectified  // 整改
    case revisited  // 回访 (closes the 差评)

    public var chinese: String {
        switch self {
        case .verified: return "核实"
        case .rectified: return "整改"
        case .revisited: return "回访"
        }
    }
}

public struct FollowUpChange: Codable, Sendable, Equatable {
    public var stage: FollowUpStage
    public var note: String?
    public init(stage: FollowUpStage, note: String? = nil) {
        self.stage = stage
        self.note = note
    }
}

/// A poor rating with the dates of its follow-up stages.
public struct EvaluationFollowUp: Codable, Sendable, Equatable {
    public var evaluationId: String
    public var stationId: String
    public var caseNumber: String
    public var level: Int
    public var service: String?
    public var createdAt: String
    public var verifiedAt: String?
    public var rectifiedAt: String?
    public var revisitedAt: String?
    /// The latest stage's note (what was found, what was changed, what the resident said).
    public var note: String?
    public init(
        evaluationId: String, stationId: String, caseNumber: String, level: Int, service: String?, createdAt: String,
        verifiedAt: String? = nil, rectifiedAt: String? = nil, revisitedAt: String? = nil, note: String? = nil
    ) {
        self.evaluationId = evaluationId
        self.stationId = stationId
        self.caseNumber = caseNumber
        self.level = level
        self.service = service
        self.createdAt = createdAt
        self.verifiedAt = verifiedAt
        self.rectifiedAt = rectifiedAt
        self.revisitedAt = revisitedAt
        self.note = note
    }

    /// Open until the resident was revisited (回访).
    public var open: Bool { revisitedAt == nil }
    /// The stage reached, in words.
    public var stateChinese: String {
        revisitedAt != nil ? "已回访" : rectifiedAt != nil ? "已整改，待回访" : verifiedAt != nil ? "已核实，待整改" : "待核实"
    }
}

public struct EvaluationFollowUpList: Codable, Sendable, Equatable {
    public var evaluations: [EvaluationFollowUp]
    public init(evaluations: [EvaluationFollowUp]) { self.evaluations = evaluations }
}
