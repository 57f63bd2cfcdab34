import Foundation
import KioskCore
import KioskProtocols

/// Everything that happens to the flow: keys, the clock, devices, results of effects.
public enum FlowEvent: Sendable {
    case key(Key)
    case tick(Date)
    case cardRead(IDCardIdentity)
    case cardRemoved
    case cardProblem(String)
    case photoCaptured(Data)
    case photoFailed(String)
    case sealed(SubmissionSummary)
    case sealFailed(String)
    case receiptPrinted
    case receiptFailed(String)
    case noticePrinted
    case noticeFailed(String)
    case progressLoaded([SubmissionSummary])
    case progressFailed(String)
    case devices([DeviceStatus])
    /// The PIN typed in technician mode was checked (reason says why not, e.g. locked out).
    case technicianPINChecked(ok: Bool, reason: String?)
    /// Lines to show on the technician screen (status or self-test results).
    case technicianReport([String])
    /// The state directory went below (false) or back above (true) the configured free-space floor.
    case storage(accepting: Bool)
    /// The card on the reader during staff sign-in belongs to this staff member (nil: nobody registered).
    case staffIdentified(StaffMember?)
    /// The PIN check of this staff member ended (matched against the member on the PIN screen).
    case staffPINChecked(staffId: String, StaffSignInResult)
    /// Certificates for self pick-up (one resident) or the staff's outstanding list.
    case certificatesLoaded([CertificateRecord])
    /// An A4 certificate job ended; `message` says what happened, in words.
    case certificatePrinted(submissionId: String, ok: Bool, message: String)
    /// Result of a staff action (lines for the screen, a message for the status line).
    case staffReport(lines: [String]?, message: String?)
    /// Out of service with this notice, or back in service (nil).
    case serviceState(notice: String?)
    /// Residents' help requests not yet acknowledged by staff (shown on the staff menu).
    case helpPending(count: Int, last: Date?)
    /// After the submission: help delivery, progress, notifications, evaluations, staff tools (AfterService.swift).
    case afterService(AfterServiceEvent)
}

/// What the flow asks the runtime to do. Results come back as events.
public enum FlowEffect: Sendable, Equatable {
    case startCardReading
    case stopCardReading
    case capturePhoto
    case seal(SubmissionRequest)
    case printReceipt(ReceiptDocument, submissionId: String)
    case printNotice(ReceiptDocument)
    case loadProgress(idNumber: String)
    case recordEvaluation(caseNumber: String, level: Int, reason: String?)
    case placeSimulatedCard(Int)
    case wipeTerminal
    /// Technician mode: check this PIN against the configured hash.
    case verifyTechnicianPIN(String)
    /// Technician mode: gather device, outbox and upstream status.
    case technicianStatus
    /// Technician mode: run the self-tests (and print a test receipt).
    case technicianSelftest(printTestReceipt: Bool)
    /// Staff sign-in: whose card is this?
    case identifyStaff(idNumber: String)
    /// Staff sign-in: check the PIN (slow KDF, lockout, audited).
    case verifyStaffPIN(staffId: String, pin: String)
    /// An entry in the audit trail (no personal data).
    case audit(actor: String, action: String, subject: String?, detail: String?)
    /// Certificates to list: one resident's for self pick-up (idNumber), or every outstanding one (nil).
    case loadCertificates(idNumber: String?)
    /// Print one certificate on the A4 printer. `by` is `resident` (self pick-up: collected at once) or a staff id.
    case printCertificate(submissionId: String, by: CertificateActor)
    /// Staff: print every downloaded certificate that has not been printed yet.
    case printCertificateBatch(by: String)
    /// Staff: the ledger of today or this month, shown and optionally printed.
    case ledger(month: Bool, print: LedgerPrint?, by: String)
    /// Staff: out of service with a notice, or back in service (nil).
    case setOutOfService(notice: String?, by: String)
    /// A resident asked for staff on this screen: record it for staff (and the log).
    case callStaff(screen: String)
    /// Say this (voice prompts): the screen's main prompt or an error, in the interface language.
    case speak(String, Language)
    /// After the submission: help, progress, notifications, evaluations, staff tools (AfterService.swift).
    case afterService(AfterServiceEffect)
}

