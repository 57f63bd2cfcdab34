// HTTP side of the reference upstream: routes of the kiosk-intake protocol, version 1.
//
//   GET  /v1/health                                  200 HealthReply (+ Kiosk-Intake-Protocol: 1), no auth
//   HEAD /v1/health                                  204 (+ Kiosk-Intake-Protocol: 1), no auth   [addition]
//   PUT  /v1/submissions/{id}/attachments/{name}     201/200 AttachmentReceipt; 400, 401, 409, 413
//   PUT  /v1/submissions/{id}                        201/200 SubmissionReceipt; 400, 401, 403, 409, 413, 422
//   GET  /v1/submissions/{id}                        200 SubmissionStatusReply; 401, 404
//   GET  /v1/submissions?station=S                   200 SubmissionList; 400, 401, 403
//   POST /v1/admin/submissions/{id}/state            200 SubmissionStatusReply; 400, 401, 404 (admin token)
//   GET  /v1/catalog/bundle                          200 signed catalog bundle, 304, 404 (IntakeBundles.swift)
//   OPTIONS|POST /v1/uploads, HEAD|PATCH|DELETE /v1/uploads/{uid}   tus 1.0.0 (IntakeTus.swift)

import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
@_exported import KioskProtocols  // the public API speaks in the protocol's types
import Logging

/// Request context carrying the station the bearer token belongs to.
public struct IntakeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Station of the presented token; nil when the intake runs without a token table.
    public var stationId: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.stationId = nil
    }
}

/// Body of `POST /v1/admin/submissions/{id}/state`.
public struct AdminStateChange: Codable, Sendable, Equatable {
    public var state: UpstreamState
    public var note: String?
    public init(state: UpstreamState, note: String? = nil) {
        self.state = state
        self.note = note
    }
}

/// Builds the intake application: opens (or uses) the store and registers the routes.
/// - Parameters:
///   - configuration: where to store data, what to bind, which tokens to accept.
///   - store: an already open store over `configuration.dataDirectory`; opened here when nil.
///   - logger: logger for the server and the routes (never receives personal data).
///   - onServerRunning: called once the socket is bound, with the configured host and the
///     actual port (useful with port 0).
public func buildIntakeApplication(
    configuration: IntakeConfiguration,
    store: (any IntakeStorage)? = nil,
    logger: Logger = Logger(label: "kiosk-intake"),
    onServerRunning: (@Sendable (_ host: String, _ port: Int) async -> Void)? = nil
) throws -> some ApplicationProtocol {
    let store: any IntakeStorage = try store ?? IntakeStore(dataDirectory: configuration.dataDirectory, logger: logger)
    let router = Router(context: IntakeRequestContext.self)
    let routes = IntakeRoutes(configuration: configuration, store: store, logger: logger)
    routes.register(on: router)

    let host = configuration.host
    let http1 = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)))
    let window = TimeAmount.nanoseconds(Int64(configuration.rateWindowSeconds * 1e9))
    let minBytesPerWindow = max(1, Int(Double(configuration.minBytesPerSecond) * configuration.rateWindowSeconds))
    var tlsConfiguration: TLSConfiguration?
    if let files = configuration.tls {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: files.keyFile, format: .pem)))
        if let ca = files.clientCAFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            tls.certificateVerification = .noHostnameVerification  // a client certificate is required and checked
        }
        tlsConfiguration = tls
    }
    // The guard goes first in each connection's pipeline, before TLS: it sees the bytes as they arrive.
    let connections = ConnectionCount(limit: configuration.maxConnections)
    let server = HTTPServerBuilder { [tlsConfiguration] responder in
        let plain = HTTP1Channel(responder: responder, configuration: http1)
        if let tlsConfiguration {
            return GuardedChannel(
                base: try TLSChannel(plain, tlsConfiguration: tlsConfiguration), window: window,
                minBytesPerWindow: minBytesPerWindow, connections: connections, plainHTTP: false, logger: logger)
        }
        return GuardedChannel(
            base: plain, window: window, minBytesPerWindow: minBytesPerWindow, connections: connections,
            plainHTTP: true, logger: logger)
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(
            address: .hostname(host, port: configuration.port), serverName: nil, backlog: 1024),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            await onServerRunning?(host, port)
        },
        logger: logger
    )
}

