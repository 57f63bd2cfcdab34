import Foundation
import GRDB
import KioskProtocols
import Synchronization

extension OutboxState: DatabaseValueConvertible {}
extension MessageKind: DatabaseValueConvertible {}
extension MessageState: DatabaseValueConvertible {}

public struct NewAttachment: Sendable {
    public var name: String
    public var contentType: String
    public var data: Data
    public init(name: String, contentType: String, data: Data) {
        self.name = name
        self.contentType = contentType
        self.data = data
    }
}

public struct NewSubmission: Sendable {
    public var itemCode: String
    public var itemName: String
    public var applicant: ApplicantData
    public var attachments: [NewAttachment]
    public var assistedBy: String?
    /// A 补正: the submission id of the case these materials complete (recorded in the seal's transaction).
    public var supplementOf: String?
    public init(
        itemCode: String, itemName: String, applicant: ApplicantData, attachments: [NewAttachment],
        assistedBy: String? = nil, supplementOf: String? = nil
    ) {
        self.itemCode = itemCode
        self.itemName = itemName
        self.applicant = applicant
        self.attachments = attachments
        self.assistedBy = assistedBy
        self.supplementOf = supplementOf
    }
}

/// What the kiosk knows about a submission without decrypting anything.
public struct SubmissionSummary: Sendable, Equatable {
    public var id: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var sealedAt: Date
    public var state: OutboxState
    public var upstreamState: UpstreamState?
    public var attempts: Int
    public var lastError: String?

    public init(
        id: String, caseNumber: String, itemCode: String, itemName: String, sealedAt: Date, state: OutboxState,
        upstreamState: UpstreamState?, attempts: Int, lastError: String?
    ) {
        self.id = id
        self.caseNumber = caseNumber
        self.itemCode = itemCode
        self.itemName = itemName
        self.sealedAt = sealedAt
        self.state = state
        self.upstreamState = upstreamState
        self.attempts = attempts
        self.lastError = lastError
    }
}

public struct OutboxCounts: Sendable, Equatable, Codable {
    public var queued: Int
    public var uploaded: Int
    public var quarantined: Int
    public var attachmentsQueued: Int
    public var oldestQueuedSeconds: Int?
    public var evaluationsQueued: Int
    /// Quarantined submissions by cause (QuarantineCause raw values; "unknown" for those an older
    /// version put aside without a proven cause).
    public var quarantinedByCause: [String: Int]? = nil
    /// The key alarm: why the configured key cannot read the outbox (nil: no alarm).
    public var keyAlarm: String? = nil
    /// Attachment folders no row accounts for (a lost database): `kioskctl outbox recover`.
    public var unaccountedFolders: Int? = nil
}

/// A quarantined submission as staff and technicians see it: never personal data.
public struct QuarantinedSubmission: Sendable, Equatable {
    public var caseNumber: String
    public var itemCode: String
    public var reason: String
    /// Why, as a kind (QuarantineCause); nil for submissions quarantined by an older version.
    public var cause: QuarantineCause? = nil
}

/// The permanent, proven causes for which a submission is put aside.
public enum QuarantineCause: String, Codable, Sendable, CaseIterable {
    /// The intake itself answered that it will not take this submission (4xx with its error body).
    case refused
    /// An attachment file is missing from the state directory.
    case attachmentMissing = "attachment-missing"
    /// An attachment file was altered: it no longer decrypts, or no longer matches its digest,
    /// while the station key reads the rest of the outbox.
    case attachmentAltered = "attachment-altered"
    /// The submission's own encrypted row is damaged while the station key reads the rest.
    case damaged
}

/// The encrypted description of a submission: everything its database rows hold. Kept in the
/// seal log (earlier versions: `@manifest.enc` in its attachment folder), from which kioskd writes
/// back rows a power cut lost and `kioskctl outbox recover` rebuilds a lost database.
public struct SealedManifest: Codable, Sendable {
    public static let fileName = "@manifest.enc"
    public struct File: Codable, Sendable {
        public var name: String
        public var contentType: String
        public var size: Int
        public var sha256: String
        public var file: String
    }
    public var version = 1
    public var submissionId: String
    public var caseNumber: String
    public var itemCode: String
    public var itemName: String
    public var stationId: String
    public var sealedAt: Double
    public var applicant: ApplicantData
    public var assistedBy: String?
    /// A 补正: the submission id of the case it completes (absent in manifests of earlier versions).
    public var supplementOf: String?
    public var attachments: [File]

