import AsyncHTTPClient
import Foundation
import Hummingbird
import IntakeServer
import KioskProtocols
import Logging
import KioskTestSupport
import Testing
@testable import KioskCore

/// A throwaway PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1, a client
/// (station) certificate, and an unrelated CA.
struct TestPKI {
    let dir: String
    var ca: String { dir + "/ca.pem" }
    var otherCA: String { dir + "/other-ca.pem" }
    var serverCert: String { dir + "/server.pem" }
    var serverKey: String { dir + "/server.key" }
    var clientCert: String { dir + "/client.pem" }
    var clientKey: String { dir + "/client.key" }

    init() throws {
        dir = tempDir() + "/pki"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(dir)'
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=kiosk test CA' 2>/dev/null
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj '/CN=other CA' 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=XY-TEST-001' 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.ext 2>/dev/null
            """
        let r = try run("/bin/sh", ["-c", script])
        guard r.status == 0 else {
            throw InteropError("openssl could not make the test certificates (is openssl installed?)")
        }
    }
}

@Suite(.serialized) struct TLSTests {
    @Test func stationTalksMutualTLSWithAConfiguredCAAndIsRefusedOtherwise() async throws {
        let pki = try TestPKI()
        let dir = tempDir()
        var config = IntakeConfiguration(dataDirectory: dir + "/intake", port: 0, stationTokens: [token: "XY-TEST-001"])
        config.tls = .init(certificateFile: pki.serverCert, keyFile: pki.serverKey, clientCAFile: pki.ca)
        let box = Box<Int?>(nil)
        let app = try buildIntakeApplication(configuration: config, onServerRunning: { _, port in box.value = port })
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        // Generous: on a loaded 2-core machine the server's start can wait for a cooperative thread.
        try await awaitCondition(120, "the TLS intake to listen", every: 0.02) { box.value != nil }
        let port = try #require(box.value)
        let up = UpstreamConfig(baseURL: "https://127.0.0.1:\(port)", token: token, requestTimeoutSeconds: 30)

        func health(_ tls: UpstreamTLS) async throws -> UploadFailure? {
            let http = try tls.makeHTTPClient()
            defer { _ = http.shutdown() }
            do {
                try await IntakeClient(http: http, config: up).health()
                return nil
            } catch { return error }
        }
        // CA + client certificate: accepted.
        #expect(
            try await health(
                UpstreamTLS(caFile: pki.ca, clientCertificateFile: pki.clientCert, clientKeyFile: pki.clientKey)) == nil
        )
        // No client certificate: the intake refuses the handshake.
        #expect(try await health(UpstreamTLS(caFile: pki.ca)) != nil)
        // A CA that did not sign the intake: the kiosk refuses it.
        #expect(
            try await health(
                UpstreamTLS(caFile: pki.otherCA, clientCertificateFile: pki.clientCert, clientKeyFile: pki.clientKey))
                != nil)
        // Half a client identity is a configuration error naming the setting.
        #expect(throws: UpstreamTLS.Problem.self) {
            _ = try UpstreamTLS(clientCertificateFile: pki.clientCert).configuration()
        }
        #expect(throws: UpstreamTLS.Problem.self) { _ = try UpstreamTLS(caFile: dir + "/missing.pem").configuration() }
    }
}
