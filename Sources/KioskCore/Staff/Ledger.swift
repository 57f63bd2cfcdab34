import Foundation
import GRDB
import KioskProtocols

// The ledger (台账): what the kiosk did in a day or a month, computed from the outbox database
// alone — submissions by item and state, assisted submissions, evaluations by level, certificates
// printed and collected, and device downtime. No personal data: counts, item names, staff ids.

/// A day or a month in the station's time zone.
public struct LedgerPeriod: Sendable, Equatable {
    public var label: String
    public var start: Date
    public var end: Date

    public init(label: String, start: Date, end: Date) {
        self.label = label
        self.start = start
        self.end = end
    }

    /// "YYYY-MM" (any year from 1970 to 9999).
    public static func month(_ s: String, clock: StationClock) throws -> LedgerPeriod {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 2, p[0].count == 4, p[1].count == 2, let y = Int(p[0]), let m = Int(p[1]),
            (1...12).contains(m), y >= 1970
        else {
            throw StaffError("month \(s) is not YYYY-MM (for example 2026-11)")
        }
        let c = clock.calendar
        guard let start = c.date(from: DateComponents(year: y, month: m, day: 1)),
            let end = c.date(byAdding: .month, value: 1, to: start)
        else {
            throw StaffError("\(s) is not a month the calendar can represent")
        }
        return LedgerPeriod(label: s, start: start, end: end)
    }

    /// "YYYY-MM-DD" (any year from 1970 to 9999).
    public static func day(_ s: String, clock: StationClock) throws -> LedgerPeriod {
        let p = s.split(separator: "-", omittingEmptySubsequences: false)
        guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2, let y = Int(p[0]), let m = Int(p[1]),
            let d = Int(p[2]),
            y >= 1970, (1...12).contains(m), (1...31).contains(d)
        else {
            throw StaffError("day \(s) is not YYYY-MM-DD (for example 2026-11-05)")
        }
        let c = clock.calendar
        guard let start = c.date(from: DateComponents(year: y, month: m, day: d)), c.component(.day, from: start) == d,
            let end = c.date(byAdding: .day, value: 1, to: start)
        else {
            throw StaffError("\(s) is not a date")
        }
        return LedgerPeriod(label: s, start: start, end: end)
    }

    /// The day or month containing `date` in the station's time zone. Never fails: built from
    /// the calendar's own interval, not by parsing a label (a clock reset to 1970 is a valid date).
    public static func containing(_ date: Date, month: Bool, clock: StationClock) -> LedgerPeriod {
        let c = clock.calendar
        let d = c.dateComponents([.year, .month, .day], from: date)
        let y = d.year ?? 1970
        let m = d.month ?? 1
        let day = d.day ?? 1
        let label = month ? String(format: "%04d-%02d", y, m) : String(format: "%04d-%02d-%02d", y, m, day)
        if let interval = c.dateInterval(of: month ? .month : .day, for: date) {
            return LedgerPeriod(label: label, start: interval.start, end: interval.end)
        }
        // Only for dates the calendar cannot place: a day-long period starting at `date`.
        return LedgerPeriod(label: label, start: date, end: date.addingTimeInterval(month ? 31 * 86_400 : 86_400))
    }
}

public struct Ledger: Sendable, Equatable, Codable {
    public struct ItemRow: Sendable, Equatable, Codable {
        public var itemCode: String
        public var itemName: String
        /// sealed | quarantined | uploaded | received | inReview | needMaterials | done | certificateReady | rejected
        public var state: String
        public var count: Int
    }
    public struct DeviceDowntime: Sendable, Equatable, Codable {
        public var device: String
        public var seconds: Int
        /// Times it went from usable to not usable in the period.
        public var outages: Int
    }

    public var period: String
    public var stationId: String
    public var submissions: [ItemRow]
    public var submissionsTotal: Int
    public var assisted: Int
    /// Level 5 (非常满意) … 1 (非常不满意) → count.
    public var evaluations: [Int: Int]
    public var certificatesReady: Int
    public var certificatesPrinted: Int
    public var certificateReprints: Int
    public var certificatesCollected: Int
    public var certificatesSelfPickup: Int
    /// Printed and not collected at the end of the period.
    public var certificatesWaiting: Int
    public var downtime: [DeviceDowntime]
    public var outOfServiceSeconds: Int

