import Foundation
import KioskCore
import KioskProtocols

/// Place the ID card, for an application, a progress query, a pick-up or staff sign-in. Card reading
/// runs exactly while this screen is up (`FlowMachine.apply`).
struct PlaceCardScreen: Screen {
    var purpose: FlowMachine.Purpose
    var name: String { purpose == .staffSignIn ? "staff" : "place-card" }
    var audience: Audience { purpose == .staffSignIn ? .staff : .resident }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        // Large mode: short sentences, one per line.
        var lines =
            m.largeMode
            ? [ScreenLine("  " + m.L("请把证件放在下方读卡区。")), ScreenLine(""), ScreenLine("  " + m.L("放好后不要移动。"))]
            : m.wrapped(m.L("请将身份证（或居住证、外国人永久居留身份证）平放在下方的读卡区域，不要移动。"), w)
        lines.append(ScreenLine(""))
        if !m.usable(.idCardReader) {
            // The reader failed while this screen is up: said here, with what to do.
            let trouble =
                purpose == .staffSignIn
                ? "身份证阅读器当前：\(m.device(.idCardReader)?.state.chinese ?? "未连接")。请检查连接或联系技术人员，按 0 返回。"
                : (m.deviceTrouble(.idCardReader) ?? "")
            lines.insert(
                contentsOf: m.wrapped(trouble, w).map { ScreenLine($0.text, .alert) } + [ScreenLine("")], at: 0)
        }
        switch purpose {
        case .apply: lines += m.wrapped(m.L("申办事项：{1}", m.session.item?.name ?? ""), w)
        case .progress: lines += m.wrapped(m.L("读取证件后将显示您本人的申请及进度。"), w)
        case .pickup: lines += m.wrapped(m.L("读取证件后将显示您本人已办好的证照。"), w)
        case .staffSignIn: lines.append(ScreenLine("  工作人员登录：请放置工作人员本人的身份证。"))
        }
        if m.assisting, purpose == .apply, let s = m.staff {
            lines += m.wrapped(m.L("帮办代办：{1}（工号 {2}）代申请人办理，请放置申请人的证件", s.displayName, s.staffId), w)
                .map { ScreenLine($0.text, .bold) }
        }
        var b = ScreenBody(
            title: purpose == .staffSignIn ? "工作人员登录" : m.L("请放置身份证"), lines: lines,
            hints: m.hints(m.L("0 取消并返回首页"), .digit(0)))
        if let cards = m.settings.simulatedCards {
            b.lines.append(ScreenLine(""))
            b.lines.append(ScreenLine("  " + m.L("[演示] 按字母键放置模拟证件："), .dim))
            b.options = cards.enumerated().map { i, c in
                ScreenOption(.char(Character(Unicode.Scalar(UInt8(97 + i)))), c) { _ in
                    .stay
                }
            }
            b.lines += m.optionLines(b.options, width: w, indent: "    ").map {
                ScreenLine($0.text, .dim, targets: $0.targets)
            }
        }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(0), .escape:
            return .endSession
        case .char(let c):
            if let cards = m.settings.simulatedCards, let v = c.lowercased().unicodeScalars.first?.value,
                v >= 97, Int(v - 97) < cards.count
            {
                m.emit(.placeSimulatedCard(Int(v - 97)))
                return .stay
            }
            return .ignored
        default:
            return .ignored
        }
    }
}

