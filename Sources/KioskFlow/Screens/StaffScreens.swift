import Foundation
import KioskCore
import KioskProtocols

// Township staff at the kiosk (窗口工作人员, 代办员): after sign-in (card, then PINScreen) the staff
// menu — assisted submissions (帮办代办), certificates to print and hand over, the ledger (台账),
// out of service. Staff screens are in Chinese, time out like residents' and every action is audited.

/// Preset notices for out of service (a custom one can be set with `kioskctl service off --notice`).
public let outOfServiceNotices = [
    "设备维护中，暂停服务，请到窗口办理。",
    "系统升级中，暂停服务，请稍后再来或到窗口办理。",
    "非工作时间，自助服务暂停，请在工作时间到窗口办理。",
]

/// A staff screen: only with a member signed in (else back home).
protocol StaffScreen: Screen {
    func staffBody(_ m: FlowMachine, _ s: StaffMember, width: Int) -> ScreenBody
    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition
}

extension StaffScreen {
    var audience: Audience { .staff }
    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        guard let s = m.staff else { return ScreenBody(title: "") }
        return staffBody(m, s, width: w)
    }
    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        guard let s = m.staff else { return .go(.home) }
        return handle(k, &m, s)
    }
}

struct StaffMenuScreen: StaffScreen {
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        var b = ScreenBody(
            title: "工作人员菜单",
            lines: [ScreenLine("  \(s.displayName)  工号 \(s.staffId)  \(s.role.chinese)"), ScreenLine("")])
        b.options = [
            ScreenOption(.digit(1), "帮办代办：镇级事项") { m in m.startAssisting(.town) },
            ScreenOption(.digit(2), "帮办代办：村级事项") { m in m.startAssisting(.village) },
        ]
        if s.role == .window {
            b.options += [
                ScreenOption(.digit(3), "证照出证：打印、补打、登记领取") { m in
                    m.staffCertificates = []
                    m.staffBusy = true
                    m.emit(.loadCertificates(idNumber: nil))
                    return .go(.staffCertificates(page: 0))
                },
                ScreenOption(.digit(4), "工作台账：今日 / 本月，打印") { m in
                    m.staffLines = []
                    m.staffBusy = true
                    m.ledgerPage = 0
                    if let s = m.staff { m.emit(.ledger(month: false, print: nil, by: s.staffId)) }
                    return .go(.staffLedger(month: false))
                },
                ScreenOption(.digit(5), m.outOfService == nil ? "暂停服务（显示通知）" : "恢复服务（当前暂停中）") { _ in .go(.staffService)
                },
            ]
        }
        b.lines += m.optionLines(b.options, width: w)
        if m.helpPending.count > 0 {
            let last = m.helpPending.last.map { m.timestamp("HH:mm", $0) } ?? ""
            let help = ScreenOption(.digit(6), "居民求助 \(m.helpPending.count) 次未处理（最近 \(last)），处理后按 6") { m in
                if let s = m.staff {
                    m.emit(
                        .audit(
                            actor: s.staffId, action: "help.acknowledged", subject: nil,
                            detail: "\(m.helpPending.count) request(s)"))
                }
                if let s = m.staff { m.emit(.afterService(.acknowledgeHelp(by: s.staffId))) }
                m.helpPending = (0, nil)
                m.message = "求助已处理"
                return .stay
            }
            b.options.append(help)
            b.lines += m.optionLines([help], width: w).map { ScreenLine($0.text, .alert, targets: $0.targets) }
        }
        if s.role == .window {
            let reprint = ScreenOption(.digit(8), "补打回执（按办件编号）") { m in
                m.afterService.caseInput = ""
                return .go(.staffReprint)
            }
            b.options.append(reprint)
            b.lines += m.optionLines([reprint], width: w)
        }
        let helpLog = ScreenOption(.digit(7), "居民求助记录（是否送达平台、由谁处理）") { m in
            m.afterService.helpCallsLoaded = false
            m.emit(.afterService(.loadHelpCalls))
            return .go(.staffHelp)
        }
        b.options.append(helpLog)
        b.lines += m.optionLines([helpLog], width: w)
        if let n = m.outOfService {
            b.lines.append(ScreenLine(""))
            b.lines += m.wrapped("当前暂停服务：\(n)", w)
        }
        b.hints =
            s.role == .window ? m.hints("1-5 选择   0 退出登录", nil, .digit(0)) : m.hints("1-2 选择   0 退出登录", nil, .digit(0))
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        switch k {
        case .digit(0), .escape:
            return .signOut
        case .digit(let d) where (3...5).contains(d) && s.role != .window:
            m.message = "代办员只能办理帮办代办；证照、台账和暂停服务请由窗口工作人员操作"
            return .stay
        default:
            return choose(k, &m)
        }
    }
}

