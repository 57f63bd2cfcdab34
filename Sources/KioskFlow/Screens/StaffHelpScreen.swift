import Foundation
import KioskCore
import KioskProtocols

/// Staff: residents' help calls on this kiosk — when, on which screen, whether the upstream has
/// them, and who answered. `1` answers every open one (the acknowledgement goes upstream too).
struct StaffHelpScreen: StaffScreen {
    var name: String { "staff" }

    func staffBody(_ m: FlowMachine, _ s: StaffMember, width w: Int) -> ScreenBody {
        var b = ScreenBody(
            title: "居民求助记录", hints: m.hints("1 全部标记为已处理   0 返回", .digit(1), .digit(0)))
        guard m.afterService.helpCallsLoaded else {
            b.lines = [ScreenLine("  正在查询……")]
            return b
        }
        let calls = m.afterService.helpCalls
        let answered = Dictionary(
            calls.filter { $0.call.event == HelpCall.acknowledged }.flatMap { a in
                (a.call.requestIds ?? []).map { ($0, a) }
            }, uniquingKeysWith: { first, _ in first })
        let requests = calls.filter { $0.call.event == HelpCall.requested }
        if requests.isEmpty { b.lines.append(ScreenLine("  没有求助记录。")) }
        for r in requests.prefix(12) {
            let when = m.timestamp("MM-dd HH:mm", r.createdAt)
            let upstream = r.delivered ? "已送达平台" : "未送达平台（排队重发）"
            let state = answered[r.call.helpId].map { "已处理（\($0.call.staffId ?? "")）" } ?? "未处理"
            b.lines.append(ScreenLine("  \(when)  页面 \(r.call.screen ?? "-")  \(upstream)  \(state)"))
        }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine, _ s: StaffMember) -> Transition {
        switch k {
        case .digit(0), .escape: return .go(.staffMenu)
        case .digit(1):
            m.emit(.audit(actor: s.staffId, action: "help.acknowledged", subject: nil, detail: nil))
            m.emit(.afterService(.acknowledgeHelp(by: s.staffId)))
            m.helpPending = (0, nil)
            m.afterService.helpCallsLoaded = false
            m.emit(.afterService(.loadHelpCalls))
            m.message = "求助已处理，处理记录已发送平台"
            return .stay
        default: return .ignored
        }
    }
}

extension Route {
    static var staffHelp: Route { Route(StaffHelpScreen()) }
}
