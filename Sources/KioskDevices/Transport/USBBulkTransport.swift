import Foundation
import Synchronization

/// Options for bulk writes: chunk size, pacing between chunks, per-chunk timeout and a deadline
/// for the whole write (devices.md §2.6).
public struct USBWriteOptions: Sendable {
    public var chunkBytes: Int
    public var pause: Duration
    public var chunkTimeoutMilliseconds: Int
    public var deadline: Duration

    public init(
        chunkBytes: Int = 4096, pause: Duration = .zero, chunkTimeoutMilliseconds: Int = 2000,
        deadline: Duration = .seconds(10)
    ) {
        self.chunkBytes = max(1, min(chunkBytes, 4096))
        self.pause = pause
        self.chunkTimeoutMilliseconds = max(1, chunkTimeoutMilliseconds)
        self.deadline = deadline
    }
}

/// A write that could not finish: how far it got, so nothing already taken is sent twice.
public struct USBWriteIncomplete: Error, CustomStringConvertible, Sendable {
    public var transferred: Int
    public var total: Int
    public var cause: USBError
    public var description: String { "USB write stopped after \(transferred) of \(total) bytes: \(cause)" }
}

/// A ByteTransport over one bulk OUT and one bulk (or interrupt) IN endpoint of a claimed
/// interface. Blocking libusb calls run on the transport's own queues, never on Swift's
/// cooperative pool. Writes are chunked and paced; after a timeout they resume from the count
/// the device took instead of re-sending.
public final class USBBulkTransport: ByteTransport, Sendable {
    public let handle: USBDeviceHandle
    public let interface: USBInterfaceInfo
    public let outEndpoint: UInt8
    public let inEndpoint: UInt8?
    let inIsInterrupt: Bool
    let outIsInterrupt: Bool
    /// The endpoint layout in use (readers probe several; printers use `single`).
    public let layout: USBEndpointLayout?
    public let packetSize: Int
    public let writeOptions: USBWriteOptions
    private let readQueue: DispatchQueue
    private let writeQueue: DispatchQueue
    /// Closed yet; bytes of a split-layout reply body still due on `in2`; stalls in a row.
    private struct State {
        var closed = false
        var splitBodyDue = 0
        var consecutiveStalls = 0
    }
    private let state = Mutex(State())
    public let description: String

    /// Opens and claims `interface` of the device. Endpoints come from the descriptors unless
    /// `outEndpoint`/`inEndpoint` override them (a profile's `usb.endpoints`).
    public init(
        context: LibUSBContext, device: USBDeviceInfo, interface number: Int,
        outEndpoint: UInt8? = nil, inEndpoint: UInt8? = nil, writeOptions: USBWriteOptions = USBWriteOptions(),
        layout: USBEndpointLayout? = nil
    ) throws {
        guard let iface = device.interfaces.first(where: { $0.number == number && $0.alternate == 0 }) else {
            throw TransportError(
                "\(device.usbId) at \(device.location) has no interface \(number); check the profile's usb.interface")
        }
        guard let out = layout?.out ?? outEndpoint ?? iface.bulkOut?.address else {
            throw TransportError(
                "\(device.usbId) interface \(number) has no bulk OUT endpoint; check the profile's usb.endpoints")
        }
        let inEP =
            layout.map { $0.in }
            ?? (inEndpoint ?? iface.bulkIn?.address
                ?? iface.endpoints.first(where: { $0.isIn && $0.isInterrupt })?.address)
        let h = try context.open(device)
        do {
            try h.claim(interface: number)
        } catch {
            h.close()
            throw error
        }
        self.handle = h
        self.interface = iface
        self.outEndpoint = out
        self.inEndpoint = inEP
        self.inIsInterrupt =
            inEP.map { ep in iface.endpoints.first { $0.address == ep }?.isInterrupt ?? false } ?? false
        self.outIsInterrupt = iface.endpoints.first { $0.address == out }?.isInterrupt ?? false
        self.layout = layout
        self.packetSize = iface.endpoints.first(where: { $0.address == inEP })?.maxPacketSize ?? 64
        self.writeOptions = writeOptions
        self.description =
            "\(device.location) \(device.usbId) if\(number)"
            + (layout.map { $0.kind == .single ? "" : " \($0.kind.rawValue)" } ?? "")
        readQueue = DispatchQueue(label: "usb.read.\(device.portPath)")
        writeQueue = DispatchQueue(label: "usb.write.\(device.portPath)")
    }

