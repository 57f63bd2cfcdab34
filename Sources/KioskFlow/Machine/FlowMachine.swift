import Foundation
import KioskCore
import KioskDevices
import KioskProtocols

/// The resident flow as a state machine over screens. Pure: events in, effects out; screens are
/// computed from state. Tests drive it without a terminal; kioskd drives it from real input.
public struct FlowMachine: Sendable {
    public enum Purpose: Equatable, Sendable { case apply, progress, pickup, staffSignIn }

    public enum Route: Equatable, Sendable {
        case home
        /// Call staff (呼叫工作人员): where help is; the request is recorded for staff.
        case help
        case categories(ItemLevel)
        case items(ItemLevel, category: String, page: Int)
        case guide(code: String, page: Int)
        case placeCard(Purpose)
        case identity
        case photo(index: Int)
        case phone
        case review
        case submitting
        case printing
        case done(receiptOK: Bool, problem: String?)
        case evaluate
        case evaluationReason(level: Int)
        case thanks
        case progressList
        /// Technician mode: PIN entry after the hidden sequence (### on the home screen).
        case technicianPIN
        /// Technician mode: device status and self-tests; residents see "暂停服务".
        case technician
        /// Self pick-up (自助取件): the resident's downloaded certificates, to print on the A4 printer.
        case pickupList
        /// Staff sign-in: PIN entry after the staff card was recognised.
        case staffPIN
        /// Staff: the menu after sign-in.
        case staffMenu
        /// Staff: certificates not yet collected.
        case staffCertificates(page: Int)
        /// Staff: one certificate: print / reprint, hand over.
        case staffCertificate(submissionId: String)
        /// Staff: hand every printed certificate over at once (e.g. to a village agent).
        case staffBatchCollect
        /// Staff: the ledger (台账) of today or this month.
        case staffLedger(month: Bool)
        /// Staff: take the kiosk out of service, or bring it back.
        case staffService
    }

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
    }

    public private(set) var catalog: Catalog
    public var settings: FlowSettings
    public internal(set) var route: Route = .home
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
    var technicianPIN = ""
    /// What the last technician command reported (no personal data: states, counts, reasons).
    var technicianLines: [String] = []
    var technicianBusy = false
    /// The signed-in staff member (帮办代办, certificates, ledger); nil for resident self-service.
    public internal(set) var staff: StaffMember?
    var staffCandidate: StaffMember?
    var staffPINEntry = ""
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

    public init(catalog: Catalog, settings: FlowSettings, now: Date = Date()) {
        self.catalog = catalog; self.settings = settings; self.now = now; self.lastActivity = now
        language = settings.language; largeMode = settings.largeMode
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
        guard let item = session.item else { return [] }
        if let g = catalog.guide(for: item.code), !g.materialsToPhotograph.isEmpty {
            return g.materialsToPhotograph.map(\.name)
        }
        return ["申请材料（第1页）", "申请材料（第2页，可跳过）", "申请材料（第3页，可跳过）"]
    }

    /// How many material photos are required before the resident may continue.
    var requiredPhotos: Int {
        guard let item = session.item else { return 0 }
        if let g = catalog.guide(for: item.code), !g.materialsToPhotograph.isEmpty { return g.materialsToPhotograph.count }
        return 1
    }

    var isIdleExempt: Bool {
        switch route {
        case .home, .submitting, .printing: return true
        case .help: return false
        default: return false
        }
    }

    /// Seconds left before the session is wiped, when the warning is showing.
    public var countdown: Int? {
        guard !isIdleExempt else { return nil }
        let left = idleTimeout - Int(now.timeIntervalSince(lastActivity))
        return left <= warningTime ? max(0, left) : nil
    }

    /// Ends the resident's session: everything they entered is dropped and the screen wiped.
    /// With staff signed in (帮办代办) it returns to the staff menu, unless `signOut` (timeout, exit).
    mutating func endSession(_ effects: inout [FlowEffect], signOut: Bool = false) {
        if session.identity != nil || session.item != nil || !session.phone.isEmpty || !session.photos.isEmpty {
            sessionsCompleted += 1
        }
        session = Session()
        message = nil
        assisting = false
        language = settings.language
        largeMode = settings.largeMode
        helpReturn = nil
        categoryPage = 0
        staffCandidate = nil
        staffPINEntry = ""
        staffBusy = false
        if staff != nil, !signOut {
            route = .staffMenu
        } else {
            if let s = staff { effects.append(.audit(actor: s.staffId, action: "staff.signout", subject: nil, detail: nil)) }
            staff = nil
            staffLines = []
            staffCertificates = []
            route = .home
        }
        effects.append(.stopCardReading)
        effects.append(.wipeTerminal)
    }

    mutating func go(_ r: Route, _ effects: inout [FlowEffect]) {
        let wasReading: Bool = { if case .placeCard = route { return true }; return false }()
        // Staff never stay signed in on the home screen (it does not time out): signed out, audited.
        if r == .home, let s = staff {
            effects.append(.audit(actor: s.staffId, action: "staff.signout", subject: nil, detail: nil))
            staff = nil
            assisting = false
            staffLines = []
            staffCertificates = []
            staffBusy = false
        }
        route = r
        message = nil
        if case .placeCard = r { effects.append(.startCardReading) } else if wasReading { effects.append(.stopCardReading) }
    }

    // MARK: Events

    public mutating func handle(_ event: FlowEvent) -> [FlowEffect] {
        let before = (route, message, language, countdown)
        var effects = handleEvent(event)
        if settings.voicePrompts, before.0 != route || before.1 != message || before.2 != language || (before.3 == nil) != (countdown == nil) {
            if let say = spokenPrompt(), say != lastSpoken {
                lastSpoken = say
                effects.append(.speak(say, language))
            }
        }
        return effects
    }

    /// What voice prompts say now: the countdown warning, else an error or notice, else the screen's title.
    func spokenPrompt() -> String? {
        if let c = countdown { return L("{1} 秒后将返回首页并清除您的信息，按任意键继续办理", c) }
        if isStaffOrTechnicianScreen { return nil }      // staff names and numbers are never spoken
        if let m = message { return m }
        let t = content(width: 80).title
        return t.isEmpty ? nil : t
    }

    mutating func handleEvent(_ event: FlowEvent) -> [FlowEffect] {
        var effects: [FlowEffect] = []
        switch event {
        case .tick(let t):
            now = t
            if !isIdleExempt, Int(now.timeIntervalSince(lastActivity)) >= idleTimeout {
                if let s = staff { effects.append(.audit(actor: s.staffId, action: "staff.timeout", subject: nil, detail: nil)) }
                endSession(&effects, signOut: true)
            }
        case .key(let k):
            let warning = countdown != nil
            lastActivity = now
            if warning { return [] }   // any key extends the session; it does nothing else
            handleKey(k, &effects)
        case .devices(let d):
            devices = d
        case .storage(let accepting):
            acceptingSubmissions = accepting
        case .cardRead(let identity):
            guard case .placeCard(let purpose) = route else { break }
            lastActivity = now
            session.identity = identity
            switch purpose {
            case .apply: go(.identity, &effects)
            case .progress:
                go(.progressList, &effects)
                session.progressLoaded = false
                effects.append(.loadProgress(idNumber: identity.idNumber))
            case .pickup:
                go(.pickupList, &effects)
                session.certificatesLoaded = false
                effects.append(.loadCertificates(idNumber: identity.idNumber))
            case .staffSignIn:
                // The staff card is only matched against the registry; nothing of it is kept.
                session.identity = nil
                message = "正在核对工作人员身份……"
                effects.append(.stopCardReading)
                effects.append(.identifyStaff(idNumber: identity.idNumber))
            }
        case .cardRemoved:
            break
        case .cardProblem(let m):
            if case .placeCard = route { message = L(m) }
        case .photoCaptured(let data):
            session.captureInFlight = false
            // The picture belongs to the material it was taken for, and only if that screen is still up.
            guard case .photo(let i) = route, session.captureIndex == i, i < session.photos.count else { break }
            session.captureIndex = nil
            lastActivity = now
            session.photos[i] = data
            message = L("已拍摄（{1} KB）。按 Enter 继续，按 1 重拍", data.count / 1024)
        case .photoFailed(let m):
            session.captureInFlight = false
            session.captureIndex = nil
            if case .photo = route { message = L("拍照失败：{1}。请按 Enter 重试", L(m)) }
        case .sealed(let s):
            guard route == .submitting else { break }
            session.sealed = s
            route = .printing
            effects.append(.printReceipt(receiptDocument(for: s), submissionId: s.id))
        case .sealFailed(let m):
            guard route == .submitting else { break }
            route = .review
            message = L("提交未成功，材料未上交：{1}", L(m))
        case .receiptPrinted:
            guard route == .printing else { break }
            lastActivity = now
            route = .done(receiptOK: true, problem: nil)
        case .receiptFailed(let m):
            guard route == .printing else { break }
            lastActivity = now
            route = .done(receiptOK: false, problem: m)
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
            technicianPIN = ""
            if ok {
                route = .technician
                technicianLines = []
                technicianBusy = true
                effects.append(.technicianStatus)
            } else {
                message = reason
            }
        case .technicianReport(let lines):
            technicianBusy = false
            guard route == .technician else { break }
            technicianLines = lines
        case .staffIdentified, .staffPINChecked, .certificatesLoaded, .certificatePrinted, .staffReport, .serviceState, .helpPending:
            handleStaffEvent(event, &effects)
        }
        return effects
    }

    mutating func handleKey(_ k: Key, _ effects: inout [FlowEffect]) {
        if handleTechnicianKey(k, &effects) { return }
        // Language and help, on every resident screen.
        if !isStaffOrTechnicianScreen {
            switch k {
            case .char("l"), .char("L"), .function(2):
                language = language == .zh ? .en : .zh
                message = nil
                return
            case .char("h"), .char("H"), .function(1):
                // Not while a submission is being saved or its receipt printed: those screens end by themselves.
                if route != .help && route != .submitting && route != .printing && session.printingCertificate == nil { callStaff(&effects) }
                return
            default: break
            }
        }
        if handleStaffKey(k, &effects) { return }
        switch route {
        case .home:
            if k == .char("#") {
                hashPresses += 1
                if hashPresses >= 3 { hashPresses = 0; technicianPIN = ""; message = nil; route = .technicianPIN }
                return
            }
            hashPresses = 0
            if k == .char("*") {
                guard usable(.idCardReader) else { message = "身份证阅读器暂不可用，工作人员无法登录"; return }
                go(.placeCard(.staffSignIn), &effects)
                return
            }
            if outOfService != nil { return }   // only staff and technicians while out of service
            switch k {
            case .digit(5): callStaff(&effects)
            case .digit(6):
                largeMode.toggle()
                message = largeMode ? L("已切换为大字模式。按 6 可回到标准模式") : L("已切换为标准模式。按 6 可使用大字模式")
            case .digit(4):
                if !usable(.idCardReader) { message = L("身份证阅读器暂不可用，请到窗口领取证照") }
                else if !usable(.a4Printer) { message = L("证照打印机暂不可用，请到窗口领取证照") }
                else { go(.placeCard(.pickup), &effects) }
            case .digit(1): categoryPage = 0; go(.categories(.town), &effects)
            case .digit(2): categoryPage = 0; go(.categories(.village), &effects)
            case .digit(3):
                if usable(.idCardReader) { go(.placeCard(.progress), &effects) }
                else { message = L("身份证阅读器暂不可用，请到窗口查询进度") }
            default: break
            }

        case .help:
            if k == .digit(0) || k == .escape || k == .enter {
                let back = helpReturn ?? .home
                helpReturn = nil
                route = back
                message = nil
                if case .placeCard = back { effects.append(.startCardReading) }
            }

        case .categories(let level):
            let cats = catalog.categories(level: level)
            let per = categoriesPerPage
            let pages = max(1, (cats.count + per - 1) / per)
            let page = min(categoryPage, pages - 1)
            let slice = Array(cats.dropFirst(page * per).prefix(per))
            switch k {
            case .digit(let d) where d >= 1 && d <= slice.count:
                go(.items(level, category: slice[d - 1], page: 0), &effects)
            case .digit(9), .pageDown, .down: if page + 1 < pages { categoryPage = page + 1 }
            case .digit(7), .pageUp, .up: if page > 0 { categoryPage = page - 1 }
            case .digit(0), .escape: go(staff != nil ? .staffMenu : .home, &effects)
            default: break
            }

        case .items(let level, let category, let page):
            let items = catalog.items(level: level, category: category)
            let pages = max(1, (items.count + pageSize - 1) / pageSize)
            let slice = Array(items.dropFirst(page * pageSize).prefix(pageSize))
            switch k {
            case .digit(let d) where d >= 1 && d <= slice.count:
                session.item = slice[d - 1]
                go(.guide(code: slice[d - 1].code, page: 0), &effects)
            case .digit(9), .pageDown, .down:
                if page + 1 < pages { route = .items(level, category: category, page: page + 1) }
            case .digit(7), .pageUp, .up:
                if page > 0 { route = .items(level, category: category, page: page - 1) }
            case .digit(0), .escape: go(.categories(level), &effects)   // keeps the category page
            default: break
            }

        case .guide(let code, let page):
            guard let item = catalog.item(code: code) else { go(staff != nil ? .staffMenu : .home, &effects); return }
            switch k {
            case .digit(1):
                guard !session.printingNotice else { return }
                if receiptPrinterReady {
                    session.printingNotice = true
                    message = L("正在打印一次性告知单……")
                    effects.append(.printNotice(noticeDocument(for: item)))
                } else {
                    message = L("回执打印机暂不可用（{1}），请到窗口索取告知单", printerProblem)
                }
            case .digit(2):
                session.item = item
                if !acceptingSubmissions { message = L("本机存储空间不足，暂停受理新的申请，请到窗口办理或联系工作人员"); return }
                if !usable(.idCardReader) { message = L("身份证阅读器暂不可用，请联系工作人员"); return }
                if !usable(.documentCamera) { message = L("高拍仪暂不可用，请到窗口办理"); return }
                session.photos = Array(repeating: nil, count: materialNames.count)
                go(.placeCard(.apply), &effects)
            case .digit(9), .pageDown, .down:
                route = .guide(code: code, page: min(page + 1, guidePageCount(item, width: 80) - 1))
            case .digit(7), .pageUp, .up: route = .guide(code: code, page: max(0, page - 1))
            case .digit(0), .escape:
                go(.items(item.level, category: item.category, page: 0), &effects)
            default: break
            }

        case .placeCard:
            switch k {
            case .digit(0), .escape:
                endSession(&effects)
            case .char(let c):
                if let cards = settings.simulatedCards, let v = c.lowercased().unicodeScalars.first?.value,
                   v >= 97, Int(v - 97) < cards.count {
                    effects.append(.placeSimulatedCard(Int(v - 97)))
                }
            default: break
            }

        case .identity:
            switch k {
            case .enter, .digit(1): go(.photo(index: 0), &effects)
            case .digit(0), .escape: endSession(&effects)
            default: break
            }

        case .photo(let i):
            guard i < session.photos.count else { go(.phone, &effects); return }
            let taken = session.photos[i] != nil
            switch k {
            case .enter:
                if session.captureInFlight { return }
                if taken { advancePhoto(from: i, &effects) }
                else {
                    session.captureInFlight = true; session.captureIndex = i
                    message = L("正在拍照，请保持材料平整……"); effects.append(.capturePhoto)
                }
            case .digit(1):
                if taken && !session.captureInFlight {
                    session.photos[i] = nil
                    session.captureInFlight = true
                    session.captureIndex = i
                    message = L("正在重拍……")
                    effects.append(.capturePhoto)
                }
            case .digit(9):
                // Optional pages may be skipped once the required ones are taken.
                if i >= requiredPhotos { go(.phone, &effects) }
                else { message = L("这份材料必须拍摄，请按 Enter 拍照") }
            case .escape, .digit(0):
                if session.captureInFlight { return }      // wait for the picture being taken
                if i == 0 { go(.identity, &effects) } else { go(.photo(index: i - 1), &effects) }
            default: break
            }

        case .phone:
            switch k {
            case .digit(let d):
                if session.phone.count < 11 { session.phone.append(String(d)) }
                message = nil
            case .backspace:
                if !session.phone.isEmpty { session.phone.removeLast() }
            case .enter:
                if Self.validPhone(session.phone) { go(.review, &effects) }
                else { message = L("手机号码应为11位数字，以1开头，请检查后重新输入") }
            case .escape:
                go(.photo(index: max(0, session.photos.count - 1)), &effects)
            default: break
            }

        case .review:
            switch k {
            case .enter:
                guard let item = session.item, let id = session.identity else { return }
                let photos = session.photos.compactMap { $0 }
                let req = SubmissionRequest(
                    itemCode: item.code, itemName: item.name,
                    applicant: ApplicantData(idNumber: id.idNumber, name: id.displayName,
                                             cardType: id.cardType.rawValue, phone: session.phone),
                    photos: photos, photoNames: photos.indices.map { "material-\($0 + 1).jpg" },
                    assistedBy: assisting ? staff?.staffId : nil)
                route = .submitting
                message = nil
                effects.append(.seal(req))
            case .digit(0), .escape:
                endSession(&effects)
            default: break
            }

        case .submitting, .printing:
            break

        case .done(let ok, _):
            if k == .enter || k == .digit(1) { route = .evaluate; message = nil }
            if k == .digit(0) || k == .escape { endSession(&effects) }
            if k == .digit(2), !ok, let s = session.sealed {
                // Reprint of the receipt for the submission that is already sealed, once paper is back.
                if receiptPrinterReady {
                    route = .printing
                    message = nil
                    effects.append(.printReceipt(receiptDocument(for: s), submissionId: s.id))
                } else {
                    message = L("回执打印机仍不可用（{1}），请凭办件编号到窗口请工作人员补打", printerProblem)
                }
            }

        case .evaluate:
            switch k {
            case .digit(let d) where d >= 1 && d <= 5:
                let level = EvaluationLevel.allCases[d - 1]
                if level.asksReason { route = .evaluationReason(level: level.rawValue) }
                else { record(level: level.rawValue, reason: nil, &effects) }
            case .digit(0), .escape:
                route = .thanks
            default: break
            }

        case .evaluationReason(let level):
            switch k {
            case .digit(let d) where d >= 1 && d <= evaluationReasons.count:
                record(level: level, reason: evaluationReasons[d - 1], &effects)
            case .digit(0), .escape:
                record(level: level, reason: nil, &effects)
            default: break
            }

        case .thanks:
            endSession(&effects)

        case .progressList:
            if k == .digit(0) || k == .escape || k == .enter { endSession(&effects) }

        case .technicianPIN, .technician:
            break   // handled by handleTechnicianKey
        case .pickupList, .staffPIN, .staffMenu, .staffCertificates, .staffCertificate, .staffBatchCollect, .staffLedger, .staffService:
            break   // handled by handleStaffKey
        }
    }

    /// Call staff: the help screen says where help is; the request is recorded for staff.
    mutating func callStaff(_ effects: inout [FlowEffect]) {
        if case .placeCard = route { effects.append(.stopCardReading) }
        helpReturn = route
        route = .help
        message = nil
        effects.append(.callStaff(screen: Self.routeName(helpReturn ?? .home)))
    }

    /// A short name of a screen for logs and the help record (no personal data).
    static func routeName(_ r: Route) -> String {
        switch r {
        case .home: return "home"
        case .help: return "help"
        case .categories: return "categories"
        case .items: return "items"
        case .guide(let code, _): return "guide " + code
        case .placeCard: return "place-card"
        case .identity: return "identity"
        case .photo: return "photo"
        case .phone: return "phone"
        case .review: return "review"
        case .submitting: return "submitting"
        case .printing: return "printing"
        case .done: return "done"
        case .evaluate, .evaluationReason: return "evaluation"
        case .thanks: return "thanks"
        case .progressList: return "progress"
        case .pickupList: return "pickup"
        default: return "staff"
        }
    }

    mutating func advancePhoto(from i: Int, _ effects: inout [FlowEffect]) {
        if i + 1 < session.photos.count { go(.photo(index: i + 1), &effects) } else { go(.phone, &effects) }
    }

    mutating func record(level: Int, reason: String?, _ effects: inout [FlowEffect]) {
        if let c = session.sealed?.caseNumber {
            effects.append(.recordEvaluation(caseNumber: c, level: level, reason: reason))
        }
        route = .thanks
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

    static let guideLinesPerPage = 11

    public static func validPhone(_ s: String) -> Bool {
        s.count == 11 && s.first == "1" && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber)
            && !["0", "1", "2"].contains(s[s.index(after: s.startIndex)])
    }
}
