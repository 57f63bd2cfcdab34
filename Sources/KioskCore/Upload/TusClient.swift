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
///
/// Once a server has shown that it keeps the bytes of a cut PATCH (tus says it should: after a
/// cut its offset had moved past where the cut request started), the rest of a file goes in one
/// PATCH instead of `chunkSize` pieces: nothing is sent twice either way, and every PATCH saved
/// is a round trip and a server-side fsync saved. A cut that shows the server (or a buffering
/// proxy in front of it) kept nothing of such a PATCH goes back to chunks.
public struct TusClient: Sendable {
    public struct Stats: Sendable, Equatable {
        /// Payload bytes in PATCH bodies that reached the server or may have: whole bodies of
        /// answered PATCHes; of a cut PATCH, what the server turned out to keep when it kept some,
        /// else the whole body (how much of it crossed before the cut is unknown).
        public var bytesSent = 0
        public var requests = 0
        public var interruptions = 0
        public var recreated = 0
        /// Requests that ended without a reply (connection cut, refused, timed out).
        public var connectionBreaks = 0
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
    /// Whether the server keeps what arrived of a cut PATCH (nil: not seen yet), learned from the
    /// HEAD after a cut; kept across uploads.
    let keepsCutBytes = Learned()

    final class CapabilitiesCache: Sendable {
        private let value = Mutex<TusCapabilities?>(nil)
        var current: TusCapabilities? { value.withLock { $0 } }
        func set(_ c: TusCapabilities?) { value.withLock { $0 = c } }
    }

