import Foundation
import KioskProtocols
import Synchronization

/// A simulated ESC/POS receipt printer: consumes the byte stream, answers DLE EOT with status
/// bytes, and keeps a decoded view of every receipt (text lines, QR payloads, cuts). Each cut
/// receipt is also written as a text file, the simulator's "paper".
public final class SimulatedReceiptPrinter: SimulatedDeviceModel, Sendable {
    /// DLE DC4 fn 8: clear buffers (Epson real-time command).
    public static let clearBufferCommand: [UInt8] = [0x10, 0x14, 0x08, 0x01, 0x03, 0x14, 0x01, 0x06, 0x02, 0x08]
    public let outputDirectory: String?
    private let model: Mutex<Model>

    /// The printer's state, changed by one caller at a time.
    struct Model {
        let outputDirectory: String?
        var decoder = ESCPOSDecoder()
        var accumulator = PrintedReceiptAccumulator()
        var state = ReceiptPrinterStatus(
            online: true, coverOpen: false, paperNearEnd: false, paperOut: false,
            cutterError: false, unrecoverableError: false)
        var linesLeft: Int?
        var asbEnabled = false
        var isConnected = true
        var counter = 0
        /// What the printer took but could not print (paper out): real printers keep it in their
        /// buffer and print it as soon as paper is back, at the head of whatever comes next,
        /// unless the host clears the buffer (SOFT_RESET or DLE DC4 fn 8).
        var held: [ESCPOSEvent] = []

        /// Prints one event, or keeps it in the buffer while there is no paper.
        mutating func process(_ e: ESCPOSEvent, reply: inout [UInt8]) {
            // nothing comes out without paper
            guard state.paperOut != true else {
                held.append(e)
                return
            }
            if case .line = e, let left = linesLeft {
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
        }

        mutating func save(_ view: PrintedReceiptView) {
            guard let dir = outputDirectory else { return }
            counter += 1
            var text = view.lines.joined(separator: "\n") + "\n"
            for q in view.qrCodes { text += "[QR] \(q)\n" }
            text += "[CUT]\n"
            let path = dir + "/" + String(format: "receipt-%04d.txt", counter)
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        }
    }

    public init(outputDirectory: String?) {
        self.outputDirectory = outputDirectory
        var m = Model(outputDirectory: outputDirectory)
        if let d = outputDirectory {
            m.counter =
                ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasPrefix("receipt-") }
                .count
        }
        model = Mutex(m)
    }

    public var connected: Bool { model.withLock { $0.isConnected } }
    public func unplug() { model.withLock { $0.isConnected = false } }
    public func plug() { model.withLock { $0.isConnected = true } }

    /// Whether the roll is out (the printer takes no more data).
    public var paperOut: Bool { model.withLock { $0.state.paperOut == true } }

    /// Paper out now (true) or reloaded (false).
    public func setPaperOut(_ out: Bool) {
        model.withLock { m in
            m.state.paperOut = out
            m.state.online = !out
            if !out {
                m.linesLeft = nil
                // Paper is back: the buffer's leftovers come out first.
                let pending = m.held
                m.held = []
                var sink: [UInt8] = []
                for e in pending { m.process(e, reply: &sink) }
            }
        }
    }
    /// Empties the buffer (USB printer-class SOFT_RESET): what was held is never printed.
    public func clearBuffer() {
        model.withLock { m in
            m.held = []
            m.decoder = ESCPOSDecoder()
        }
    }
    /// How many events wait in the printer's buffer for paper.
    public var heldEventCount: Int { model.withLock { $0.held.count } }
    /// The roll runs out after this many more printed lines (paper running out mid-receipt).
    public func setPaperRemaining(lines: Int?) { model.withLock { $0.linesLeft = lines } }

    public var receipts: [PrintedReceiptView] { model.withLock { $0.accumulator.completed } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        model.withLock { m in
            var reply: [UInt8] = []
            var bytes = bytes
            if let r = bytes.firstRange(of: Self.clearBufferCommand) {
                m.held = []
                m.decoder = ESCPOSDecoder()
                bytes.removeSubrange(..<r.upperBound)
            }
            for e in m.decoder.feed(bytes) {
                switch e {
                case .statusRequest(let n):
                    reply.append(ReceiptPrinterStatus.statusByte(n: n, for: m.state))
                case .endOfJobSentinel:
                    if m.state.paperOut != true { reply.append(0x00) }
                case .autoStatusBack(let mask):
                    // GS a n: send the status block now and on every change.
                    m.asbEnabled = mask != 0
                    if m.asbEnabled { reply += ReceiptPrinterStatus.asbBytes(for: m.state) }
                default:
                    m.process(e, reply: &reply)
                }
            }
            return reply
        }
    }
}
