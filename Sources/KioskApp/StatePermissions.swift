import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// kioskd's state is its own: the state directory 0700 and every file in it 0600, whatever the
/// unit's (or the shell's) UMask. kioskd sets its umask to 077 at start (so SQLite, attachments,
/// certificates and logs are created owner-only) and calls `secure` on the state directory, which
/// creates it 0700, or takes group and other bits off it and off what it directly holds when an
/// earlier run (or a looser UMask) left them. Deeper entries are unreachable through 0700 folders.
public enum StatePermissions {
    /// The umask kioskd runs with.
    public static let umaskBits: mode_t = 0o077

    /// Sets kioskd's umask (process-wide; kioskd calls it once, first thing).
    public static func restrictUmask() { umask(umaskBits) }

    /// Creates `path` 0700 (with its missing parents), or tightens it and its direct entries that
    /// this user owns. Returns the entries it tightened (for the log).
    @discardableResult
    public static func secure(_ path: String) throws -> [String] {
        let fm = FileManager.default
        var tightened: [String] = []
        if !fm.fileExists(atPath: path) {
            try fm.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let me = geteuid()
        func tighten(_ p: String, directory: Bool) {
            var st = stat()
            guard lstat(p, &st) == 0, st.st_uid == me, (st.st_mode & S_IFMT) != S_IFLNK else { return }
            let mode = st.st_mode & 0o7777
            let wanted = directory ? mode_t(0o700) : mode & 0o700
            if mode != wanted, chmod(p, wanted) == 0 { tightened.append(p) }
        }
        tighten(path, directory: true)
        for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] {
            let p = path + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { continue }
            tighten(p, directory: isDir.boolValue)
        }
        return tightened
    }
}