extension HTTPFields {
    /// Header access by a name held in a String (the protocol's header names are valid tokens).
    subscript(named name: String) -> String? {
        get { self[.init(name)!] }
        set { self[.init(name)!] = newValue }
    }

    static var intakeProtocol: HTTPFields {
        var fields = HTTPFields()
        fields[named: IntakeAPI.protocolHeader] = IntakeAPI.protocolVersion
        return fields
    }
}

/// Checks `Authorization: Bearer <token>` against the station token table.
struct StationAuthMiddleware: RouterMiddleware {
    typealias Context = IntakeRequestContext
    let tokens: [String: String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token = bearerToken(request) else {
            throw IntakeError.unauthorized(
                "Missing bearer token. Send the header `Authorization: Bearer <station token>` with every request except /v1/health."
            )
        }
        var context = context
        if !tokens.isEmpty {
            // Compare against every entry so the time taken does not depend on which token matched.
            var station: String?
            for (candidate, stationId) in tokens where IntakeDigest.constantTimeEquals(candidate, token) {
                station = stationId
            }
            guard let station else {
                throw IntakeError.unauthorized(
                    "This bearer token is not known to the intake. Check the station's upstream token in its configuration, or ask the intake operator to register it."
                )
            }
            context.stationId = station
        }
        return try await next(request, context)
    }
}

/// Checks `Authorization: Bearer <admin token>` for the operator routes.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = IntakeRequestContext
    let adminToken: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token = bearerToken(request), IntakeDigest.constantTimeEquals(token, adminToken) else {
            throw IntakeError.unauthorized(
                "Operator routes need `Authorization: Bearer <admin token>` with the token the intake was started with (--admin-token)."
            )
        }
        return try await next(request, context)
    }
}

extension IntakeStorage {
    /// Claims `submissionId` for the request's station on its first use (an upload, an attachment,
    /// a manifest), or refuses with 404 when another station used it first. Without a token table
    /// there are no stations to tell apart.
    func claim(_ submissionId: String, for context: IntakeRequestContext) async throws {
        guard let station = context.stationId else { return }
        guard try await claimSubmission(submissionId, stationId: station) else {
            throw IntakeError.notFound(
                "Submission id \(submissionId) is not available to this station. Give the submission a new id (a fresh UUID) and send it again."
            )
        }
    }