    /// Inserts the rows this manifest describes (state sealed, queued now) and raises the
    /// database's counter of its day.
    func insertRows(_ db: Database, cipher: AtRestCipher, now: Date) throws {
        let record = SubmissionRecord(
            id: submissionId, caseNumber: caseNumber, itemCode: itemCode, itemName: itemName,
            stationId: stationId, sealedAt: Date(timeIntervalSince1970: sealedAt), state: .sealed,
            upstreamState: nil, attempts: 0, nextAttemptAt: now, lastError: nil, uploadedAt: nil,
            idLookup: cipher.lookupToken(IDNumber.normalise(applicant.idNumber)),
            personal: try cipher.seal(try JSONEncoder().encode(applicant)),
            assistedBy: assistedBy, receiptPrintedAt: nil, purgedAt: nil)
        try record.insert(db)
        for f in attachments {
            try AttachmentRecord(
                submissionId: submissionId, name: f.name, contentType: f.contentType, size: f.size,
                sha256: f.sha256, file: f.file, uploaded: false, uploadURL: nil
            ).insert(db)
        }
        if let of = supplementOf { try CaseEvents.insertSupplementLink(db, submissionId: submissionId, of: of) }
        let day = String(caseNumber.suffix(12).prefix(8))
        if let seq = Int(caseNumber.suffix(4)), seq > (try CaseCounterRecord.fetchOne(db, key: day)?.seq ?? 0) {
            try CaseCounterRecord(day: day, seq: seq).save(db)
        }
    }
}

/// What writing back the seal log's records did (`OutboxDatabase.replaySealLog`).
public struct SealLogReplay: Sendable {
    /// Manifests whose rows were written back.
    public var written: [SealedManifest] = []
    /// Case numbers that could not be written back, with the reason.
    public var notWritten: [String: String] = [:]
    public init() {}
}

/// Submissions: sealing (case numbers, encrypted attachments), the resident's own list, counts,
/// and retention.
public struct SubmissionStore: Sendable {
    public let database: OutboxDatabase
    let stationId: String
    let casePrefix: String

    public init(database: OutboxDatabase, stationId: String, casePrefix: String) {
        self.database = database
        self.stationId = stationId
        self.casePrefix = casePrefix
    }

    var pool: DatabasePool { database.pool }
    var cipher: AtRestCipher { database.cipher }

