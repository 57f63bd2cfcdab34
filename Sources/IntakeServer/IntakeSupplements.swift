// 补正 on the reference intake (issue 24, point 1): a manifest with `supplementOf` carries the
// materials a case was missing. The case it completes (same station, waiting for materials) goes
// back to review with a note naming the supplement's case number.

import Foundation
import KioskProtocols
import Logging

extension IntakeStorage {
    func supplementReceived(_ manifest: SubmissionManifest, logger: Logger) async throws {
        guard let of = manifest.supplementOf, IntakeIdentifier.isValid(of),
            try await stationId(submissionId: of) == manifest.stationId,
            let original = try await status(submissionId: of), original.state == .needMaterials
        else { return }
        _ = try await setState(
            submissionId: of, state: .inReview, note: "申请人已提交补正材料（补正件 \(manifest.caseNumber)）", now: Date())
        logger.info(
            "supplement received", metadata: ["case": "\(original.caseNumber)", "supplement": "\(manifest.caseNumber)"])
    }
}
