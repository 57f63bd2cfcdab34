// GA 467 frames spoken by the 公安部 SAM_V module inside second-generation ID-card readers.
// See docs/devices.md §1.1–§1.3.
//
//   offset 0  AA AA AA 96 69        preamble
//   offset 5  LEN (u16 big-endian)  bytes after LEN, CHK included
//   offset 7  request:  CMD PARA data…
//             reply:    SW1 SW2 SW3 data…   (SW1 = SW2 = 00)
//   last      CHK = XOR of bytes 5 … last−1 (preamble excluded)
//
// Pure: no I/O, no clock. The transport feeds bytes in, values come out.

/// Constants and helpers shared by requests and replies.
public enum SAMFrame {
    /// `AA AA AA 96 69`, the start of every GA 467 frame.
    public static let preamble: [UInt8] = [0xAA, 0xAA, 0xAA, 0x96, 0x69]
    /// Preamble (5) + LEN (2).
    public static let headerSize = 7
    /// Smallest LEN of any frame (a request without data: CMD PARA CHK).
    public static let minimumLength = 3
    /// Smallest LEN of a reply (SW1 SW2 SW3 CHK).
    public static let minimumReplyLength = 4
    /// Largest LEN accepted (`0A 00`).
    public static let maximumLength = 0x0A00
    /// Largest frame on the wire: 7 + 0x0A00 bytes.
    public static let maximumFrameSize = headerSize + maximumLength

    /// XOR of the given bytes.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        bytes.reduce(0, ^)
    }

    /// Wraps a body (CMD PARA data, or SW1 SW2 SW3 data) into a complete frame:
    /// preamble, LEN, body, CHK. Bodies are at most `maximumLength − 1` bytes in practice.
    public static func encode(body: [UInt8]) -> [UInt8] {
        let len = body.count + 1
        var frame = preamble
        frame.reserveCapacity(headerSize + len)
        frame.append(UInt8(truncatingIfNeeded: len >> 8))
        frame.append(UInt8(truncatingIfNeeded: len))
        frame.append(contentsOf: body)
        frame.append(checksum(frame[5...]))
        return frame
    }

    /// Checks one complete frame (exactly one, nothing before or after) and returns its body:
    /// the bytes after LEN without CHK.
    public static func body(ofFrame frame: [UInt8], minimumLength: Int = SAMFrame.minimumLength) throws -> [UInt8] {
        guard frame.count >= headerSize else {
            throw SAMFrameError.truncated(expected: headerSize, received: frame.count)
        }
        guard frame.starts(with: preamble) else { throw SAMFrameError.badPreamble }
        let len = Int(frame[5]) << 8 | Int(frame[6])
        guard len >= minimumLength, len <= maximumLength else { throw SAMFrameError.badLength(len) }
        let total = headerSize + len
        guard frame.count >= total else {
            throw SAMFrameError.truncated(expected: total, received: frame.count)
        }
        guard frame.count == total else {
            throw SAMFrameError.lengthMismatch(declared: total, actual: frame.count)
        }
        let computed = checksum(frame[5..<(total - 1)])
        guard computed == frame[total - 1] else {
            throw SAMFrameError.badChecksum(computed: computed, received: frame[total - 1])
        }
        return Array(frame[headerSize..<(total - 1)])
    }
}

// MARK: - Requests

/// A request to the SAM: CMD, PARA and optional data.
public struct SAMCommand: Sendable, Equatable, Hashable {
    public var cmd: UInt8
    public var para: UInt8
    public var data: [UInt8]

    public init(cmd: UInt8, para: UInt8, data: [UInt8] = []) {
        self.cmd = cmd
        self.para = para
        self.data = data
    }

    /// Decodes a parsed request body (CMD PARA data…), e.g. in the simulated reader.
    public init(body: [UInt8]) throws {
        guard body.count >= 2 else {
            throw SAMFrameError.truncated(expected: 2, received: body.count)
        }
        guard body.count + 1 <= SAMFrame.maximumLength else {
            throw SAMFrameError.badLength(body.count + 1)
        }
        self.init(cmd: body[0], para: body[1], data: Array(body.dropFirst(2)))
    }

    /// Decodes one complete request frame.
    public init(frame: [UInt8]) throws {
        try self.init(body: SAMFrame.body(ofFrame: frame))
    }

    /// The full frame to write to the reader.
    public func encoded() -> [UInt8] {
        SAMFrame.encode(body: [cmd, para] + data)
    }

