import Foundation
import KioskCore
import KioskProtocols

// Guide text and the printed documents (Chinese: the receipt is an official record).

extension FlowMachine {
    func levelName(_ l: ItemLevel) -> String { L(l.displayName) }

    /// Every element of the item's guide as wrapped lines (the text pages of the guide screen):
    /// the 白话版 first in large mode, labels through the string table, data as published.
    func guideLines(_ item: CatalogItem, width w: Int) -> [ScreenLine] {
        var lines: [ScreenLine] = []
        let g = catalog.guide(for: item.code)
        if let g, g.sample {
            lines += wrapped(L("[示例] {1}", g.sampleNotice ?? L("示例内容，仅供演示，以窗口告知为准")), w).map {
                ScreenLine($0.text, .alert)
            }
        }
        if let g, language == .en { lines += wrapped(L("以下办事指南为中文，窗口工作人员可以为您解释。"), w) }
        if let plain = g?.plainVersion, largeMode { lines += wrapped(L("白话版：{1}", plain), w) }
        lines += wrapped(L("事项名称：{1}", item.name), w)
        lines += wrapped(L("事项类型：{1}    办理层级：{2}", item.type, levelName(item.level)), w)
        lines += wrapped(L("办理方式：{1}", item.handling == "清单未注明" ? L("以窗口告知为准") : item.handling), w)
        guard let g else {
            lines.append(ScreenLine(""))
            lines += wrapped(L("本事项暂无办事指南，办事指南以窗口告知为准。"), w).map { ScreenLine($0.text, .bold) }
            lines += wrapped(L("您仍可在本机提交申请材料，工作人员审核后会告知您需补充的内容。"), w)
            return lines
        }
        func add(_ key: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            lines += wrapped(L(key, value), w)
        }
        add("办件类型：{1}", g.caseKind)
        if let plain = g.plainVersion, !largeMode { lines += wrapped(L("白话版：{1}", plain), w) }
        add("简介：{1}", g.shortVersion)
        add("设定依据：{1}", g.legalBasis)
        add("受理条件：{1}", g.conditions)
        if !g.materials.isEmpty {
            lines.append(ScreenLine("  " + L("申请材料：")))
            for (i, m) in g.materials.enumerated() {
                lines += wrapped("\(i + 1). \(m.name)（\(m.form) \(m.copies)份）", w, indent: "    ")
                if !m.requirements.isEmpty { lines += wrapped(L("要求：{1}", m.requirements), w, indent: "       ") }
            }
        }
        if !g.process.isEmpty {
            lines.append(ScreenLine("  " + L("办理流程：")))
            for (i, step) in g.process.enumerated() { lines += wrapped("\(i + 1). \(step)", w, indent: "    ") }
        }
        add("法定办结时限：{1}", g.legalTimeLimit)
        add("承诺时限：{1}", g.promisedTimeLimit)
        add("收费标准：{1}", g.fee)
        add("收费依据：{1}", g.feeBasis)
        add("承办机构：{1}", g.implementer)
        add("承办窗口：{1}", g.window)
        add("办理地点：{1}", g.location)
        add("办理时间：{1}", g.hours)
        if let v = g.visits { lines += wrapped(L("到现场次数：{1} 次", v), w) }
        add("结果名称：{1}", g.resultName)
        add("送达方式：{1}", g.delivery)
        add("咨询电话：{1}", g.consultPhone)
        add("投诉电话：{1}", g.complaintPhone)
        add("监督方式：{1}", g.complaint)
        for f in g.faq { lines += wrapped(L("问：{1}", f.q), w) + wrapped(L("答：{1}", f.a), w, indent: "    ") }
        if g.applicationSample != nil {
            // Only offer printing where this kiosk has a receipt printer.
            lines += wrapped(
                device(.receiptPrinter) != nil
                    ? L("申请书示范文本：按 1 打印，随一次性告知单一并打印。") : L("申请书示范文本：本机不提供打印，请到窗口索取。"), w)
        }
        if let u = g.onlineURL {
            lines += wrapped(L("网上办理：{1}", u), w)
            if guideQRRows(u, width: w) != nil { lines += wrapped(L("二维码在本指南最后一页，用手机扫码即可网上办理。"), w) }
        }
        return lines
    }

