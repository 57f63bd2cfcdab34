// ESC/POS decoder for the simulated receipt printer: bytes (in arbitrary chunks) -> events.
// Pure: no I/O. Commands split across feed() calls are kept until complete.

public enum ESCPOSEvent: Sendable, Equatable {
    /// ESC @ (clears the unprinted line buffer).
    case initialize
    /// FS & (true) / FS . (false).
    case chineseMode(Bool)
    /// A printed line (LF, ESC d, ESC J, or pending text before a QR/barcode/image), decoded from
    /// GB18030 in Chinese mode, ASCII otherwise (other bytes become U+FFFD).
    case line(String)
    /// GS ( k print (fn 181) of the stored QR payload (decoded as UTF-8).
    case qrCode(String)
    /// GS k; CODE128 code-set switches and "{{" escapes are undone.
    case barcode(String)
    /// GS v 0 band or ESC * bit image, after its data.
    case raster(widthDots: Int, heightDots: Int)
    /// GS V variants, ESC i / ESC m.
    case cut(partial: Bool)
    /// DLE EOT n.
    case statusRequest(UInt8)
    /// GS a n.
    case autoStatusBack(UInt8)
    /// GS r 1.
    case endOfJobSentinel
    /// Bytes of a command this decoder does not interpret (for long payloads, only the header).
    case unknown([UInt8])
    // Formatting, reported only when the decoder was created with `reportFormatting: true`:
    /// ESC a n.
    case align(ReceiptAlign)
    /// GS ! n: character width and height multipliers (1-8).
    case size(width: Int, height: Int)
    /// ESC E n.
    case bold(Bool)
    /// GS ( k fn 167: QR module size in dots.
    case qrModuleSize(Int)
}

public struct ESCPOSDecoder: Sendable {
    /// Whether text is currently decoded as GB18030 (printers usually boot in Chinese mode).
    public private(set) var chineseMode: Bool

    private var pending: [UInt8] = []
    private var lineBuffer: [UInt8] = []
    private var qrStore: [UInt8]? = nil
    private var skipRemaining = 0
    private var skipCompletion: ESCPOSEvent? = nil

    /// Whether align / size / bold events are reported (tools); the simulator leaves them out.
    public let reportFormatting: Bool

    public init() {
        self.chineseMode = true
        self.reportFormatting = false
    }

    public init(chineseMode: Bool, reportFormatting: Bool = false) {
        self.chineseMode = chineseMode
        self.reportFormatting = reportFormatting
    }

    /// True when no partial command or unprinted text is buffered.
    public var isIdle: Bool { pending.isEmpty && lineBuffer.isEmpty && skipRemaining == 0 }