    public static func stateLabel(_ s: String) -> String {
        switch s {
        case "sealed": return "待上传"
        case "quarantined": return "上传受阻"
        case "uploaded": return "已上传"
        case "received": return "已接收"
        case "inReview": return "审核中"
        case "accepted": return "已受理"
        case "needMaterials": return "需补正"
        case "done": return "已办结"
        case "certificateReady": return "证照可领取"
        case "rejected": return "不予受理"
        default: return s
        }
    }

    public static let levelNames = [5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"]
    public static let deviceNames = [
        "idCardReader": "身份证阅读器", "documentCamera": "高拍仪", "receiptPrinter": "回执打印机", "a4Printer": "A4打印机",
    ]

    static func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// One table: section, key, name, detail, value. `bom` prefixes a UTF-8 BOM for spreadsheet programs.
    public func csv(bom: Bool = false) -> String {
        var rows: [[String]] = [["section", "key", "name", "detail", "value"]]
        rows.append(["period", period, stationId, "", ""])
        for r in submissions {
            rows.append([
                "submissions", r.itemCode, r.itemName, Self.stateLabel(r.state) + " (" + r.state + ")", String(r.count),
            ])
        }
        rows.append(["submissions_total", "", "申请合计", "", String(submissionsTotal)])
        rows.append(["assisted", "", "帮办代办", "", String(assisted)])
        for level in [5, 4, 3, 2, 1] {
            rows.append([
                "evaluations", String(level), Self.levelNames[level] ?? "", "", String(evaluations[level] ?? 0),
            ])
        }
        rows.append(["certificates", "ready", "证照到达", "", String(certificatesReady)])
        rows.append(["certificates", "printed", "证照打印", "", String(certificatesPrinted)])
        rows.append(["certificates", "reprinted", "补打", "", String(certificateReprints)])
        rows.append(["certificates", "collected", "已领取", "", String(certificatesCollected)])
        rows.append(["certificates", "self_pickup", "其中自助取件", "", String(certificatesSelfPickup)])
        rows.append(["certificates", "waiting", "待领取（期末）", "", String(certificatesWaiting)])
        for d in downtime {
            rows.append([
                "downtime_seconds", d.device, Self.deviceNames[d.device] ?? d.device, "outages \(d.outages)",
                String(d.seconds),
            ])
        }
        rows.append(["out_of_service_seconds", "", "暂停服务", "", String(outOfServiceSeconds)])
        return (bom ? "\u{FEFF}" : "")
            + rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func duration(_ s: Int) -> String {
        s >= 3600 ? String(format: "%d小时%02d分", s / 3600, s / 60 % 60) : "\(s / 60)分\(s % 60)秒"
    }

    /// Text lines for the A4 page (and `kioskctl ledger` without --csv).
    public func lines(stationName: String) -> [String] {
        var out = ["政务服务自助终端工作台账  \(period)", "\(stationName)（\(stationId)）", ""]
        out.append("一、申请提交：合计 \(submissionsTotal) 件，其中帮办代办 \(assisted) 件")
        let byItem = Dictionary(grouping: submissions, by: \.itemCode)
        for code in byItem.keys.sorted() {
            let rows = byItem[code]!
            let parts = rows.sorted { $0.state < $1.state }.map { "\(Self.stateLabel($0.state)) \($0.count)" }.joined(
                separator: "，")
            out.append("  \(rows[0].itemName)（\(code)）：\(parts)")
        }
        if submissions.isEmpty { out.append("  （本期无申请）") }
        out.append("")
        let total = evaluations.values.reduce(0, +)
        out.append("二、服务评价（好差评）：合计 \(total) 条")
        out.append(
            "  " + [5, 4, 3, 2, 1].map { "\(Self.levelNames[$0]!) \(evaluations[$0] ?? 0)" }.joined(separator: "  "))
        out.append("")
        out.append(
            "三、证照出证：到达 \(certificatesReady)，打印 \(certificatesPrinted)（补打 \(certificateReprints)），领取 \(certificatesCollected)（自助取件 \(certificatesSelfPickup)），期末待领取 \(certificatesWaiting)"
        )
        out.append("")
        out.append("四、设备停机时长：")
        for d in downtime {
            out.append("  \(Self.deviceNames[d.device] ?? d.device)：\(Self.duration(d.seconds))（\(d.outages) 次）")
        }
        if downtime.isEmpty { out.append("  （无记录）") }
        out.append("  暂停服务：\(Self.duration(outOfServiceSeconds))")
        return out
    }

    /// The ledger as a receipt for the receipt printer.
    public func receipt(stationName: String, printedAt: String) -> ReceiptDocument {
        var els: [ReceiptElement] = [
            .title("工作台账 \(period)"), .text(stationName, align: .center), .separator,
            .keyValue("申请合计", "\(submissionsTotal)"), .keyValue("帮办代办", "\(assisted)"),
        ]
        let byItem = Dictionary(grouping: submissions, by: \.itemCode)
        for code in byItem.keys.sorted() {
            let rows = byItem[code]!
            els.append(.text(rows[0].itemName))
            for r in rows.sorted(by: { $0.state < $1.state }) {
                els.append(.keyValue("  " + Self.stateLabel(r.state), "\(r.count)"))
            }
        }
        els.append(.separator)
        els.append(.text("服务评价", bold: true))
        for l in [5, 4, 3, 2, 1] { els.append(.keyValue(Self.levelNames[l]!, "\(evaluations[l] ?? 0)")) }
        els.append(.separator)
        els.append(.text("证照", bold: true))
        els += [
            .keyValue("到达", "\(certificatesReady)"), .keyValue("打印", "\(certificatesPrinted)"),
            .keyValue("补打", "\(certificateReprints)"),
            .keyValue("领取", "\(certificatesCollected)"), .keyValue("自助取件", "\(certificatesSelfPickup)"),
            .keyValue("待领取", "\(certificatesWaiting)"),
        ]
        els.append(.separator)
        els.append(.text("设备停机", bold: true))
        for d in downtime { els.append(.keyValue(Self.deviceNames[d.device] ?? d.device, Self.duration(d.seconds))) }
        els.append(.keyValue("暂停服务", Self.duration(outOfServiceSeconds)))
        els += [.separator, .text("打印时间：\(printedAt)"), .feed(2), .cut(partial: true)]
        return ReceiptDocument(els)
    }
}

/// The ledger (台账) of a day or a month, computed from the outbox database alone.
public struct LedgerStore: Sendable {
    public let database: OutboxDatabase
    let stationId: String
    public init(database: OutboxDatabase, stationId: String) {
        self.database = database
        self.stationId = stationId
    }

    /// Computes the ledger of `period` from the database. Downtime counts only time that has passed.
    public func ledger(_ period: LedgerPeriod) throws -> Ledger {
        let s = period.start.timeIntervalSince1970
        let e = min(period.end.timeIntervalSince1970, max(s, database.clock.now.timeIntervalSince1970))
        let endT = period.end.timeIntervalSince1970
        let station = stationId
        return try database.pool.read { db in
            var items: [Ledger.ItemRow] = []
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT item_code, item_name, CASE WHEN state = 'uploaded' THEN COALESCE(upstream_state, 'uploaded') ELSE state END AS st,
                      COUNT(*) AS n FROM submission WHERE sealed_at >= ? AND sealed_at < ? GROUP BY item_code, st ORDER BY item_code, st
                    """, arguments: [s, endT])
            {
                items.append(
                    Ledger.ItemRow(itemCode: r["item_code"], itemName: r["item_name"], state: r["st"], count: r["n"]))
            }
            let assisted =
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT COUNT(*) FROM submission WHERE sealed_at >= ? AND sealed_at < ? AND assisted_by IS NOT NULL",
                    arguments: [s, endT]) ?? 0
            var evals: [Int: Int] = [:]
            for r in try Row.fetchAll(
                db,
                sql:
                    "SELECT level, COUNT(*) AS n FROM evaluation WHERE created_at >= ? AND created_at < ? GROUP BY level",
                arguments: [s, endT])
            {
                evals[r["level"]] = r["n"]
            }
            func count(_ sql: String, _ args: StatementArguments) throws -> Int {
                try Int.fetchOne(db, sql: sql, arguments: args) ?? 0
            }
            let ready = try count("SELECT COUNT(*) FROM certificate WHERE ready_at >= ? AND ready_at < ?", [s, endT])
            // Prints and reprints come from the audit trail: a certificate printed twice in a month counts once, plus one reprint.
            let printed = try count(
                "SELECT COUNT(*) FROM audit WHERE action = 'certificate.printed' AND at >= ? AND at < ?", [s, endT])
            let reprints = try count(
                "SELECT COUNT(*) FROM audit WHERE action = 'certificate.reprinted' AND at >= ? AND at < ?", [s, endT])
            let collected = try count(
                "SELECT COUNT(*) FROM certificate WHERE collected_at >= ? AND collected_at < ?", [s, endT])
            let selfPickup = try count(
                "SELECT COUNT(*) FROM certificate WHERE collected_at >= ? AND collected_at < ? AND collected_by = 'resident'",
                [s, endT])
            let waiting = try count(
                """
                SELECT COUNT(*) FROM certificate WHERE first_printed_at < ? AND (collected_at IS NULL OR collected_at >= ?)
                """, [endT, endT])

            // Downtime: walk each device's state changes; time spent not usable inside [s, e).
            var downtime: [Ledger.DeviceDowntime] = []
            let kinds = try String.fetchAll(db, sql: "SELECT DISTINCT kind FROM device_event ORDER BY kind")
            for k in kinds {
                var usable = true
                if let before = try Int.fetchOne(
                    db,
                    sql: "SELECT usable FROM device_event WHERE kind = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1",
                    arguments: [k, s])
                {
                    usable = before != 0
                }
                var t = s
                var down = 0.0
                var outages = 0
                for r in try Row.fetchAll(
                    db,
                    sql: "SELECT usable, at FROM device_event WHERE kind = ? AND at >= ? AND at < ? ORDER BY at, id",
                    arguments: [k, s, e])
                {
                    let at: Double = r["at"]
                    let u = (r["usable"] as Int) != 0
                    if !usable { down += at - t }
                    if usable && !u { outages += 1 }
                    usable = u
                    t = at
                }
                if !usable { down += max(0, e - t) }
                downtime.append(Ledger.DeviceDowntime(device: k, seconds: Int(down.rounded()), outages: outages))
            }
            // Out of service: from the audit trail's suspended / resumed pairs.
            var oos = 0.0
            var suspendedAt: Double? = nil
            if let last = try String.fetchOne(
                db,
                sql: """
                    SELECT action FROM audit WHERE action IN ('service.suspended', 'service.resumed') AND at < ? ORDER BY id DESC LIMIT 1
                    """, arguments: [s]), last == "service.suspended"
            {
                suspendedAt = s
            }
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT action, at FROM audit WHERE action IN ('service.suspended', 'service.resumed') AND at >= ? AND at < ? ORDER BY id
                    """, arguments: [s, e])
            {
                let at: Double = r["at"]
                if (r["action"] as String) == "service.suspended" {
                    if suspendedAt == nil { suspendedAt = at }
                } else if let from = suspendedAt {
                    oos += at - from
                    suspendedAt = nil
                }
            }
            if let from = suspendedAt { oos += max(0, e - from) }

            return Ledger(
                period: period.label, stationId: station, submissions: items,
                submissionsTotal: items.reduce(0) { $0 + $1.count },
                assisted: assisted, evaluations: evals, certificatesReady: ready, certificatesPrinted: printed,
                certificateReprints: reprints, certificatesCollected: collected, certificatesSelfPickup: selfPickup,
                certificatesWaiting: waiting, downtime: downtime, outOfServiceSeconds: Int(oos.rounded()))
        }
    }
}
