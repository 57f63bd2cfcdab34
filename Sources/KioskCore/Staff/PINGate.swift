import Foundation
import GRDB

/// Whose PIN is checked. Each role has its own lockout policy, here and nowhere else.
public enum PINRole: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// Township staff and village agents, one counter per staff id.
    case staff
    /// The technician (维护) PIN of the config; one counter for the kiosk.
    case technician

    public var policy: PINPolicy {
        switch self {
        case .staff: return PINPolicy(maxFailures: 5, lockoutSeconds: 15 * 60)
        case .technician: return PINPolicy(maxFailures: 3, lockoutSeconds: 5 * 60)
        }
    }
}

/// Wrong PINs in a row before a lockout, and how long it lasts.
public struct PINPolicy: Sendable, Equatable {
    public var maxFailures: Int
    public var lockoutSeconds: Double
}

/// The outcome of one PIN check.
public enum PINCheckResult: Sendable, Equatable {
    case accepted
    /// Wrong; `failures` in a row so far, `attemptsLeft` before the lockout.
    case wrong(failures: Int, attemptsLeft: Int)
    /// Locked out until `until`; `byThisAttempt` when this wrong PIN started the lockout.
    case lockedOut(until: Date, byThisAttempt: Bool)
}

/// One gate for every PIN the kiosk checks (staff and technician): verifies against a PBKDF2
/// hash and counts failures persistently, so a restart does not reset a lockout.
public protocol PINGate: Sendable {
    func check(role: PINRole, subject: String, pin: String, against hash: String) async throws -> PINCheckResult
    func unlock(role: PINRole, subject: String) async throws
    /// The lockout in force for `subject`, if any.
    func lockedUntil(role: PINRole, subject: String) throws -> Date?
}

/// The PIN gate backed by the outbox database (`pin_lockout`). The slow KDF runs on a dedicated
/// queue, never on the cooperative pool.
public struct DatabasePINGate: PINGate {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }

    /// The subject of the kiosk's technician PIN.
    public static let technicianSubject = "technician"

    public func lockedUntil(role: PINRole, subject: String) throws -> Date? {
        let now = database.clock.now
        let r = try database.pool.read { db in
            try PINLockoutRecord.fetchOne(db, key: ["role": role.rawValue, "subject": subject])
        }
        guard let until = r?.lockedUntil, until > now else { return nil }
        return until
    }

    public func check(role: PINRole, subject: String, pin: String, against hash: String) async throws -> PINCheckResult
    {
        let policy = role.policy
        let now = database.clock.now
        if let until = try lockedUntil(role: role, subject: subject) {
            return .lockedOut(until: until, byThisAttempt: false)
        }
        let ok = await FileSync.compute(on: FileSync.kdf) { PINHash.verify(pin: pin, against: hash) }
        return try await database.pool.write { db -> PINCheckResult in
            let current = try PINLockoutRecord.fetchOne(db, key: ["role": role.rawValue, "subject": subject])
            // Checked again in the write transaction: attempts typed while earlier ones were still
            // being hashed must not get past a lockout those earlier ones set (not even the right PIN).
            if let until = current?.lockedUntil, until > now { return .lockedOut(until: until, byThisAttempt: false) }
            if ok {
                try PINLockoutRecord.filter(key: ["role": role.rawValue, "subject": subject]).deleteAll(db)
                return .accepted
            }
            // A lockout that has run out starts a fresh count.
            let previous = current?.lockedUntil != nil ? 0 : (current?.failures ?? 0)
            let failures = previous + 1
            if failures >= policy.maxFailures {
                let until = now.addingTimeInterval(policy.lockoutSeconds)
                try PINLockoutRecord(role: role, subject: subject, failures: failures, lockedUntil: until).save(db)
                return .lockedOut(until: until, byThisAttempt: true)
            }
            try PINLockoutRecord(role: role, subject: subject, failures: failures, lockedUntil: nil).save(db)
            return .wrong(failures: failures, attemptsLeft: policy.maxFailures - failures)
        }
    }

    public func unlock(role: PINRole, subject: String) async throws {
        _ = try await database.pool.write { db in
            try PINLockoutRecord.filter(key: ["role": role.rawValue, "subject": subject]).deleteAll(db)
        }
    }
}