struct StaffCertificatesScreen: StaffScreen {
    static let perPage = 5
    var page: Int
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        let all = m.staffCertificates
        let p = Pager(count: all.count, perPage: Self.perPage, page: page)
        var b = ScreenBody(
            title: "证照出证",
            hints: m.hints("数字 选择  6 逐份登记领取  8 批量打印  7/9 翻页  0 返回", nil, .digit(6), .digit(8), nil, .digit(0)))
        if m.staffBusy && all.isEmpty {
            b.lines.append(ScreenLine("  正在查询……"))
        } else if all.isEmpty {
            b.lines.append(ScreenLine("  没有待领取的证照。"))
        }
        for (i, c) in p.slice(all).enumerated() {
            let target = [TapTarget(columns: 2..<w, key: .digit(i + 1))]
            b.options.append(
                ScreenOption(.digit(i + 1), c.caseNumber) { _ in .go(.staffCertificate(submissionId: c.submissionId)) })
            b.lines.append(ScreenLine("  \(i + 1)  \(c.caseNumber)  \(m.certificateState(c))", .bold, targets: target))
            b.lines.append(ScreenLine("     " + DisplayWidth.truncate(c.itemName, columns: w - 7), targets: target))
        }
        if !all.isEmpty {
            let waiting = all.filter(CertificatePolicy.inBatch).count
            b.lines.append(ScreenLine("  共 \(all.count) 份未领取，其中待打印 \(waiting) 份   第 \(p.page + 1)/\(p.pages) 页", .dim))
        }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        let p = Pager(count: m.staffCertificates.count, perPage: Self.perPage, page: page)
        switch k {
        case .digit(8):
            guard !m.staffBusy else { return .stay }
            guard m.usable(.a4Printer) else {
                m.message = m.staffA4Problem
                return .stay
            }
            m.staffBusy = true
            m.message = "正在批量打印待打印的证照……"
            m.emit(.printCertificateBatch(by: s.staffId))
            return .stay
        case .digit(6):
            guard m.staffCertificates.contains(where: CertificatePolicy.mayCollect) else {
                m.message = "没有已打印待领取的证照：请先按 8 批量打印，或选择一份打印"
                return .stay
            }
            m.afterService.collectSkipped = []
            return .go(.staffBatchCollect)
        case .digit(9), .pageDown, .down:
            return p.hasNext ? .page(.staffCertificates(page: p.page + 1)) : .stay
        case .digit(7), .pageUp, .up:
            return p.hasPrevious ? .page(.staffCertificates(page: p.page - 1)) : .stay
        case .digit(0), .escape:
            return .go(.staffMenu)
        default:
            return choose(k, &m)
        }
    }
}

struct StaffCertificateScreen: StaffScreen {
    var submissionId: String
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        guard let c = m.staffCertificates.first(where: { $0.submissionId == submissionId }) else {
            return ScreenBody(title: "证照", hints: m.hints("0 返回", .digit(0)))
        }
        var b = ScreenBody(
            title: "证照", lines: [ScreenLine("  办件编号：\(c.caseNumber)", .bold)],
            hints: m.hints("1 打印   2 本人领取   3 代领   0 返回", .digit(1), .digit(2), .digit(3), .digit(0)))
        b.lines += m.wrapped("事项：\(c.itemName)", w)
        b.lines.append(ScreenLine("  状态：\(m.certificateState(c))"))
        if let p = c.printedAt {
            b.lines.append(
                ScreenLine(
                    "  最近打印：\(m.timestamp("MM-dd HH:mm", p))（\(c.printedBy == .resident ? "自助" : c.printedBy?.rawValue ?? "")）"
                ))
        }
        b.lines.append(ScreenLine(""))
        b.options = [
            ScreenOption(.digit(1), c.printCount > 0 ? "重新打印（卡纸、缺页后补打）" : "打印"),
            ScreenOption(.digit(2), "登记领取：申请人本人领取"),
            ScreenOption(.digit(3), "登记领取：他人代领"),
        ]
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        guard let c = m.staffCertificates.first(where: { $0.submissionId == submissionId }) else {
            return .go(.staffCertificates(page: 0))
        }
        switch k {
        case .digit(1):
            guard !m.staffBusy else { return .stay }
            guard c.downloaded else {
                m.message = "证照尚未下载到本机，请稍后再试（网络恢复后自动下载）"
                return .stay
            }
            guard m.usable(.a4Printer) else {
                m.message = m.staffA4Problem
                return .stay
            }
            m.staffBusy = true
            m.message = c.printCount > 0 ? "正在重新打印……" : "正在打印……"
            m.emit(.printCertificate(submissionId: submissionId, by: .staff(s.staffId)))
            return .stay
        case .digit(2), .digit(3):
            guard c.printCount > 0 else {
                m.message = "证照尚未打印，请先按 1 打印"
                return .stay
            }
            // The hand-over confirms who collects: the applicant's card, or a proxy's card and relation.
            return m.startHandover(submissionId, proxy: k == .digit(3))
        case .digit(0), .escape:
            return .go(.staffCertificates(page: 0))
        default:
            return .ignored
        }
    }
}