    /// Text rows the screen may give a QR code (the 80×24 body less nothing: the QR page has no
    /// page line, its title says the page).
    static let guideQRMaxRows = 16

    /// The online address as a half-block QR code, centred, or nil when it does not fit the
    /// screen (the printed notice still carries it).
    func guideQRRows(_ url: String, width w: Int) -> [ScreenLine]? {
        guard let qr = try? QRCode(text: url) else { return nil }
        for quiet in [2, 1] where QRCode.halfBlockRowCount(size: qr.size, quietZone: quiet) <= Self.guideQRMaxRows {
            let rows = qr.halfBlockRows(quietZone: quiet)
            let width = qr.size + 2 * quiet
            guard width <= w else { return nil }
            let pad = String(repeating: " ", count: (w - width) / 2)
            return rows.map { ScreenLine(pad + $0) }
        }
        return nil
    }

    /// The guide screen's pages: text pages (each ending with its page line), then one page
    /// with the QR code of the online address when the guide has one that fits.
    /// `reserve` rows of each text page are left for lines the screen adds on top (device trouble).
    func guidePages(_ item: CatalogItem, width w: Int, reserve: Int = 0) -> [GuidePage] {
        var all = guideLines(item, width: w) + complaintLines(width: w)
        if item.isConsultation {
            // Consultation (咨询): nothing to apply for, so 我要申办 is not offered; said first.
            all.insert(
                contentsOf: wrapped(L("本事项为咨询服务，无需申办，请拨打咨询电话或到窗口咨询。"), w).map {
                    ScreenLine($0.text, .bold)
                }, at: 0)
        }
        let per = max(1, guideLinesPerPage - reserve)
        let textPages = max(1, (all.count + per - 1) / per)
        var qr: [ScreenLine]? = nil
        if let u = catalog.guide(for: item.code)?.onlineURL { qr = guideQRRows(u, width: w) }
        let total = textPages + (qr == nil ? 0 : 1)
        var pages: [GuidePage] = (0..<textPages).map { p in
            var lines = Array(all[min(all.count, p * per)..<min(all.count, (p + 1) * per)])
            lines.append(ScreenLine("  " + L("第 {1}/{2} 页", p + 1, total), .dim))
            return GuidePage(lines: lines, qrCode: false)
        }
        if let qr { pages.append(GuidePage(lines: qr, qrCode: true)) }
        return pages
    }

    // MARK: Printed documents (Chinese: the receipt is an official record)