    final class Learned: Sendable {
        private let value = Mutex<Bool?>(nil)
        var current: Bool? { value.withLock { $0 } }
        func set(_ b: Bool?) { value.withLock { $0 = b } }
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
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        stats.requests += 1
        do {
            let resp = try await http.execute(req, timeout: .seconds(timeoutSeconds))
            let buf = try await resp.body.collect(upTo: 1 << 20)
            return Reply(status: Int(resp.status.code), headers: resp.headers, body: Data(buf.readableBytesView))
        } catch {
            stats.connectionBreaks += 1
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

    /// `digest`: the chunk's SHA-256 when the caller knows it (the whole file's, from the outbox).
    func patch(
        _ url: String, offset: Int, chunk: Data, checksum: Bool, digest: Data? = nil, length: Int, stats: inout Stats
    )
        async throws(UploadFailure) -> PatchResult
    {
        var h = [("Content-Type", Tus.offsetContentType), (Tus.uploadOffset, String(offset))]
        if checksum {
            let d = digest ?? Data(SHA256.hash(data: chunk))
            h.append((Tus.uploadChecksum, "sha256 " + d.base64EncodedString()))
        }
        await limiter.take(chunk.count)
        let r = try await send(.PATCH, url, headers: h, body: chunk, stats: &stats)
        stats.bytesSent += chunk.count
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

    /// The capabilities, from the cache or an OPTIONS.
    func ensureCapabilities(stats: inout Stats) async throws(UploadFailure) -> TusCapabilities {
        if let c = knownCapabilities.current { return c }
        let c = try await capabilities(stats: &stats)
        knownCapabilities.set(c)
        return c
    }

    /// Creates the uploads of several files (OPTIONS first when the capabilities are not known):
    /// their URLs and offsets, for the caller to record durably in one commit before any byte goes
    /// to them, then hand to `upload(existingURL:knownOffset:)`. A request cut on the way is
    /// repeated once at once (an unanswered creation leaves at most an empty upload that expires).
    public func createUploads(_ files: [(length: Int, metadata: [(String, String)])], stats: inout Stats)
        async throws(UploadFailure) -> [(url: String, offset: Int)]
    {
        var out: [(url: String, offset: Int)] = []
        for f in files {
            var tries = 0
            while true {
                do throws(UploadFailure) {
                    let caps = try await ensureCapabilities(stats: &stats)
                    if let max = caps.maxSize, f.length > max {
                        throw UploadFailure.permanent(
                            "tus: the file (\(f.length) bytes) is larger than the upstream's Tus-Max-Size \(max)")
                    }
                    out.append(try await createUpload(length: f.length, metadata: f.metadata, stats: &stats))
                    break
                } catch {
                    stats.interruptions += 1
                    tries += 1
                    guard case .transient(_, nil) = error, tries < 2 else { throw error }
                    knownCapabilities.set(nil)
                }
            }
        }
        return out
    }

    /// Uploads `data`, resuming the upload at `existingURL` when there is one (at `knownOffset`
    /// without asking, when the caller just created it). `saveURL` is called (and must make the
    /// URL durable) before any byte is sent to a new upload, and with nil when the upstream forgot
    /// an upload. `digest`: the file's SHA-256, when known, used as the checksum of a PATCH that
    /// carries the whole file. Throws `.transient` after `resumesPerCall` interruptions in one
    /// call; the next call continues from the server's offset.
    public func upload(
        data: Data, existingURL: String?, knownOffset: Int? = nil, digest: Data? = nil,
        metadata: [(String, String)], stats: inout Stats,
        saveURL: (String?) async throws -> Void
    ) async throws(UploadFailure) -> String {
        var caps = knownCapabilities.current
        var url = existingURL
        var interruptions = 0
        var recreations = 0
        // Offset of an upload just created (by this call or the caller): no HEAD needed.
        var createdAt: Int? = existingURL == nil ? nil : knownOffset
        // The PATCH a cut interrupted: where it started, its size, whether it was a whole rest.
        var cut: (offset: Int, count: Int, streamed: Bool)?
        var breaksSeen = stats.connectionBreaks
        // Streaming the rest in one PATCH would make a bandwidth cap's pacing coarse: not with a cap.
        let mayStream = limiter.bytesPerSecond == nil

        // What the server's offset after a cut says about the cut PATCH's bytes (nil: unknown).
        func settleCut(serverOffset: Int?) {
            guard let c = cut else { return }
            cut = nil
            if let o = serverOffset, o > c.offset, o < c.offset + c.count {
                stats.bytesSent += o - c.offset  // kept: nothing of it goes again
                keepsCutBytes.set(true)
            } else {
                stats.bytesSent += c.count
                if serverOffset == c.offset, c.streamed { keepsCutBytes.set(false) }
            }
        }

        func interrupted(_ f: UploadFailure) async throws(UploadFailure) {
            // A reply that was not the one tus promises: ask for the capabilities again next
            // time. A cut connection says nothing about the server's capabilities.
            if stats.connectionBreaks == breaksSeen { knownCapabilities.set(nil) }
            breaksSeen = stats.connectionBreaks
            stats.interruptions += 1
            interruptions += 1
            if case .permanent = f {
                settleCut(serverOffset: nil)
                throw f
            }
            guard interruptions <= resumesPerCall else {
                settleCut(serverOffset: nil)
                throw f
            }
            if case .transient(_, let ra?) = f {
                settleCut(serverOffset: nil)
                throw UploadFailure.transient(f.description, retryAfter: ra)
            }
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
                    caps = try await ensureCapabilities(stats: &stats)
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
                        settleCut(serverOffset: nil)
                        url = nil
                        do { try await saveURL(nil) } catch {
                            throw UploadFailure.transient("cannot update the outbox: \(error)", retryAfter: nil)
                        }
                        continue
                    case .offset(let o):
                        settleCut(serverOffset: o)
                        offset = o
                    }
                }
                var restart = false
                while offset < data.count && !restart {
                    let streamed = mayStream && keepsCutBytes.current == true && data.count - offset > chunkSize
                    let end = streamed ? data.count : min(offset + chunkSize, data.count)
                    let chunk = data.subdata(in: offset..<end)
                    let breaks = stats.connectionBreaks
                    let result: PatchResult
                    do {
                        result = try await patch(
                            u, offset: offset, chunk: chunk, checksum: caps?.sha256Checksums ?? false,
                            digest: offset == 0 && end == data.count ? digest : nil, length: data.count,
                            stats: &stats)
                    } catch {
                        if stats.connectionBreaks > breaks { cut = (offset, chunk.count, streamed) }
                        throw error
                    }
                    switch result {
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
