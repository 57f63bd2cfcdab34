// Evaluations (好差评), station heartbeats and certificates (证照) on the reference intake.
//
//   POST /v1/evaluations                           201/200 MessageReceipt; 400, 401, 403, 409
//   POST /v1/stations/{stationId}/heartbeats       201/200 MessageReceipt; 400, 401, 403
//   GET  /v1/certificates/{ref}                    200 bytes (+ X-Content-SHA256); 401, 404
//   POST /v1/admin/submissions/{id}/certificate    200 SubmissionStatusReply (admin; body = the file)

import Foundation
import GRDB
import Hummingbird
import KioskProtocols
import Logging

public enum MessagePutOutcome: Sendable, Equatable {
    case created(MessageReceipt)
    case identical(MessageReceipt)
    case conflict
}

extension IntakeStore {
    static func registerMessageMigration(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-messages-certificates") { db in
            try db.execute(
                sql: """
                    CREATE TABLE evaluations (
                        id TEXT PRIMARY KEY NOT NULL, station_id TEXT NOT NULL, case_number TEXT NOT NULL,
                        level INTEGER NOT NULL, body_sha256 TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL);
                    CREATE TABLE heartbeats (
                        id TEXT PRIMARY KEY NOT NULL, station_id TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                        body TEXT NOT NULL, received_at TEXT NOT NULL);
                    CREATE INDEX heartbeats_station ON heartbeats(station_id, received_at);
                    CREATE TABLE certificates (
                        ref TEXT PRIMARY KEY NOT NULL, submission_id TEXT NOT NULL UNIQUE, content_type TEXT NOT NULL,
                        size INTEGER NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL);
                    """)
        }
    }

    private func putMessage(
        table: String, id: String, stationId: String, extra: [String: (any DatabaseValueConvertible)?],
        canonical: Data
    ) throws -> MessagePutOutcome {
        let sha = IntakeDigest.sha256Hex(canonical)
        let now = IntakeClock.timestamp()
        return try dbPool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT body_sha256, received_at FROM \(table) WHERE id = ?", arguments: [id])
            {
                let r = MessageReceipt(id: id, receivedAt: row["received_at"])
                return (row["body_sha256"] as String) == sha ? .identical(r) : .conflict
            }
            var cols = ["id", "station_id", "body_sha256", "body", "received_at"]
            var vals: [(any DatabaseValueConvertible)?] = [
                id, stationId, sha, String(decoding: canonical, as: UTF8.self), now,
            ]
            for (k, v) in extra.sorted(by: { $0.key < $1.key }) {
                cols.append(k)
                vals.append(v)
            }
            try db.execute(
                sql:
                    "INSERT INTO \(table) (\(cols.joined(separator: ", "))) VALUES (\(cols.map { _ in "?" }.joined(separator: ", ")))",
                arguments: StatementArguments(vals))
            return .created(MessageReceipt(id: id, receivedAt: now))
        }
    }

    public func putEvaluation(_ e: EvaluationReport) throws -> MessagePutOutcome {
        try putMessage(
            table: "evaluations", id: e.evaluationId, stationId: e.stationId,
            extra: ["case_number": e.caseNumber, "level": e.level], canonical: try Self.canonical(e))
    }

    public func putHeartbeat(_ h: StationHeartbeat) throws -> MessagePutOutcome {
        try putMessage(
            table: "heartbeats", id: h.heartbeatId, stationId: h.stationId, extra: [:], canonical: try Self.canonical(h)
        )
    }

    static func canonical(_ v: some Encodable) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(v)
    }

    public func evaluations() throws -> [EvaluationReport] {
        try dbPool.read { db in
            try String.fetchAll(db, sql: "SELECT body FROM evaluations ORDER BY received_at, id")
        }.compactMap { try? JSONDecoder().decode(EvaluationReport.self, from: Data($0.utf8)) }
    }

    public func heartbeats(stationId: String) throws -> [StationHeartbeat] {
        try dbPool.read { db in
            try String.fetchAll(
                db, sql: "SELECT body FROM heartbeats WHERE station_id = ? ORDER BY received_at, id",
                arguments: [stationId])
        }.compactMap { try? JSONDecoder().decode(StationHeartbeat.self, from: Data($0.utf8)) }
    }

    /// Stores a certificate file for a submission and moves it to `certificateReady`.
    public func attachCertificate(submissionId: String, data: Data, contentType: String, note: String?) throws
        -> SubmissionStatusReply?
    {
        guard try status(submissionId: submissionId) != nil else { return nil }
        let f = try Self.writeCertificateFile(dataDirectory: dataDirectory, submissionId: submissionId, data: data)
        try upsertCertificate(
            ref: f.ref, submissionId: submissionId, contentType: contentType, size: f.size, sha256: f.sha256,
            path: f.path)
        _ = try setState(submissionId: submissionId, state: .certificateReady, note: note)
        return try status(submissionId: submissionId)
    }

    public func upsertCertificate(
        ref: String, submissionId: String, contentType: String, size: Int, sha256: String, path: String
    ) throws {
        try dbPool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO certificates (ref, submission_id, content_type, size, sha256, path) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(submission_id) DO UPDATE SET ref = excluded.ref, content_type = excluded.content_type,
                      size = excluded.size, sha256 = excluded.sha256, path = excluded.path
                    """, arguments: [ref, submissionId, contentType, size, sha256, path])
        }
    }

    public func latestHeartbeats() throws -> [StationLastHeartbeat] {
        let rows = try dbPool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT h.station_id, h.received_at, h.body FROM heartbeats h
                    WHERE h.id = (SELECT id FROM heartbeats x WHERE x.station_id = h.station_id ORDER BY x.received_at DESC, x.id DESC LIMIT 1)
                    ORDER BY h.station_id
                    """)
        }
        return rows.compactMap { row in
            let body: String = row["body"]
            guard let hb = try? JSONDecoder().decode(StationHeartbeat.self, from: Data(body.utf8)) else { return nil }
            return StationLastHeartbeat(stationId: row["station_id"], receivedAt: row["received_at"], heartbeat: hb)
        }
    }

    public func knownStations() throws -> [String] {
        try dbPool.read { db in
            try String.fetchAll(
                db, sql: "SELECT station_id FROM submissions UNION SELECT station_id FROM heartbeats ORDER BY 1")
        }
    }

    public func certificate(submissionId: String) throws -> CertificateRef? {
        try dbPool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM certificates WHERE submission_id = ?", arguments: [submissionId])
                .map {
                    CertificateRef(
                        ref: $0["ref"], contentType: $0["content_type"], size: $0["size"], sha256: $0["sha256"])
                }
        }
    }

    public func certificateFile(ref: String) throws -> (ref: CertificateRef, path: String, submissionId: String)? {
        try dbPool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM certificates WHERE ref = ?", arguments: [ref]).map {
                (
                    CertificateRef(
                        ref: $0["ref"], contentType: $0["content_type"], size: $0["size"], sha256: $0["sha256"]),
                    dataDirectory + "/" + ($0["path"] as String), $0["submission_id"]
                )
            }
        }
    }
}

