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
    /// The printer sends ASB blocks (GS a): they are enabled with each job and read from the IN stream.
    let autoStatusBack: Bool
    /// The last ASB block seen since the previous status query.
    private var asbLatest: ReceiptPrinterStatus?
    private var current: DeviceStatus
    private var printerStatus = ReceiptPrinterStatus()
    private var printed = 0
    private var failed = 0
    // One operation at a time on the wire: a status query between receipt chunks, or two queries
    // flushing each other's replies, would give false statuses.
    private var busy = false
    private var queue: [CheckedContinuation<Void, Never>] = []
    /// Set when a receipt stopped part-way (paper out, cable, timeout): the printer may still hold
    /// the rest of it and print it at the head of the next resident's receipt. The printer stays
    /// out of service until staff clear it (`clearInterruptedJob`).
    private var interrupted: String?
    /// The profile's command that empties the printer's buffers through the data pipe (e.g.
    /// Epson's real-time DLE DC4 fn 8), used after the printer-class SOFT_RESET or without one.
    let bufferClearCommand: [UInt8]?
    /// DLE EOT 4 (roll sensor) confirms what GET_PORT_STATUS says about the paper.
    let crossCheckPaper: Bool

    private func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { queue.append($0) }
    }

    private func release() {
        if queue.isEmpty { busy = false } else { queue.removeFirst().resume() }
    }

    public init(
        transport: any ByteTransport, profile: ReceiptPrinterProfile, model: String, simulated: Bool,
        bidirectional: Bool, logger: Logger, chunkSize: Int = 4096, autoStatusBack: Bool = false,
        bufferClearCommand: [UInt8]? = nil, crossCheckPaper: Bool = true
    ) {
        self.transport = transport
        self.profile = profile
        self.bidirectional = bidirectional
        self.bufferClearCommand = bufferClearCommand
        self.crossCheckPaper = crossCheckPaper
        self.autoStatusBack = autoStatusBack && bidirectional
        self.logger = logger
        self.chunkSize = max(64, min(chunkSize, 4096))
        current = DeviceStatus(
            kind: .receiptPrinter, state: bidirectional ? .starting : .online, model: model,
            simulated: simulated, paper: .unknown)
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["receiptsPrinted": printed, "printFailures": failed]
        return s
    }

    /// Asks DLE EOT n and returns the byte, or nil when the printer did not answer.
    func query(_ n: UInt8) async throws -> UInt8? {
        await drainInput()  // stale replies must not be mistaken for this one
        try await writeBriefly([0x10, 0x04, n])
        let deadline = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < deadline {
            let b = try await transport.read(maxBytes: 1, timeout: .milliseconds(200))
            noteASB(b)
            // DLE EOT replies are 0xx1xx10; ASB bytes never match that pattern (devices.md §2.5).
            if let byte = b.first(where: { $0 & 0x93 == 0x12 }) { return byte }
        }
        return nil
    }

    /// A short command (status query, buffer clear): on USB it gives up after 500 ms instead of
    /// the job's deadline, so a printer whose data pipe is blocked (paper out) is not waited on.
    func writeBriefly(_ bytes: [UInt8]) async throws {
        if let link = transport as? USBPrinterLink {
            try await link.write(
                bytes,
                options: USBWriteOptions(chunkBytes: 64, chunkTimeoutMilliseconds: 500, deadline: .milliseconds(500)))
        } else {
            try await transport.write(bytes)
        }
    }

    /// Drops stale bytes from the IN pipe, keeping what ASB blocks among them say.
    func drainInput() async {
        guard autoStatusBack else {
            await transport.flushInput()
            return
        }
        for _ in 0..<8 {
            guard let b = try? await transport.read(maxBytes: 64, timeout: .milliseconds(15)), !b.isEmpty else {
                return
            }
            noteASB(b)
        }
        await transport.flushInput()
    }

    /// Finds 4-byte ASB blocks (0xx1xx00 then three 0xx0xxxx) in bytes read from the printer.
    private func noteASB(_ bytes: [UInt8]) {
        guard autoStatusBack, bytes.count >= 4 else { return }
        var i = 0
        while i + 4 <= bytes.count {
            if ReceiptPrinterStatus.isASBFirstByte(bytes[i]),
                let st = ReceiptPrinterStatus.decodeASB(Array(bytes[i..<(i + 4)]))
            {
                asbLatest = st
                i += 4
            } else {
                i += 1
            }
        }
    }

    /// Refreshes the status from the printer (bidirectional only) and publishes it.
    /// While a job or another query is running the last known status is returned instead of
    /// querying; `fresh` waits for it and then asks the printer itself, so a technician's selftest
    /// right after reloading paper never reports the status a background poll read before.
    @discardableResult
    public func refresh(fresh: Bool = false) async -> DeviceStatus {
        guard fresh || !busy else { return status() }
        guard bidirectional else {
            await acquire()
            defer { release() }
            return await refreshOneWay()
        }
        await acquire()
        defer { release() }
        return await queryStatus()
    }

    private func queryStatus() async -> DeviceStatus {
        // The USB printer class answers GET_PORT_STATUS on the control pipe even when the data pipe
        // is blocked (paper out: the printer stops taking data, so DLE EOT cannot get through).
        if let port = transport as? PrinterStatusPort {
            current.connection = await port.connection()
            if let ps = await port.portStatus() {
                current.connection = await port.connection()
                if current.identity == nil, let id = await port.deviceID() { current.identity = Self.shortID(id) }
                if ps & 0x20 != 0 {
                    // The port-status paper bit is not meaningful on every model: where the data
                    // pipe still answers, DLE EOT 4 (the roll sensor) has the last word.
                    var roll: ReceiptPrinterStatus?
                    if crossCheckPaper, let b = try? await query(4) {
                        roll = ReceiptPrinterStatus.decodeDLEEOT(n: 4, byte: b)
                    }
                    if let roll, roll.paperOut == false {
                        logger.warning(
                            "printer: GET_PORT_STATUS says paper empty but DLE EOT 4 sees paper; trusting DLE EOT (set the profile's quirks if this repeats)"
                        )
                    } else {
                        printerStatus.paperOut = true
                        apply(
                            state: .userError, error: "paper out: load a new roll (纸卷) and close the cover",
                            action: .clear, paper: .out)
                        return status()
                    }
                }
            }
        }
        do {
            var s = ReceiptPrinterStatus()
            var answered = false
            for n: UInt8 in [1, 2, 4] {
                if let byte = try await query(n), let d = ReceiptPrinterStatus.decodeDLEEOT(n: n, byte: byte) {
                    s = s.merging(d)
                    answered = true
                }
            }
            if autoStatusBack && !answered && asbLatest == nil {
                // No DLE EOT answer: (re-)enable ASB; the printer sends its status block at once.
                try await transport.write([0x1D, 0x61, 0x4F])
                let deadline = ContinuousClock.now + .milliseconds(300)
                while asbLatest == nil && ContinuousClock.now < deadline {
                    noteASB(try await transport.read(maxBytes: 64, timeout: .milliseconds(100)))
                }
            }
            if let asb = asbLatest {
                // DLE EOT replies win where they answered; ASB fills in the rest.
                s = asb.merging(s)
                answered = true
                asbLatest = nil
            }
            guard answered else {
                apply(
                    state: .hardwareError,
                    error: "printer does not answer DLE EOT; check power and cable, then `kioskctl selftest printer`",
                    action: .reset, paper: .unknown)
                return status()
            }
            printerStatus = s
            if s.paperOut == true {
                apply(
                    state: .userError, error: "paper out: load a new roll (纸卷) and close the cover", action: .clear,
                    paper: .out)
            } else if s.coverOpen == true {
                apply(
                    state: .userError, error: "cover open: close the printer cover", action: .clear,
                    paper: current.paper ?? .unknown)
            } else if s.cutterError == true || s.unrecoverableError == true {
                apply(
                    state: .hardwareError,
                    error: "cutter or mechanism error: open the cover, clear any jam, power-cycle the printer",
                    action: .maintenance, paper: .jammed)
            } else if s.online == false {
                apply(
                    state: .offline, error: "printer offline: check the paper and cover", action: .clear,
                    paper: current.paper ?? .unknown)
            } else {
                apply(state: .online, error: nil, action: nil, paper: s.paperNearEnd == true ? .low : .full)
            }
        } catch let e as TransportError {
            if e.disconnected { current.connection = nil }
            apply(
                state: e.disconnected ? .powerOff : .hardwareError, error: "printer link failed: \(e.description)",
                action: .maintenance, paper: .unknown)
        } catch {
            apply(state: .hardwareError, error: "\(error)", action: .reset, paper: .unknown)
        }
        return status()
    }

    /// "MFG:EPSON;CMD:ESC/POS;MDL:TM-T88V;…" -> "EPSON TM-T88V" (the id can be long).
    static func shortID(_ id: String) -> String {
        var fields: [String: String] = [:]
        for part in id.split(separator: ";") {
            let kv = part.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2 { fields[kv[0].uppercased()] = kv[1] }
        }
        let mfg = fields["MFG"] ?? fields["MANUFACTURER"]
        let mdl = fields["MDL"] ?? fields["MODEL"]
        let s = [mfg, mdl].compactMap { $0 }.joined(separator: " ")
        return s.isEmpty ? String(id.prefix(64)) : s
    }

    /// One-way printers report nothing: connected means "online", paper "unknown".
    private func refreshOneWay() async -> DeviceStatus {
        guard let port = transport as? PrinterStatusPort else { return status() }
        if let link = transport as? USBPrinterLink {
            do { try await link.connect() } catch let e as TransportError {
                apply(
                    state: .powerOff, error: "printer link failed: \(e.description)", action: .maintenance,
                    paper: .unknown)
                current.connection = nil
                return status()
            } catch {}
        }
        current.connection = await port.connection()
        if current.identity == nil, let id = await port.deviceID() { current.identity = Self.shortID(id) }
        apply(state: .online, error: nil, action: nil, paper: .unknown)
        return status()
    }

    private func apply(state: DeviceState, error: String?, action: ErrorAction?, paper: PaperState) {
        current.state = state
        current.lastError = error
        current.action = action
        current.paper = paper
        if state == .online, let why = interrupted {
            // Ready as far as the printer knows, but the end of an earlier receipt may still be in it.
            current.state = .userError
            current.action = .clear
            current.lastError =
                "a receipt stopped part-way (\(why)); remove any partial receipt, check the paper, then clear the printer with `kioskctl selftest printer --print`"
        }
    }

    /// Whether the printer is held out of service after an incomplete receipt.
    public var holdsInterruptedJob: Bool { interrupted != nil }

    /// Empties the printer's buffers: the USB printer-class SOFT_RESET on the control pipe
    /// (works while the data pipe is blocked), then the profile's clear command on the data pipe.
    /// Returns what was done, nil when nothing could be sent.
    private func clearPrinterBuffer() async -> String? {
        var done: [String] = []
        if let port = transport as? PrinterSoftReset, await port.softReset() { done.append("SOFT_RESET") }
        if done.isEmpty, let cmd = bufferClearCommand, !cmd.isEmpty {
            do {
                try await writeBriefly(cmd)
                done.append("buffer-clear command")
            } catch {
                logger.info("printer buffer-clear command not taken", metadata: ["error": "\(error)"])
            }
        }
        await drainInput()
        return done.isEmpty ? nil : done.joined(separator: " + ")
    }

    /// A receipt stopped part-way: clear what the printer still holds at once (so it never comes
    /// out at the head of the next receipt) and hold the printer for staff.
    private func markInterrupted(_ why: String) async {
        interrupted = why
        let cleared = await clearPrinterBuffer()
        logger.warning(
            "receipt interrupted; printer held for staff",
            metadata: [
                "why": "\(why)", "cleared": "\(cleared ?? "nothing: no SOFT_RESET and no buffer-clear command")",
            ])
    }

    /// Staff took the partial receipt and checked the printer: clear its buffer again and put it
    /// back in service (it is then online only if its status says so). Returns what was sent.
    @discardableResult
    public func clearInterruptedJob() async -> String {
        await acquire()
        defer { release() }
        guard interrupted != nil else { return "no interrupted receipt" }
        let cleared = await clearPrinterBuffer()
        interrupted = nil
        if bidirectional { _ = await queryStatus() } else { _ = await refreshOneWay() }
        return cleared.map { "printer buffer cleared (\($0))" }
            ?? "no way to clear the printer's buffer on this model: power-cycle the printer"
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
        if let why = interrupted {
            failed += 1
            throw DeviceError(
                "print refused: the printer is held after an interrupted receipt (\(why)); staff clear it with `kioskctl selftest printer --print`",
                resident: "回执打印机暂不可用")
        }
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
        do {
            bytes = try ESCPOSEncoder(
                profile: profile, autoStatusBackMask: autoStatusBack ? 0x4F : nil,
                endOfJobSentinel: true
            ).encode(doc)
        } catch {
            failed += 1
            throw DeviceError("receipt could not be encoded: \(error)", resident: "回执内容无法打印")
        }
        do {
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + chunkSize, bytes.count)
                try await transport.write(Array(bytes[offset..<end]))
                offset = end
                // pace for small printer buffers
                if offset < bytes.count { try await Task.sleep(for: .milliseconds(10)) }
            }
        } catch {
            failed += 1
            await markInterrupted("write stopped: \(error)")
            let after = bidirectional ? await queryStatus() : status()
            if bidirectional == false, (error as? TransportError)?.disconnected == true {
                apply(state: .powerOff, error: "printer link failed: \(error)", action: .maintenance, paper: .unknown)
            }
            logger.warning(
                "receipt write failed", metadata: ["error": "\(error)", "printerState": "\(current.state.rawValue)"])
            if after.paper == .out {
                throw DeviceError("paper ran out during the receipt (\(error))", resident: "打印中纸张用完")
            }
            if current.state == .powerOff {
                throw DeviceError("printer disconnected during the receipt: \(error)", resident: "回执打印机已断开")
            }
            throw DeviceError("write to printer failed: \(error)", resident: "回执打印机故障")
        }
        if !bidirectional, current.state != .online {
            apply(state: .online, error: nil, action: nil, paper: .unknown)
        }
        if bidirectional {
            let after = await queryStatus()
            if after.paper == .out {
                failed += 1
                await markInterrupted("paper ran out during the receipt")
                _ = await queryStatus()
                throw DeviceError("paper ran out during the receipt", resident: "打印中纸张用完")
            }
        }
        printed += 1
    }
}

/// The USB printer class's SOFT_RESET (class request 2): flushes the printer's buffers.
public protocol PrinterSoftReset: Sendable {
    func softReset() async -> Bool
}
