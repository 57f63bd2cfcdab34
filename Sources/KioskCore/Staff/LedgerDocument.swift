import Foundation
import KioskProtocols

/// The A4 ledger as a document staff can file: a title block (station, period, printed at, by
/// whom), each section a ruled table with its totals, a signature and stamp line, page numbers.
public enum LedgerDocument {
    public static func document(
        _ l: Ledger, after: AfterServiceLedger?, stationName: String, printedAt: String, printedBy: String,
        timeZone: TimeZone = .current
    ) -> RuledDocument {
        typealias C = RuledDocument.Column
        var sections: [RuledDocument.Section] = []
        let byItem = Dictionary(grouping: l.submissions, by: \.itemCode)
        var rows: [[String]] = []
        for code in byItem.keys.sorted() {
            for r in byItem[code]!.sorted(by: { $0.state < $1.state }) {
                rows.append([code, r.itemName, Ledger.stateLabel(r.state), "\(r.count)"])
            }
        }
        sections.append(
            .init(
                title: "一、申请提交（按事项、状态）",
                columns: [
                    C("事项编码", weight: 1.3), C("事项名称", weight: 4), C("状态", weight: 1.6),
                    C("件数", weight: 0.8, alignRight: true),
                ],
                rows: rows, total: ["合计", "其中帮办代办 \(l.assisted) 件", "", "\(l.submissionsTotal)"], empty: "本期无申请"))
        let evalTotal = l.evaluations.values.reduce(0, +)
        sections.append(
            .init(
                title: "二、服务评价（好差评）",
                columns: [
                    C("评价", weight: 2), C("条数", weight: 1, alignRight: true), C("占比", weight: 1, alignRight: true),
                ],
                rows: [5, 4, 3, 2, 1].map { lv in
                    let n = l.evaluations[lv] ?? 0
                    return [
                        Ledger.levelNames[lv]!, "\(n)",
                        evalTotal > 0 ? String(format: "%.1f%%", Double(n) * 100 / Double(evalTotal)) : "—",
                    ]
                }, total: ["合计", "\(evalTotal)", evalTotal > 0 ? "100%" : "—"]))
        sections.append(
            .init(
                title: "三、证照出证",
                columns: [C("项目", weight: 3), C("份数", weight: 1, alignRight: true)],
                rows: [
                    ["到达本机", "\(l.certificatesReady)"], ["打印", "\(l.certificatesPrinted)"],
                    ["其中补打", "\(l.certificateReprints)"], ["领取", "\(l.certificatesCollected)"],
                    ["其中自助取件", "\(l.certificatesSelfPickup)"],
                ], total: ["期末待领取", "\(l.certificatesWaiting)"]))
        let downSeconds = l.downtime.reduce(0) { $0 + $1.seconds }
        sections.append(
            .init(
                title: "四、设备停机与暂停服务",
                columns: [
                    C("设备", weight: 2), C("停机时长", weight: 1.5, alignRight: true), C("次数", weight: 1, alignRight: true),
                ],
                rows: l.downtime.map {
                    [Ledger.deviceNames[$0.device] ?? $0.device, Ledger.duration($0.seconds), "\($0.outages)"]
                }
                    + [["暂停服务", Ledger.duration(l.outOfServiceSeconds), ""]],
                total: ["设备停机合计", Ledger.duration(downSeconds), "\(l.downtime.reduce(0) { $0 + $1.outages })"]))
        if let a = after {
            let rate = a.satisfactionRate.map { String(format: "%.1f%%", $0 * 100) } ?? "—"
            sections.append(
                .init(
                    title: "五、满意度与差评整改",
                    columns: [C("项目", weight: 3), C("数量", weight: 1.2, alignRight: true)],
                    rows: [["满意率（满意、非常满意）", rate]]
                        + ["apply", "progress", "pickup", "guide"].map {
                            ["评价：\(AfterServiceLedger.serviceNames[$0]!)", "\(a.evaluationsByService[$0] ?? 0)"]
                        }
                        + [
                            ["本期差评", "\(a.poorRatings)"], ["其中已核实", "\(a.poorVerified)"],
                            ["其中已整改", "\(a.poorRectified)"], ["其中已回访", "\(a.poorRevisited)"],
                        ], total: ["未闭环差评（未回访，全部期间）", "\(a.openPoorRatings)"]))
            sections.append(
                .init(
                    title: "六、办理时限与补正",
                    columns: [C("项目", weight: 3), C("件数", weight: 1.2, alignRight: true)],
                    rows: [["本期需补正", "\(a.needMaterials)"], ["本机提交补正材料", "\(a.supplements)"]],
                    total: ["逾期未办结（截至打印时）", "\(a.overdue)"]))
            sections.append(
                .init(
                    title: "七、帮办代办与求助",
                    columns: [C("项目", weight: 3), C("数量", weight: 1.2, alignRight: true)],
                    rows: a.assistedByAgent.keys.sorted().map { ["帮办代办：工号 \($0)", "\(a.assistedByAgent[$0]!)"] }
                        + [
                            ["代办同意确认", "\(a.assistConsents)"], ["居民求助", "\(a.helpCalls)"],
                            ["其中平台已接收", "\(a.helpDelivered)"], ["工作人员处理", "\(a.helpAnswered)"],
                        ], total: ["帮办代办合计", "\(a.assistedByAgent.values.reduce(0, +))"]))
            let f = AfterServiceLedger.minuteFormatter(timeZone)
            sections.append(
                .init(
                    title: "八、证照领取登记",
                    columns: [
                        C("办件编号", weight: 2), C("领取时间", weight: 1.3), C("领取人", weight: 2.4), C("经办", weight: 1),
                    ],
                    rows: a.collections.map {
                        [
                            $0.caseNumber, f.string(from: $0.collectedAt), AfterServiceLedger.collectorLabel($0),
                            $0.selfPickup ? "自助" : $0.handedOverBy,
                        ]
                    }, total: ["合计 \(a.collections.count) 份", "", a.collectionSummary, ""], empty: "本期无领取"))
        }
        return RuledDocument(
            title: "政务服务自助终端工作台账",
            fields: [
                ("服务点", "\(stationName)（\(l.stationId)）"), ("统计期间", l.period), ("打印时间", printedAt),
                ("打印人", printedBy),
            ], sections: sections,
            signature: "经办人（签字）：____________    负责人（签字）：____________    （单位盖章）")
    }

    /// The ledger as A4 PDF with embedded fonts (a clear error when the font packages are missing).
    public static func pdf(
        _ l: Ledger, after: AfterServiceLedger?, stationName: String, printedAt: String, printedBy: String,
        timeZone: TimeZone = .current
    ) throws -> Data {
        RuledPDF.render(
            document(
                l, after: after, stationName: stationName, printedAt: printedAt, printedBy: printedBy,
                timeZone: timeZone),
            fonts: try RuledPDF.defaultFonts())
    }
}
