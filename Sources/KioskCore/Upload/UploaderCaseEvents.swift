import Foundation
import KioskProtocols
import Logging

// The uploader keeps each case's history (issue 24): when the upstream took it, every state it
// reported since with its note (补正, refusal), and sends a 补正 submission with the case it completes.
extension Uploader {
    static func date(_ iso: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: iso) { return d }
        return ISO8601DateFormatter().date(from: iso)
    }

    func withSupplementLink(_ m: SubmissionManifest) -> SubmissionManifest {
        var m = m
        if m.supplementOf == nil {
            m.supplementOf = try? CaseEvents(database: database).supplementOf(submissionId: m.submissionId)
        }
        return m
    }

    func recordStatus(_ id: String, _ st: SubmissionStatusReply) async {
        do {
            try await CaseEvents(database: database).record(
                submissionId: id, state: st.state.rawValue, at: Self.date(st.updatedAt) ?? database.clock.now,
                note: st.note)
        } catch {
            logger.warning("case history not recorded", metadata: ["error": "\(error)"])
        }
    }
}
