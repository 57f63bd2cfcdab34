import Foundation
import KioskCore
import KioskProtocols

// No single key loses work (issue 24, point 7): leaving an application that holds photographs or
// a phone number asks first; a receipt printer in trouble is said before an application starts.

/// "Give up this application?" before what the resident entered is wiped. Any answer but 1 keeps it.
struct ConfirmLeaveScreen: Screen {
    /// Where "continue" returns to (the screen the resident left).
    var back: Route
    var name: String { "confirm-leave" }

    static func == (a: Self, b: Self) -> Bool { a.back == b.back }
    func hash(into h: inout Hasher) { h.combine(back.name) }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var lines = m.wrapped(m.L("确定要放弃本次申请吗？放弃后以下信息将被清除，不会提交："), w)
        lines.append(ScreenLine(""))
        let photos = m.session.photos.compactMap { $0 }.count
        if photos > 0 { lines.append(ScreenLine("    " + m.L("已拍摄的材料照片 {1} 张", photos))) }
        if !m.session.phone.isEmpty { lines.append(ScreenLine("    " + m.L("已输入的手机号码"))) }
        if m.session.identity != nil { lines.append(ScreenLine("    " + m.L("已读取的证件信息"))) }
        lines.append(ScreenLine(""))
        var b = ScreenBody(
            title: m.L("放弃本次申请？"), lines: lines,
            hints: m.hints(m.L("1 放弃并清除   0 继续办理"), .digit(1), .digit(0)))
        b.options = [
            ScreenOption(.digit(1), m.L("放弃申请，清除以上信息")) { _ in .endSession },
            ScreenOption(.digit(0), m.L("继续办理（信息保留）")) { [back] _ in .go(back) },
        ]
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(1): return .endSession
        case .digit(0), .escape, .enter: return .go(back)
        default: return .ignored
        }
    }
}

/// The receipt printer cannot print: said before an application that promises a receipt starts.
struct PrinterWarningScreen: Screen {
    var code: String
    var name: String { "printer-warning" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var lines = [ScreenLine("  " + m.L("回执打印机当前：{1}", m.printerProblem), .alert), ScreenLine("")]
        lines += m.wrapped(m.L("现在申办可以正常提交，但提交后不能当场打印回执。请记下屏幕上的办件编号，加纸后可在本机补打，或凭办件编号到窗口补打。"), w)
        lines.append(ScreenLine(""))
        var b = ScreenBody(
            title: m.L("回执打印机暂不可用"), lines: lines,
            hints: m.hints(m.L("1 仍然申办   0 返回办事指南"), .digit(1), .digit(0)))
        b.options = [
            ScreenOption(.digit(1), m.L("仍然申办（不打印回执）")) { [code] m in
                m.startApplication(code: code, printerChecked: true)
            },
            ScreenOption(.digit(0), m.L("返回办事指南")) { [code] _ in .go(.guide(code: code, page: 0)) },
        ]
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        if k == .escape { return .go(.guide(code: code, page: 0)) }
        return choose(k, &m)
    }
}

extension FlowMachine {
    /// Whether the resident has entered anything an accidental key would lose.
    var sessionHoldsEnteredData: Bool {
        session.photos.contains { $0 != nil } || !session.phone.isEmpty
    }

    /// Leaving the application from `here`: asks first when photographs or a phone number would be lost.
    func leaveApplication(from here: Route) -> Transition {
        sessionHoldsEnteredData ? .go(Route(ConfirmLeaveScreen(back: here))) : .endSession
    }

    /// Leaving a 补正 from its first photo: back to the case when nothing was taken, else ask.
    mutating func leaveApplication(from here: Route, back s: SupplementTarget) -> Transition {
        if sessionHoldsEnteredData { return .go(Route(ConfirmLeaveScreen(back: here))) }
        session.supplement = nil
        session.photos = []
        return .go(.caseDetail(s.submissionId))
    }

    /// After the last photo: the phone number for a new application; a 补正 keeps the case's.
    var afterPhotos: Route { session.supplement == nil ? .phone : .review }

    /// Starts an application for the item: the checks that refuse it (storage, devices), the
    /// printer warning, then the card screen.
    mutating func startApplication(code: String, printerChecked: Bool = false) -> Transition {
        guard let item = catalog.item(code: code) else { return .stay }
        session.item = item
        if !acceptingSubmissions {
            message = L("本机存储空间不足，暂停受理新的申请，请到窗口办理或联系工作人员")
            return .stay
        }
        if !usable(.idCardReader) {
            message = staff != nil ? "身份证阅读器暂不可用：请检查设备或联系技术人员，申请人可到窗口办理" : L("身份证阅读器暂不可用，请联系工作人员")
            return .stay
        }
        if !usable(.documentCamera) {
            message = staff != nil ? "高拍仪暂不可用：请检查设备或联系技术人员，申请人可到窗口办理" : L("高拍仪暂不可用，请到窗口办理")
            return .stay
        }
        if !printerChecked && !receiptPrinterReady {
            return .go(Route(PrinterWarningScreen(code: code)))
        }
        session.photos = Array(repeating: nil, count: materialNames.count)
        return .go(.placeCard(.apply))
    }

    /// A device this screen needs failed while it is shown: what happened and what to do (nil: fine).
    func deviceTrouble(_ kind: DeviceKind) -> String? {
        // Printers: connected is not enough; out of paper or jammed is trouble too.
        let printer = kind == .receiptPrinter || kind == .a4Printer
        let ready =
            printer
            ? (device(kind).map { $0.state.usable && $0.paper != .out && $0.paper != .jammed && $0.state != .userError }
                ?? false)
            : usable(kind)
        guard !ready else { return nil }
        let state: String = {
            guard let d = device(kind) else { return L("未连接") }
            switch d.paper {
            case .out: return L("缺纸")
            case .jammed: return L("卡纸")
            default: return L(d.state.chinese)
            }
        }()
        if staff != nil {
            // Staff (帮办代办, the certificate desk) are the ones to act: staff wording, in Chinese.
            return
                "\(kind.chinese)当前：\(device(kind).map { $0.paper == .out ? "缺纸" : $0.paper == .jammed ? "卡纸" : $0.state.chinese } ?? "未连接")。请检查设备（连接、纸张），或联系技术人员；申请人可到窗口办理。"
        }
        switch kind {
        case .idCardReader:
            return L("身份证阅读器当前：{1}。请联系工作人员处理，或按 0 返回后到窗口办理。", state)
        case .documentCamera:
            return L("高拍仪当前：{1}。已拍的照片不会丢失；请联系工作人员处理，或到窗口办理。", state)
        case .a4Printer:
            return L("证照打印机当前：{1}。请联系工作人员处理，或到窗口领取证照。", state)
        case .receiptPrinter:
            return L("回执打印机当前：{1}。", printerProblem)
        }
    }
}
