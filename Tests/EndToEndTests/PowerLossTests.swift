import KioskTestSupport
import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Builds scripts/powercut.c with gcc: the LD_PRELOAD shim and the replay tool (the cut).
func buildPowercut(into dir: String) throws -> (shim: String, replay: String) {
    let source = packageRoot.appendingPathComponent("scripts/powercut.c").path
    let shim = dir + "/libpowercut.so"
    let replay = dir + "/powercut-replay"
    for (args, what) in [
        (["-O2", "-shared", "-fPIC", "-o", shim, source, "-ldl", "-lpthread"], "shim"),
        (["-O2", "-DPOWERCUT_REPLAY", "-o", replay, source], "replay tool"),
    ] {
        let r = try run("/usr/bin/gcc", args)
        guard r.status == 0 else {
            throw HarnessError(
                description: "gcc could not build the powercut \(what) (scripts/deps.sh test installs gcc): \(r.out)")
        }
    }
    return (shim, replay)
}

@Suite(.serialized) struct PowerLossTests {
    /// Power cuts, not only kill -9: kioskd runs under the powercut shim, which keeps an undo log
    /// of every change to the state directory (SQLite database and WAL, attachment files, case
    /// counter, seal journal, directories) and of every fsync. At a random moment of sealing,
    /// uploading or starting, kioskd is killed and everything not yet fsynced is undone, as a power
    /// failure would lose it. The uploads go through the fault proxy (lost replies, cut
    /// connections). Round after round: the database always opens (kioskd starts and seals again),
    /// every seal that returned (its receipt could print) reaches the intake exactly once, and no
    /// case number is issued twice. KIOSK_POWERLOSS_ROUNDS sets the rounds (default 100).
    @Test func powerCutsWhileSealingAndUploadingLoseNothingAndReuseNoCaseNumber() throws {
        let rounds = Int(ProcessInfo.processInfo.environment["KIOSK_POWERLOSS_ROUNDS"] ?? "") ?? 100
        let st = try Station(name: "powercut")
        let tools = try buildPowercut(into: st.dir)
        try st.intake.start()
        defer { st.intake.stop() }
        let proxy = FaultProxy(upstreamPort: st.intake.port) { i in
            switch i % 8 {
            case 3: return .loseReply
            case 6: return .cutAfter(Int.random(in: 300...60_000))
            default: return .pass
            }
        }
        try proxy.start()
        defer { proxy.stop() }
        let yaml = try String(contentsOfFile: st.config, encoding: .utf8)
        try yaml.replacingOccurrences(
            of: "url: http://127.0.0.1:\(st.intake.port)", with: "url: http://127.0.0.1:\(proxy.port)"
        ).write(toFile: st.config, atomically: true, encoding: .utf8)

        let state = st.dir + "/state"
        let undoLog = st.dir + "/powercut-undo"
        var receipted: [String: String] = [:]  // case number → submission id, from every seal that returned
        var reused: [String] = []
        var startFailures: [String] = []
        var undoneTotal = 0
        var cutsWithUndo = 0
        var cutsBeforeFirstSeal = 0
        let clock = ContinuousClock()
        let started = clock.now
        for round in 0..<rounds {
            let p = try BackgroundProcess(
                binary("kioskd"),
                [
                    "--config", st.config, "--exercise-submissions", "4",
                    "--exercise-interval-ms", String(Int.random(in: 0...80)),
                    "--exercise-attachment-bytes", "60000",
                ],
                env: ["LD_PRELOAD": tools.shim, "POWERCUT_DIR": state, "POWERCUT_LOG": undoLog],
                log: st.dir + "/round-\(round).out")
            if round % 10 == 9 {
                // Some cuts land while kioskd starts: opening, migrating, cleaning up after the last cut.
                usleep(UInt32.random(in: 0...400_000))
                cutsBeforeFirstSeal += 1
            } else {
                let sealed = (try? waitUntil(20, "the first seal", every: 0.02) { p.output.contains("sealed ") }) != nil
                if !sealed { startFailures.append("round \(round): \(p.output.suffix(600))") }
                usleep(UInt32.random(in: 0...1_000_000))
            }
            p.signal(SIGKILL)
            p.wait(timeout: 10)
            let cut = try run(tools.replay, [undoLog, state])
            // "powercut: N records, U undone, K writes kept (synced)"
            let words = cut.out.split(separator: " ")
            if let i = words.firstIndex(of: "undone,"), i > 0, let n = Int(words[i - 1]) {
                undoneTotal += n
                if n > 0 { cutsWithUndo += 1 }
            }
            for line in p.output.split(separator: "\n") where line.hasPrefix("sealed ") {
                let parts = line.split(separator: " ")
                guard parts.count == 3 else { continue }
                let (caseNumber, id) = (String(parts[1]), String(parts[2]))
                if let other = receipted[caseNumber], other != id { reused.append(caseNumber) }
                receipted[caseNumber] = id
            }
        }
        let cutSeconds = (clock.now - started) / .seconds(1)

        // A last run, no cut, drains the outbox through the same proxy.
        let d = try BackgroundProcess(
            binary("kioskd"), ["--config", st.config, "--exercise-submissions", "0", "--exit-when-drained"],
            log: st.dir + "/drain.out")
        if d.wait(timeout: 240) == nil { d.signal(SIGKILL) }
        d.wait(timeout: 10)
        #expect(d.output.contains("drained"), "drain run: \(d.output.suffix(2000))")

        let stored = try st.intake.list()
        let upstream = stored.compactMap { r -> (String, String)? in
            guard let c = r["caseNumber"] as? String, let i = r["submissionId"] as? String else { return nil }
            return (c, i)
        }
        let cases = upstream.map(\.0)
        let lost = receipted.filter { c, id in !upstream.contains { $0 == (c, id) } }.keys.sorted()
        let duplicated = cases.count - Set(cases).count
        let counts = try st.outboxCounts()
        let quarantined = counts["quarantined"] as? Int ?? -1
        print(
            "power-loss test: \(rounds) cuts in \(Int(cutSeconds)) s (\(cutsBeforeFirstSeal) during start-up, \(cutsWithUndo) lost unsynced changes, \(undoneTotal) changes undone in all); \(receipted.count) seals returned, \(upstream.count) submissions upstream; lost \(lost.count), duplicated \(duplicated), quarantined \(quarantined), case numbers reused \(reused.count); proxy faults \(proxy.faultCounts)"
        )
        #expect(startFailures.isEmpty, "kioskd did not start and seal after a cut: \(startFailures)")
        #expect(cutsWithUndo > rounds / 2, "too few cuts lost anything: the shim is not in the way")
        #expect(receipted.count >= rounds, "too few seals to test anything: \(receipted.count)")
        #expect(lost.isEmpty, "a receipt was printed but the intake never got it: \(lost)")
        #expect(duplicated == 0, "the intake holds a case number twice")
        #expect(Set(upstream.map(\.1)).count == upstream.count)
        #expect(reused.isEmpty, "case numbers issued to two submissions: \(reused)")
        #expect(quarantined == 0)
        #expect(counts["queued"] as? Int == 0)
        // The database opens read-only too, and its integrity holds.
        let check = try run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('pragma integrity_check').fetchone()[0])",
                state + "/outbox.sqlite",
            ])
        #expect(check.out.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(check.out)")
    }
}
