import ArgumentParser
import Foundation
import KioskApp
import KioskCore
import KioskFlow
import KioskTerminal
import Logging
import NIOCore
import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#endif

@main
struct Kioskd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskd",
        abstract: "The self-service terminal daemon: devices, resident flow on this terminal, outbox and upload.")

    @Option(name: .long, help: "Path of kiosk.yaml.")
    var config: String = "/etc/kioskd/kiosk.yaml"

    @Option(
        name: .customLong("exercise-submissions"),
        help: ArgumentHelp(
            "Headless: seal N made-up submissions while uploading (crash tests, load checks).", visibility: .hidden))
    var exerciseSubmissions: Int?
    @Option(
        name: .customLong("exercise-interval-ms"),
        help: ArgumentHelp("Pause between exercise seals.", visibility: .hidden))
    var exerciseInterval: Int = 100
    @Option(
        name: .customLong("exercise-attachment-bytes"),
        help: ArgumentHelp("Size of each generated scan.", visibility: .hidden))
    var exerciseBytes: Int = 200_000
    @Flag(
        name: .customLong("exit-when-drained"),
        help: ArgumentHelp("With --exercise-submissions: exit once the outbox is empty.", visibility: .hidden))
    var exitWhenDrained = false

    func run() async throws {
        // Whatever the unit's UMask: everything kioskd creates is its own only (state 0700, files 0600).
        StatePermissions.restrictUmask()
        // One SwiftNIO event loop and one blocking-pool thread (NIO's default is one of each per
        // core): the daemon's network work is one uploader and a loopback metrics port. Each
        // thread saved is its stack and its malloc arena in the resident set. Set once, before
        // anything touches NIO's singletons.
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.blockingPoolThreadCountSuggestion = 1
        let cfg: KioskConfig
        do { cfg = try KioskConfig.load(path: config) } catch {
            FileHandle.standardError.write(Data("kioskd: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let logPath = cfg.logFilePath
        let level = cfg.logging?.level?.level ?? .info
        // Under systemd the journal (native protocol, structured fields); otherwise the log file.
        LoggingSystem.bootstrap(JournaldLogHandler.factory(fileFallback: logPath, level: level))
        let logger = Logger(label: "kioskd")

        do {
            let tightened = try StatePermissions.secure(cfg.stateDirectoryPath)
            if !tightened.isEmpty {
                logger.notice(
                    "state directory: group and other access removed", metadata: ["entries": "\(tightened.count)"])
            }
        } catch {
            // Opening the outbox below says what to fix.
            logger.warning("state directory not secured", metadata: ["error": "\(error)"])
        }
        let services: KioskServices
        do { services = try KioskServices(config: cfg, logger: logger) } catch let lost as OutboxLostError {
            // Starting fresh would issue case numbers again and orphan the residents' files.
            logger.critical("outbox database lost", metadata: ["error": "\(lost)"])
            FileHandle.standardError.write(Data("kioskd: \(lost)\n".utf8))
            throw ExitCode(OutboxLostError.exitCode)
        } catch {
            logger.critical("start-up failed", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("kioskd: \(error)\n".utf8))
            throw ExitCode(78)
        }
        if let n = exerciseSubmissions {
            await HeadlessExercise.run(
                services: services, count: n, intervalMilliseconds: exerciseInterval,
                attachmentBytes: exerciseBytes, exitWhenDrained: exitWhenDrained)
            await services.shutdown()
            return
        }
        let metrics = KioskMetrics.shared
        let admin = AdminService(services: services)
        let adminSocket = AdminSocketServer(path: cfg.adminSocketPath, group: cfg.adminGroup) { data, _ in
            await admin.handle(data)
        }
        // The terminal kioskd runs on (tmux, a serial terminal, the console), if it runs on one;
        // under systemd with the display stack it has none and serves the screen on its socket.
        let tty = TerminalIO(encoding: cfg.screenEncoding)
        let terminal: TerminalIO? = tty.isTTY ? tty : nil
        let screens = cfg.screenSocketPath.map {
            ScreenSocketServer(
                path: $0, displayGroup: cfg.screen?.displayGroup ?? "kioskscreen", watchGroup: cfg.adminGroup)
        }
        let runtime = KioskRuntime(services: services, terminal: terminal, screens: screens, metrics: metrics)
        signal(SIGPIPE, SIG_IGN)  // a vanished peer (helper, socket) is an error to handle, not a reason to die

        // Shut down in reverse order: the resident flow first, then reloads, admin socket, metrics.
        var parts: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let port = cfg.metrics?.port {
            let app = MetricsEndpoint.application(port: port, metrics: metrics, logger: logger) { bound in
                logger.info("metrics on loopback", metadata: ["port": "\(bound)"])
            }
            // A metrics port that cannot be bound is logged; the residents' service goes on.
            parts.append(.init(service: app, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        parts.append(.init(service: AdminSocketService(server: adminSocket, logger: logger)))
        parts.append(.init(service: ReloadService(runtime: runtime, configPath: config, logger: logger)))
        parts.append(
            .init(
                service: KioskRuntimeService(runtime: runtime, services: services, terminal: terminal),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(
            configuration: .init(
                services: parts, gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [], logger: logger))
        do { try await group.run() } catch {
            logger.error("kioskd stopped on an error", metadata: ["error": "\(error)"])
        }
        terminal?.restore()
        logger.info("kioskd stopped")
    }
}
