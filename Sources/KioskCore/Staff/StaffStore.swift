import Foundation
import GRDB
import KioskProtocols

// Township staff (窗口工作人员) and village agents (代办员): the staff registry, the audit trail,
// the kiosk's out-of-service notice and the device-state history the ledger's downtime comes from.
// All of it lives in the outbox database, so one fsynced file holds everything a ledger needs.
//
// The registry stores no ID number: a keyed digest (HMAC with the kiosk's lookup key) finds the
// staff member from the card, the PIN is a PBKDF2 hash, the name is kept masked (王*).

public enum StaffRole: String, Codable, Sendable, CaseIterable {
    /// 窗口工作人员: certificates, ledger, out of service, assisted submissions.
    case window
    /// 村级代办员: assisted submissions only.
    case agent

    public var chinese: String { self == .window ? "窗口工作人员" : "代办员" }
    public var english: String { self == .window ? "service-window staff" : "village agent" }
}

public struct StaffMember: Sendable, Equatable, Codable {
    public var staffId: String
    /// Masked display name (first character, then *).
    public var displayName: String
    public var role: StaffRole
    public var active: Bool
    public var failures: Int
    public var lockedUntil: Date?

    public init(staffId: String, displayName: String, role: StaffRole, active: Bool = true, failures: Int = 0, lockedUntil: Date? = nil) {
        self.staffId = staffId; self.displayName = displayName; self.role = role; self.active = active
        self.failures = failures; self.lockedUntil = lockedUntil
    }
}

/// The outcome of a staff PIN check.
public enum StaffSignInResult: Sendable, Equatable {
    case signedIn(StaffMember)
    case wrongPIN(attemptsLeft: Int)
    case lockedOut(until: Date)
    case inactive
    case unknown
}

public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int
    public var at: Date
    /// A staff id, `resident` (self-service) or `system`; never a name or ID number.
    public var actor: String
    public var action: String
    public var subject: String?
    public var detail: String?
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
    /// `resident` for self pick-up, else the staff id.
    public var printedBy: String?
    public var collectedAt: Date?
    /// The staff id that handed it over, or `resident` for self pick-up.
    public var collectedBy: String?
    /// Who took it: `applicant` (本人) or `proxy` (代领).
    public var collector: String?

    public init(submissionId: String, caseNumber: String, itemName: String, contentType: String, readyAt: Date?, downloaded: Bool,
                printedAt: Date?, printCount: Int, printedBy: String?, collectedAt: Date?, collectedBy: String?, collector: String?) {
        self.submissionId = submissionId; self.caseNumber = caseNumber; self.itemName = itemName; self.contentType = contentType
        self.readyAt = readyAt; self.downloaded = downloaded; self.printedAt = printedAt; self.printCount = printCount
        self.printedBy = printedBy; self.collectedAt = collectedAt; self.collectedBy = collectedBy; self.collector = collector
    }
}

public struct StaffError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

extension Outbox {
    /// Wrong PINs in a row before a staff member is locked out, and for how long.
    public static let staffMaxFailures = 5
    public static let staffLockoutSeconds: Double = 15 * 60

    static func staffDigest(_ cipher: AtRestCipher, _ idNumber: String) -> String {
        cipher.lookupToken("staff:" + IDNumber.normalise(idNumber))
    }

    static func staffMember(_ r: Row) -> StaffMember {
        StaffMember(staffId: r["staff_id"], displayName: r["display_name"], role: StaffRole(rawValue: r["role"]) ?? .agent,
                    active: (r["active"] as Int) != 0, failures: r["failures"],
                    lockedUntil: (r["locked_until"] as Double?).map { Date(timeIntervalSince1970: $0) })
    }

    // MARK: Registry

    /// Adds (or replaces, same staff id) a staff member. `pinHash` comes from PINHash.make.
    public func addStaff(staffId: String, name: String, role: StaffRole, idNumber: String, pinHash: String) throws {
        guard staffId.range(of: "^[A-Za-z0-9-]{1,20}$", options: .regularExpression) != nil else {
            throw StaffError("staff id \(staffId) is not allowed: use 1–20 letters, digits or '-' (a work number, never an ID number)")
        }
        guard IDNumber.normalise(idNumber).count >= 15 else { throw StaffError("the staff member's ID number looks incomplete") }
        guard PINHash.isWellFormed(pinHash) else { throw StaffError("not a PIN hash") }
        let masked = Mask.name(name)
        let digest = Self.staffDigest(cipher, idNumber)
        let t = now().timeIntervalSince1970
        try pool.write { db in
            if let other = try String.fetchOne(db, sql: "SELECT staff_id FROM staff WHERE id_digest = ? AND staff_id <> ?",
                                               arguments: [digest, staffId]) {
                throw StaffError("this ID card is already registered as staff \(other)")
            }
            try db.execute(sql: """
                INSERT INTO staff(staff_id, display_name, role, id_digest, pin_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(staff_id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                  id_digest = excluded.id_digest, pin_hash = excluded.pin_hash, failures = 0, locked_until = NULL, active = 1
                """, arguments: [staffId, masked, role.rawValue, digest, pinHash, t])
        }
        try audit(actor: "system", action: "staff.registered", subject: staffId, detail: role.rawValue)
    }

