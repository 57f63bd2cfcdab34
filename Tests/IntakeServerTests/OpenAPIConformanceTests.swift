// docs/intake-openapi.yaml and the intake agree: every documented path and method is routed
// (never the router's "No such route"), and what the intake routes is documented.

import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import Testing

let openAPIPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("docs/intake-openapi.yaml").path

/// (path, method) pairs of the document, read from its `paths:` block (two-space path keys,
/// four-space method keys).
func documentedOperations() throws -> [(path: String, method: String)] {
    let text = try String(contentsOfFile: openAPIPath, encoding: .utf8)
    var ops: [(String, String)] = []
    var inPaths = false
    var current: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("paths:") {
            inPaths = true
            continue
        }
        if inPaths, let first = line.first, first != " " { break }
        guard inPaths else { continue }
        if line.hasPrefix("  /"), line.hasSuffix(":") {
            current = String(line.dropFirst(2).dropLast())
            continue
        }
        let t = line.trimmingCharacters(in: .whitespaces)
        if line.hasPrefix("    "), !line.hasPrefix("     "), let current,
            ["get:", "put:", "post:", "head:", "patch:", "delete:", "options:"].contains(t)
        {
            ops.append((current, String(t.dropLast())))
        }
    }
    return ops
}

@Suite struct OpenAPIConformanceTests {
    @Test func everyDocumentedOperationIsRouted() async throws {
        let ops = try documentedOperations()
        #expect(ops.count >= 16, "parsed only \(ops.count) operations from \(openAPIPath)")
        let dir = try TempDirectory()
        defer { dir.remove() }
        try await buildIntakeApplication(configuration: configuration(dir)).test(.router) { client in
            for op in ops {
                let uri = op.path.replacingOccurrences(of: "\\{[^}]+\\}", with: "x1", options: .regularExpression)
                var h = headers(token: op.path.hasPrefix("/v1/admin") ? adminToken : stationToken)
                h[.init("Tus-Resumable")!] = "1.0.0"
                let r = try await client.execute(
                    uri: uri, method: HTTPRequest.Method(rawValue: op.method.uppercased())!, headers: h)
                let body = String(decoding: Data(r.body.readableBytesView), as: UTF8.self)
                #expect(
                    !body.contains("No such route"), "\(op.method.uppercased()) \(op.path) is documented but not routed"
                )
                #expect(r.status != .methodNotAllowed, "\(op.method.uppercased()) \(op.path) answered 405")
                if r.status.code >= 400 && op.method != "head" {
                    #expect(
                        r.headers[.contentType] == "application/json",
                        "\(op.method.uppercased()) \(op.path): errors are ErrorReply JSON")
                }
            }
        }
    }

    @Test func tusRepliesCarryTheHeadersTheDocumentPromises() async throws {
        let ops = try documentedOperations()
        #expect(ops.contains { $0 == ("/v1/uploads", "options") })
        #expect(ops.contains { $0 == ("/v1/uploads/{uploadId}", "patch") })
        let text = try String(contentsOfFile: openAPIPath, encoding: .utf8)
        for ext in ["creation", "checksum", "expiration", "termination"] { #expect(text.contains(ext)) }
        #expect(text.contains("\"460\""))
    }
}
