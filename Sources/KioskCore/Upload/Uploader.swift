import AsyncHTTPClient
import Foundation
import KioskProtocols
import Logging
import NIOCore
import NIOHTTP1

public struct UpstreamConfig: Sendable {
    public var baseURL: String
    public var token: String
    public var requestTimeoutSeconds: Int64
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    public var statusSyncSeconds: Double
    /// Bytes per tus PATCH (upstream.chunkBytes): small enough for buffering proxies, and the most
    /// that is sent again after an interruption.
    public var chunkSize: Int
    /// Optional cap on upload bandwidth (upstream.maxBytesPerSecond); nil = no cap.
    public var maxBytesPerSecond: Double?
    /// tus creation URL, relative to baseURL (upstream.tusPath) or absolute.
    public var tusPath: String
    /// Seconds between station heartbeats (0 = none).
    public var heartbeatSeconds: Double
    /// Days after upstream confirmation before local personal data and files are deleted.
    public var retentionDays: Double
    /// Station id, for heartbeats.
    public var stationId: String = ""
    public init(
        baseURL: String, token: String, requestTimeoutSeconds: Int64 = 30, initialBackoffSeconds: Double = 2,
        maxBackoffSeconds: Double = 300, statusSyncSeconds: Double = 60, chunkSize: Int = 256 * 1024,
        maxBytesPerSecond: Double? = nil, tusPath: String = "/v1/uploads", heartbeatSeconds: Double = 300,
        retentionDays: Double = 30
    ) {
        self.heartbeatSeconds = heartbeatSeconds
        self.retentionDays = retentionDays
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.statusSyncSeconds = statusSyncSeconds
        self.chunkSize = chunkSize
        self.maxBytesPerSecond = maxBytesPerSecond
        self.tusPath = tusPath
    }

    public var tusCreationURL: String {
        tusPath.hasPrefix("http://") || tusPath.hasPrefix("https://") ? tusPath : baseURL + tusPath
    }
}

/// How one upload attempt ended.
public enum UploadFailure: Error, CustomStringConvertible, Sendable {
    case transient(String, retryAfter: Double?)  // network down, 5xx, 429, captive portal: try again later
    case permanent(String)  // the upstream refuses this submission: quarantine
    case missingAttachments(String)  // upstream lost attachments: upload them again

    public var description: String {
        switch self {
        case .transient(let m, _), .permanent(let m), .missingAttachments(let m): return m
        }
    }
}

/// Talks the kiosk-intake protocol (IntakeAPI) over HTTP. Success is only what the protocol
/// defines: the right status code AND a JSON body of the expected shape.
public struct IntakeClient: Sendable {
    let http: HTTPClient
    let config: UpstreamConfig
    let clock: StationClock
    public let tus: TusClient

