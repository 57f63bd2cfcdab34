import Foundation
import KioskCore
import KioskProtocols

/// The resident flow as a state machine over screens. Pure: events in, effects out; screens are
/// computed from state. Tests drive it without a terminal; kioskd drives it from real input.
public struct FlowMachine: Sendable {
    public enum Purpose: Hashable, Sendable { case apply, progress, pickup, staffSignIn }

    /// What one resident entered or presented. Replaced wholesale (wiped) when a session ends.
    struct Session: Sendable {
        var item: CatalogItem?
        var identity: IDCardIdentity?
        var photos: [Data?] = []
        var phone = ""
        var sealed: SubmissionSummary?
        var progress: [SubmissionSummary] = []
        var progressLoaded = false
        var captureInFlight = false
        var captureIndex: Int?
        var printingNotice = false
        var certificates: [CertificateRecord] = []
        var certificatesLoaded = false
        var printingCertificate: String?
        /// 补正: photographing materials that complete this case (nil: a new application).
        var supplement: SupplementTarget?
        /// The service a rating is about (nil: the application just sealed).
        var evaluation: EvaluationSubject?
        /// 帮办代办: the resident confirmed on screen (free of charge).
        var assistConsent = false
    }

    public private(set) var catalog: Catalog
    public var settings: FlowSettings
    public internal(set) var route = Route(HomeScreen())
    var session = Session()
    var lastActivity: Date
    var now: Date
    var devices: [DeviceStatus] = []
    /// False below the disk floor: no new application is started (progress queries still work).
    public private(set) var acceptingSubmissions = true
    var message: String?
    public private(set) var sessionsCompleted = 0
    /// Hidden-sequence progress on the home screen.
    var hashPresses = 0
    /// The PIN being typed on a PIN screen (staff or technician); never shown, cleared on every exit.
    var pinEntry = ""
    /// What the last technician command reported (no personal data: states, counts, reasons).
    var technicianLines: [String] = []
    var technicianBusy = false
    /// The signed-in staff member (帮办代办, certificates, ledger); nil for resident self-service.
    public internal(set) var staff: StaffMember?
    var staffCandidate: StaffMember?
    var staffLines: [String] = []
    var staffBusy = false
    var ledgerPage = 0
    var staffCertificates: [CertificateRecord] = []
    /// Set while staff submit on a resident's behalf (the resident flow runs, then back to the staff menu).
    var assisting = false
    /// Help requests waiting for staff, and when the last one was made.
    var helpPending: (count: Int, last: Date?) = (0, nil)
    /// Out of service: the notice residents see on the home screen (nil: in service).
    public internal(set) var outOfService: String?
    /// Interface language and large mode (适老化) of the current resident; back to the configured
    /// defaults when the session ends.
    public internal(set) var language: Language
    public internal(set) var largeMode: Bool
    var categoryPage = 0
    /// Where the help screen returns to.
    var helpReturn: Route?
    /// What was last spoken (voice prompts), so a screen is announced once.
    var lastSpoken: String?
    /// Effects gathered while one event is handled (handle(_:) returns them).
    var effects: [FlowEffect] = []
    /// After the submission: help delivery, lists for staff (AfterService.swift).
    var afterService = AfterServiceState()

    public init(catalog: Catalog, settings: FlowSettings, now: Date = Date()) {
        self.catalog = catalog
        self.settings = settings
        self.now = now
        self.lastActivity = now
        language = settings.language
        largeMode = settings.largeMode
    }

    /// Items per page: fewer in large mode.
    var pageSize: Int { largeMode ? min(4, settings.pageSize) : settings.pageSize }
    var categoriesPerPage: Int { largeMode ? 5 : 12 }
    /// Large mode gives more time before the warning and the wipe.
    var idleTimeout: Int { largeMode ? settings.largeIdleTimeoutSeconds : settings.idleTimeoutSeconds }
    var warningTime: Int { largeMode ? max(settings.warningSeconds, 30) : settings.warningSeconds }

    /// Applies a reloaded catalog and settings. Only between residents: the caller waits for home.
    public mutating func reload(catalog: Catalog, settings: FlowSettings) -> Bool {
        guard route == .home else { return false }
        self.catalog = catalog
        self.settings = settings
        return true
    }

    // MARK: Helpers

    func device(_ kind: DeviceKind) -> DeviceStatus? { devices.first { $0.kind == kind } }
    func usable(_ kind: DeviceKind) -> Bool { device(kind)?.state.usable ?? false }

    /// Whether the receipt printer can print now: connected and usable, with paper (print-only
    /// actions are refused while it is out of paper or jammed).
    var receiptPrinterReady: Bool {
        guard let d = device(.receiptPrinter), d.state.usable else { return false }
        return d.paper != .out && d.paper != .jammed && d.state != .userError
    }