public enum LedgerPrint: Sendable, Equatable { case receipt, a4 }

/// The data of a submission as the flow hands it over to be sealed.
public struct SubmissionRequest: Sendable, Equatable {
    public var itemCode: String
    public var itemName: String
    public var applicant: ApplicantData
    public var photos: [Data]
    public var photoNames: [String]
    /// Staff id of the staff member or village agent submitting on the resident's behalf (帮办代办).
    public var assistedBy: String? = nil
    /// 补正: the submission id of the case these materials complete.
    public var supplementOf: String? = nil
}

public struct FlowSettings: Sendable {
    public var stationName: String
    public var idleTimeoutSeconds: Int
    public var warningSeconds: Int
    public var pageSize: Int
    /// Names of the simulated cards the demo can place with keys A, B, C … (nil: real reader).
    public var simulatedCards: [String]?
    public var timeZone: TimeZone
    /// The language and mode each resident starts in (accessibility.language / largeMode).
    public var language: Language
    public var largeMode: Bool
    /// Idle timeout in large mode (longer: older residents read and move more slowly).
    public var largeIdleTimeoutSeconds: Int
    /// Where help is (help.location, help.phone), said on the help screen.
    public var helpLocation: String?
    public var helpPhone: String?
    /// Emit `.speak` effects (voice.enabled).
    public var voicePrompts: Bool
    /// The complaint phone (投诉电话) and the 办不成事 channel, said on the help and guide screens.
    public var complaintPhone: String? = nil
    public var unresolvedChannel: String? = nil

    public init(
        stationName: String, idleTimeoutSeconds: Int = 90, warningSeconds: Int = 20, pageSize: Int = 6,
        simulatedCards: [String]? = nil, timeZone: TimeZone = StationClock.defaultTimeZone,
        language: Language = .zh, largeMode: Bool = false, largeIdleTimeoutSeconds: Int? = nil,
        helpLocation: String? = nil, helpPhone: String? = nil, voicePrompts: Bool = false
    ) {
        self.stationName = stationName
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.warningSeconds = warningSeconds
        self.pageSize = max(1, min(pageSize, 6))
        self.simulatedCards = simulatedCards
        self.timeZone = timeZone
        self.language = language
        self.largeMode = largeMode
        self.largeIdleTimeoutSeconds = largeIdleTimeoutSeconds ?? idleTimeoutSeconds * 2
        self.helpLocation = helpLocation
        self.helpPhone = helpPhone
        self.voicePrompts = voicePrompts
    }
}

public enum EvaluationLevel: Int, CaseIterable, Sendable {
    case verySatisfied = 5, satisfied = 4, basic = 3, dissatisfied = 2, veryDissatisfied = 1

    public var chinese: String {
        switch self {
        case .verySatisfied: return "非常满意"
        case .satisfied: return "满意"
        case .basic: return "基本满意"
        case .dissatisfied: return "不满意"
        case .veryDissatisfied: return "非常不满意"
        }
    }
    /// Ratings of 不满意 and below ask for a reason.
    public var asksReason: Bool { rawValue <= 2 }
}

public let evaluationReasons = ["等候时间长", "办事指南不清楚", "设备故障或不好用", "操作步骤复杂", "工作人员服务态度", "其他原因"]

extension UpstreamState {
    public var chinese: String {
        switch self {
        case .received: return "已接收，等待受理"
        case .inReview: return "审核中"
        case .accepted: return "已受理"
        case .needMaterials: return "需补正材料"
        case .done: return "已办结"
        case .certificateReady: return "证照可领取"
        case .rejected: return "不予受理"
        }
    }
}

extension SubmissionSummary {
    /// Resident-facing state: local state until the upstream has it, then the upstream's.
    public var residentState: String {
        switch state {
        case .sealed: return "已提交，等待上传"
        case .quarantined: return "上传受阻，请联系窗口"
        case .uploaded: return upstreamState?.chinese ?? "已上传"
        }
    }

    /// Whether the upstream accepted the case (受理) or went past it: only then is a receipt a 受理回执.
    public var upstreamAccepted: Bool {
        guard state == .uploaded, let u = upstreamState else { return false }
        return [.inReview, .accepted, .needMaterials, .done, .certificateReady].contains(u)
    }
}
