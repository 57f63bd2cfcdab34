import Foundation
import GRDB
import KioskProtocols

// Township staff (窗口工作人员) and village agents (代办员): the staff registry, the audit trail,
// the kiosk's out-of-service notice and the device-state history the ledger's downtime comes from.
// All of it lives in the outbox database, so one fsynced file holds everything a ledger needs.
//
// The registry stores no ID number: a keyed digest (HMAC with the kiosk's lookup key) finds the
// staff member from the card, the PIN is a PBKDF2 hash, the name is kept masked (王*).

public enum StaffRole: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
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

    public init(
        staffId: String, displayName: String, role: StaffRole, active: Bool = true, failures: Int = 0,
        lockedUntil: Date? = nil
    ) {
        self.staffId = staffId
        self.displayName = displayName
        self.role = role
        self.active = active
        self.failures = failures
        self.lockedUntil = lockedUntil
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

public struct StaffError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

// MARK: - Audit trail

/// The hash-chained audit trail: every sign-in attempt and every staff or certificate action
/// (actor, action, case number — never a name or ID number).
public struct AuditTrail: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }
    var pool: DatabasePool { database.pool }
    typealias A = AuditRecord.Columns

    /// Appends an entry. Each entry's `chain` is SHA-256 over the previous chain and this entry,
    /// so an edited or deleted row shows up in `verify`.
    public func append(actor: String, action: String, subject: String? = nil, detail: String? = nil) async throws {
        let t = database.clock.now.timeIntervalSince1970
        try await pool.write { db in
            try Self.append(db, at: t, actor: actor, action: action, subject: subject, detail: detail)
        }
    }

    /// Appends inside a transaction the caller already holds.
    static func append(_ db: Database, at t: Double, actor: String, action: String, subject: String?, detail: String?)
        throws
    {
        let prev = try String.fetchOne(db, AuditRecord.select(A.chain).order(A.id.desc).limit(1)) ?? ""
        let entry = AuditRecord(
            id: nil, at: t, actor: actor, action: action, subject: subject, detail: detail,
            chain: chain(prev: prev, at: t, actor: actor, action: action, subject: subject, detail: detail))
        try entry.insert(db)
    }

    static func chain(prev: String, at: Double, actor: String, action: String, subject: String?, detail: String?)
        -> String
    {
        sha256Hex(
            Data(
                [prev, String(format: "%.6f", at), actor, action, subject ?? "", detail ?? ""].joined(
                    separator: "\u{1F}"
                ).utf8))
    }

    public func entries(from: Date? = nil, to: Date? = nil, limit: Int = 10_000) throws -> [AuditEntry] {
        let lo = from?.timeIntervalSince1970 ?? 0
        let hi = to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude
        return try pool.read { db in
            try AuditRecord.filter(A.at >= lo && A.at < hi).order(A.id).limit(limit).fetchAll(db).map {
                AuditEntry(
                    id: Int($0.id ?? 0), at: Date(timeIntervalSince1970: $0.at), actor: $0.actor, action: $0.action,
                    subject: $0.subject, detail: $0.detail)
            }
        }
    }

    /// The id of the first entry whose chain does not match (nil: the trail is intact).
    public func verify() throws -> Int? {
        try pool.read { db in
            var prev = ""
            for r in try AuditRecord.order(A.id).fetchAll(db) {
                let want = Self.chain(
                    prev: prev, at: r.at, actor: r.actor, action: r.action, subject: r.subject, detail: r.detail)
                if want != r.chain { return Int(r.id ?? 0) }
                prev = r.chain
            }
            return nil
        }
    }

    /// Help requests (呼叫工作人员) residents made since staff last acknowledged them.
    public func pendingHelpRequests() throws -> (count: Int, last: Date?) {
        try pool.read { db in
            let ack =
                try Double.fetchOne(db, AuditRecord.select(max(A.at)).filter(A.action == "help.acknowledged")) ?? 0
            let pending = AuditRecord.filter(A.action == "help.requested" && A.at > ack)
            let n = try pending.fetchCount(db)
            let last = try Double.fetchOne(db, pending.select(max(A.at)))
            return (n, last.map { Date(timeIntervalSince1970: $0) })
        }
    }
}

