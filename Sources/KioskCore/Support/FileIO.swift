import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public struct FileIOError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Durable file writes: temp file, write, fsync, rename, fsync the directory.
public enum DurableFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw FileIOError(
                description:
                    "cannot create \(tmp): \(String(cString: strerror(errno))); check the state directory is writable and not full"
            )
        }
        var err = writeAll(fd, data)
        if err == 0 && fsync(fd) != 0 { err = errno }
        let ok = err == 0
        close(fd)
        guard ok else {
            unlink(tmp)
            throw FileIOError(
                description:
                    "cannot write \(path): \(String(cString: strerror(err))); free disk space or check the disk")
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw FileIOError(description: "cannot rename \(tmp): \(String(cString: strerror(e)))")
        }
        try syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// Creates `path` (it must not exist), writes `data` and fsyncs the file (unless `sync` is
    /// false: a file whose content does not matter, only its name). No rename and no directory
    /// fsync: for files in a directory nothing refers to yet, whose caller fsyncs the directory
    /// once after the last file (the seal).
    public static func writeNew(_ data: Data, to path: String, mode: mode_t = 0o600, sync: Bool = true) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw FileIOError(
                description:
                    "cannot create \(path): \(String(cString: strerror(errno))); check the state directory is writable and not full"
            )
        }
        var err = writeAll(fd, data)
        if err == 0 && sync && fsync(fd) != 0 { err = errno }
        close(fd)
        guard err == 0 else {
            unlink(path)
            throw FileIOError(
                description:
                    "cannot write \(path): \(String(cString: strerror(err))); free disk space or check the disk")
        }
    }

    /// Writes all of `data` to the open `fd`, not synced (`path` names it in the error).
    public static func writeAll(_ data: Data, fd: Int32, path: String) throws {
        let err = writeAll(fd, data)
        guard err == 0 else { throw writeError(path, err) }
    }

    /// fsyncs the open `fd` (`path` names it in the error).
    public static func sync(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else { throw writeError(path, errno) }
    }

    /// Starts writing `fd`'s dirty pages to the disk without waiting (sync_file_range): a later
    /// fsync finds them written or under way. Only a head start; durability is the fsync's.
    public static func startWriteback(_ fd: Int32) {
        _ = syncFileRange?(fd, 0, 0, 2)  // SYNC_FILE_RANGE_WRITE
    }

    /// glibc's sync_file_range (Linux only; not in the Glibc module), looked up once.
    private typealias SyncFileRange = @convention(c) (Int32, off_t, off_t, UInt32) -> Int32
    private static let syncFileRange: SyncFileRange? = dlsym(nil, "sync_file_range").map {
        unsafeBitCast($0, to: SyncFileRange.self)
    }

    private static func writeError(_ path: String, _ err: Int32) -> FileIOError {
        FileIOError(
            description: "cannot write \(path): \(String(cString: strerror(err))); free disk space or check the disk")
    }

    /// Writes all of `data` to `fd` (retrying short writes and EINTR); the errno of a failure, or 0.
    static func writeAll(_ fd: Int32, _ data: Data) -> Int32 {
        data.withUnsafeBytes { raw -> Int32 in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                off += n
            }
            return 0
        }
    }

    public static func syncDirectory(_ dir: String) throws {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError(description: "cannot open directory \(dir) to sync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw FileIOError(description: "cannot sync directory \(dir): \(String(cString: strerror(errno)))")
        }
    }

    public static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw FileIOError(description: "cannot create directory \(path): \(error.localizedDescription)")
        }
    }

    /// Free bytes on the file system holding `path`.
    public static func freeBytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