    // Commands from devices.md §1.2.
    public static let resetSAM = SAMCommand(cmd: 0x10, para: 0xFF)
    public static let samStatus = SAMCommand(cmd: 0x11, para: 0xFF)
    public static let samID = SAMCommand(cmd: 0x12, para: 0xFF)
    public static let findCard = SAMCommand(cmd: 0x20, para: 0x01)
    public static let selectCard = SAMCommand(cmd: 0x20, para: 0x02)
    public static let readTextAndPhoto = SAMCommand(cmd: 0x30, para: 0x01)
    public static let readAddress = SAMCommand(cmd: 0x30, para: 0x03)
    public static let readTextPhotoFingerprint = SAMCommand(cmd: 0x30, para: 0x10)
    /// Chip management number. **Unverified** on hardware.
    public static let chipManagementNumber = SAMCommand(cmd: 0x30, para: 0x05)

    /// `61 FF nn`: largest RF frame the SAM uses (nn ≥ 18; hev-idcard-reader sends 0x50).
    public static func maxRFFrame(_ n: UInt8) -> SAMCommand {
        SAMCommand(cmd: 0x61, para: 0xFF, data: [n])
    }

    /// `60 xx`: serial baud rate. 00 115200, 01 57600, 02 38400, 03 19200, 04 9600.
    public static func setBaud(_ code: UInt8) -> SAMCommand {
        SAMCommand(cmd: 0x60, para: code)
    }

    /// How long the host waits for the reply (devices.md §1.2, "Host timeout").
    /// Commands without a value in the table get 5 s, as hev-idcard-reader uses for everything.
    public var hostTimeoutMilliseconds: Int {
        switch (cmd, para) {
        case (0x10, _): 1_000
        case (0x11, _): 2_000
        case (0x12, _): 1_000
        case (0x20, 0x01), (0x20, 0x02): 1_000
        case (0x30, 0x01): 3_000
        case (0x30, 0x03): 1_000
        case (0x30, 0x10): 5_000
        case (0x61, _): 1_000
        case (0x60, _): 1_000
        default: 5_000
        }
    }

    /// Short English name for technician logs, e.g. "find card (20 01)". Never contains data bytes.
    public var label: String {
        let code = "\(SAMHex.byte(cmd)) \(SAMHex.byte(para))"
        let name: String
        switch (cmd, para) {
        case (0x10, 0xFF): name = "reset SAM"
        case (0x11, 0xFF): name = "SAM status"
        case (0x12, 0xFF): name = "SAM ID"
        case (0x20, 0x01): name = "find card"
        case (0x20, 0x02): name = "select card"
        case (0x30, 0x01): name = "read text + photo"
        case (0x30, 0x03): name = "read additional address"
        case (0x30, 0x10): name = "read text + photo + fingerprint"
        case (0x30, 0x05): name = "chip management number"
        case (0x61, 0xFF): name = "max RF frame"
        case (0x60, _): name = "set baud"
        default: name = "command"
        }
        return "\(name) (\(code))"
    }
}

// MARK: - Replies

/// A reply from the SAM: SW3 status and data (SW1 = SW2 = 00 are implied).
public struct SAMReply: Sendable, Equatable, Hashable {
    /// SW3. See `SAMOutcome(sw3:)`.
    public var status: UInt8
    public var data: [UInt8]

    public init(status: UInt8, data: [UInt8] = []) {
        self.status = status
        self.data = data
    }

    /// Decodes a parsed reply body (SW1 SW2 SW3 data…). SW1 and SW2 must be 00.
    public init(body: [UInt8]) throws {
        guard body.count >= 3 else {
            throw SAMFrameError.truncated(expected: 3, received: body.count)
        }
        guard body[0] == 0, body[1] == 0 else {
            throw SAMFrameError.badStatusWords(sw1: body[0], sw2: body[1])
        }
        self.init(status: body[2], data: Array(body.dropFirst(3)))
    }

    /// Decodes one complete reply frame (LEN ≥ 4, SW1 = SW2 = 0, XOR).
    public init(frame: [UInt8]) throws {
        try self.init(body: SAMFrame.body(ofFrame: frame, minimumLength: SAMFrame.minimumReplyLength))
    }

    /// The full frame as the reader sends it (used by the simulated reader).
    public func encoded() -> [UInt8] {
        SAMFrame.encode(body: [0x00, 0x00, status] + data)
    }

