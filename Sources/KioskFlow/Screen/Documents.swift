import Foundation
import KioskCore
import KioskProtocols

// Guide text and the printed documents (Chinese: the receipt is an official record).

extension FlowMachine {
    func levelName(_ l: ItemLevel) -> String { L(l.displayName) }

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
            lines += wrapped(L("[示例] {1}", g.sampleNotice ?? L("示例内容，仅供演示，以窗口告知为准")), w).map {
                ScreenLine($0.text, .alert)
            }
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