    /// Feeds the next chunk of bytes and returns the events it completes.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [ESCPOSEvent] {
        var buf = pending
        pending = []
        buf.append(contentsOf: bytes)
        var events: [ESCPOSEvent] = []
        var i = 0
        let n = buf.count
        loop: while i < n {
            if skipRemaining > 0 {
                let take = min(skipRemaining, n - i)
                i += take
                skipRemaining -= take
                if skipRemaining == 0, let e = skipCompletion {
                    events.append(e)
                    skipCompletion = nil
                }
                continue
            }
            let b = buf[i]
            switch b {
            case 0x0A:
                flushLine(&events, force: true)
                i += 1
            case 0x00, 0x0D:
                i += 1  // NUL padding (recovery sends runs of 00); CR is ignored
            case 0x09:
                lineBuffer.append(0x20)
                i += 1
            case 0x10, 0x1B, 0x1C, 0x1D:
                guard let used = command(buf, i, &events) else { break loop }
                i += used
            case 0x01...0x1F:
                events.append(.unknown([b]))
                i += 1
            default:
                lineBuffer.append(b)
                i += 1
            }
        }
        if i < n { pending = Array(buf[i...]) }
        return events
    }

    /// Emits buffered text as a line if there is any (e.g. at the end of a stream).
    public mutating func flush() -> [ESCPOSEvent] {
        var events: [ESCPOSEvent] = []
        flushLine(&events, force: false)
        return events
    }

    // MARK: -

    private mutating func flushLine(_ events: inout [ESCPOSEvent], force: Bool) {
        if lineBuffer.isEmpty && !force { return }
        events.append(.line(decodeText(lineBuffer)))
        lineBuffer.removeAll(keepingCapacity: true)
    }

    private func decodeText(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        if chineseMode { return GB18030Codec().decode(bytes) }
        return String(String.UnicodeScalarView(bytes.map { $0 < 0x80 ? Unicode.Scalar($0) : "\u{FFFD}" }))
    }

    /// Parses the command at `i`; returns the bytes consumed, or nil if more bytes are needed.
    private mutating func command(_ buf: [UInt8], _ i: Int, _ events: inout [ESCPOSEvent]) -> Int? {
        let avail = buf.count - i
        func byte(_ k: Int) -> UInt8 { buf[i + k] }
        guard avail >= 2 else { return nil }
        let lead = buf[i]
        let c = buf[i + 1]

        switch lead {
        case 0x1B:  // ESC
            switch c {
            case 0x40:  // @
                lineBuffer.removeAll(keepingCapacity: true)
                qrStore = nil
                events.append(.initialize)
                return 2
            case 0x61, 0x45:  // ESC a n, ESC E n
                guard avail >= 3 else { return nil }
                if reportFormatting {
                    let n = byte(2)
                    if c == 0x45 {
                        events.append(.bold(n & 1 == 1))
                    } else {
                        switch n {
                        case 1, 0x31: events.append(.align(.center))
                        case 2, 0x32: events.append(.align(.right))
                        default: events.append(.align(.left))
                        }
                    }
                }
                return 3
            case 0x21, 0x2D, 0x33, 0x47, 0x4D, 0x52, 0x56, 0x74, 0x7B, 0x20, 0x55, 0x3D, 0x25, 0x72:
                // ESC ! - 3 E G M R V a t { SP U = % r: one parameter
                return avail >= 3 ? 3 : nil
            case 0x32, 0x3C, 0x4C, 0x53, 0x0C:  // ESC 2 < L S FF
                return 2
            case 0x4A:  // ESC J n: print and feed n dots
                guard avail >= 3 else { return nil }
                flushLine(&events, force: false)
                return 3
            case 0x64:  // ESC d n: print and feed n lines (ESC d 1 == LF)
                guard avail >= 3 else { return nil }
                var lines = Int(byte(2))
                if !lineBuffer.isEmpty {
                    flushLine(&events, force: true)
                    lines = max(0, lines - 1)
                }
                for _ in 0..<lines { events.append(.line("")) }
                return 3
            case 0x69, 0x6D:  // ESC i / ESC m: (partial) cut
                flushLine(&events, force: false)
                events.append(.cut(partial: true))
                return 2
            case 0x24, 0x5C, 0x63:  // ESC $ nL nH, ESC \ nL nH, ESC c x n
                return avail >= 4 ? 4 : nil
            case 0x70:  // ESC p m t1 t2
                guard avail >= 5 else { return nil }
                events.append(.unknown(Array(buf[i..<(i + 5)])))
                return 5
            case 0x44:  // ESC D n1 ... nk NUL (at most 32 tab positions)
                var j = i + 2
                while j < buf.count && buf[j] != 0 && j - i < 35 { j += 1 }
                if j < buf.count && buf[j] == 0 { return j - i + 1 }
                if j - i >= 35 {
                    events.append(.unknown([0x1B, 0x44]))
                    return 2
                }
                return nil
            case 0x2A:  // ESC * m nL nH data
                guard avail >= 5 else { return nil }
                let m = byte(2)
                let width = Int(byte(3)) | Int(byte(4)) << 8
                let perColumn = (m == 0 || m == 1) ? 1 : 3
                flushLine(&events, force: false)
                startSkip(width * perColumn, then: .raster(widthDots: width, heightDots: perColumn * 8), &events)
                return 5
            default:
                events.append(.unknown([0x1B, c]))
                return 2
            }

        case 0x1C:  // FS
            switch c {
            case 0x26:  // FS &
                chineseMode = true
                events.append(.chineseMode(true))
                return 2
            case 0x2E:  // FS .
                chineseMode = false
                events.append(.chineseMode(false))
                return 2
            case 0x21, 0x2D, 0x57, 0x43:  // FS ! n, FS - n, FS W n, FS C n
                return avail >= 3 ? 3 : nil
            case 0x53:  // FS S n1 n2
                return avail >= 4 ? 4 : nil
            case 0x32:  // FS 2 c1 c2 + 72 bytes (user-defined 24x24 character)
                guard avail >= 76 else { return nil }
                return 76
            case 0x70:  // FS p n m: print NV bit image
                guard avail >= 4 else { return nil }
                flushLine(&events, force: false)
                events.append(.unknown(Array(buf[i..<(i + 4)])))
                return 4
            default:
                events.append(.unknown([0x1C, c]))
                return 2
            }

        case 0x1D:  // GS
            switch c {
            case 0x21:  // GS ! n
                guard avail >= 3 else { return nil }
                if reportFormatting {
                    let n = byte(2)
                    events.append(.size(width: Int(n >> 4) + 1, height: Int(n & 0x0F) + 1))
                }
                return 3
            case 0x42, 0x48, 0x66, 0x68, 0x77, 0x62, 0x2F, 0x54:  // GS B H f h w b / T: one parameter
                return avail >= 3 ? 3 : nil
            case 0x4C, 0x57, 0x50, 0x24, 0x5C:  // GS L W P $ \: two parameters
                return avail >= 4 ? 4 : nil
            case 0x61:  // GS a n
                guard avail >= 3 else { return nil }
                events.append(.autoStatusBack(byte(2)))
                return 3
            case 0x72:  // GS r n
                guard avail >= 3 else { return nil }
                let n = byte(2)
                events.append(n == 1 || n == 0x31 ? .endOfJobSentinel : .unknown([0x1D, 0x72, n]))
                return 3
            case 0x49:  // GS I n
                guard avail >= 3 else { return nil }
                events.append(.unknown([0x1D, 0x49, byte(2)]))
                return 3
            case 0x56:  // GS V m [n]
                guard avail >= 3 else { return nil }
                let m = byte(2)
                switch m {
                case 0x00, 0x30, 0x01, 0x31:
                    flushLine(&events, force: false)
                    events.append(.cut(partial: m == 0x01 || m == 0x31))
                    return 3
                case 0x41, 0x61, 0x67, 0x42, 0x62, 0x68:
                    guard avail >= 4 else { return nil }
                    flushLine(&events, force: false)
                    events.append(.cut(partial: m == 0x42 || m == 0x62 || m == 0x68))
                    return 4
                default:
                    events.append(.unknown([0x1D, 0x56, m]))
                    return 3
                }
            case 0x28:  // GS ( x pL pH ...
                guard avail >= 5 else { return nil }
                let fnClass = byte(2)
                let length = Int(byte(3)) | Int(byte(4)) << 8
                if fnClass == 0x6B {  // GS ( k: 2D symbols
                    guard avail >= 5 + length else { return nil }
                    symbol(Array(buf[(i + 5)..<(i + 5 + length)]), &events)
                    return 5 + length
                }
                startSkip(length, then: nil, &events)
                events.append(.unknown(Array(buf[i..<(i + 5)])))
                return 5
            case 0x38:  // GS 8 x p1 p2 p3 p4 ...: 32-bit length
                guard avail >= 7 else { return nil }
                let length = Int(byte(3)) | Int(byte(4)) << 8 | Int(byte(5)) << 16 | Int(byte(6)) << 24
                events.append(.unknown(Array(buf[i..<(i + 7)])))
                startSkip(length, then: nil, &events)
                return 7
            case 0x76:  // GS v 0 m xL xH yL yH data
                guard avail >= 3 else { return nil }
                guard byte(2) == 0x30 else {
                    events.append(.unknown([0x1D, 0x76, byte(2)]))
                    return 3
                }
                guard avail >= 8 else { return nil }
                let x = Int(byte(4)) | Int(byte(5)) << 8
                let y = Int(byte(6)) | Int(byte(7)) << 8
                flushLine(&events, force: false)
                startSkip(x * y, then: .raster(widthDots: x * 8, heightDots: y), &events)
                return 8
            case 0x2A:  // GS * x y data (x*y*8 bytes)
                guard avail >= 4 else { return nil }
                events.append(.unknown(Array(buf[i..<(i + 4)])))
                startSkip(Int(byte(2)) * Int(byte(3)) * 8, then: nil, &events)
                return 4
            case 0x6B:  // GS k m ...
                guard avail >= 3 else { return nil }
                let m = byte(2)
                if m <= 6 {  // NUL-terminated
                    var j = i + 3
                    while j < buf.count && buf[j] != 0 && j - i < 260 { j += 1 }
                    guard j < buf.count else { return nil }
                    guard buf[j] == 0 else {
                        events.append(.unknown([0x1D, 0x6B, m]))
                        return 3
                    }
                    flushLine(&events, force: false)
                    events.append(.barcode(ESCPOSDecoder.barcodeText(m: m, Array(buf[(i + 3)..<j]))))
                    return j - i + 1
                }
                guard avail >= 4 else { return nil }
                let k = Int(byte(3))
                guard avail >= 4 + k else { return nil }
                flushLine(&events, force: false)
                events.append(.barcode(ESCPOSDecoder.barcodeText(m: m, Array(buf[(i + 4)..<(i + 4 + k)]))))
                return 4 + k
            default:
                events.append(.unknown([0x1D, c]))
                return 2
            }

        case 0x10:  // DLE
            switch c {
            case 0x04:  // DLE EOT n [a]
                guard avail >= 3 else { return nil }
                let n = byte(2)
                if n == 7 || n == 8 || n == 18 {
                    guard avail >= 4 else { return nil }
                    events.append(.statusRequest(n))
                    return 4
                }
                events.append(.statusRequest(n))
                return 3
            case 0x05:  // DLE ENQ n
                guard avail >= 3 else { return nil }
                events.append(.unknown([0x10, 0x05, byte(2)]))
                return 3
            case 0x14:  // DLE DC4 fn ...
                guard avail >= 3 else { return nil }
                let total: Int
                switch byte(2) {
                case 1, 2: total = 5
                case 3: total = 8
                case 7: total = 4
                case 8: total = 10
                default: total = 3
                }
                guard avail >= total else { return nil }
                events.append(.unknown(Array(buf[i..<(i + total)])))
                return total
            default:
                events.append(.unknown([0x10]))
                return 1
            }

        default:
            events.append(.unknown([lead]))
            return 1
        }
    }

    private mutating func startSkip(_ count: Int, then event: ESCPOSEvent?, _ events: inout [ESCPOSEvent]) {
        if count <= 0 {
            if let event { events.append(event) }
            return
        }
        skipRemaining = count
        skipCompletion = event
    }

    /// GS ( k payload: cn fn [m] data.
    private mutating func symbol(_ p: [UInt8], _ events: inout [ESCPOSEvent]) {
        guard p.count >= 2 else {
            events.append(.unknown([0x1D, 0x28, 0x6B] + p))
            return
        }
        let cn = p[0]
        let fn = p[1]
        guard cn == 0x31 else {  // not QR (PDF417, MaxiCode, ...)
            events.append(.unknown([0x1D, 0x28, 0x6B, cn, fn]))
            return
        }
        switch fn {
        case 0x50:  // store: 31 50 30 d1...dk
            qrStore = p.count > 3 ? Array(p[3...]) : []
        case 0x51:  // print
            flushLine(&events, force: false)
            if let data = qrStore {
                events.append(.qrCode(String(decoding: data, as: UTF8.self)))
            } else {
                events.append(.unknown([0x1D, 0x28, 0x6B, cn, fn]))
            }
        case 0x43:  // module size
            if reportFormatting, p.count >= 3 { events.append(.qrModuleSize(Int(p[2]))) }
        case 0x41, 0x45:  // model, ECC
            break
        default:
            events.append(.unknown([0x1D, 0x28, 0x6B, cn, fn]))
        }
    }

    /// Barcode data to text; for CODE128 (m = 73) interprets "{A" "{B" "{C" "{S" "{1".."{4" and "{{".
    static func barcodeText(m: UInt8, _ data: [UInt8]) -> String {
        guard m == 73 else { return String(decoding: data.map { $0 < 0x80 ? $0 : 0x3F }, as: UTF8.self) }
        var out = ""
        var codeC = false
        var j = 0
        while j < data.count {
            let d = data[j]
            if d == 0x7B && j + 1 < data.count {
                let next = data[j + 1]
                switch next {
                case 0x41, 0x42:
                    codeC = false
                    j += 2
                    continue
                case 0x43:
                    codeC = true
                    j += 2
                    continue
                case 0x53, 0x31, 0x32, 0x33, 0x34:
                    j += 2
                    continue
                case 0x7B:
                    out.append("{")
                    j += 2
                    continue
                default: break
                }
            }
            if codeC {
                if d < 100 {
                    out += d < 10 ? "0\(d)" : "\(d)"
                } else {
                    out.append("\u{FFFD}")
                }
            } else {
                out.unicodeScalars.append(d < 0x80 ? Unicode.Scalar(d) : "\u{FFFD}")
            }
            j += 1
        }
        return out
    }
}