/// 逐份登记领取: every printed certificate handed over in turn, each through the hand-over that
/// reads the collector's card (the applicant's own, or a proxy's with the relation). Nothing is
/// marked collected without a collector; one not collected now can be skipped.
struct StaffBatchCollectScreen: StaffScreen {
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        let printed = m.staffCertificates.filter(CertificatePolicy.mayCollect)
        let skipped = printed.filter { m.afterService.collectSkipped.contains($0.submissionId) }.count
        var b = ScreenBody(title: "逐份登记领取")
        if m.staffBusy && m.staffCertificates.isEmpty {
            b.lines = [ScreenLine("  正在查询……")]
            b.hints = m.hints("0 结束", .digit(0))
            return b
        }
        guard let c = m.nextToCollect else {
            b.lines.append(
                ScreenLine(skipped > 0 ? "  其余 \(skipped) 份已跳过，仍在待领取列表中。" : "  已打印的证照都已登记领取。", .bold))
            b.hints = m.hints("0 返回证照列表", .digit(0))
            return b
        }
        let position = (printed.firstIndex { $0.submissionId == c.submissionId } ?? 0) + 1
        b.lines.append(ScreenLine("  已打印待领取 \(printed.count) 份；每份都要核验领取人的身份证。", .dim))
        b.lines.append(ScreenLine(""))
        b.lines.append(ScreenLine("  第 \(position)/\(printed.count) 份：\(c.caseNumber)", .bold))
        b.lines += m.wrapped("事项：\(c.itemName)", w)
        b.lines.append(ScreenLine(""))
        b.options = [
            ScreenOption(.digit(1), "申请人本人领取（读申请人身份证）") { m in m.startHandover(c.submissionId, proxy: false) },
            ScreenOption(.digit(2), "他人代领（选关系，读代领人身份证）") { m in m.startHandover(c.submissionId, proxy: true) },
            ScreenOption(.digit(3), "跳过此份（留在待领取列表）") { m in
                m.afterService.collectSkipped.insert(c.submissionId)
                m.message = "已跳过 \(c.caseNumber)"
                return .stay
            },
        ]
        b.lines += m.optionLines(b.options, width: w)
        b.hints = m.hints("1 本人领取   2 代领   3 跳过   0 结束", .digit(1), .digit(2), .digit(3), .digit(0))
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        switch k {
        case .digit(0), .escape:
            m.afterService.collectSkipped = []
            return .go(.staffCertificates(page: 0))
        default:
            return choose(k, &m)
        }
    }
}