    static func validName(_ n: String) -> Bool {
        // [A-Za-z0-9._-]{1,64}, checked by hand (no regular-expression engine on the start path).
        (1...64).contains(n.utf8.count)
            && n.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E
                    || c == 0x5F || c == 0x2D
            }
    }

    /// The mark of a seal in progress inside its attachment folder (see StateDirectory.swift).
    static let sealingMark = "@sealing"
    /// Where a seal's files are written and synced side by side: serial queues, each with its own
    /// thread when busy (they target dispatch's overcommitting pool; a concurrent queue gets no more
    /// threads than cores, and a thread waiting on fsync would hold back the next file).
    static let sealThreads = (0..<8).map {
        DispatchQueue(label: "kiosk.outbox.seal-files.\($0)", qos: .userInitiated)
    }

    /// Seals a submission. Only after this returns may a receipt be printed. In order:
    ///   1. the case number: one more than the day's highest issued (in memory, see `issued`);
    ///   2. with attachments: a new folder marked `@sealing`, each file encrypted, written,
    ///      digested and fsynced, and the folder and its parent fsynced (in parallel, see
    ///      `writeAttachments`; the manifest is encrypted while they sync);
    ///   3. on the seal log's thread, with the seals that wait with it: the rows inserted in an
    ///      open transaction (refused rows fail the seal: no record, nothing durable), then the
    ///      record (id, case number, encrypted manifest) written durably, the durable point; the
    ///      seal is answered, and the transaction commits without an fsync of its own
    ///      (synchronous=NORMAL; a replay at start covers it) while readers wait for it at the
    ///      seal log's fence;
    ///   4. the mark is removed (not synced: a mark that comes back names a folder whose seal has
    ///      a log record, kept).
    /// A failure before 3 removes the folder; after the append began it is left for the next
    /// start to judge. A number whose seal failed was never printed and may be issued again.
    public func seal(_ s: NewSubmission) async throws -> SubmissionSummary {
        try database.checkDiskFloor(incoming: s.attachments.reduce(0) { $0 + $1.data.count })
        if let problem = database.keyProblem { throw OutboxError(problem) }
        for a in s.attachments where !Self.validName(a.name) {
            throw OutboxError("attachment name \(a.name) is not allowed")
        }
        let id = Self.newId()
        let attachmentsDirectory = database.attachmentsDirectory
        let dir = attachmentsDirectory + "/" + id
        let cipher = self.cipher
        let database = self.database
        let sealedAt = database.clock.now
        let day = database.clock.dayKey(sealedAt)
        let personal: Data
        let lookup: String
        do {
            personal = try cipher.seal(SealJSON.encode(s.applicant))
            lookup = cipher.lookupToken(IDNumber.normalise(s.applicant.idNumber))
        } catch {
            throw OutboxError("the submission could not be encrypted (\(error)); nothing was submitted, call staff")
        }
        var records: [AttachmentRecord] = []
        var summary: SubmissionSummary
        var committed = false
        var appending = false
        let seq = try database.reserveCaseNumber(day: day)
        let caseNumber = casePrefix + day + Self.fourDigits(seq)
        do {
            // The encrypted manifest: everything the rows hold, the attachments' digests included.
            @Sendable func manifestBox(_ attachments: [AttachmentRecord]) throws -> Data {
                let manifest = SealedManifest(
                    submissionId: id, caseNumber: caseNumber, itemCode: s.itemCode, itemName: s.itemName,
                    stationId: stationId, sealedAt: sealedAt.timeIntervalSince1970, applicant: s.applicant,
                    assistedBy: s.assistedBy, supplementOf: s.supplementOf,
                    attachments: attachments.map {
                        .init(
                            name: $0.name, contentType: $0.contentType, size: $0.size, sha256: $0.sha256, file: $0.file
                        )
                    })
                return try cipher.seal(try SealJSON.encode(manifest))
            }
            let box: Data
            if s.attachments.isEmpty {
                box = try manifestBox([])
            } else {
                (records, box) = try await FileSync.run { () throws -> ([AttachmentRecord], Data) in
                    try Self.writeAttachments(
                        s.attachments, id: id, attachmentsDirectory: attachmentsDirectory, cipher: cipher,
                        manifestBox: manifestBox)
                }
            }
            let record = SubmissionRecord(
                id: id, caseNumber: caseNumber, itemCode: s.itemCode, itemName: s.itemName, stationId: stationId,
                sealedAt: sealedAt, state: .sealed, upstreamState: nil, attempts: 0, nextAttemptAt: sealedAt,
                lastError: nil, uploadedAt: nil, idLookup: lookup, personal: personal, assistedBy: s.assistedBy,
                receiptPrintedAt: nil, purgedAt: nil)
            summary = record.summary
            let attachmentRows = records
            let supplementOf = s.supplementOf
            // The rows make it visible; they commit right after the record is durable, with the
            // rows of any seal that waited with it. The database's per-day counter is not raised
            // here: the start-up reconcile reads the day's highest case number from the rows.
            appending = true
            committed = try await database.sealLog.append(
                day: day, id: id, caseNumber: caseNumber, box: box,
                rowsAreOneStatement: attachmentRows.isEmpty && supplementOf == nil
            ) { db in
                try record.insertSealed(db)
                for a in attachmentRows { try a.insert(db) }
                // A 补正 is linked to its case in the same transaction: never sealed without the
                // link (the uploader's manifest names the case it completes).
                if let of = supplementOf { try CaseEvents.insertSupplementLink(db, submissionId: id, of: of) }
            }
        } catch {
            // Before the append nothing names the folder; once the append began, its record may
            // be on disk after all (a failed fdatasync): the folder stays with its mark, and the
            // next start keeps it (record found, rows written back) or removes it (no record).
            if !s.attachments.isEmpty && (!appending || error is SealLog.RowsRefused) {
                try? FileManager.default.removeItem(atPath: dir)
            }
            throw OutboxError(
                "the submission could not be saved (\(error)); nothing was submitted, please try again or call staff")
        }
        // Sealed: the log record holds it. If the rows did not commit, they are written back from
        // the record now if the database takes them, else at the next start (the seal stands).
        if !committed { _ = try? await FileSync.run { try database.replaySealLog() } }
        if !s.attachments.isEmpty { unlink(dir + "/" + Self.sealingMark) }
        return summary
    }

    /// A seal's attachment files, durable when it returns, and the encrypted manifest (made while
    /// the files sync). On this thread: the folder, its `@sealing` mark and every file's name;
    /// then on a thread each, side by side: each file encrypted, written, its writeback started,
    /// its plaintext's SHA-256 computed and the file fsynced, and the parent folder fsynced (the
    /// new folder's entry), while this thread fsyncs the new folder (the mark's and the files'
    /// entries, which exist already) and, once every digest is known, encrypts the manifest. A
    /// file's fsync overlaps another's encryption and digest; all are durable before the record.
    static func writeAttachments(
        _ attachments: [NewAttachment], id: String, attachmentsDirectory: String, cipher: AtRestCipher,
        manifestBox: @Sendable ([AttachmentRecord]) throws -> Data
    ) throws -> ([AttachmentRecord], Data) {
        let dir = attachmentsDirectory + "/" + id
        guard mkdir(dir, 0o700) == 0 else {
            throw FileIOError(
                description:
                    "cannot create \(dir): \(String(cString: strerror(errno))); check the state directory is writable and not full"
            )
        }
        try DurableFile.writeNew(Data(), to: dir + "/" + sealingMark, sync: false)
        let files = attachments.map { id + "/" + $0.name + ".enc" }
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for f in files {
            let fd = open(attachmentsDirectory + "/" + f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw FileIOError(
                    description:
                        "cannot create \(attachmentsDirectory)/\(f): \(String(cString: strerror(errno))); check the state directory is writable and not full"
                )
            }
            fds.append(fd)
        }
        let n = attachments.count
        let digests = Mutex([Result<String, Error>?](repeating: nil, count: n))
        let synced = Mutex([Result<Void, Error>?](repeating: nil, count: n + 1))
        let handles = fds
        let hashed = DispatchGroup()
        let done = DispatchGroup()
        @Sendable func work(_ i: Int) {
            let digest = Result { () throws -> String in
                try DurableFile.writeAll(try cipher.seal(attachments[i].data), fd: handles[i], path: files[i])
                // The data goes to the disk while the digest is computed; the fsync after waits
                // for it and writes the file's size and blocks.
                DurableFile.startWriteback(handles[i])
                return sha256Hex(attachments[i].data)
            }
            digests.withLock { $0[i] = digest }
            hashed.leave()
            let r = Result { () throws in
                _ = try digest.get()
                try DurableFile.sync(handles[i], path: files[i])
            }
            synced.withLock { $0[i] = r }
        }
        let threads = sealThreads
        threads[0].async(group: done) {
            let r = Result { try DurableFile.syncDirectory(attachmentsDirectory) }
            synced.withLock { $0[n] = r }
        }
        for i in 0..<n {
            hashed.enter()
            threads[(i + 1) % threads.count].async(group: done) { work(i) }
        }
        let folderSynced = Result { try DurableFile.syncDirectory(dir) }
        hashed.wait()
        let made = Result { () throws -> ([AttachmentRecord], Data) in
            let records = try digests.withLock { $0 }.enumerated().map { i, digest in
                let a = attachments[i]
                return AttachmentRecord(
                    submissionId: id, name: a.name, contentType: a.contentType, size: a.data.count,
                    sha256: try digest!.get(), file: files[i], uploaded: false, uploadURL: nil)
            }
            return (records, try manifestBox(records))
        }
        // Nothing returns before every thread is done with the descriptors.
        done.wait()
        try folderSynced.get()
        for r in synced.withLock({ $0 }) { try r!.get() }
        return try made.get()
    }

    /// A new submission id: a random UUID in lower case (as `uuidString.lowercased()`, without
    /// its two string passes).
    static func newId() -> String {
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        withUnsafeBytes(of: UUID().uuid) { raw in
            for (i, byte) in raw.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func fourDigits(_ n: Int) -> String {
        let digits = String(n)
        return digits.count >= 4 ? digits : String(repeating: "0", count: 4 - digits.count) + digits
    }

    public func markReceiptPrinted(id: String) async throws {
        let t = database.clock.now
        _ = try await pool.write { db in
            try SubmissionRecord.filter(key: id).updateAll(
                db, SubmissionRecord.Columns.receiptPrintedAt.set(to: t.timeIntervalSince1970))
        }
    }

    /// A resident's own submissions, found by the keyed digest of their ID number.
    public func submissions(forIDNumber idNumber: String, limit: Int = 20) throws -> [SubmissionSummary] {
        let token = cipher.lookupToken(IDNumber.normalise(idNumber))
        return try pool.read { db in
            try SubmissionRecord.filter(SubmissionRecord.Columns.idLookup == token)
                .order(SubmissionRecord.Columns.sealedAt.desc).limit(limit).fetchAll(db).map(\.summary)
        }
    }

    public func submission(id: String) throws -> SubmissionSummary? {
        try pool.read { db in try SubmissionRecord.fetchOne(db, key: id)?.summary }
    }

    public func allSubmissions() throws -> [SubmissionSummary] {
        try pool.read { db in try SubmissionRecord.order(SubmissionRecord.Columns.sealedAt).fetchAll(db).map(\.summary)
        }
    }

    public func isPurged(id: String) throws -> Bool {
        try pool.read { db in try SubmissionRecord.fetchOne(db, key: id)?.purgedAt != nil }
    }
}
