import Foundation
import KioskProtocols
import Logging

/// The result of printing one certificate: whether it printed, and what to tell the person in front of the printer.
public struct CertificatePrintOutcome: Sendable, Equatable {
    public var ok: Bool
    public var message: String
    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }
}

/// Sends a PDF to the A4 printer: (ok, what to tell the person in front of it). The device side
/// stays in the app; the rules around it live in the certificate desk.
public typealias CertificatePrinter = @Sendable (_ pdf: Data, _ label: String) async -> CertificatePrintOutcome

/// The certificate desk (证照出证): who may print and hand over which certificate, what a jam
/// leaves behind, and what is recorded and audited.
public protocol CertificateDesk: Sendable {
    /// The resident's own certificates, downloaded and not collected.
    func forPickup(idNumber: String) throws -> [CertificateRecord]
    /// Every certificate not yet collected, for staff.
    func outstanding() throws -> [CertificateRecord]
    /// Prints one certificate and records the outcome.
    func print(submissionId: String, by: CertificateActor, on printer: CertificatePrinter) async
        -> CertificatePrintOutcome
    /// Prints every downloaded certificate never printed; a failure stops the batch. Returns what staff read.
    func printBatch(by staffId: String, on printer: CertificatePrinter) async -> String
}

/// The rules, as plain functions (used by the desk and by the screens that list certificates).
public enum CertificatePolicy {
    /// Only PDFs are printed at the kiosk; anything else is collected at the window.
    public static let printableContentType = "application/pdf"

    /// A resident prints their own certificate once: downloaded, never printed (if staff printed
    /// it, it waits at the window), not collected. A jam leaves it unprinted, so it stays here.
    public static func residentMayPrint(_ c: CertificateRecord) -> Bool {
        c.downloaded && c.printCount == 0 && c.collectedAt == nil
    }

    /// What staff print with "print all": downloaded and never printed.
    public static func inBatch(_ c: CertificateRecord) -> Bool { c.downloaded && c.printCount == 0 }

    /// Staff may print (or reprint after a jam) any downloaded certificate not yet collected.
    public static func staffMayPrint(_ c: CertificateRecord) -> Bool { c.downloaded && c.collectedAt == nil }

    /// Only a printed certificate not yet collected can be handed over.
    public static func mayCollect(_ c: CertificateRecord) -> Bool { c.printCount > 0 && c.collectedAt == nil }

    /// Which staff may work the certificate desk (village agents only do assisted submissions).
    public static func staffMayUseDesk(_ role: StaffRole) -> Bool { role == .window }

    /// A self pick-up print is a hand-over to the applicant at once.
    public static func collectedOnPrint(by actor: CertificateActor) -> CertificateCollector? {
        actor == .resident ? .applicant : nil
    }
}

/// The certificate desk over the outbox's certificate store and audit trail.
public struct StoreCertificateDesk: CertificateDesk {
    let store: CertificateStore
    let audit: AuditTrail
    let logger: Logger

    public init(database: OutboxDatabase, logger: Logger) {
        store = CertificateStore(database: database)
        audit = AuditTrail(database: database)
        self.logger = logger
    }

    public func forPickup(idNumber: String) throws -> [CertificateRecord] {
        try store.certificatesForPickup(idNumber: idNumber)
    }
    public func outstanding() throws -> [CertificateRecord] { try store.certificatesOutstanding() }

    public func print(submissionId id: String, by: CertificateActor, on printer: CertificatePrinter) async
        -> CertificatePrintOutcome
    {
        let record = try? store.certificateRecord(submissionId: id)
        let caseNumber = record?.caseNumber ?? "cert"
        let data: Data
        do {
            guard let c = try store.certificate(submissionId: id) else {
                return CertificatePrintOutcome(
                    ok: false,
                    message: by == .resident
                        ? "证照文件还没有下载到本机，请稍后再试或到窗口领取" : "证照文件还没有下载到本机：请检查网络，自动下载后再打印")
            }
            guard c.ref.contentType == CertificatePolicy.printableContentType else {
                try? await store.recordCertificatePrintFailure(
                    submissionId: id, by: by, reason: "not a PDF (\(c.ref.contentType))")
                return CertificatePrintOutcome(
                    ok: false,
                    message: by == .resident ? "此证照不能在本机打印，请到窗口领取" : "此证照不是PDF，本机不能打印：请从业务系统打印后交付")
            }
            data = c.data
        } catch {
            logger.error("stored certificate unreadable", metadata: ["case": "\(caseNumber)", "error": "\(error)"])
            try? await store.recordCertificatePrintFailure(submissionId: id, by: by, reason: "stored file unreadable")
            return CertificatePrintOutcome(
                ok: false,
                message: by == .resident ? "证照文件损坏，请到窗口领取，工作人员会重新下载" : "本机保存的证照文件已损坏：请从业务系统重新下载打印")
        }
        let label = "cert-" + caseNumber.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        let r = await printer(data, label)
        if r.ok {
            do {
                try await store.markCertificatePrinted(submissionId: id, by: by)
                if let collector = CertificatePolicy.collectedOnPrint(by: by) {
                    try await store.markCertificateCollected(submissionId: id, by: by, collector: collector)
                }
            } catch {
                logger.error(
                    "certificate print not recorded", metadata: ["case": "\(caseNumber)", "error": "\(error)"])
            }
            logger.info("certificate printed", metadata: ["case": "\(caseNumber)", "by": "\(by)"])
            return CertificatePrintOutcome(
                ok: true, message: by == .resident ? "证照已打印，请在A4打印机出纸口取走" : "已打印：\(caseNumber)")
        }
        // The jam rule: nothing is marked printed; the reason is kept for the reprint.
        try? await store.recordCertificatePrintFailure(submissionId: id, by: by, reason: r.message)
        logger.warning("certificate not printed", metadata: ["case": "\(caseNumber)", "by": "\(by)"])
        // Staff are the ones to clear the printer: the resident's "ask staff" becomes what to do.
        return CertificatePrintOutcome(ok: false, message: by == .resident ? r.message : StaffWording.device(r.message))
    }

    public func printBatch(by staffId: String, on printer: CertificatePrinter) async -> String {
        let todo = ((try? store.certificatesOutstanding()) ?? []).filter(CertificatePolicy.inBatch)
        var printed = 0
        var failure: String?
        for c in todo {
            let r = await print(submissionId: c.submissionId, by: .staff(staffId), on: printer)
            if r.ok {
                printed += 1
            } else {
                failure = r.message
                break
            }  // a jam stops the batch
        }
        try? await audit.append(actor: staffId, action: "certificate.batch", detail: "\(printed)/\(todo.count) printed")
        if todo.isEmpty { return "没有待打印的证照" }
        if let failure { return "已打印 \(printed) 份，其余未打印：\(failure)" }
        return "已打印 \(printed) 份证照，请整理后等待领取"
    }
}
