import Foundation
import KioskCore
import KioskDevices
import KioskProtocols

// Every resident-facing string goes through L(…): the Chinese text is the key of the string
// table (Strings.swift), which holds its English. Catalog data (item names, guide content) is
// shown as published, in Chinese.

extension FlowMachine {
    struct Body {
        var title: String
        var lines: [ScreenLine] = []
        var hints: String
    }

    /// A date in the station's time zone (defaults to now).
    func timestamp(_ format: String, _ date: Date? = nil) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = settings.timeZone
        f.dateFormat = format
        return f.string(from: date ?? now)
    }

    var guideLinesPerPage: Int { largeMode ? 8 : Self.guideLinesPerPage }

    func guidePageCount(_ item: CatalogItem, width: Int) -> Int {
        max(1, (guideLines(item, width: width).count + guideLinesPerPage - 1) / guideLinesPerPage)
    }

    func kindName(_ k: DeviceKind) -> String { L(k.chinese) }
    func stateName(_ s: DeviceState) -> String { L(s.chinese) }

    var deviceLine: String {
        let kinds: [DeviceKind] = [.idCardReader, .documentCamera, .receiptPrinter]
        let parts = kinds.map { k -> String in
            guard let d = device(k) else { return "\(kindName(k)) \(L("未连接"))" }
            var s = "\(kindName(k)) \(stateName(d.state))"
            if k == .receiptPrinter, d.paper == .out { s = "\(kindName(k)) \(L("缺纸"))" }
            if k == .receiptPrinter, d.paper == .low, d.state == .online { s += L("(纸将尽)") }
            return s
        }
        let ready = kinds.allSatisfy { $0 == .receiptPrinter ? receiptPrinterReady : usable($0) }
        return (ready ? L("设备就绪：") : L("设备状态：")) + parts.joined(separator: "  ")
    }

    /// The controls every resident screen offers: help and the other language.
    var residentControls: String { L("H 求助") + "  " + (language == .zh ? "L English" : "L 中文") }

    /// The whole screen for the current state, laid out by display width.
    public func frame(width: Int, height: Int) -> Frame {
        let w = max(40, width)
        var body = content(width: w)
        var rows: [ScreenLine] = []
        let clock = timestamp("yyyy-MM-dd HH:mm:ss")
        let name = DisplayWidth.truncate(settings.stationName, columns: w - DisplayWidth.of(clock) - 2)
        rows.append(ScreenLine(DisplayWidth.pad(name, to: w - DisplayWidth.of(clock)) + clock, .inverse))
        rows.append(ScreenLine(DisplayWidth.truncate(deviceLine, columns: w), largeMode ? .normal : .dim))
        rows.append(ScreenLine(String(repeating: largeMode ? "=" : "-", count: w)))
        rows.append(ScreenLine(DisplayWidth.truncate(body.title, columns: w), largeMode ? .inverse : .bold))
        rows.append(ScreenLine(""))
        let bodyRows = max(1, height - rows.count - 3)
        if body.lines.count > bodyRows { body.lines = Array(body.lines.prefix(bodyRows)) }
        // Large mode: high contrast, nothing dim.
        if largeMode { body.lines = body.lines.map { ScreenLine($0.text, $0.style == .normal || $0.style == .dim ? .bold : $0.style) } }
        rows += body.lines
        while rows.count < height - 3 { rows.append(ScreenLine("")) }
        rows.append(ScreenLine(String(repeating: largeMode ? "=" : "-", count: w)))
        var hints = body.hints
        // Resident screens get the help and language controls on the hint line.
        if !isStaffOrTechnicianScreen {
            hints = hints.isEmpty ? residentControls : hints + "   " + residentControls
        }
        rows.append(ScreenLine(DisplayWidth.truncate(hints, columns: w), largeMode ? .bold : .normal))
        // Alerts say what happened in words and carry a text marker, never colour alone.
        if let c = countdown {
            rows.append(ScreenLine(DisplayWidth.truncate(L("【提示】{1} 秒后将返回首页并清除您的信息，按任意键继续办理", c), columns: w), .alert))
        } else if let m = message {
            rows.append(ScreenLine(DisplayWidth.truncate(L("【提示】") + m, columns: w), .alert))
        } else {
            rows.append(ScreenLine(""))
        }
        return Frame(rows: Array(rows.prefix(height)))
    }

    var isStaffOrTechnicianScreen: Bool {
        switch route {
        case .technicianPIN, .technician, .staffPIN, .staffMenu, .staffCertificates, .staffCertificate, .staffBatchCollect,
             .staffLedger, .staffService:
            return true
        case .placeCard(.staffSignIn):
            return true
        default:
            return false
        }
    }

    func wrapped(_ text: String, _ width: Int, indent: String = "  ") -> [ScreenLine] {
        Self.phraseWrap(text, columns: width - DisplayWidth.of(indent)).map { ScreenLine(indent + $0) }
    }

    /// Wraps at a phrase boundary (space or punctuation) when one is in the last 40% of the line,
    /// so words are not broken across lines; falls back to the display-width wrap.
    static func phraseWrap(_ text: String, columns: Int) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        let breakAfter: Set<Character> = [" ", "，", "。", "；", "：", "、", "）", "！", "？", ",", ".", ";", ":", ")", "/", "」", "》"]
        while DisplayWidth.of(String(rest)) > columns {
            var w = 0
            var end = rest.startIndex
            var lastBreak: String.Index?
            var lastBreakWidth = 0
            while end < rest.endIndex {
                let cw = DisplayWidth.of(String(rest[end]))
                if w + cw > columns { break }
                w += cw
                let next = rest.index(after: end)
                let strong = breakAfter.contains(rest[end]) || (next < rest.endIndex && (rest[next] == "（" || rest[next] == "("))
                // Single-character words a Chinese line may break around: after 的, before 或 和 到 在 并 及.
                let weak = rest[end] == "的" || (next < rest.endIndex && "或和到在并及".contains(rest[next]))
                if strong || (weak && lastBreakWidth * 10 < columns * 7) {
                    lastBreak = next; lastBreakWidth = w
                }
                end = next
            }
            if end < rest.endIndex, let b = lastBreak, lastBreakWidth * 10 >= columns * 4 { end = b }
            if end == rest.startIndex { end = rest.index(after: end) }
            out.append(String(rest[rest.startIndex..<end]).trimmingCharacters(in: .whitespaces))
            rest = rest[end...].drop { $0 == " " }
        }
        if !rest.isEmpty || out.isEmpty { out.append(String(rest)) }
        return out
    }

    /// Options as lines: in large mode one per line with a blank line between (line spacing).
    func options(_ list: [(String, String)], width w: Int) -> [ScreenLine] {
        var lines: [ScreenLine] = []
        for (i, (key, label)) in list.enumerated() {
            if largeMode && i > 0 { lines.append(ScreenLine("")) }
            let head = "  \(key)  "
            let parts = Self.phraseWrap(label, columns: w - DisplayWidth.of(head))
            for (j, part) in parts.prefix(2).enumerated() {
                lines.append(ScreenLine((j == 0 ? head : String(repeating: " ", count: DisplayWidth.of(head))) + part))
            }
        }
        return lines
    }

    func levelName(_ l: ItemLevel) -> String { L(l.displayName) }

    func content(width w: Int) -> Body {
        if let b = staffBody(width: w) { return b }
        switch route {
        case .home:
            if let notice = outOfService {
                var lines = [ScreenLine("  " + L("暂停服务"), .alert), ScreenLine("")]
                lines += wrapped(L("工作人员通知：") + notice, w)
                lines.append(ScreenLine(""))
                lines += wrapped(L("已提交的申请不受影响。需要帮助请到窗口找工作人员。"), w)
                if let h = settings.helpLocation { lines += wrapped(L("服务窗口：{1}", h), w) }
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  " + L("工作人员请按 *"), .dim))
                return Body(title: L("暂停服务"), lines: lines, hints: "")
            }
            var lines = [ScreenLine("  " + L("欢迎使用24小时政务自助服务")), ScreenLine("")]
            if largeMode {
                lines += options([("1", L("镇级事项")), ("2", L("村级事项")), ("3", L("查询进度")), ("4", L("领取证照")),
                                  ("5", L("呼叫工作人员")), ("6", L("标准模式（小字）"))], width: w)
            } else {
                lines += options([("1", L("镇级事项：查看办事指南、申请办理")), ("2", L("村级事项：查看办事指南、申请办理")),
                                  ("3", L("进度查询：放置身份证，查看本人申请")), ("4", L("证照领取：放置身份证，打印已办好的证照")),
                                  ("5", L("呼叫工作人员：需要帮助请按 5")), ("6", L("大字模式（适老化）"))], width: w)
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  " + L("工作人员请按 *"), .dim))
                if settings.simulatedCards != nil { lines.append(ScreenLine("  " + L("[演示模式：设备为模拟设备]"), .dim)) }
            }
            return Body(title: L("首页  请按数字键选择"), lines: lines, hints: L("按数字键选择"))

        case .help:
            var lines = [ScreenLine("  " + L("已通知工作人员，请稍候。"), .bold), ScreenLine("")]
            if let h = settings.helpLocation { lines += wrapped(L("服务窗口：{1}", h), w) }
            else { lines += wrapped(L("请到服务大厅的窗口找工作人员。"), w) }
            if let p = settings.helpPhone { lines += wrapped(L("咨询电话：{1}", p), w) }
            lines.append(ScreenLine(""))
            lines += wrapped(L("工作时间以外，请拨打咨询电话，或在工作时间再来。"), w)
            lines += wrapped(L("您的信息没有丢失，按 0 回到刚才的页面。"), w)
            return Body(title: L("呼叫工作人员"), lines: lines, hints: L("0 返回"))

        case .categories(let level):
            let cats = catalog.categories(level: level)
            let per = categoriesPerPage
            let page = min(categoryPage, max(0, (cats.count - 1) / per))
            var list: [(String, String)] = []
            for (i, c) in cats.enumerated().dropFirst(page * per).prefix(per) {
                list.append(("\(i - page * per + 1)", L("{1}（{2}项）", L(c), catalog.items(level: level, category: c).count)))
            }
            var lines = options(list, width: w)
            let pages = max(1, (cats.count + per - 1) / per)
            if pages > 1 {
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  " + L("第 {1}/{2} 页", page + 1, pages), .dim))
            }
            return Body(title: L("{1}：请选择类别", levelName(level)), lines: lines,
                        hints: pages > 1 ? L("数字键选择   7 上一页   9 下一页   0 返回首页") : L("数字键选择   0 返回首页"))

        case .items(let level, let category, let page):
            let items = catalog.items(level: level, category: category)
            let per = pageSize
            let pages = max(1, (items.count + per - 1) / per)
            let slice = Array(items.dropFirst(page * per).prefix(per))
            var lines = options(slice.enumerated().map { ("\($0.offset + 1)", $0.element.name) }, width: w)
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  " + L("第 {1}/{2} 页，共 {3} 项", page + 1, pages, items.count), .dim))
            return Body(title: "\(levelName(level)) > \(L(category))", lines: lines,
                        hints: L("1-{1} 选择事项   7 上一页   9 下一页   0 返回", slice.count))

        case .guide(let code, let page):
            guard let item = catalog.item(code: code) else { return Body(title: L("事项不存在"), hints: L("0 返回")) }
            let all = guideLines(item, width: w)
            let per = guideLinesPerPage
            let pages = guidePageCount(item, width: w)
            let p = min(page, pages - 1)
            var lines = Array(all.dropFirst(p * per).prefix(per))
            lines.append(ScreenLine("  " + L("第 {1}/{2} 页", p + 1, pages), .dim))
            return Body(title: L("办事指南：{1}", item.name), lines: lines,
                        hints: largeMode ? L("1 打印告知单  2 申办  9 下一页  0 返回") : L("1 打印一次性告知单  2 我要申办  7/9 翻页  0 返回"))

        case .placeCard(let purpose):
            // Large mode: short sentences, one per line.
            var lines = largeMode
                ? [ScreenLine("  " + L("请把证件放在下方读卡区。")), ScreenLine(""), ScreenLine("  " + L("放好后不要移动。"))]
                : wrapped(L("请将身份证（或居住证、外国人永久居留身份证）平放在下方的读卡区域，不要移动。"), w)
            lines.append(ScreenLine(""))
            switch purpose {
            case .apply: lines += wrapped(L("申办事项：{1}", session.item?.name ?? ""), w)
            case .progress: lines += wrapped(L("读取证件后将显示您本人的申请及进度。"), w)
            case .pickup: lines += wrapped(L("读取证件后将显示您本人已办好的证照。"), w)
            case .staffSignIn: lines.append(ScreenLine("  工作人员登录：请放置工作人员本人的身份证。"))
            }
            if assisting, purpose == .apply, let s = staff {
                lines += wrapped(L("帮办代办：{1}（工号 {2}）代申请人办理，请放置申请人的证件", s.displayName, s.staffId), w).map { ScreenLine($0.text, .bold) }
            }
            if let cards = settings.simulatedCards {
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  " + L("[演示] 按字母键放置模拟证件："), .dim))
                for (i, c) in cards.enumerated() {
                    let letter = Character(Unicode.Scalar(UInt8(65 + i)))
                    lines.append(ScreenLine("    \(letter)  \(c)", .dim))
                }
            }
            return Body(title: purpose == .staffSignIn ? "工作人员登录" : L("请放置身份证"), lines: lines,
                        hints: L("0 取消并返回首页"))

        case .identity:
            guard let id = session.identity else { return Body(title: "", hints: "") }
            let typeName: String = {
                switch id.cardType {
                case .resident: return L("居民身份证")
                case .hmt: return L("港澳台居民居住证")
                case .foreign2017, .foreign2023: return L("外国人永久居留身份证")
                }
            }()
            var lines = [
                ScreenLine("  " + L("证件类型：{1}", typeName)),
                ScreenLine("  " + L("姓    名：{1}", id.maskedName)),
                ScreenLine("  " + L("证件号码：{1}", id.maskedIDNumber)),
                ScreenLine(""),
            ]
            lines += wrapped(L("申办事项：{1}", session.item?.name ?? ""), w)
            lines.append(ScreenLine(""))
            lines += wrapped(L("信息已部分隐藏以保护您的隐私。请取回您的证件。"), w)
            return Body(title: L("请核对您的身份信息"), lines: lines, hints: L("Enter 确认，下一步拍摄材料   0 取消"))

        case .photo(let i):
            let names = materialNames
            let name = i < names.count ? names[i] : ""
            let taken = i < session.photos.count && session.photos[i] != nil
            var lines = wrapped(L("第 {1}/{2} 份：{3}", i + 1, names.count, L(name)), w)
            lines.append(ScreenLine(""))
            if largeMode {
                lines.append(ScreenLine("  " + L("把材料放在高拍仪下面。")))
                lines.append(ScreenLine("  " + L("正面朝上，放平。")))
            } else {
                lines += wrapped(L("请将材料平放在高拍仪下方，正面朝上。"), w)
            }
            if let item = session.item, let g = catalog.guide(for: item.code),
               let m = g.materialsToPhotograph.first(where: { $0.name == name }) {
                lines += wrapped(L("要求：{1}", m.requirements), w)
            }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  " + (taken ? L("状态：已拍摄") : L("状态：未拍摄"))))
            let optional = i >= requiredPhotos
            let hint = taken ? L("Enter 下一步   1 重拍   0 上一步") : (optional ? L("Enter 拍照   9 跳过   0 上一步") : L("Enter 拍照   0 上一步"))
            return Body(title: L("拍摄申请材料"), lines: lines, hints: hint)

        case .phone:
            let shown = session.phone + String(repeating: "_", count: max(0, 11 - session.phone.count))
            return Body(title: L("请输入手机号码"), lines: [
                ScreenLine("  " + L("用于接收办理进度通知。")),
                ScreenLine(""),
                ScreenLine("  " + L("手机号码：{1}", shown), .bold),
                ScreenLine(""),
                ScreenLine("  " + L("用数字键输入，输错请按退格键删除。")),
            ], hints: L("数字键输入   退格 删除   Enter 确认   Esc 上一步"))

        case .review:
            guard let id = session.identity, let item = session.item else { return Body(title: "", hints: "") }
            var lines = [ScreenLine("  " + L("申办事项："))]
            lines += wrapped(item.name, w, indent: "    ")
            lines += [
                ScreenLine("  " + L("申 请 人：{1}", id.maskedName)),
                ScreenLine("  " + L("证件号码：{1}", id.maskedIDNumber)),
                ScreenLine("  " + L("手机号码：{1}", Mask.phone(session.phone))),
                ScreenLine("  " + L("材料照片：{1} 张", session.photos.compactMap { $0 }.count)),
                ScreenLine(""),
            ]
            if assisting, let s = staff { lines.append(ScreenLine("  " + L("帮办代办：{1}（工号 {2}）", s.displayName, s.staffId), .bold)) }
            lines += wrapped(L("确认无误请按 Enter 提交。提交后将打印受理回执。"), w)
            return Body(title: L("请确认申请信息"), lines: lines, hints: L("Enter 提交   0 取消（不保存任何信息）"))

        case .submitting:
            return Body(title: L("正在提交，请稍候……"), lines: [ScreenLine("  " + L("正在安全保存您的申请，请不要离开。"))], hints: "")

        case .printing:
            return Body(title: L("申请已提交，正在打印回执……"), lines: [
                ScreenLine("  " + L("办件编号：{1}", session.sealed?.caseNumber ?? ""), .bold),
                ScreenLine(""),
                ScreenLine("  " + L("正在打印受理回执，请稍候。")),
            ], hints: "")

        case .done(let ok, let problem):
            let c = session.sealed?.caseNumber ?? ""
            var lines = [
                ScreenLine("  " + L("您的申请已提交成功。"), .bold),
                ScreenLine("  " + L("办件编号：{1}", c), .bold),
                ScreenLine(""),
            ]
            if ok && largeMode {
                lines.append(ScreenLine("  " + L("请取走回执。")))
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  " + L("回执上有办件编号，请保管好。")))
            } else if ok {
                lines += wrapped(L("受理回执已打印，请取走回执并妥善保管。"), w)
                lines += wrapped(L("放置身份证可在本机查询办理进度；凭办件编号可到窗口查询。"), w)
            } else {
                lines += wrapped(L("回执未能打印（{1}）。您的申请已安全保存，不受影响，无需重新申请。", L(problem ?? "打印机故障")), w)
                lines += wrapped(L("请记下上面的办件编号。补打回执：本机加纸后按 2 重新打印，或凭办件编号请窗口工作人员补打。"), w)
                lines.append(ScreenLine("  " + (receiptPrinterReady ? L("打印机已就绪，现在可按 2 重新打印回执。") : L("打印机当前：{1}。", printerProblem)), .bold))
            }
            return Body(title: L("提交成功"), lines: lines,
                        hints: ok ? L("Enter 评价本次服务（自愿）   0 结束并返回首页") : L("2 重新打印回执   Enter 评价（自愿）   0 结束"))

        case .evaluate:
            var lines = [ScreenLine("  " + L("请您对本次服务进行评价（自愿，可跳过）：")), ScreenLine("")]
            lines += options(EvaluationLevel.allCases.enumerated().map { ("\($0.offset + 1)", L($0.element.chinese)) }, width: w)
            return Body(title: L("服务评价（好差评）"), lines: lines, hints: L("1-5 选择评价   0 跳过"))

        case .evaluationReason(let level):
            let name = EvaluationLevel(rawValue: level).map { L($0.chinese) } ?? ""
            var lines = wrapped(L("您选择了“{1}”。请告诉我们主要原因：", name), w)
            lines.append(ScreenLine(""))
            lines += options(evaluationReasons.enumerated().map { ("\($0.offset + 1)", L($0.element)) }, width: w)
            return Body(title: L("评价原因"), lines: lines, hints: L("1-{1} 选择原因   0 不填写原因", evaluationReasons.count))

        case .thanks:
            return Body(title: L("感谢您的使用"), lines: [
                ScreenLine("  " + L("感谢您使用政务自助服务。")),
                ScreenLine("  " + L("请带好您的身份证、材料原件和回执。")),
            ], hints: L("按任意键返回首页"))

        case .technicianPIN, .technician:
            return technicianBody(width: w)
        case .progressList:
            var lines: [ScreenLine] = []
            if let id = session.identity {
                lines.append(ScreenLine("  " + L("申请人：{1}   证件号码：{2}", id.maskedName, id.maskedIDNumber)))
                lines.append(ScreenLine(""))
            }
            if !session.progressLoaded {
                lines.append(ScreenLine("  " + L("正在查询……")))
            } else if session.progress.isEmpty {
                lines += wrapped(L("本机没有查到您的申请记录。"), w)
                lines += wrapped(L("在其他地点提交的申请，请到窗口或登录网上办事大厅查询。"), w)
            } else {
                for s in session.progress.prefix(largeMode ? 4 : 6) {
                    lines.append(ScreenLine("  \(s.caseNumber)  \(timestamp("MM-dd HH:mm", s.sealedAt))  \(L(s.residentState))", .bold))
                    lines.append(ScreenLine("    " + DisplayWidth.truncate(s.itemName, columns: w - 6)))
                    if largeMode { lines.append(ScreenLine("")) }
                }
            }
            return Body(title: L("进度查询"), lines: lines, hints: L("0 结束并返回首页"))

        case .pickupList, .staffPIN, .staffMenu, .staffCertificates, .staffCertificate, .staffBatchCollect, .staffLedger, .staffService:
            return Body(title: "", hints: "")
        }
    }

    func guideLines(_ item: CatalogItem, width w: Int) -> [ScreenLine] {
        var lines: [ScreenLine] = []
        lines += wrapped(L("事项类型：{1}    办理层级：{2}", item.type, levelName(item.level)), w)
        lines += wrapped(L("办理方式：{1}", item.handling == "清单未注明" ? L("以窗口告知为准") : item.handling), w)
        guard let g = catalog.guide(for: item.code) else {
            lines.append(ScreenLine(""))
            lines += wrapped(L("本事项暂无办事指南，办事指南以窗口告知为准。"), w).map { ScreenLine($0.text, .bold) }
            lines += wrapped(L("您仍可在本机提交申请材料，工作人员审核后会告知您需补充的内容。"), w)
            return lines
        }
        if g.sample {
            lines += wrapped(L("[示例] {1}", g.sampleNotice ?? L("示例内容，仅供演示，以窗口告知为准")), w).map { ScreenLine($0.text, .alert) }
        }
        if language == .en { lines += wrapped(L("以下办事指南为中文，窗口工作人员可以为您解释。"), w) }
        if let s = g.shortVersion { lines += wrapped(L("简介：{1}", s), w) }
        if !g.materials.isEmpty {
            lines.append(ScreenLine("  " + L("申请材料：")))
            for (i, m) in g.materials.enumerated() {
                lines += wrapped("\(i + 1). \(m.name)（\(m.form) \(m.copies)份）", w, indent: "    ")
            }
        }
        if let t = g.promisedTimeLimit { lines += wrapped(L("承诺时限：{1}", t), w) }
        if let f = g.fee { lines += wrapped(L("收费标准：{1}", f), w) }
        if let l = g.location { lines += wrapped(L("办理地点：{1}", l), w) }
        if let h = g.hours { lines += wrapped(L("办理时间：{1}", h), w) }
        if let p = g.consultPhone { lines += wrapped(L("咨询电话：{1}", p), w) }
        return lines
    }

    // MARK: Printed documents (Chinese: the receipt is an official record)

    func receiptDocument(for s: SubmissionSummary) -> ReceiptDocument {
        let id = session.identity
        var els: [ReceiptElement] = [
            .title("受理回执"),
            .text(settings.stationName, align: .center),
            .separator,
            .keyValue("办件编号", s.caseNumber),
            .text("事项：\(s.itemName)"),
            .keyValue("申请人", id?.maskedName ?? ""),
            .keyValue("证件号码", id?.maskedIDNumber ?? ""),
            .keyValue("联系电话", Mask.phone(session.phone)),
            .keyValue("材料", "\(session.photos.compactMap { $0 }.count) 份（照片）"),
            .keyValue("提交时间", timestamp("yyyy-MM-dd HH:mm:ss", s.sealedAt)),
        ]
        if assisting, let st = staff {
            els.append(.text("帮办代办：由\(st.role.chinese) \(st.displayName)（工号 \(st.staffId)）代为办理", bold: true))
        }
        els += [
            .separator,
            .qr(s.caseNumber, size: 6),
            .text("凭办件编号到窗口或放置身份证在本机查询进度", align: .center),
            .text("请妥善保管本回执", align: .center),
        ]
        if language == .en {
            els.append(.text("Case number \(s.caseNumber): keep this receipt to check progress.", align: .center))
        }
        els += [.feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }

    func noticeDocument(for item: CatalogItem) -> ReceiptDocument {
        var els: [ReceiptElement] = [
            .title("一次性告知单"),
            .text(settings.stationName, align: .center),
            .separator,
            .text("事项：\(item.name)"),
            .keyValue("事项编码", item.code),
            .keyValue("事项类型", item.type),
        ]
        if let g = catalog.guide(for: item.code) {
            if g.sample { els.append(.text("【示例】\(g.sampleNotice ?? "示例内容，以窗口告知为准")", bold: true)) }
            if let c = g.conditions { els.append(.text("受理条件：\(c)")) }
            els.append(.text("申请材料：", bold: true))
            for (i, m) in g.materials.enumerated() {
                els.append(.text("\(i + 1). \(m.name)（\(m.form)，\(m.copies)份）"))
                if !m.requirements.isEmpty { els.append(.text("   要求：\(m.requirements)")) }
            }
            if let t = g.promisedTimeLimit { els.append(.keyValue("承诺时限", t)) }
            if let f = g.fee { els.append(.keyValue("收费", f)) }
            if let l = g.location { els.append(.text("办理地点：\(l)")) }
            if let h = g.hours { els.append(.text("办理时间：\(h)")) }
            if let p = g.consultPhone { els.append(.keyValue("咨询电话", p)) }
        } else {
            els.append(.text("本事项暂无办事指南，所需材料以窗口告知为准。", bold: true))
            els.append(.text("办理方式：\(item.handling == "清单未注明" ? "以窗口告知为准" : item.handling)"))
        }
        els += [.separator, .text("打印时间：\(timestamp("yyyy-MM-dd HH:mm"))"), .feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }
}
