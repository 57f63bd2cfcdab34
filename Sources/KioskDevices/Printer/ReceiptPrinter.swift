import Foundation
import KioskProtocols
import Logging

/// The receipt printer: encodes receipts as ESC/POS for its profile, writes them in paced chunks,
/// and reads status with DLE EOT (bidirectional printers) before and after each job.
public actor ReceiptPrinter {
    let transport: any ByteTransport
    let profile: ReceiptPrinterProfile
    let bidirectional: Bool
    let logger: Logger
    let chunkSize: Int
    private var current: DeviceStatus
    private var printerStatus = ReceiptPrinterStatus()
    private var printed = 0
    private var failed = 0
    // One operation at a time on the wire: a status query between receipt chunks, or two queries
    // flushing each other's replies, would give false statuses.
    private var busy = false
    private var queue: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        if !busy { busy = true; return }
        await withCheckedContinuation { queue.append($0) }
    }

    private func release() {
        if queue.isEmpty { busy = false } else { queue.removeFirst().resume() }
    }

    public init(transport: any ByteTransport, profile: ReceiptPrinterProfile, model: String, simulated: Bool,
                bidirectional: Bool, logger: Logger, chunkSize: Int = 4096) {
        self.transport = transport; self.profile = profile; self.bidirectional = bidirectional
        self.logger = logger; self.chunkSize = max(64, min(chunkSize, 4096))
        current = DeviceStatus(kind: .receiptPrinter, state: bidirectional ? .starting : .online, model: model,
                               simulated: simulated, paper: .unknown)
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["receiptsPrinted": printed, "printFailures": failed]
        return s
    }

    /// Asks DLE EOT n and returns the byte, or nil when the printer did not answer.
    func query(_ n: UInt8) async throws -> UInt8? {
        await transport.flushInput()      // stale replies must not be mistaken for this one
        try await transport.write([0x10, 0x04, n])
        let deadline = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < deadline {
            let b = try await transport.read(maxBytes: 1, timeout: .milliseconds(200))
            if let byte = b.first, byte & 0x93 == 0x12 { return byte }
        }
        return nil
    }

    /// Refreshes the status from the printer (bidirectional only) and publishes it.
    /// While a job is running the last known status is returned instead of querying.
    @discardableResult
    public func refresh() async -> DeviceStatus {
        guard bidirectional, !busy else { return status() }
        await acquire()
        defer { release() }
        return await queryStatus()
    }

    private func queryStatus() async -> DeviceStatus {
        do {
            var s = ReceiptPrinterStatus()
            var answered = false
            for n: UInt8 in [1, 2, 4] {
                if let byte = try await query(n), let d = ReceiptPrinterStatus.decodeDLEEOT(n: n, byte: byte) {
                    s = s.merging(d)
                    answered = true
                }
            }
            guard answered else {
                apply(state: .hardwareError, error: "printer does not answer DLE EOT; check power and cable, then `kioskctl selftest printer`",
                      action: .reset, paper: .unknown)
                return status()
            }
            printerStatus = s
            if s.paperOut == true {
                apply(state: .userError, error: "paper out: load a new roll (纸卷) and close the cover", action: .clear, paper: .out)
            } else if s.coverOpen == true {
                apply(state: .userError, error: "cover open: close the printer cover", action: .clear, paper: current.paper ?? .unknown)
            } else if s.cutterError == true || s.unrecoverableError == true {
                apply(state: .hardwareError, error: "cutter or mechanism error: open the cover, clear any jam, power-cycle the printer",
                      action: .maintenance, paper: .jammed)
            } else if s.online == false {
                apply(state: .offline, error: "printer offline: check the paper and cover", action: .clear, paper: current.paper ?? .unknown)
            } else {
                apply(state: .online, error: nil, action: nil, paper: s.paperNearEnd == true ? .low : .full)
            }
        } catch let e as TransportError {
            apply(state: e.disconnected ? .powerOff : .hardwareError, error: "printer link failed: \(e.description)", action: .maintenance, paper: .unknown)
        } catch {
            apply(state: .hardwareError, error: "\(error)", action: .reset, paper: .unknown)
        }
        return status()
    }

    private func apply(state: DeviceState, error: String?, action: ErrorAction?, paper: PaperState) {
        current.state = state
        current.lastError = error
        current.action = action
        current.paper = paper
    }

    /// Waits for a print in progress (a receipt is never cut off half-way), then closes the link.
    public func shutdown() async {
        await acquire()
        defer { release() }
        await transport.close()
    }

    /// Prints a document. Throws a DeviceError whose resident message says what happens next.
    public func print(_ doc: ReceiptDocument) async throws {
        await acquire()
        defer { release() }
        if bidirectional {
            let before = await queryStatus()
            if before.paper == .out {
                failed += 1
                throw DeviceError("print refused: paper out", resident: "回执打印机缺纸")
            }
            guard before.state == .online else {
                failed += 1
                throw DeviceError("print refused: printer \(before.state.rawValue)", resident: "回执打印机暂不可用")
            }
        }
        let bytes: [UInt8]
        do { bytes = try ESCPOSEncoder(profile: profile).encode(doc) } catch {
            failed += 1
            throw DeviceError("receipt could not be encoded: \(error)", resident: "回执内容无法打印")
        }
        do {
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunkSize, bytes.count)
                try await transport.write(Array(bytes[offset..<end]))
                offset = end
                if offset < bytes.count { try await Task.sleep(for: .milliseconds(10)) }   // pace for small printer buffers
            }
        } catch {
            failed += 1
            _ = await queryStatus()
            throw DeviceError("write to printer failed: \(error)", resident: "回执打印机故障")
        }
        if bidirectional {
            let after = await queryStatus()
            if after.paper == .out {
                failed += 1
                throw DeviceError("paper ran out during the receipt", resident: "打印中纸张用完")
            }
        }
        printed += 1
    }
}