    public init(http: HTTPClient, config: UpstreamConfig, clock: StationClock = .system) {
        self.http = http
        self.config = config
        self.clock = clock
        tus = TusClient(
            http: http, creationURL: config.tusCreationURL, headers: [("Authorization", "Bearer \(config.token)")],
            chunkSize: config.chunkSize, timeoutSeconds: config.requestTimeoutSeconds,
            limiter: BandwidthLimiter(bytesPerSecond: config.maxBytesPerSecond), now: { clock.now })
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers extra: [(String, String)] = [])
        async throws(UploadFailure) -> (status: Int, headers: HTTPHeaders, body: Data)
    {
        var req = HTTPClientRequest(url: config.baseURL + path)
        req.method = method
        req.headers.add(name: "Authorization", value: "Bearer \(config.token)")
        req.headers.add(name: "Accept", value: IntakeAPI.jsonContentType)
        req.headers.add(name: "User-Agent", value: "kioskd")
        for (k, v) in extra { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        // Every request here is idempotent (the intake answers a repeat as it answered the first).
        // A connection that broke at once (a cut on a reused connection, a reset) is tried again
        // at once on a new one before the attempt counts as failed; a timeout is not repeated.
        var tries = 0
        while true {
            let started = ContinuousClock.now
            do {
                let resp = try await http.execute(req, timeout: .seconds(config.requestTimeoutSeconds))
                let buf = try await resp.body.collect(upTo: 4 << 20)
                return (Int(resp.status.code), resp.headers, Data(buf.readableBytesView))
            } catch {
                tries += 1
                if tries < 2, ContinuousClock.now - started < .seconds(2), Self.brokeAfterConnecting(error) { continue }
                throw .transient("upstream unreachable (\(String(describing: error).prefix(120)))", retryAfter: nil)
            }
        }
    }

    /// Whether a request failed on a connection that was up (closed or reset under it: a cut, a
    /// stale kept-alive connection) rather than one that never came up (refused, no route, DNS,
    /// connect timeout): only the first is worth a second try at once; the second is an outage,
    /// and trying it again at once only costs CPU while the upstream is down.
    static func brokeAfterConnecting(_ error: Error) -> Bool {
        if let e = error as? HTTPClientError {
            return e == .remoteConnectionClosed
        }
        let text = String(describing: error)
        for never in ["refused", "NIOConnectionError", "connectTimeout", "unreachable", "dns", "DNS", "resolve"]
        where text.contains(never) {
            return false
        }
        return ["reset", "ioOnClosedChannel", "Broken pipe", "EPIPE", "remoteConnectionClosed", "closed"].contains {
            text.contains($0)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: (status: Int, headers: HTTPHeaders, body: Data), what: String)
        throws(UploadFailure) -> T
    {
        let ct = r.headers.first(name: "Content-Type") ?? ""
        guard ct.lowercased().hasPrefix(IntakeAPI.jsonContentType) else {
            throw .transient(
                "\(what): reply is \(ct.isEmpty ? "untyped" : ct), not JSON (captive portal or proxy in the way?)",
                retryAfter: nil)
        }
        do { return try JSONDecoder().decode(T.self, from: r.body) } catch {
            throw .transient(
                "\(what): reply body is not a valid \(T.self) (truncated or not the intake protocol)", retryAfter: nil)
        }
    }

    func failure(_ r: (status: Int, headers: HTTPHeaders, body: Data), what: String) -> UploadFailure {
        let retryAfter = Tus.retryAfterSeconds(r.headers.first(name: "Retry-After"), now: clock.now)
        let message =
            (try? JSONDecoder().decode(ErrorReply.self, from: r.body)).map { "\($0.error): \($0.message)" }
            ?? "HTTP \(r.status)"
        if let notIntake = Self.notFromIntake(
            status: r.status, contentType: r.headers.first(name: "Content-Type"), body: r.body)
        {
            return .transient(
                "\(what): HTTP \(r.status) \(notIntake), so not the intake's answer (a proxy or portal in the way?); will retry",
                retryAfter: retryAfter)
        }
        switch r.status {
        case 408, 429, 500...599:
            return .transient("\(what): upstream busy or failing (\(message))", retryAfter: retryAfter)
        case 401, 403:
            return .transient(
                "\(what): upstream refused the station token (\(message)); check upstream.tokenFile",
                retryAfter: retryAfter)
        case 422:
            return .missingAttachments("\(what): \(message)")
        case 409:
            return .permanent("\(what): conflict, the upstream holds a different submission with this id (\(message))")
        default:
            return .permanent("\(what): rejected with HTTP \(r.status) (\(message))")
        }
    }

    /// Why a reply cannot be the intake's own (nil: it can). The intake answers every error with
    /// an `ErrorReply` JSON body; a proxy's or portal's page (HTML, another JSON, no body) and the
    /// status codes only proxies and gateways send are never a verdict on a submission.
    static func notFromIntake(status: Int, contentType: String?, body: Data) -> String? {
        if [305, 407, 502, 504, 511].contains(status) { return "is a proxy or gateway status" }
        let ct = (contentType ?? "").lowercased()
        guard ct.hasPrefix(IntakeAPI.jsonContentType) else {
            return ct.isEmpty ? "has no content type" : "is \(ct.split(separator: ";").first ?? "")"
        }
        guard (try? JSONDecoder().decode(ErrorReply.self, from: body)) != nil else {
            return "has no intake error body"
        }
        return nil
    }

    /// Health probe: guards against captive portals answering 200 with HTML.
    public func health() async throws(UploadFailure) {
        let r = try await request(.GET, "/v1/health")
        guard r.status == 200 else { throw failure(r, what: "health") }
        guard r.headers.first(name: IntakeAPI.protocolHeader) == IntakeAPI.protocolVersion else {
            throw .transient(
                "health: reply lacks the \(IntakeAPI.protocolHeader) header (captive portal or wrong URL?)",
                retryAfter: nil)
        }
        let h = try decode(HealthReply.self, r, what: "health")
        guard h.service == "kiosk-intake" else {
            throw .transient("health: unexpected service \(h.service)", retryAfter: nil)
        }
    }

    /// Whole-file upload (kept for upstreams without tus, and as the benchmark's from-scratch baseline).
    public func putAttachment(submissionId: String, ref: AttachmentRef, data: Data) async throws(UploadFailure) {
        let r = try await request(
            .PUT, "/v1/submissions/\(submissionId)/attachments/\(ref.name)", body: data,
            headers: [("Content-Type", ref.contentType), (IntakeAPI.sha256Header, ref.sha256)])
        guard r.status == 200 || r.status == 201 else { throw failure(r, what: "attachment \(ref.name)") }
        let receipt = try decode(AttachmentReceipt.self, r, what: "attachment \(ref.name)")
        guard receipt.sha256 == ref.sha256, receipt.size == ref.size else {
            throw .transient(
                "attachment \(ref.name): upstream stored different bytes than sent; will retry", retryAfter: nil)
        }
    }

    public func putManifest(_ m: SubmissionManifest) async throws(UploadFailure) -> SubmissionReceipt {
        let body: Data
        do { body = try JSONEncoder().encode(m) } catch { throw .permanent("manifest cannot be encoded: \(error)") }
        let r = try await request(
            .PUT, "/v1/submissions/\(m.submissionId)", body: body,
            headers: [("Content-Type", IntakeAPI.jsonContentType)])
        guard r.status == 200 || r.status == 201 else { throw failure(r, what: "manifest") }
        let receipt = try decode(SubmissionReceipt.self, r, what: "manifest")
        guard receipt.submissionId == m.submissionId else {
            throw .transient("manifest: upstream acknowledged a different submission id", retryAfter: nil)
        }
        return receipt
    }

    /// POST /v1/evaluations or /v1/stations/{id}/heartbeats: 201 first time, 200 identical repeat.
    public func postMessage(kind: MessageKind, body: Data, stationId: String) async throws(UploadFailure)
        -> MessageReceipt
    {
        let path =
            switch kind {
            case .evaluation: "/v1/evaluations"
            case .heartbeat: "/v1/stations/\(stationId)/heartbeats"
            case .help: "/v1/stations/\(stationId)/help"
            case .notification: "/v1/stations/\(stationId)/notifications"
            }
        let r = try await request(.POST, path, body: body, headers: [("Content-Type", IntakeAPI.jsonContentType)])
        guard r.status == 200 || r.status == 201 else { throw failure(r, what: kind.rawValue) }
        return try decode(MessageReceipt.self, r, what: kind.rawValue)
    }

    /// GET /v1/certificates/{ref}: the bytes, checked against the size and SHA-256 the status named.
    public func downloadCertificate(_ ref: CertificateRef) async throws(UploadFailure) -> Data {
        let r = try await request(.GET, "/v1/certificates/\(ref.ref)", headers: [("Accept", ref.contentType)])
        guard r.status == 200 else { throw failure(r, what: "certificate") }
        let ct = (r.headers.first(name: "Content-Type") ?? "").lowercased()
        guard ct.hasPrefix(ref.contentType.lowercased()) else {
            throw .transient(
                "certificate: reply is \(ct.isEmpty ? "untyped" : ct), not \(ref.contentType) (captive portal or proxy in the way?)",
                retryAfter: nil)
        }
        guard r.body.count == ref.size, sha256Hex(r.body) == ref.sha256 else {
            throw .transient(
                "certificate: downloaded bytes do not match the announced size and SHA-256 (truncated or damaged); will retry",
                retryAfter: nil)
        }
        return r.body
    }

    /// GET /v1/submissions?station=ID: what the intake holds from this station.
    public func listSubmissions(stationId: String) async throws(UploadFailure) -> [SubmissionStatusReply] {
        let q = stationId.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? stationId
        let r = try await request(.GET, "/v1/submissions?station=\(q)")
        guard r.status == 200 else { throw failure(r, what: "submission list") }
        return try decode(SubmissionList.self, r, what: "submission list").submissions
    }

    public func status(submissionId: String) async throws(UploadFailure) -> SubmissionStatusReply {
        let r = try await request(.GET, "/v1/submissions/\(submissionId)")
        guard r.status == 200 else { throw failure(r, what: "status") }
        let reply = try decode(SubmissionStatusReply.self, r, what: "status")
        guard reply.submissionId == submissionId else {
            throw .transient("status: upstream answered for a different submission id", retryAfter: nil)
        }
        return reply
    }
}

/// Uploads sealed submissions from the outbox, one at a time, with backoff and jitter while the
/// upstream is unreachable; quarantines what the upstream permanently refuses.
public actor Uploader {
    let database: OutboxDatabase
    let queue: UploadQueue
    let messages: MessageQueue
    let certificates: CertificateStore
    let retention: Retention
    let client: IntakeClient
    let config: UpstreamConfig
    let logger: Logger
    private var wake: AsyncStream<Void>.Continuation?
    private var wakeStream: AsyncStream<Void>
    public private(set) var reachable: Bool? = nil
    public private(set) var lastError: String? = nil
    public private(set) var uploadedCount = 0
    /// tus totals since start (bytes sent, requests, interruptions), for metrics and the benchmark.
    public private(set) var tusStats = TusClient.Stats()

    public init(database: OutboxDatabase, client: IntakeClient, config: UpstreamConfig, logger: Logger) {
        self.database = database
        self.client = client
        self.config = config
        self.logger = logger
        queue = UploadQueue(database: database)
        messages = MessageQueue(database: database, stationId: config.stationId)
        certificates = CertificateStore(database: database)
        retention = Retention(database: database)
        let (s, c) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wakeStream = s
        wake = c
    }

    /// Called after a seal: try now instead of waiting for the next due time.
    public nonisolated func kick() {
        Task { await self.yieldWake() }
    }
    private func yieldWake() { wake?.yield() }

    func backoff(attempts: Int, retryAfter: Double?) -> Double {
        let base = min(config.maxBackoffSeconds, config.initialBackoffSeconds * pow(2, Double(min(attempts, 20))))
        let jittered = base * Double.random(in: 0.5...1.0)
        return max(jittered, retryAfter ?? 0)
    }

    /// How many submissions go up at once: the next one's creations and transfers overlap the
    /// last one's manifest and commits (each a round trip and an fsync on one side or the other).
    static let parallelSubmissions = 2

    /// How an upload ended, for the pass: go on, or end it (the link is down) with a delay.
    enum Outcome: Sendable {
        case next
        case endPass(Double)
    }

    /// One pass: upload every submission that is due (up to `parallelSubmissions` at once).
    /// Returns the delay until the next due one.
    public func runOnce() async -> Double? {
        // The health probe (a captive portal answering 200 with HTML) once per pass, before the
        // first upload: every tus and manifest reply after it is checked for being the intake's.
        var probed = false
        var inFlight: Set<String> = []
        var ending: Double?
        var nextAt: Date?
        return await withTaskGroup(of: (String, Outcome).self) { group -> Double? in
            while !Task.isCancelled {
                if ending == nil, inFlight.count < Self.parallelSubmissions {
                    let next: (due: PendingUpload?, nextAt: Date?)
                    do {
                        next = try await queue.nextDue(maxDelay: config.maxBackoffSeconds * 2 + 60, excluding: inFlight)
                    } catch let alarm as KeyAlarm {
                        // Stop: a wrong key says nothing about the submissions. Quarantine nothing; the
                        // station's key alarm (status, metrics, heartbeat) says what to do.
                        if lastError != alarm.description {
                            logger.critical("uploader stopped: key alarm", metadata: ["reason": "\(alarm.description)"])
                        }
                        lastError = alarm.description
                        await group.waitForAll()
                        return nil
                    } catch {
                        logger.error("outbox read failed", metadata: ["error": "\(error)"])
                        await group.waitForAll()
                        return 5
                    }
                    if let p = next.due {
                        if !probed {
                            do {
                                try await client.health()
                                probed = true
                            } catch {
                                if case .endPass(let d) = await settle(p, error) { return d }
                                continue
                            }
                        }
                        inFlight.insert(p.summary.id)
                        group.addTask { (p.summary.id, await self.uploadAndSettle(p)) }
                        continue
                    }
                    nextAt = next.nextAt
                }
                guard let (id, outcome) = await group.next() else { break }
                inFlight.remove(id)
                if case .endPass(let d) = outcome { ending = max(ending ?? 0, d) }
                nextAt = nil  // ask again: the one that finished may have changed what is due
            }
            await group.waitForAll()
            if let ending { return ending }
            if Task.isCancelled { return nil }
            return nextAt.map { max(0.05, $0.timeIntervalSince(database.clock.now)) }
        }
    }

    func uploadAndSettle(_ p: PendingUpload) async -> Outcome {
        do {
            try await upload(p)
            reachable = true
            lastError = nil
            uploadedCount += 1
            return .next
        } catch {
            return await settle(p, error)
        }
    }

    /// Records how an upload failed; `.endPass` when the link is down or refusing (the others
    /// would fail the same way).
    func settle(_ p: PendingUpload, _ error: any Error) async -> Outcome {
        if let f = error as? UploadFailure {
            lastError = f.description
            switch f {
            case .transient(let msg, let retryAfter):
                reachable = false
                let delay = backoff(attempts: p.summary.attempts, retryAfter: retryAfter)
                logger.warning(
                    "upload deferred",
                    metadata: ["case": "\(p.summary.caseNumber)", "retryIn": "\(Int(delay))s", "reason": "\(msg)"])
                try? await queue.recordFailure(
                    id: p.summary.id, error: msg, retryAt: database.clock.now.addingTimeInterval(delay))
                return .endPass(delay)
            case .missingAttachments(let msg):
                reachable = true
                try? await queue.resetAttachments(submissionId: p.summary.id)
                try? await queue.recordFailure(
                    id: p.summary.id, error: msg,
                    retryAt: database.clock.now.addingTimeInterval(
                        backoff(attempts: p.summary.attempts, retryAfter: nil)))
            case .permanent(let msg):
                reachable = true
                logger.error(
                    "submission quarantined", metadata: ["case": "\(p.summary.caseNumber)", "reason": "\(msg)"])
                try? await queue.quarantine(id: p.summary.id, cause: .refused, reason: msg)
            }
        } else if let damage = error as? AttachmentDamage {
            lastError = damage.description
            logger.error(
                "submission quarantined",
                metadata: ["case": "\(p.summary.caseNumber)", "reason": "\(damage.description)"])
            try? await queue.quarantine(id: p.summary.id, cause: damage.cause, reason: damage.description)
        } else {
            lastError = "\(error)"
            try? await queue.recordFailure(
                id: p.summary.id, error: "\(error)",
                retryAt: database.clock.now.addingTimeInterval(
                    backoff(attempts: p.summary.attempts, retryAfter: nil)))
        }
        return .next
    }

    /// How many attachments of a submission go up at once: each waits on round trips and the
    /// intake's fsyncs, so two or three in flight keep the link busy.
    static let parallelAttachments = 3

    func addStats(_ stats: TusClient.Stats) {
        tusStats.bytesSent += stats.bytesSent
        tusStats.requests += stats.requests
        tusStats.interruptions += stats.interruptions
        tusStats.recreated += stats.recreated
        tusStats.connectionBreaks += stats.connectionBreaks
    }

    /// Uploads a submission: its attachments (new tus uploads created together and their URLs
    /// recorded in one commit before any byte goes out; then up to `parallelAttachments` at once),
    /// the manifest, and the result with its case history in one commit.
    func upload(_ p: PendingUpload) async throws {
        let queue = self.queue
        let tus = client.tus
        let id = p.summary.id
        let todo = p.attachments.filter { !$0.uploaded }
        // Every file read and checked first: a damaged one quarantines the submission before any byte goes out.
        let files = try todo.map { try queue.attachmentData($0) }
        // filename/filetype: what generic tus servers (tusd, tuspyserver) expect; the intake uses the rest.
        let metas = todo.map { a in
            [
                ("submissionId", id), ("name", a.ref.name), ("sha256", a.ref.sha256),
                ("filename", a.ref.name), ("filetype", a.ref.contentType),
            ]
        }
        var urls = todo.map(\.uploadURL)
        var offsets = [Int?](repeating: nil, count: todo.count)
        let fresh = todo.indices.filter { urls[$0] == nil }
        if !fresh.isEmpty {
            var stats = TusClient.Stats()
            defer { addStats(stats) }
            let created = try await tus.createUploads(
                fresh.map { (files[$0].count, metas[$0]) }, stats: &stats)
            for (i, c) in zip(fresh, created) {
                urls[i] = c.url
                offsets[i] = c.offset
            }
            try await queue.setUploadURLs(
                submissionId: id, zip(fresh, created).map { (todo[$0.0].ref.name, $0.1.url) })
        }
        let jobs = todo.indices.map { i in
            (
                data: files[i], url: urls[i], offset: offsets[i], meta: metas[i], name: todo[i].ref.name,
                digest: Self.bytes(hex: todo[i].ref.sha256)
            )
        }
        // Results by attachment: the stats, and the failure if it failed.
        let results = await withTaskGroup(of: (TusClient.Stats, (any Error)?).self) { group in
            var out: [(TusClient.Stats, (any Error)?)] = []
            var next = 0
            func start() {
                let j = jobs[next]
                next += 1
                group.addTask {
                    var stats = TusClient.Stats()
                    do {
                        _ = try await tus.upload(
                            data: j.data, existingURL: j.url, knownOffset: j.offset, digest: j.digest, metadata: j.meta,
                            stats: &stats
                        ) { url in
                            try await queue.setUploadURL(submissionId: id, name: j.name, url: url)
                        }
                        return (stats, nil)
                    } catch {
                        return (stats, error)
                    }
                }
            }
            while next < min(Self.parallelAttachments, jobs.count) { start() }
            for await r in group {
                out.append(r)
                if next < jobs.count { start() }
            }
            return out
        }
        for (stats, _) in results { addStats(stats) }
        // The failure that says most: a refusal before a missing upload before a passing one.
        let failures = results.compactMap(\.1)
        if let f = failures.first(where: { if case .permanent = $0 as? UploadFailure { true } else { false } })
            ?? failures.first(where: { if case .missingAttachments = $0 as? UploadFailure { true } else { false } })
            ?? failures.first
        {
            throw f
        }
        let receipt = try await client.putManifest(withSupplementLink(p.manifest))
        let now = database.clock.now
        try await queue.markUploaded(
            id: p.summary.id, upstreamState: receipt.state,
            history: [("sent", now), (receipt.state.rawValue, Self.date(receipt.receivedAt) ?? now)])
        logger.info(
            "submission uploaded",
            metadata: ["case": "\(p.summary.caseNumber)", "attachments": "\(p.attachments.count)"])
    }

    /// The bytes of a hex string (nil when it is not one).
    static func bytes(hex: String) -> Data? {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = Data(capacity: u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    /// Whether the case counter was reconciled with the intake since start.
    public private(set) var caseNumbersReconciled = false

    /// Raises the case counter to the highest case number the intake holds from this station,
    /// per day (a case number is prefix + yyyyMMdd + 4 digits). After a lost database and counter
    /// file this keeps the station from issuing numbers the intake has already seen.
    @discardableResult
    public func reconcileCaseNumbers() async -> Bool {
        guard !config.stationId.isEmpty else { return false }
        do {
            let list = try await client.listSubmissions(stationId: config.stationId)
            var highest: [String: Int] = [:]
            for s in list {
                let tail = s.caseNumber.suffix(12)
                guard tail.count == 12, tail.allSatisfy(\.isASCII), tail.allSatisfy(\.isNumber),
                    let seq = Int(tail.suffix(4))
                else { continue }
                let day = String(tail.prefix(8))
                highest[day] = max(highest[day] ?? 0, seq)
            }
            for (day, seq) in highest { try await database.raiseCaseCounter(day: day, to: seq) }
            caseNumbersReconciled = true
            return true
        } catch {
            logger.warning("case numbers not reconciled with the intake yet", metadata: ["reason": "\(error)"])
            return false
        }
    }

    /// Pulls the upstream state of uploaded submissions that are not final yet.
    public func syncStatuses() async {
        guard let open = try? queue.openUploaded() else { return }
        for s in open {
            do {
                let st = try await client.status(submissionId: s.id)
                await recordStatus(s.id, st)
                if st.state != s.upstreamState {
                    try? await queue.updateUpstreamState(id: s.id, state: st.state)
                    logger.info(
                        "upstream state changed",
                        metadata: ["case": "\(s.caseNumber)", "state": "\(st.state.rawValue)"])
                }
                if let c = st.certificate { try? await certificates.noteCertificate(submissionId: s.id, ref: c) }
                reachable = true
            } catch {
                if case .permanent = error { continue }  // e.g. 404: nothing to learn about this one now
                reachable = false
                return
            }
        }
        await downloadCertificates()
    }

    /// Fetches certificates announced as ready; each is SHA-256 checked and stored encrypted.
    public func downloadCertificates() async {
        guard let todo = try? certificates.certificatesToDownload() else { return }
        for (sid, ref) in todo {
            do {
                let data = try await client.downloadCertificate(ref)
                try await certificates.storeCertificate(submissionId: sid, data: data)
                logger.info("certificate downloaded", metadata: ["submission": "\(sid)", "size": "\(data.count)"])
            } catch {
                logger.warning("certificate not downloaded", metadata: ["submission": "\(sid)", "reason": "\(error)"])
                if let f = error as? UploadFailure, case .transient = f { return }
            }
        }
    }

    /// Sends queued evaluations and heartbeats. Permanent refusals are quarantined, never blocking the rest.
    public func sendMessages() async {
        guard let due = try? await messages.dueMessages() else { return }
        for m in due {
            do {
                _ = try await client.postMessage(kind: m.kind, body: m.body, stationId: config.stationId)
                try? await messages.markMessageSent(id: m.id)
            } catch {
                switch error {
                case .permanent(let msg):
                    logger.error("message quarantined", metadata: ["kind": "\(m.kind.rawValue)", "reason": "\(msg)"])
                    try? await messages.quarantineMessage(id: m.id, reason: msg)
                default:
                    let delay = backoff(attempts: m.attempts, retryAfter: nil)
                    try? await messages.recordMessageFailure(
                        id: m.id, error: error.description, retryAt: database.clock.now.addingTimeInterval(delay))
                    return
                }
            }
        }
    }

    /// Where heartbeats get the device states from (set by the daemon's wiring).
    private var deviceSource: (@Sendable () async -> [DeviceReport])?
    public func setDeviceSource(_ f: @escaping @Sendable () async -> [DeviceReport]) { deviceSource = f }

    /// Software and catalog bundle versions the heartbeat reports (set by the daemon's wiring).
    private var stationVersions: (software: String?, bundle: String?) = (nil, nil)
    public func setVersions(software: String?, bundle: String?) { stationVersions = (software, bundle) }

    /// Why the last catalog bundle was refused (nil: fine); heartbeats report it.
    private var bundleProblem: String?
    public func setBundleProblem(_ problem: String?) { bundleProblem = problem }

    /// The key alarm as a number for metrics and heartbeats: the queued submissions the
    /// configured key cannot read (at least 1 while the alarm is raised), else 0.
    public static func keyAlarmCount(_ queue: UploadQueue) -> Int {
        guard queue.database.keyProblem != nil else { return 0 }
        return max(1, (try? queue.counts().queued) ?? 1)
    }

    /// Queues a heartbeat with the station's current state; it travels through the outbox.
    public func queueHeartbeat() async {
        let devices = await deviceSource?() ?? []
        let counts = try? queue.counts()
        let disk = database.diskStatus()
        let hb = StationHeartbeat(
            heartbeatId: UUID().uuidString.lowercased(), stationId: config.stationId,
            sentAt: UploadQueue.isoString(database.clock.now), devices: devices,
            queueDepth: counts?.queued ?? 0, quarantined: counts?.quarantined ?? 0,
            freeDiskBytes: disk.freeBytes == Int64.max ? -1 : disk.freeBytes,
            acceptingSubmissions: disk.accepting, oldestQueuedSeconds: counts?.oldestQueuedSeconds,
            softwareVersion: stationVersions.software, bundleVersion: stationVersions.bundle,
            freeDiskFloorBytes: database.minFreeBytes, keyAlarm: Self.keyAlarmCount(queue), bundleProblem: bundleProblem
        )
        do { try await messages.queueHeartbeat(hb) } catch {
            logger.warning("heartbeat not queued", metadata: ["error": "\(error)"])
        }
    }

    public func purgeExpired() async {
        do {
            let n = try await retention.purgeConfirmed(olderThanDays: config.retentionDays)
            try await CaseEvents(database: database).purgePersonal(olderThanDays: config.retentionDays)
            if n > 0 {
                logger.info(
                    "retention: personal data deleted",
                    metadata: ["submissions": "\(n)", "days": "\(config.retentionDays)"])
            }
        } catch {
            logger.error("retention pass failed", metadata: ["error": "\(error)"])
        }
    }

    private var timer: Task<Void, Never>?

    /// Runs until cancelled: uploads due submissions, then waits for a kick (a new seal) or until
    /// the next one is due or the status sync is due, whichever comes first. No polling.
    public func run() async {
        // Intervals are measured on the monotonic clock: a wall clock set back or forward
        // (kiosks without a battery-backed clock) neither stops nor floods these passes.
        let monotonic = ContinuousClock()
        var lastSync: ContinuousClock.Instant? = nil
        var lastHeartbeat: ContinuousClock.Instant? = nil
        var lastPurge: ContinuousClock.Instant? = nil
        func due(_ last: ContinuousClock.Instant?, every seconds: Double) -> Bool {
            guard let last else { return true }
            return monotonic.now - last >= .milliseconds(Int64(seconds * 1000))
        }
        wake?.yield()
        for await _ in wakeStream {
            if Task.isCancelled { break }
            timer?.cancel()
            if config.heartbeatSeconds > 0, due(lastHeartbeat, every: config.heartbeatSeconds) {
                await queueHeartbeat()
                lastHeartbeat = monotonic.now
            }
            let delay = await runOnce() ?? config.statusSyncSeconds
            if reachable == true, !caseNumbersReconciled { await reconcileCaseNumbers() }
            if reachable != false { await sendMessages() }
            // Under the key alarm certificates are not fetched either: they would be stored
            // encrypted with a key the outbox cannot be read with.
            if database.keyProblem == nil, due(lastSync, every: config.statusSyncSeconds) {
                await syncStatuses()
                await syncFollowUps()
                lastSync = monotonic.now
            }
            if due(lastPurge, every: 3600) {
                await purgeExpired()
                lastPurge = monotonic.now
            }
            var wait = min(delay, config.statusSyncSeconds)
            if config.heartbeatSeconds > 0 { wait = min(wait, config.heartbeatSeconds) }
            let c = wake
            timer = Task {
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)), clock: .continuous)
                if !Task.isCancelled { c?.yield() }
            }
        }
        timer?.cancel()
    }
}
