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
        return rows.map { $0.map(Ledger.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// Sections five to seven of the ledger's text.
    public func lines() -> [String] {
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
        return out
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
            var overdue = 0
            for r in try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id, s.item_code, MIN(c.at) AS accepted FROM submission s
                    JOIN case_event c ON c.submission_id = s.id AND c.state IN ('accepted', 'inReview', 'needMaterials')
                    WHERE s.state = 'uploaded' AND COALESCE(s.upstream_state, '') NOT IN ('done', 'certificateReady', 'rejected')
                    GROUP BY s.id
                    """)
            {
                let limit = catalog?.guide(for: r["item_code"])?.promisedTimeLimit
                if let due = CaseDeadline.due(
                    accepted: Date(timeIntervalSince1970: r["accepted"]), limit: limit, timeZone: tz), now > due
                {
                    overdue += 1
                }
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
                openPoorRatings: max(0, allPoor - closed), overdue: overdue, needMaterials: needMaterials,
                supplements: supplements, helpCalls: helpCalls, helpDelivered: helpDelivered,
                helpAnswered: helpAnswered,
                assistedByAgent: agents, assistConsents: consents)
        }
    }
}
