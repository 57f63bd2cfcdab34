// kiosk-intake: the reference upstream server of the kiosk project.
//
//   kiosk-intake serve --port N --data DIR [--host 127.0.0.1] [--token TOKEN=STATION ...] [--admin-token T]
//                      [--store sqlite|postgres --postgres URL | --postgres-file FILE]
//   kiosk-intake list     --data DIR [--json]            (and the same --store options)
//   kiosk-intake count    --data DIR
//   kiosk-intake stations --data DIR [--json] [--silent-after SECONDS]
//   kiosk-intake bundle keygen --out KEY | publish DIR --key KEY --data DIR | show --data DIR
//
// `serve` runs its long-lived parts as services of one ServiceGroup (swift-service-lifecycle):
// the PostgreSQL client, the demo certifier and the HTTP server. SIGTERM or SIGINT shuts them
// down gracefully in reverse order: the server stops taking requests and finishes those in
// flight, then the certifier stops, then the database connections close.

import ArgumentParser
import Foundation
import IntakeServer
import Logging
import PostgresNIO
import ServiceLifecycle

struct KioskIntake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-intake",
        abstract: "Reference upstream for kiosk submissions (kiosk-intake protocol 1).",
        subcommands: [Serve.self, List.self, Count.self, Stations.self, BundleCommand.self]
    )
}

