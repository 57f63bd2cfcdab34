import Foundation
import KioskApp
import Testing

/// A diagnostic bundle carries the config without a single secret, whatever the key is called.
@Suite struct ConfigRedactionTests {
    @Test func noSecretValueSurvivesAndTheRestStays() throws {
        let secrets = [
            "tok-9f8e7d6c5b4a", "/run/credentials/kioskd.service/upstream-token-x1",
            "pbkdf2-sha256$120000$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNo", "/etc/kioskd/keys/outbox-key-x2",
            "/etc/kioskd/station-key-x3.pem", "/etc/kioskd/station-cert-x4.pem", "hunter2-x5", "s3cr3t-x6",
        ]
        let yaml = """
            station: { id: XY-GH-001, name: 测试便民服务中心, casePrefix: GH }
            encryption: { keyFile: \(secrets[3]) }
            upstream:
              url: "https://kiosk:\(secrets[6])@intake.example.invalid/v1"
              token: \(secrets[0])
              tokenFile: \(secrets[1])
              tls: { caFile: /etc/kioskd/ca.pem, clientCertificateFile: \(secrets[5]), clientKeyFile: \(secrets[4]) }
            technician: { pinHash: "\(secrets[2])" }
            help: { location: 一楼窗口, phone: 0355-0000000 }
            futureSetting: { apiSecret: \(secrets[7]) }
            notes: [ "resident 110105200001010016 called" ]
            """
        let out = try #require(ConfigRedaction.redact(yaml: yaml))
        for s in secrets { #expect(!out.contains(s), "the bundle's config leaks \(s):\n\(out)") }
        #expect(!out.contains("110105200001010016"), "ID numbers are masked")
        #expect(out.contains("token: <redacted>"))
        #expect(out.contains("pinHash: <redacted>"))
        #expect(out.contains("XY-GH-001") && out.contains("0355-0000000") && out.contains("/etc/kioskd/ca.pem"))
        #expect(out.contains("https://intake.example.invalid/v1"), "the host stays, the user and password go")
    }

    @Test func textThatIsNotYAMLIsNotShared() {
        #expect(ConfigRedaction.redact(yaml: "station: [1, 2\ntoken: abc") == nil)
    }
}
