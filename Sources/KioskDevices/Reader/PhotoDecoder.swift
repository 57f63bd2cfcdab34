import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The seam for decoding the card photo. The chip holds a 1024-byte proprietary "WLT" wavelet
/// image; no open decoder exists and every public implementation calls a closed, licensed
/// library (devices.md §1.9). kioskd therefore keeps the raw bytes (sent upstream base64) and
/// never links such a library. A deployment that holds a licence plugs its decoder in as a
/// separate helper process (ABI isolation, crash containment):
///
///     devices.idCardReader.photoDecoder: /usr/lib/kioskd/wlt-decoder
///
/// Contract of the helper: it reads exactly 1024 bytes (the WLT blob) on stdin, writes the
/// decoded 102×126 image on stdout as a 38862-byte BMP (`BM` header) or 38556 bytes of raw BGR,
/// and exits 0; anything else is a failure. It gets no arguments, no environment beyond PATH,
/// and is killed after the timeout.
public protocol PhotoDecoder: Sendable {
    func decode(wlt: [UInt8]) async throws -> DecodedPhoto
}

public struct DecodedPhoto: Sendable, Equatable {
    public enum Format: String, Sendable { case bmp, bgr }
    public var format: Format
    public var bytes: [UInt8]
    public static let width = 102, height = 126
    public static let bmpSize = 38862, bgrSize = 38556
}

public struct PhotoDecoderError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Runs the configured helper for each photo.
public struct HelperProcessPhotoDecoder: PhotoDecoder {
    public let executable: String
    public let timeout: Duration

    public init(executable: String, timeout: Duration = .seconds(5)) {
        self.executable = executable
        self.timeout = timeout
    }

    public static let wltHeader: [UInt8] = [0x57, 0x4C, 0x66, 0x00]

    public func decode(wlt: [UInt8]) async throws -> DecodedPhoto {
        guard wlt.count == 1024 else {
            throw PhotoDecoderError(description: "card photo is \(wlt.count) bytes, expected the 1024-byte WLT blob")
        }
        // A helper that exits without reading its input must not take us down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = []
        p.environment = ["PATH": "/usr/bin:/bin"]
        let stdin = Pipe()
        let stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch {
            throw PhotoDecoderError(
                description:
                    "photo decoder \(executable) cannot be started: \(error); check devices.idCardReader.photoDecoder")
        }
        let exe = executable
        let killer = Task {
            try? await Task.sleep(for: timeout)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        defer { killer.cancel() }
        // Write the photo and read the image concurrently: a helper may answer before reading all.
        let writer = Task.detached {
            try? stdin.fileHandleForWriting.write(contentsOf: Data(wlt))
            try? stdin.fileHandleForWriting.close()
        }
        let out: Data = await Task.detached { stdout.fileHandleForReading.readDataToEndOfFile() }.value
        _ = await writer.value
        p.waitUntilExit()
        guard p.terminationReason == .exit, p.terminationStatus == 0 else {
            throw PhotoDecoderError(
                description:
                    "photo decoder \(exe) failed (\(p.terminationReason == .uncaughtSignal ? "killed after \(timeout) or crashed" : "exit \(p.terminationStatus)")); the raw photo is kept"
            )
        }
        let bytes = [UInt8](out)
        if bytes.count == DecodedPhoto.bmpSize, bytes.starts(with: [0x42, 0x4D]) {
            return DecodedPhoto(format: .bmp, bytes: bytes)
        }
        if bytes.count == DecodedPhoto.bgrSize { return DecodedPhoto(format: .bgr, bytes: bytes) }
        throw PhotoDecoderError(
            description:
                "photo decoder \(exe) wrote \(bytes.count) bytes; expected a \(DecodedPhoto.bmpSize)-byte BMP or \(DecodedPhoto.bgrSize) bytes of BGR"
        )
    }
}
