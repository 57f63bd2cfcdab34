import Foundation
import KioskCore
import KioskDevices
import KioskProtocols

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

    func guidePageCount(_ item: CatalogItem, width: Int) -> Int {
        max(1, (guideLines(item, width: width).count + Self.guideLinesPerPage - 1) / Self.guideLinesPerPage)
    }

    var deviceLine: String {
        let kinds: [DeviceKind] = [.idCardReader, .documentCamera, .receiptPrinter]
        let parts = kinds.map { k -> String in
            guard let d = device(k) else { return "\(k.chinese) 未连接" }
            var s = "\(k.chinese) \(d.state.chinese)"
            if k == .receiptPrinter, d.paper == .out { s = "\(k.chinese) 缺纸" }
            if k == .receiptPrinter, d.paper == .low, d.state == .online { s += "(纸将尽)" }
            return s
        }
        let ready = kinds.allSatisfy { $0 == .receiptPrinter ? receiptPrinterReady : usable($0) }
        return (ready ? "设备就绪：" : "设备状态：") + parts.joined(separator: "  ")
    }

    /// The whole screen for the current state, laid out by display width.
    public func frame(width: Int, height: Int) -> Frame {
        let w = max(40, width)
        var body = content(width: w)
        var rows: [ScreenLine] = []
        let clock = timestamp("yyyy-MM-dd HH:mm:ss")
        let name = DisplayWidth.truncate(settings.stationName, columns: w - DisplayWidth.of(clock) - 2)
        rows.append(ScreenLine(DisplayWidth.pad(name, to: w - DisplayWidth.of(clock)) + clock, .inverse))
        rows.append(ScreenLine(deviceLine, .dim))
        rows.append(ScreenLine(String(repeating: "-", count: w)))
        rows.append(ScreenLine(body.title, .bold))
        rows.append(ScreenLine(""))
        let bodyRows = max(1, height - rows.count - 3)
        if body.lines.count > bodyRows { body.lines = Array(body.lines.prefix(bodyRows)) }
        rows += body.lines
        while rows.count < height - 3 { rows.append(ScreenLine("")) }
        rows.append(ScreenLine(String(repeating: "-", count: w)))
        rows.append(ScreenLine(body.hints))
        if let c = countdown {
            rows.append(ScreenLine("\(c) 秒后将返回首页并清除您的信息，按任意键继续办理", .alert))
        } else if let m = message {
            rows.append(ScreenLine(m, .alert))
        } else {
            rows.append(ScreenLine(""))
        }
        return Frame(rows: Array(rows.prefix(height)))
    }

    func wrapped(_ text: String, _ width: Int, indent: String = "  ") -> [ScreenLine] {
        DisplayWidth.wrap(text, columns: width - DisplayWidth.of(indent)).map { ScreenLine(indent + $0) }
    }

    func content(width w: Int) -> Body {
        switch route {
        case .home:
            if let notice = outOfService {
                var lines = [ScreenLine("  暂停服务", .alert), ScreenLine("")]
                lines += wrapped(notice, w)
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  已提交的申请不受影响。需要帮助请到窗口找工作人员。"))
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  工作人员请按 * 登录", .dim))
                return Body(title: "暂停服务", lines: lines, hints: "")
            }
            var lines = [
                ScreenLine("  欢迎使用24小时政务自助服务"),
                ScreenLine(""),
                ScreenLine("  1  镇级事项：查看办事指南、申请办理"),
                ScreenLine("  2  村级事项：查看办事指南、申请办理"),
                ScreenLine("  3  进度查询：放置身份证，查看本人申请"),
                ScreenLine("  4  证照领取：放置身份证，打印已办好的证照"),
                ScreenLine(""),
                ScreenLine("  需要帮助请联系窗口工作人员。  工作人员请按 *", .dim),
            ]
            if settings.simulatedCards != nil { lines.append(ScreenLine("  [演示模式：设备为模拟设备]", .dim)) }
            return Body(title: "首页  请按数字键选择", lines: lines, hints: "按数字键选择")

        case .categories(let level):
            let cats = catalog.categories(level: level)
            var lines: [ScreenLine] = []
            for (i, c) in cats.enumerated() {
                lines.append(ScreenLine("  \(i + 1)  \(c)（\(catalog.items(level: level, category: c).count)项）"))
            }
            return Body(title: "\(level.displayName)：请选择类别", lines: lines, hints: "数字键选择   0 返回首页")

        case .items(let level, let category, let page):
            let items = catalog.items(level: level, category: category)
            let pages = max(1, (items.count + settings.pageSize - 1) / settings.pageSize)
            let slice = Array(items.dropFirst(page * settings.pageSize).prefix(settings.pageSize))
            var lines: [ScreenLine] = []
            for (i, item) in slice.enumerated() {
                let head = "  \(i + 1)  "
                let wrappedName = DisplayWidth.wrap(item.name, columns: w - DisplayWidth.of(head))
                for (j, part) in wrappedName.prefix(2).enumerated() {
                    lines.append(ScreenLine((j == 0 ? head : String(repeating: " ", count: DisplayWidth.of(head))) + part))
                }
            }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  第 \(page + 1)/\(pages) 页，共 \(items.count) 项", .dim))
            return Body(title: "\(level.displayName) > \(category)", lines: lines,
                        hints: "1-\(slice.count) 选择事项   7 上一页   9 下一页   0 返回")

        case .guide(let code, let page):
            guard let item = catalog.item(code: code) else { return Body(title: "事项不存在", hints: "0 返回") }
            let all = guideLines(item, width: w)
            let per = Self.guideLinesPerPage
            let pages = guidePageCount(item, width: w)
            let p = min(page, pages - 1)
            var lines = Array(all.dropFirst(p * per).prefix(per))
            lines.append(ScreenLine("  第 \(p + 1)/\(pages) 页", .dim))
            return Body(title: DisplayWidth.truncate("办事指南：\(item.name)", columns: w), lines: lines,
                        hints: "1 打印一次性告知单  2 我要申办  7/9 翻页  0 返回")

        case .placeCard(let purpose):
            let purposeLine: String = {
                switch purpose {
                case .apply: return "  申办事项：\(session.item?.name ?? "")"
                case .progress: return "  读取证件后将显示您本人的申请及进度。"
                case .pickup: return "  读取证件后将显示您本人已办好的证照。"
                case .staffSignIn: return "  工作人员登录：请放置工作人员本人的身份证。"
                }
            }()
            var lines = [
                ScreenLine("  请将身份证（或居住证、外国人永久居留身份证）"),
                ScreenLine("  平放在下方的读卡区域，不要移动。"),
                ScreenLine(""),
                ScreenLine(purposeLine),
            ]
            if assisting, purpose == .apply, let s = staff {
                lines.append(ScreenLine("  帮办代办：\(s.displayName)（\(s.staffId)）代申请人办理，请放置申请人的证件", .bold))
            }
            if let cards = settings.simulatedCards {
                lines.append(ScreenLine(""))
                lines.append(ScreenLine("  [演示] 按字母键放置模拟证件：", .dim))
                for (i, c) in cards.enumerated() {
                    let letter = Character(Unicode.Scalar(UInt8(65 + i)))
                    lines.append(ScreenLine("    \(letter)  \(c)", .dim))
                }
            }
            return Body(title: "请放置身份证", lines: lines, hints: "0 取消并返回首页")

        case .identity:
            guard let id = session.identity else { return Body(title: "", hints: "") }
            let typeName: String = {
                switch id.cardType {
                case .resident: return "居民身份证"
                case .hmt: return "港澳台居民居住证"
                case .foreign2017, .foreign2023: return "外国人永久居留身份证"
                }
            }()
            return Body(title: "请核对您的身份信息", lines: [
                ScreenLine("  证件类型：\(typeName)"),
                ScreenLine("  姓    名：\(id.maskedName)"),
                ScreenLine("  证件号码：\(id.maskedIDNumber)"),
                ScreenLine(""),
                ScreenLine("  申办事项：\(DisplayWidth.truncate(session.item?.name ?? "", columns: w - 12))"),
                ScreenLine(""),
                ScreenLine("  信息已部分隐藏以保护您的隐私。请取回您的证件。"),
            ], hints: "Enter 确认，下一步拍摄材料   0 取消")

        case .photo(let i):
            let names = materialNames
            let name = i < names.count ? names[i] : ""
            let taken = i < session.photos.count && session.photos[i] != nil
            var lines = [
                ScreenLine("  第 \(i + 1)/\(names.count) 份：\(name)"),
                ScreenLine(""),
                ScreenLine("  请将材料平放在高拍仪下方，正面朝上。"),
            ]
            if let item = session.item, let g = catalog.guide(for: item.code),
               let m = g.materialsToPhotograph.first(where: { $0.name == name }) {
                lines += wrapped("要求：\(m.requirements)", w)
            }
            lines.append(ScreenLine(""))
            lines.append(ScreenLine(taken ? "  状态：已拍摄" : "  状态：未拍摄"))
            let optional = i >= requiredPhotos
            let hint = taken ? "Enter 下一步   1 重拍   0 上一步" : (optional ? "Enter 拍照   9 跳过   0 上一步" : "Enter 拍照   0 上一步")
            return Body(title: "拍摄申请材料", lines: lines, hints: hint)

        case .phone:
            let shown = session.phone + String(repeating: "_", count: max(0, 11 - session.phone.count))
            return Body(title: "请输入手机号码", lines: [
                ScreenLine("  用于接收办理进度通知。"),
                ScreenLine(""),
                ScreenLine("  手机号码：\(shown)", .bold),
                ScreenLine(""),
                ScreenLine("  用数字键输入，输错请按退格键删除。"),
            ], hints: "数字键输入   退格 删除   Enter 确认   Esc 上一步")

        case .review:
            guard let id = session.identity, let item = session.item else { return Body(title: "", hints: "") }
            var lines = [ScreenLine("  申办事项：")]
            lines += wrapped(item.name, w, indent: "    ")
            lines += [
                ScreenLine("  申 请 人：\(id.maskedName)"),
                ScreenLine("  证件号码：\(id.maskedIDNumber)"),
                ScreenLine("  手机号码：\(Mask.phone(session.phone))"),
                ScreenLine("  材料照片：\(session.photos.compactMap { $0 }.count) 张"),
                ScreenLine(""),
                ScreenLine("  确认无误请按 Enter 提交。提交后将打印受理回执。"),
            ]
            return Body(title: "请确认申请信息", lines: lines, hints: "Enter 提交   0 取消（不保存任何信息）")

        case .submitting:
            return Body(title: "正在提交，请稍候……", lines: [ScreenLine("  正在安全保存您的申请，请不要离开。")], hints: "")

        case .printing:
            return Body(title: "申请已提交，正在打印回执……", lines: [
                ScreenLine("  办件编号：\(session.sealed?.caseNumber ?? "")", .bold),
                ScreenLine(""),
                ScreenLine("  正在打印受理回执，请稍候。"),
            ], hints: "")

        case .done(let ok, let problem):
            let c = session.sealed?.caseNumber ?? ""
            var lines = [
                ScreenLine("  您的申请已提交成功。", .bold),
                ScreenLine("  办件编号：\(c)", .bold),
                ScreenLine(""),
            ]
            if ok {
                lines.append(ScreenLine("  受理回执已打印，请取走回执并妥善保管。"))
                lines.append(ScreenLine("  放置身份证可在本机查询办理进度；凭办件编号可到窗口查询。"))
            } else {
                lines += wrapped("回执未能打印（\(problem ?? "打印机故障")）。您的申请已安全保存，不受影响，无需重新申请。", w)
                lines += wrapped("请记下上面的办件编号。补打回执：本机加纸后按 2 重新打印，或凭办件编号请窗口工作人员补打。", w)
                lines.append(ScreenLine(receiptPrinterReady ? "  打印机已就绪，现在可按 2 重新打印回执。" : "  打印机当前：\(printerProblem)。", .bold))
            }
            return Body(title: "提交成功", lines: lines,
                        hints: ok ? "Enter 评价本次服务（自愿）   0 结束并返回首页" : "2 重新打印回执   Enter 评价（自愿）   0 结束")

        case .evaluate:
            var lines = [ScreenLine("  请您对本次服务进行评价（自愿，可跳过）："), ScreenLine("")]
            for (i, l) in EvaluationLevel.allCases.enumerated() {
                lines.append(ScreenLine("  \(i + 1)  \(l.chinese)"))
            }
            return Body(title: "服务评价（好差评）", lines: lines, hints: "1-5 选择评价   0 跳过")

        case .evaluationReason(let level):
            let name = EvaluationLevel(rawValue: level)?.chinese ?? ""
            var lines = [ScreenLine("  您选择了“\(name)”。请告诉我们主要原因，帮助我们改进："), ScreenLine("")]
            for (i, r) in evaluationReasons.enumerated() { lines.append(ScreenLine("  \(i + 1)  \(r)")) }
            return Body(title: "评价原因", lines: lines, hints: "1-\(evaluationReasons.count) 选择原因   0 不填写原因")

        case .thanks:
            return Body(title: "感谢您的使用", lines: [
                ScreenLine("  感谢您使用政务自助服务。"),
                ScreenLine("  请带好您的身份证、材料原件和回执。"),
            ], hints: "按任意键返回首页")

        case .technicianPIN, .technician:
            return technicianBody(width: w)
        case .pickupList, .staffPIN, .staffMenu, .staffCertificates, .staffCertificate, .staffBatchCollect, .staffLedger, .staffService:
            return staffBody(width: w) ?? Body(title: "", hints: "")
        case .progressList:
            var lines: [ScreenLine] = []
            if let id = session.identity {
                lines.append(ScreenLine("  申请人：\(id.maskedName)   证件号码：\(id.maskedIDNumber)"))
                lines.append(ScreenLine(""))
            }
            if !session.progressLoaded {
                lines.append(ScreenLine("  正在查询……"))
            } else if session.progress.isEmpty {
                lines.append(ScreenLine("  本机没有查到您的申请记录。"))
                lines.append(ScreenLine("  在其他地点提交的申请，请到窗口或登录网上办事大厅查询。"))
            } else {
                for s in session.progress.prefix(6) {
                    lines.append(ScreenLine("  \(s.caseNumber)  \(timestamp("MM-dd HH:mm", s.sealedAt))  \(s.residentState)", .bold))
                    lines.append(ScreenLine("    " + DisplayWidth.truncate(s.itemName, columns: w - 6)))
                }
            }
            return Body(title: "进度查询", lines: lines, hints: "0 结束并返回首页")
        }
    }

    func guideLines(_ item: CatalogItem, width w: Int) -> [ScreenLine] {
        var lines: [ScreenLine] = []
        lines.append(ScreenLine("  事项类型：\(item.type)    办理层级：\(item.level.displayName)"))
        lines += wrapped("办理方式：\(item.handling == "清单未注明" ? "以窗口告知为准" : item.handling)", w)
        guard let g = catalog.guide(for: item.code) else {
            lines.append(ScreenLine(""))
            lines.append(ScreenLine("  本事项暂无办事指南，办事指南以窗口告知为准。", .bold))
            lines.append(ScreenLine("  您仍可在本机提交申请材料，工作人员审核后会告知您需补充的内容。"))
            return lines
        }
        if g.sample {
            lines.append(ScreenLine("  [示例] \(g.sampleNotice ?? "示例内容，仅供演示，以窗口告知为准")", .alert))
        }
        if let s = g.shortVersion { lines += wrapped("简介：\(s)", w) }
        if !g.materials.isEmpty {
            lines.append(ScreenLine("  申请材料："))
            for (i, m) in g.materials.enumerated() {
                lines += wrapped("\(i + 1). \(m.name)（\(m.form) \(m.copies)份）", w, indent: "    ")
            }
        }
        if let t = g.promisedTimeLimit { lines += wrapped("承诺时限：\(t)", w) }
        if let f = g.fee { lines += wrapped("收费标准：\(f)", w) }
        if let l = g.location { lines += wrapped("办理地点：\(l)", w) }
        if let h = g.hours { lines += wrapped("办理时间：\(h)", w) }
        if let p = g.consultPhone { lines += wrapped("咨询电话：\(p)", w) }
        return lines
    }

    // MARK: Printed documents

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
            .feed(2),
            .cut(partial: true),
        ]
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