    public func staffList() throws -> [StaffMember] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM staff ORDER BY staff_id").map(Self.staffMember) }
    }

    /// Disables (false) or re-enables a staff member; returns false when there is no such id.
    @discardableResult
    public func setStaffActive(_ staffId: String, _ active: Bool) throws -> Bool {
        let changed = try pool.write { db -> Bool in
            try db.execute(sql: "UPDATE staff SET active = ? WHERE staff_id = ?", arguments: [active ? 1 : 0, staffId])
            return db.changesCount > 0
        }
        if changed { try audit(actor: "system", action: active ? "staff.enabled" : "staff.disabled", subject: staffId) }
        return changed
    }

    /// Clears a lockout; returns false when there is no such id.
    @discardableResult
    public func unlockStaff(_ staffId: String) throws -> Bool {
        let changed = try pool.write { db -> Bool in
            try db.execute(sql: "UPDATE staff SET failures = 0, locked_until = NULL WHERE staff_id = ?", arguments: [staffId])
            return db.changesCount > 0
        }
        if changed { try audit(actor: "system", action: "staff.unlocked", subject: staffId) }
        return changed
    }

    /// The staff member whose ID card this is (nil for anyone else). Audited when it is nobody.
    public func staffMember(forIDNumber idNumber: String) throws -> StaffMember? {
        let digest = Self.staffDigest(cipher, idNumber)
        return try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM staff WHERE id_digest = ?", arguments: [digest]).map(Self.staffMember)
        }
    }

    /// Checks a staff PIN with the slow KDF (call off the main loop). Failures are counted in the
    /// database, so a restart does not reset them; after `staffMaxFailures` the member is locked
    /// out for `staffLockoutSeconds`. Every attempt is audited (never the PIN).
    public func verifyStaffPIN(staffId: String, pin: String) throws -> StaffSignInResult {
        guard let row = try pool.read({ db in try Row.fetchOne(db, sql: "SELECT * FROM staff WHERE staff_id = ?", arguments: [staffId]) }) else {
            try audit(actor: "unknown", action: "staff.signin.unknown")
            return .unknown
        }
        let member = Self.staffMember(row)
        let t = now()
        if !member.active {
            try audit(actor: staffId, action: "staff.signin.refused", detail: "disabled")
            return .inactive
        }
        if let until = member.lockedUntil, until > t {
            try audit(actor: staffId, action: "staff.signin.refused", detail: "locked out")
            return .lockedOut(until: until)
        }
        let ok = PINHash.verify(pin: pin, against: row["pin_hash"])
        if ok {
            try pool.write { db in
                try db.execute(sql: "UPDATE staff SET failures = 0, locked_until = NULL WHERE staff_id = ?", arguments: [staffId])
            }
            try audit(actor: staffId, action: "staff.signin")
            var m = member
            m.failures = 0; m.lockedUntil = nil
            return .signedIn(m)
        }
        // A lockout that has run out starts a fresh count.
        let previous = (member.lockedUntil != nil) ? 0 : member.failures
        let failures = previous + 1
        if failures >= Self.staffMaxFailures {
            let until = t.addingTimeInterval(Self.staffLockoutSeconds)
            try pool.write { db in
                try db.execute(sql: "UPDATE staff SET failures = ?, locked_until = ? WHERE staff_id = ?",
                               arguments: [failures, until.timeIntervalSince1970, staffId])
            }
            try audit(actor: staffId, action: "staff.lockout", detail: "\(failures) wrong PINs")
            return .lockedOut(until: until)
        }
        try pool.write { db in
            try db.execute(sql: "UPDATE staff SET failures = ?, locked_until = NULL WHERE staff_id = ?", arguments: [failures, staffId])
        }
        try audit(actor: staffId, action: "staff.signin.failed", detail: "wrong PIN \(failures)/\(Self.staffMaxFailures)")
        return .wrongPIN(attemptsLeft: Self.staffMaxFailures - failures)
    }

    // MARK: Audit trail

    /// Appends an audit entry. Each entry's `chain` is SHA-256 over the previous chain and this
    /// entry, so an edited or deleted row shows up in `verifyAuditChain`.
    public func audit(actor: String, action: String, subject: String? = nil, detail: String? = nil) throws {
        let t = now().timeIntervalSince1970
        try pool.write { db in
            let prev = try String.fetchOne(db, sql: "SELECT chain FROM audit ORDER BY id DESC LIMIT 1") ?? ""
            let chain = Self.auditChain(prev: prev, at: t, actor: actor, action: action, subject: subject, detail: detail)
            try db.execute(sql: "INSERT INTO audit(at, actor, action, subject, detail, chain) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [t, actor, action, subject, detail, chain])
        }
    }

    static func auditChain(prev: String, at: Double, actor: String, action: String, subject: String?, detail: String?) -> String {
        sha256Hex(Data([prev, String(format: "%.6f", at), actor, action, subject ?? "", detail ?? ""].joined(separator: "\u{1F}").utf8))
    }

    public func auditEntries(from: Date? = nil, to: Date? = nil, limit: Int = 10_000) throws -> [AuditEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE at >= ? AND at < ? ORDER BY id LIMIT ?",
                             arguments: [from?.timeIntervalSince1970 ?? 0, to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude, limit]).map {
                AuditEntry(id: $0["id"], at: Date(timeIntervalSince1970: $0["at"]), actor: $0["actor"], action: $0["action"],
                           subject: $0["subject"], detail: $0["detail"])
            }
        }
    }

    /// The id of the first entry whose chain does not match (nil: the trail is intact).
    public func verifyAuditChain() throws -> Int? {
        try pool.read { db in
            var prev = ""
            for r in try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id") {
                let want = Self.auditChain(prev: prev, at: r["at"], actor: r["actor"], action: r["action"], subject: r["subject"], detail: r["detail"])
                if want != (r["chain"] as String) { return r["id"] as Int }
                prev = r["chain"]
            }
            return nil
        }
    }

    // MARK: Help requests (呼叫工作人员)

    /// Help requests residents made since staff last acknowledged them.
    public func pendingHelpRequests() throws -> (count: Int, last: Date?) {
        try pool.read { db in
            let ack = try Double.fetchOne(db, sql: "SELECT MAX(at) FROM audit WHERE action = 'help.acknowledged'") ?? 0
            let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit WHERE action = 'help.requested' AND at > ?", arguments: [ack]) ?? 0
            let last = try Double.fetchOne(db, sql: "SELECT MAX(at) FROM audit WHERE action = 'help.requested' AND at > ?", arguments: [ack])
            return (n, last.map { Date(timeIntervalSince1970: $0) })
        }
    }

    // MARK: Out of service

    static let outOfServiceKey = "out_of_service_notice"

    /// Takes the kiosk out of service with a notice for residents (nil: back in service).
    public func setOutOfService(notice: String?, by actor: String) throws {
        let t = now().timeIntervalSince1970
        try pool.write { db in
            if let notice {
                try db.execute(sql: "INSERT OR REPLACE INTO kiosk_setting(key, value, updated_at) VALUES (?, ?, ?)",
                               arguments: [Self.outOfServiceKey, notice, t])
            } else {
                try db.execute(sql: "DELETE FROM kiosk_setting WHERE key = ?", arguments: [Self.outOfServiceKey])
            }
        }
        try audit(actor: actor, action: notice == nil ? "service.resumed" : "service.suspended", detail: notice)
    }

    /// The out-of-service notice, when the kiosk is out of service.
    public func outOfServiceNotice() throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM kiosk_setting WHERE key = ?", arguments: [Self.outOfServiceKey])
        }
    }

    // MARK: Device history (for downtime in the ledger)

    /// Records a device's state when it differs from the last one recorded for that device.
    public func recordDeviceState(kind: String, state: String, usable: Bool, at: Date? = nil) throws {
        let t = (at ?? now()).timeIntervalSince1970
        try pool.write { db in
            let last = try Row.fetchOne(db, sql: "SELECT state, usable FROM device_event WHERE kind = ? ORDER BY at DESC, id DESC LIMIT 1",
                                        arguments: [kind])
            if let last, (last["state"] as String) == state, ((last["usable"] as Int) != 0) == usable { return }
            try db.execute(sql: "INSERT INTO device_event(kind, state, usable, at) VALUES (?, ?, ?, ?)",
                           arguments: [kind, state, usable ? 1 : 0, t])
        }
    }

    // MARK: Certificates: printing and collection

    static func certificateRecord(_ r: Row) -> CertificateRecord {
        func date(_ k: String) -> Date? { (r[k] as Double?).map { Date(timeIntervalSince1970: $0) } }
        return CertificateRecord(submissionId: r["submission_id"], caseNumber: r["case_number"], itemName: r["item_name"],
                                 contentType: r["content_type"], readyAt: date("ready_at"), downloaded: (r["file"] as String?) != nil,
                                 printedAt: date("printed_at"), printCount: r["print_count"], printedBy: r["printed_by"],
                                 collectedAt: date("collected_at"), collectedBy: r["collected_by"], collector: r["collector"])
    }

    static let certificateSelect = """
        SELECT certificate.*, submission.case_number, submission.item_name FROM certificate
        JOIN submission ON submission.id = certificate.submission_id
        """

    /// Certificates of one resident (found by the keyed digest of their ID number) that are
    /// downloaded and not yet collected: what self pick-up (自助取件) offers.
    public func certificatesForPickup(idNumber: String) throws -> [CertificateRecord] {
        let lookup = cipher.lookupToken(IDNumber.normalise(idNumber))
        return try pool.read { db in
            try Row.fetchAll(db, sql: Self.certificateSelect + """
                 WHERE submission.id_lookup = ? AND certificate.file IS NOT NULL AND certificate.collected_at IS NULL
                 ORDER BY certificate.ready_at
                """, arguments: [lookup]).map(Self.certificateRecord)
        }
    }

    /// Every certificate not yet collected (downloaded or not), oldest first: the staff's list.
    public func certificatesOutstanding() throws -> [CertificateRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: Self.certificateSelect + " WHERE certificate.collected_at IS NULL ORDER BY certificate.ready_at, submission.sealed_at")
                .map(Self.certificateRecord)
        }
    }

    public func certificateRecord(submissionId: String) throws -> CertificateRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: Self.certificateSelect + " WHERE certificate.submission_id = ?", arguments: [submissionId])
                .map(Self.certificateRecord)
        }
    }

    /// After the A4 printer reported the job completed.
    public func markCertificatePrinted(submissionId: String, by actor: String) throws {
        let t = now().timeIntervalSince1970
        let count = try pool.write { db -> Int in
            try db.execute(sql: """
                UPDATE certificate SET printed_at = ?, first_printed_at = COALESCE(first_printed_at, ?), printed_by = ?,
                  print_count = print_count + 1 WHERE submission_id = ?
                """, arguments: [t, t, actor, submissionId])
            return try Int.fetchOne(db, sql: "SELECT print_count FROM certificate WHERE submission_id = ?", arguments: [submissionId]) ?? 0
        }
        let c = try caseNumber(submissionId)
        try audit(actor: actor, action: count > 1 ? "certificate.reprinted" : "certificate.printed", subject: c, detail: "print \(count)")
    }

    /// A print that did not complete (jam, no paper): recorded, the certificate stays waiting.
    public func recordCertificatePrintFailure(submissionId: String, by actor: String, reason: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE certificate SET last_error = ? WHERE submission_id = ?", arguments: [reason, submissionId])
        }
        try audit(actor: actor, action: "certificate.print.failed", subject: try caseNumber(submissionId), detail: reason)
    }

    /// Hands a printed certificate over: by whom (staff id, or `resident` for self pick-up) and to whom.
    public func markCertificateCollected(submissionId: String, by actor: String, collector: String) throws {
        let t = now().timeIntervalSince1970
        let changed = try pool.write { db -> Bool in
            try db.execute(sql: """
                UPDATE certificate SET collected_at = ?, collected_by = ?, collector = ?
                WHERE submission_id = ? AND collected_at IS NULL AND print_count > 0
                """, arguments: [t, actor, collector, submissionId])
            return db.changesCount > 0
        }
        guard changed else { throw StaffError("certificate of \(submissionId) is not printed or already collected") }
        try audit(actor: actor, action: "certificate.collected", subject: try caseNumber(submissionId), detail: collector)
    }

    func caseNumber(_ submissionId: String) throws -> String {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT case_number FROM submission WHERE id = ?", arguments: [submissionId]) ?? submissionId
        }
    }
}
