import Foundation
import KioskDevices

// Technician mode on the kiosk screen: three presses of # on the home screen, then the
// technician PIN (checked by the runtime against a slow hash, with a lockout). While it runs the
// header says the kiosk is out of service; leaving it idle returns to the home screen.

extension FlowMachine {
    /// Keys of the technician screens; returns true when the key was handled here.
    mutating func handleTechnicianKey(_ k: Key, _ effects: inout [FlowEffect]) -> Bool {
        switch route {
        case .technicianPIN:
            switch k {
            case .digit(let d):
                if technicianPIN.count < 12 { technicianPIN.append(Character(String(d))) }
                message = nil
            case .backspace:
                if !technicianPIN.isEmpty { technicianPIN.removeLast() }
            case .enter:
                guard !technicianPIN.isEmpty else { return true }
                effects.append(.verifyTechnicianPIN(technicianPIN))
                technicianPIN = ""
            case .escape:
                technicianPIN = ""
                go(.home, &effects)
            default: break
            }
            return true
        case .technician:
            switch k {
            case .digit(1):
                technicianBusy = true
                effects.append(.technicianStatus)
            case .digit(2):
                technicianBusy = true
                technicianLines = ["正在自检… / running self-tests…"]
                effects.append(.technicianSelftest(printTestReceipt: false))
            case .digit(3):
                technicianBusy = true
                technicianLines = ["正在自检并打印测试回执… / self-tests and a test receipt…"]
                effects.append(.technicianSelftest(printTestReceipt: true))
            case .digit(0), .escape:
                technicianLines = []
                endSession(&effects)
            default: break
            }
            return true
        default:
            return false
        }
    }

    func technicianBody(width w: Int) -> Body {
        switch route {
        case .technicianPIN:
            return Body(title: "维护模式 Technician mode",
                        lines: [ScreenLine("  请输入维护密码 / Enter the technician PIN:"), ScreenLine(""),
                                ScreenLine("  " + String(repeating: "*", count: technicianPIN.count) + "_", .bold)],
                        hints: "数字 输入  Enter 确认  Esc 返回首页")
        default:
            var lines = [ScreenLine("  暂停服务：设备维护中。Out of service for maintenance.", .alert), ScreenLine("")]
            let shown = technicianLines.isEmpty ? (technicianBusy ? ["…"] : []) : technicianLines
            for l in shown { lines += wrapped(l, w, indent: "  ") }
            return Body(title: "维护模式 Technician mode",
                        lines: lines,
                        hints: "1 状态  2 自检  3 自检并打印测试回执  0 退出维护")
        }
    }
}
