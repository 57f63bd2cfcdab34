import Foundation

// The reference intake's operator side, as a township's back office would use it (curl against
// /v1/admin/…): move a case to another state with a note, and find a case by its number.
extension Intake {
    /// POST /v1/admin/submissions/{id}/state with {"state", "note"}.
    public func setState(submissionId: String, state: String, note: String? = nil) throws {
        var body: [String: String] = ["state": state]
        if let note { body["note"] = note }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let r = try run(
            "/usr/bin/curl",
            [
                "-fsS", "-X", "POST", "-H", "Authorization: Bearer \(adminToken)",
                "-H", "Content-Type: application/json", "--data-binary", json,
                "http://127.0.0.1:\(port)/v1/admin/submissions/\(submissionId)/state",
            ])
        guard r.status == 0 else { throw HarnessError(description: "setting the state failed: \(r.out)") }
    }

    /// The submission id of a stored case (from `kiosk-intake list --json`).
    public func submissionId(caseNumber: String) throws -> String {
        guard
            let id = try list().first(where: { $0["caseNumber"] as? String == caseNumber })?["submissionId"] as? String
        else { throw HarnessError(description: "the intake holds no case \(caseNumber)") }
        return id
    }
}

extension Intake {
    /// GET /v1/admin/help: the help calls the intake received, each with its acknowledgement.
    public func helpCalls() throws -> [[String: Any]] {
        let r = try run(
            "/usr/bin/curl",
            ["-fsS", "-H", "Authorization: Bearer \(adminToken)", "http://127.0.0.1:\(port)/v1/admin/help"])
        guard r.status == 0 else { throw HarnessError(description: "listing help calls failed: \(r.out)") }
        let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        return o?["calls"] as? [[String: Any]] ?? []
    }
}

extension Intake {
    /// GET on an admin list (help, complaints, notifications): the decoded JSON object.
    public func adminGet(_ path: String) throws -> [String: Any] {
        let r = try run(
            "/usr/bin/curl",
            ["-fsS", "-H", "Authorization: Bearer \(adminToken)", "http://127.0.0.1:\(port)/v1/admin/\(path)"])
        guard r.status == 0 else { throw HarnessError(description: "GET /v1/admin/\(path) failed: \(r.out)") }
        return (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]) ?? [:]
    }

    /// POST /v1/admin/evaluations/{id}/followup: 核实 (verified), 整改 (rectified), 回访 (revisited).
    public func followUp(evaluationId: String, stage: String, note: String? = nil) throws {
        var body: [String: String] = ["stage": stage]
        if let note { body["note"] = note }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let r = try run(
            "/usr/bin/curl",
            [
                "-fsS", "-X", "POST", "-H", "Authorization: Bearer \(adminToken)",
                "-H", "Content-Type: application/json", "--data-binary", json,
                "http://127.0.0.1:\(port)/v1/admin/evaluations/\(evaluationId)/followup",
            ])
        guard r.status == 0 else { throw HarnessError(description: "follow-up failed: \(r.out)") }
    }
}
