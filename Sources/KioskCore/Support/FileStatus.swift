import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file's size and permission bits from one `stat(2)`.
///
/// `FileManager.attributesOfItem` also looks up the owner's and group's names, which loads the
/// system's NSS modules (libnss_systemd and libsystemd, about half a megabyte resident) into a
/// daemon that never needs a user name.
public struct FileStatus: Sendable {
    public var size: Int
    /// The permission bits (`st_mode & 0o7777`).
    public var permissions: Int

    /// nil when the path does not exist or cannot be examined.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        size = Int(st.st_size)
        permissions = Int(st.st_mode & 0o7777)
    }

    /// The size in bytes of the file at `path`, nil when it does not exist.
    public static func size(_ path: String) -> Int? { FileStatus(path: path)?.size }
}
