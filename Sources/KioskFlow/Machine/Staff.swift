import Foundation
import KioskCore
import KioskDevices
import KioskProtocols

// Township staff at the kiosk (窗口工作人员, 代办员): sign-in with the staff member's own ID card and
// a PIN (checked by the runtime against the registry: slow KDF, lockout, audited), then the staff
// menu — assisted submissions (帮办代办), certificates to print and hand over, the ledger (台账),
// out of service. Staff sessions time out like residents' and every action is audited.
// Also the residents' self pick-up (自助取件) of certificates.

/// Preset notices for out of service (a custom one can be set with `kioskctl service off --notice`).
public let outOfServiceNotices = [
    "设备维护中，暂停服务，请到窗口办理。",
    "系统升级中，暂停服务，请稍后再来或到窗口办理。",
    "非工作时间，自助服务暂停，请在工作时间到窗口办理。",
]

extension FlowMachine {
    static let staffCertificatesPerPage = 5

    mutating func handleStaffEvent(_ event: FlowEvent, _ effects: inout [FlowEffect]) {
        switch event {
        case .staffIdentified(let member):
            guard case .placeCard(.staffSignIn) = route else { break }
            lastActivity = now
            guard let member else {
                message = "此证件未登记为工作人员。请使用本人身份证，或联系管理员登记"
                effects.append(.audit(actor: "unknown", action: "staff.signin.unknown-card", subject: nil, detail: nil))
                effects.append(.startCardReading)
                return
            }
            guard member.active else {
                message = "工号 \(member.staffId) 已停用，请联系管理员"
                effects.append(.audit(actor: member.staffId, action: "staff.signin.refused", subject: nil, detail: "disabled"))
                effects.append(.startCardReading)
                return
            }
            if let until = member.lockedUntil, until > now {
                message = "密码错误次数过多，已锁定，请 \(max(1, Int((until.timeIntervalSince(now) / 60).rounded(.up)))) 分钟后再试或联系管理员解锁"
                effects.append(.audit(actor: member.staffId, action: "staff.signin.refused", subject: nil, detail: "locked out"))
                effects.append(.startCardReading)
                return
            }
            staffCandidate = member
            staffPINEntry = ""
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
                route = .staffMenu
                staffLines = []
                message = "\(m.displayName)（\(m.staffId)，\(m.role.chinese)）已登录"
            case .wrongPIN(let left):
                message = "密码错误，还可以再试 \(left) 次"
            case .lockedOut(let until):
                staffCandidate = nil
                go(.home, &effects)
                message = "密码错误次数过多，已锁定 \(max(1, Int((until.timeIntervalSince(now) / 60).rounded(.up)))) 分钟。请联系管理员解锁"
            case .inactive:
                staffCandidate = nil
                go(.home, &effects)
                message = "该工号已停用，请联系管理员"
            case .unknown:
                staffCandidate = nil
                go(.home, &effects)
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
                effects.append(.loadCertificates(idNumber: nil))
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

    /// Keys of the pick-up and staff screens; returns true when the key was handled here.
    mutating func handleStaffKey(_ k: Key, _ effects: inout [FlowEffect]) -> Bool {
        switch route {
        case .pickupList:
            switch k {
            case .digit(let d) where d >= 1 && d <= min(largeMode ? 4 : 6, printableCertificates.count):
                guard session.printingCertificate == nil else { return true }
                guard usable(.a4Printer) else { message = L("证照打印机暂不可用，请到窗口领取"); return true }
                let c = printableCertificates[d - 1]
                session.printingCertificate = c.submissionId
                message = L("正在打印证照，请稍候……")
                effects.append(.printCertificate(submissionId: c.submissionId, by: "resident"))
            case .digit(0), .escape, .enter:
                if session.printingCertificate == nil { endSession(&effects) }
            default: break
            }
            return true

        case .staffPIN:
            switch k {
            case .digit(let d):
                if staffPINEntry.count < 12 { staffPINEntry.append(Character(String(d))) }
                message = nil
            case .backspace:
                if !staffPINEntry.isEmpty { staffPINEntry.removeLast() }
            case .enter:
                guard !staffPINEntry.isEmpty, !staffBusy, let c = staffCandidate else { return true }
                staffBusy = true
                message = "正在核对密码……"
                effects.append(.verifyStaffPIN(staffId: c.staffId, pin: staffPINEntry))
                staffPINEntry = ""
            case .escape:
                staffPINEntry = ""
                staffCandidate = nil
                go(.home, &effects)
            default: break
            }
            return true

        case .staffMenu:
            guard let s = staff else { go(.home, &effects); return true }
            let window = s.role == .window
            switch k {
            case .digit(1):
                assisting = true
                categoryPage = 0
                session = Session()
                effects.append(.audit(actor: s.staffId, action: "assist.started", subject: nil, detail: nil))
                go(.categories(.town), &effects)
            case .digit(2):
                assisting = true
                categoryPage = 0
                session = Session()
                effects.append(.audit(actor: s.staffId, action: "assist.started", subject: nil, detail: nil))
                go(.categories(.village), &effects)
            case .digit(3) where window:
                staffCertificates = []
                staffBusy = true
                go(.staffCertificates(page: 0), &effects)
                effects.append(.loadCertificates(idNumber: nil))
            case .digit(4) where window:
                staffLines = []
                staffBusy = true
                ledgerPage = 0
                go(.staffLedger(month: false), &effects)
                effects.append(.ledger(month: false, print: nil, by: s.staffId))
            case .digit(5) where window:
                go(.staffService, &effects)
            case .digit(6) where helpPending.count > 0:
                effects.append(.audit(actor: s.staffId, action: "help.acknowledged", subject: nil, detail: "\(helpPending.count) request(s)"))
                helpPending = (0, nil)
                message = "求助已处理"
            case .digit(3), .digit(4), .digit(5):
                message = "代办员只能办理帮办代办；证照、台账和暂停服务请由窗口工作人员操作"
            case .digit(0), .escape:
                endSession(&effects, signOut: true)
            default: break
            }
            return true

        case .staffCertificates(let page):
            guard let s = staff else { go(.home, &effects); return true }
            let per = Self.staffCertificatesPerPage
            let slice = Array(staffCertificates.dropFirst(page * per).prefix(per))
            switch k {
            case .digit(let d) where d >= 1 && d <= slice.count:
                go(.staffCertificate(submissionId: slice[d - 1].submissionId), &effects)
            case .digit(8):
                guard !staffBusy else { return true }
                guard usable(.a4Printer) else { message = "A4打印机暂不可用：\(device(.a4Printer)?.state.chinese ?? "未连接")"; return true }
                staffBusy = true
                message = "正在批量打印待打印的证照……"
                effects.append(.printCertificateBatch(by: s.staffId))
            case .digit(6):
                if staffCertificates.contains(where: { $0.printCount > 0 }) { go(.staffBatchCollect, &effects) }
                else { message = "没有已打印待领取的证照" }
            case .digit(9), .pageDown, .down:
                if (page + 1) * per < staffCertificates.count { route = .staffCertificates(page: page + 1) }
            case .digit(7), .pageUp, .up:
                if page > 0 { route = .staffCertificates(page: page - 1) }
            case .digit(0), .escape:
                go(.staffMenu, &effects)
            default: break
            }
            return true

        case .staffCertificate(let id):
            guard let s = staff else { go(.home, &effects); return true }
            guard let c = staffCertificates.first(where: { $0.submissionId == id }) else {
                go(.staffCertificates(page: 0), &effects); return true
            }
            switch k {
            case .digit(1):
                guard !staffBusy else { return true }
                guard c.downloaded else { message = "证照尚未下载到本机，请稍后再试（网络恢复后自动下载）"; return true }
                guard usable(.a4Printer) else { message = "A4打印机暂不可用：\(device(.a4Printer)?.state.chinese ?? "未连接")"; return true }
                staffBusy = true
                message = c.printCount > 0 ? "正在重新打印……" : "正在打印……"
                effects.append(.printCertificate(submissionId: id, by: s.staffId))
            case .digit(2), .digit(3):
                guard c.printCount > 0 else { message = "证照尚未打印，请先按 1 打印"; return true }
                let collector = k == .digit(2) ? "applicant" : "proxy"
                staffBusy = true
                effects.append(.markCertificateCollected(submissionIds: [id], by: s.staffId, collector: collector))
                go(.staffCertificates(page: 0), &effects)
            case .digit(0), .escape:
                go(.staffCertificates(page: 0), &effects)
            default: break
            }
            return true

        case .staffBatchCollect:
            guard let s = staff else { go(.home, &effects); return true }
            let ids = staffCertificates.filter { $0.printCount > 0 }.map(\.submissionId)
            switch k {
            case .digit(1), .digit(2):
                guard !ids.isEmpty else { go(.staffCertificates(page: 0), &effects); return true }
                staffBusy = true
                effects.append(.markCertificateCollected(submissionIds: ids, by: s.staffId, collector: k == .digit(1) ? "applicant" : "proxy"))
                go(.staffCertificates(page: 0), &effects)
            case .digit(0), .escape:
                go(.staffCertificates(page: 0), &effects)
            default: break
            }
            return true

        case .staffLedger(let month):
            guard let s = staff else { go(.home, &effects); return true }
            switch k {
            case .digit(1):
                staffBusy = true
                ledgerPage = 0
                route = .staffLedger(month: false)
                effects.append(.ledger(month: false, print: nil, by: s.staffId))
            case .digit(2):
                staffBusy = true
                ledgerPage = 0
                route = .staffLedger(month: true)
                effects.append(.ledger(month: true, print: nil, by: s.staffId))
            case .digit(3):
                guard !staffBusy else { return true }
                guard receiptPrinterReady else { message = "回执打印机暂不可用（\(printerProblem)）"; return true }
                staffBusy = true
                message = "正在打印台账……"
                effects.append(.ledger(month: month, print: .receipt, by: s.staffId))
            case .digit(4):
                guard !staffBusy else { return true }
                guard usable(.a4Printer) else { message = "A4打印机暂不可用：\(device(.a4Printer)?.state.chinese ?? "未连接")"; return true }
                staffBusy = true
                message = "正在用A4打印机打印台账……"
                effects.append(.ledger(month: month, print: .a4, by: s.staffId))
            case .digit(9), .pageDown, .down:
                if (ledgerPage + 1) * Self.ledgerLinesPerPage < ledgerRows(width: 80).count { ledgerPage += 1 }
            case .digit(7), .pageUp, .up:
                if ledgerPage > 0 { ledgerPage -= 1 }
            case .digit(0), .escape:
                go(.staffMenu, &effects)
            default: break
            }
            return true

        case .staffService:
            guard let s = staff else { go(.home, &effects); return true }
            switch k {
            case .digit(let d) where d >= 1 && d <= outOfServiceNotices.count:
                outOfService = outOfServiceNotices[d - 1]
                effects.append(.setOutOfService(notice: outOfServiceNotices[d - 1], by: s.staffId))
                message = "已暂停服务，首页显示：\(outOfServiceNotices[d - 1])"
            case .digit(9):
                outOfService = nil
                effects.append(.setOutOfService(notice: nil, by: s.staffId))
                message = "已恢复服务"
            case .digit(0), .escape:
                go(.staffMenu, &effects)
            default: break
            }
            return true

        default:
            return false
        }
    }

    /// The self pick-up list is up, or the help screen in front of it.
    var inPickup: Bool { route == .pickupList || (route == .help && helpReturn == .pickupList) }

    /// Self pick-up prints a certificate only once: one staff already printed waits at the window.
    var printableCertificates: [CertificateRecord] { session.certificates.filter(CertificatePolicy.residentMayPrint) }

    static let ledgerLinesPerPage = 14

    func ledgerRows(width w: Int) -> [ScreenLine] { staffLines.flatMap { wrapped($0, w, indent: "  ") } }

    func certificateState(_ c: CertificateRecord) -> String {
        if c.collectedAt != nil { return "已领取" }
        if !c.downloaded { return "待下载" }
        if c.printCount == 0 { return "待打印" }
        return c.printCount > 1 ? "已打印\(c.printCount)次，待领取" : "已打印，待领取"
    }

    func staffBody(width w: Int) -> Body? {
        switch route {
        case .pickupList:
            var lines: [ScreenLine] = []
            if let id = session.identity {
                lines.append(ScreenLine("  " + L("申请人：{1}   证件号码：{2}", id.maskedName, id.maskedIDNumber)))
                lines.append(ScreenLine(""))
            }
            if !session.certificatesLoaded {
                lines.append(ScreenLine("  " + L("正在查询……")))
            } else if printableCertificates.isEmpty {
                lines += wrapped(L("没有可以打印的证照。"), w)
                lines += wrapped(L("办结后证照送达本机才能打印；如有疑问请到窗口咨询。"), w)
            } else {
                lines += wrapped(L("以下证照已办好，按数字键打印："), w)
                lines += options(printableCertificates.prefix(largeMode ? 4 : 6).enumerated().map {
                    ("\($0.offset + 1)", DisplayWidth.truncate("\($0.element.itemName)（\($0.element.caseNumber)）", columns: w - 6))
                }, width: w)
            }
            let atWindow = session.certificates.filter { $0.printCount > 0 }
            if !atWindow.isEmpty {
                lines.append(ScreenLine(""))
                lines += wrapped(L("已由工作人员打印，请到窗口领取：{1}", atWindow.map(\.caseNumber).joined(separator: "、")), w)
            }
            let n = min(largeMode ? 4 : 6, printableCertificates.count)
            return Body(title: L("证照领取（自助取件）"), lines: lines,
                        hints: n > 0 ? L("1-{1} 打印证照   0 结束并返回首页", n) : L("0 结束并返回首页"))

        case .staffPIN:
            let who = staffCandidate.map { "\($0.displayName)（工号 \($0.staffId)）" } ?? ""
            return Body(title: "工作人员登录", lines: [
                ScreenLine("  \(who)"), ScreenLine(""),
                ScreenLine("  请输入工作人员密码："), ScreenLine(""),
                ScreenLine("  " + String(repeating: "*", count: staffPINEntry.count) + "_", .bold),
            ], hints: "数字 输入  退格 删除  Enter 确认  Esc 取消")

        case .staffMenu:
            guard let s = staff else { return Body(title: "", hints: "") }
            var lines = [ScreenLine("  \(s.displayName)  工号 \(s.staffId)  \(s.role.chinese)"), ScreenLine("")]
            lines.append(ScreenLine("  1  帮办代办：镇级事项"))
            lines.append(ScreenLine("  2  帮办代办：村级事项"))
            if s.role == .window {
                lines.append(ScreenLine("  3  证照出证：打印、补打、登记领取"))
                lines.append(ScreenLine("  4  工作台账：今日 / 本月，打印"))
                lines.append(ScreenLine("  5  " + (outOfService == nil ? "暂停服务（显示通知）" : "恢复服务（当前暂停中）")))
            }
            if helpPending.count > 0 {
                lines.append(ScreenLine("  6  居民求助 \(helpPending.count) 次未处理（最近 \(helpPending.last.map { timestamp("HH:mm", $0) } ?? "")），处理后按 6", .alert))
            }
            if let n = outOfService { lines.append(ScreenLine("")); lines += wrapped("当前暂停服务：\(n)", w) }
            return Body(title: "工作人员菜单", lines: lines, hints: s.role == .window ? "1-5 选择   0 退出登录" : "1-2 选择   0 退出登录")

        case .staffCertificates(let page):
            let per = Self.staffCertificatesPerPage
            var lines: [ScreenLine] = []
            if staffBusy && staffCertificates.isEmpty { lines.append(ScreenLine("  正在查询……")) }
            else if staffCertificates.isEmpty { lines.append(ScreenLine("  没有待领取的证照。")) }
            let slice = Array(staffCertificates.dropFirst(page * per).prefix(per))
            for (i, c) in slice.enumerated() {
                lines.append(ScreenLine("  \(i + 1)  \(c.caseNumber)  \(certificateState(c))", .bold))
                lines.append(ScreenLine("     " + DisplayWidth.truncate(c.itemName, columns: w - 7)))
            }
            let waiting = staffCertificates.filter { $0.downloaded && $0.printCount == 0 }.count
            if !staffCertificates.isEmpty {
                let pages = max(1, (staffCertificates.count + per - 1) / per)
                lines.append(ScreenLine("  共 \(staffCertificates.count) 份未领取，其中待打印 \(waiting) 份   第 \(page + 1)/\(pages) 页", .dim))
            }
            return Body(title: "证照出证", lines: lines, hints: "数字 选择  6 批量登记领取  8 批量打印  7/9 翻页  0 返回")

        case .staffCertificate(let id):
            guard let c = staffCertificates.first(where: { $0.submissionId == id }) else { return Body(title: "证照", hints: "0 返回") }
            var lines = [ScreenLine("  办件编号：\(c.caseNumber)", .bold)]
            lines += wrapped("事项：\(c.itemName)", w)
            lines.append(ScreenLine("  状态：\(certificateState(c))"))
            if let p = c.printedAt { lines.append(ScreenLine("  最近打印：\(timestamp("MM-dd HH:mm", p))（\(c.printedBy == .resident ? "自助" : c.printedBy?.rawValue ?? "")）")) }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  1  " + (c.printCount > 0 ? "重新打印（卡纸、缺页后补打）" : "打印")))
            lines.append(ScreenLine("  2  登记领取：申请人本人领取"))
            lines.append(ScreenLine("  3  登记领取：他人代领"))
            return Body(title: "证照", lines: lines, hints: "1 打印   2 本人领取   3 代领   0 返回")

        case .staffBatchCollect:
            let printed = staffCertificates.filter { $0.printCount > 0 }
            var lines = [ScreenLine("  以下 \(printed.count) 份已打印的证照将登记为已领取：", .bold)]
            for c in printed.prefix(8) { lines.append(ScreenLine("    \(c.caseNumber)  " + DisplayWidth.truncate(c.itemName, columns: w - 22))) }
            if printed.count > 8 { lines.append(ScreenLine("    ……共 \(printed.count) 份")) }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  1  申请人本人领取（窗口统一出证）"))
            lines.append(ScreenLine("  2  代办员或他人代领（如带回村里发放）"))
            return Body(title: "批量登记领取", lines: lines, hints: "1 本人领取   2 代领   0 取消")

        case .staffLedger(let month):
            let all = ledgerRows(width: w)
            var lines = Array(all.dropFirst(ledgerPage * Self.ledgerLinesPerPage).prefix(Self.ledgerLinesPerPage))
            if staffLines.isEmpty { lines.append(ScreenLine("  正在统计……")) }
            let pages = max(1, (all.count + Self.ledgerLinesPerPage - 1) / Self.ledgerLinesPerPage)
            if pages > 1 { lines.append(ScreenLine("  第 \(ledgerPage + 1)/\(pages) 页（7/9 翻页）", .dim)) }
            return Body(title: month ? "工作台账：本月" : "工作台账：今日", lines: lines,
                        hints: "1 今日  2 本月  3 回执打印  4 A4打印  7/9 翻页  0 返回")

        case .staffService:
            var lines = [ScreenLine(outOfService == nil ? "  当前：正常服务" : "  当前：暂停服务", .bold)]
            if let n = outOfService { lines += wrapped("首页通知：\(n)", w) }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  暂停服务并在首页显示："))
            for (i, n) in outOfServiceNotices.enumerated() { lines += wrapped("\(i + 1)  \(n)", w) }
            lines.append(ScreenLine("  9  恢复服务"))
            return Body(title: "暂停 / 恢复服务", lines: lines, hints: "1-\(outOfServiceNotices.count) 暂停   9 恢复   0 返回")

        default:
            return nil
        }
    }
}
