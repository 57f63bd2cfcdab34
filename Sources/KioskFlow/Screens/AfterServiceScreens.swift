import Foundation
import KioskCore
import KioskProtocols

/// 好差评: five levels, voluntary.
struct EvaluateScreen: Screen {
    var name: String { "evaluation" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var b = ScreenBody(
            title: m.L("服务评价（好差评）"),
            lines: [ScreenLine("  " + m.L("请您对本次服务进行评价（自愿，可跳过）：")), ScreenLine("")],
            hints: m.hints(m.L("1-5 选择评价   0 跳过"), nil, .digit(0)))
        b.options = EvaluationLevel.allCases.enumerated().map { i, level in
            ScreenOption(.digit(i + 1), m.L(level.chinese)) { m in
                if level.asksReason { return .go(.evaluationReason(level: level.rawValue)) }
                return m.record(level: level.rawValue, reason: nil)
            }
        }
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        if k == .digit(0) || k == .escape { return .go(.thanks) }
        return choose(k, &m)
    }
}

/// The main reason for a poor rating (optional).
struct EvaluationReasonScreen: Screen {
    var level: Int
    var name: String { "evaluation" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let levelName = EvaluationLevel(rawValue: level).map { m.L($0.chinese) } ?? ""
        var b = ScreenBody(
            title: m.L("评价原因"), lines: m.wrapped(m.L("您选择了“{1}”。请告诉我们主要原因：", levelName), w),
            hints: m.hints(m.L("1-{1} 选择原因   0 不填写原因", evaluationReasons.count), nil, .digit(0)))
        b.lines.append(ScreenLine(""))
        b.options = evaluationReasons.enumerated().map { i, reason in
            ScreenOption(.digit(i + 1), m.L(reason)) { [level] m in m.record(level: level, reason: reason) }
        }
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        if k == .digit(0) || k == .escape { return m.record(level: level, reason: nil) }
        return choose(k, &m)
    }
}

