import Foundation
import GRDB
import KioskProtocols

/// The ledger's after-service part (issue 24): satisfaction and 差评 follow-up, cases past their
/// due date, 补正, help calls and assisted submissions per agent.
public struct AfterServiceLedger: Sendable, Equatable, Codable {
    /// Ratings in the period by service (apply, progress, pickup, guide).
    public var evaluationsByService: [String: Int]
    /// Share of 满意 and 非常满意 among the period's ratings (nil: no ratings).
    public var satisfactionRate: Double?
    /// 差评 (不满意, 非常不满意) in the period, and how far the township's follow-up got.
    public var poorRatings: Int
    public var poorVerified: Int
    public var poorRectified: Int
    public var poorRevisited: Int
    /// 差评 of any period not yet revisited (回访), as last reported by the upstream.
    public var openPoorRatings: Int
    /// Cases not finished and past their promised due date, at the time of the ledger.
    public var overdue: Int
    /// Cases the upstream asked 补正 for in the period, and 补正 submissions sealed here.
    public var needMaterials: Int
    public var supplements: Int
    /// Help calls in the period: made, acknowledged by the upstream, answered by staff.
    public var helpCalls: Int
    public var helpDelivered: Int
    public var helpAnswered: Int
    /// Assisted submissions (帮办代办) per staff id, with the consents recorded.
    public var assistedByAgent: [String: Int]
    public var assistConsents: Int
    /// Certificates collected in the period, each with who collected it (oldest first).
    public var collections: [Collection] = []
    /// The cases counted in `overdue`: case number, item and the due date that passed.
    public var overdueCases: [OverdueCase] = []

    /// One certificate handed over: to the applicant or a proxy (relation, masked name), by whom.
    public struct Collection: Sendable, Equatable, Codable {
        public var caseNumber: String
        public var itemCode: String
        public var collectedAt: Date
        /// `applicant` or `proxy`.
        public var collector: String
        public var relation: String?
        /// The collector's masked name from their card (nil: self pick-up, the applicant's own card).
        public var collectorMaskedName: String?
        /// `resident` (self pick-up at the kiosk) or the staff id who handed it over.
        public var handedOverBy: String
        public var selfPickup: Bool { handedOverBy == "resident" }
    }

    public struct OverdueCase: Sendable, Equatable, Codable {
        public var caseNumber: String
        public var itemCode: String
        public var due: Date
    }

    static let serviceNames = ["apply": "申办", "progress": "进度查询", "pickup": "证照领取", "guide": "办事指南"]

