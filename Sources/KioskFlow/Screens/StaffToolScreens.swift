import Foundation
import KioskCore
import KioskProtocols

// Staff tools the screens promise (issue 24, point 6): reprint a receipt by case number; hand a
// certificate over to the applicant (their card) or a proxy (their card and relation); record the
// resident's consent to 帮办代办, which is free of charge.

/// Staff: type a case number (or its last digits) and reprint its receipt.
struct StaffReprintScreen: StaffScreen {
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        let typed = m.afterService.caseInput.isEmpty ? "_" : m.afterService.caseInput
        var b = ScreenBody(
            title: "补打回执（按办件编号）",
            lines: [
                ScreenLine("  输入办件编号的数字部分（可只输后几位，至少 4 位）："), ScreenLine(""),
                ScreenLine("  办件编号：\(typed)", .bold), ScreenLine(""),
            ], hints: m.hints("数字 输入   退格 删除   Enter 补打   Esc 返回", nil, .backspace, .enter, .escape))
        b.lines += m.wrapped("补打的回执标明“补打”和工号；已受理的办件打印为受理回执。", w)
        if !m.receiptPrinterReady { b.lines.append(ScreenLine("  回执打印机当前：\(m.printerProblem)", .alert)) }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        switch k {
        case .escape:
            m.afterService.caseInput = ""
            return .go(.staffMenu)
        case .digit(let d):
            if m.afterService.caseInput.count < 16 { m.afterService.caseInput.append(String(d)) }
            return .stay
        case .backspace:
            if !m.afterService.caseInput.isEmpty { m.afterService.caseInput.removeLast() }
            return .stay
        case .enter:
            guard m.afterService.caseInput.count >= 4 else {
                m.message = "请至少输入办件编号的后 4 位数字"
                return .stay
            }
            guard m.receiptPrinterReady else {
                m.message = "回执打印机暂不可用（\(m.printerProblem)），请加纸或排除故障后再补打"
                return .stay
            }
            m.message = "正在查找并补打……"
            m.emit(.afterService(.reprintReceipt(caseNumber: m.afterService.caseInput, by: s.staffId)))
            return .stay
        default:
            return .ignored
        }
    }
}

/// Staff: hand a printed certificate over. The applicant places their own card; a proxy chooses
/// the relation, then places their own card. The applicant's name is shown masked.
struct StaffHandoverScreen: StaffScreen {
    var submissionId: String
    var proxy: Bool
    var relation: String?
    /// Reached from 逐份登记领取: back there (to the next one) when done or left.
    var queue = false
    var name: String { "staff" }

