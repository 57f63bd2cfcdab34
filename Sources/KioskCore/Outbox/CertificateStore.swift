import Foundation
import GRDB
import KioskProtocols

/// Who printed or handed over a certificate: the resident at the kiosk (self pick-up) or a staff member.
/// Stored as `resident` or the staff id.
public enum CertificateActor: Sendable, Hashable, Codable, RawRepresentable, DatabaseValueConvertible,
    CustomStringConvertible
{
    case resident
    case staff(String)

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let v = CertificateActor(rawValue: raw) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "empty certificate actor"))
        }
        self = v
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    public init?(rawValue: String) {
        guard !rawValue.isEmpty else { return nil }
        self = rawValue == "resident" ? .resident : .staff(rawValue)
    }
    public var rawValue: String {
        switch self {
        case .resident: return "resident"
        case .staff(let id): return id
        }
    }
    /// The staff id, when a staff member.
    public var staffId: String? { if case .staff(let id) = self { return id } else { return nil } }
    /// The actor as the audit trail names it.
    public var auditActor: String { rawValue }
    public var description: String { rawValue }
}

/// Who took a certificate: the applicant (本人) or a proxy (代领).
public enum CertificateCollector: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible {
    case applicant
    case proxy
    public var chinese: String { self == .applicant ? "本人领取" : "代领" }
}

/// Where a certificate (证照) is: waiting to download, ready to print, printed and waiting to be
/// collected, or collected.
public struct CertificateRecord: Sendable, Equatable {
    public var submissionId: String
    public var caseNumber: String
    public var itemName: String
    public var contentType: String
    public var readyAt: Date?
    public var downloaded: Bool
    public var printedAt: Date?
    public var printCount: Int
    public var printedBy: CertificateActor?
    public var collectedAt: Date?
    /// The staff member who handed it over, or the resident for self pick-up.
    public var collectedBy: CertificateActor?
    public var collector: CertificateCollector?
    /// Why the last print did not complete (jam, no paper), until the next print.
    public var lastError: String?

    public init(
        submissionId: String, caseNumber: String, itemName: String, contentType: String, readyAt: Date?,
        downloaded: Bool,
        printedAt: Date?, printCount: Int, printedBy: CertificateActor?, collectedAt: Date?,
        collectedBy: CertificateActor?,
        collector: CertificateCollector?, lastError: String? = nil
    ) {
        self.submissionId = submissionId
        self.caseNumber = caseNumber
        self.itemName = itemName
        self.contentType = contentType
        self.readyAt = readyAt
        self.downloaded = downloaded
        self.printedAt = printedAt
        self.printCount = printCount
        self.printedBy = printedBy
        self.collectedAt = collectedAt
        self.collectedBy = collectedBy
        self.collector = collector
        self.lastError = lastError
    }
}

/// A certificate row with its submission's case number and item (the staff and resident lists).
struct CertificateListRow: FetchableRecord, Sendable {
    var certificate: CertificateFileRecord
    var caseNumber: String
    var itemName: String

    init(row: Row) throws {
        certificate = try CertificateFileRecord(row: row)
        caseNumber = row["case_number"]
        itemName = row["item_name"]
    }

    var record: CertificateRecord {
        let c = certificate
        return CertificateRecord(
            submissionId: c.submissionId, caseNumber: caseNumber, itemName: itemName, contentType: c.contentType,
            readyAt: c.readyAt, downloaded: c.file != nil, printedAt: c.printedAt, printCount: c.printCount,
            printedBy: c.printedBy, collectedAt: c.collectedAt, collectedBy: c.collectedBy, collector: c.collector,
            lastError: c.lastError)
    }
}

/// Certificates: announced by the upstream, downloaded (SHA-256 checked, stored encrypted),
/// printed and handed over. The rules for who may print what live in `CertificateDesk`.
public struct CertificateStore: Sendable {
    public let database: OutboxDatabase
    let audit: AuditTrail

