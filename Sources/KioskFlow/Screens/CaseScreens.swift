import Foundation
import KioskCore
import KioskProtocols

// Progress in full (issue 24, points 1 and 2): one case's timeline with dates, the promised time
// limit and due date, the next step in one sentence, and the upstream's note — printable as a
// 补正一次性告知, with the missing materials photographed here as an addition to the same case.

/// One step of the timeline: what, and when (nil: not reached yet).
struct TimelineStep: Equatable {
    var label: String
    var at: Date?
}

extension FlowMachine {
    /// The steps reached, in order, and the next expected one (without a date).
    func timeline(_ d: CaseDetail) -> [TimelineStep] {
        func first(_ states: String...) -> Date? { d.events.first { states.contains($0.state) }?.at }
        var steps = [TimelineStep(label: "已提交", at: d.summary.sealedAt)]
        let sent = d.uploadedAt ?? first("sent")
        steps.append(TimelineStep(label: "已发送", at: sent))
        steps.append(TimelineStep(label: "平台已接收", at: first("received") ?? (sent == nil ? nil : first("inReview"))))
        let accepted = first("accepted", "inReview", "needMaterials", "done", "certificateReady")
        if d.events.contains(where: { $0.state == "rejected" }) {
            steps.append(TimelineStep(label: "不予受理", at: first("rejected")))
            return steps
        }
        steps.append(TimelineStep(label: "已受理", at: accepted))
        for e in d.events where e.state == "needMaterials" { steps.append(TimelineStep(label: "需补正", at: e.at)) }
        steps.append(TimelineStep(label: "已办结", at: first("done", "certificateReady")))
        if d.certificate != nil || d.events.contains(where: { $0.state == "certificateReady" }) {
            steps.append(TimelineStep(label: "证照可领取", at: d.certificate?.readyAt ?? first("certificateReady")))
            steps.append(TimelineStep(label: "已领取", at: d.certificate?.collectedAt))
        }
        return steps
    }

    /// The promised time limit (承诺时限) of the case's item, as published.
    func promisedLimit(_ d: CaseDetail) -> String? {
        catalog.guide(for: d.summary.itemCode)?.promisedTimeLimit
    }

    /// The due date: the promised working days counted from acceptance in the catalog's working
    /// calendar (weekends, public holidays and 调休 make-up days). nil when there is no limit in days
    /// or no acceptance yet.
    func dueDate(_ d: CaseDetail) -> Date? {
        guard let start = timeline(d).first(where: { $0.label == "已受理" })?.at else { return nil }
        return CaseDeadline.due(
            accepted: start, limit: promisedLimit(d), timeZone: settings.timeZone, calendar: catalog.workingCalendar)
    }

    /// Whether the case is past its due date and not finished.
    func overdue(_ d: CaseDetail) -> Bool {
        guard let due = dueDate(d) else { return false }
        let finished = [.done, .certificateReady, .rejected].contains(d.summary.upstreamState)
        return !finished && now > due
    }

    /// The next step, in one sentence.
    func nextStep(_ d: CaseDetail) -> String {
        if d.certificate?.collectedAt != nil { return L("证照已领取，本件办理完毕。") }
        switch d.summary.state {
        case .sealed: return L("申请已安全保存在本机，联网后自动发送，无需重新申请。")
        case .quarantined: return L("申请发送受阻，请凭办件编号到窗口咨询。")
        case .uploaded: break
        }
        switch d.summary.upstreamState ?? .received {
        case .received: return L("平台已接收，等待受理；受理后开始计算办理时限。")
        case .accepted, .inReview:
            if let due = dueDate(d) { return L("正在审核，应于 {1} 前办结。", timestamp("yyyy-MM-dd", due)) }
            return L("正在审核，办结后会在本机显示。")
        case .needMaterials: return L("请按补正告知补齐材料：可在本机按 2 拍照提交，或到窗口提交。")
        case .done: return L("已办结。如有证照，送达本机后可在“证照领取”打印，或到窗口领取。")
        case .certificateReady: return L("证照已可领取：在本机“证照领取”打印，或到窗口领取。")
        case .rejected: return L("不予受理，原因见上。如有疑问请到窗口咨询或拨打投诉电话。")
        }
    }