    /// Materials the resident photographs for the chosen item.
    var materialNames: [String] {
        if session.supplement != nil { return supplementMaterialNames }
        guard let item = session.item else { return [] }
        if let g = catalog.guide(for: item.code), !g.materialsToPhotograph.isEmpty {
            return g.materialsToPhotograph.map(\.name)
        }
        return ["申请材料（第1页）", "申请材料（第2页，可跳过）", "申请材料（第3页，可跳过）"]
    }

    /// How many material photos are required before the resident may continue.
    var requiredPhotos: Int {
        if session.supplement != nil { return 1 }
        guard let item = session.item else { return 0 }
        if let g = catalog.guide(for: item.code), !g.materialsToPhotograph.isEmpty {
            return g.materialsToPhotograph.count
        }
        return 1
    }

    var isIdleExempt: Bool { route.screen.idle == .exempt }
    /// Staff and technician screens: never read aloud, no help or language controls.
    var isStaffOrTechnicianScreen: Bool { route.audience != .resident }

    /// Seconds left before the session is wiped, when the warning is showing.
    public var countdown: Int? {
        guard !isIdleExempt else { return nil }
        let left = idleTimeout - Int(now.timeIntervalSince(lastActivity))
        return left <= warningTime ? max(0, left) : nil
    }

    mutating func emit(_ e: FlowEffect) { effects.append(e) }

    // MARK: Transitions: the one place that leaves a screen

    /// Carries out what a key (or an event) decided. Leaving a screen: card reading stops when the
    /// card screen is left and starts when it is entered, staff are signed out (audited) whenever home
    /// is reached, the message is cleared; a page turn leaves nothing.
    mutating func apply(_ t: Transition) {
        switch t {
        case .stay, .ignored:
            break
        case .page(let r):
            route = r
        case .go(let r):
            let wasReading = route.is(PlaceCardScreen.self) || route.is(StaffHandoverScreen.self)
            if r == .home, let s = staff {
                emit(.audit(actor: s.staffId, action: "staff.signout", subject: nil, detail: nil))
                clearStaff()
            }
            pinEntry = ""
            route = r
            message = nil
            if r.is(PlaceCardScreen.self) || r.is(StaffHandoverScreen.self) {
                emit(.startCardReading)
            } else if wasReading {
                emit(.stopCardReading)
            }
        case .endSession:
            endSession(signOut: false)
        case .signOut:
            endSession(signOut: true)
        case .callStaff:
            if route.is(PlaceCardScreen.self) { emit(.stopCardReading) }
            helpReturn = route
            route = .help
            message = nil
            afterService.help = .sending
            emit(.callStaff(screen: helpReturn?.name ?? "home"))
        }
    }

    mutating func clearStaff() {
        staff = nil
        assisting = false
        staffLines = []
        staffCertificates = []
        staffBusy = false
    }

    /// Ends the resident's session: everything they entered is dropped and the screen wiped.
    /// With staff signed in (帮办代办) it returns to the staff menu, unless `signOut` (timeout, exit).
    mutating func endSession(signOut: Bool) {
        if session.identity != nil || session.item != nil || !session.phone.isEmpty || !session.photos.isEmpty {
            sessionsCompleted += 1
        }
        session = Session()
        afterService.wipeSession()
        message = nil
        assisting = false
        language = settings.language
        largeMode = settings.largeMode
        helpReturn = nil
        categoryPage = 0
        staffCandidate = nil
        pinEntry = ""
        staffBusy = false
        if staff != nil, !signOut {
            route = .staffMenu
        } else {
            if let s = staff { emit(.audit(actor: s.staffId, action: "staff.signout", subject: nil, detail: nil)) }
            clearStaff()
            route = .home
        }
        emit(.stopCardReading)
        emit(.wipeTerminal)
    }

    // MARK: Events

    public mutating func handle(_ event: FlowEvent) -> [FlowEffect] {
        let before = (route, message, language, countdown)
        effects = []
        handleEvent(event)
        if settings.voicePrompts,
            before.0 != route || before.1 != message || before.2 != language || (before.3 == nil) != (countdown == nil)
        {
            if let say = spokenPrompt(), say != lastSpoken {
                lastSpoken = say
                emit(.speak(say, language))
            }
        }
        let out = effects
        effects = []
        return out
    }

    /// The countdown warning: a resident is told their details are cleared; staff (and the
    /// technician) that they are signed out.
    func countdownWarning(_ c: Int) -> String {
        route.audience == .resident
            ? L("{1} 秒后将返回首页并清除您的信息，按任意键继续办理", c) : "\(c) 秒后将退出登录并返回首页，按任意键继续操作"
    }

    /// What voice prompts say now: the countdown warning, else an error or notice, else the screen's title.
    func spokenPrompt() -> String? {
        if let c = countdown { return countdownWarning(c) }
        if isStaffOrTechnicianScreen { return nil }  // staff names and numbers are never spoken
        if let m = message { return m }
        let t = route.screen.body(self, width: 80).title
        return t.isEmpty ? nil : t
    }

