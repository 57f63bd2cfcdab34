import Foundation
import KioskProtocols

/// A simulated ESC/POS receipt printer: consumes the byte stream, answers DLE EOT with status
/// bytes, and keeps a decoded view of every receipt (text lines, QR payloads, cuts). Each cut
/// receipt is also written as a text file, the simulator's "paper".
public final class SimulatedReceiptPrinter: SimulatedDeviceModel, @unchecked Sendable {
    private let lock = NSLock()
    private var decoder = ESCPOSDecoder()
    private var accumulator = PrintedReceiptAccumulator()
    private var state = ReceiptPrinterStatus(online: true, coverOpen: false, paperNearEnd: false, paperOut: false,
                                             cutterError: false, unrecoverableError: false)
    private var linesLeft: Int?
    private var asbEnabled = false
    private var isConnected = true
    private var counter = 0
    public let outputDirectory: String?
    public private(set) var received: [UInt8] = []

    public init(outputDirectory: String?) {
        self.outputDirectory = outputDirectory
        if let d = outputDirectory {
            counter = ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasPrefix("receipt-") }.count
        }
    }

    public var connected: Bool { lock.withLock { isConnected } }
    public func unplug() { lock.withLock { isConnected = false } }
    public func plug() { lock.withLock { isConnected = true } }

    /// Whether the roll is out (the printer takes no more data).
    public var paperOut: Bool { lock.withLock { state.paperOut == true } }

    /// Paper out now (true) or reloaded (false).
    public func setPaperOut(_ out: Bool) {
        lock.withLock { state.paperOut = out; state.online = !out; if !out { linesLeft = nil } }
    }
    /// The roll runs out after this many more printed lines (paper running out mid-receipt).
    public func setPaperRemaining(lines: Int?) { lock.withLock { linesLeft = lines } }

    public var receipts: [PrintedReceiptView] { lock.withLock { accumulator.completed } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        lock.withLock {
            var reply: [UInt8] = []
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
                case .line:
                    guard state.paperOut != true else { continue }     // nothing comes out without paper
                    if let left = linesLeft {
                        if left <= 0 {
                            state.paperOut = true; state.online = false
                            if asbEnabled { reply += ReceiptPrinterStatus.asbBytes(for: state) }
                            continue
                        }
                        linesLeft = left - 1
                    }
                    if let view = accumulator.add(e) { save(view) }
                case .cut, .qrCode, .barcode, .raster:
                    guard state.paperOut != true else { continue }
                    if let view = accumulator.add(e) { save(view) }
                default:
                    _ = accumulator.add(e)
                }
            }
            return reply
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
