// Interop with tus implementations nobody here wrote (from PyPI, installed by scripts/python-peers.sh):
// the kiosk's tus client against tuspyserver, and tuspy against the reference intake.

import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import KioskTestSupport
import Testing
@testable import KioskCore
#if canImport(Glibc)
    import Glibc
#endif

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The venv's python with tuspy/tuspyserver, or a clear failure saying how to get it.
func peerPython() throws -> String {
    let venv = ProcessInfo.processInfo.environment["KIOSK_PYTHON_VENV"] ?? repoRoot + "/.build-venv"
    let py = venv + "/bin/python"
    guard FileManager.default.isExecutableFile(atPath: py) else {
        throw InteropError(
            "no Python venv with tuspy/tuspyserver at \(venv): run scripts/python-peers.sh (make test does)")
    }
    return py
}

struct InteropError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

@Suite(.serialized) struct InteropTests {
    @Test func kioskTusClientUploadsToTuspyserverThroughCutsAndResumes() async throws {
        let py = try peerPython()
        let dir = tempDir()
        let files = dir + "/tuspyserver-files"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        let port = freePort()
        let server = try BackgroundProcess(
            py, [repoRoot + "/Tests/Interop/tuspyserver_app.py", String(port), files],
            log: dir + "/tuspyserver.log")
        // SIGKILL: uvicorn's graceful SIGTERM waits for keep-alive connections the shared client may hold.
        defer { server.stop(grace: 0) }
        try await awaitCondition(60, "tuspyserver to listen") {
            guard server.isRunning else { throw InteropError("tuspyserver did not start: " + server.output) }
            return server.output.contains("listening")
        }

        // The first connections are cut after ~100 kB: the client must resume from tuspyserver's offset.
        let proxy = FaultProxy(upstreamPort: port, plan: { i in i < 3 ? .cutAfter(100_000) : .pass })
        try proxy.start()
        defer { proxy.stop() }
        let data = jpeg(300_000)
        let tus = TusClient(
            http: HTTPClient.shared, creationURL: "http://127.0.0.1:\(proxy.port)/files/", chunkSize: 64 * 1024,
            timeoutSeconds: 10, resumesPerCall: 8)
        var stats = TusClient.Stats()
        let saved = SavedURL()
        // Without filename and filetype tuspyserver 4.4.3 refuses resumes (400): the kiosk always sends them.
        let url = try await tus.upload(
            data: data, existingURL: nil,
            metadata: [("filename", "material-1.jpg"), ("filetype", "image/jpeg"), ("sha256", sha256Hex(data))],
            stats: &stats
        ) { saved.value = $0 }
        #expect(saved.value == url)
        #expect(stats.interruptions >= 1)
        // At most one chunk sent again per interruption.
        #expect(stats.bytesSent <= data.count + stats.interruptions * 64 * 1024)
        let uploadId = try #require(url.split(separator: "/").last.map(String.init))
        let stored = try #require(FileManager.default.contents(atPath: files + "/" + uploadId))
        #expect(stored == data)
    }

    @Test func tuspyUploadsToTheIntakeAndResumes() async throws {
        let py = try peerPython()
        let dir = tempDir()
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        let data = jpeg(120_000)
        let file = dir + "/scan.jpg"
        try data.write(to: URL(fileURLWithPath: file))
        let outbox = try makeOutbox(dir)
        let s = try await outbox.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: data)]))
        let manifest = try #require(try await outbox.uploads.nextDue().due).manifest
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0,
                stationTokens: [token: "XY-TEST-001"]), store: store
        )
        .test(.live) { client in
            let port = try #require(client.port)
            let args = [
                repoRoot + "/Tests/Interop/tuspy_upload.py", "http://127.0.0.1:\(port)/v1/uploads", token, file, s.id,
                "material-1.jpg", "32768",
            ]
            let r = try await Task.detached { try run(py, args, timeout: 60) }.value
            #expect(r.status == 0, "tuspy: \(r.out)")
            let reply =
                try JSONSerialization.jsonObject(with: Data((r.out.split(separator: "\n").last ?? "").utf8))
                as? [String: Any]
            #expect(reply?["resumedFrom"] as? Int == 65536)  // two chunks, then a fresh uploader resumed
            #expect(reply?["final"] as? Int == data.count)
            // The file tuspy sent is the submission's attachment: the manifest is accepted.
            let cfg = UpstreamConfig(baseURL: "http://127.0.0.1:\(port)", token: token)
            let receipt = try await IntakeClient(http: HTTPClient.shared, config: cfg).putManifest(manifest)
            #expect(receipt.submissionId == s.id)
        }
        #expect(try store.attachments(submissionId: s.id).map(\.sha256) == [sha256Hex(data)])
        #expect(try store.count() == 1)
    }
}