    public init(database: OutboxDatabase) {
        self.database = database
        audit = AuditTrail(database: database)
    }

    var pool: DatabasePool { database.pool }
    typealias C = CertificateFileRecord.Columns

    /// The upstream says a certificate is ready: remember where to fetch it. A changed digest
    /// forgets the file downloaded before.
    public func noteCertificate(submissionId: String, ref: CertificateRef) async throws {
        let t = database.clock.now
        try await pool.write { db in
            if var c = try CertificateFileRecord.fetchOne(db, key: submissionId) {
                if c.sha256 != ref.sha256 { c.file = nil }
                c.ref = ref.ref
                c.contentType = ref.contentType
                c.size = ref.size
                c.sha256 = ref.sha256
                try c.update(db)
            } else {
                try CertificateFileRecord(
                    submissionId: submissionId, ref: ref.ref, contentType: ref.contentType, size: ref.size,
                    sha256: ref.sha256, file: nil, downloadedAt: nil, printedAt: nil, lastError: nil, printCount: 0,
                    firstPrintedAt: nil, printedBy: nil, collectedAt: nil, collectedBy: nil, collector: nil,
                    readyAt: t
                ).insert(db)
            }
        }
    }

    /// Certificates known but not downloaded yet (of submissions not purged).
    public func certificatesToDownload() throws -> [(submissionId: String, ref: CertificateRef)] {
        try pool.read { db in
            try CertificateFileRecord.fetchAll(
                db,
                sql: """
                    SELECT certificate.* FROM certificate JOIN submission ON submission.id = certificate.submission_id
                    WHERE certificate.file IS NULL AND submission.purged_at IS NULL
                    """
            ).map { ($0.submissionId, $0.ref_) }
        }
    }

    /// Stores a downloaded certificate, encrypted and fsynced, after checking its SHA-256.
    public func storeCertificate(submissionId: String, data: Data) async throws {
        let expected = try await pool.read { db in try CertificateFileRecord.fetchOne(db, key: submissionId)?.sha256 }
        guard let expected else { throw OutboxError("no certificate is expected for submission \(submissionId)") }
        guard sha256Hex(data) == expected else {
            throw OutboxError("certificate of \(submissionId) does not match its SHA-256")
        }
        let dir = database.certificatesDirectory
        let file = submissionId + ".enc"
        let sealed = try database.cipher.seal(data)
        try await FileSync.run {
            try DurableFile.makeDirectory(dir)
            try DurableFile.write(sealed, to: dir + "/" + file)
        }
        let t = database.clock.now.timeIntervalSince1970
        _ = try await pool.write { db in
            try CertificateFileRecord.filter(key: submissionId).updateAll(
                db, C.file.set(to: file), C.downloadedAt.set(to: t),
                C.lastError.set(to: nil))
        }
    }

    /// Decrypted bytes of a downloaded certificate (for the A4 printer), verified again.
    public func certificate(submissionId: String) throws -> (ref: CertificateRef, data: Data)? {
        guard let c = try pool.read({ db in try CertificateFileRecord.fetchOne(db, key: submissionId) }),
            let file = c.file
        else { return nil }
        guard let enc = FileManager.default.contents(atPath: database.certificatesDirectory + "/" + file) else {
            return nil
        }
        let data = try database.cipher.open(enc)
        guard sha256Hex(data) == c.sha256 else { throw OutboxError("stored certificate of \(submissionId) is damaged") }
        return (c.ref_, data)
    }

    static let listSelect = """
        SELECT certificate.*, submission.case_number, submission.item_name FROM certificate
        JOIN submission ON submission.id = certificate.submission_id
        """

