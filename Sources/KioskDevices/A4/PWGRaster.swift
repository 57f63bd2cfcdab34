import Foundation
import KioskProtocols

/// Renders a PDF to PWG raster locally with Ghostscript's `pwgraster` device (Debian package
/// `ghostscript`), for IPP Everywhere printers that do not take PDF: IPP Everywhere only requires
/// PWG raster and JPEG. The PDF goes in on stdin and the raster comes out on stdout: kioskd
/// writes no copy of the certificate to disk.
public enum PWGRasterRenderer {
    public struct Choice: Sendable, Equatable {
        public var dpi: Int
        /// PWG raster type keyword: sgray_8, srgb_8 or black_1.
        public var type: String
    }

    public static let ghostscriptCandidates = ["/usr/bin/gs", "/bin/gs"]

    /// The resolution and type to render at, from `pwg-raster-document-resolution-supported`
    /// and `pwg-raster-document-type-supported`: 300 dpi if offered (else the lowest), and grey,
    /// colour or bilevel in that order of preference. nil when nothing usable is offered.
    public static func choose(resolutions: [Int], types: [String]) -> Choice? {
        let dpi = resolutions.contains(300) ? 300 : (resolutions.filter { $0 >= 150 }.min() ?? resolutions.max())
        let type = ["sgray_8", "srgb_8", "black_1"].first { types.contains($0) }
        guard let dpi, let type else { return nil }
        return Choice(dpi: dpi, type: type)
    }

    static func arguments(_ c: Choice) -> [String] {
        let (space, bits): (Int, Int) =
            switch c.type {
            case "srgb_8": (19, 8)  // CUPS_CSPACE_SRGB
            case "black_1": (3, 1)  // CUPS_CSPACE_K
            default: (18, 8)  // CUPS_CSPACE_SW (sGray)
            }
        return [
            "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pwgraster", "-r\(c.dpi)",
            "-dcupsColorSpace=\(space)", "-dcupsBitsPerColor=\(bits)", "-sPAPERSIZE=a4", "-dFIXEDMEDIA", "-dPDFFitPage",
            "-sOutputFile=%stdout", "-",
        ]
    }

    /// Runs Ghostscript; killed after `timeout`. The result starts with the PWG sync word `RaS2`.
    public static func render(pdf: Data, choice: Choice, timeout: Duration = .seconds(60)) async throws -> Data {
        guard let gs = ghostscriptCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DeviceError(
                "the A4 printer takes no PDF and Ghostscript is missing to render PWG raster: install it (apt-get install ghostscript)",
                resident: "A4打印机暂不可用，请联系工作人员")
        }
        let args = arguments(choice)
        // A renderer that exits early must not take kioskd down with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gs)
        p.arguments = args
        p.environment = ["PATH": "/usr/bin:/bin"]
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        do { try p.run() } catch {
            throw DeviceError("Ghostscript (\(gs)) cannot be started: \(error)", resident: "A4打印机暂不可用，请联系工作人员")
        }
        let killer = Task {
            try? await Task.sleep(for: timeout)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        defer { killer.cancel() }
        let writer = Task.detached {
            try? stdin.fileHandleForWriting.write(contentsOf: pdf)
            try? stdin.fileHandleForWriting.close()
        }
        let errTask = Task.detached { stderr.fileHandleForReading.readDataToEndOfFile() }
        let out: Data = await Task.detached { stdout.fileHandleForReading.readDataToEndOfFile() }.value
        let err = await errTask.value
        _ = await writer.value
        p.waitUntilExit()
        if p.terminationReason == .uncaughtSignal {
            throw DeviceError(
                "rendering the document to PWG raster did not finish within \(timeout) and was stopped",
                resident: "A4打印机未能完成打印，请联系工作人员补打")
        }
        guard p.terminationStatus == 0, out.starts(with: Array("RaS2".utf8)) else {
            let why = String(decoding: err.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DeviceError(
                "Ghostscript could not render the PDF to PWG raster (exit \(p.terminationStatus)): \(why)",
                resident: "文件格式无法打印，请联系工作人员")
        }
        return out
    }
}
