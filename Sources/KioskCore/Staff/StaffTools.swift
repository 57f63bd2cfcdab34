import Foundation
import GRDB
import KioskProtocols

// Staff tools the screens promise (issue 24, point 6): reprint a receipt by case number, and a
// certificate hand-over that confirms who collects (the applicant's own card, or a proxy's card
// and relation), shows the applicant's masked name and records the collector.

/// A submission found by case number, with what a reprinted receipt shows (masked).
public struct ReprintSource: Sendable, Equatable {
    public var summary: SubmissionSummary
    public var maskedName: String
    public var maskedIDNumber: String
    public var maskedPhone: String
    public var attachments: Int
    public var assistedBy: String?
}

/// Who collected a certificate, as recorded at the hand-over (masked; a keyed digest of the card).
public struct HandoverRecord: Sendable, Equatable {
    public var submissionId: String
    public var collector: CertificateCollector
    public var relation: String?
    public var collectorMaskedName: String
    public var staffId: String
    public var at: Date
}

public enum HandoverError: Error, Equatable, CustomStringConvertible {
    case notFound
    case notTheApplicant
    case proxyIsTheApplicant
    public var description: String {
        switch self {
        case .notFound: return "没有这份证照的记录"
        case .notTheApplicant: return "证件与申请人不符：本人领取须放置申请人本人的证件；他人代领请返回选择“代领”"
        case .proxyIsTheApplicant: return "放置的是申请人本人的证件：请返回选择“本人领取”"
        }
    }
}

extension OutboxSchema {
    static func registerStaffToolsMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v8-certificate-handover") { db in
            try db.execute(
                sql: """
                    CREATE TABLE certificate_handover (
                      submission_id TEXT PRIMARY KEY NOT NULL REFERENCES submission(id) ON DELETE CASCADE,
                      collector TEXT NOT NULL,
                      relation TEXT,
                      collector_name TEXT NOT NULL,
                      collector_lookup TEXT NOT NULL,
                      staff_id TEXT NOT NULL,
                      at REAL NOT NULL
                    );
                    """)
        }
    }
}

public struct StaffTools: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }

    func applicant(_ r: SubmissionRecord) throws -> ApplicantData {
        try JSONDecoder().decode(ApplicantData.self, from: try database.cipher.open(r.personal))
    }

    /// The submission whose case number is `caseNumber`, or ends with it (at least 4 digits, one match).
    public func reprintSource(caseNumber: String) throws -> ReprintSource? {
        let q = caseNumber.trimmingCharacters(in: .whitespaces).uppercased()
        guard q.count >= 4 else { return nil }
        let records = try database.pool.read { db in
            try SubmissionRecord.filter(sql: "case_number = ? OR case_number LIKE ?", arguments: [q, "%" + q]).fetchAll(
                db)
        }
        guard records.count == 1, let r = records.first, r.purgedAt == nil else { return nil }
        let a = try applicant(r)
        let photos = try database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attachment WHERE submission_id = ?", arguments: [r.id]) ?? 0
        }
        return ReprintSource(
            summary: r.summary, maskedName: Mask.name(a.name), maskedIDNumber: Mask.idNumber(a.idNumber),
            maskedPhone: Mask.phone(a.phone), attachments: photos, assistedBy: r.assistedBy)
    }

    /// The applicant's masked name for the hand-over screen.
    public func maskedApplicant(submissionId: String) throws -> String? {
        guard let r = try database.pool.read({ db in try SubmissionRecord.fetchOne(db, key: submissionId) }),
            r.purgedAt == nil
        else { return nil }
        return Mask.name(try applicant(r).name)
    }

    /// Confirms the collector's card and records the hand-over (the certificate is marked collected).
    public func handOver(
        submissionId: String, card: IDCardIdentity, collector: CertificateCollector, relation: String?,
        staffId: String, certificates: CertificateStore
    ) async throws -> HandoverRecord {
        guard let r = try await database.pool.read({ db in try SubmissionRecord.fetchOne(db, key: submissionId) })
        else {
            throw HandoverError.notFound
        }
        let lookup = database.cipher.lookupToken(IDNumber.normalise(card.idNumber))
        let isApplicant = lookup == r.idLookup
        if collector == .applicant && !isApplicant { throw HandoverError.notTheApplicant }
        if collector == .proxy && isApplicant { throw HandoverError.proxyIsTheApplicant }
        let at = database.clock.now
        let rec = HandoverRecord(
            submissionId: submissionId, collector: collector, relation: relation, collectorMaskedName: card.maskedName,
            staffId: staffId, at: at)
        // The collector's row is written in the transaction that marks the certificate collected.
        try await certificates.markCertificateCollected(
            submissionId: submissionId, by: .staff(staffId), collector: collector
        ) { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO certificate_handover
                      (submission_id, collector, relation, collector_name, collector_lookup, staff_id, at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    submissionId, collector.rawValue, relation, card.maskedName, lookup, staffId,
                    at.timeIntervalSince1970,
                ])
        }
        return rec
    }

    public func handover(submissionId: String) throws -> HandoverRecord? {
        try database.pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM certificate_handover WHERE submission_id = ?", arguments: [submissionId]
            )
            .map {
                HandoverRecord(
                    submissionId: $0["submission_id"],
                    collector: CertificateCollector(rawValue: $0["collector"]) ?? .proxy, relation: $0["relation"],
                    collectorMaskedName: $0["collector_name"], staffId: $0["staff_id"],
                    at: Date(timeIntervalSince1970: $0["at"]))
            }
        }
    }
}

extension OutboxStores {
    public var staffTools: StaffTools { StaffTools(database: database) }
}

/// The receipt reprinted by staff: the same layout, marked 补打, titled by what the upstream did.
public enum ReprintReceipt {
    public static func document(_ s: ReprintSource, stationName: String, printedAt: String, by staffId: String)
        -> ReceiptDocument
    {
        let accepted: Bool = {
            guard s.summary.state == .uploaded, let u = s.summary.upstreamState else { return false }
            return [.inReview, .accepted, .needMaterials, .done, .certificateReady].contains(u)
        }()
        var els: [ReceiptElement] = [
            .title(accepted ? "受理回执（补打）" : "提交回执（补打）"),
            .text(stationName, align: .center),
            .separator,
            .keyValue("办件编号", s.summary.caseNumber),
            .text("事项：\(s.summary.itemName)"),
            .keyValue("申请人", s.maskedName),
            .keyValue("证件号码", s.maskedIDNumber),
            .keyValue("联系电话", s.maskedPhone),
            .keyValue("材料", "\(s.attachments) 份（照片）"),
        ]
        if let a = s.assistedBy {
            els.append(.text("帮办代办：工号 \(a) 代为办理", bold: true))
            els.append(.text("本服务免费，代办不收费。", bold: true))
        }
        els += [
            .separator,
            .qr(s.summary.caseNumber, size: 6),
            .text("凭办件编号到窗口或放置身份证在本机查询进度", align: .center),
            .text("补打：工号 \(staffId)  \(printedAt)", align: .center),
            .feed(2), .cut(partial: true),
        ]
        return ReceiptDocument(els)
    }
}