    /// `20 01` success: SW3 9F and four zero bytes (15-byte frame).
    public static let cardFound = SAMReply(status: 0x9F, data: [0, 0, 0, 0])
    /// `20 02` success: SW3 90 and eight zero bytes (19-byte frame).
    public static let cardSelected = SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 8))

    /// Formats the 16 data bytes of a `12 FF` reply (u16 LE, u16 LE, u32 LE ×3) as
    /// `%02u.%02u-%08u-%010u-%010u`. Returns nil if the data is shorter than 16 bytes.
    public static func samIDString(fromData data: [UInt8]) -> String? {
        guard data.count >= 16 else { return nil }
        func le(_ at: Int, _ width: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in (0..<width).reversed() { v = v << 8 | UInt64(data[at + i]) }
            return v
        }
        func pad(_ v: UInt64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(le(0, 2), 2)).\(pad(le(2, 2), 2))-\(pad(le(4, 4), 8))-\(pad(le(8, 4), 10))-\(pad(le(12, 4), 10))"
    }
}

// MARK: - Errors

/// What went wrong with a frame. `description` tells a technician what to do.
public enum SAMFrameError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// XOR over LEN…data does not match CHK.
    case badChecksum(computed: UInt8, received: UInt8)
    /// LEN outside 3…0x0A00 (4…0x0A00 for replies).
    case badLength(Int)
    /// Reply with SW1/SW2 other than 00 00.
    case badStatusWords(sw1: UInt8, sw2: UInt8)
    /// Fewer bytes than the header or LEN promised; the rest never arrived
    /// (a later frame started, or the host gave up waiting).
    case truncated(expected: Int, received: Int)
    /// A whole-frame decode got more bytes than LEN says.
    case lengthMismatch(declared: Int, actual: Int)
    /// The bytes do not start with `AA AA AA 96 69`.
    case badPreamble
    /// Bytes were fed faster than frames were taken out; the oldest were dropped.
    case bufferOverflow(droppedBytes: Int)

    public var description: String {
        switch self {
        case let .badChecksum(computed, received):
            return
                "SAM frame checksum mismatch (computed \(SAMHex.byte(computed)), received \(SAMHex.byte(received))): "
                + "bytes were corrupted on the link. Flush input and resend the command; if it repeats, "
                + "check the USB cable/hub and the serial baud rate (115200 8N1)."
        case let .badLength(len):
            return "SAM frame length \(len) is out of range (valid 3…2560, replies 4…2560): "
                + "the link is out of step or the device is not a GA 467 reader. Flush input and resend; "
                + "if it repeats, check the baud rate and the device profile."
        case let .badStatusWords(sw1, sw2):
            return "SAM reply has SW1 SW2 = \(SAMHex.byte(sw1)) \(SAMHex.byte(sw2)), expected 00 00: "
                + "not a GA 467 reply. Flush input and resend; if it repeats, check the device profile (wrong reader protocol?)."
        case let .truncated(expected, received):
            return "SAM frame incomplete (\(received) of \(expected) bytes): the reply was cut off. "
                + "Flush input and resend; repeated cut-offs point to a loose cable, USB power, or a wrong read size."
        case let .lengthMismatch(declared, actual):
            return "SAM frame is \(actual) bytes but its LEN says \(declared): extra bytes around the frame. "
                + "Use SAMFrameParser to split the stream instead of decoding raw reads."
        case .badPreamble:
            return "Bytes do not start with the SAM preamble AA AA AA 96 69. "
                + "Use SAMFrameParser to resynchronise; check that the device really is an ID-card reader."
        case let .bufferOverflow(dropped):
            return "SAM frame parser dropped \(dropped) unread bytes: frames were not taken out with next() "
                + "while feeding. This is a host-side bug; drain the parser after every feed."
        }
    }
}

// MARK: - Stream parser

/// One result from `SAMFrameParser.next()`.
public enum SAMParsedFrame: Sendable, Equatable {
    /// A complete frame with a correct XOR: the bytes after LEN, without CHK.
    case frame(body: [UInt8])
    /// A frame that could not be used; the parser has already resynchronised past its preamble.
    case corrupt(SAMFrameError)
}

