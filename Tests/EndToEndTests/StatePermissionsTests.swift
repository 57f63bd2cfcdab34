// kioskd's state is owner-only whatever the UMask it is started with (issue 17, point 6).

import Foundation
import KioskTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct StatePermissionsTests {
    /// The real kioskd, started with umask 000, seals and uploads a made-up submission: the state
    /// directory is 0700, every folder in it 0700 and every file 0600 (database, WAL, attachments, logs).
    @Test func stateIsOwnerOnlyWhateverTheUmask() throws {
        let st = try Station(name: "umask")
        try st.intake.start()
        defer { st.intake.stop() }
        let r = try run(
            "/bin/sh",
            [
                "-c", "umask 000; exec \"$0\" --config \"$1\" --exercise-submissions 1 --exit-when-drained",
                binary("kioskd"), st.config,
            ], timeout: 180)
        #expect(r.out.contains("drained"), "kioskd: \(r.out)")
        let state = st.dir + "/state"
        var loose: [String] = []
        var files = 0
        func check(_ path: String) {
            var s = stat()
            guard lstat(path, &s) == 0 else { return }
            let mode = s.st_mode & 0o7777
            if (s.st_mode & S_IFMT) == S_IFDIR {
                if mode != 0o700 { loose.append("\(path) \(String(mode, radix: 8))") }
                for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                    check(path + "/" + name)
                }
            } else if (s.st_mode & S_IFMT) == S_IFREG {
                files += 1
                if mode & 0o077 != 0 { loose.append("\(path) \(String(mode, radix: 8))") }
            }
        }
        check(state)
        #expect(FileManager.default.fileExists(atPath: state + "/outbox.sqlite"))
        #expect(files >= 2)
        #expect(loose.isEmpty, "readable by group or others: \(loose)")
    }

    /// A state directory an older run (or a looser UMask) left open to others is closed up at start.
    @Test func aLooseStateDirectoryIsTightened() throws {
        let st = try Station(name: "loose")
        try st.intake.start()
        defer { st.intake.stop() }
        let state = st.dir + "/state"
        let args = ["--config", st.config, "--exercise-submissions", "0", "--exit-when-drained"]
        let first = try run(binary("kioskd"), args, timeout: 180)
        #expect(first.status == 0, "kioskd: \(first.out)")
        chmod(state, 0o755)
        chmod(state + "/attachments", 0o755)
        chmod(state + "/outbox.sqlite", 0o644)
        let second = try run(binary("kioskd"), args, timeout: 180)
        #expect(second.status == 0, "kioskd: \(second.out)")
        func mode(_ p: String) -> mode_t {
            var s = stat()
            return lstat(p, &s) == 0 ? s.st_mode & 0o7777 : 0
        }
        #expect(mode(state) == 0o700)
        #expect(mode(state + "/attachments") == 0o700)
        #expect(mode(state + "/outbox.sqlite") == 0o600)
    }
}