    static let relations = ["配偶", "父母", "子女", "其他亲属", "村代办员", "其他受托人"]

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        let c = m.staffCertificates.first { $0.submissionId == submissionId }
        var b = ScreenBody(title: proxy ? "证照交付：他人代领" : "证照交付：申请人本人领取")
        b.lines.append(ScreenLine("  办件编号：\(c?.caseNumber ?? "")", .bold))
        if let c { b.lines += m.wrapped("事项：\(c.itemName)", w) }
        let applicant =
            m.afterService.handoverLoaded ? (m.afterService.handoverName ?? "（本机无申请人记录，请核对纸质材料）") : "正在查询……"
        b.lines.append(ScreenLine("  申请人：\(applicant)"))
        b.lines.append(ScreenLine(""))
        if proxy && relation == nil {
            b.lines.append(ScreenLine("  代领人与申请人的关系："))
            b.options = Self.relations.enumerated().map { i, r in
                ScreenOption(.digit(i + 1), r) { [submissionId, queue] _ in
                    .page(.staffHandover(submissionId, proxy: true, relation: r, queue: queue))
                }
            }
            b.lines += m.optionLines(b.options, width: w)
            b.hints = m.hints("1-\(Self.relations.count) 选择关系   0 返回", nil, .digit(0))
            return b
        }
        if let relation { b.lines.append(ScreenLine("  代领人关系：\(relation)")) }
        b.lines += m.wrapped(
            proxy ? "请代领人将本人身份证放在读卡区，核对后登记领取。" : "请申请人将本人身份证放在读卡区，核对一致后登记领取。", w
        ).map { ScreenLine($0.text, .bold) }
        if !m.usable(.idCardReader) {
            b.lines.append(ScreenLine("  身份证阅读器当前：\(m.device(.idCardReader)?.state.chinese ?? "未连接")，请检查设备", .alert))
        }
        if m.afterService.handoverBusy { b.lines.append(ScreenLine("  正在核对证件……")) }
        if m.settings.simulatedCards != nil { b.lines.append(ScreenLine("  [演示] 按字母键 A–E 放置模拟证件", .dim)) }
        b.hints = m.hints("0 返回（不登记）", .digit(0))
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        // The demo's simulated reader: letters place made-up cards, as on the card screen.
        if case .char(let c) = k, let cards = m.settings.simulatedCards, !(proxy && relation == nil),
            let v = c.lowercased().unicodeScalars.first?.value, v >= 97, Int(v - 97) < cards.count
        {
            m.emit(.placeSimulatedCard(Int(v - 97)))
            return .stay
        }
        if k == .digit(0) || k == .escape {
            if relation != nil { return .page(.staffHandover(submissionId, proxy: true, relation: nil, queue: queue)) }
            return queue ? .go(.staffBatchCollect) : .go(.staffCertificate(submissionId: submissionId))
        }
        return choose(k, &m)
    }
}

/// 帮办代办: the resident confirms on screen that staff submit on their behalf, free of charge.
struct AssistConsentScreen: Screen {
    var name: String { "assist-consent" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let who = m.staff.map { "\($0.displayName)（工号 \($0.staffId)）" } ?? ""
        var lines = [ScreenLine("  " + m.L("申请人：{1}", m.session.identity?.maskedName ?? ""))]
        lines.append(ScreenLine(""))
        lines += m.wrapped(m.L("本人同意由工作人员 {1} 代为办理本事项，并核对了提交的材料。", who), w)
        lines += m.wrapped(m.L("本服务免费，代办不收费。"), w).map { ScreenLine($0.text, .bold) }
        lines.append(ScreenLine(""))
        lines += m.wrapped(m.L("请申请人本人按键确认。"), w)
        return ScreenBody(
            title: m.L("帮办代办确认"), lines: lines,
            hints: m.hints(m.L("1 同意代办   0 不同意（结束，不保存任何信息）"), .digit(1), .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(1):
            if let s = m.staff {
                m.emit(.audit(actor: s.staffId, action: "assist.consent", subject: nil, detail: m.session.item?.code))
            }
            m.session.assistConsent = true
            return .go(.photo(index: 0))
        case .digit(0), .escape:
            return .endSession
        default:
            return .ignored
        }
    }
}

extension FlowMachine {
    /// A card on the reader during a hand-over: checked by the runtime against the record.
    mutating func handoverCard(_ h: StaffHandoverScreen, _ card: IDCardIdentity) {
        guard let s = staff, !afterService.handoverBusy, !(h.proxy && h.relation == nil) else { return }
        lastActivity = now
        afterService.handoverBusy = true
        message = "正在核对证件……"
        emit(
            .afterService(
                .handOver(submissionId: h.submissionId, card: card, proxy: h.proxy, relation: h.relation, by: s.staffId)
            ))
    }
}

extension Route {
    static var staffReprint: Route { Route(StaffReprintScreen()) }
    static func staffHandover(_ id: String, proxy: Bool, relation: String?, queue: Bool = false) -> Route {
        Route(StaffHandoverScreen(submissionId: id, proxy: proxy, relation: relation, queue: queue))
    }
    static var assistConsent: Route { Route(AssistConsentScreen()) }
}