struct MessageRoutes: Sendable {
    let configuration: IntakeConfiguration
    let store: any IntakeStorage
    let logger: Logger

    func register(on router: Router<IntakeRequestContext>, auth: StationAuthMiddleware) {
        let g = router.group("/v1").add(middleware: auth)
        g.post("evaluations") { request, context in try await self.evaluation(request, context) }
        g.post("stations/{station}/heartbeats") { request, context in try await self.heartbeat(request, context) }
        g.get("certificates/{ref}") { request, context in try await self.certificate(request, context) }
    }

    func registerAdmin(on admin: RouterGroup<IntakeRequestContext>) {
        admin.post("submissions/{id}/certificate") { request, context in try await self.attach(request, context) }
    }

    private func body<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int = 64 * 1024) async throws -> T {
        var collected = ByteBuffer()
        for try await var part in request.body {
            guard collected.readableBytes + part.readableBytes <= limit else {
                throw IntakeError(.contentTooLarge, "too-large", "The body is larger than \(limit) bytes.")
            }
            collected.writeBuffer(&part)
        }
        do { return try JSONDecoder().decode(T.self, from: Data(collected.readableBytesView)) } catch let e
            as DecodingError
        {
            throw IntakeError.badRequest(
                "invalid-body", "The body is not a valid \(T.self): \(IntakeRoutes.describe(e)).")
        }
    }

    private func checkStation(_ claimed: String, _ context: IntakeRequestContext) throws {
        if let own = context.stationId, own != claimed {
            throw IntakeError(.forbidden, "wrong-station", "This token belongs to station \(own), not \(claimed).")
        }
    }

    private func reply(_ outcome: MessagePutOutcome, what: String) throws -> Response {
        switch outcome {
        case .created(let r): return jsonResponse(status: .created, r)
        case .identical(let r): return jsonResponse(status: .ok, r)
        case .conflict:
            throw IntakeError(
                .conflict, "conflict",
                "A different \(what) with this id was already received. Ids are used once: send changed data under a new id."
            )
        }
    }

    func evaluation(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let e = try await body(EvaluationReport.self, request)
        guard IntakeIdentifier.isValid(e.evaluationId) else {
            throw IntakeError.badRequest("invalid-id", "evaluationId must be [A-Za-z0-9._-]{1,64}.")
        }
        guard (1...5).contains(e.level) else {
            throw IntakeError.badRequest("invalid-body", "level must be 1 (非常不满意) … 5 (非常满意).")
        }
        // A rating of an application names its case; other services (guide, progress, pick-up) may not have one.
        guard !e.caseNumber.isEmpty || (e.service != nil && e.service != "apply") else {
            throw IntakeError.badRequest(
                "invalid-body", "caseNumber is empty (only ratings of a service other than apply may leave it out).")
        }
        try checkStation(e.stationId, context)
        let out = try await store.putEvaluation(e)
        logger.info("evaluation received", metadata: ["case": "\(e.caseNumber)", "level": "\(e.level)"])
        return try reply(out, what: "evaluation")
    }

    func heartbeat(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let station = context.parameters.get("station") ?? ""
        let h = try await body(StationHeartbeat.self, request)
        guard IntakeIdentifier.isValid(h.heartbeatId) else {
            throw IntakeError.badRequest("invalid-id", "heartbeatId must be [A-Za-z0-9._-]{1,64}.")
        }
        guard h.stationId == station else {
            throw IntakeError.badRequest(
                "id-mismatch", "The heartbeat's stationId \(h.stationId) differs from the URL's \(station).")
        }
        try checkStation(station, context)
        return try reply(try await store.putHeartbeat(h), what: "heartbeat")
    }

    func certificate(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let ref = context.parameters.get("ref") ?? ""
        let found = IntakeIdentifier.isValid(ref) ? try await store.certificateFile(ref: ref) : nil
        let owned = if let found { try await store.owns(found.submissionId, context) } else { false }
        guard let c = found, owned,
            let data = FileManager.default.contents(atPath: c.path)
        else {
            throw IntakeError.notFound("No certificate \(context.parameters.get("ref") ?? "") for this station.")
        }
        var h = HTTPFields()
        h[.contentType] = c.ref.contentType
        h[named: IntakeAPI.sha256Header] = c.ref.sha256
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func attach(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id"), IntakeIdentifier.isValid(id) else {
            throw IntakeError.badRequest("invalid-id", "Bad submission id.")
        }
        var collected = ByteBuffer()
        for try await var part in request.body {
            guard collected.readableBytes + part.readableBytes <= configuration.maxAttachmentBytes else {
                throw IntakeError(.contentTooLarge, "too-large", "The certificate is larger than the intake accepts.")
            }
            collected.writeBuffer(&part)
        }
        let ct = request.headers[.contentType] ?? "application/pdf"
        guard
            let st = try await store.issueCertificate(
                submissionId: id, data: Data(collected.readableBytesView), contentType: ct,
                note: request.uri.queryParameters.get("note").map { String($0) })
        else {
            throw IntakeError.notFound("No submission \(id) is stored.")
        }
        logger.info("certificate attached", metadata: ["submission": "\(id)", "size": "\(collected.readableBytes)"])
        return jsonResponse(status: .ok, st)
    }
}