    private var isClosed: Bool { state.withLock { $0.closed } }

    private func onQueue<T: Sendable>(_ q: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T
    {
        try await withCheckedThrowingContinuation { c in
            q.async { c.resume(with: Result { try body() }) }
        }
    }

    static func transportError(_ e: USBError) -> TransportError {
        TransportError(e.description, disconnected: e.disconnected)
    }

    public func write(_ bytes: [UInt8]) async throws {
        if let l = layout, l.kind == .split, let out2 = l.out2 {
            // Preamble and length to the first OUT endpoint, command, data and checksum to the second.
            let n = min(USBEndpointLayout.splitHeaderBytes, bytes.count)
            _ = try await writeReportingProgress(Array(bytes.prefix(n)))
            if bytes.count > n { _ = try await writeReportingProgress(Array(bytes.dropFirst(n)), endpoint: out2) }
            return
        }
        _ = try await writeReportingProgress(bytes)
    }

    /// Writes everything or throws `USBWriteIncomplete` with the count already taken.
    /// A stall is cleared and the chunk retried once; a timeout resumes from `transferred`.
    public func writeReportingProgress(_ bytes: [UInt8], options: USBWriteOptions? = nil, endpoint: UInt8? = nil)
        async throws -> Int
    {
        guard !isClosed else { throw TransportError("USB transport closed", disconnected: true) }
        let opts = options ?? writeOptions
        let deadline = ContinuousClock.now + opts.deadline
        var sent = 0
        var stalls = 0
        while sent < bytes.count {
            try Task.checkCancellation()
            let end = min(bytes.count, sent + opts.chunkBytes)
            let slice = bytes[sent..<end]
            let h = handle
            let ep = endpoint ?? outEndpoint
            let t = opts.chunkTimeoutMilliseconds
            let intr = endpoint == nil ? outIsInterrupt : false
            let (n, err) = try await onQueue(writeQueue) {
                h.bulkWrite(endpoint: ep, slice, timeoutMilliseconds: t, interrupt: intr)
            }
            sent += n
            if let err {
                if err.disconnected { throw TransportError(err.description, disconnected: true) }
                if err.stalled, stalls == 0 {
                    stalls += 1
                    handle.clearHalt(endpoint: ep)
                    continue
                }
                if err.timedOut, ContinuousClock.now < deadline {
                    continue  // resume from what the device took; never resend
                }
                throw USBWriteIncomplete(transferred: sent, total: bytes.count, cause: err)
            }
            stalls = 0
            if (sent < bytes.count) && (opts.pause > .zero) { try await Task.sleep(for: opts.pause) }
        }
        return sent
    }

    public func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        if let l = layout, l.kind == .split, let in2 = l.in2 { return try await readSplit(body: in2, timeout: timeout) }
        return try await readEndpoint(inEndpoint, interrupt: inIsInterrupt, maxBytes: maxBytes, timeout: timeout)
    }

