import Foundation
import KioskProtocols

/// A simulated ESC/POS receipt printer: consumes the byte stream, answers DLE EOT with status
/// bytes, and keeps a decoded view of every receipt (text lines, QR payloads, cuts). Each cut
/// receipt is also written as a text file, the simulator's "paper".
public final class SimulatedReceiptPrinter: SimulatedDeviceModel, @unchecked Sendable {
    private let lock = NSLock()
    private var decoder = ESCPOSDecoder()
    private var accumulator = PrintedReceiptAccumulator()
    private var state = ReceiptPrinterStatus(
        online: true, coverOpen: false, paperNearEnd: false, paperOut: false,
        cutterError: false, unrecoverableError: false)
    private var linesLeft: Int?
    private var asbEnabled = false
    private var isConnected = true
    private var counter = 0
    /// What the printer took but could not print (paper out): real printers keep it in their
    /// buffer and print it as soon as paper is back, at the head of whatever comes next,
    /// unless the host clears the buffer (SOFT_RESET or DLE DC4 fn 8).
    private var held: [ESCPOSEvent] = []
    /// DLE DC4 fn 8: clear buffers (Epson real-time command).
    public static let clearBufferCommand: [UInt8] = [0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08]
    public let outputDirectory: String?
    public private(set) var received: [UInt8] = []

    public init(outputDirectory: String?) {
        self.outputDirectory = outputDirectory
        if let d = outputDirectory {
            counter =
                ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasPrefix("receipt-") }
                .count
        }
    }

    public var connected: Bool { lock.withLock { isConnected } }
    public func unplug() { lock.withLock { isConnected = false } }
    public func plug() { lock.withLock { isConnected = true } }

    /// Whether the roll is out (the printer takes no more data).
    public var paperOut: Bool { lock.withLock { state.paperOut == true } }

    /// Paper out now (true) or reloaded (false).
    public func setPaperOut(_ out: Bool) {
        lock.withLock {
            state.paperOut = out
            state.online = !out
            if !out {
                linesLeft = nil
                // Paper is back: the buffer's leftovers come out first.
                let pending = held
                held = []
                var sink: [UInt8] = []
                for e in pending { process(e, reply: &sink) }
            }
        }
    }
    /// Empties the buffer (USB printer-class SOFT_RESET): what was held is never printed.
    public func clearBuffer() {
        lock.withLock {
            held = []
            decoder = ESCPOSDecoder()
        }
    }
    /// How many events wait in the printer's buffer for paper.
    public var heldEventCount: Int { lock.withLock { held.count } }
    /// The roll runs out after this many more printed lines (paper running out mid-receipt).
    public func setPaperRemaining(lines: Int?) { lock.withLock { linesLeft = lines } }

    public var receipts: [PrintedReceiptView] { lock.withLock { accumulator.completed } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        lock.withLock {
            var reply: [UInt8] = []
            var bytes = bytes
            if let r = bytes.firstRange(of: Self.clearBufferCommand) {
                held = []
                decoder = ESCPOSDecoder()
                bytes.removeSubrange(..<r.upperBound)
            }
            for e in decoder.feed(bytes) {
                switch e {
                case .statusRequest(let n):
                    reply.append(ReceiptPrinterStatus.statusByte(n: n, for: state))
                case .endOfJobSentinel:
                    if state.paperOut != true { reply.append(0x00) }
                case .autoStatusBack(let mask):
                    // GS a n: send the status block now and on every change.
                    asbEnabled = mask != 0
                    if asbEnabled { reply += ReceiptPrinterStatus.asbBytes(for: state) }
                default:
                    process(e, reply: &reply)
                }
            }
            return reply
        }
    }

    /// Prints one event, or keeps it in the buffer while there is no paper.
    private func process(_ e: ESCPOSEvent, reply: inout [UInt8]) {
        guard state.paperOut != true else {
            held.append(e)
            return
        }  // nothing comes out without paper
        switch e {
        case .line:
            if let left = linesLeft {
                if left <= 0 {
                    state.paperOut = true
                    state.online = false
                    if asbEnabled { reply += ReceiptPrinterStatus.asbBytes(for: state) }
                    held.append(e)
                    return
                }
                linesLeft = left - 1
            }
            if let view = accumulator.add(e) { save(view) }
        default:
            if let view = accumulator.add(e) { save(view) }
        }
    }

    private func save(_ view: PrintedReceiptView) {
        guard let dir = outputDirectory else { return }
        counter += 1
        var text = view.lines.joined(separator: "\n") + "\n"
        for q in view.qrCodes { text += "[QR] \(q)\n" }
        text += "[CUT]\n"
        let path = dir + "/" + String(format: "receipt-%04d.txt", counter)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }
}