/// Reassembles GA 467 frames from a byte stream delivered in arbitrary chunks
/// (64-byte USB packets, single serial bytes, several frames at once).
///
/// * Frames are located by the preamble's last four bytes `AA AA 96 69`, so stray bytes before
///   a frame are skipped even when one lands inside the preamble (`AA 00 AA AA 96 69 …`).
///   Skipped bytes are counted in `skippedByteCount`. The XOR never covers the preamble.
/// * A frame with a bad LEN or XOR is reported as `.corrupt`, and scanning resumes right after
///   its preamble, so a good frame hidden in its bytes is still found.
/// * A frame cut short by a following complete frame is reported as `.corrupt(.truncated)`.
/// * The non-GA 467 OEM frame `AA AA AA 96 69 00 05 05 05 05` is skipped silently
///   (counted in `ignoredForeignFrameCount`).
/// * At most `capacity` unread bytes are kept; older ones are dropped and reported once.
///
/// Sizes in `.truncated` reports count a full 5-byte preamble (a complete `30 01` reply is 1295).
public struct SAMFrameParser: Sendable {
    public static let defaultCapacity = 8 * 1024

    /// Largest number of unread bytes kept.
    public let capacity: Int
    /// Stray bytes skipped while looking for a preamble, plus bytes dropped on overflow.
    public private(set) var skippedByteCount = 0
    /// Known non-GA 467 frames skipped.
    public private(set) var ignoredForeignFrameCount = 0

    private var buffer: [UInt8] = []
    private var start = 0
    private var pendingOverflow = 0
    // Search state for a complete frame hidden behind an incomplete head frame.
    private var embeddedScanFrom = 0
    private var embeddedCandidates: [Int] = []

    /// The sync marker: the preamble without its first byte.
    static let marker: [UInt8] = [0xAA, 0xAA, 0x96, 0x69]
    /// Marker (4) + LEN (2).
    static let markerHeaderSize = 6
    /// What follows the marker in the OEM frame `AA AA AA 96 69 00 05 05 05 05` (not GA 467:
    /// no command 05 exists and replies need SW1 = 00).
    static let foreignOEMTail: [UInt8] = [0x00, 0x05, 0x05, 0x05, 0x05]

    public init(capacity: Int = SAMFrameParser.defaultCapacity) {
        self.capacity = max(capacity, SAMFrame.maximumFrameSize + SAMFrame.preamble.count)
    }

