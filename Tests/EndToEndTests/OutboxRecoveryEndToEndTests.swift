import KioskTestSupport
import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct OutboxRecoveryEndToEndTests {
    /// The real kioskd, kioskctl and intake: the outbox database is moved out of the state
    /// directory (as a technician copying it to inspect it would); kioskd refuses to start with
    /// exit 66 and says what to restore, creating and deleting nothing; `kioskctl outbox recover`
    /// rebuilds the submissions from the encrypted files; kioskd then continues the case numbers
    /// and the intake holds every submission once.
    @Test func aMovedDatabaseStopsKioskdAndRecoverRebuildsIt() throws {
        let st = try Station(name: "recover")
        try st.intake.start()
        defer { st.intake.stop() }
        let state = st.dir + "/state"
        func exercise(_ n: Int) throws -> (status: Int32?, out: String) {
            let p = try BackgroundProcess(
                binary("kioskd"),
                [
                    "--config", st.config, "--exercise-submissions", String(n), "--exercise-interval-ms", "0",
                    "--exercise-attachment-bytes", "20000", "--exit-when-drained",
                ], log: st.dir + "/run-\(UUID().uuidString.prefix(6)).out")
            let status = p.wait(timeout: 120)
            if status == nil { p.signal(SIGKILL) }
            return (status, p.output)
        }
        func sealed(_ out: String) -> [String] {
            out.split(separator: "\n").filter { $0.hasPrefix("sealed ") }.map { String($0.split(separator: " ")[1]) }
        }
        let first = try exercise(3)
        #expect(first.status == 0, "\(first.out)")
        let cases = sealed(first.out)
        #expect(cases.count == 3)
        let folders = try FileManager.default.contentsOfDirectory(atPath: state + "/attachments").sorted()

        // Moved out to be inspected.
        try FileManager.default.moveItem(atPath: state + "/outbox.sqlite", toPath: st.dir + "/inspect.sqlite")
        let refused = try exercise(1)
        #expect(refused.status == 66, "\(refused.out)")
        #expect(refused.out.contains("restore outbox.sqlite"), "\(refused.out)")
        #expect(refused.out.contains("kioskctl outbox recover"))
        #expect(sealed(refused.out).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: state + "/outbox.sqlite"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/attachments").sorted() == folders)
        let summary = try st.kioskctl("outbox")
        #expect(summary.status != 0 && summary.out.contains("kioskctl outbox recover"), "\(summary.out)")

        // Recovered from the encrypted files.
        let r = try st.kioskctl("outbox", "recover")
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("rebuilt 3 submission(s)"), "\(r.out)")
        #expect(r.out.contains("NOT RECOVERABLE  staff registry"), "\(r.out)")
        let show = try st.kioskctl("outbox", "show", cases[0])
        #expect(show.status == 0 && show.out.contains("queued for upload"), "\(show.out)")
        #expect(!show.out.contains("测试"))

        // kioskd starts again, uploads the rebuilt ones (repeats the intake already holds) and
        // continues the numbers after the highest it ever issued.
        let again = try exercise(2)
        #expect(again.status == 0, "\(again.out)")
        let next = sealed(again.out)
        #expect(next.count == 2 && Set(next).isDisjoint(with: cases), "\(next) after \(cases)")
        let stored = try st.intake.list().compactMap { $0["caseNumber"] as? String }
        #expect(stored.count == 5 && Set(stored) == Set(cases + next), "\(stored)")
        let counts = try st.outboxCounts()
        #expect(counts["queued"] as? Int == 0 && counts["quarantined"] as? Int == 0, "\(counts)")
    }
}
