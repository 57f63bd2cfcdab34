// A station's work while 1,000 slow clients hold connections to the intake (issue 17, point 4).
// In the cluster phase, which runs one test at a time: the figure is the intake's, not the
// neighbours'. The rules themselves are tested in IntakeServerTests/SlowClientTests.

import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IntakeServer
import KioskTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct SlowClientLoadTests {
    /// 400 connections trickle a request head a byte at a time, 300 connect and say nothing, 300
    /// send a head and part of a body and then trickle it. With the shipped defaults the health
    /// check and an upload (attachment + manifest) each finish within 2 s.
    @Test func healthAndUploadSucceedUnderAThousandSlowConnections() async throws {
        let dir = tempFolder("intake-slow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let token = "tok-slow-load"
        let config = IntakeConfiguration(dataDirectory: dir, port: 0, stationTokens: [token: "XY-C-001"])
        let app = try buildIntakeApplication(configuration: config)
        try await app.test(.live) { client in
            let port = client.port!
            var trickling: [RawConnection] = []
            var idle: [RawConnection] = []
            for i in 0..<1000 {
                let c = try RawConnection(port: port)
                switch i % 10 {
                case 0..<4:
                    c.send("GET /v1/health HTTP/1.1\r\nHost: intake\r\nX-Slow: ")
                    trickling.append(c)
                case 4..<7:
                    idle.append(c)
                default:
                    c.send(
                        "PUT /v1/submissions/slow-\(i)/attachments/a.jpg HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer \(token)\r\nX-Content-SHA256: \(String(repeating: "0", count: 64))\r\nContent-Length: 1000000\r\n\r\n0123456789"
                    )
                    trickling.append(c)
                }
            }
            defer { for c in trickling + idle { c.close() } }
            // The attacker on a thread of its own: a byte on every trickling connection twice a second.
            let stop = Atomic<Bool>(false)
            let attacker = Thread { [trickling] in
                while !stop.load(ordering: .relaxed) {
                    for c in trickling { c.send("x") }
                    usleep(500_000)
                }
            }
            attacker.start()
            defer { stop.store(true, ordering: .relaxed) }
            try await Task.sleep(for: .seconds(1))  // the attack is in full swing

            let data = bytes(200_000, seed: 5)
            let base = "http://127.0.0.1:\(port)"
            // The shared client needs no shutdown: a failed request ends the test, not the process.
            let http = HTTPClient.shared
            let clock = ContinuousClock()
            let healthStart = clock.now
            let health = try await http.execute(HTTPClientRequest(url: base + "/v1/health"), timeout: .seconds(10))
            let healthTime = clock.now - healthStart

            let uploadStart = clock.now
            var put = HTTPClientRequest(url: base + "/v1/submissions/sub-under-attack/attachments/material-1.jpg")
            put.method = .PUT
            put.headers.add(name: "Authorization", value: "Bearer \(token)")
            put.headers.add(name: "X-Content-SHA256", value: hex(data))
            put.body = .bytes(ByteBuffer(bytes: data))
            let stored = try await http.execute(put, timeout: .seconds(10))
            var submit = HTTPClientRequest(url: base + "/v1/submissions/sub-under-attack")
            submit.method = .PUT
            submit.headers.add(name: "Authorization", value: "Bearer \(token)")
            submit.headers.add(name: "Content-Type", value: "application/json")
            submit.body = .bytes(
                ByteBuffer(
                    bytes: try JSONEncoder().encode(
                        manifest(
                            "sub-under-attack", caseNumber: "GH-20261207-0001", attachments: [("material-1.jpg", data)])
                    )
                ))
            let submitted = try await http.execute(submit, timeout: .seconds(10))
            let uploadTime = clock.now - uploadStart

            #expect(health.status == .ok)
            #expect(stored.status == .created)
            #expect(submitted.status == .created)
            print(
                "1,000 slow connections: health check \(healthTime), upload (200 kB attachment + manifest) \(uploadTime)"
            )
            #expect(healthTime < .seconds(2), "health check took \(healthTime)")
            #expect(uploadTime < .seconds(2), "upload took \(uploadTime)")
        }
    }
}
