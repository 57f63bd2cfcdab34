import AsyncHTTPClient
import Crypto
import Foundation
import KioskProtocols
import NIOCore
import NIOHTTP1
import Synchronization

/// Paces uploads to an optional byte rate (upstream.maxBytesPerSecond), shared by every request.
public actor BandwidthLimiter {
    let bytesPerSecond: Double?
    private var nextFree = ContinuousClock.now

    public init(bytesPerSecond: Double?) {
        self.bytesPerSecond = bytesPerSecond.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Waits until `bytes` more may be sent without going over the cap.
    public func take(_ bytes: Int) async {
        guard let rate = bytesPerSecond else { return }
        let now = ContinuousClock.now
        let start = max(now, nextFree)
        nextFree = start + .milliseconds(Int(Double(bytes) / rate * 1000))
        if start > now { try? await Task.sleep(until: start, clock: .continuous) }
    }
}

/// What the server said it can do (OPTIONS); nil fields = not advertised.
public struct TusCapabilities: Sendable, Equatable {
    public var extensions: [String]
    public var checksumAlgorithms: [String]
    public var maxSize: Int?
    public var sha256Checksums: Bool { extensions.contains("checksum") && checksumAlgorithms.contains("sha256") }
}

/// A tus 1.0.0 client (core, creation, checksum sha256, expiration) over async-http-client.
/// Resumes from the server's offset after any interruption, so at most the interrupted chunk is
/// sent again. Success is only what tus defines: the status code plus the headers it requires.
public struct TusClient: Sendable {
    public struct Stats: Sendable, Equatable {
        public var bytesSent = 0  // payload bytes put on the wire in PATCH bodies
        public var requests = 0
        public var interruptions = 0
        public var recreated = 0
    }

    let http: HTTPClient
    public let creationURL: String
    let extraHeaders: [(String, String)]
    public let chunkSize: Int
    let timeoutSeconds: Int64
    let limiter: BandwidthLimiter
    /// Transport failures and 5xx answered inside one `upload` call before giving up (the outbox retries later).
    let resumesPerCall: Int
    let now: @Sendable () -> Date
    /// The server's capabilities from the last OPTIONS, kept across uploads (one OPTIONS per
    /// upload would be a round trip per file); dropped whenever an upload is interrupted.
    let knownCapabilities = CapabilitiesCache()

    final class CapabilitiesCache: Sendable {
        private let value = Mutex<TusCapabilities?>(nil)
        var current: TusCapabilities? { value.withLock { $0 } }
        func set(_ c: TusCapabilities?) { value.withLock { $0 = c } }
    }

    public init(
        http: HTTPClient, creationURL: String, headers: [(String, String)] = [], chunkSize: Int = 256 * 1024,
        timeoutSeconds: Int64 = 30, limiter: BandwidthLimiter = BandwidthLimiter(bytesPerSecond: nil),
        resumesPerCall: Int = 4, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.http = http
        self.creationURL = creationURL
        self.extraHeaders = headers
        self.chunkSize = max(1, chunkSize)
        self.timeoutSeconds = timeoutSeconds
        self.limiter = limiter
        self.resumesPerCall = resumesPerCall
        self.now = now
    }

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: Data? = nil, stats: inout Stats)
        async throws(UploadFailure) -> Reply
    {
        var req = HTTPClientRequest(url: url)
        req.method = method
        req.headers.add(name: Tus.resumable, value: Tus.version)
        req.headers.add(name: "User-Agent", value: "kioskd")
        for (k, v) in extraHeaders { req.headers.add(name: k, value: v) }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body {
            req.body = .bytes(ByteBuffer(bytes: body))
            stats.bytesSent += body.count
        }
        stats.requests += 1
        do {
            let resp = try await http.execute(req, timeout: .seconds(timeoutSeconds))
            let buf = try await resp.body.collect(upTo: 1 << 20)
            return Reply(status: Int(resp.status.code), headers: resp.headers, body: Data(buf.readableBytesView))
        } catch {
            throw .transient(
                "tus \(method) failed: upstream unreachable or the connection broke (\(String(describing: error).prefix(100)))",
                retryAfter: nil)
        }
    }

    /// A reply that is not the tus reply we asked for: why, and whether to retry later or give up.
    func failure(_ r: Reply, _ what: String) -> UploadFailure {
        let retryAfter = Tus.retryAfterSeconds(r.headers.first(name: "Retry-After"), now: now())
        let detail =
            (try? JSONDecoder().decode(ErrorReply.self, from: r.body)).map { "\($0.error): \($0.message)" }
            ?? "HTTP \(r.status)"
        if let notTus = notFromUpstream(r), !(200...299).contains(r.status) {
            return .transient(
                "\(what): HTTP \(r.status) \(notTus), so not the tus server's answer (a proxy or portal in the way?); will retry",
                retryAfter: retryAfter)
        }
        switch r.status {
        case 408, 423, 429, 500...599:
            return .transient("\(what): upstream busy or failing (\(detail))", retryAfter: retryAfter)
        case 401, 403:
            return .transient(
                "\(what): upstream refused the station's credentials (\(detail)); check upstream.token / tokenFile",
                retryAfter: retryAfter)
        case 200...299:
            return .transient(
                "\(what): HTTP \(r.status) without the tus headers it must carry (captive portal or proxy in the way?)",
                retryAfter: nil)
        case 409 where (try? JSONDecoder().decode(ErrorReply.self, from: r.body))?.error == "conflict":
            return .permanent("\(what): conflict, the upstream holds different content for this attachment (\(detail))")
        case 413:
            return .permanent("\(what): the upstream refuses a file this large (\(detail))")
        default:
            return .permanent("\(what): rejected with HTTP \(r.status) (\(detail))")
        }
    }

    func isTus(_ r: Reply) -> Bool { r.headers.first(name: Tus.resumable) == Tus.version }

    /// Why a reply cannot be the tus server's own (nil: it can). A tus server sends Tus-Resumable
    /// with every reply; a proxy's or portal's page lacks it, is HTML, or carries a status only
    /// proxies and gateways send. Such a reply is never a verdict on an upload.
    func notFromUpstream(_ r: Reply) -> String? {
        if [305, 407, 502, 504, 511].contains(r.status) { return "is a proxy or gateway status" }
        guard isTus(r) else { return "lacks the Tus-Resumable header" }
        let ct = (r.headers.first(name: "Content-Type") ?? "").lowercased()
        if ct.hasPrefix("text/html") { return "is an HTML page" }
        return nil
    }

    /// OPTIONS on the creation URL. A server that does not answer it is used without extensions
    /// beyond core + creation (no checksums).
    public func capabilities(stats: inout Stats) async throws(UploadFailure) -> TusCapabilities {
        let r = try await send(.OPTIONS, creationURL, headers: [], stats: &stats)
        let ok = r.status == 200 || r.status == 204
        let tusReply = r.headers.first(name: Tus.versionHeader) != nil || isTus(r)
        if !ok || !tusReply {
            switch r.status {
            case 200...299, 401, 403, 408, 429, 500...599: throw failure(r, "tus OPTIONS")  // portal, auth, busy
            // no OPTIONS support
            default: return TusCapabilities(extensions: ["creation"], checksumAlgorithms: [], maxSize: nil)
            }
        }
        let versions = Tus.list(r.headers.first(name: Tus.versionHeader))
        guard versions.isEmpty || versions.contains(Tus.version) else {
            throw .permanent("tus: the upstream speaks tus \(versions.joined(separator: ", ")), not \(Tus.version)")
        }
        return TusCapabilities(
            extensions: Tus.list(r.headers.first(name: Tus.extensionHeader)),
            checksumAlgorithms: Tus.list(r.headers.first(name: Tus.checksumAlgorithm)),
            maxSize: Tus.parseOffset(r.headers.first(name: Tus.maxSize)))
    }

    /// POST: a new upload of `length` bytes. Returns its URL.
    public func create(length: Int, metadata: [(String, String)], stats: inout Stats) async throws(UploadFailure)
        -> String
    {
        try await createUpload(length: length, metadata: metadata, stats: &stats).url
    }

    /// POST: a new upload's URL and its offset (0, or what the reply's Upload-Offset says: the
    /// intake answers a repeat of a stored attachment with a complete upload).
    func createUpload(length: Int, metadata: [(String, String)], stats: inout Stats) async throws(UploadFailure)
        -> (url: String, offset: Int)
    {
        var h = [(Tus.uploadLength, String(length))]
        if !metadata.isEmpty { h.append((Tus.uploadMetadata, Tus.encodeMetadata(metadata))) }
        let r = try await send(.POST, creationURL, headers: h, stats: &stats)
        guard r.status == 201, isTus(r), let loc = r.headers.first(name: "Location"),
            let url = Tus.resolveLocation(loc, against: creationURL)
        else { throw failure(r, "tus creation") }
        let offset = Tus.parseOffset(r.headers.first(name: Tus.uploadOffset)).flatMap { $0 <= length ? $0 : nil } ?? 0
        return (url, offset)
    }

    enum HeadResult { case offset(Int), gone }

    /// HEAD: the server's offset of an upload; `.gone` when it is unknown or expired (start again).
    func head(_ url: String, length: Int, stats: inout Stats) async throws(UploadFailure) -> HeadResult {
        let r = try await send(.HEAD, url, headers: [], stats: &stats)
        if r.status == 404 || r.status == 410, notFromUpstream(r) == nil { return .gone }
        guard r.status == 200 || r.status == 204, isTus(r),
            let off = Tus.parseOffset(r.headers.first(name: Tus.uploadOffset))
        else {
            throw failure(r, "tus HEAD")
        }
        // not our file
        if let l = r.headers.first(name: Tus.uploadLength), Tus.parseOffset(l) != length { return .gone }
        guard off <= length else { return .gone }  // a server that claims more than the file holds: start over
        return .offset(off)
    }

    enum PatchResult { case offset(Int), mismatch, checksumRejected, gone }

    func patch(_ url: String, offset: Int, chunk: Data, checksum: Bool, length: Int, stats: inout Stats)
        async throws(UploadFailure) -> PatchResult
    {
        var h = [("Content-Type", Tus.offsetContentType), (Tus.uploadOffset, String(offset))]
        if checksum {
            h.append((Tus.uploadChecksum, "sha256 " + Data(SHA256.hash(data: chunk)).base64EncodedString()))
        }
        await limiter.take(chunk.count)
        let r = try await send(.PATCH, url, headers: h, body: chunk, stats: &stats)
        if r.status != 204 && r.status != 200, notFromUpstream(r) != nil { throw failure(r, "tus PATCH") }
        switch r.status {
        case 204, 200:
            guard isTus(r),
                let n = Tus.acceptPatchOffset(
                    Tus.parseOffset(r.headers.first(name: Tus.uploadOffset)),
                    sent: offset, count: chunk.count, length: length)
            else {
                throw r.status == 204 && isTus(r)
                    ? .transient(
                        "tus PATCH: the upstream answered an impossible Upload-Offset; will ask it again",
                        retryAfter: nil)
                    : failure(r, "tus PATCH")
            }
            return .offset(n)
        case 409:
            if (try? JSONDecoder().decode(ErrorReply.self, from: r.body))?.error == "conflict" {
                throw failure(r, "tus PATCH")
            }
            return .mismatch
        case Tus.checksumMismatchStatus: return .checksumRejected
        case 404, 410: return .gone
        default: throw failure(r, "tus PATCH")
        }
    }

    /// Uploads `data`, resuming the upload at `existingURL` when there is one. `saveURL` is called
    /// (and must make the URL durable) before any byte is sent to a new upload, and with nil when
    /// the upstream forgot an upload. Throws `.transient` after `resumesPerCall` interruptions in
    /// one call; the next call continues from the server's offset.
    public func upload(
        data: Data, existingURL: String?, metadata: [(String, String)], stats: inout Stats,
        saveURL: (String?) async throws -> Void
    ) async throws(UploadFailure) -> String {
        var caps = knownCapabilities.current
        var url = existingURL
        var interruptions = 0
        var recreations = 0
        // Offset of an upload this call just created (from the POST reply): no HEAD needed.
        var createdAt: Int?

        func interrupted(_ f: UploadFailure) async throws(UploadFailure) {
            knownCapabilities.set(nil)
            stats.interruptions += 1
            interruptions += 1
            if case .permanent = f { throw f }
            guard interruptions <= resumesPerCall else { throw f }
            if case .transient(_, let ra?) = f { throw UploadFailure.transient(f.description, retryAfter: ra) }
            // The first resume is at once (a cut link is usually back, and HEAD is the probe; the
            // intake keeps what arrived, so nothing is sent twice); later ones pause a little,
            // growing with the interruptions, before asking the server where it got to.
            if interruptions > 1 {
                try? await Task.sleep(for: .milliseconds(Int.random(in: 20...80) * (interruptions - 1)))
            }
        }

        while true {
            do throws(UploadFailure) {
                if caps == nil {
                    caps = try await capabilities(stats: &stats)
                    knownCapabilities.set(caps)
                }
                if let max = caps?.maxSize, data.count > max {
                    throw UploadFailure.permanent(
                        "tus: the file (\(data.count) bytes) is larger than the upstream's Tus-Max-Size \(max)")
                }
                if url == nil {
                    // Uploads the server created and then forgot (a failed creation is an interruption).
                    if recreations >= 3 {
                        throw UploadFailure.transient(
                            "tus: the upstream keeps losing this upload; will try later", retryAfter: nil)
                    }
                    let (u, o) = try await createUpload(length: data.count, metadata: metadata, stats: &stats)
                    recreations += 1
                    do { try await saveURL(u) } catch {
                        throw UploadFailure.transient(
                            "cannot record the upload URL in the outbox: \(error)", retryAfter: nil)
                    }
                    if existingURL != nil || recreations > 1 { stats.recreated += 1 }
                    url = u
                    createdAt = o
                }
                guard let u = url else { continue }
                var offset = 0
                if let o = createdAt {
                    offset = o
                    createdAt = nil  // after any interruption, ask
                } else {
                    switch try await head(u, length: data.count, stats: &stats) {
                    case .gone:
                        url = nil
                        do { try await saveURL(nil) } catch {
                            throw UploadFailure.transient("cannot update the outbox: \(error)", retryAfter: nil)
                        }
                        continue
                    case .offset(let o): offset = o
                    }
                }
                var restart = false
                while offset < data.count && !restart {
                    let end = min(offset + chunkSize, data.count)
                    let chunk = data.subdata(in: offset..<end)
                    switch try await patch(
                        u, offset: offset, chunk: chunk, checksum: caps?.sha256Checksums ?? false,
                        length: data.count, stats: &stats)
                    {
                    case .offset(let n): offset = n
                    case .mismatch:  // ask HEAD where it really is
                        try await interrupted(.transient("tus: the upstream's offset moved under us", retryAfter: nil))
                        restart = true
                    case .checksumRejected:
                        try await interrupted(
                            .transient("tus: a chunk arrived damaged (checksum mismatch)", retryAfter: nil))
                        restart = true
                    case .gone:
                        url = nil
                        do { try await saveURL(nil) } catch {
                            throw UploadFailure.transient("cannot update the outbox: \(error)", retryAfter: nil)
                        }
                        restart = true
                    }
                }
                if !restart { return u }
            } catch let f {
                try await interrupted(f)
            }
        }
    }
}