/// The ledger (台账) of today or this month, paged; printable on the receipt or the A4 printer.
struct StaffLedgerScreen: StaffScreen {
    static let linesPerPage = 14
    var month: Bool
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        let all = m.ledgerRows(width: w)
        let p = Pager(count: all.count, perPage: Self.linesPerPage, page: m.ledgerPage)
        var lines = p.slice(all)
        if m.staffLines.isEmpty { lines.append(ScreenLine("  正在统计……")) }
        if p.pages > 1 { lines.append(ScreenLine("  第 \(p.page + 1)/\(p.pages) 页（7/9 翻页）", .dim)) }
        return ScreenBody(
            title: month ? "工作台账：本月" : "工作台账：今日", lines: lines,
            hints: m.hints(
                "1 今日  2 本月  3 回执打印  4 A4打印  7/9 翻页  0 返回", .digit(1), .digit(2), .digit(3), .digit(4), nil, .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        let p = Pager(count: m.ledgerRows(width: 80).count, perPage: Self.linesPerPage, page: m.ledgerPage)
        switch k {
        case .digit(1), .digit(2):
            let month = k == .digit(2)
            m.staffBusy = true
            m.ledgerPage = 0
            m.emit(.ledger(month: month, print: nil, by: s.staffId))
            return .page(.staffLedger(month: month))
        case .digit(3):
            guard !m.staffBusy else { return .stay }
            guard m.receiptPrinterReady else {
                m.message = "回执打印机暂不可用（\(m.printerProblem)）：请加纸或排除故障后再打印"
                return .stay
            }
            m.staffBusy = true
            m.message = "正在打印台账……"
            m.emit(.ledger(month: month, print: .receipt, by: s.staffId))
            return .stay
        case .digit(4):
            guard !m.staffBusy else { return .stay }
            guard m.usable(.a4Printer) else {
                m.message = m.staffA4Problem
                return .stay
            }
            m.staffBusy = true
            m.message = "正在用A4打印机打印台账……"
            m.emit(.ledger(month: month, print: .a4, by: s.staffId))
            return .stay
        case .digit(9), .pageDown, .down:
            if p.hasNext { m.ledgerPage = p.page + 1 }
            return .stay
        case .digit(7), .pageUp, .up:
            if p.hasPrevious { m.ledgerPage = p.page - 1 }
            return .stay
        case .digit(0), .escape:
            return .go(.staffMenu)
        default:
            return .ignored
        }
    }
}

/// Take the kiosk out of service with a notice, or bring it back.
struct StaffServiceScreen: StaffScreen {
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        var b = ScreenBody(
            title: "暂停 / 恢复服务", lines: [ScreenLine(m.outOfService == nil ? "  当前：正常服务" : "  当前：暂停服务", .bold)],
            hints: m.hints("1-\(outOfServiceNotices.count) 暂停   9 恢复   0 返回", nil, .digit(9), .digit(0)))
        if let n = m.outOfService { b.lines += m.wrapped("首页通知：\(n)", w) }
        b.lines.append(ScreenLine(""))
        b.lines.append(ScreenLine("  暂停服务并在首页显示："))
        for (i, n) in outOfServiceNotices.enumerated() {
            b.options.append(
                ScreenOption(.digit(i + 1), n) { m in
                    m.outOfService = n
                    if let s = m.staff { m.emit(.setOutOfService(notice: n, by: s.staffId)) }
                    m.message = "已暂停服务，首页显示：\(n)"
                    return .stay
                })
            b.lines += m.wrapped("\(i + 1)  \(n)", w).map {
                ScreenLine($0.text, targets: [TapTarget(columns: 2..<w, key: .digit(i + 1))])
            }
        }
        b.options.append(
            ScreenOption(.digit(9), "恢复服务") { m in
                m.outOfService = nil
                if let s = m.staff { m.emit(.setOutOfService(notice: nil, by: s.staffId)) }
                m.message = "已恢复服务"
                return .stay
            })
        b.lines += m.optionLines([b.options[b.options.count - 1]], width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        if k == .digit(0) || k == .escape { return .go(.staffMenu) }
        return choose(k, &m)
    }
}

extension Route {
    public static var staffMenu: Route { Route(StaffMenuScreen()) }
    public static func staffCertificates(page: Int) -> Route { Route(StaffCertificatesScreen(page: page)) }
    public static func staffCertificate(submissionId: String) -> Route {
        Route(StaffCertificateScreen(submissionId: submissionId))
    }
    public static var staffBatchCollect: Route { Route(StaffBatchCollectScreen()) }
    public static func staffLedger(month: Bool) -> Route { Route(StaffLedgerScreen(month: month)) }
    public static var staffService: Route { Route(StaffServiceScreen()) }
}

extension FlowMachine {
    /// 帮办代办: the resident flow on a resident's behalf, back to the staff menu at its end.
    mutating func startAssisting(_ level: ItemLevel) -> Transition {
        guard let s = staff else { return .go(.home) }
        assisting = true
        categoryPage = 0
        session = Session()
        emit(.audit(actor: s.staffId, action: "assist.started", subject: nil, detail: nil))
        return .go(.categories(level))
    }

