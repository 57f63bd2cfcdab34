// A small QR code encoder (ISO/IEC 18004, model 2): byte mode, error correction level L or M,
// versions 1–10, Reed–Solomon over GF(256), the eight data masks chosen by the standard's penalty
// rules. Enough for a guide's online address drawn on screen with half-block characters; the
// receipt printer draws its own QR codes (ESC/POS GS ( k).

public enum QRErrorCorrection: Sendable, Equatable {
    case low  // L: about 7 % of the symbol recoverable
    case medium  // M: about 15 %

    /// The two format-information bits.
    var formatBits: Int { self == .low ? 1 : 0 }
}

public enum QRCodeError: Error, Equatable, CustomStringConvertible, Sendable {
    case empty
    case tooLong(bytes: Int, maximum: Int)

    public var description: String {
        switch self {
        case .empty: return "QR payload is empty; give the text or address to encode"
        case .tooLong(let bytes, let maximum):
            return "QR payload is \(bytes) bytes but a version 1–10 symbol holds at most \(maximum); shorten it"
        }
    }
}

/// A QR symbol: `size` × `size` modules, `true` = dark.
public struct QRCode: Sendable, Equatable {
    public let version: Int
    public let errorCorrection: QRErrorCorrection
    public let mask: Int
    public let size: Int
    private var modules: [Bool]

    public func isDark(x: Int, y: Int) -> Bool {
        x >= 0 && y >= 0 && x < size && y < size && modules[y * size + x]
    }

    /// Largest versions this encoder makes.
    public static let maxVersion = 10

    // Error correction per version (index 0 = version 1): EC codewords per block and the block
    // groups as (count, data codewords per block).
    struct BlockLayout {
        var ecPerBlock: Int
        var groups: [(count: Int, data: Int)]
        var dataCodewords: Int { groups.reduce(0) { $0 + $1.count * $1.data } }
    }

    static let layoutL: [BlockLayout] = [
        BlockLayout(ecPerBlock: 7, groups: [(1, 19)]), BlockLayout(ecPerBlock: 10, groups: [(1, 34)]),
        BlockLayout(ecPerBlock: 15, groups: [(1, 55)]), BlockLayout(ecPerBlock: 20, groups: [(1, 80)]),
        BlockLayout(ecPerBlock: 26, groups: [(1, 108)]), BlockLayout(ecPerBlock: 18, groups: [(2, 68)]),
        BlockLayout(ecPerBlock: 20, groups: [(2, 78)]), BlockLayout(ecPerBlock: 24, groups: [(2, 97)]),
        BlockLayout(ecPerBlock: 30, groups: [(2, 116)]), BlockLayout(ecPerBlock: 18, groups: [(2, 68), (2, 69)]),
    ]
    static let layoutM: [BlockLayout] = [
        BlockLayout(ecPerBlock: 10, groups: [(1, 16)]), BlockLayout(ecPerBlock: 16, groups: [(1, 28)]),
        BlockLayout(ecPerBlock: 26, groups: [(1, 44)]), BlockLayout(ecPerBlock: 18, groups: [(2, 32)]),
        BlockLayout(ecPerBlock: 24, groups: [(2, 43)]), BlockLayout(ecPerBlock: 16, groups: [(4, 27)]),
        BlockLayout(ecPerBlock: 18, groups: [(4, 31)]), BlockLayout(ecPerBlock: 22, groups: [(2, 38), (2, 39)]),
        BlockLayout(ecPerBlock: 22, groups: [(3, 36), (2, 37)]),
        BlockLayout(ecPerBlock: 26, groups: [(4, 43), (1, 44)]),
    ]

    static func layout(_ version: Int, _ ec: QRErrorCorrection) -> BlockLayout {
        (ec == .low ? layoutL : layoutM)[version - 1]
    }

    /// Bytes a byte-mode symbol of this version and level holds.
    public static func capacity(version: Int, errorCorrection ec: QRErrorCorrection) -> Int {
        let countBits = version < 10 ? 8 : 16
        return (layout(version, ec).dataCodewords * 8 - 4 - countBits) / 8
    }