    /// The 补正一次性告知 (or the refusal notice): what the upstream said, printable.
    func supplementNoticeDocument(_ d: CaseDetail) -> ReceiptDocument {
        let refused = d.summary.upstreamState == .rejected
        var els: [ReceiptElement] = [
            .title(refused ? "不予受理告知" : "补正材料一次性告知"),
            .text(settings.stationName, align: .center),
            .separator,
            .keyValue("办件编号", d.summary.caseNumber),
            .text("事项：\(d.summary.itemName)"),
            .keyValue("提交时间", timestamp("yyyy-MM-dd HH:mm", d.summary.sealedAt)),
            .text(refused ? "不予受理的理由：" : "需补正的材料及要求：", bold: true),
            .text(d.latestNote ?? "（平台未说明，请到窗口咨询）"),
        ]
        if !refused {
            els.append(.text("补齐后可在本机“进度查询”中拍照提交补正材料，或带原件到窗口提交。"))
        }
        if let p = settings.complaintPhone { els.append(.keyValue("投诉电话", p)) }
        if let u = settings.unresolvedChannel { els.append(.text("办不成事反映：\(u)")) }
        els += [.separator, .text("打印时间：\(timestamp("yyyy-MM-dd HH:mm"))"), .feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }

    /// Starts photographing 补正 materials for the case shown.
    mutating func startSupplement(_ d: CaseDetail) -> Transition {
        guard d.summary.upstreamState == .needMaterials else { return .stay }
        guard acceptingSubmissions else {
            message = L("本机存储空间不足，暂停受理新的申请，请到窗口办理或联系工作人员")
            return .stay
        }
        guard usable(.documentCamera) else {
            message = L("高拍仪暂不可用，请到窗口办理")
            return .stay
        }
        session.item =
            catalog.item(code: d.summary.itemCode)
            ?? CatalogItem(
                code: d.summary.itemCode, name: d.summary.itemName, type: "", level: .town, handling: "", category: "")
        session.supplement = SupplementTarget(submissionId: d.summary.id, caseNumber: d.summary.caseNumber)
        session.photos = Array(repeating: nil, count: supplementMaterialNames.count)
        session.phone = ""
        return .go(.photo(index: 0))
    }

    var supplementMaterialNames: [String] { ["补正材料（第1页）", "补正材料（第2页，可跳过）", "补正材料（第3页，可跳过）"] }
}

/// One case of the resident's: timeline, time limit, next step, note; print the notice, photograph 补正.
struct CaseScreen: Screen {
    var submissionId: String
    var name: String { "case" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var b = ScreenBody(title: m.L("办理进度"))
        guard m.afterService.caseLoaded else {
            b.lines = [ScreenLine("  " + m.L("正在查询……"))]
            b.hints = m.hints(m.L("0 返回"), .digit(0))
            return b
        }
        guard let d = m.afterService.caseDetail else {
            b.lines = m.wrapped(m.L("本机记录暂时无法读取，请凭办件编号到窗口查询。"), w)
            b.hints = m.hints(m.L("0 返回"), .digit(0))
            return b
        }
        b.lines.append(ScreenLine("  " + m.L("办件编号：{1}", d.summary.caseNumber), .bold))
        b.lines += m.wrapped(d.summary.itemName, w)
        if let of = d.supplementOf { b.lines.append(ScreenLine("  " + m.L("补正材料，对应办件：{1}", of))) }
        // The timeline: steps reached with their dates, the next one marked as waiting.
        var parts: [String] = []
        for s in m.timeline(d) {
            if let at = s.at {
                parts.append("\(m.timestamp("MM-dd", at)) \(m.L(s.label))")
            } else {
                parts.append(m.L("{1}（待）", m.L(s.label)))
                break
            }
        }
        b.lines += m.wrapped(parts.joined(separator: " → "), w)
        if let limit = m.promisedLimit(d) {
            let due = m.dueDate(d).map { m.L("，应于 {1} 前办结", m.timestamp("yyyy-MM-dd", $0)) } ?? ""
            b.lines += m.wrapped(m.L("承诺时限：{1}{2}", limit, due), w)
            if m.overdue(d) { b.lines.append(ScreenLine("  " + m.L("已超过承诺时限，可拨打投诉电话反映。"), .alert)) }
        } else {
            b.lines += m.wrapped(m.L("承诺时限：以窗口告知为准"), w)
        }
        if let note = d.latestNote {
            let label = d.summary.upstreamState == .rejected ? m.L("不予受理理由：") : m.L("平台说明：")
            b.lines += m.wrapped(label + note, w).map { ScreenLine($0.text, .bold) }
        }
        b.lines += m.wrapped(m.L("下一步：") + m.nextStep(d), w)
        let state = d.summary.upstreamState
        var hints: [(String, Key)] = []
        if d.latestNote != nil && (state == .needMaterials || state == .rejected) {
            hints.append((m.L("1 打印告知单"), .digit(1)))
        }
        if state == .needMaterials { hints.append((m.L("2 拍照补正"), .digit(2))) }
        hints.append((m.L("0 返回"), .digit(0)))
        b.hints = hints.map { Hint($0.0, $0.1) }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(0), .escape:
            return .go(.progressList)
        case .digit(1):
            guard let d = m.afterService.caseDetail, d.latestNote != nil,
                d.summary.upstreamState == .needMaterials || d.summary.upstreamState == .rejected,
                !m.session.printingNotice
            else { return .stay }
            if m.receiptPrinterReady {
                m.session.printingNotice = true
                m.message = m.L("正在打印告知单……")
                m.emit(.printNotice(m.supplementNoticeDocument(d)))
            } else {
                m.message = m.L("回执打印机暂不可用（{1}），请到窗口索取告知单", m.printerProblem)
            }
            return .stay
        case .digit(2):
            guard let d = m.afterService.caseDetail else { return .stay }
            return m.startSupplement(d)
        default:
            return .ignored
        }
    }
}

extension Route {
    static func caseDetail(_ id: String) -> Route { Route(CaseScreen(submissionId: id)) }
}
