import Foundation
import KioskCore
import KioskProtocols
import Logging

/// `kioskd --exercise-submissions N`: no terminal, no flow. Seals N submissions of made-up
/// residents (SyntheticCards) with generated scans while the uploader runs, printing
/// `sealed <case number> <submission id>` on stdout once each seal has returned (it is durable by then). For the
/// crash test (SIGKILL at random moments while sealing and uploading) and for load checks.
public enum HeadlessExercise {
    public static func run(
        services: KioskServices, count: Int, intervalMilliseconds: Int, attachmentBytes: Int,
        exitWhenDrained: Bool
    ) async {
        let log = services.logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await services.uploader.run() }
            group.addTask {
                var rng = SystemRandomNumberGenerator()
                for i in 0..<count {
                    if Task.isCancelled { return }
                    let who = SyntheticCards.all[i % SyntheticCards.all.count].card
                    let atts = (1...2).map { n in
                        var bytes = [UInt8](
                            repeating: 0, count: attachmentBytes + Int.random(in: 0...1000, using: &rng))
                        for j in stride(from: 0, to: bytes.count, by: 8) {
                            bytes[j] = UInt8.random(in: 0...255, using: &rng)
                        }
                        bytes[0] = 0xFF
                        bytes[1] = 0xD8
                        return NewAttachment(name: "material-\(n).jpg", contentType: "image/jpeg", data: Data(bytes))
                    }
                    do {
                        let s = try await services.stores.submissions.seal(
                            NewSubmission(
                                itemCode: "XY-T-001", itemName: "演练事项",
                                applicant: ApplicantData(
                                    idNumber: who.idNumber, name: who.name, cardType: "resident", phone: "13800000000"),
                                attachments: atts))
                        FileHandle.standardOutput.write(Data("sealed \(s.caseNumber) \(s.id)\n".utf8))
                        log.info(
                            "submission sealed", metadata: ["case": "\(s.caseNumber)", "exercise": "\(i + 1)/\(count)"])
                        services.uploader.kick()
                    } catch {
                        log.error("seal failed", metadata: ["error": "\(error)"])
                        FileHandle.standardOutput.write(Data("seal-failed\n".utf8))
                    }
                    if intervalMilliseconds > 0 { try? await Task.sleep(for: .milliseconds(intervalMilliseconds)) }
                }
                guard exitWhenDrained else { return }
                while !Task.isCancelled {
                    if let c = try? services.stores.uploads.counts(), c.queued == 0 {
                        FileHandle.standardOutput.write(Data("drained\n".utf8))
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            // The sealing task ends first only with exitWhenDrained; otherwise run until killed.
            if exitWhenDrained {
                _ = await group.next()
                group.cancelAll()
                await group.waitForAll()
            } else {
                await group.waitForAll()
            }
        }
    }
}
