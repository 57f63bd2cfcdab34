// The intake's store on PostgreSQL (postgres-nio), for a county that runs several intake nodes
// behind a proxy. Every node opens the same database and the same shared data directory.
//
// What keeps the nodes consistent:
//   - manifests and attachments of one submission are written under a transaction-scoped
//     advisory lock on the submission id, so two nodes never decide differently about the same id;
//   - case numbers are unique per station by a constraint (submissions_station_case);
//   - tus upload state (length, offset, completion) is a row, and a PATCH appends only while it
//     holds a session advisory lock on the upload id: the offset it checks is the one the last
//     PATCH left on whichever node, and a node that dies drops its connection and so its lock.

import Crypto
import Foundation
import Hummingbird
import Logging
import NIOSSL
import PostgresNIO

public final class PostgresIntakeStore: IntakeStorage {
    public let dataDirectory: String
    public var engine: String { "postgres" }
    let client: PostgresClient
    private let logger: Logger
    private let localLocks = TusLocks()
    /// How long a PATCH waits for another node's PATCH on the same upload before answering 423.
    let uploadLockWait: Duration

    /// Connection settings from a URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`
    /// or `postgres:///DATABASE?host=/run/postgresql` for a Unix socket.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw PostgresStoreError.badURL(
                "\(redacted(url)) is not a postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
        }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !database.isEmpty else {
            throw PostgresStoreError.badURL("\(redacted(url)) names no database (…/DATABASE at the end)")
        }
        let user = c.user ?? "postgres"
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            let port = c.port ?? 5432
            return .init(
                unixSocketPath: "\(socketDir)/.s.PGSQL.\(port)", username: user, password: c.password,
                database: database)
        }
        guard let host = c.host, !host.isEmpty else {
            throw PostgresStoreError.badURL("\(redacted(url)) names no host")
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        case let other: throw PostgresStoreError.badURL("sslmode=\(other) is not one of disable, prefer, require")
        }
        return .init(
            host: host, port: c.port ?? 5432, username: user, password: c.password, database: database, tls: tls)
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "the --postgres URL" }
        if c.password != nil { c.password = "***" }
        return c.string ?? "the --postgres URL"
    }

    /// A store over `client` (which the caller runs, e.g. in a ServiceGroup) and the shared
    /// `dataDirectory`. Call `migrate()` once the client runs.
    public init(client: PostgresClient, dataDirectory: String, logger: Logger, uploadLockWait: Duration = .seconds(60))
        throws
    {
        let dir = (dataDirectory as NSString).standardizingPath
        self.dataDirectory = dir
        self.client = client
        self.logger = logger
        self.uploadLockWait = uploadLockWait
        try Self.prepareDataDirectory(dir)
        // Shared directory: only staging files nobody has written for an hour are leftovers.
        Self.clearStaging(dir, olderThan: 3600)
    }

    // MARK: Schema

    private static let schema: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS submissions (
            id TEXT PRIMARY KEY, case_number TEXT NOT NULL, station_id TEXT NOT NULL, item_code TEXT NOT NULL,
            manifest_json TEXT NOT NULL, manifest_sha256 TEXT NOT NULL, state TEXT NOT NULL,
            received_at TEXT NOT NULL, updated_at TEXT NOT NULL, note TEXT,
            CONSTRAINT submissions_station_case UNIQUE (station_id, case_number))
        """,
        "CREATE INDEX IF NOT EXISTS submissions_station ON submissions(station_id, received_at)",
        """
        CREATE TABLE IF NOT EXISTS attachments (
            submission_id TEXT NOT NULL, name TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL,
            PRIMARY KEY (submission_id, name))
        """,
        """
        CREATE TABLE IF NOT EXISTS tus_uploads (
            id TEXT PRIMARY KEY, length BIGINT NOT NULL, upload_offset BIGINT NOT NULL DEFAULT 0, metadata TEXT NOT NULL,
            submission_id TEXT, name TEXT, sha256 TEXT, station_id TEXT,
            created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, completed BOOLEAN NOT NULL DEFAULT FALSE)
        """,
        "CREATE INDEX IF NOT EXISTS tus_uploads_expiry ON tus_uploads(completed, expires_at)",
        """
        CREATE TABLE IF NOT EXISTS evaluations (
            id TEXT PRIMARY KEY, station_id TEXT NOT NULL, case_number TEXT NOT NULL, level INTEGER NOT NULL,
            body_sha256 TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS heartbeats (
            id TEXT PRIMARY KEY, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS heartbeats_station ON heartbeats(station_id, received_at)",
        """
        CREATE TABLE IF NOT EXISTS certificates (
            ref TEXT PRIMARY KEY, submission_id TEXT NOT NULL UNIQUE, content_type TEXT NOT NULL,
            size BIGINT NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS submission_owners (
            submission_id TEXT PRIMARY KEY, station_id TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL)
        """,
        // Earlier data names its owners through manifests and uploads made with a station's token.
        """
        INSERT INTO submission_owners (submission_id, station_id, claimed_at)
        SELECT id, station_id, 0 FROM submissions ON CONFLICT (submission_id) DO NOTHING
        """,
        """
        INSERT INTO submission_owners (submission_id, station_id, claimed_at)
        SELECT DISTINCT ON (submission_id) submission_id, station_id, created_at FROM tus_uploads
        WHERE submission_id IS NOT NULL AND station_id IS NOT NULL ORDER BY submission_id, created_at
        ON CONFLICT (submission_id) DO NOTHING
        """,
    ]

    /// Creates the tables if missing. Nodes starting together take turns (an advisory lock).
    /// A database that cannot be reached or used within `timeout` is a clear error, not a hang.
    public func migrate(timeout: Duration = .seconds(30)) async throws {
        let client = self.client
        let logger = self.logger
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await client.withTransaction(logger: logger) { conn in
                        try await conn.query(
                            "SELECT pg_advisory_xact_lock(\(Self.lockKey("schema", "kiosk-intake")))", logger: logger)
                        for statement in Self.schema + [Self.helpSchema, Self.followUpSchema, Self.notificationSchema] {
                            try await conn.query(statement, logger: logger)
                        }
                    }
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                let finished = try await group.next() ?? false
                group.cancelAll()
                if !finished { throw PostgresStoreError.unavailable("no answer within \(timeout)") }
            }
        } catch let error as PSQLError {
            let server = error.serverInfo?[.message].map { ": " + $0 } ?? ""
            throw PostgresStoreError.unavailable("\(error.code)\(server)")
        }
    }

    /// A 64-bit advisory lock key for `id` in a namespace (the first 8 bytes of a SHA-256).
    static func lockKey(_ namespace: String, _ id: String) -> Int64 {
        let digest = Array(SHA256.hash(data: Array((namespace + ":" + id).utf8)))
        var v: UInt64 = 0
        for b in digest.prefix(8) { v = v << 8 | UInt64(b) }
        return Int64(bitPattern: v)
    }

    private func rows(_ q: PostgresQuery) async throws -> [PostgresRow] {
        try await client.query(q, logger: logger).collect()
    }

    // MARK: Attachments

    public func commitAttachment(
        submissionId: String, name: String, file: String, discard: @Sendable () -> Void, size: Int, sha256: String
    )
        async throws -> AttachmentPutOutcome
    {
        precondition(IntakeIdentifier.isValid(submissionId) && IntakeIdentifier.isValid(name))
        let filesDirectory = self.filesDirectory
        let submissionDirectory = filesDirectory + "/" + submissionId
        let relativePath = "files/\(submissionId)/\(name)"
        let finalPath = dataDirectory + "/" + relativePath
        let logger = self.logger
        var moved = false
        defer { if !moved { discard() } }
        return try await client.withTransaction(logger: logger) { conn -> AttachmentPutOutcome in
            try await conn.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockKey("submission", submissionId)))", logger: logger)
            for row in try await conn.query(
                "SELECT size, sha256 FROM attachments WHERE submission_id = \(submissionId) AND name = \(name)",
                logger: logger
            ).collect() {
                let (haveSize, haveSha) = try row.decode((Int, String).self)
                let existing = AttachmentReceipt(
                    submissionId: submissionId, name: name, size: haveSize, sha256: haveSha)
                return existing.sha256 == sha256 && existing.size == size
                    ? .identical(existing) : .conflict(existing: existing)
            }
            if try await !conn.query("SELECT 1 FROM submissions WHERE id = \(submissionId)", logger: logger).collect()
                .isEmpty
            {
                return .submissionClosed
            }
            try DurableFile.ensureDirectory(submissionDirectory, parent: filesDirectory)
            try DurableFile.rename(file, finalPath)
            moved = true
            try DurableFile.syncDirectory(submissionDirectory)
            try await conn.query(
                """
                INSERT INTO attachments (submission_id, name, size, sha256, path)
                VALUES (\(submissionId), \(name), \(size), \(sha256), \(relativePath))
                """, logger: logger)
            return .created(AttachmentReceipt(submissionId: submissionId, name: name, size: size, sha256: sha256))
        }
    }

    public func attachments(submissionId: String) async throws -> [AttachmentReceipt] {
        try await rows("SELECT name, size, sha256 FROM attachments WHERE submission_id = \(submissionId) ORDER BY name")
            .map {
                let (name, size, sha) = try $0.decode((String, Int, String).self)
                return AttachmentReceipt(submissionId: submissionId, name: name, size: size, sha256: sha)
            }
    }

    public func attachmentPath(submissionId: String, name: String) async throws -> String? {
        try await rows("SELECT path FROM attachments WHERE submission_id = \(submissionId) AND name = \(name)")
            .first.map { try dataDirectory + "/" + $0.decode(String.self) }
    }

    // MARK: Manifests

    public func putManifest(_ manifest: SubmissionManifest, now: Date = Date()) async throws -> ManifestPutOutcome {
        let (json, sha) = try IntakeStore.canonicalJSON(manifest)
        let timestamp = IntakeClock.timestamp(now)
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { conn -> ManifestPutOutcome in
                try await conn.query(
                    "SELECT pg_advisory_xact_lock(\(Self.lockKey("submission", manifest.submissionId)))", logger: logger
                )
                for row in try await conn.query(
                    "SELECT case_number, manifest_sha256, received_at FROM submissions WHERE id = \(manifest.submissionId)",
                    logger: logger
                ).collect() {
                    let (caseNumber, storedSha, receivedAt) = try row.decode((String, String, String).self)
                    let receipt = SubmissionReceipt(
                        submissionId: manifest.submissionId, caseNumber: caseNumber, state: .received,
                        receivedAt: receivedAt)
                    return storedSha == sha ? .identical(receipt) : .conflict(existing: receipt)
                }
                var stored: [String: (size: Int, sha256: String)] = [:]
                for row in try await conn.query(
                    "SELECT name, size, sha256 FROM attachments WHERE submission_id = \(manifest.submissionId)",
                    logger: logger
                ).collect() {
                    let (name, size, s) = try row.decode((String, Int, String).self)
                    stored[name] = (size, s)
                }
                let problems = Self.attachmentProblems(manifest, stored: stored)
                if !problems.isEmpty { return .missingAttachments(problems) }
                if let row = try await conn.query(
                    "SELECT id FROM submissions WHERE station_id = \(manifest.stationId) AND case_number = \(manifest.caseNumber)",
                    logger: logger
                ).collect().first {
                    return .caseNumberTaken(caseNumber: manifest.caseNumber, submissionId: try row.decode(String.self))
                }
                try await conn.query(
                    """
                    INSERT INTO submissions (id, case_number, station_id, item_code, manifest_json, manifest_sha256,
                                             state, received_at, updated_at, note)
                    VALUES (\(manifest.submissionId), \(manifest.caseNumber), \(manifest.stationId), \(manifest.itemCode), \(json), \(sha),
                            \(UpstreamState.received.rawValue), \(timestamp), \(timestamp), NULL)
                    """, logger: logger)
                return .created(
                    SubmissionReceipt(
                        submissionId: manifest.submissionId, caseNumber: manifest.caseNumber,
                        state: .received, receivedAt: timestamp))
            }
        } catch let error as PSQLError
            where error.serverInfo?[.sqlState] == "23505"
            && error.serverInfo?[.constraintName] == "submissions_station_case"
        {
            // Another node stored another id with this case number between our check and our insert.
            let other =
                try await rows(
                    "SELECT id FROM submissions WHERE station_id = \(manifest.stationId) AND case_number = \(manifest.caseNumber)"
                ).first.map { try $0.decode(String.self) } ?? "?"
            return .caseNumberTaken(caseNumber: manifest.caseNumber, submissionId: other)
        }
    }

    public func manifest(submissionId: String) async throws -> SubmissionManifest? {
        guard let row = try await rows("SELECT manifest_json FROM submissions WHERE id = \(submissionId)").first else {
            return nil
        }
        return try JSONDecoder().decode(SubmissionManifest.self, from: Data(try row.decode(String.self).utf8))
    }

    // MARK: Status

    private static func statusReply(_ row: PostgresRow) throws -> SubmissionStatusReply {
        let (id, caseNumber, _, raw, updatedAt, note) = try row.decode(
            (String, String, String, String, String, String?).self)
        guard let state = UpstreamState(rawValue: raw) else { throw IntakeStoreError.corruptState(raw) }
        return SubmissionStatusReply(
            submissionId: id, caseNumber: caseNumber, state: state, updatedAt: updatedAt, note: note)
    }

    public func status(submissionId: String) async throws -> SubmissionStatusReply? {
        guard
            let row = try await rows(
                "SELECT id, case_number, station_id, state, updated_at, note FROM submissions WHERE id = \(submissionId)"
            ).first
        else { return nil }
        var reply = try Self.statusReply(row)
        reply.certificate = try await certificate(submissionId: submissionId)
        return reply
    }

    public func stationId(submissionId: String) async throws -> String? {
        try await rows("SELECT station_id FROM submissions WHERE id = \(submissionId)").first.map {
            try $0.decode(String.self)
        }
    }

    public func list(stationId: String) async throws -> [SubmissionStatusReply] {
        try await rows(
            """
            SELECT id, case_number, station_id, state, updated_at, note FROM submissions
            WHERE station_id = \(stationId) ORDER BY received_at, id
            """
        ).map(Self.statusReply)
    }

    public func setState(submissionId: String, state: UpstreamState, note: String?, now: Date = Date()) async throws
        -> SubmissionStatusReply?
    {
        let timestamp = IntakeClock.timestamp(now)
        return try await rows(
            """
            UPDATE submissions SET state = \(state.rawValue), note = \(note), updated_at = \(timestamp) WHERE id = \(submissionId)
            RETURNING id, case_number, station_id, state, updated_at, note
            """
        ).first.map(Self.statusReply)
    }

    public func summaries() async throws -> [StoredSubmissionSummary] {
        try await rows(
            """
            SELECT s.id, s.case_number, s.station_id, s.item_code, s.state, s.received_at, s.updated_at, s.note,
                   (SELECT COUNT(*) FROM attachments a WHERE a.submission_id = s.id) AS attachment_count
            FROM submissions s ORDER BY s.received_at, s.id
            """
        ).map { row in
            let (id, caseNumber, station, item, raw, receivedAt, updatedAt, note, count) =
                try row.decode((String, String, String, String, String, String, String, String?, Int).self)
            guard let state = UpstreamState(rawValue: raw) else { throw IntakeStoreError.corruptState(raw) }
            return StoredSubmissionSummary(
                submissionId: id, caseNumber: caseNumber, stationId: station, itemCode: item, state: state,
                attachmentCount: count, receivedAt: receivedAt, updatedAt: updatedAt, note: note)
        }
    }

    public func count() async throws -> Int {
        try await rows("SELECT COUNT(*) FROM submissions").first.map { try $0.decode(Int.self) } ?? 0
    }

    public func submissionExists(_ submissionId: String) async throws -> Bool {
        try await !rows("SELECT 1 FROM submissions WHERE id = \(submissionId)").isEmpty
    }

    public func claimSubmission(_ submissionId: String, stationId: String) async throws -> Bool {
        // One statement: two nodes claiming at once both see the single winner.
        let owner = try await rows(
            """
            WITH claimed AS (
                INSERT INTO submission_owners (submission_id, station_id, claimed_at)
                VALUES (\(submissionId), \(stationId), \(Date().timeIntervalSince1970))
                ON CONFLICT (submission_id) DO NOTHING RETURNING station_id)
            SELECT station_id FROM claimed UNION ALL
            SELECT station_id FROM submission_owners WHERE submission_id = \(submissionId)
            """
        ).first.map { try $0.decode(String.self) }
        // A claim committed by another node while this statement ran is outside its snapshot.
        if let owner { return owner == stationId }
        return try await submissionOwner(submissionId) == stationId
    }

    public func submissionOwner(_ submissionId: String) async throws -> String? {
        try await rows("SELECT station_id FROM submission_owners WHERE submission_id = \(submissionId)").first.map {
            try $0.decode(String.self)
        }
    }

    // MARK: tus

    public func tusUpload(id: String) async throws -> TusUpload? {
        try await rows(
            """
            SELECT id, length, upload_offset, metadata, submission_id, name, sha256, station_id, expires_at, completed
            FROM tus_uploads WHERE id = \(id)
            """
        ).first.map { row in
            let (id, length, offset, metadata, sid, name, sha, station, expires, completed) =
                try row.decode((String, Int, Int, String, String?, String?, String?, String?, Double, Bool).self)
            return TusUpload(
                id: id, length: length, offset: offset, metadata: metadata, submissionId: sid, name: name, sha256: sha,
                stationId: station, expiresAt: Date(timeIntervalSince1970: expires), completed: completed)
        }
    }

    public func openUploadCount() async throws -> Int {
        try await rows("SELECT COUNT(*) FROM tus_uploads WHERE completed = FALSE").first.map { try $0.decode(Int.self) }
            ?? 0
    }

    public func insertUpload(_ up: TusUpload) async throws {
        try await client.query(
            """
            INSERT INTO tus_uploads (id, length, upload_offset, metadata, submission_id, name, sha256, station_id,
                                     created_at, expires_at, completed)
            VALUES (\(up.id), \(up.length), \(up.offset), \(up.metadata), \(up.submissionId), \(up.name), \(up.sha256), \(up.stationId),
                    \(Date().timeIntervalSince1970), \(up.expiresAt.timeIntervalSince1970), \(up.completed))
            """, logger: logger)
    }

    public func setUploadOffset(id: String, offset: Int, completed: Bool) async throws {
        try await client.query(
            "UPDATE tus_uploads SET upload_offset = \(offset), completed = \(completed) WHERE id = \(id)",
            logger: logger)
    }

    public func deleteUploadRow(id: String) async throws {
        try await client.query("DELETE FROM tus_uploads WHERE id = \(id)", logger: logger)
    }

    public func expiredUploadIds(now: Date) async throws -> [String] {
        try await rows("SELECT id FROM tus_uploads WHERE expires_at < \(now.timeIntervalSince1970)").map {
            try $0.decode(String.self)
        }
    }

    /// One PATCH per upload across every node: a session advisory lock, held on one pooled
    /// connection while `body` runs (other queries use other connections). A node that dies loses
    /// its connection and PostgreSQL releases the lock.
    public func withUploadLock<T: Sendable>(id: String, _ body: @Sendable () async throws -> T) async throws -> T {
        await localLocks.lock(id)
        do {
            let r = try await withDatabaseUploadLock(id: id, body)
            await localLocks.unlock(id)
            return r
        } catch {
            await localLocks.unlock(id)
            throw error
        }
    }

    private func withDatabaseUploadLock<T: Sendable>(id: String, _ body: @Sendable () async throws -> T) async throws
        -> T
    {
        let key = Self.lockKey("tus", id)
        let logger = self.logger
        let wait = uploadLockWait
        return try await client.withConnection { conn in
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: wait)
            var pause = Duration.milliseconds(20)
            while true {
                let got =
                    try await conn.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).collect().first?.decode(
                        Bool.self) ?? false
                if got { break }
                guard clock.now < deadline else {
                    throw IntakeError(
                        HTTPResponseStatusLocked.status, "upload-busy",
                        "Another request is still writing to this upload. Wait a moment, HEAD the upload and continue from its Upload-Offset."
                    )
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            }
            do {
                let result = try await body()
                try await conn.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
                return result
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
                throw error
            }
        }
    }

    // MARK: Messages

    private func putMessage(
        table: String, id: String, stationId: String, canonical: Data,
        caseNumber: String? = nil, level: Int? = nil
    ) async throws -> MessagePutOutcome {
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        let body = String(decoding: canonical, as: UTF8.self)
        let inserted: [PostgresRow]
        if table == "evaluations" {
            inserted = try await rows(
                """
                INSERT INTO evaluations (id, station_id, case_number, level, body_sha256, body, received_at)
                VALUES (\(id), \(stationId), \(caseNumber ?? ""), \(level ?? 0), \(sha), \(body), \(now))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """)
        } else {
            inserted = try await rows(
                """
                INSERT INTO heartbeats (id, station_id, body_sha256, body, received_at)
                VALUES (\(id), \(stationId), \(sha), \(body), \(now))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """)
        }
        if !inserted.isEmpty { return .created(MessageReceipt(id: id, receivedAt: now)) }
        guard
            let row = try await rows("SELECT body_sha256, received_at FROM \(unescaped: table) WHERE id = \(id)").first
        else {
            return .conflict
        }
        let (storedSha, receivedAt) = try row.decode((String, String).self)
        return storedSha == sha ? .identical(MessageReceipt(id: id, receivedAt: receivedAt)) : .conflict
    }

    public func putEvaluation(_ e: EvaluationReport) async throws -> MessagePutOutcome {
        try await putMessage(
            table: "evaluations", id: e.evaluationId, stationId: e.stationId, canonical: try IntakeStore.canonical(e),
            caseNumber: e.caseNumber, level: e.level)
    }

    public func putHeartbeat(_ h: StationHeartbeat) async throws -> MessagePutOutcome {
        try await putMessage(
            table: "heartbeats", id: h.heartbeatId, stationId: h.stationId, canonical: try IntakeStore.canonical(h))
    }

    public func evaluations() async throws -> [EvaluationReport] {
        try await rows("SELECT body FROM evaluations ORDER BY received_at, id").compactMap {
            try? JSONDecoder().decode(EvaluationReport.self, from: Data(try $0.decode(String.self).utf8))
        }
    }

    public func heartbeats(stationId: String) async throws -> [StationHeartbeat] {
        try await rows("SELECT body FROM heartbeats WHERE station_id = \(stationId) ORDER BY received_at, id")
            .compactMap {
                try? JSONDecoder().decode(StationHeartbeat.self, from: Data(try $0.decode(String.self).utf8))
            }
    }

    public func latestHeartbeats() async throws -> [StationLastHeartbeat] {
        try await rows(
            """
            SELECT DISTINCT ON (station_id) station_id, received_at, body FROM heartbeats
            ORDER BY station_id, received_at DESC, id DESC
            """
        ).compactMap { row in
            let (station, receivedAt, body) = try row.decode((String, String, String).self)
            guard let hb = try? JSONDecoder().decode(StationHeartbeat.self, from: Data(body.utf8)) else { return nil }
            return StationLastHeartbeat(stationId: station, receivedAt: receivedAt, heartbeat: hb)
        }
    }

    public func knownStations() async throws -> [String] {
        try await rows("SELECT station_id FROM submissions UNION SELECT station_id FROM heartbeats ORDER BY 1").map {
            try $0.decode(String.self)
        }
    }

    // MARK: Certificates

    public func upsertCertificate(
        ref: String, submissionId: String, contentType: String, size: Int, sha256: String, path: String
    ) async throws {
        try await client.query(
            """
            INSERT INTO certificates (ref, submission_id, content_type, size, sha256, path)
            VALUES (\(ref), \(submissionId), \(contentType), \(size), \(sha256), \(path))
            ON CONFLICT (submission_id) DO UPDATE SET ref = EXCLUDED.ref, content_type = EXCLUDED.content_type,
              size = EXCLUDED.size, sha256 = EXCLUDED.sha256, path = EXCLUDED.path
            """, logger: logger)
    }

    public func certificate(submissionId: String) async throws -> CertificateRef? {
        try await rows("SELECT ref, content_type, size, sha256 FROM certificates WHERE submission_id = \(submissionId)")
            .first.map {
                let (ref, ct, size, sha) = try $0.decode((String, String, Int, String).self)
                return CertificateRef(ref: ref, contentType: ct, size: size, sha256: sha)
            }
    }

    public func certificateFile(ref: String) async throws -> (ref: CertificateRef, path: String, submissionId: String)?
    {
        try await rows(
            "SELECT ref, content_type, size, sha256, path, submission_id FROM certificates WHERE ref = \(ref)"
        ).first.map {
            let (r, ct, size, sha, path, sid) = try $0.decode((String, String, Int, String, String, String).self)
            return (CertificateRef(ref: r, contentType: ct, size: size, sha256: sha), dataDirectory + "/" + path, sid)
        }
    }
}

enum HTTPResponseStatusLocked {
    static let status = HTTPResponse.Status(code: 423, reasonPhrase: "Locked")
}

public enum PostgresStoreError: Error, CustomStringConvertible {
    case badURL(String)
    case unavailable(String)
    public var description: String {
        switch self {
        case .badURL(let m): "--postgres: \(m)"
        case .unavailable(let m):
            "the PostgreSQL database of --postgres cannot be used (\(m)); check that the server runs, the URL's host, port, user and database, and that the user may create tables"
        }
    }
}