// MARK: - Staff registry

public struct StaffRegistry: Sendable {
    public let database: OutboxDatabase
    let audit: AuditTrail
    let gate: DatabasePINGate

    public init(database: OutboxDatabase) {
        self.database = database
        audit = AuditTrail(database: database)
        gate = DatabasePINGate(database: database)
    }

    var pool: DatabasePool { database.pool }
    typealias S = StaffRecord.Columns

    static func digest(_ cipher: AtRestCipher, _ idNumber: String) -> String {
        cipher.lookupToken("staff:" + IDNumber.normalise(idNumber))
    }

    func member(_ r: StaffRecord, _ db: Database) throws -> StaffMember {
        let lock = try PINLockoutRecord.fetchOne(db, key: ["role": PINRole.staff.rawValue, "subject": r.staffId])
        return StaffMember(
            staffId: r.staffId, displayName: r.displayName, role: r.role, active: r.active,
            failures: lock?.failures ?? 0, lockedUntil: lock?.lockedUntil)
    }

    /// Adds (or replaces, same staff id) a staff member. `pinHash` comes from PINHash.make.
    public func add(staffId: String, name: String, role: StaffRole, idNumber: String, pinHash: String) async throws {
        guard staffId.range(of: "^[A-Za-z0-9-]{1,20}$", options: .regularExpression) != nil else {
            throw StaffError(
                "staff id \(staffId) is not allowed: use 1–20 letters, digits or '-' (a work number, never an ID number)"
            )
        }
        guard IDNumber.normalise(idNumber).count >= 15 else {
            throw StaffError("the staff member's ID number looks incomplete")
        }
        guard PINHash.isWellFormed(pinHash) else { throw StaffError("not a PIN hash") }
        let masked = Mask.name(name)
        let digest = Self.digest(database.cipher, idNumber)
        let now = database.clock.now
        try await pool.write { db in
            if let other = try StaffRecord.filter(S.idDigest == digest && S.staffId != staffId).fetchOne(db) {
                throw StaffError("this ID card is already registered as staff \(other.staffId)")
            }
            var r =
                try StaffRecord.fetchOne(db, key: staffId)
                ?? StaffRecord(
                    staffId: staffId, displayName: masked, role: role, idDigest: digest, pinHash: pinHash, active: true,
                    createdAt: now)
            r.displayName = masked
            r.role = role
            r.idDigest = digest
            r.pinHash = pinHash
            r.active = true
            try r.save(db)
            try PINLockoutRecord.filter(key: ["role": PINRole.staff.rawValue, "subject": staffId]).deleteAll(db)
            try AuditTrail.append(
                db, at: now.timeIntervalSince1970, actor: "system", action: "staff.registered", subject: staffId,
                detail: role.rawValue)
        }
    }

    public func list() throws -> [StaffMember] {
        try pool.read { db in try StaffRecord.order(S.staffId).fetchAll(db).map { try member($0, db) } }
    }

    /// Disables (false) or re-enables a staff member; returns false when there is no such id.
    @discardableResult
    public func setActive(_ staffId: String, _ active: Bool) async throws -> Bool {
        let t = database.clock.now.timeIntervalSince1970
        return try await pool.write { db -> Bool in
            let changed = try StaffRecord.filter(key: staffId).updateAll(db, S.active.set(to: active)) > 0
            if changed {
                try AuditTrail.append(
                    db, at: t, actor: "system", action: active ? "staff.enabled" : "staff.disabled", subject: staffId,
                    detail: nil)
            }
            return changed
        }
    }

    /// Clears a lockout; returns false when there is no such id.
    @discardableResult
    public func unlock(_ staffId: String) async throws -> Bool {
        let exists = try await pool.read { db in try StaffRecord.exists(db, key: staffId) }
        guard exists else { return false }
        try await gate.unlock(role: .staff, subject: staffId)
        try await audit.append(actor: "system", action: "staff.unlocked", subject: staffId)
        return true
    }