// MARK: - Decoded receipts

/// What one receipt (up to and including a cut) looked like on paper.
public struct PrintedReceiptView: Sendable, Equatable {
    public var lines: [String]
    public var qrCodes: [String]
    public var barcodes: [String]
    public var images: Int
    /// Cuts that ended this view: 1 for a cut receipt, 0 for the trailing uncut part.
    public var cuts: Int

    public init(lines: [String] = [], qrCodes: [String] = [], barcodes: [String] = [], images: Int = 0, cuts: Int = 0) {
        self.lines = lines
        self.qrCodes = qrCodes
        self.barcodes = barcodes
        self.images = images
        self.cuts = cuts
    }

    public var text: String { lines.joined(separator: "\n") }

    /// Lines with blank ones (from feeds) removed.
    public var nonEmptyLines: [String] { lines.filter { !$0.allSatisfy(\.isWhitespace) } }

    public var isEmpty: Bool { lines.isEmpty && qrCodes.isEmpty && barcodes.isEmpty && images == 0 && cuts == 0 }
}

/// Accumulates decoder events into receipts split at each cut.
public struct PrintedReceiptAccumulator: Sendable, Equatable {
    /// The receipt being printed (not cut yet).
    public private(set) var current = PrintedReceiptView()
    /// Receipts completed by a cut, oldest first.
    public private(set) var completed: [PrintedReceiptView] = []

