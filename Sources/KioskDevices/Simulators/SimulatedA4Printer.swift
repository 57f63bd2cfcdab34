import Foundation
import KioskProtocols

/// A simulated A4 printer for the demo and the flow tests: every completed job is written to
/// `outputDirectory` as a PDF file (the simulator's "paper"). A simulated jam makes the next jobs
/// abort, the way a CUPS job aborts with media-jam, until it is cleared.
public final class SimulatedA4Printer: @unchecked Sendable {
    private let lock = NSLock()
    private var jammed = false
    private var printedCount = 0
    private var failedCount = 0
    public let outputDirectory: String?

    public init(outputDirectory: String?) { self.outputDirectory = outputDirectory }

    public func setJammed(_ j: Bool) { lock.withLock { jammed = j } }

    public func status() -> DeviceStatus {
        lock.withLock {
            DeviceStatus(kind: .a4Printer, state: jammed ? .userError : .online, model: "simulated A4 printer", simulated: true,
                         lastError: jammed ? "paper jam: open the printer, remove the paper, then reprint" : nil,
                         action: jammed ? .clear : nil, paper: jammed ? .jammed : .full,
                         counters: ["printed": printedCount, "failed": failedCount], reasons: jammed ? ["media-jam"] : [])
        }
    }

    /// Prints (writes) a PDF; returns false (job aborted) while jammed.
    public func printPDF(_ pdf: Data, label: String) throws -> Bool {
        guard pdf.starts(with: Array("%PDF-".utf8)) else {
            throw DeviceError("A4 document is not a PDF", resident: "文件格式无法打印，请联系工作人员")
        }
        let (ok, n): (Bool, Int) = lock.withLock {
            if jammed { failedCount += 1; return (false, 0) }
            printedCount += 1
            return (true, printedCount)
        }
        if ok, let dir = outputDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try pdf.write(to: URL(fileURLWithPath: dir + String(format: "/a4-%04d-", n) + label + ".pdf"))
        }
        return ok
    }
}
