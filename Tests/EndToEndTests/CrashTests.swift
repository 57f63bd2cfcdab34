import KioskTestSupport
import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Made-up residents the exercise mode seals (SyntheticCards): none of this may be readable at rest.
let personalNeedles = [
    "110105200001010016", "110105195001010020", "810000199001010027", "911840198001010013",
    "测试一", "测试二", "测试三", "测试四", "13800000000",
]

/// Names every needle found in plain text in any of `files`.
func plaintextHits(_ files: [String]) -> [String] {
    var hits: [String] = []
    for f in files {
        guard let data = FileManager.default.contents(atPath: f) else { continue }
        for n in personalNeedles where data.range(of: Data(n.utf8)) != nil { hits.append("\(n) in \(f)") }
    }
    return hits
}

@Suite(.serialized) struct CrashTests {
    /// kioskd is killed with SIGKILL at random moments while it seals and uploads, round after round;
    /// then one last run drains the outbox. Every submission it reported sealed arrives exactly once.
    @Test func sigkillWhileSealingAndUploadingLosesAndDuplicatesNothing() throws {
        let st = try Station(name: "crash")
        try st.intake.start()
        defer { st.intake.stop() }
        let rounds = Int(ProcessInfo.processInfo.environment["KIOSK_CRASH_ROUNDS"] ?? "") ?? 50
        var reported: [String] = []
        var killedMidUpload = 0
        for round in 0..<rounds {
            let p = try BackgroundProcess(
                binary("kioskd"),
                [
                    "--config", st.config, "--exercise-submissions", "3",
                    "--exercise-interval-ms", String(Int.random(in: 0...60)),
                    "--exercise-attachment-bytes", "150000",
                ],
                log: st.dir + "/round-\(round).out")
            // Start-up time varies with the machine's load: wait for the first seal (or 10 s), then
            // kill at a random moment (the randomness is the test, not a wait) while the next seals
            // and the uploads are under way.
            _ = try? waitUntil(10, "the first seal", every: 0.02) { p.output.contains("sealed ") }
            usleep(UInt32.random(in: 0...700_000))
            p.signal(SIGKILL)
            p.wait(timeout: 10)
            let text = p.output
            reported += text.split(separator: "\n").filter { $0.hasPrefix("sealed ") }.map {
                String($0.dropFirst(7).split(separator: " ")[0])
            }
            if (try? st.outboxCounts()["queued"] as? Int) ?? 0 > 0 { killedMidUpload += 1 }
        }

        // A last run with the upstream reachable drains what is left.
        let d = try BackgroundProcess(
            binary("kioskd"), ["--config", st.config, "--exercise-submissions", "0", "--exit-when-drained"],
            log: st.dir + "/drain.out")
        if d.wait(timeout: 180) == nil { d.signal(SIGKILL) }
        d.wait(timeout: 10)
        let drained = d.output
        #expect(drained.contains("drained"), "drain run: \(drained)")

        let stored = try st.intake.list()
        let cases = stored.compactMap { $0["caseNumber"] as? String }
        print(
            "crash test: \(rounds) SIGKILL rounds, \(reported.count) seals reported, \(killedMidUpload) kills with uploads pending, \(cases.count) submissions upstream"
        )
        #expect(reported.count >= rounds / 2, "too few seals happened to test anything: \(reported.count)")
        #expect(killedMidUpload > 0, "no kill landed while something was queued")
        // Nothing duplicated: each case number once upstream.
        #expect(Set(cases).count == cases.count)
        // Nothing lost: every seal kioskd reported is upstream, with both attachments.
        let missing = Set(reported).subtracting(cases)
        #expect(missing.isEmpty, "sealed but never arrived: \(missing.sorted())")
        #expect(stored.allSatisfy { $0["attachmentCount"] as? Int == 2 })
        // The outbox agrees: everything it holds was uploaded, nothing quarantined.
        let counts = try st.outboxCounts()
        #expect(counts["queued"] as? Int == 0)
        #expect(counts["quarantined"] as? Int == 0)
        #expect(counts["uploaded"] as? Int == cases.count)

        // At rest: no ID number, name or phone in plain text anywhere in the state directory.
        let files = st.stateFiles()
        #expect(files.contains { $0.hasSuffix("outbox.sqlite") })
        #expect(plaintextHits(files).isEmpty, "\(plaintextHits(files))")
    }
}
