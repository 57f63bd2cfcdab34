import Foundation
import Logging

/// The stores of one outbox database, built once by whoever opens it (kioskd, kioskctl, the
/// benchmark, tests). Each store owns one concern; they share the database and its pool.
public struct OutboxStores: Sendable {
    public let database: OutboxDatabase
    public let submissions: SubmissionStore
    public let uploads: UploadQueue
    public let messages: MessageQueue
    public let certificates: CertificateStore
    public let staff: StaffRegistry
    public let audit: AuditTrail
    public let devices: DeviceHistory
    public let service: ServiceStateStore
    public let ledger: LedgerStore
    public let retention: Retention
    public let pinGate: DatabasePINGate

    public init(database: OutboxDatabase, stationId: String, casePrefix: String) {
        self.database = database
        submissions = SubmissionStore(database: database, stationId: stationId, casePrefix: casePrefix)
        uploads = UploadQueue(database: database)
        messages = MessageQueue(database: database, stationId: stationId)
        certificates = CertificateStore(database: database)
        staff = StaffRegistry(database: database)
        audit = AuditTrail(database: database)
        devices = DeviceHistory(database: database)
        service = ServiceStateStore(database: database)
        ledger = LedgerStore(database: database, stationId: stationId)
        retention = Retention(database: database)
        pinGate = DatabasePINGate(database: database)
    }

    /// Opens the database in `stateDirectory` and builds its stores.
    public init(
        stateDirectory: String, cipher: AtRestCipher, stationId: String, casePrefix: String,
        clock: StationClock = .system,
        readOnly: Bool = false, minFreeBytes: Int64 = 0, cleanOrphans: Bool = true, allowFresh: Bool = false
    ) throws {
        self.init(
            database: try OutboxDatabase(
                stateDirectory: stateDirectory, cipher: cipher, clock: clock, readOnly: readOnly,
                minFreeBytes: minFreeBytes, cleanOrphans: cleanOrphans, stationId: stationId,
                allowFresh: allowFresh),
            stationId: stationId, casePrefix: casePrefix)
    }

    /// The certificate desk over these stores.
    public func certificateDesk(logger: Logger) -> StoreCertificateDesk {
        StoreCertificateDesk(database: database, logger: logger)
    }
}