    /// Split layout: the 7-byte header (preamble + LEN) from the first IN endpoint, then LEN bytes
    /// of body from the second; returned together so the frame parser sees one frame.
    private func readSplit(body in2: UInt8, timeout: Duration) async throws -> [UInt8] {
        let due: Int = state.withLock { $0.splitBodyDue }
        if due > 0 {
            let b = try await readEndpoint(in2, interrupt: false, maxBytes: due, timeout: timeout)
            state.withLock { $0.splitBodyDue = max(0, $0.splitBodyDue - b.count) }
            return b
        }
        let head = try await readEndpoint(
            inEndpoint, interrupt: inIsInterrupt, maxBytes: USBEndpointLayout.splitHeaderBytes, timeout: timeout)
        guard head.count >= USBEndpointLayout.splitHeaderBytes, Array(head.prefix(5)) == [0xAA, 0xAA, 0xAA, 0x96, 0x69]
        else {
            return head  // not a header: the frame parser resynchronises over it
        }
        let len = Int(head[5]) << 8 | Int(head[6])
        var out = head
        let extra = head.count - USBEndpointLayout.splitHeaderBytes
        var remaining = max(0, len - extra)
        let deadline = ContinuousClock.now + timeout
        while remaining > 0, ContinuousClock.now < deadline {
            let b = try await readEndpoint(
                in2, interrupt: false, maxBytes: remaining, timeout: min(timeout, .milliseconds(200)))
            out += b
            remaining -= b.count
        }
        let left = remaining
        state.withLock { $0.splitBodyDue = left }
        return out
    }

    private func readEndpoint(_ inEP: UInt8?, interrupt intr: Bool, maxBytes: Int, timeout: Duration) async throws
        -> [UInt8]
    {
        guard !isClosed else { throw TransportError("USB transport closed", disconnected: true) }
        guard let ep = inEP else { return [] }
        let ms = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        // Whole packets: a short packet ends the transfer, so a frame arrives in one call.
        let size = max(packetSize, (max(maxBytes, 1) + packetSize - 1) / packetSize * packetSize)
        let h = handle
        do {
            let bytes = try await onQueue(readQueue) {
                try h.bulkRead(endpoint: ep, maxLength: size, timeoutMilliseconds: max(1, ms), interrupt: intr)
            }
            state.withLock { $0.consecutiveStalls = 0 }
            return bytes
        } catch let e as USBError {
            if e.stalled {
                // Clear the halt and let the caller read again; a device that keeps stalling is broken.
                handle.clearHalt(endpoint: ep)
                let n: Int = state.withLock { st in
                    st.consecutiveStalls += 1
                    return st.consecutiveStalls
                }
                if n < 5 { return [] }
                throw TransportError(
                    "\(e.description) (5 times in a row: the device is not working; unplug and replug it)")
            }
            throw Self.transportError(e)
        }
    }

    public func flushInput() async {
        guard inEndpoint != nil else { return }
        for _ in 0..<16 {
            guard
                let b = try? await readEndpoint(
                    inEndpoint, interrupt: inIsInterrupt, maxBytes: packetSize, timeout: .milliseconds(15)), !b.isEmpty
            else { break }
        }
        if let in2 = layout?.in2 {
            for _ in 0..<16 {
                guard
                    let b = try? await readEndpoint(
                        in2, interrupt: false, maxBytes: packetSize, timeout: .milliseconds(15)), !b.isEmpty
                else { break }
            }
            state.withLock { $0.splitBodyDue = 0 }
        }
    }

    /// GET_DEVICE_ID of the USB printer class (IEEE 1284 id string), nil if unsupported.
    public func printerDeviceID() -> String? {
        let wIndex = UInt16(interface.number) << 8 | UInt16(interface.alternate)
        guard let raw = try? handle.control(requestType: 0xA1, request: 0, value: 0, index: wIndex, length: 1024),
            raw.count >= 2
        else { return nil }
        var len = Int(raw[0]) << 8 | Int(raw[1])
        if len < 14 || len > raw.count { len = Int(raw[1]) << 8 | Int(raw[0]) }  // some devices send it little-endian
        if len > raw.count || len < 2 { len = raw.count }
        return String(decoding: raw[2..<len], as: UTF8.self)
    }

    public func close() async {
        state.withLock { $0.closed = true }
        // Let in-flight transfers end (they are bounded by their timeouts) before closing.
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            readQueue.async { self.writeQueue.async { c.resume() } }
        }
        handle.close()
    }
}
