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
    public init(baseURL: String, token: String, requestTimeoutSeconds: Int64 = 30, initialBackoffSeconds: Double = 2,
                maxBackoffSeconds: Double = 300, statusSyncSeconds: Double = 60) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token; self.requestTimeoutSeconds = requestTimeoutSeconds
        self.initialBackoffSeconds = initialBackoffSeconds; self.maxBackoffSeconds = maxBackoffSeconds
        self.statusSyncSeconds = statusSyncSeconds
    }
}

/// How one upload attempt ended.
public enum UploadFailure: Error, CustomStringConvertible, Sendable {
    case transient(String, retryAfter: Double?)   // network down, 5xx, 429, captive portal: try again later
    case permanent(String)                         // the upstream refuses this submission: quarantine
    case missingAttachments(String)                // upstream lost attachments: upload them again

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

    public init(http: HTTPClient, config: UpstreamConfig) {
        self.http = http; self.config = config
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers extra: [(String, String)] = []) async throws(UploadFailure) -> (status: Int, headers: HTTPHeaders, body: Data) {
        var req = HTTPClientRequest(url: config.baseURL + path)
        req.method = method
        req.headers.add(name: "Authorization", value: "Bearer \(config.token)")
        req.headers.add(name: "Accept", value: IntakeAPI.jsonContentType)
        req.headers.add(name: "User-Agent", value: "kioskd")
        for (k, v) in extra { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let resp = try await http.execute(req, timeout: .seconds(config.requestTimeoutSeconds))
            let buf = try await resp.body.collect(upTo: 4 << 20)
            return (Int(resp.status.code), resp.headers, Data(buf.readableBytesView))
        } catch {
            throw .transient("upstream unreachable (\(String(describing: error).prefix(120)))", retryAfter: nil)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ r: (status: Int, headers: HTTPHeaders, body: Data), what: String) throws(UploadFailure) -> T {
        let ct = r.headers.first(name: "Content-Type") ?? ""
        guard ct.lowercased().hasPrefix(IntakeAPI.jsonContentType) else {
            throw .transient("\(what): reply is \(ct.isEmpty ? "untyped" : ct), not JSON (captive portal or proxy in the way?)", retryAfter: nil)
        }
        do { return try JSONDecoder().decode(T.self, from: r.body) } catch {
            throw .transient("\(what): reply body is not a valid \(T.self) (truncated or not the intake protocol)", retryAfter: nil)
        }
    }

    func failure(_ r: (status: Int, headers: HTTPHeaders, body: Data), what: String) -> UploadFailure {
        let retryAfter = r.headers.first(name: "Retry-After").flatMap(Double.init)
        let message = (try? JSONDecoder().decode(ErrorReply.self, from: r.body)).map { "\($0.error): \($0.message)" } ?? "HTTP \(r.status)"
        switch r.status {
        case 408, 429, 500...599:
            return .transient("\(what): upstream busy or failing (\(message))", retryAfter: retryAfter)
        case 401, 403:
            return .transient("\(what): upstream refused the station token (\(message)); check upstream.tokenFile", retryAfter: retryAfter)
        case 422:
            return .missingAttachments("\(what): \(message)")
        case 409:
            return .permanent("\(what): conflict, the upstream holds a different submission with this id (\(message))")
        default:
            return .permanent("\(what): rejected with HTTP \(r.status) (\(message))")
        }
    }

    /// Health probe: guards against captive portals answering 200 with HTML.
    public func health() async throws(UploadFailure) {
        let r = try await request(.GET, "/v1/health")
        guard r.status == 200 else { throw failure(r, what: "health") }
        guard r.headers.first(name: IntakeAPI.protocolHeader) == IntakeAPI.protocolVersion else {
            throw .transient("health: reply lacks the \(IntakeAPI.protocolHeader) header (captive portal or wrong URL?)", retryAfter: nil)
        }
        let h = try decode(HealthReply.self, r, what: "health")
        guard h.service == "kiosk-intake" else { throw .transient("health: unexpected service \(h.service)", retryAfter: nil) }
    }

    public func putAttachment(submissionId: String, ref: AttachmentRef, data: Data) async throws(UploadFailure) {
        let r = try await request(.PUT, "/v1/submissions/\(submissionId)/attachments/\(ref.name)", body: data,
                                  headers: [("Content-Type", ref.contentType), (IntakeAPI.sha256Header, ref.sha256)])
        guard r.status == 200 || r.status == 201 else { throw failure(r, what: "attachment \(ref.name)") }
        let receipt = try decode(AttachmentReceipt.self, r, what: "attachment \(ref.name)")
        guard receipt.sha256 == ref.sha256, receipt.size == ref.size else {
            throw .transient("attachment \(ref.name): upstream stored different bytes than sent; will retry", retryAfter: nil)
        }
    }

    public func putManifest(_ m: SubmissionManifest) async throws(UploadFailure) -> SubmissionReceipt {
        let body: Data
        do { body = try JSONEncoder().encode(m) } catch { throw .permanent("manifest cannot be encoded: \(error)") }
        let r = try await request(.PUT, "/v1/submissions/\(m.submissionId)", body: body,
                                  headers: [("Content-Type", IntakeAPI.jsonContentType)])
        guard r.status == 200 || r.status == 201 else { throw failure(r, what: "manifest") }
        let receipt = try decode(SubmissionReceipt.self, r, what: "manifest")
        guard receipt.submissionId == m.submissionId else {
            throw .transient("manifest: upstream acknowledged a different submission id", retryAfter: nil)
        }
        return receipt
    }

    public func status(submissionId: String) async throws(UploadFailure) -> SubmissionStatusReply {
        let r = try await request(.GET, "/v1/submissions/\(submissionId)")
        guard r.status == 200 else { throw failure(r, what: "status") }
        return try decode(SubmissionStatusReply.self, r, what: "status")
    }
}

/// Uploads sealed submissions from the outbox, one at a time, with backoff and jitter while the
/// upstream is unreachable; quarantines what the upstream permanently refuses.
public actor Uploader {
    let outbox: Outbox
    let client: IntakeClient
    let config: UpstreamConfig
    let logger: Logger
    private var wake: AsyncStream<Void>.Continuation?
    private var wakeStream: AsyncStream<Void>
    public private(set) var reachable: Bool? = nil
    public private(set) var lastError: String? = nil
    public private(set) var uploadedCount = 0

    public init(outbox: Outbox, client: IntakeClient, config: UpstreamConfig, logger: Logger) {
        self.outbox = outbox; self.client = client; self.config = config; self.logger = logger
        let (s, c) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wakeStream = s; wake = c
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

    /// One pass: upload every submission that is due. Returns the delay until the next due one.
    public func runOnce() async -> Double? {
        while !Task.isCancelled {
            let next: (due: Outbox.PendingUpload?, nextAt: Date?)
            do { next = try outbox.nextDue(maxDelay: config.maxBackoffSeconds * 2 + 60) } catch {
                logger.error("outbox read failed", metadata: ["error": "\(error)"])
                return 5
            }
            guard let p = next.due else {
                return next.nextAt.map { max(0.05, $0.timeIntervalSince(outbox.now())) }
            }
            do {
                try await upload(p)
                reachable = true
                lastError = nil
                uploadedCount += 1
            } catch let f as UploadFailure {
                lastError = f.description
                switch f {
                case .transient(let msg, let retryAfter):
                    reachable = false
                    let delay = backoff(attempts: p.summary.attempts, retryAfter: retryAfter)
                    logger.warning("upload deferred", metadata: ["case": "\(p.summary.caseNumber)", "retryIn": "\(Int(delay))s", "reason": "\(msg)"])
                    try? outbox.recordFailure(id: p.summary.id, error: msg, retryAt: outbox.now().addingTimeInterval(delay))
                    // The link is down or refusing: the others would fail the same way. End the pass.
                    return delay
                case .missingAttachments(let msg):
                    reachable = true
                    try? outbox.resetAttachments(submissionId: p.summary.id)
                    try? outbox.recordFailure(id: p.summary.id, error: msg, retryAt: outbox.now().addingTimeInterval(backoff(attempts: p.summary.attempts, retryAfter: nil)))
                case .permanent(let msg):
                    reachable = true
                    logger.error("submission quarantined", metadata: ["case": "\(p.summary.caseNumber)", "reason": "\(msg)"])
                    try? outbox.quarantine(id: p.summary.id, reason: msg)
                }
            } catch {
                lastError = "\(error)"
                try? outbox.recordFailure(id: p.summary.id, error: "\(error)", retryAt: outbox.now().addingTimeInterval(backoff(attempts: p.summary.attempts, retryAfter: nil)))
            }
        }
        return nil
    }

    func upload(_ p: Outbox.PendingUpload) async throws {
        try await client.health()
        for a in p.attachments where !a.uploaded {
            let data = try outbox.attachmentData(a)
            try await client.putAttachment(submissionId: p.summary.id, ref: a.ref, data: data)
            try outbox.markAttachmentUploaded(submissionId: p.summary.id, name: a.ref.name)
        }
        let receipt = try await client.putManifest(p.manifest)
        try outbox.markUploaded(id: p.summary.id, upstreamState: receipt.state)
        logger.info("submission uploaded", metadata: ["case": "\(p.summary.caseNumber)", "attachments": "\(p.attachments.count)"])
    }

    /// Pulls the upstream state of uploaded submissions that are not final yet.
    public func syncStatuses() async {
        guard let open = try? outbox.openUploaded() else { return }
        for s in open {
            do {
                let st = try await client.status(submissionId: s.id)
                if st.state != s.upstreamState { try? outbox.updateUpstreamState(id: s.id, state: st.state) }
                reachable = true
            } catch {
                reachable = false
                return
            }
        }
    }

    private var timer: Task<Void, Never>?

    /// Runs until cancelled: uploads due submissions, then waits for a kick (a new seal) or until
    /// the next one is due or the status sync is due, whichever comes first. No polling.
    public func run() async {
        var lastSync = Date.distantPast
        wake?.yield()
        for await _ in wakeStream {
            if Task.isCancelled { break }
            timer?.cancel()
            let delay = await runOnce() ?? config.statusSyncSeconds
            if Date().timeIntervalSince(lastSync) >= config.statusSyncSeconds {
                await syncStatuses()
                lastSync = Date()
            }
            let wait = min(delay, config.statusSyncSeconds)
            let c = wake
            timer = Task {
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                if !Task.isCancelled { c?.yield() }
            }
        }
        timer?.cancel()
    }
}