    /// The staff member whose ID card this is (nil for anyone else).
    public func member(forIDNumber idNumber: String) throws -> StaffMember? {
        let digest = Self.digest(database.cipher, idNumber)
        return try pool.read { db in
            try StaffRecord.filter(S.idDigest == digest).fetchOne(db).map { try member($0, db) }
        }
    }

    /// Checks a staff PIN through the PIN gate (the slow KDF runs on its own queue). Failures are
    /// counted in the database, so a restart does not reset them. Every attempt is audited (never the PIN).
    public func signIn(staffId: String, pin: String) async throws -> StaffSignInResult {
        guard let r = try await pool.read({ db in try StaffRecord.fetchOne(db, key: staffId) }) else {
            try await audit.append(actor: "unknown", action: "staff.signin.unknown")
            return .unknown
        }
        if !r.active {
            try await audit.append(actor: staffId, action: "staff.signin.refused", detail: "disabled")
            return .inactive
        }
        let policy = PINRole.staff.policy
        switch try await gate.check(role: .staff, subject: staffId, pin: pin, against: r.pinHash) {
        case .accepted:
            try await audit.append(actor: staffId, action: "staff.signin")
            return .signedIn(
                StaffMember(staffId: r.staffId, displayName: r.displayName, role: r.role, active: r.active))
        case .lockedOut(let until, let byThisAttempt):
            if byThisAttempt {
                try await audit.append(
                    actor: staffId, action: "staff.lockout", detail: "\(policy.maxFailures) wrong PINs")
            } else {
                try await audit.append(actor: staffId, action: "staff.signin.refused", detail: "locked out")
            }
            return .lockedOut(until: until)
        case .wrong(let failures, let attemptsLeft):
            try await audit.append(
                actor: staffId, action: "staff.signin.failed", detail: "wrong PIN \(failures)/\(policy.maxFailures)")
            return .wrongPIN(attemptsLeft: attemptsLeft)
        }
    }
}

// MARK: - Out of service

/// The kiosk's out-of-service notice (暂停服务), set by staff or `kioskctl service`.
public struct ServiceStateStore: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }
    static let outOfServiceKey = "out_of_service_notice"

    /// Takes the kiosk out of service with a notice for residents (nil: back in service). Audited.
    public func setOutOfService(notice: String?, by actor: String) async throws {
        let now = database.clock.now
        try await database.pool.write { db in
            if let notice {
                try SettingRecord(key: Self.outOfServiceKey, value: notice, updatedAt: now).save(db)
            } else {
                _ = try SettingRecord.deleteOne(db, key: Self.outOfServiceKey)
            }
            try AuditTrail.append(
                db, at: now.timeIntervalSince1970, actor: actor,
                action: notice == nil ? "service.resumed" : "service.suspended",
                subject: nil, detail: notice)
        }
    }

    /// The out-of-service notice, when the kiosk is out of service.
    public func outOfServiceNotice() throws -> String? {
        try database.pool.read { db in try SettingRecord.fetchOne(db, key: Self.outOfServiceKey)?.value }
    }
}

// MARK: - Device history

/// Device states over time, for the ledger's downtime.
public struct DeviceHistory: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }
    typealias D = DeviceEventRecord.Columns

    /// Records a device's state when it differs from the last one recorded for that device.
    public func record(kind: String, state: String, usable: Bool, at: Date? = nil) async throws {
        let t = at ?? database.clock.now
        try await database.pool.write { db in
            let last = try DeviceEventRecord.filter(D.kind == kind).order(D.at.desc, D.id.desc).fetchOne(db)
            if let last, last.state == state, last.usable == usable { return }
            let e = DeviceEventRecord(id: nil, kind: kind, state: state, usable: usable, at: t)
            try e.insert(db)
        }
    }

    /// Every recorded event of a device, oldest first.
    public func events(kind: String) throws -> [(state: String, usable: Bool, at: Date)] {
        try database.pool.read { db in
            try DeviceEventRecord.filter(D.kind == kind).order(D.at, D.id).fetchAll(db).map {
                ($0.state, $0.usable, $0.at)
            }
        }
    }
}