/// Thanks; any key ends the session.
struct ThanksScreen: Screen {
    var name: String { "thanks" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        ScreenBody(
            title: m.L("感谢您的使用"),
            lines: [
                ScreenLine("  " + m.L("感谢您使用政务自助服务。")),
                ScreenLine("  " + m.L("请带好您的身份证、材料原件和回执。")),
            ], hints: [Hint(m.L("按任意键返回首页"))])
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition { .endSession }
}

/// 进度查询: this resident's submissions on this kiosk and their states.
struct ProgressScreen: Screen {
    var name: String { "progress" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var lines: [ScreenLine] = []
        if let id = m.session.identity {
            lines.append(ScreenLine("  " + m.L("申请人：{1}   证件号码：{2}", id.maskedName, id.maskedIDNumber)))
            lines.append(ScreenLine(""))
        }
        if !m.session.progressLoaded {
            lines.append(ScreenLine("  " + m.L("正在查询……")))
        } else if m.session.progress.isEmpty {
            lines += m.wrapped(m.L("本机没有查到您的申请记录。"), w)
            lines += m.wrapped(m.L("在其他地点提交的申请，请到窗口或登录网上办事大厅查询。"), w)
        } else {
            // Each case is an option: its number opens the timeline, time limit, next step and note.
            var options: [ScreenOption] = []
            for (i, s) in m.session.progress.prefix(m.largeMode ? 4 : 6).enumerated() {
                let option = ScreenOption(.digit(i + 1), "") { m in
                    m.afterService.caseDetail = nil
                    m.afterService.caseLoaded = false
                    m.emit(.afterService(.loadCase(submissionId: s.id)))
                    return .go(.caseDetail(s.id))
                }
                options.append(option)
                let target = [TapTarget(columns: 0..<w, key: option.key)]
                lines.append(
                    ScreenLine(
                        "  \(i + 1)  \(s.caseNumber)  \(m.timestamp("MM-dd HH:mm", s.sealedAt))  \(m.L(s.residentState))",
                        .bold, targets: target))
                lines.append(ScreenLine("     " + DisplayWidth.truncate(s.itemName, columns: w - 7), targets: target))
                if m.largeMode { lines.append(ScreenLine("")) }
            }
            var b = ScreenBody(
                title: m.L("进度查询"), lines: lines,
                hints: m.hints(
                    m.L("1-{1} 查看详情   8 评价（自愿）   0 结束", options.count), nil, .digit(8), .digit(0)))
            b.options = options
            return b
        }
        return ScreenBody(
            title: m.L("进度查询"), lines: lines,
            hints: m.hints(m.L("8 评价本次服务（自愿）   0 结束并返回首页"), .digit(8), .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        if k == .digit(0) || k == .escape || k == .enter { return .endSession }
        if k == .digit(8), m.session.progressLoaded {
            return m.offerEvaluation(
                EvaluationSubject(
                    service: "progress", caseNumber: m.session.progress.first?.caseNumber,
                    itemCode: m.session.progress.first?.itemCode))
        }
        return choose(k, &m)
    }
}

/// Self pick-up (自助取件): the resident's downloaded certificates, to print on the A4 printer.
struct PickupScreen: Screen {
    var name: String { "pickup" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var b = ScreenBody(title: m.L("证照领取（自助取件）"))
        if let id = m.session.identity {
            b.lines.append(ScreenLine("  " + m.L("申请人：{1}   证件号码：{2}", id.maskedName, id.maskedIDNumber)))
            b.lines.append(ScreenLine(""))
        }
        let printable = m.printableCertificates
        if let trouble = m.deviceTrouble(.a4Printer) {
            b.lines += m.wrapped(trouble, w).map { ScreenLine($0.text, .alert) }
            b.lines.append(ScreenLine(""))
        }
        if !m.session.certificatesLoaded {
            b.lines.append(ScreenLine("  " + m.L("正在查询……")))
        } else if printable.isEmpty {
            b.lines += m.wrapped(m.L("没有可以打印的证照。"), w)
            b.lines += m.wrapped(m.L("办结后证照送达本机才能打印；如有疑问请到窗口咨询。"), w)
        } else {
            b.lines += m.wrapped(m.L("以下证照已办好，按数字键打印："), w)
            b.options = printable.prefix(m.largeMode ? 4 : 6).enumerated().map { i, c in
                ScreenOption(.digit(i + 1), DisplayWidth.truncate("\(c.itemName)（\(c.caseNumber)）", columns: w - 6)) {
                    m in
                    guard m.session.printingCertificate == nil else { return .stay }
                    guard m.usable(.a4Printer) else {
                        m.message = m.L("证照打印机暂不可用，请到窗口领取")
                        return .stay
                    }
                    m.session.printingCertificate = c.submissionId
                    m.message = m.L("正在打印证照，请稍候……")
                    m.emit(.printCertificate(submissionId: c.submissionId, by: .resident))
                    return .stay
                }
            }
            b.lines += m.optionLines(b.options, width: w)
        }
        let atWindow = m.session.certificates.filter { $0.printCount > 0 }
        if !atWindow.isEmpty {
            b.lines.append(ScreenLine(""))
            b.lines += m.wrapped(m.L("已由工作人员打印，请到窗口领取：{1}", atWindow.map(\.caseNumber).joined(separator: "、")), w)
        }
        let n = b.options.count
        b.hints =
            n > 0
            ? m.hints(m.L("1-{1} 打印证照   8 评价（自愿）   0 结束", n), nil, .digit(8), .digit(0))
            : m.hints(m.L("8 评价本次服务（自愿）   0 结束并返回首页"), .digit(8), .digit(0))
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(8):
            guard m.session.printingCertificate == nil, m.session.certificatesLoaded else { return .stay }
            let c = m.session.certificates.first
            return m.offerEvaluation(
                EvaluationSubject(service: "pickup", caseNumber: c?.caseNumber, itemCode: nil))
        case .digit(0), .escape, .enter:
            return m.session.printingCertificate == nil ? .endSession : .stay
        default:
            return choose(k, &m)
        }
    }
}

extension FlowMachine {
    /// Records the evaluation (when there is a case to rate) and thanks the resident.
    mutating func record(level: Int, reason: String?) -> Transition {
        if let c = session.sealed?.caseNumber {
            emit(.recordEvaluation(caseNumber: c, level: level, reason: reason))
        } else if let e = session.evaluation {
            emit(
                .afterService(
                    .recordEvaluation(
                        service: e.service, caseNumber: e.caseNumber, itemCode: e.itemCode, level: level, reason: reason
                    )))
        }
        return .go(.thanks)
    }
}

extension Route {
    public static var evaluate: Route { Route(EvaluateScreen()) }
    public static func evaluationReason(level: Int) -> Route { Route(EvaluationReasonScreen(level: level)) }
    public static var thanks: Route { Route(ThanksScreen()) }
    public static var progressList: Route { Route(ProgressScreen()) }
    public static var pickupList: Route { Route(PickupScreen()) }
}