    public init() {}

    /// Adds events; returns the receipts these events completed.
    @discardableResult
    public mutating func add(_ events: [ESCPOSEvent]) -> [PrintedReceiptView] {
        var done: [PrintedReceiptView] = []
        for e in events {
            if let v = add(e) { done.append(v) }
        }
        return done
    }

    /// Adds one event; returns the receipt it completed, if it was a cut.
    @discardableResult
    public mutating func add(_ event: ESCPOSEvent) -> PrintedReceiptView? {
        switch event {
        case .line(let s): current.lines.append(s)
        case .qrCode(let s): current.qrCodes.append(s)
        case .barcode(let s): current.barcodes.append(s)
        case .raster: current.images += 1
        case .cut:
            current.cuts += 1
            let v = current
            completed.append(v)
            current = PrintedReceiptView()
            return v
        default: break
        }
        return nil
    }

    /// Removes and returns the completed receipts.
    public mutating func takeCompleted() -> [PrintedReceiptView] {
        defer { completed.removeAll() }
        return completed
    }

    /// Completed receipts, plus the trailing uncut part if it has content.
    public var allViews: [PrintedReceiptView] {
        current.isEmpty ? completed : completed + [current]
    }

    /// Splits a whole event stream into receipts at each cut.
    public static func views(from events: [ESCPOSEvent]) -> [PrintedReceiptView] {
        var acc = PrintedReceiptAccumulator()
        acc.add(events)
        return acc.allViews
    }
}

extension PrintedReceiptView {
    /// Splits a whole event stream into receipts at each cut (see `PrintedReceiptAccumulator`).
    public static func split(_ events: [ESCPOSEvent]) -> [PrintedReceiptView] {
        PrintedReceiptAccumulator.views(from: events)
    }
}