    /// Unread bytes held (part of a frame still arriving, or frames not yet taken out).
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends bytes read from the transport.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        let excess = bufferedByteCount - capacity
        if excess > 0 {
            pendingOverflow += excess
            skippedByteCount += excess
            advance(to: start + excess)
        }
    }

    /// Takes out the next frame or corruption report, or nil when more bytes are needed.
    public mutating func next() -> SAMParsedFrame? {
        if pendingOverflow > 0 {
            let dropped = pendingOverflow
            pendingOverflow = 0
            return .corrupt(.bufferOverflow(droppedBytes: dropped))
        }
        while true {
            guard var m = findMarker(from: start) else {
                // Keep only a tail that could be the beginning of a preamble.
                let keep = partialPreambleSuffixLength()
                let drop = bufferedByteCount - keep
                if drop > 0 {
                    skippedByteCount += drop
                    advance(to: buffer.count - keep)
                }
                return nil
            }
            // The frame starts at the preamble's first AA when it is there.
            let frameStart = (m > start && buffer[m - 1] == 0xAA) ? m - 1 : m
            if frameStart > start {
                skippedByteCount += frameStart - start
                let markerOffset = m - frameStart
                advance(to: frameStart)  // may compact the buffer: recompute m
                m = start + markerOffset
            }
            let available = buffer.count - m
            if isForeignOEMFrame(at: m) {
                ignoredForeignFrameCount += 1
                advance(to: m + Self.marker.count + Self.foreignOEMTail.count)
                continue
            }
            guard available >= Self.markerHeaderSize else { return nil }
            let len = Int(buffer[m + 4]) << 8 | Int(buffer[m + 5])
            guard len >= SAMFrame.minimumLength, len <= SAMFrame.maximumLength else {
                advance(to: m + Self.marker.count)
                return .corrupt(.badLength(len))
            }
            let end = m + Self.markerHeaderSize + len
            guard end <= buffer.count else {
                if let later = completeFrameBehindHead(marker: m) {
                    let received = later - m + 1
                    advance(to: later)
                    return .corrupt(.truncated(expected: SAMFrame.headerSize + len, received: received))
                }
                return nil
            }
            let computed = SAMFrame.checksum(buffer[(m + 4)..<(end - 1)])
            guard computed == buffer[end - 1] else {
                let received = buffer[end - 1]
                advance(to: m + Self.marker.count)
                return .corrupt(.badChecksum(computed: computed, received: received))
            }
            let body = Array(buffer[(m + Self.markerHeaderSize)..<(end - 1)])
            advance(to: end)
            return .frame(body: body)
        }
    }

    /// Call when the host gave up waiting (timeout) after `next()` returned nil: drops whatever
    /// is buffered and reports a cut-off frame if one had started.
    public mutating func discardPartialFrame() -> SAMParsedFrame? {
        var report: SAMParsedFrame?
        if let m = findMarker(from: start), m <= start + 1, buffer.count - m >= Self.markerHeaderSize {
            let len = Int(buffer[m + 4]) << 8 | Int(buffer[m + 5])
            report = .corrupt(.truncated(expected: SAMFrame.headerSize + len, received: buffer.count - m + 1))
        } else {
            skippedByteCount += bufferedByteCount
        }
        buffer.removeAll(keepingCapacity: true)
        start = 0
        embeddedScanFrom = 0
        embeddedCandidates.removeAll()
        return report
    }

    /// Forgets everything buffered (e.g. after reopening the device). Counters are kept.
    public mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        start = 0
        pendingOverflow = 0
        embeddedScanFrom = 0
        embeddedCandidates.removeAll()
    }

    // MARK: private

    private mutating func advance(to newStart: Int) {
        start = min(newStart, buffer.count)
        embeddedScanFrom = 0
        embeddedCandidates.removeAll()
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 4096 || (start > 0 && start * 2 >= buffer.count) {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private func isMarker(at i: Int) -> Bool {
        buffer[i] == 0xAA && buffer[i + 1] == 0xAA && buffer[i + 2] == 0x96 && buffer[i + 3] == 0x69
    }

    private func findMarker(from: Int) -> Int? {
        let last = buffer.count - Self.marker.count
        guard from <= last else { return nil }
        var i = from
        while i <= last {
            if isMarker(at: i) { return i }
            i += 1
        }
        return nil
    }

    private func isForeignOEMFrame(at m: Int) -> Bool {
        let tail = m + Self.marker.count
        guard buffer.count - tail >= Self.foreignOEMTail.count else { return false }
        return buffer[tail..<(tail + Self.foreignOEMTail.count)].elementsEqual(Self.foreignOEMTail)
    }

    /// Length of the longest buffer tail (at most 4 bytes) that is a proper prefix of the
    /// preamble or of the marker.
    private func partialPreambleSuffixLength() -> Int {
        var k = min(Self.marker.count, bufferedByteCount)
        while k > 0 {
            let tail = buffer[(buffer.count - k)...]
            if tail.elementsEqual(SAMFrame.preamble[0..<k]) { return k }
            if k < Self.marker.count, tail.elementsEqual(Self.marker[0..<k]) { return k }
            k -= 1
        }
        return 0
    }

    /// While the head frame is still incomplete, looks for a later marker that starts a
    /// complete, checksum-valid frame (or the OEM frame): proof the head frame lost bytes.
    /// Returns where that frame starts (its first AA if present).
    private mutating func completeFrameBehindHead(marker m: Int) -> Int? {
        if embeddedScanFrom < m + Self.marker.count {
            embeddedScanFrom = m + Self.marker.count
        }
        let last = buffer.count - Self.marker.count
        while embeddedScanFrom <= last {
            if isMarker(at: embeddedScanFrom) { embeddedCandidates.append(embeddedScanFrom) }
            embeddedScanFrom += 1
        }
        for q in embeddedCandidates where isCompleteValidFrame(marker: q) {
            return buffer[q - 1] == 0xAA ? q - 1 : q
        }
        return nil
    }

    private func isCompleteValidFrame(marker q: Int) -> Bool {
        if isForeignOEMFrame(at: q) { return true }
        guard buffer.count - q >= Self.markerHeaderSize else { return false }
        let len = Int(buffer[q + 4]) << 8 | Int(buffer[q + 5])
        let end = q + Self.markerHeaderSize + len
        guard len >= SAMFrame.minimumLength, len <= SAMFrame.maximumLength, end <= buffer.count else {
            return false
        }
        return SAMFrame.checksum(buffer[(q + 4)..<(end - 1)]) == buffer[end - 1]
    }
}

/// Hex formatting for technician messages (single bytes only; never whole frames).
enum SAMHex {
    static func byte(_ b: UInt8) -> String {
        let digits: [Character] = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 0x0F)]])
    }
}
