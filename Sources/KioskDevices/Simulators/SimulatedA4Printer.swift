import Foundation
import KioskProtocols
import Synchronization

/// A simulated A4 printer for the demo and the flow tests: every completed job is written to
/// `outputDirectory` as a PDF file (the simulator's "paper"). A simulated jam makes the next jobs
/// abort, the way a CUPS job aborts with media-jam, until it is cleared.
public final class SimulatedA4Printer: Sendable {
    private struct State {
        var jammed = false
        var printedCount = 0
        var failedCount = 0
    }
    private let state = Mutex(State())
    public let outputDirectory: String?

    public init(outputDirectory: String?) { self.outputDirectory = outputDirectory }

    public func setJammed(_ j: Bool) { state.withLock { $0.jammed = j } }

    public func status() -> DeviceStatus {
        let st = state.withLock { $0 }
        return DeviceStatus(
            kind: .a4Printer, state: st.jammed ? .userError : .online, model: "simulated A4 printer", simulated: true,
            lastError: st.jammed ? "paper jam: open the printer, remove the paper, then reprint" : nil,
            action: st.jammed ? .clear : nil, paper: st.jammed ? .jammed : .full,
            counters: ["printed": st.printedCount, "failed": st.failedCount], reasons: st.jammed ? ["media-jam"] : [])
    }

    /// Prints (writes) a PDF; returns false (job aborted) while jammed.
    public func printPDF(_ pdf: Data, label: String) throws -> Bool {
        guard pdf.starts(with: Array("%PDF-".utf8)) else {
            throw DeviceError("A4 document is not a PDF", resident: "文件格式无法打印，请联系工作人员")
        }
        let (ok, n): (Bool, Int) = state.withLock { st in
            if st.jammed {
                st.failedCount += 1
                return (false, 0)
            }
            st.printedCount += 1
            return (true, st.printedCount)
        }
        if ok, let dir = outputDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try pdf.write(to: URL(fileURLWithPath: dir + String(format: "/a4-%04d-", n) + label + ".pdf"))
        }
        return ok
    }
}
