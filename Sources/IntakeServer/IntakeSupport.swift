// Small helpers: identifier validation, hashing, durable file writes, timestamps.

import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Rules for the identifiers that become path components on disk.
public enum IntakeIdentifier {
    /// Largest length of a submission id or attachment name.
    public static let maxLength = 64

    /// True when `value` matches `[A-Za-z0-9._-]{1,64}` and is not `.` or `..`
    /// (so it is always one harmless path component).
    public static func isValid(_ value: some StringProtocol) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return value != "." && value != ".."
    }
}

/// SHA-256 helpers (lowercase hex, as used by the protocol).
public enum IntakeDigest {
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True for exactly 64 lowercase hex digits.
    public static func isSHA256Hex(_ value: some StringProtocol) -> Bool {
        value.utf8.count == 64
            && value.utf8.allSatisfy { b in
                (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"))
            }
    }

    /// Compares two secrets without an early exit on the first differing byte.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let da = Array(SHA256.hash(data: Array(a.utf8)))
        let db = Array(SHA256.hash(data: Array(b.utf8)))
        var diff: UInt8 = 0
        for i in 0..<da.count { diff |= da[i] ^ db[i] }
        return diff == 0
    }
}

/// A failed system call, reported with the operation and errno text (never file contents).
struct IntakeIOError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32
    var description: String { "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))" }
}

enum DurableFile {
    /// fsync a directory so a rename or create inside it survives a power cut.
    static func syncDirectory(_ path: String) throws {
        #if canImport(Darwin)
            let flags = O_RDONLY
        #else
            let flags = O_RDONLY | O_DIRECTORY
        #endif
        let fd = open(path, flags)
        guard fd >= 0 else { throw IntakeIOError(operation: "open directory", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw IntakeIOError(operation: "fsync directory", code: errno) }
    }

    /// Creates `path` (one level) if missing; fsyncs the parent when it had to create it.
    static func ensureDirectory(_ path: String, parent: String) throws {
        if mkdir(path, 0o700) == 0 {
            try syncDirectory(parent)
            return
        }
        let err = errno
        guard err == EEXIST else { throw IntakeIOError(operation: "mkdir", code: err) }
    }

    /// Atomic replace of `to` by `from` (same file system).
    static func rename(_ from: String, _ to: String) throws {
        #if canImport(Glibc)
            let rc = Glibc.rename(from, to)
        #elseif canImport(Musl)
            let rc = Musl.rename(from, to)
        #else
            let rc = Darwin.rename(from, to)
        #endif
        guard rc == 0 else { throw IntakeIOError(operation: "rename", code: errno) }
    }

    /// Creates an empty file (it must not exist) and, with `sync`, fsyncs it.
    static func createEmpty(_ path: String, sync: Bool = true) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IntakeIOError(operation: "create upload file", code: errno) }
        defer { close(fd) }
        guard !sync || fsync(fd) == 0 else { throw IntakeIOError(operation: "fsync upload file", code: errno) }
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }
}

/// A temporary file an upload is streamed into while its SHA-256 is computed.
/// `finish()` fsyncs and closes it; the store then renames it into place.
final class StagingFile {
    let path: String
    private var fd: Int32
    private var hasher = SHA256()
    private(set) var size = 0

    init(directory: String) throws {
        self.path = directory + "/upload-" + UUID().uuidString + ".part"
        self.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IntakeIOError(operation: "create staging file", code: errno) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        hasher.update(bufferPointer: bytes)
        var offset = 0
        while offset < bytes.count {
            let n = Self.sysWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw IntakeIOError(operation: "write staging file", code: errno)
            }
            offset += n
        }
        size += bytes.count
    }

    /// Flushes to disk, closes, and returns the size and lowercase hex SHA-256.
    func finish() throws -> (size: Int, sha256: String) {
        guard fsync(fd) == 0 else { throw IntakeIOError(operation: "fsync staging file", code: errno) }
        let rc = close(fd)
        fd = -1
        guard rc == 0 else { throw IntakeIOError(operation: "close staging file", code: errno) }
        return (size, IntakeDigest.hex(hasher.finalize()))
    }

    /// Closes (if open) and deletes the file.
    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        DurableFile.remove(path)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private static func sysWrite(_ fd: Int32, _ ptr: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
            return Glibc.write(fd, ptr, count)
        #elseif canImport(Musl)
            return Musl.write(fd, ptr, count)
        #else
            return Darwin.write(fd, ptr, count)
        #endif
    }
}

enum IntakeClock {
    /// ISO 8601 UTC with milliseconds, e.g. `2025-03-01T08:15:30.123Z`.
    static func timestamp(_ date: Date = Date()) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!).format(date)
    }
}