    mutating func handleStaffEvent(_ event: FlowEvent) {
        switch event {
        case .staffIdentified(let member):
            guard route == .placeCard(.staffSignIn) else { break }
            lastActivity = now
            guard let member else {
                message = "此证件未登记为工作人员。请使用本人身份证，或联系管理员登记"
                emit(.audit(actor: "unknown", action: "staff.signin.unknown-card", subject: nil, detail: nil))
                emit(.startCardReading)
                return
            }
            guard member.active else {
                message = "工号 \(member.staffId) 已停用，请联系管理员"
                emit(.audit(actor: member.staffId, action: "staff.signin.refused", subject: nil, detail: "disabled"))
                emit(.startCardReading)
                return
            }
            if let until = member.lockedUntil, until > now {
                message =
                    "密码错误次数过多，已锁定，请 \(max(1, Int((until.timeIntervalSince(now) / 60).rounded(.up)))) 分钟后再试或联系管理员解锁"
                emit(.audit(actor: member.staffId, action: "staff.signin.refused", subject: nil, detail: "locked out"))
                emit(.startCardReading)
                return
            }
            staffCandidate = member
            pinEntry = ""
            route = .staffPIN
            message = nil
        case .staffPINChecked(let staffId, let result):
            // A late answer for someone who gave up (Esc) is not applied to whoever is there now.
            guard route == .staffPIN, staffBusy, staffCandidate?.staffId == staffId else { break }
            lastActivity = now
            staffBusy = false
            switch result {
            case .signedIn(let m):
                staff = m
                staffCandidate = nil
                apply(.go(.staffMenu))
                staffLines = []
                message = "\(m.displayName)（\(m.staffId)，\(m.role.chinese)）已登录"
            case .wrongPIN(let left):
                message = "密码错误，还可以再试 \(left) 次"
            case .lockedOut(let until):
                staffCandidate = nil
                apply(.go(.home))
                message = "密码错误次数过多，已锁定 \(max(1, Int((until.timeIntervalSince(now) / 60).rounded(.up)))) 分钟。请联系管理员解锁"
            case .inactive:
                staffCandidate = nil
                apply(.go(.home))
                message = "该工号已停用，请联系管理员"
            case .unknown:
                staffCandidate = nil
                apply(.go(.home))
                message = "工作人员登记已变更，请重新放置证件"
            }
        case .certificatesLoaded(let list):
            if inPickup {
                session.certificates = list
                session.certificatesLoaded = true
            } else {
                staffCertificates = list
                staffBusy = false
            }
        case .certificatePrinted(let id, let ok, let m):
            session.printingCertificate = nil
            staffBusy = false
            if inPickup {
                if route == .pickupList { message = L(m) }
                if ok { session.certificates.removeAll { $0.submissionId == id } }
            } else if staff != nil {
                if isStaffOrTechnicianScreen { message = m }
                emit(.loadCertificates(idNumber: nil))
            }
        case .staffReport(let lines, let m):
            // Only on staff screens: a result arriving after sign-out is not shown to a resident.
            guard staff != nil, isStaffOrTechnicianScreen else { break }
            staffBusy = false
            if let lines { staffLines = lines }
            if let m { message = m }
        case .serviceState(let notice):
            outOfService = notice
        case .helpPending(let count, let last):
            helpPending = (count, last)
        default:
            break
        }
    }

    /// The self pick-up list is up, or the help screen in front of it.
    var inPickup: Bool { route == .pickupList || (route == .help && helpReturn == .pickupList) }

    /// Self pick-up prints a certificate only once: one staff already printed waits at the window.
    var printableCertificates: [CertificateRecord] { session.certificates.filter(CertificatePolicy.residentMayPrint) }

    /// The A4 printer cannot print: its state, and what staff do about it.
    var staffA4Problem: String {
        let d = device(.a4Printer)
        let state = d.map { $0.paper == .out ? "缺纸" : $0.paper == .jammed ? "卡纸" : $0.state.chinese } ?? "未连接"
        return "A4打印机暂不可用（\(state)）：请检查打印机电源、连接和纸张后再打印"
    }

    /// The next printed certificate the 逐份登记领取 walk has not skipped.
    var nextToCollect: CertificateRecord? {
        staffCertificates.first {
            CertificatePolicy.mayCollect($0) && !afterService.collectSkipped.contains($0.submissionId)
        }
    }

    /// Opens the hand-over of one certificate: the applicant's masked name is looked up, the reader started.
    mutating func startHandover(_ submissionId: String, proxy: Bool) -> Transition {
        afterService.handoverLoaded = false
        afterService.handoverName = nil
        afterService.handoverBusy = false
        emit(.afterService(.loadHandover(submissionId: submissionId)))
        return .go(
            .staffHandover(submissionId, proxy: proxy, relation: nil, queue: route.is(StaffBatchCollectScreen.self)))
    }

    func ledgerRows(width w: Int) -> [ScreenLine] { staffLines.flatMap { wrapped($0, w, indent: "  ") } }

    func certificateState(_ c: CertificateRecord) -> String {
        if c.collectedAt != nil { return "已领取" }
        if !c.downloaded { return "待下载" }
        if c.printCount == 0 { return "待打印" }
        return c.printCount > 1 ? "已打印\(c.printCount)次，待领取" : "已打印，待领取"
    }
}