/// The card was read: the masked identity to confirm.
struct IdentityScreen: Screen {
    var name: String { "identity" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        guard let id = m.session.identity else { return ScreenBody(title: "") }
        let typeName: String = {
            switch id.cardType {
            case .resident: return m.L("居民身份证")
            case .hmt: return m.L("港澳台居民居住证")
            case .foreign2017, .foreign2023: return m.L("外国人永久居留身份证")
            }
        }()
        var lines = [
            ScreenLine("  " + m.L("证件类型：{1}", typeName)),
            ScreenLine("  " + m.L("姓    名：{1}", id.maskedName)),
            ScreenLine("  " + m.L("证件号码：{1}", id.maskedIDNumber)),
            ScreenLine(""),
        ]
        lines += m.wrapped(m.L("申办事项：{1}", m.session.item?.name ?? ""), w)
        lines.append(ScreenLine(""))
        lines += m.wrapped(m.L("信息已部分隐藏以保护您的隐私。请取回您的证件。"), w)
        return ScreenBody(
            title: m.L("请核对您的身份信息"), lines: lines,
            hints: m.hints(m.L("Enter 确认，下一步拍摄材料   0 取消"), .enter, .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .enter, .digit(1):
            // 帮办代办: the resident's consent first (free of charge).
            if m.assisting && !m.session.assistConsent { return .go(.assistConsent) }
            return .go(.photo(index: 0))
        case .digit(0), .escape: return m.leaveApplication(from: .identity)
        default: return .ignored
        }
    }
}

/// Photograph material `index` with the document camera.
struct PhotoScreen: Screen {
    var index: Int
    var name: String { "photo" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let i = index
        let names = m.materialNames
        let name = i < names.count ? names[i] : ""
        let taken = i < m.session.photos.count && m.session.photos[i] != nil
        var lines = m.wrapped(m.L("第 {1}/{2} 份：{3}", i + 1, names.count, m.L(name)), w)
        if let s = m.session.supplement {
            lines.insert(contentsOf: m.wrapped(m.L("补正材料，对应办件：{1}", s.caseNumber), w), at: 0)
        }
        lines.append(ScreenLine(""))
        if m.largeMode {
            lines.append(ScreenLine("  " + m.L("把材料放在高拍仪下面。")))
            lines.append(ScreenLine("  " + m.L("正面朝上，放平。")))
        } else {
            lines += m.wrapped(m.L("请将材料平放在高拍仪下方，正面朝上。"), w)
        }
        if let item = m.session.item, let g = m.catalog.guide(for: item.code),
            let mat = g.materialsToPhotograph.first(where: { $0.name == name })
        {
            lines += m.wrapped(m.L("要求：{1}", mat.requirements), w)
        }
        lines.append(ScreenLine(""))
        lines.append(ScreenLine("  " + (taken ? m.L("状态：已拍摄") : m.L("状态：未拍摄"))))
        if let trouble = m.deviceTrouble(.documentCamera) {
            lines += m.wrapped(trouble, w).map { ScreenLine($0.text, .alert) }
        }
        let optional = i >= m.requiredPhotos
        let hints =
            taken
            ? m.hints(m.L("Enter 下一步   1 重拍   0 上一步"), .enter, .digit(1), .digit(0))
            : (optional
                ? m.hints(m.L("Enter 拍照   9 跳过   0 上一步"), .enter, .digit(9), .digit(0))
                : m.hints(m.L("Enter 拍照   0 上一步"), .enter, .digit(0)))
        return ScreenBody(title: m.L("拍摄申请材料"), lines: lines, hints: hints)
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        let i = index
        guard i < m.session.photos.count else { return .go(m.afterPhotos) }
        let taken = m.session.photos[i] != nil
        switch k {
        case .enter:
            if m.session.captureInFlight { return .stay }
            if taken { return i + 1 < m.session.photos.count ? .go(.photo(index: i + 1)) : .go(m.afterPhotos) }
            m.session.captureInFlight = true
            m.session.captureIndex = i
            m.message = m.L("正在拍照，请保持材料平整……")
            m.emit(.capturePhoto)
            return .stay
        case .digit(1):
            if taken && !m.session.captureInFlight {
                // The photo already taken stays until the new one arrives (a failed retake loses nothing).
                m.session.captureInFlight = true
                m.session.captureIndex = i
                m.message = m.L("正在重拍……")
                m.emit(.capturePhoto)
            }
            return .stay
        case .digit(9):
            // Optional pages may be skipped once the required ones are taken.
            if i >= m.requiredPhotos { return .go(m.afterPhotos) }
            m.message = m.L("这份材料必须拍摄，请按 Enter 拍照")
            return .stay
        case .escape, .digit(0):
            if m.session.captureInFlight { return .stay }  // wait for the picture being taken
            if i == 0, let s = m.session.supplement { return m.leaveApplication(from: .photo(index: 0), back: s) }
            return i == 0 ? .go(.identity) : .go(.photo(index: i - 1))
        default:
            return .ignored
        }
    }
}

/// The mobile number for progress notices.
struct PhoneScreen: Screen {
    var name: String { "phone" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let shown = m.session.phone + String(repeating: "_", count: max(0, 11 - m.session.phone.count))
        return ScreenBody(
            title: m.L("请输入手机号码"),
            lines: [
                // Only what the upstream confirmed: SMS when it said it sends them.
                ScreenLine(
                    "  "
                        + (m.afterService.smsConfirmed == true
                            ? m.L("用于接收办理进度短信通知。") : m.L("用于工作人员联系您。本机暂不发送短信通知。"))),
                ScreenLine(""),
                ScreenLine("  " + m.L("手机号码：{1}", shown), .bold),
                ScreenLine(""),
                ScreenLine("  " + m.L("用数字键输入，输错请按退格键删除。")),
            ], hints: m.hints(m.L("数字键输入   退格 删除   Enter 确认   Esc 上一步"), nil, .backspace, .enter, .escape))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .digit(let d):
            if m.session.phone.count < 11 { m.session.phone.append(String(d)) }
            m.message = nil
            return .stay
        case .backspace:
            if !m.session.phone.isEmpty { m.session.phone.removeLast() }
            return .stay
        case .enter:
            if FlowMachine.validPhone(m.session.phone) { return .go(.review) }
            m.message = m.L("手机号码应为11位数字，以1开头，请检查后重新输入")
            return .stay
        case .escape:
            return .go(.photo(index: max(0, m.session.photos.count - 1)))
        default:
            return .ignored
        }
    }
}

