import ArgumentParser
import Foundation
import KioskApp
import KioskFlow
import Logging
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

    @Option(name: .customLong("exercise-submissions"), help: ArgumentHelp("Headless: seal N made-up submissions while uploading (crash tests, load checks).", visibility: .hidden))
    var exerciseSubmissions: Int?
    @Option(name: .customLong("exercise-interval-ms"), help: ArgumentHelp("Pause between exercise seals.", visibility: .hidden))
    var exerciseInterval: Int = 100
    @Option(name: .customLong("exercise-attachment-bytes"), help: ArgumentHelp("Size of each generated scan.", visibility: .hidden))
    var exerciseBytes: Int = 200_000
    @Flag(name: .customLong("exit-when-drained"), help: ArgumentHelp("With --exercise-submissions: exit once the outbox is empty.", visibility: .hidden))
    var exitWhenDrained = false

    func run() async throws {
        let cfg: KioskConfig
        do { cfg = try KioskConfig.load(path: config) } catch {
            FileHandle.standardError.write(Data("kioskd: \(error)\n".utf8))
            throw ExitCode(78)   // EX_CONFIG
        }
        let logPath = cfg.logFilePath
        let level = Logger.Level(rawValue: cfg.logging?.level ?? "info") ?? .info
        // Under systemd the journal (native protocol, structured fields); otherwise the log file.
        LoggingSystem.bootstrap(JournaldLogHandler.factory(fileFallback: logPath, level: level))
        let logger = Logger(label: "kioskd")

        let services: KioskServices
        do { services = try KioskServices(config: cfg, logger: logger) } catch {
            logger.critical("start-up failed", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("kioskd: \(error)\n".utf8))
            throw ExitCode(78)
        }
        if let n = exerciseSubmissions {
            await HeadlessExercise.run(services: services, count: n, intervalMilliseconds: exerciseInterval,
                                       attachmentBytes: exerciseBytes, exitWhenDrained: exitWhenDrained)
            await services.shutdown()
            return
        }
        let metrics = KioskMetrics.shared
        let admin = AdminService(services: services)
        let adminSocket = AdminSocketServer(path: cfg.adminSocketPath, group: cfg.adminGroup) { data, _ in await admin.handle(data) }
        do { try adminSocket.start() } catch {
            // The residents' service goes on; technicians lose kioskctl status until it is fixed.
            logger.error("admin socket not available", metadata: ["error": "\(error)"])
        }
        var metricsServer: MetricsHTTPServer?
        if let port = cfg.metrics?.port {
            let m = MetricsHTTPServer(port: port, metrics: metrics)
            do { try m.start(); metricsServer = m; logger.info("metrics on loopback", metadata: ["port": "\(m.boundPort)"]) } catch {
                logger.error("metrics not available", metadata: ["error": "\(error)"])
            }
        }
        let terminal = TerminalIO()
        let runtime = KioskRuntime(services: services, terminal: terminal, metrics: metrics)
        let main = Task { await runtime.run() }

        signal(SIGPIPE, SIG_IGN)   // a vanished peer (helper, socket) is an error to handle, not a reason to die
        // SIGTERM/SIGINT end the run loop cleanly (terminal restored, devices closed). SIGHUP from a
        // process (systemctl reload) reloads; SIGHUP from the kernel is a terminal hangup: neither a
        // reload nor a reason to stop (the terminal is reopened).
        var sources: [DispatchSourceSignal] = []
        let configPath = config
        do {
            try HangupSignal.install { origin in
                if origin == .terminalHangup {
                    logger.notice("terminal hung up (SIGHUP from the kernel): not a reload; reopening the terminal")
                    return
                }
                logger.info("SIGHUP: reloading configuration")
                Task { await runtime.reload(configPath: configPath) }
            }
        } catch {
            logger.error("SIGHUP handling not installed", metadata: ["error": "\(error)"])
        }
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                logger.info("signal received, shutting down", metadata: ["signal": "\(sig)"])
                main.cancel()
            }
            src.resume()
            sources.append(src)
        }
        await main.value
        // The loop has ended, so no new step starts. In-flight steps finish (a seal commits or
        // rolls back as a whole, a receipt prints to the end) within 10 s; then the devices close,
        // the outbox is flushed and closed, and the terminal is restored (also by run()).
        let left = await runtime.finishInFlightSteps(timeout: .seconds(10))
        if left > 0 { logger.warning("steps still running at shutdown", metadata: ["count": "\(left)"]) }
        adminSocket.stop()
        metricsServer?.stop()
        await services.shutdown()
        terminal.restore()
        logger.info("kioskd stopped")
        _ = sources
    }
}

