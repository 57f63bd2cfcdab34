import Foundation
import KioskProtocols

/// Call staff (呼叫工作人员): the request goes upstream at once (through the outbox when
/// offline); "staff were told" only once the upstream acknowledged it, otherwise the phone number
/// and where to go. Returns to the screen the resident was on, with nothing they entered lost.
struct HelpScreen: Screen {
    var name: String { "help" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var lines: [ScreenLine]
        switch m.afterService.help {
        case .delivered:
            lines = [ScreenLine("  " + m.L("已通知工作人员，请稍候。"), .bold)]
        case .notReached:
            lines = m.wrapped(m.L("暂时未能通知到工作人员。请拨打下面的电话，或到服务窗口找工作人员。"), w).map {
                ScreenLine($0.text, .alert)
            }
            lines += m.wrapped(m.L("求助记录已保存，网络恢复后会自动送达。"), w)
        case .sending, nil:
            lines = [ScreenLine("  " + m.L("正在通知工作人员……"), .bold)]
        }
        lines.append(ScreenLine(""))
        if let h = m.settings.helpLocation {
            lines += m.wrapped(m.L("服务窗口：{1}", h), w)
        } else {
            lines += m.wrapped(m.L("请到服务大厅的窗口找工作人员。"), w)
        }
        if let p = m.settings.helpPhone { lines += m.wrapped(m.L("咨询电话：{1}", p), w) }
        lines.append(ScreenLine(""))
        lines += m.complaintLines(width: w)
        lines += m.wrapped(m.L("工作时间以外，请拨打咨询电话，或在工作时间再来。"), w)
        lines += m.wrapped(m.L("您的信息没有丢失，按 0 回到刚才的页面。"), w)
        return ScreenBody(title: m.L("呼叫工作人员"), lines: lines, hints: m.hints(m.L("0 返回"), .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        guard k == .digit(0) || k == .escape || k == .enter else { return .ignored }
        let back = m.helpReturn ?? .home
        m.helpReturn = nil
        m.afterService.help = nil
        return .go(back)
    }
}

extension Route {
    public static var help: Route { Route(HelpScreen()) }
}
