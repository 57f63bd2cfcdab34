import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Group names to ids for the sockets' access checks.
///
/// `/etc/group` is read first: that is where the package's groups (kioskadm, kioskscreen) are
/// made. Only a name it does not hold goes through NSS (`getgrnam_r`), whose modules
/// (libnss_systemd and libsystemd with its compression and crypto libraries, about 1 MB resident)
/// would otherwise stay loaded in an idle daemon that only ever asks for these two names.
/// `getgrnam_r` rather than `getgrnam`: the sockets ask from several threads.
enum SystemGroups {
    static func gid(named name: String, groupFile: String = "/etc/group") -> gid_t? {
        if let text = try? String(contentsOfFile: groupFile, encoding: .utf8),
            let gid = gid(named: name, inGroupFile: text)
        {
            return gid
        }
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var strings = [CChar](repeating: 0, count: 16_384)
        guard getgrnam_r(name, &group, &strings, strings.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The id of `name` in text laid out as group(5): `name:password:gid:members`, one per line.
    static func gid(named name: String, inGroupFile text: String) -> gid_t? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count >= 3, fields[0] == name, let id = gid_t(fields[2]) else { continue }
            return id
        }
        return nil
    }
}