    func receiptDocument(for s: SubmissionSummary) -> ReceiptDocument {
        let id = session.identity
        // A 提交回执 until the upstream accepted the case (受理): the kiosk itself accepts nothing.
        var els: [ReceiptElement] = [
            .title(session.supplement != nil ? "补正材料提交回执" : s.upstreamAccepted ? "受理回执" : "提交回执"),
            .text(settings.stationName, align: .center),
            .separator,
            .keyValue("办件编号", s.caseNumber),
        ]
        if let sup = session.supplement { els.append(.keyValue("补正对应办件", sup.caseNumber)) }
        els += [
            .text("事项：\(s.itemName)"),
            .keyValue("申请人", id?.maskedName ?? ""),
            .keyValue("证件号码", id?.maskedIDNumber ?? ""),
            .keyValue("联系电话", Mask.phone(session.phone)),
            .keyValue("材料", "\(session.photos.compactMap { $0 }.count) 份（照片）"),
            .keyValue("提交时间", timestamp("yyyy-MM-dd HH:mm:ss", s.sealedAt)),
        ]
        if assisting, let st = staff {
            els.append(.text("帮办代办：由\(st.role.chinese) \(st.displayName)（工号 \(st.staffId)）代为办理", bold: true))
            els.append(.text("申请人已在屏幕上确认同意代办。", bold: true))
            els.append(.text("本服务免费，代办不收费。", bold: true))
        }
        els += [
            .separator,
            .qr(s.caseNumber, size: 6),
            .text(
                s.upstreamAccepted
                    ? "办理状态：\(s.upstreamState?.chinese ?? "")"
                    : "本回执证明申请已提交，是否受理以审核结果为准", align: .center),
            .text("凭办件编号到窗口或放置身份证在本机查询进度", align: .center),
            .text("请妥善保管本回执", align: .center),
        ]
        if language == .en {
            els.append(.text("Case number \(s.caseNumber): keep this receipt to check progress.", align: .center))
        }
        els += [.feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }

    /// The 一次性告知单: every element of the guide, the online address as a QR code, and the
    /// application sample text (申请书示范文本).
    func noticeDocument(for item: CatalogItem) -> ReceiptDocument {
        var els: [ReceiptElement] = [
            .title("一次性告知单"),
            .text(settings.stationName, align: .center),
            .separator,
            .text("事项名称：\(item.name)"),
            .keyValue("事项编码", item.code),
            .keyValue("事项类型", item.type),
        ]
        if let g = catalog.guide(for: item.code) {
            func text(_ label: String, _ value: String?) {
                if let value, !value.isEmpty { els.append(.text("\(label)：\(value)")) }
            }
            if g.sample { els.append(.text("【示例】\(g.sampleNotice ?? "示例内容，以窗口告知为准")", bold: true)) }
            if let k = g.caseKind { els.append(.keyValue("办件类型", k)) }
            text("白话版", g.plainVersion)
            text("设定依据", g.legalBasis)
            text("受理条件", g.conditions)
            els.append(.text("申请材料：", bold: true))
            for (i, m) in g.materials.enumerated() {
                els.append(.text("\(i + 1). \(m.name)（\(m.form)，\(m.copies)份）"))
                if !m.requirements.isEmpty { els.append(.text("   要求：\(m.requirements)")) }
            }
            if !g.process.isEmpty {
                els.append(.text("办理流程：", bold: true))
                for (i, step) in g.process.enumerated() { els.append(.text("\(i + 1). \(step)")) }
            }
            text("法定办结时限", g.legalTimeLimit)
            text("承诺办结时限", g.promisedTimeLimit)
            text("收费标准", g.fee)
            text("收费依据", g.feeBasis)
            text("承办机构", g.implementer)
            text("承办窗口", g.window)
            text("办理地点", g.location)
            text("办理时间", g.hours)
            if let v = g.visits { els.append(.keyValue("到现场次数", "\(v) 次")) }
            text("结果名称", g.resultName)
            text("送达方式", g.delivery)
            text("咨询电话", g.consultPhone)
            text("投诉电话", g.complaintPhone)
            text("监督方式", g.complaint)
            if let u = g.onlineURL {
                els.append(.text("网上办理地址：\(u)"))
                els.append(.qr(u, size: 5))
                els.append(.text("手机扫码网上办理", align: .center))
            }
            if let sample = g.applicationSample {
                els.append(.separator)
                els.append(.text("申请书示范文本", bold: true))
                for line in sample.split(separator: "\n", omittingEmptySubsequences: false) {
                    els.append(.text(String(line)))
                }
            }
        } else {
            els.append(.text("本事项暂无办事指南，所需材料以窗口告知为准。", bold: true))
            els.append(.text("办理方式：\(item.handling == "清单未注明" ? "以窗口告知为准" : item.handling)"))
        }
        els += [.separator, .text("打印时间：\(timestamp("yyyy-MM-dd HH:mm"))"), .feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }
}
