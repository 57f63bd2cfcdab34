// `kiosk-bench upload DIR [PYTHON] [SCRIPT] [fixed|random]`: bytes on the wire per byte of payload
// and drain time for a backlog of submissions through a loopback proxy that cuts connections —
// `fixed`: every connection after about 1 MB (±10 %); `random`: after an exponentially distributed
// amount of client traffic (mean 1 MiB, so cuts come at random moments, some within a request's
// first bytes) —
// side by side in one run: the kiosk's uploader (tus, resume from the server's offset), tuspy
// (the Python tus client, resuming the same way), and a client that PUTs whole files and retries
// from scratch. All three talk to the same in-process reference intake.

import AsyncHTTPClient
import Foundation
import Hummingbird
import IntakeServer
import KioskCore
import KioskProtocols
import KioskTestSupport
import Logging
import Synchronization

final class PortBox: Sendable {
    private let p = Mutex<Int?>(nil)
    var port: Int? { p.withLock { $0 } }
    func set(_ v: Int) { p.withLock { $0 = v } }
}

struct LCG: RandomNumberGenerator {
    var s: UInt64
    mutating func next() -> UInt64 {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return s
    }
}

enum UploadBench {
    static let token = "bench-token"

    static func run(dir: String, python: String?, script: String, model: String) async throws -> [String: Any] {
        let env = ProcessInfo.processInfo.environment
        let submissions = Int(env["KIOSK_BENCH_SUBMISSIONS"] ?? "") ?? 50
        let perSubmission = 3
        let size = 500_000
        let cut = 1_000_000
        let chunk = Int(env["KIOSK_BENCH_CHUNK"] ?? "") ?? 256 * 1024
        var out: [String: Any] = [
            "upload_submissions": submissions, "upload_attachment_bytes": size, "upload_cut_bytes": cut,
            "upload_chunk_bytes": chunk, "upload_cut_model": model,
        ]
        let payload = submissions * perSubmission * size
        out["upload_payload_bytes"] = payload

        let box = PortBox()
        let app = try buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0, stationTokens: [token: "BENCH-001"],
                maxAttachmentBytes: 4 << 20),
            logger: {
                var l = Logger(label: "intake")
                l.logLevel = .error
                return l
            }(),
            onServerRunning: { _, port in box.set(port) })
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        while box.port == nil { try await Task.sleep(for: .milliseconds(20)) }
        let intakePort = box.port!

        // Cuts connections at a deterministic per-connection length: about 1 MB (±10 %), or
        // exponentially distributed with a mean of 1 MiB.
        let random = model == "random"
        func cutter() -> FaultProxy {
            FaultProxy(
                upstreamPort: intakePort,
                plan: { i in
                    var g = LCG(s: UInt64(i) &+ 99)
                    if random {
                        let u = Double(g.next() >> 11) / Double(UInt64(1) << 53)
                        return .cutAfter(max(1, Int(-log(1 - u) * 1_048_576)))
                    }
                    return .cutAfter(Int.random(in: cut * 9 / 10...cut * 11 / 10, using: &g))
                })
        }

        // 1. The kiosk: sealed backlog in an outbox, drained by the Uploader.
        do {
            let outbox = try OutboxStores(
                stateDirectory: dir + "/kiosk",
                cipher: AtRestCipher(masterKey: .init(data: Data(repeating: 5, count: 32))),
                stationId: "BENCH-001", casePrefix: "BN")
            var g = LCG(s: 1)
            for _ in 0..<submissions {
                let atts = (1...perSubmission).map { n in
                    NewAttachment(
                        name: "material-\(n).jpg", contentType: "image/jpeg",
                        data: Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &g) }))
                }
                _ = try await outbox.submissions.seal(
                    NewSubmission(
                        itemCode: "XY-T-001", itemName: "演练事项",
                        applicant: ApplicantData(
                            idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000"),
                        attachments: atts))
            }
            let proxy = cutter()
            try proxy.start()
            let cfg = UpstreamConfig(
                baseURL: "http://127.0.0.1:\(proxy.port)", token: token, requestTimeoutSeconds: 30,
                initialBackoffSeconds: 0.01, maxBackoffSeconds: 0.2, statusSyncSeconds: 3600, chunkSize: chunk)
            var logger = Logger(label: "bench")
            logger.logLevel = .error
            let up = Uploader(
                database: outbox.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: logger)
            let received0 = TusTraffic.bytesReceived
            let t0 = ContinuousClock.now
            while try outbox.uploads.counts().queued > 0 {
                if let wait = await up.runOnce(), wait > 0 {
                    try await Task.sleep(for: .milliseconds(Int(min(wait, 0.2) * 1000)))
                }
            }
            let secs = seconds(ContinuousClock.now - t0)
            proxy.stop()
            let stats = await up.tusStats
            let received = TusTraffic.bytesReceived - received0
            out["kiosk_drain_seconds"] = secs
            out["kiosk_wire_bytes"] = proxy.bytesFromClient
            out["kiosk_wire_per_payload"] = Double(proxy.bytesFromClient) / Double(payload)
            out["kiosk_interruptions"] = stats.interruptions
            out["kiosk_connections"] = proxy.connectionCount
            out["kiosk_requests"] = stats.requests
            // Sent again, as the intake saw it: PATCH body bytes it received beyond the payload
            // (bytes of cut requests it did not keep, bytes it got twice). The client's own count
            // (bytes it handed over that reached the server or may have) beside it.
            let resent = max(0, received - payload)
            out["kiosk_resent_bytes"] = resent
            out["kiosk_client_resent_bytes"] = max(0, stats.bytesSent - payload)
            out["kiosk_resent_chunks_per_interruption"] =
                stats.interruptions == 0 ? 0.0 : Double(resent) / Double(stats.interruptions) / Double(chunk)
        }

        // The same files for the two other clients, under fresh submission ids.
        var files: [[String: String]] = []
        var blobs: [(sid: String, ref: AttachmentRef, data: Data)] = []
        do {
            try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
            var g = LCG(s: 2)
            for i in 0..<(submissions * perSubmission) {
                let data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &g) })
                let sid = "bench-\(i / perSubmission)-\(UUID().uuidString.prefix(8))"
                let name = "material-\(i % perSubmission + 1).jpg"
                let path = dir + "/files/\(i).jpg"
                try data.write(to: URL(fileURLWithPath: path))
                files.append(["path": path, "submissionId": sid, "name": name, "sha256": sha256Hex(data)])
                blobs.append(
                    (
                        sid,
                        AttachmentRef(name: name, contentType: "image/jpeg", size: data.count, sha256: sha256Hex(data)),
                        data
                    ))
            }
        }

        // 2. tuspy through the same kind of proxy.
        if let python {
            let listing = dir + "/files.json"
            try JSONSerialization.data(withJSONObject: files).write(to: URL(fileURLWithPath: listing))
            let proxy = cutter()
            try proxy.start()
            let received0 = TusTraffic.bytesReceived
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = [script, "http://127.0.0.1:\(proxy.port)/v1/uploads", token, listing, String(chunk)]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            proxy.stop()
            if p.terminationStatus == 0, let j = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                out.merge(j) { $1 }
                out["tuspy_wire_bytes"] = proxy.bytesFromClient
                out["tuspy_wire_per_payload"] = Double(proxy.bytesFromClient) / Double(payload)
                out["tuspy_connections"] = proxy.connectionCount
                out["tuspy_resent_bytes"] = max(0, TusTraffic.bytesReceived - received0 - payload)
            } else {
                out["tuspy_error"] =
                    "tuspy run failed (exit \(p.terminationStatus)): \(String(decoding: data, as: UTF8.self).prefix(200))"
            }
        } else {
            out["tuspy_error"] = "no Python venv with tuspy (scripts/python-peers.sh)"
        }

        // 3. Whole-file PUT, retried from scratch after any failure.
        do {
            let proxy = cutter()
            try proxy.start()
            let cfg = UpstreamConfig(baseURL: "http://127.0.0.1:\(proxy.port)", token: token, requestTimeoutSeconds: 30)
            let client = IntakeClient(http: HTTPClient.shared, config: cfg)
            var retries = 0
            let t0 = ContinuousClock.now
            for b in blobs {
                while true {
                    do {
                        try await client.putAttachment(submissionId: b.sid + "-put", ref: b.ref, data: b.data)
                        break
                    } catch {
                        retries += 1
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
            out["wholefile_drain_seconds"] = seconds(ContinuousClock.now - t0)
            out["wholefile_retries"] = retries
            out["wholefile_wire_bytes"] = proxy.bytesFromClient
            out["wholefile_wire_per_payload"] = Double(proxy.bytesFromClient) / Double(payload)
            proxy.stop()
        }
        return out
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
