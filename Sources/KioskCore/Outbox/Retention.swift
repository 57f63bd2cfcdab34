import Foundation
import GRDB

/// Retention: personal data and files of confirmed submissions are deleted after the configured days.
public struct Retention: Sendable {
    public let database: OutboxDatabase
    public init(database: OutboxDatabase) { self.database = database }
    var pool: DatabasePool { database.pool }

    /// Deletes personal data, attachment files and certificates of submissions the upstream
    /// confirmed more than `days` ago (and whose certificate, if any, was collected). The row
    /// stays (case number, item, state) with its keyed ID digest so the resident can still see
    /// progress. Returns the number purged.
    @discardableResult
    public func purgeConfirmed(olderThanDays days: Double) async throws -> Int {
        let now = database.clock.now
        let cutoff = now.addingTimeInterval(-days * 86_400)
        let ids = try await pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM submission WHERE state = 'uploaded' AND purged_at IS NULL AND uploaded_at IS NOT NULL AND uploaded_at <= ?
                    AND id NOT IN (SELECT submission_id FROM certificate WHERE collected_at IS NULL)
                    """, arguments: [cutoff.timeIntervalSince1970])
        }
        let attachments = database.attachmentsDirectory
        let certificates = database.certificatesDirectory
        for id in ids {
            // Rows first (the blob is what holds the data), then files; a crash in between leaves
            // only files of a purged row, removed on the next pass.
            try await pool.write { db in
                try SubmissionRecord.filter(key: id).updateAll(
                    db, SubmissionRecord.Columns.personal.set(to: Data()),
                    SubmissionRecord.Columns.purgedAt.set(to: now.timeIntervalSince1970))
                try CertificateFileRecord.filter(key: id).updateAll(db, CertificateFileRecord.Columns.file.set(to: nil))
            }
            try await FileSync.run {
                try? FileManager.default.removeItem(atPath: attachments + "/" + id)
                try? FileManager.default.removeItem(atPath: certificates + "/" + id + ".enc")
            }
        }
        if !ids.isEmpty {
            try? await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        // The seal log's copies of purged submissions go too (segments of earlier days).
        let database = self.database
        // Best effort (a full disk cannot rewrite a segment): the next pass or start tries again.
        _ = try? await FileSync.run { try database.compactSealLog() }
        return ids.count
    }
}