    static let alignmentCentres: [[Int]] = [
        [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
    ]

    /// Encodes `bytes` in the smallest version (up to `maxVersion`) at level L, then raises the
    /// level to M when the data still fits that version.
    public init(bytes: [UInt8], maxVersion: Int = QRCode.maxVersion) throws {
        guard !bytes.isEmpty else { throw QRCodeError.empty }
        let top = min(max(maxVersion, 1), QRCode.maxVersion)
        guard let v = (1...top).first(where: { QRCode.capacity(version: $0, errorCorrection: .low) >= bytes.count })
        else {
            throw QRCodeError.tooLong(bytes: bytes.count, maximum: QRCode.capacity(version: top, errorCorrection: .low))
        }
        let ec: QRErrorCorrection =
            QRCode.capacity(version: v, errorCorrection: .medium) >= bytes.count ? .medium : .low
        self.init(bytes: bytes, version: v, errorCorrection: ec)
    }

    public init(text: String, maxVersion: Int = QRCode.maxVersion) throws {
        try self.init(bytes: Array(text.utf8), maxVersion: maxVersion)
    }

    private init(bytes: [UInt8], version: Int, errorCorrection ec: QRErrorCorrection) {
        self.version = version
        self.errorCorrection = ec
        size = 17 + 4 * version
        var grid = Grid(size: size)
        grid.drawFunctionPatterns(version: version)
        let codewords = QRCode.codewords(bytes, version: version, ec: ec)
        grid.placeData(codewords)
        var best = 0
        var bestPenalty = Int.max
        var bestModules: [Bool] = []
        for m in 0..<8 {
            var g = grid
            g.applyMask(m)
            g.drawFormat(ec: ec, mask: m)
            let p = g.penalty()
            if p < bestPenalty {
                bestPenalty = p
                best = m
                bestModules = g.dark
            }
        }
        mask = best
        modules = bestModules
    }

    // MARK: Data codewords and error correction

    static func codewords(_ bytes: [UInt8], version: Int, ec: QRErrorCorrection) -> [UInt8] {
        let layout = layout(version, ec)
        var bits: [Bool] = []
        func append(_ value: Int, _ count: Int) {
            for i in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> i) & 1 == 1) }
        }
        append(0b0100, 4)  // byte mode
        append(bytes.count, version < 10 ? 8 : 16)
        for b in bytes { append(Int(b), 8) }
        let capacityBits = layout.dataCodewords * 8
        append(0, min(4, capacityBits - bits.count))  // terminator
        while bits.count % 8 != 0 { bits.append(false) }
        var data: [UInt8] = stride(from: 0, to: bits.count, by: 8).map { start in
            (0..<8).reduce(UInt8(0)) { $0 << 1 | (bits[start + $1] ? 1 : 0) }
        }
        var pad: UInt8 = 0xEC
        while data.count < layout.dataCodewords {
            data.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        // Split into blocks, add each block's EC codewords, interleave.
        var blocks: [[UInt8]] = []
        var offset = 0
        for g in layout.groups {
            for _ in 0..<g.count {
                blocks.append(Array(data[offset..<offset + g.data]))
                offset += g.data
            }
        }
        let generator = ReedSolomon.generator(degree: layout.ecPerBlock)
        let ecBlocks = blocks.map { ReedSolomon.remainder($0, generator: generator) }
        var out: [UInt8] = []
        let longest = blocks.map(\.count).max() ?? 0
        for i in 0..<longest { for b in blocks where i < b.count { out.append(b[i]) } }
        for i in 0..<layout.ecPerBlock { for e in ecBlocks { out.append(e[i]) } }
        return out
    }

    // MARK: The module grid

    struct Grid {
        let size: Int
        var dark: [Bool]
        var function: [Bool]

        init(size: Int) {
            self.size = size
            dark = Array(repeating: false, count: size * size)
            function = Array(repeating: false, count: size * size)
        }

        mutating func set(_ x: Int, _ y: Int, _ d: Bool) {
            dark[y * size + x] = d
            function[y * size + x] = true
        }

        mutating func drawFunctionPatterns(version: Int) {
            for i in 0..<size {
                set(6, i, i % 2 == 0)
                set(i, 6, i % 2 == 0)
            }
            for (cx, cy) in [(3, 3), (size - 4, 3), (3, size - 4)] {
                for dy in -4...4 {
                    for dx in -4...4 {
                        let x = cx + dx
                        let y = cy + dy
                        guard x >= 0, y >= 0, x < size, y < size else { continue }
                        let d = max(abs(dx), abs(dy))
                        set(x, y, d != 2 && d != 4)
                    }
                }
            }
            let centres = QRCode.alignmentCentres[version - 1]
            for cy in centres {
                for cx in centres {
                    let last = centres.count - 1
                    if (cx == centres[0] && cy == centres[0]) || (cx == centres[0] && cy == centres[last])
                        || (cx == centres[last] && cy == centres[0])
                    {
                        continue
                    }
                    for dy in -2...2 { for dx in -2...2 { set(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1) } }
                }
            }
            drawFormat(ec: .medium, mask: 0)  // reserves the areas; redrawn per mask
            if version >= 7 {
                var rem = version
                for _ in 0..<12 { rem = (rem << 1) ^ ((rem >> 11) * 0x1F25) }
                let bits = version << 12 | rem
                for i in 0..<18 {
                    let bit = (bits >> i) & 1 == 1
                    let a = size - 11 + i % 3
                    let b = i / 3
                    set(a, b, bit)
                    set(b, a, bit)
                }
            }
        }

        mutating func drawFormat(ec: QRErrorCorrection, mask: Int) {
            let data = ec.formatBits << 3 | mask
            var rem = data
            for _ in 0..<10 { rem = (rem << 1) ^ ((rem >> 9) * 0x537) }
            let bits = (data << 10 | rem) ^ 0x5412
            func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
            for i in 0...5 { set(8, i, bit(i)) }
            set(8, 7, bit(6))
            set(8, 8, bit(7))
            set(7, 8, bit(8))
            for i in 9..<15 { set(14 - i, 8, bit(i)) }
            for i in 0..<8 { set(size - 1 - i, 8, bit(i)) }
            for i in 8..<15 { set(8, size - 15 + i, bit(i)) }
            set(8, size - 8, true)  // the dark module
        }

        /// Places the codewords in the two-column zigzag from the bottom right; modules left
        /// over (the remainder bits) stay light.
        mutating func placeData(_ codewords: [UInt8]) {
            var i = 0
            let total = codewords.count * 8
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                let upward = (right + 1) & 2 == 0
                for vert in 0..<size {
                    let y = upward ? size - 1 - vert : vert
                    for j in 0..<2 {
                        let x = right - j
                        guard !function[y * size + x] else { continue }
                        if i < total {
                            dark[y * size + x] = (codewords[i >> 3] >> (7 - UInt8(i & 7))) & 1 == 1
                            i += 1
                        }
                    }
                }
                right -= 2
            }
        }

        mutating func applyMask(_ m: Int) {
            for y in 0..<size {
                for x in 0..<size where !function[y * size + x] {
                    let flip: Bool
                    switch m {
                    case 0: flip = (x + y) % 2 == 0
                    case 1: flip = y % 2 == 0
                    case 2: flip = x % 3 == 0
                    case 3: flip = (x + y) % 3 == 0
                    case 4: flip = (y / 2 + x / 3) % 2 == 0
                    case 5: flip = (x * y) % 2 + (x * y) % 3 == 0
                    case 6: flip = ((x * y) % 2 + (x * y) % 3) % 2 == 0
                    default: flip = ((x + y) % 2 + (x * y) % 3) % 2 == 0
                    }
                    if flip { dark[y * size + x].toggle() }
                }
            }
        }

        /// The standard's penalty: runs of five or more, 2×2 blocks, finder-like 1:1:3:1:1
        /// patterns with four light modules on one side, and the dark proportion's distance from 50 %.
        func penalty() -> Int {
            var score = 0
            func at(_ x: Int, _ y: Int) -> Bool { dark[y * size + x] }
            let pattern1: [Bool] = [true, false, true, true, true, false, true, false, false, false, false]
            let pattern2: [Bool] = Array(pattern1.reversed())
            for horizontal in [true, false] {
                for a in 0..<size {
                    var run = 1
                    var line: [Bool] = []
                    line.reserveCapacity(size)
                    for b in 0..<size { line.append(horizontal ? at(b, a) : at(a, b)) }
                    for b in 1..<size {
                        if line[b] == line[b - 1] {
                            run += 1
                        } else {
                            if run >= 5 { score += 3 + run - 5 }
                            run = 1
                        }
                    }
                    if run >= 5 { score += 3 + run - 5 }
                    if size >= 11 {
                        for b in 0...(size - 11) {
                            let slice = Array(line[b..<b + 11])
                            if slice == pattern1 || slice == pattern2 { score += 40 }
                        }
                    }
                }
            }
            for y in 0..<(size - 1) {
                for x in 0..<(size - 1) {
                    let c = at(x, y)
                    if c == at(x + 1, y) && c == at(x, y + 1) && c == at(x + 1, y + 1) { score += 3 }
                }
            }
            let darkCount = dark.filter { $0 }.count
            let percent = darkCount * 100 / (size * size)
            score += abs(percent - 50) / 5 * 10
            return score
        }
    }

    // MARK: Drawing with half blocks

    /// The symbol as text rows, two module rows per row: ink (█ ▀ ▄) marks LIGHT modules and a
    /// blank a dark one, so on the kiosk's light-on-dark terminal the code reads dark on light.
    /// `quietZone` light modules surround the symbol (the standard asks for 4; a screen short of
    /// rows may use fewer, scanners read 1–2 on a screen).
    public func halfBlockRows(quietZone: Int = 2) -> [String] {
        let q = max(0, quietZone)
        let total = size + 2 * q
        func light(_ x: Int, _ y: Int) -> Bool { !isDark(x: x - q, y: y - q) }
        var rows: [String] = []
        var y = 0
        while y < total {
            var row = ""
            for x in 0..<total {
                let top = light(x, y)
                let bottom = y + 1 < total ? light(x, y + 1) : false
                switch (top, bottom) {
                case (true, true): row.append("█")
                case (true, false): row.append("▀")
                case (false, true): row.append("▄")
                case (false, false): row.append(" ")
                }
            }
            rows.append(row)
            y += 2
        }
        return rows
    }

    /// Text rows `halfBlockRows(quietZone:)` makes for this symbol.
    public static func halfBlockRowCount(size: Int, quietZone: Int) -> Int { (size + 2 * quietZone + 1) / 2 }
}

