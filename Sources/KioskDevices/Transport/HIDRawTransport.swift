import Foundation
import Synchronization
import KioskProtocols
#if canImport(Glibc)
    import Glibc
#endif

/// Framing of the HID reader "variant A" (devices.md §1.6, seen in libzhouyb; **unverified** on
/// hardware): the host sends each SAM frame without its 5-byte preamble, split over fixed-size
/// output reports; the reader answers with reports whose payload starts at LEN. The host puts
/// the preamble back so the ordinary SAM parser handles the rest. Padding after the frame's last
/// byte is dropped by following LEN.
public struct HIDVariantAFraming: Sendable {
    public let reportSize: Int
    /// Bytes of the current reply frame still expected in later reports (0 = next report starts a frame).
    private var remaining = 0
    private var pendingLenByte: UInt8?

    public init(reportSize: Int = 64) { self.reportSize = max(8, reportSize) }

    /// Output reports (each prefixed with report id 0, as hidraw expects) for one SAM frame.
    public func reports(forFrame frame: [UInt8]) -> [[UInt8]] {
        let body = frame.starts(with: SAMFrame.preamble) ? Array(frame.dropFirst(SAMFrame.preamble.count)) : frame
        var out: [[UInt8]] = []
        var i = 0
        repeat {
            var r = [UInt8](repeating: 0, count: reportSize + 1)
            let n = min(reportSize, body.count - i)
            if n > 0 { r.replaceSubrange(1..<(1 + n), with: body[i..<(i + n)]) }
            out.append(r)
            i += n
        } while i < body.count
        return out
    }

    /// Bytes for the SAM parser from one input report (preamble re-added at frame starts).
    public mutating func bytes(fromReport report: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < report.count {
            if remaining > 0 {
                let n = min(remaining, report.count - i)
                out += report[i..<(i + n)]
                remaining -= n
                i += n
                continue
            }
            // A frame starts here: LEN (u16 BE), then LEN bytes.
            if let hi = pendingLenByte {
                pendingLenByte = nil
                let len = Int(hi) << 8 | Int(report[i])
                out += SAMFrame.preamble + [hi, report[i]]
                remaining = min(len, SAMFrame.maximumLength)
                i += 1
                continue
            }
            if report[i] == 0, i + 1 < report.count, report[i + 1] == 0 { break }  // padding
            if i + 1 >= report.count {
                pendingLenByte = report[i]
                break
            }
            let len = Int(report[i]) << 8 | Int(report[i + 1])
            guard len >= SAMFrame.minimumLength, len <= SAMFrame.maximumLength else { break }  // noise: drop the report
            out += SAMFrame.preamble + [report[i], report[i + 1]]
            remaining = len
            i += 2
        }
        return out
    }

    public mutating func reset() {
        remaining = 0
        pendingLenByte = nil
    }
}

/// A ByteTransport over a hidraw node (or any report-oriented descriptor) using variant A framing.
public final class HIDRawTransport: ByteTransport, Sendable {
    /// The open descriptor (-1 once closed), the report framing and the parser that splits host
    /// writes into frames: shared by callers and the I/O queue, under one lock.
    private struct State {
        var fd: Int32
        var framing: HIDVariantAFraming
        var out = SAMFrameParser()
    }
    private let state: Mutex<State>
    private let reportSize: Int
    public let description: String
    private let queue: DispatchQueue

    public convenience init(path: String, reportSize: Int = 64) throws {
        let fd = Glibc.open(path, O_RDWR | O_NONBLOCK | Int32(O_CLOEXEC))
        guard fd >= 0 else {
            let e = errno
            throw TransportError(
                "cannot open \(path): \(String(cString: strerror(e))) — \(DeviceAccess.advice(errno: e, path: path) ?? "a hidraw node needs its own udev rule (KERNEL==\"hidraw*\", GROUP=\"kioskdev\", MODE=\"0660\")")",
                disconnected: e == ENOENT || e == ENODEV)
        }
        self.init(fileDescriptor: fd, name: path, reportSize: reportSize)
    }

    /// Takes ownership of `fd` (tests pass one end of a SOCK_SEQPACKET pair).
    public init(fileDescriptor fd: Int32, name: String, reportSize: Int = 64) {
        self.state = Mutex(State(fd: fd, framing: HIDVariantAFraming(reportSize: reportSize)))
        self.reportSize = reportSize
        self.description = "hid-a \(name)"
        self.queue = DispatchQueue(label: "hid.\(name)")
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { Glibc.close(fd) }
    }

    private func currentFD() throws -> Int32 {
        let f = state.withLock { $0.fd }
        guard f >= 0 else { throw TransportError("HID device closed", disconnected: true) }
        return f
    }

    public func write(_ bytes: [UInt8]) async throws {
        let fd = try currentFD()
        let reports: [[UInt8]] = state.withLock { st in
            var frames: [[UInt8]] = []
            st.out.feed(bytes)
            while let f = st.out.next() {
                if case .frame(let body) = f { frames.append(SAMFrame.encode(body: body)) }
            }
            return frames.flatMap { st.framing.reports(forFrame: $0) }
        }
        let name = description
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            queue.async {
                for r in reports {
                    let n = r.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    if n != r.count {
                        let e = errno
                        c.resume(
                            throwing: TransportError(
                                "\(name): report write failed: \(String(cString: strerror(e)))",
                                disconnected: SerialTransport.gone(e) || e == ENODEV))
                        return
                    }
                }
                c.resume()
            }
        }
    }

    public func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        let fd = try currentFD()
        let ms = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let size = reportSize
        let name = description
        let report: [UInt8] = try await withCheckedThrowingContinuation { c in
            queue.async {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, max(0, ms))
                if r <= 0 {
                    c.resume(returning: [])
                    return
                }
                var buf = [UInt8](repeating: 0, count: size + 1)
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    c.resume(returning: Array(buf.prefix(n)))
                    return
                }
                let e = errno
                if n < 0 && (e == EAGAIN || e == EINTR) {
                    c.resume(returning: [])
                    return
                }
                c.resume(
                    throwing: TransportError("\(name) went away; check the reader's USB cable", disconnected: true))
            }
        }
        if report.isEmpty { return [] }
        return state.withLock { $0.framing.bytes(fromReport: report) }
    }

    public func flushInput() async {
        state.withLock { $0.framing.reset() }
        while let b = try? await read(maxBytes: 64, timeout: .milliseconds(10)), !b.isEmpty {}
        state.withLock { $0.framing.reset() }
    }

    public func close() async {
        let f: Int32 = state.withLock { st in
            let f = st.fd
            st.fd = -1
            return f
        }
        if f >= 0 { queue.sync { _ = Glibc.close(f) } }
    }
}
