// kiosk-intake: the reference upstream server of the kiosk project.
//
//   kiosk-intake serve --port N --data DIR [--host 127.0.0.1] [--token TOKEN=STATION ...] [--admin-token T]
//   kiosk-intake list  --data DIR [--json]
//   kiosk-intake count --data DIR

import ArgumentParser
import Foundation
import IntakeServer
import Logging

struct KioskIntake: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-intake",
        abstract: "Reference upstream for kiosk submissions (kiosk-intake protocol 1).",
        subcommands: [Serve.self, List.self, Count.self]
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
        discussion: "Prints `listening on HOST:PORT` on stdout once the socket is bound (with --port 0 the port is the one picked). Logs go to stderr."
    )

    @Option(help: "Port to listen on (0 picks a free port).")
    var port: Int

    @Option(help: "Data directory (created if missing).")
    var data: String

    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(
        name: .customLong("token"), parsing: .upToNextOption,
        help: ArgumentHelp("Station token as TOKEN=STATION; repeatable. Without any, every bearer token is accepted.", valueName: "TOKEN=STATION"))
    var tokens: [String] = []

    @Option(name: .customLong("token-file"),
            help: "File of station tokens, one TOKEN=STATION per line (# comments); for systemd's LoadCredential=.")
    var tokenFile: String?

    @Option(name: .customLong("admin-token"), help: "Bearer token enabling POST /v1/admin/submissions/{id}/state.")
    var adminToken: String?

    @Option(name: .customLong("max-attachment-bytes"), help: "Largest attachment accepted.")
    var maxAttachmentBytes: Int = 20 * 1024 * 1024

    @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this PEM certificate chain (with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("client-ca"), help: "Require client certificates signed by this PEM CA (mutual TLS).")
    var clientCA: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("demo-certify-after"),
            help: "Demo only: this many seconds after a submission arrives, mark it certificateReady with a sample PDF certificate (示例证照).")
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
        if let tlsCert, let tlsKey {
            configuration.tls = .init(certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: clientCA)
        }
        let store = try IntakeStore(dataDirectory: data, logger: logger)
        let app = try buildIntakeApplication(configuration: configuration, store: store, logger: logger) { host, port in
            emit("listening on \(host):\(port)")
        }
        if let after = demoCertifyAfter {
            Task.detached { await DemoCertifier(store: store, after: after, logger: logger).run() }
        }
        // Runs until SIGINT or SIGTERM, then shuts down gracefully.
        try await app.runService()
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List stored submissions (no personal data): id, case number, item, state, attachments.")

    @Option(help: "Data directory of the intake.")
    var data: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let store: IntakeStore
        do {
            store = try IntakeStore(dataDirectory: data, create: false)
        } catch {
            throw fail("\(error)")
        }
        let rows = try store.summaries()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            emit(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        let header = ["SUBMISSION", "CASE", "ITEM", "STATE", "ATTACHMENTS"]
        let table = [header] + rows.map { [$0.submissionId, $0.caseNumber, $0.itemCode, $0.state.rawValue, String($0.attachmentCount)] }
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

    func run() async throws {
        do {
            let store = try IntakeStore(dataDirectory: data, create: false)
            emit(String(try store.count()))
        } catch {
            throw fail("\(error)")
        }
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