    /// CSV rows (section,key,name,detail,value) appended to the ledger's CSV, without a header.
    public func csv() -> String {
        var rows: [[String]] = []
        rows.append([
            "satisfaction_rate", "", "满意率（满意、非常满意）", "",
            satisfactionRate.map { String(format: "%.3f", $0) } ?? "",
        ])
        for s in ["apply", "progress", "pickup", "guide"] {
            rows.append(["evaluations_by_service", s, Self.serviceNames[s]!, "", String(evaluationsByService[s] ?? 0)])
        }
        rows.append(["poor_ratings", "", "本期差评", "", String(poorRatings)])
        rows.append(["poor_ratings", "verified", "已核实", "", String(poorVerified)])
        rows.append(["poor_ratings", "rectified", "已整改", "", String(poorRectified)])
        rows.append(["poor_ratings", "revisited", "已回访", "", String(poorRevisited)])
        rows.append(["poor_ratings_open", "", "未闭环差评（全部期间）", "", String(openPoorRatings)])
        rows.append(["overdue", "", "逾期未办结（截至统计时）", "", String(overdue)])
        rows.append(["need_materials", "", "本期需补正", "", String(needMaterials)])
        rows.append(["supplements", "", "本机补正提交", "", String(supplements)])
        rows.append(["help_calls", "", "居民求助", "", String(helpCalls)])
        rows.append(["help_calls", "delivered", "平台已接收", "", String(helpDelivered)])
        rows.append(["help_calls", "answered", "工作人员处理", "", String(helpAnswered)])
        for a in assistedByAgent.keys.sorted() {
            rows.append(["assisted_by_agent", a, "帮办代办", "", String(assistedByAgent[a]!)])
        }
        rows.append(["assist_consents", "", "代办同意确认", "", String(assistConsents)])
        for o in overdueCases {
            rows.append(["overdue_case", o.caseNumber, o.itemCode, "due " + Self.iso(o.due), ""])
        }
        for c in collections {
            rows.append([
                "collection", c.caseNumber, Self.collectorLabel(c), Self.iso(c.collectedAt), c.handedOverBy,
            ])
        }
        return rows.map { $0.map(Ledger.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func iso(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }

    /// 本人领取 / 自助取件 / 代领（relation）masked-name.
    public static func collectorLabel(_ c: Collection) -> String {
        if c.selfPickup { return "本人自助取件" }
        if c.collector == CertificateCollector.applicant.rawValue {
            return "本人领取" + (c.collectorMaskedName.map { " \($0)" } ?? "")
        }
        return "代领（\(c.relation ?? "未填关系")）" + (c.collectorMaskedName.map { " \($0)" } ?? "")
    }

    /// 本人领取 n，代领 n，自助取件 n.
    public var collectionSummary: String {
        let own = collections.filter { !$0.selfPickup && $0.collector == CertificateCollector.applicant.rawValue }.count
        let proxy = collections.filter { $0.collector == CertificateCollector.proxy.rawValue }.count
        let selfPickup = collections.filter(\.selfPickup).count
        return "本人领取 \(own)，代领 \(proxy)，自助取件 \(selfPickup)"
    }

    /// Sections five to eight of the ledger's text; `timeZone` for the dates of collections.
    public func lines(timeZone: TimeZone = .current) -> [String] {
        var out: [String] = []
        let rate = satisfactionRate.map { String(format: "%.1f%%", $0 * 100) } ?? "—"
        out.append("五、满意度与差评整改：满意率（满意、非常满意）\(rate)")
        let services = ["apply", "progress", "pickup", "guide"].map {
            "\(Self.serviceNames[$0]!) \(evaluationsByService[$0] ?? 0)"
        }
        out.append("  按服务评价：" + services.joined(separator: "  "))
        out.append("  本期差评 \(poorRatings) 条：已核实 \(poorVerified)，已整改 \(poorRectified)，已回访 \(poorRevisited)")
        out.append("  未闭环差评（未回访，全部期间）：\(openPoorRatings) 条")
        out.append("")
        out.append("六、办理时限与补正：逾期未办结 \(overdue) 件（截至统计时），本期需补正 \(needMaterials) 件，本机补正提交 \(supplements) 件")
        out.append("")
        out.append("七、求助与帮办代办：求助 \(helpCalls) 次（平台已接收 \(helpDelivered)，已处理 \(helpAnswered)）")
        let agents = assistedByAgent.keys.sorted().map { "\($0) \(assistedByAgent[$0]!) 件" }
        out.append(
            "  帮办代办按人员：" + (agents.isEmpty ? "（无）" : agents.joined(separator: "，")) + "；代办同意确认 \(assistConsents) 次")
        out.append("")
        out.append("八、证照领取登记：\(collections.count) 份（\(collectionSummary)）")
        let f = Self.minuteFormatter(timeZone)
        for c in collections {
            out.append(
                "  \(c.caseNumber)  \(f.string(from: c.collectedAt))  \(Self.collectorLabel(c))  经办 \(c.handedOverBy == "resident" ? "自助" : c.handedOverBy)"
            )
        }
        if collections.isEmpty { out.append("  （本期无领取）") }
        return out
    }
}

extension AfterServiceLedger {
    static func minuteFormatter(_ tz: TimeZone) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "MM-dd HH:mm"
        return f
    }
}

extension LedgerStore {
    /// The after-service part of the ledger for `period`; `catalog` gives the promised time limits.
    public func afterService(_ period: LedgerPeriod, catalog: Catalog?) throws -> AfterServiceLedger {
        let s = period.start.timeIntervalSince1970
        let e = period.end.timeIntervalSince1970
        let now = database.clock.now
        let tz = database.clock.timeZone
        return try database.pool.read { db in
            func count(_ sql: String, _ args: StatementArguments = []) throws -> Int {
                try Int.fetchOne(db, sql: sql, arguments: args) ?? 0
            }
            var byService: [String: Int] = [:]
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT COALESCE(es.service, 'apply') AS service, COUNT(*) AS n FROM evaluation ev
                    LEFT JOIN message m ON m.kind = 'evaluation' AND m.created_at = ev.created_at
                    LEFT JOIN evaluation_service es ON es.evaluation_id = m.id
                    WHERE ev.created_at >= ? AND ev.created_at < ? GROUP BY 1
                    """, arguments: [s, e])
            {
                byService[r["service"]] = r["n"]
            }
            let total = try count("SELECT COUNT(*) FROM evaluation WHERE created_at >= ? AND created_at < ?", [s, e])
            let good = try count(
                "SELECT COUNT(*) FROM evaluation WHERE created_at >= ? AND created_at < ? AND level >= 4", [s, e])
            let poorIds = try String.fetchAll(
                db,
                sql: """
                    SELECT m.id FROM evaluation ev JOIN message m ON m.kind = 'evaluation' AND m.created_at = ev.created_at
                    WHERE ev.created_at >= ? AND ev.created_at < ? AND ev.level <= 2
                    """, arguments: [s, e])
            let poor = try count(
                "SELECT COUNT(*) FROM evaluation WHERE created_at >= ? AND created_at < ? AND level <= 2", [s, e])
            var verified = 0
            var rectified = 0
            var revisited = 0
            for id in poorIds {
                guard
                    let f = try Row.fetchOne(
                        db, sql: "SELECT * FROM evaluation_followup WHERE evaluation_id = ?", arguments: [id])
                else { continue }
                if (f["verified_at"] as String?) != nil { verified += 1 }
                if (f["rectified_at"] as String?) != nil { rectified += 1 }
                if (f["revisited_at"] as String?) != nil { revisited += 1 }
            }
            // Open: every 差评 recorded here whose 回访 the upstream has not reported.
            let allPoor = try count("SELECT COUNT(*) FROM evaluation WHERE level <= 2")
            let closed = try count(
                """
                SELECT COUNT(*) FROM evaluation ev JOIN message m ON m.kind = 'evaluation' AND m.created_at = ev.created_at
                JOIN evaluation_followup f ON f.evaluation_id = m.id WHERE ev.level <= 2 AND f.revisited_at IS NOT NULL
                """)
            // Overdue: unfinished cases whose promised working days since acceptance have passed.
            var overdueCases: [AfterServiceLedger.OverdueCase] = []
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id, s.case_number, s.item_code, MIN(c.at) AS accepted FROM submission s
                    JOIN case_event c ON c.submission_id = s.id AND c.state IN ('accepted', 'inReview', 'needMaterials')
                    WHERE s.state = 'uploaded' AND COALESCE(s.upstream_state, '') NOT IN ('done', 'certificateReady', 'rejected')
                    GROUP BY s.id
                    """)
            {
                let limit = catalog?.guide(for: r["item_code"])?.promisedTimeLimit
                if let due = CaseDeadline.due(
                    accepted: Date(timeIntervalSince1970: r["accepted"]), limit: limit, timeZone: tz,
                    calendar: catalog?.workingCalendar), now > due
                {
                    overdueCases.append(.init(caseNumber: r["case_number"], itemCode: r["item_code"], due: due))
                }
            }
            overdueCases.sort { $0.due < $1.due }
            let collections = try Row.fetchAll(
                db,
                sql: """
                    SELECT s.case_number, s.item_code, c.collected_at, c.collected_by, c.collector,
                      h.relation, h.collector_name
                    FROM certificate c JOIN submission s ON s.id = c.submission_id
                    LEFT JOIN certificate_handover h ON h.submission_id = c.submission_id
                    WHERE c.collected_at >= ? AND c.collected_at < ? ORDER BY c.collected_at
                    """, arguments: [s, e]
            ).map { r in
                let by = CertificateActor(rawValue: r["collected_by"] as String? ?? "")
                let handedOverBy: String
                switch by {
                case .staff(let id): handedOverBy = id
                case .resident: handedOverBy = "resident"
                case nil: handedOverBy = ""
                }
                return AfterServiceLedger.Collection(
                    caseNumber: r["case_number"], itemCode: r["item_code"],
                    collectedAt: Date(timeIntervalSince1970: r["collected_at"]),
                    collector: r["collector"] as String? ?? "", relation: r["relation"],
                    collectorMaskedName: r["collector_name"], handedOverBy: handedOverBy)
            }
            let needMaterials = try count(
                "SELECT COUNT(DISTINCT submission_id) FROM case_event WHERE state = 'needMaterials' AND at >= ? AND at < ?",
                [s, e])
            let supplements = try count(
                "SELECT COUNT(*) FROM supplement su JOIN submission s ON s.id = su.submission_id WHERE s.sealed_at >= ? AND s.sealed_at < ?",
                [s, e])
            let helpCalls = try count(
                "SELECT COUNT(*) FROM audit WHERE action = 'help.requested' AND at >= ? AND at < ?", [s, e])
            let helpAnswered = try count(
                "SELECT COUNT(*) FROM audit WHERE action = 'help.acknowledged' AND at >= ? AND at < ?", [s, e])
            // Delivered: help messages sent (the body says requested or acknowledged; count requests by their time).
            let helpDelivered = try count(
                "SELECT COUNT(*) FROM message WHERE kind = 'help' AND state = 'sent' AND created_at >= ? AND created_at < ?",
                [s, e])
            var agents: [String: Int] = [:]
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT assisted_by, COUNT(*) AS n FROM submission WHERE assisted_by IS NOT NULL
                    AND sealed_at >= ? AND sealed_at < ? GROUP BY assisted_by
                    """, arguments: [s, e])
            {
                agents[r["assisted_by"]] = r["n"]
            }
            let consents = try count(
                "SELECT COUNT(*) FROM audit WHERE action = 'assist.consent' AND at >= ? AND at < ?", [s, e])
            return AfterServiceLedger(
                evaluationsByService: byService, satisfactionRate: total > 0 ? Double(good) / Double(total) : nil,
                poorRatings: poor, poorVerified: verified, poorRectified: rectified, poorRevisited: revisited,
                openPoorRatings: max(0, allPoor - closed), overdue: overdueCases.count, needMaterials: needMaterials,
                supplements: supplements, helpCalls: helpCalls, helpDelivered: helpDelivered,
                helpAnswered: helpAnswered,
                assistedByAgent: agents, assistConsents: consents, collections: collections,
                overdueCases: overdueCases)
        }
    }
}

/// `kioskctl ledger --json`: everything the printed and A4 ledger show, in one object. The ledger's
/// own fields stay at the top level (as before); beside them the title block (`stationName`,
/// `periodStart`, `periodEnd`, `generatedAt`) and `afterService` (satisfaction and 差评 follow-up,
/// overdue cases, 补正, help calls, assisted submissions per agent, collections with their collector).
/// Dates are ISO 8601.
public struct LedgerReport: Encodable, Sendable {
    public var ledger: Ledger
    public var afterService: AfterServiceLedger?
    public var stationName: String
    public var period: LedgerPeriod
    public var generatedAt: Date

    public init(
        ledger: Ledger, afterService: AfterServiceLedger?, stationName: String, period: LedgerPeriod,
        generatedAt: Date
    ) {
        self.ledger = ledger
        self.afterService = afterService
        self.stationName = stationName
        self.period = period
        self.generatedAt = generatedAt
    }

    enum Keys: String, CodingKey {
        case stationName, periodStart, periodEnd, generatedAt, afterService
        case afterServiceAvailable
    }

    public func encode(to encoder: Encoder) throws {
        try ledger.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(stationName, forKey: .stationName)
        try c.encode(period.start, forKey: .periodStart)
        try c.encode(period.end, forKey: .periodEnd)
        try c.encode(generatedAt, forKey: .generatedAt)
        // nil: the after-service part could not be computed (e.g. a database not migrated yet).
        try c.encode(afterService != nil, forKey: .afterServiceAvailable)
        try c.encodeIfPresent(afterService, forKey: .afterService)
    }

    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .iso8601
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }
}
