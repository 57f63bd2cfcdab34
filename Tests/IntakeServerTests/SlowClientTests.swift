// Slow clients cannot starve the intake (IntakeConnections.swift): a real server on a loopback
// port, real sockets trickling, idling and stalling, and a real HTTP client as the station.

import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskTestSupport
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines kept in memory (the intake's logger in these tests).
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "kiosk-intake") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
        }
    }
}

/// Waits (polling) until `condition` holds or `seconds` pass.
func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

@Suite(.serialized) struct SlowClientTests {
    /// Idle, trickling and stalled connections are closed by the intake itself; a trickle is logged.
    @Test func slowAndIdleConnectionsAreClosed() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var config = configuration(dir)
        // The idle limit is longer than two rate windows, so a trickler the test's own load delays
        // for a moment is still closed by the rate check (which logs it), not by the idle limit.
        config.idleTimeoutSeconds = 3
        config.rateWindowSeconds = 1
        config.minBytesPerSecond = 256
        let logs = LogLines()
        let app = try buildIntakeApplication(configuration: config, logger: logs.logger)
        try await app.test(.live) { client in
            let port = client.port!
            let idle = try RawConnection(port: port)
            let slowHead = try RawConnection(port: port)
            slowHead.send("GET /v1/health HTTP/1.1\r\nHost: intake\r\nX-Slow: ")
            let stalled = try RawConnection(port: port)
            stalled.send(
                "PUT /v1/submissions/stall-1/attachments/a.jpg HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer \(stationToken)\r\nX-Content-SHA256: \(String(repeating: "0", count: 64))\r\nContent-Length: 100000\r\n\r\n0123456789"
            )
            let trickle = try RawConnection(port: port)
            trickle.send(
                "PUT /v1/submissions/trickle-1/attachments/a.jpg HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer \(stationToken)\r\nX-Content-SHA256: \(String(repeating: "0", count: 64))\r\nContent-Length: 100000\r\n\r\n"
            )
            let stop = Atomic<Bool>(false)
            // A thread of its own, not a task: under the parallel suite's load the cooperative pool
            // can be busy for seconds, and a trickler that stops trickling is only an idle client.
            let trickler = Thread {
                while !stop.load(ordering: .relaxed) {
                    trickle.send("x")
                    usleep(100_000)
                }
            }
            trickler.start()
            defer {
                stop.store(true, ordering: .relaxed)
                for c in [idle, slowHead, stalled, trickle] { c.close() }
            }
            #expect(try await offThread { idle.readUntilClosed(seconds: 10) }.closed, "an idle connection is closed")
            #expect(
                try await offThread { slowHead.readUntilClosed(seconds: 10) }.closed, "a head that never ends is closed"
            )
            #expect(try await offThread { stalled.readUntilClosed(seconds: 10) }.closed, "a body that stalls is closed")
            #expect(
                try await offThread { trickle.readUntilClosed(seconds: 10) }.closed,
                "a body trickling at 10 bytes/s is closed")
            // The client can see the close before the intake's log line is written: wait for it.
            var logged = false
            for _ in 0..<50 where !logged {
                logged = logs.all.contains { $0.contains("slow client: connection closed") }
                if !logged { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(logged, "the intake logs why it closed a slow client")
            // Nothing of the cut-off bodies was stored.
            let stored = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/files")) ?? []
            #expect(stored.isEmpty)
        }
    }

    /// A chunked body that is not valid HTTP gets 400 with an ErrorReply, not a 500.
    @Test func aMalformedChunkedBodyIs400() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let logs = LogLines()
        let app = try buildIntakeApplication(configuration: configuration(dir), logger: logs.logger)
        try await app.test(.live) { client in
            let c = try RawConnection(port: client.port!)
            defer { c.close() }
            c.send(
                "PUT /v1/submissions/chunky-1/attachments/a.jpg HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer \(stationToken)\r\nX-Content-SHA256: \(String(repeating: "0", count: 64))\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ-not-hex\r\nmore\r\n0\r\n\r\n"
            )
            let reply = try await offThread { c.readUntilClosed(seconds: 10) }
            #expect(reply.text.hasPrefix("HTTP/1.1 400"), "got: \(reply.text.prefix(200))")
            #expect(reply.text.contains("malformed-body"))
            #expect(!logs.all.contains { $0.hasPrefix("error") }, "no internal error logged: \(logs.all)")
        }
    }

    /// A client that resets its connection in the middle of a body is logged as a reset.
    @Test func aResetIsLoggedAsAReset() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let logs = LogLines()
        let app = try buildIntakeApplication(configuration: configuration(dir), logger: logs.logger)
        try await app.test(.live) { client in
            let c = try RawConnection(port: client.port!)
            c.send(
                "PUT /v1/submissions/reset-1/attachments/a.jpg HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer \(stationToken)\r\nX-Content-SHA256: \(String(repeating: "0", count: 64))\r\nContent-Length: 100000\r\n\r\n0123456789"
            )
            try await Task.sleep(for: .milliseconds(300))
            c.reset()
            #expect(
                try await eventually(10) { logs.all.contains { $0.contains("reset by the client") } }, "\(logs.all)")
            #expect(!logs.all.contains { $0.hasPrefix("error") }, "a reset is no internal error: \(logs.all)")
        }
    }

    /// The unit gives the intake room for its connection cap: accept() never runs out of descriptors
    /// (the default soft limit, 1024, is what 1,000 slow clients exhausted).
    @Test func theUnitsOpenFileLimitCoversTheConnectionCap() throws {
        let unit = try String(
            contentsOfFile: packageRoot.appendingPathComponent("systemd/kiosk-intake.service").path, encoding: .utf8)
        let line = unit.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }
        let limit = try #require(line.flatMap { Int($0.dropFirst("LimitNOFILE=".count)) }, "LimitNOFILE= in the unit")
        let cap = IntakeConfiguration(dataDirectory: "/nonexistent", port: 0).maxConnections
        #expect(limit >= cap + 1024, "LimitNOFILE \(limit) leaves too little beside --max-connections \(cap)")
    }

    /// Beyond maxConnections a new connection is answered 503 and closed at once (it holds no
    /// descriptor); once a connection closes there is room again.
    @Test func theConnectionCapHolds() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        var config = configuration(dir)
        config.maxConnections = 4
        let app = try buildIntakeApplication(configuration: config)
        try await app.test(.live) { client in
            let port = client.port!
            // The test client's own keep-alive connection is the first of the four.
            #expect(try await client.execute(uri: "/v1/health", method: .get).status == .ok)
            let held = try (0..<3).map { _ in try RawConnection(port: port) }
            try await Task.sleep(for: .milliseconds(200))
            let extra = try RawConnection(port: port)
            extra.send("GET /v1/health HTTP/1.1\r\nHost: intake\r\nConnection: close\r\n\r\n")
            let refused = try await offThread { extra.readUntilClosed(seconds: 10) }
            extra.close()
            #expect(refused.closed && refused.text.hasPrefix("HTTP/1.1 503"), "got: \(refused.text.prefix(120))")
            #expect(refused.text.contains("Retry-After: 5"))
            held[0].close()
            try await Task.sleep(for: .milliseconds(200))
            let later = try RawConnection(port: port)
            later.send("GET /v1/health HTTP/1.1\r\nHost: intake\r\nConnection: close\r\n\r\n")
            let served = try await offThread { later.readUntilClosed(seconds: 10) }
            later.close()
            #expect(served.text.hasPrefix("HTTP/1.1 200"), "got: \(served.text.prefix(120))")
            for c in held.dropFirst() { c.close() }
        }
    }
}
