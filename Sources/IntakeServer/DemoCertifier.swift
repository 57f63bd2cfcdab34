import Foundation
import Logging

/// Demo only (`kiosk-intake serve --demo-certify-after N`): issues a sample certificate (a one-page
/// PDF marked 示例) for each received submission once it is `after` seconds old, the way a
/// township would after approving it, so the demo shows self pick-up end to end.
public struct DemoCertifier: Sendable {
    let store: any IntakeStorage
    let after: Double
    let logger: Logger

    public init(store: any IntakeStorage, after: Double, logger: Logger) {
        self.store = store
        self.after = after
        self.logger = logger
    }

    static func date(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        return ISO8601DateFormatter().date(from: s)
    }

    /// Certifies what is due now; returns the case numbers certified.
    @discardableResult
    public func runOnce(now: Date = Date()) async -> [String] {
        guard let all = try? await store.summaries() else { return [] }
        var done: [String] = []
        for s in all where s.state == .received || s.state == .inReview || s.state == .accepted {
            guard let at = Self.date(s.receivedAt), now.timeIntervalSince(at) >= after else { continue }
            let pdf = TextPDF.make(lines: [
                "【示例证照 SAMPLE — 演示用，无效】", "", "办件编号：\(s.caseNumber)",
                "事项编码：\(s.itemCode)", "办结日期：\(String(s.receivedAt.prefix(10)))", "",
                "本文件由演示用参考平台生成，不是真实证照。",
            ])
            do {
                _ = try await store.issueCertificate(
                    submissionId: s.submissionId, data: pdf, contentType: "application/pdf",
                    note: "示例证照（演示）")
                logger.info("demo certificate issued", metadata: ["case": "\(s.caseNumber)"])
                done.append(s.caseNumber)
            } catch {
                logger.warning("demo certificate not issued", metadata: ["error": "\(error)"])
            }
        }
        return done
    }

    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            await runOnce()
        }
    }
}