/// Everything entered, masked, to confirm before it is sealed.
struct ReviewScreen: Screen {
    var name: String { "review" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        guard let id = m.session.identity, let item = m.session.item else { return ScreenBody(title: "") }
        var lines = [ScreenLine("  " + m.L("申办事项："))]
        lines += m.wrapped(item.name, w, indent: "    ")
        if let s = m.session.supplement { lines.append(ScreenLine("  " + m.L("补正材料，对应办件：{1}", s.caseNumber), .bold)) }
        lines += [
            ScreenLine("  " + m.L("申 请 人：{1}", id.maskedName)),
            ScreenLine("  " + m.L("证件号码：{1}", id.maskedIDNumber)),
            ScreenLine(
                "  "
                    + (m.session.supplement == nil
                        ? m.L("手机号码：{1}", Mask.phone(m.session.phone)) : m.L("手机号码：沿用原申请"))),
            ScreenLine("  " + m.L("材料照片：{1} 张", m.session.photos.compactMap { $0 }.count)),
            ScreenLine(""),
        ]
        if m.assisting, let s = m.staff {
            lines.append(ScreenLine("  " + m.L("帮办代办：{1}（工号 {2}）", s.displayName, s.staffId), .bold))
        }
        lines += m.wrapped(m.L("确认无误请按 Enter 提交。提交后将打印提交回执。"), w)
        return ScreenBody(
            title: m.L("请确认申请信息"), lines: lines,
            hints: m.hints(m.L("Enter 提交   0 取消（不保存任何信息）"), .enter, .digit(0)))
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .enter:
            guard let item = m.session.item, let id = m.session.identity else { return .stay }
            let photos = m.session.photos.compactMap { $0 }
            let req = SubmissionRequest(
                itemCode: item.code, itemName: item.name,
                applicant: ApplicantData(
                    idNumber: id.idNumber, name: id.displayName,
                    cardType: id.cardType.rawValue, phone: m.session.phone),
                photos: photos,
                photoNames: photos.indices.map {
                    (m.session.supplement == nil ? "material-" : "supplement-") + "\($0 + 1).jpg"
                },
                assistedBy: m.assisting ? m.staff?.staffId : nil, supplementOf: m.session.supplement?.submissionId)
            m.emit(.seal(req))
            return .go(.submitting)
        case .digit(0), .escape:
            return m.leaveApplication(from: .review)
        default:
            return .ignored
        }
    }
}

/// The submission is being sealed (saved durably); ends by itself.
struct SubmittingScreen: Screen {
    var name: String { "submitting" }
    var idle: IdlePolicy { .exempt }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        ScreenBody(title: m.L("正在提交，请稍候……"), lines: [ScreenLine("  " + m.L("正在安全保存您的申请，请不要离开。"))])
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition { .ignored }
}