    /// True when the request's station may see `submissionId` (it used it first, or there is no token table).
    func owns(_ submissionId: String, _ context: IntakeRequestContext) async throws -> Bool {
        guard let station = context.stationId else { return true }
        return try await submissionOwner(submissionId) == station
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or nil.
func bearerToken(_ request: Request) -> String? {
    guard let value = request.headers[.authorization] else { return nil }
    let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    let token = parts[1].trimmingCharacters(in: .whitespaces)
    return token.isEmpty ? nil : token
}

struct IntakeRoutes: Sendable {
    let configuration: IntakeConfiguration
    let store: any IntakeStorage
    let logger: Logger

    func register(on router: Router<IntakeRequestContext>) {
        // Added first so it also wraps the not-found responder: every error is ErrorReply JSON.
        router.add(middleware: JSONErrorMiddleware<IntakeRequestContext>(logger: logger))

        router.get("/v1/health") { _, _ in
            jsonResponse(status: .ok, HealthReply(), headers: .intakeProtocol)
        }
        router.head("/v1/health") { _, _ in
            var headers = HTTPFields.intakeProtocol
            headers[.cacheControl] = "no-store"
            return Response(status: .noContent, headers: headers)
        }

        let auth = StationAuthMiddleware(tokens: configuration.stationTokens)
        TusRoutes(configuration: configuration, store: store, logger: logger).register(on: router, auth: auth)
        let messages = MessageRoutes(configuration: configuration, store: store, logger: logger)
        messages.register(on: router, auth: auth)
        BundleRoutes(store: store).register(on: router, auth: auth)
        let help = HelpRoutes(store: store, logger: logger)
        help.register(on: router, auth: auth)
        let followUps = FollowUpRoutes(store: store, logger: logger)
        followUps.register(on: router, auth: auth)
        let notifications = NotificationRoutes(store: store, sms: configuration.sendsSMS, logger: logger)
        notifications.register(on: router, auth: auth)

        let stations = router.group("/v1/submissions").add(middleware: auth)
        stations.get { request, context in try await self.listSubmissions(request, context) }
        stations.get("{id}") { request, context in try await self.getSubmission(request, context) }
        stations.put("{id}") { request, context in try await self.putManifest(request, context) }
        stations.put("{id}/attachments/{name}") { request, context in try await self.putAttachment(request, context) }

        if let adminToken = configuration.adminToken {
            let admin = router.group("/v1/admin").add(middleware: AdminAuthMiddleware(adminToken: adminToken))
            admin.post("submissions/{id}/state") { request, context in try await self.setState(request, context) }
            messages.registerAdmin(on: admin)
            help.registerAdmin(on: admin)
            followUps.registerAdmin(on: admin)
            notifications.registerAdmin(on: admin)
        }
    }

    // MARK: Parameters

    private func submissionId(_ context: IntakeRequestContext) throws -> String {
        guard let id = context.parameters.get("id"), IntakeIdentifier.isValid(id) else {
            throw IntakeError.badRequest(
                "invalid-id",
                "The submission id must be 1-64 characters of A-Z a-z 0-9 . _ - (and not . or ..). Use the kiosk's submission UUID."
            )
        }
        return id
    }

    private func attachmentName(_ context: IntakeRequestContext) throws -> String {
        guard let name = context.parameters.get("name"), IntakeIdentifier.isValid(name) else {
            throw IntakeError.badRequest(
                "invalid-name",
                "The attachment name must be 1-64 characters of A-Z a-z 0-9 . _ - (and not . or ..), e.g. material-1.jpg. Rename the attachment."
            )
        }
        return name
    }

    private func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        for try await var part in request.body {
            guard collected.readableBytes + part.readableBytes <= limit else {
                throw IntakeError(
                    .contentTooLarge, "too-large",
                    "The body is larger than \(limit) bytes, the most this intake accepts here.")
            }
            collected.writeBuffer(&part)
        }
        return collected
    }

    // MARK: Attachments

    private func putAttachment(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let id = try submissionId(context)
        let name = try attachmentName(context)
        guard let header = request.headers[named: IntakeAPI.sha256Header] else {
            throw IntakeError.badRequest(
                "missing-checksum",
                "Send the SHA-256 of the body as lowercase hex in the \(IntakeAPI.sha256Header) header.")
        }
        let expected = header.trimmingCharacters(in: .whitespaces).lowercased()
        guard IntakeDigest.isSHA256Hex(expected) else {
            throw IntakeError.badRequest(
                "bad-checksum-header",
                "The \(IntakeAPI.sha256Header) header must be 64 hex digits (the SHA-256 of the body).")
        }

        try await store.claim(id, for: context)

        let limit = configuration.maxAttachmentBytes
        let staged = try store.makeStagingFile()
        let size: Int
        let sha: String
        do {
            for try await buffer in request.body {
                guard staged.size + buffer.readableBytes <= limit else {
                    throw IntakeError(
                        .contentTooLarge, "too-large",
                        "The attachment is larger than \(limit) bytes, the most this intake accepts. Reduce the scan's resolution or split it."
                    )
                }
                try buffer.withUnsafeReadableBytes { try staged.write($0) }
            }
            (size, sha) = try staged.finish()
        } catch {
            staged.discard()
            if error is IntakeError {
                logger.notice("attachment refused", metadata: ["submission": "\(id)", "reason": "too-large"])
            }
            throw error
        }
        guard sha == expected else {
            staged.discard()
            logger.notice(
                "attachment refused",
                metadata: ["submission": "\(id)", "size": "\(size)", "reason": "checksum-mismatch"])
            throw IntakeError.badRequest(
                "checksum-mismatch",
                "The body (\(size) bytes) has SHA-256 \(sha) but \(IntakeAPI.sha256Header) says \(expected). The bytes were damaged or cut short in transit; nothing was stored. Send the whole file again."
            )
        }

        switch try await store.commitAttachment(submissionId: id, name: name, staged: staged, size: size, sha256: sha) {
        case .created(let receipt):
            logger.info("attachment stored", metadata: ["submission": "\(id)", "size": "\(size)"])
            return jsonResponse(status: .created, receipt)
        case .identical(let receipt):
            logger.info("attachment repeated", metadata: ["submission": "\(id)", "size": "\(size)"])
            return jsonResponse(status: .ok, receipt)
        case .conflict(let existing):
            logger.notice("attachment conflict", metadata: ["submission": "\(id)", "size": "\(size)"])
            throw IntakeError(
                .conflict, "conflict",
                "Attachment \(name) of submission \(id) is already stored with different content (\(existing.size) bytes, SHA-256 \(existing.sha256)). Stored attachments never change: keep the original bytes, or use a new attachment name."
            )
        case .submissionClosed:
            logger.notice("attachment after manifest", metadata: ["submission": "\(id)", "size": "\(size)"])
            throw IntakeError(
                .conflict, "conflict",
                "Submission \(id) was already accepted and its manifest does not list \(name). An accepted submission cannot gain attachments: send a new submission."
            )
        }
    }

    // MARK: Manifests

    private func putManifest(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let id = try submissionId(context)
        let body = try await collectBody(request, limit: configuration.maxManifestBytes)
        let manifest: SubmissionManifest
        do {
            manifest = try JSONDecoder().decode(SubmissionManifest.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw IntakeError.badRequest(
                "invalid-manifest",
                "The body is not a valid SubmissionManifest: \(Self.describe(error)). Fix the manifest and send it again."
            )
        } catch {
            throw IntakeError.badRequest(
                "invalid-manifest", "The body is not valid JSON. Send a SubmissionManifest as JSON.")
        }
        guard manifest.submissionId == id else {
            throw IntakeError.badRequest(
                "id-mismatch",
                "The manifest's submissionId \(manifest.submissionId) differs from the id in the URL (\(id)). PUT the manifest to /v1/submissions/<its submissionId>."
            )
        }
        try validate(manifest)
        if let station = context.stationId, station != manifest.stationId {
            throw IntakeError(
                .forbidden, "wrong-station",
                "This token belongs to station \(station) but the manifest says stationId \(manifest.stationId). Send manifests with the token of the station that made them."
            )
        }

        try await store.claim(id, for: context)

        let meta: Logger.Metadata = ["submission": "\(id)", "case": "\(manifest.caseNumber)"]
        switch try await store.putManifest(manifest, now: Date()) {
        case .created(let receipt):
            logger.info(
                "submission received", metadata: meta.merging(["attachments": "\(manifest.attachments.count)"]) { $1 })
            try await store.supplementReceived(manifest, logger: logger)
            return jsonResponse(status: .created, receipt)
        case .identical(let receipt):
            logger.info("submission repeated", metadata: meta)
            return jsonResponse(status: .ok, receipt)
        case .conflict(let existing):
            logger.notice("submission conflict", metadata: meta)
            throw IntakeError(
                .conflict, "conflict",
                "Submission \(id) was already received (case \(existing.caseNumber), at \(existing.receivedAt)) with a different manifest. A submission id is used once: keep the original, or send the changed data as a new submission with a new id."
            )
        case .caseNumberTaken(let caseNumber, let other):
            logger.notice("case number taken", metadata: meta.merging(["other": "\(other)"]) { $1 })
            throw IntakeError(
                .conflict, "case-number-taken",
                "Station \(manifest.stationId) already used case number \(caseNumber) for submission \(other). A case number names one submission of its station: give this submission its own case number."
            )
        case .missingAttachments(let problems):
            logger.notice(
                "submission missing attachments", metadata: meta.merging(["missing": "\(problems.count)"]) { $1 })
            let list = problems.map { "\($0.name) (\($0.reason))" }.joined(separator: ", ")
            throw IntakeError(
                .unprocessableContent, "missing-attachment",
                "Not every listed attachment is stored with the listed size and SHA-256: \(list). Upload each with PUT /v1/submissions/\(id)/attachments/<name>, then send the manifest again."
            )
        }
    }

    private func validate(_ manifest: SubmissionManifest) throws {
        func invalid(_ what: String) -> IntakeError {
            IntakeError.badRequest("invalid-manifest", "\(what) Fix the manifest and send it again.")
        }
        if manifest.caseNumber.isEmpty { throw invalid("caseNumber is empty.") }
        if manifest.stationId.isEmpty { throw invalid("stationId is empty.") }
        if manifest.itemCode.isEmpty { throw invalid("itemCode is empty.") }
        var seen = Set<String>()
        for (index, ref) in manifest.attachments.enumerated() {
            guard IntakeIdentifier.isValid(ref.name) else {
                throw invalid(
                    "attachments[\(index)].name must be 1-64 characters of A-Z a-z 0-9 . _ - (and not . or ..).")
            }
            guard seen.insert(ref.name).inserted else {
                throw invalid("attachments[\(index)].name \(ref.name) is listed twice.")
            }
            guard IntakeDigest.isSHA256Hex(ref.sha256) else {
                throw invalid("attachments[\(index)].sha256 must be 64 lowercase hex digits.")
            }
            guard ref.size >= 0 else { throw invalid("attachments[\(index)].size is negative.") }
        }
    }

    /// Describes a decoding error by coding path only (never by the values it saw).
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.isEmpty
                ? "(top level)"
                : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx): return "field \(path(ctx.codingPath + [key])) is missing"
        case .valueNotFound(_, let ctx): return "field \(path(ctx.codingPath)) is null"
        case .typeMismatch(let type, let ctx): return "field \(path(ctx.codingPath)) should be \(type)"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty
                ? "the body is not valid JSON" : "field \(path(ctx.codingPath)) has an invalid value"
        @unknown default: return "it does not match the schema"
        }
    }

    // MARK: Status

    private func getSubmission(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let id = try submissionId(context)
        guard try await store.owns(id, context), let status = try await store.status(submissionId: id) else {
            throw IntakeError.notFound(
                "No submission \(id) is stored for this station. If the kiosk sent it, send its attachments and manifest again (PUT /v1/submissions/\(id))."
            )
        }
        return jsonResponse(status: .ok, status)
    }

    private func listSubmissions(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let requested = request.uri.queryParameters.get("station")
        let station: String
        switch (requested, context.stationId) {
        case (let requested?, let own?) where requested != own:
            throw IntakeError(
                .forbidden, "wrong-station", "This token belongs to station \(own); it can list only ?station=\(own).")
        case (let requested?, _):
            station = requested
        case (nil, let own?):
            station = own
        case (nil, nil):
            throw IntakeError.badRequest(
                "missing-station", "Say which station's submissions to list: GET /v1/submissions?station=<stationId>.")
        }
        guard !station.isEmpty else {
            throw IntakeError.badRequest(
                "missing-station", "The station parameter is empty: GET /v1/submissions?station=<stationId>.")
        }
        return jsonResponse(status: .ok, SubmissionList(submissions: try await store.list(stationId: station)))
    }

    // MARK: Operator

    private struct RawStateChange: Decodable {
        var state: String
        var note: String?
    }

    private func setState(_ request: Request, _ context: IntakeRequestContext) async throws -> Response {
        let id = try submissionId(context)
        let body = try await collectBody(request, limit: 64 * 1024)
        let allowed = UpstreamState.allCases.map(\.rawValue).joined(separator: ", ")
        let change: RawStateChange
        do {
            change = try JSONDecoder().decode(RawStateChange.self, from: Data(body.readableBytesView))
        } catch {
            throw IntakeError.badRequest(
                "bad-request", #"Send JSON {"state": "<one of \#(allowed)>", "note": "optional text"}."#)
        }
        guard let state = UpstreamState(rawValue: change.state) else {
            throw IntakeError.badRequest("invalid-state", "Unknown state \"\(change.state)\". Use one of: \(allowed).")
        }
        guard let status = try await store.setState(submissionId: id, state: state, note: change.note, now: Date())
        else {
            throw IntakeError.notFound("No submission \(id) is stored; only received submissions can change state.")
        }
        logger.info(
            "state changed by operator",
            metadata: ["submission": "\(id)", "case": "\(status.caseNumber)", "state": "\(state.rawValue)"])
        return jsonResponse(status: .ok, status)
    }
}