/// Writes a line to stdout at once (stdout may be a pipe read by a test or script).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data(("kiosk-intake: " + message + "\n").utf8))
    return ExitCode.failure
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the intake server.",
        discussion:
            "Prints `listening on HOST:PORT` on stdout once the socket is bound (with --port 0 the port is the one picked). Logs go to stderr."
    )

    @Option(help: "Port to listen on (0 picks a free port).")
    var port: Int

    @Option(help: "Data directory (created if missing); with --store postgres the directory every node shares.")
    var data: String

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(
        name: .customLong("token"), parsing: .upToNextOption,
        help: ArgumentHelp(
            "Station token as TOKEN=STATION; repeatable. Without any, every bearer token is accepted.",
            valueName: "TOKEN=STATION"))
    var tokens: [String] = []

    @Option(
        name: .customLong("token-file"),
        help: "File of station tokens, one TOKEN=STATION per line (# comments); for systemd's LoadCredential=.")
    var tokenFile: String?

    @Option(name: .customLong("admin-token"), help: "Bearer token enabling POST /v1/admin/submissions/{id}/state.")
    var adminToken: String?

    @Flag(
        name: .customLong("sms"),
        help:
            "Say that notification requests are sent as SMS (a back office sends from GET /v1/admin/notifications); without it kiosks promise no SMS."
    )
    var sms = false

    @Option(name: .customLong("max-attachment-bytes"), help: "Largest attachment accepted.")
    var maxAttachmentBytes: Int = 20 * 1024 * 1024

    @Option(
        name: .customLong("max-connections"),
        help: "Most connections open at once (one more is answered 503 and closed); keep below LimitNOFILE.")
    var maxConnections: Int = 4096

    @Option(
        name: .customLong("idle-timeout"),
        help: "Seconds a connection may go without completing a request part (head, body bytes) before it is closed.")
    var idleTimeout: Double = 15

    @Option(
        name: .customLong("min-bytes-per-second"),
        help: "A request being received must bring at least this many bytes per second over each 10 s window.")
    var minBytesPerSecond: Int = 256

    @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this PEM certificate chain (with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("client-ca"), help: "Require client certificates signed by this PEM CA (mutual TLS).")
    var clientCA: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(
        name: .customLong("demo-certify-after"),
        help:
            "Demo only: this many seconds after a submission arrives, mark it certificateReady with a sample PDF certificate (示例证照)."
    )
    var demoCertifyAfter: Double?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        for token in tokens {
            let parts = token.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--token must look like TOKEN=STATION")
            }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let adminToken, adminToken.isEmpty { throw ValidationError("--admin-token must not be empty") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if clientCA != nil && tlsCert == nil { throw ValidationError("--client-ca needs --tls-cert and --tls-key") }
        guard (1...1_000_000).contains(maxConnections) else {
            throw ValidationError("--max-connections must be 1...1000000")
        }
        guard idleTimeout >= 1, idleTimeout <= 3600 else {
            throw ValidationError("--idle-timeout must be 1...3600 seconds")
        }
        guard (1...1_000_000).contains(minBytesPerSecond) else {
            throw ValidationError("--min-bytes-per-second must be 1...1000000")
        }
        if let d = demoCertifyAfter, !(d >= 0) {
            throw ValidationError("--demo-certify-after must be a number of seconds >= 0")
        }
    }

    /// --token values plus the lines of --token-file.
    func allTokens() throws -> [String] {
        guard let tokenFile else { return tokens }
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw ValidationError("--token-file \(tokenFile) cannot be read")
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for line in lines {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--token-file \(tokenFile): every line must look like TOKEN=STATION")
            }
        }
        return tokens + lines
    }

    func run() async throws {
        var stationTokens: [String: String] = [:]
        for token in try allTokens() {
            let parts = token.split(separator: "=", maxSplits: 1)
            stationTokens[String(parts[0])] = String(parts[1])
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kiosk-intake")
        var configuration = IntakeConfiguration(
            dataDirectory: data, host: host, port: port, stationTokens: stationTokens,
            maxAttachmentBytes: maxAttachmentBytes, adminToken: adminToken)
        configuration.maxConnections = maxConnections
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.minBytesPerSecond = minBytesPerSecond
        configuration.sendsSMS = sms
        if let tlsCert, let tlsKey {
            configuration.tls = .init(certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: clientCA)
        }
        let opened: OpenedStore
        do { opened = try storeOptions.open(data: data, create: true, logger: logger) } catch { throw fail("\(error)") }
        let store = opened.store
        let app = try buildIntakeApplication(configuration: configuration, store: store, logger: logger) { host, port in
            emit("listening on \(host):\(port)")
        }
        // Started in this order, shut down in the reverse one.
        var services: [any Service] = []
        if let client = opened.postgres { services.append(client) }
        if let after = demoCertifyAfter {
            services.append(CertifierService(certifier: DemoCertifier(store: store, after: after, logger: logger)))
        }
        services.append(HTTPService(prepare: opened.migrate, app: app))
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// The HTTP server, started once the store is ready (PostgreSQL: the schema is in place).
struct HTTPService<App: Service>: Service {
    let prepare: @Sendable () async throws -> Void
    let app: App
    func run() async throws {
        try await prepare()
        try await app.run()
    }
}

/// The demo certifier as a service: stops at graceful shutdown.
struct CertifierService: Service {
    let certifier: DemoCertifier
    func run() async throws {
        try await cancelWhenGracefulShutdown { await certifier.run() }
    }
}

/// Which engine holds the intake's records.
struct StoreOptions: ParsableArguments {
    @Option(
        help:
            "Where records are kept: sqlite (one machine, DIR/intake.sqlite) or postgres (several nodes; files stay in DIR, shared)."
    )
    var store: String = "sqlite"

    @Option(
        help:
            "PostgreSQL URL for --store postgres: postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=disable|prefer|require]. Prefer --postgres-file (a URL on the command line is visible to every user)."
    )
    var postgres: String?

    @Option(
        name: .customLong("postgres-file"),
        help: "File holding the PostgreSQL URL (first line), e.g. a systemd credential.")
    var postgresFile: String?

    func validate() throws {
        guard store == "sqlite" || store == "postgres" else {
            throw ValidationError("--store must be sqlite or postgres, not \(store)")
        }
        if store == "postgres", postgres == nil, postgresFile == nil {
            throw ValidationError("--store postgres needs --postgres URL or --postgres-file FILE")
        }
        if store == "sqlite", postgres != nil || postgresFile != nil {
            throw ValidationError("--postgres and --postgres-file go with --store postgres")
        }
    }

    func url() throws -> String {
        if let postgres { return postgres }
        guard let postgresFile, let data = FileManager.default.contents(atPath: postgresFile) else {
            throw ValidationError("--postgres-file \(postgresFile ?? "") cannot be read")
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw ValidationError("--postgres-file \(postgresFile) is empty") }
        return line.trimmingCharacters(in: .whitespaces)
    }

    func open(data: String, create: Bool, logger: Logger, waitForDatabase: Duration = .seconds(30)) throws
        -> OpenedStore
    {
        if store == "sqlite" {
            return OpenedStore(
                store: try IntakeStore(dataDirectory: data, create: create, logger: logger), postgres: nil, migrate: {})
        }
        var config = try PostgresIntakeStore.configuration(url: try url())
        config.options.connectTimeout = .seconds(10)
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        let pg = try PostgresIntakeStore(client: client, dataDirectory: data, logger: logger)
        return OpenedStore(store: pg, postgres: client, migrate: { try await pg.migrate(timeout: waitForDatabase) })
    }

    /// Runs `body` with the store open (for the one-shot commands), the PostgreSQL client running beside it.
    /// Only errors are logged (stdout carries the command's output).
    func with<T: Sendable>(data: String, _ body: @escaping @Sendable (any IntakeStorage) async throws -> T) async throws
        -> T
    {
        var quiet = Logger(label: "kiosk-intake")
        quiet.logLevel = .critical
        let opened = try open(data: data, create: false, logger: quiet, waitForDatabase: .seconds(10))
        guard let client = opened.postgres else { return try await body(opened.store) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask {
                try await opened.migrate()
                return try await body(opened.store)
            }
            defer { group.cancelAll() }
            while let r = try await group.next() { if let r { return r } }
            throw ValidationError("the PostgreSQL client stopped")
        }
    }
}

struct OpenedStore: Sendable {
    var store: any IntakeStorage
    var postgres: PostgresClient?
    var migrate: @Sendable () async throws -> Void
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List stored submissions (no personal data): id, case number, item, state, attachments.")

    @Option(help: "Data directory of the intake.")
    var data: String

    @OptionGroup var storeOptions: StoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let rows: [StoredSubmissionSummary]
        do {
            rows = try await storeOptions.with(data: data) { try await $0.summaries() }
        } catch {
            throw fail("\(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            emit(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        let header = ["SUBMISSION", "CASE", "ITEM", "STATE", "ATTACHMENTS"]
        let table =
            [header]
            + rows.map { [$0.submissionId, $0.caseNumber, $0.itemCode, $0.state.rawValue, String($0.attachmentCount)] }
        var widths = Array(repeating: 0, count: header.count)
        for line in table { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        for line in table {
            let cells = line.enumerated().map { i, cell in
                i == line.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            emit(cells.joined(separator: "  "))
        }
    }
}

struct Count: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the number of stored submissions.")

    @Option(help: "Data directory of the intake.")
    var data: String

    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        do {
            emit(String(try await storeOptions.with(data: data) { try await $0.count() }))
        } catch {
            throw fail("\(error)")
        }
    }
}

struct Stations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The fleet: each station's last heartbeat, device states, queue, disk and versions.",
        discussion:
            "Stations without a heartbeat for longer than --silent-after seconds (or never) are flagged `!` (SILENT); stations with a device down, a quarantined submission, a key alarm or a disk below its floor are flagged `*`. Exit code 0 either way; --json for scripts."
    )

    @Option(help: "Data directory of the intake.")
    var data: String

    @OptionGroup var storeOptions: StoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(
        name: .customLong("silent-after"),
        help: "Seconds without a heartbeat after which a station is flagged (default: 3 heartbeats of 300 s).")
    var silentAfter: Double = 900

    func validate() throws {
        guard silentAfter > 0 else { throw ValidationError("--silent-after must be a positive number of seconds") }
    }

    func run() async throws {
        let rows: [FleetStation]
        do {
            let silent = silentAfter
            rows = try await storeOptions.with(data: data) {
                try await FleetView.stations(store: $0, silentAfter: silent)
            }
        } catch {
            throw fail("\(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            emit(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        if rows.isEmpty {
            emit("no stations yet (no submission or heartbeat received)")
            return
        }
        for line in FleetView.table(rows) { emit(line) }
    }
}

/// Parses and runs inside an async function: in top-level code `KioskIntake.main()` (and
/// `run()` on the parsed command) resolve to the synchronous ParsableCommand overloads, which
/// refuse asynchronous subcommands.
func runKioskIntake() async {
    do {
        var command = try await KioskIntake.asyncParseAsRoot(nil)
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        KioskIntake.exit(withError: error)
    }
}

await runKioskIntake()