    mutating func handleEvent(_ event: FlowEvent) {
        switch event {
        case .tick(let t):
            now = t
            if !isIdleExempt, Int(now.timeIntervalSince(lastActivity)) >= idleTimeout {
                if let s = staff { emit(.audit(actor: s.staffId, action: "staff.timeout", subject: nil, detail: nil)) }
                apply(.signOut)
            }
        case .key(let k):
            let warning = countdown != nil
            lastActivity = now
            if warning { return }  // any key extends the session; it does nothing else
            handleKey(k)
        case .devices(let d):
            devices = d
        case .storage(let accepting):
            acceptingSubmissions = accepting
        case .cardRead(let identity):
            if let h = route.of(StaffHandoverScreen.self) {
                handoverCard(h, identity)
                break
            }
            guard let screen = route.of(PlaceCardScreen.self) else { break }
            lastActivity = now
            session.identity = identity
            switch screen.purpose {
            case .apply: apply(.go(.identity))
            case .progress:
                apply(.go(.progressList))
                session.progressLoaded = false
                emit(.loadProgress(idNumber: identity.idNumber))
            case .pickup:
                apply(.go(.pickupList))
                session.certificatesLoaded = false
                emit(.loadCertificates(idNumber: identity.idNumber))
            case .staffSignIn:
                // The staff card is only matched against the registry; nothing of it is kept.
                session.identity = nil
                message = "正在核对工作人员身份……"
                emit(.stopCardReading)
                emit(.identifyStaff(idNumber: identity.idNumber))
            }
        case .cardRemoved:
            break
        case .cardProblem(let m):
            if route.is(PlaceCardScreen.self) { message = L(m) }
        case .photoCaptured(let data):
            session.captureInFlight = false
            // The picture belongs to the material it was taken for, and only if that screen is still up.
            guard let i = route.of(PhotoScreen.self)?.index, session.captureIndex == i, i < session.photos.count else {
                break
            }
            session.captureIndex = nil
            lastActivity = now
            session.photos[i] = data
            message = L("已拍摄（{1} KB）。按 Enter 继续，按 1 重拍", data.count / 1024)
        case .photoFailed(let m):
            session.captureInFlight = false
            session.captureIndex = nil
            if route.is(PhotoScreen.self) { message = L("拍照失败：{1}。请按 Enter 重试", L(m)) }
        case .sealed(let s):
            guard route == .submitting else { break }
            session.sealed = s
            apply(.go(.printing))
            emit(.printReceipt(receiptDocument(for: s), submissionId: s.id))
        case .sealFailed(let m):
            guard route == .submitting else { break }
            apply(.go(.review))
            message = L("提交未成功，材料未上交：{1}", L(m))
        case .receiptPrinted:
            guard route == .printing else { break }
            lastActivity = now
            apply(.go(.done(receiptOK: true, problem: nil)))
        case .receiptFailed(let m):
            guard route == .printing else { break }
            lastActivity = now
            apply(.go(.done(receiptOK: false, problem: m)))
        case .noticePrinted:
            session.printingNotice = false
            message = L("一次性告知单已打印，请取走")
        case .noticeFailed(let m):
            session.printingNotice = false
            message = L("告知单打印失败：{1}", L(m))
        case .progressLoaded(let list):
            session.progress = list
            session.progressLoaded = true
        case .progressFailed(let m):
            session.progressLoaded = true
            message = L("查询失败：{1}", L(m))
        case .technicianPINChecked(let ok, let reason):
            guard route == .technicianPIN else { break }
            pinEntry = ""
            if ok {
                apply(.go(.technician))
                technicianLines = []
                technicianBusy = true
                emit(.technicianStatus)
            } else {
                message = reason
            }
        case .technicianReport(let lines):
            technicianBusy = false
            guard route == .technician else { break }
            technicianLines = lines
        case .staffIdentified, .staffPINChecked, .certificatesLoaded, .certificatePrinted, .staffReport, .serviceState,
            .helpPending:
            handleStaffEvent(event)
        case .afterService(let e):
            handleAfterService(e)
        }
    }

    /// A key: help and language on resident screens, else the screen's own handling.
    mutating func handleKey(_ k: Key) {
        if !isStaffOrTechnicianScreen {
            switch k {
            case .char("l"), .char("L"), .function(2):
                language = language == .zh ? .en : .zh
                message = nil
                return
            case .char("h"), .char("H"), .function(1):
                // Not while a submission is being saved or its receipt printed: those screens end by themselves.
                if route != .help && route != .submitting && route != .printing && session.printingCertificate == nil {
                    apply(.callStaff)
                }
                return
            default: break
            }
        }
        let screen = route.screen
        apply(screen.handle(k, &self))
    }

    /// Short Chinese description of why the receipt printer cannot print.
    var printerProblem: String {
        guard let d = device(.receiptPrinter) else { return L("未连接") }
        switch d.paper {
        case .out: return L("缺纸")
        case .jammed: return L("卡纸")
        default: return L(d.state.chinese)
        }
    }

    public static func validPhone(_ s: String) -> Bool {
        s.count == 11 && s.first == "1" && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber)
            && !["0", "1", "2"].contains(s[s.index(after: s.startIndex)])
    }
}
