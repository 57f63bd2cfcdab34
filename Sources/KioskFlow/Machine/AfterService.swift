import Foundation
import KioskCore
import KioskProtocols

// What happens after the submission (issue 24): the flow's events, effects and state for it,
// kept in one place so the machine itself only forwards them.

/// Results the runtime reports for after-service work.
public enum AfterServiceEvent: Sendable {
    /// The resident's help call: acknowledged by the upstream (true), or not within the wait (false:
    /// it stays queued in the outbox and goes when the upstream answers).
    case helpDelivered(Bool)
    /// Help calls recorded on this kiosk (the staff list).
    case helpCallsLoaded([StoredHelpCall])
    /// One case's history for the progress screen (nil: not found).
    case caseLoaded(CaseDetail?)
    /// What the upstream said it does with notification requests (nil: not known, e.g. offline).
    case notifications(NotificationCapabilities?)
    /// The applicant's masked name for a certificate hand-over (nil: no record).
    case handoverLoaded(maskedName: String?)
    /// A hand-over ended: recorded (ok) or refused, in words for staff.
    case handoverDone(ok: Bool, message: String)
}

/// After-service work the flow asks the runtime for.
public enum AfterServiceEffect: Sendable, Equatable {
    /// Staff: list help calls and whether the upstream has them.
    case loadHelpCalls
    /// Staff: every open help request is answered (sent upstream as an acknowledgement).
    case acknowledgeHelp(by: String)
    /// Progress: one case's history, time limit and note.
    case loadCase(submissionId: String)
    /// 好差评 of a service other than an application (progress, pickup, guide).
    case recordEvaluation(service: String, caseNumber: String?, itemCode: String?, level: Int, reason: String?)
    /// Staff: reprint the receipt of the case with this number (or its last digits).
    case reprintReceipt(caseNumber: String, by: String)
    /// Staff: the applicant's masked name for the hand-over screen.
    case loadHandover(submissionId: String)
    /// Staff: the collector's card was placed; check it and record the hand-over.
    case handOver(submissionId: String, card: IDCardIdentity, proxy: Bool, relation: String?, by: String)
}

/// After-service state of the machine.
public struct AfterServiceState: Sendable {
    public enum HelpDelivery: Sendable, Equatable { case sending, delivered, notReached }
    /// The help call made from the help screen now shown.
    var help: HelpDelivery?
    var helpCalls: [StoredHelpCall] = []
    var helpCallsLoaded = false
    /// The case shown on the progress detail screen.
    var caseDetail: CaseDetail?
    var caseLoaded = false
    /// The upstream confirmed it sends progress SMS (false or nil: the screens promise none).
    public internal(set) var smsConfirmed: Bool?
    /// Staff typing a case number (reprint).
    var caseInput = ""
    /// The hand-over screen's applicant (masked) and whether a card is being checked.
    var handoverName: String?
    var handoverLoaded = false
    var handoverBusy = false
    /// 逐份登记领取: certificates staff skipped in this walk (handed over later).
    var collectSkipped: Set<String> = []

    /// What belongs to one resident's session goes with it (the upstream's answers stay).
    mutating func wipeSession() {
        help = nil
        caseDetail = nil
        caseLoaded = false
        caseInput = ""
        handoverName = nil
        handoverLoaded = false
        handoverBusy = false
    }
}

/// What a rating is about, when it is not the application just sealed.
struct EvaluationSubject: Sendable, Equatable {
    var service: String  // progress, pickup, guide
    var caseNumber: String?
    var itemCode: String?
}

extension FlowMachine {
    /// Offers the (voluntary) rating of the service just used; 0 on it skips.
    mutating func offerEvaluation(_ subject: EvaluationSubject) -> Transition {
        session.evaluation = subject
        return .go(.evaluate)
    }
}

/// A 补正 in progress: the materials photographed complete this case.
struct SupplementTarget: Sendable, Equatable {
    var submissionId: String
    var caseNumber: String
}

extension FlowMachine {
    mutating func handleAfterService(_ e: AfterServiceEvent) {
        switch e {
        case .helpDelivered(let ok):
            guard afterService.help == .sending else { break }
            afterService.help = ok ? .delivered : .notReached
        case .helpCallsLoaded(let calls):
            afterService.helpCalls = calls
            afterService.helpCallsLoaded = true
        case .caseLoaded(let d):
            afterService.caseDetail = d
            afterService.caseLoaded = true
        case .notifications(let c):
            afterService.smsConfirmed = c?.sms
        case .handoverLoaded(let name):
            afterService.handoverName = name
            afterService.handoverLoaded = true
        case .handoverDone(let ok, let text):
            afterService.handoverBusy = false
            message = text
            if ok, let h = route.of(StaffHandoverScreen.self) {
                staffCertificates = []
                staffBusy = true
                emit(.loadCertificates(idNumber: nil))
                apply(.go(h.queue ? .staffBatchCollect : .staffCertificates(page: 0)))
                message = text
            }
        }
    }

    /// The complaint line and the 办不成事 channel (config `help.complaintPhone`, `help.unresolved`).
    func complaintLines(width w: Int) -> [ScreenLine] {
        var lines: [ScreenLine] = []
        if let p = settings.complaintPhone { lines += wrapped(L("投诉电话：{1}", p), w) }
        if let u = settings.unresolvedChannel { lines += wrapped(L("办不成事反映：{1}", u), w) }
        return lines
    }
}
