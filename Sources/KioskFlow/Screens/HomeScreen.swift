import Foundation
import KioskCore
import KioskProtocols

/// The home screen: the resident's menu, the hidden technician sequence (###) and staff sign-in (*).
/// Out of service it shows the notice and lets only staff and technicians in.
struct HomeScreen: Screen {
    var name: String { "home" }
    var idle: IdlePolicy { .exempt }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        if let notice = m.outOfService {
            var lines = [ScreenLine("  " + m.L("暂停服务"), .alert), ScreenLine("")]
            lines += m.wrapped(m.L("工作人员通知：") + notice, w)
            lines.append(ScreenLine(""))
            lines += m.wrapped(m.L("已提交的申请不受影响。需要帮助请到窗口找工作人员。"), w)
            if let h = m.settings.helpLocation { lines += m.wrapped(m.L("服务窗口：{1}", h), w) }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  " + m.L("工作人员请按 *"), .dim))
            return ScreenBody(title: m.L("暂停服务"), lines: lines)
        }
        var b = ScreenBody(
            title: m.L("首页  请按数字键选择"), lines: [ScreenLine("  " + m.L("欢迎使用24小时政务自助服务")), ScreenLine("")],
            hints: [Hint(m.L("按数字键选择"))])
        let large = m.largeMode
        b.options = [
            ScreenOption(.digit(1), large ? m.L("镇级事项") : m.L("镇级事项：查看办事指南、申请办理")) { m in
                m.categoryPage = 0
                return .go(.categories(.town))
            },
            ScreenOption(.digit(2), large ? m.L("村级事项") : m.L("村级事项：查看办事指南、申请办理")) { m in
                m.categoryPage = 0
                return .go(.categories(.village))
            },
            ScreenOption(.digit(3), large ? m.L("查询进度") : m.L("进度查询：放置身份证，查看本人申请")) { m in
                guard m.usable(.idCardReader) else {
                    m.message = m.L("身份证阅读器暂不可用，请到窗口查询进度")
                    return .stay
                }
                return .go(.placeCard(.progress))
            },
            ScreenOption(.digit(4), large ? m.L("领取证照") : m.L("证照领取：放置身份证，打印已办好的证照")) { m in
                if !m.usable(.idCardReader) {
                    m.message = m.L("身份证阅读器暂不可用，请到窗口领取证照")
                    return .stay
                }
                if !m.usable(.a4Printer) {
                    m.message = m.L("证照打印机暂不可用，请到窗口领取证照")
                    return .stay
                }
                return .go(.placeCard(.pickup))
            },
            ScreenOption(.digit(5), large ? m.L("呼叫工作人员") : m.L("呼叫工作人员：需要帮助请按 5")) { _ in .callStaff },
            ScreenOption(.digit(6), large ? m.L("标准模式（小字）") : m.L("大字模式（适老化）")) { m in
                m.largeMode.toggle()
                m.message = m.largeMode ? m.L("已切换为大字模式。按 6 可回到标准模式") : m.L("已切换为标准模式。按 6 可使用大字模式")
                return .stay
            },
        ]
        b.lines += m.optionLines(b.options, width: w)
        if !large {
            b.lines.append(ScreenLine(""))
            b.lines.append(ScreenLine("  " + m.L("工作人员请按 *"), .dim))
            if m.settings.simulatedCards != nil { b.lines.append(ScreenLine("  " + m.L("[演示模式：设备为模拟设备]"), .dim)) }
        }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        if k == .char("#") {
            m.hashPresses += 1
            if m.hashPresses >= 3 {
                m.hashPresses = 0
                return .go(.technicianPIN)
            }
            return .stay
        }
        m.hashPresses = 0
        if k == .char("*") {
            guard m.usable(.idCardReader) else {
                m.message = "身份证阅读器暂不可用，工作人员无法登录"
                return .stay
            }
            return .go(.placeCard(.staffSignIn))
        }
        if m.outOfService != nil {
            // Only staff and technicians while out of service; a refused choice says why.
            m.message = m.L("本机暂停服务，不能办理此项（原因见上方通知）。已提交的申请不受影响，请到窗口办理。")
            return .stay
        }
        return choose(k, &m)
    }
}

extension Route {
    public static var home: Route { Route(HomeScreen()) }
}
