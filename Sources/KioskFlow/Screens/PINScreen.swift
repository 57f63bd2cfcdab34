import Foundation
import KioskCore
import KioskProtocols

/// PIN entry, for staff sign-in (after their card) and technician mode (after ### on the home screen).
/// One keypad for both: digits, Backspace, Enter checks (in the runtime: slow hash, persisted lockout),
/// Esc gives up. The PIN is never drawn, only stars.
struct PINScreen: Screen {
    enum Role: Sendable, Hashable { case staff, technician }
    var role: Role
    var name: String { role == .staff ? "staff" : "technician" }
    var audience: Audience { role == .staff ? .staff : .technician }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let stars = ScreenLine("  " + String(repeating: "*", count: m.pinEntry.count) + "_", .bold)
        switch role {
        case .staff:
            let who = m.staffCandidate.map { "\($0.displayName)（工号 \($0.staffId)）" } ?? ""
            return ScreenBody(
                title: "工作人员登录",
                lines: [
                    ScreenLine("  \(who)"), ScreenLine(""),
                    ScreenLine("  请输入工作人员密码："), ScreenLine(""),
                    stars,
                ], hints: m.hints("数字 输入  退格 删除  Enter 确认  Esc 取消", nil, .backspace, .enter, .escape))
        case .technician:
            return ScreenBody(
                title: "维护模式 Technician mode",
                lines: [ScreenLine("  请输入维护密码 / Enter the technician PIN:"), ScreenLine(""), stars],
                hints: m.hints("数字 输入  Enter 确认  Esc 返回首页", nil, .enter, .escape))
        }
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(let d):
            if m.pinEntry.count < 12 { m.pinEntry.append(Character(String(d))) }
            m.message = nil
            return .stay
        case .backspace:
            if !m.pinEntry.isEmpty { m.pinEntry.removeLast() }
            return .stay
        case .enter:
            guard !m.pinEntry.isEmpty else { return .stay }
            switch role {
            case .technician:
                m.emit(.verifyTechnicianPIN(m.pinEntry))
            case .staff:
                guard !m.staffBusy, let c = m.staffCandidate else { return .stay }
                m.staffBusy = true
                m.message = "正在核对密码……"
                m.emit(.verifyStaffPIN(staffId: c.staffId, pin: m.pinEntry))
            }
            m.pinEntry = ""
            return .stay
        case .escape:
            m.staffCandidate = nil
            return .go(.home)
        default:
            return .ignored
        }
    }
}

/// Technician mode: device status and self-tests; residents see "暂停服务".
struct TechnicianScreen: Screen {
    var name: String { "technician" }
    var audience: Audience { .technician }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var lines = [ScreenLine("  暂停服务：设备维护中。Out of service for maintenance.", .alert), ScreenLine("")]
        let shown = m.technicianLines.isEmpty ? (m.technicianBusy ? ["…"] : []) : m.technicianLines
        for l in shown { lines += m.wrapped(l, w, indent: "  ") }
        return ScreenBody(
            title: "维护模式 Technician mode", lines: lines,
            hints: m.hints("1 状态  2 自检  3 自检并打印测试回执  0 退出维护", .digit(1), .digit(2), .digit(3), .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(1):
            m.technicianBusy = true
            m.emit(.technicianStatus)
        case .digit(2):
            m.technicianBusy = true
            m.technicianLines = ["正在自检… / running self-tests…"]
            m.emit(.technicianSelftest(printTestReceipt: false))
        case .digit(3):
            m.technicianBusy = true
            m.technicianLines = ["正在自检并打印测试回执… / self-tests and a test receipt…"]
            m.emit(.technicianSelftest(printTestReceipt: true))
        case .digit(0), .escape:
            m.technicianLines = []
            return .endSession
        default:
            return .ignored
        }
        return .stay
    }
}

extension Route {
    public static var staffPIN: Route { Route(PINScreen(role: .staff)) }
    public static var technicianPIN: Route { Route(PINScreen(role: .technician)) }
    public static var technician: Route { Route(TechnicianScreen()) }
}