    /// Certificates of one resident (found by the keyed digest of their ID number) that are
    /// downloaded and not yet collected: what self pick-up (自助取件) offers.
    public func certificatesForPickup(idNumber: String) throws -> [CertificateRecord] {
        let lookup = database.cipher.lookupToken(IDNumber.normalise(idNumber))
        return try pool.read { db in
            try CertificateListRow.fetchAll(
                db,
                sql: Self.listSelect + """
                     WHERE submission.id_lookup = ? AND certificate.file IS NOT NULL AND certificate.collected_at IS NULL
                     ORDER BY certificate.ready_at
                    """, arguments: [lookup]
            ).map(\.record)
        }
    }

    /// Every certificate not yet collected (downloaded or not), oldest first: the staff's list.
    public func certificatesOutstanding() throws -> [CertificateRecord] {
        try pool.read { db in
            try CertificateListRow.fetchAll(
                db,
                sql: Self.listSelect
                    + " WHERE certificate.collected_at IS NULL ORDER BY certificate.ready_at, submission.sealed_at"
            )
            .map(\.record)
        }
    }

    public func certificateRecord(submissionId: String) throws -> CertificateRecord? {
        try pool.read { db in
            try CertificateListRow.fetchOne(
                db, sql: Self.listSelect + " WHERE certificate.submission_id = ?", arguments: [submissionId])?.record
        }
    }

    /// After the A4 printer reported the job completed. Audited as printed (first print) or reprinted.
    public func markCertificatePrinted(submissionId: String, by actor: CertificateActor) async throws {
        let t = database.clock.now.timeIntervalSince1970
        let count = try await pool.write { db -> Int in
            try db.execute(
                sql: """
                    UPDATE certificate SET printed_at = ?, first_printed_at = COALESCE(first_printed_at, ?), printed_by = ?,
                      print_count = print_count + 1 WHERE submission_id = ?
                    """, arguments: [t, t, actor.rawValue, submissionId])
            return try CertificateFileRecord.fetchOne(db, key: submissionId)?.printCount ?? 0
        }
        let c = try database.caseNumber(submissionId)
        try await audit.append(
            actor: actor.auditActor, action: count > 1 ? "certificate.reprinted" : "certificate.printed", subject: c,
            detail: "print \(count)")
    }

    /// A print that did not complete (jam, no paper): recorded, the certificate stays waiting.
    public func recordCertificatePrintFailure(submissionId: String, by actor: CertificateActor, reason: String)
        async throws
    {
        _ = try await pool.write { db in
            try CertificateFileRecord.filter(key: submissionId).updateAll(db, C.lastError.set(to: reason))
        }
        try await audit.append(
            actor: actor.auditActor, action: "certificate.print.failed", subject: try database.caseNumber(submissionId),
            detail: reason)
    }

    /// Hands a printed certificate over: by whom (staff, or the resident for self pick-up) and to whom.
    public func markCertificateCollected(
        submissionId: String, by actor: CertificateActor, collector: CertificateCollector
    ) async throws {
        try await markCertificateCollected(
            submissionId: submissionId, by: actor, collector: collector, alsoRecord: { _ in })
    }

    /// Hands a printed certificate over and, in the same transaction, `alsoRecord`s who collected it
    /// (the staff hand-over's collector row): a crash never leaves it collected without its collector.
    public func markCertificateCollected(
        submissionId: String, by actor: CertificateActor, collector: CertificateCollector,
        alsoRecord: @escaping @Sendable (Database) throws -> Void
    ) async throws {
        let t = database.clock.now.timeIntervalSince1970
        let changed = try await pool.write { db -> Bool in
            try db.execute(
                sql: """
                    UPDATE certificate SET collected_at = ?, collected_by = ?, collector = ?
                    WHERE submission_id = ? AND collected_at IS NULL AND print_count > 0
                    """, arguments: [t, actor.rawValue, collector.rawValue, submissionId])
            guard db.changesCount > 0 else { return false }
            try alsoRecord(db)
            return true
        }
        guard changed else { throw StaffError("certificate of \(submissionId) is not printed or already collected") }
        try await audit.append(
            actor: actor.auditActor, action: "certificate.collected", subject: try database.caseNumber(submissionId),
            detail: collector.rawValue)
    }
}