/// Reed–Solomon over GF(256) with the QR polynomial x⁸ + x⁴ + x³ + x² + 1 (0x11D).
enum ReedSolomon {
    static let exp: [UInt8] = {
        var t = [UInt8](repeating: 0, count: 512)
        var x = 1
        for i in 0..<255 {
            t[i] = UInt8(x)
            x <<= 1
            if x & 0x100 != 0 { x ^= 0x11D }
        }
        for i in 255..<512 { t[i] = t[i - 255] }
        return t
    }()
    static let log: [Int] = {
        var t = [Int](repeating: 0, count: 256)
        for i in 0..<255 { t[Int(exp[i])] = i }
        return t
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        a == 0 || b == 0 ? 0 : exp[log[Int(a)] + log[Int(b)]]
    }

    /// Coefficients of (x − α⁰)(x − α¹)…(x − α^(degree−1)), highest power first, leading 1 dropped.
    static func generator(degree: Int) -> [UInt8] {
        var g: [UInt8] = [1]
        for i in 0..<degree {
            var next = [UInt8](repeating: 0, count: g.count + 1)
            for (j, c) in g.enumerated() {
                next[j] ^= c
                next[j + 1] ^= multiply(c, exp[i])
            }
            g = next
        }
        return Array(g.dropFirst())
    }

    /// The remainder of data·x^degree divided by the generator: the EC codewords.
    static func remainder(_ data: [UInt8], generator: [UInt8]) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: generator.count)
        for d in data {
            let factor = d ^ r[0]
            r.removeFirst()
            r.append(0)
            for i in 0..<generator.count { r[i] ^= multiply(generator[i], factor) }
        }
        return r
    }
}
