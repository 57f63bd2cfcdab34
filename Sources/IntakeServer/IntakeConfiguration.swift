// Configuration of the reference upstream ("kiosk-intake").

/// How a `kiosk-intake` server is set up. Shared by the executable and the tests.
public struct IntakeConfiguration: Sendable {
    /// Folder holding `intake.sqlite` and `files/<submissionId>/<name>`. Created if missing.
    public var dataDirectory: String
    /// Address to bind. Defaults to loopback.
    public var host: String
    /// Port to bind; 0 picks a free port (see `onServerRunning` in `buildIntakeApplication`).
    public var port: Int
    /// Station bearer tokens: token -> stationId. Empty accepts any non-empty bearer token,
    /// but the `Authorization: Bearer …` header is still required.
    public var stationTokens: [String: String]
    /// Largest attachment accepted, in bytes (default 20 MiB). Larger uploads get 413.
    public var maxAttachmentBytes: Int
    /// Largest manifest body accepted, in bytes (default 1 MiB). Larger bodies get 413.
    public var maxManifestBytes: Int
    /// Bearer token for the operator route `POST /v1/admin/submissions/{id}/state`.
    /// nil disables (does not register) the route.
    public var adminToken: String?
    /// Whether notification requests are sent as SMS (by a back office working from the list);
    /// the reference intake sends none itself. Kiosks promise SMS only when this is true.
    public var sendsSMS = false
    /// Serve HTTPS with this PEM certificate chain and key; with `clientCAFile`, also require a
    /// client certificate signed by that CA (mutual TLS, station identity). nil = plain HTTP.
    public var tls: TLSFiles?

    public struct TLSFiles: Sendable {
        public var certificateFile: String
        public var keyFile: String
        public var clientCAFile: String?
        public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.clientCAFile = clientCAFile
        }
    }

    /// How long a tus upload may stay unfinished before it expires (404/410), in seconds (default 24 h).
    public var uploadExpirySeconds: Double

    /// Slow clients (IntakeConnections.swift). Most connections open at once; one more is answered
    /// 503 and closed. Keep it below the unit's LimitNOFILE (kiosk-intake.service: 65536).
    public var maxConnections: Int = 4096
    /// A connection that completes no request part for this long is closed (also the longest a
    /// request head may take, and how long a half-sent body may stall).
    public var idleTimeoutSeconds: Double = 15
    /// While a request is being received, each window of this many seconds must bring at least
    /// `minBytesPerSecond` × the window, or the connection is closed as a trickle.
    public var rateWindowSeconds: Double = 10
    public var minBytesPerSecond: Int = 256

    public init(
        dataDirectory: String,
        host: String = "127.0.0.1",
        port: Int,
        stationTokens: [String: String] = [:],
        maxAttachmentBytes: Int = 20 * 1024 * 1024,
        maxManifestBytes: Int = 1024 * 1024,
        adminToken: String? = nil,
        uploadExpirySeconds: Double = 24 * 3600
    ) {
        self.uploadExpirySeconds = uploadExpirySeconds
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.stationTokens = stationTokens
        self.maxAttachmentBytes = maxAttachmentBytes
        self.maxManifestBytes = maxManifestBytes
        self.adminToken = adminToken
    }
}