/// The receipt is printing; ends by itself.
struct PrintingScreen: Screen {
    var name: String { "printing" }
    var idle: IdlePolicy { .exempt }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        ScreenBody(
            title: m.L("申请已提交，正在打印回执……"),
            lines: [
                ScreenLine("  " + m.L("办件编号：{1}", m.session.sealed?.caseNumber ?? ""), .bold),
                ScreenLine(""),
                ScreenLine("  " + m.L("正在打印提交回执，请稍候。")),
            ])
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition { .ignored }
}

/// Submitted: the case number, and the receipt (or why it did not print, and how to get it).
struct DoneScreen: Screen {
    var receiptOK: Bool
    var problem: String?
    var name: String { "done" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let c = m.session.sealed?.caseNumber ?? ""
        var lines = [
            ScreenLine("  " + m.L("您的申请已提交成功。"), .bold),
            ScreenLine("  " + m.L("办件编号：{1}", c), .bold),
            ScreenLine(""),
        ]
        if receiptOK && m.largeMode {
            lines.append(ScreenLine("  " + m.L("请取走回执。")))
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  " + m.L("回执上有办件编号，请保管好。")))
        } else if receiptOK {
            lines += m.wrapped(m.L("提交回执已打印，请取走回执并妥善保管。"), w)
            if m.afterService.smsConfirmed == true, !m.session.phone.isEmpty {
                lines += m.wrapped(m.L("受理、补正、办结等进度将以短信通知 {1}。", Mask.phone(m.session.phone)), w)
            } else {
                lines += m.wrapped(m.L("本机不发送短信通知，请凭办件编号查询进度。"), w)
            }
            lines += m.wrapped(m.L("放置身份证可在本机查询办理进度；凭办件编号可到窗口查询。"), w)
        } else {
            lines += m.wrapped(m.L("回执未能打印（{1}）。您的申请已安全保存，不受影响，无需重新申请。", m.L(problem ?? "打印机故障")), w)
            lines += m.wrapped(m.L("请记下上面的办件编号。补打回执：本机加纸后按 2 重新打印，或凭办件编号请窗口工作人员补打。"), w)
            lines.append(
                ScreenLine(
                    "  "
                        + (m.receiptPrinterReady
                            ? m.L("打印机已就绪，现在可按 2 重新打印回执。")
                            : m.L("打印机当前：{1}。", m.printerProblem)),
                    .bold))
        }
        let hints =
            receiptOK
            ? m.hints(m.L("Enter 评价本次服务（自愿）   0 结束并返回首页"), .enter, .digit(0))
            : m.hints(m.L("2 重新打印回执   Enter 评价（自愿）   0 结束"), .digit(2), .enter, .digit(0))
        return ScreenBody(title: m.L("提交成功"), lines: lines, hints: hints)
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        switch k {
        case .enter, .digit(1):
            return .go(.evaluate)
        case .digit(0), .escape:
            return .endSession
        case .digit(2):
            guard !receiptOK, let s = m.session.sealed else { return .ignored }
            // Reprint of the receipt for the submission that is already sealed, once paper is back.
            if m.receiptPrinterReady {
                m.emit(.printReceipt(m.receiptDocument(for: s), submissionId: s.id))
                return .go(.printing)
            }
            m.message = m.L("回执打印机仍不可用（{1}），请凭办件编号到窗口请工作人员补打", m.printerProblem)
            return .stay
        default:
            return .ignored
        }
    }
}

extension Route {
    public static func placeCard(_ purpose: FlowMachine.Purpose) -> Route { Route(PlaceCardScreen(purpose: purpose)) }
    public static var identity: Route { Route(IdentityScreen()) }
    public static func photo(index: Int) -> Route { Route(PhotoScreen(index: index)) }
    public static var phone: Route { Route(PhoneScreen()) }
    public static var review: Route { Route(ReviewScreen()) }
    public static var submitting: Route { Route(SubmittingScreen()) }
    public static var printing: Route { Route(PrintingScreen()) }
    public static func done(receiptOK: Bool, problem: String?) -> Route {
        Route(DoneScreen(receiptOK: receiptOK, problem: problem))
    }
}
