import Foundation
import Hummingbird
import HummingbirdCore
import KioskTerminal
import Logging
import ServiceLifecycle
import UnixSignals

// kioskd's long-lived parts as services of one ServiceGroup: SIGTERM/SIGINT shut them down
// gracefully in reverse order (the resident flow first, so a seal in flight commits and a receipt
// prints to the end; then reloads, the admin socket, metrics), SIGHUP reloads the catalog.

/// The resident flow on the terminal, the devices and the uploader. Its end (input closed) ends the group.
public struct KioskRuntimeService: Service {
    let runtime: KioskRuntime
    let services: KioskServices
    let terminal: TerminalIO?

    public init(runtime: KioskRuntime, services: KioskServices, terminal: TerminalIO?) {
        self.runtime = runtime
        self.services = services
        self.terminal = terminal
    }

    public func run() async throws {
        let runtime = runtime
        await cancelWhenGracefulShutdown { await runtime.run() }
        // The loop has ended, so no new step starts. In-flight steps finish (a seal commits or rolls
        // back as a whole, a receipt prints to the end) within 10 s; then the devices close, the
        // outbox is flushed and closed, and the terminal is restored (also by run()).
        let left = await runtime.finishInFlightSteps(timeout: .seconds(10))
        if left > 0 { services.logger.warning("steps still running at shutdown", metadata: ["count": "\(left)"]) }
        await services.shutdown()
        terminal?.restore()
    }
}

/// SIGHUP (`systemctl reload kioskd`): re-read the catalog and settings, applied at the next home screen.
/// Only a SIGHUP a process sent: one from the kernel is a terminal hangup, neither a reload nor a
/// reason to stop (TerminalIO reopens the terminal), see HangupSignal.
public struct ReloadService: Service {
    let runtime: KioskRuntime
    let configPath: String
    let logger: Logger

    public init(runtime: KioskRuntime, configPath: String, logger: Logger) {
        self.runtime = runtime
        self.configPath = configPath
        self.logger = logger
    }

    public func run() async throws {
        let (signals, sink) = AsyncStream<HangupSignal.Origin>.makeStream(bufferingPolicy: .unbounded)
        do { try HangupSignal.install { sink.yield($0) } } catch {
            logger.error("SIGHUP handling not installed", metadata: ["error": "\(error)"])
        }
        for await origin in signals.cancelOnGracefulShutdown() {
            if origin == .terminalHangup {
                logger.notice("terminal hung up (SIGHUP from the kernel): not a reload; reopening the terminal")
                continue
            }
            logger.info("SIGHUP: reloading configuration")
            await runtime.reload(configPath: configPath)
        }
    }
}

/// The admin socket kioskctl talks to. If it cannot be opened the residents' service goes on;
/// technicians lose kioskctl status until it is fixed.
public struct AdminSocketService: Service {
    let server: AdminSocketServer
    let logger: Logger

    public init(server: AdminSocketServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public func run() async throws {
        do { try server.start() } catch {
            logger.error("admin socket not available", metadata: ["error": "\(error)"])
        }
        try? await gracefulShutdown()
        server.stop()
    }
}

/// `GET /metrics` (Prometheus text format) on a loopback port, served by Hummingbird. Nothing else.
public enum MetricsEndpoint {
    public static func application(
        port: Int, metrics: KioskMetrics, logger: Logger, idleTimeoutSeconds: Int64 = 10,
        onBound: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.text())))
        }
        var quiet = logger
        quiet.logLevel = .warning
        // Each connection is served on its own (NIO); one that stays silent is closed (after 10 s).
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(idleTimeoutSeconds))),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "kioskd"),
            onServerRunning: { channel in await onBound(channel.localAddress?.port ?? port) },
            logger: quiet)
    }
}
