import Foundation

/// A TrueType font read from a .ttf file, enough to embed a subset in a PDF: the Unicode cmap
/// (formats 4 and 12), advance widths, and glyph outlines (simple and composite). Facts from the
/// OpenType specification (tables head, hhea, maxp, hmtx, loca, glyf, cmap).
public struct TrueTypeFont: Sendable {
    public enum FontError: Error, CustomStringConvertible {
        case unreadable(String)
        case malformed(String)
        public var description: String {
            switch self {
            case .unreadable(let p):
                return "font file \(p) cannot be read (install the package that ships it, e.g. fonts-droid-fallback)"
            case .malformed(let why): return "the font file is not a usable TrueType font: \(why)"
            }
        }
    }

    let bytes: [UInt8]
    let tables: [String: Range<Int>]
    public let unitsPerEm: Int
    public let numGlyphs: Int
    let longLoca: Bool
    let numberOfHMetrics: Int
    let cmap: [UInt32: UInt16]
    public let ascent: Int
    public let descent: Int
    public let name: String

    public init(path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else { throw FontError.unreadable(path) }
        try self.init(data: d, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
    }

    public init(data: Data, name: String) throws {
        let b = [UInt8](data)
        bytes = b
        self.name = name.filter { $0.isLetter || $0.isNumber }
        func u16(_ o: Int) throws -> Int {
            guard o + 2 <= b.count else { throw FontError.malformed("offset \(o) past the end") }
            return Int(b[o]) << 8 | Int(b[o + 1])
        }
        func u32(_ o: Int) throws -> Int { try u16(o) << 16 | u16(o + 2) }
        let n = try u16(4)
        var t: [String: Range<Int>] = [:]
        for i in 0..<n {
            let e = 12 + 16 * i
            guard e + 16 <= b.count else { throw FontError.malformed("table directory truncated") }
            let tag = String(decoding: b[e..<e + 4], as: UTF8.self)
            let off = try u32(e + 8)
            let len = try u32(e + 12)
            guard off + len <= b.count else { throw FontError.malformed("table \(tag) past the end") }
            t[tag] = off..<off + len
        }
        for need in ["head", "hhea", "maxp", "hmtx", "loca", "glyf", "cmap"] where t[need] == nil {
            throw FontError.malformed("no \(need) table (a CFF/OpenType font cannot be embedded this way)")
        }
        tables = t
        let head = t["head"]!.lowerBound
        unitsPerEm = try u16(head + 18)
        longLoca = try u16(head + 50) == 1
        numGlyphs = try u16(t["maxp"]!.lowerBound + 4)
        let hhea = t["hhea"]!.lowerBound
        ascent = Int(Int16(truncatingIfNeeded: try u16(hhea + 4)))
        descent = Int(Int16(truncatingIfNeeded: try u16(hhea + 6)))
        numberOfHMetrics = try u16(hhea + 34)
        // cmap: prefer (3,10) format 12, else (3,1) / (0,x) format 4.
        let c = t["cmap"]!.lowerBound
        var best: (score: Int, offset: Int)? = nil
        for i in 0..<(try u16(c + 2)) {
            let rec = c + 4 + 8 * i
            let pid = try u16(rec)
            let eid = try u16(rec + 2)
            let off = c + (try u32(rec + 4))
            let format = try u16(off)
            let score = format == 12 ? 3 : (format == 4 && (pid == 3 && eid == 1 || pid == 0) ? 2 : 0)
            if score > 0, score > (best?.score ?? 0) { best = (score, off) }
        }
        guard let sub = best?.offset else { throw FontError.malformed("no Unicode cmap (format 4 or 12)") }
        var map: [UInt32: UInt16] = [:]
        if try u16(sub) == 12 {
            let groups = try u32(sub + 12)
            for g in 0..<groups {
                let r = sub + 16 + 12 * g
                let start = try u32(r)
                let end = try u32(r + 4)
                let gid = try u32(r + 8)
                guard end >= start, end - start < 0x11_0000 else { continue }
                for cp in start...end { map[UInt32(cp)] = UInt16(truncatingIfNeeded: gid + cp - start) }
            }
        } else {
            let segs = try u16(sub + 6) / 2
            let ends = sub + 14
            let starts = ends + 2 * segs + 2
            let deltas = starts + 2 * segs
            let ranges = deltas + 2 * segs
            for s in 0..<segs {
                let end = try u16(ends + 2 * s)
                let start = try u16(starts + 2 * s)
                let delta = try u16(deltas + 2 * s)
                let ro = try u16(ranges + 2 * s)
                guard start <= end, start != 0xFFFF else { continue }
                for cp in start...end {
                    var gid: Int
                    if ro == 0 {
                        gid = (cp + delta) & 0xFFFF
                    } else {
                        let at = ranges + 2 * s + ro + 2 * (cp - start)
                        gid = try u16(at)
                        if gid != 0 { gid = (gid + delta) & 0xFFFF }
                    }
                    if gid != 0 { map[UInt32(cp)] = UInt16(gid) }
                }
            }
        }
        cmap = map
    }

    func u16(_ o: Int) -> Int { Int(bytes[o]) << 8 | Int(bytes[o + 1]) }
    func u32(_ o: Int) -> Int { u16(o) << 16 | u16(o + 2) }

    /// The glyph for a character (nil: the font does not have it).
    public func glyph(for scalar: Unicode.Scalar) -> UInt16? { cmap[scalar.value] }

    /// Advance width in font units.
    public func advance(_ gid: UInt16) -> Int {
        let h = tables["hmtx"]!.lowerBound
        let i = min(Int(gid), numberOfHMetrics - 1)
        return u16(h + 4 * i)
    }

    /// Advance width of a character in PDF text space units (1000 per em).
    public func width(_ gid: UInt16) -> Double { Double(advance(gid)) * 1000 / Double(unitsPerEm) }

    func glyphBytes(_ gid: Int) -> ArraySlice<UInt8> {
        let loca = tables["loca"]!.lowerBound
        let glyf = tables["glyf"]!
        let (a, b) =
            longLoca
            ? (u32(loca + 4 * gid), u32(loca + 4 * gid + 4))
            : (u16(loca + 2 * gid) * 2, u16(loca + 2 * gid + 2) * 2)
        guard b > a, glyf.lowerBound + b <= glyf.upperBound else { return [] }
        return bytes[(glyf.lowerBound + a)..<(glyf.lowerBound + b)]
    }

    /// Glyph ids a composite glyph refers to (offsets of their index fields with them).
    static func components(_ g: ArraySlice<UInt8>) -> [(at: Int, gid: Int)] {
        let b = Array(g)
        guard b.count >= 10, Int16(bitPattern: UInt16(b[0]) << 8 | UInt16(b[1])) < 0 else { return [] }
        var out: [(Int, Int)] = []
        var o = 10
        while o + 4 <= b.count {
            let flags = Int(b[o]) << 8 | Int(b[o + 1])
            out.append((o + 2, Int(b[o + 2]) << 8 | Int(b[o + 3])))
            o += 4 + (flags & 0x0001 != 0 ? 4 : 2)
            if flags & 0x0008 != 0 {
                o += 2
            } else if flags & 0x0040 != 0 {
                o += 4
            } else if flags & 0x0080 != 0 {
                o += 8
            }
            if flags & 0x0020 == 0 { break }
        }
        return out
    }

    /// A new TrueType font holding .notdef and `glyphs` (with the glyphs composites use), renumbered
    /// from 1 in the order given. Returns the font bytes and the new id of each requested glyph.
    public func subset(_ glyphs: [UInt16]) -> (font: Data, newIds: [UInt16: UInt16]) {
        var order: [Int] = [0]
        var newId: [Int: Int] = [0: 0]
        func add(_ g: Int) {
            guard newId[g] == nil, g < numGlyphs else { return }
            newId[g] = order.count
            order.append(g)
            for c in Self.components(glyphBytes(g)) { add(c.gid) }
        }
        for g in glyphs { add(Int(g)) }
        var glyf: [UInt8] = []
        var loca: [Int] = []
        var hmtx: [UInt8] = []
        let h = tables["hmtx"]!.lowerBound
        for g in order {
            loca.append(glyf.count)
            var gb = Array(glyphBytes(g))
            for c in Self.components(gb[...]) {
                let n = newId[c.gid] ?? 0
                gb[c.at] = UInt8(n >> 8)
                gb[c.at + 1] = UInt8(n & 0xFF)
            }
            glyf += gb
            while glyf.count % 4 != 0 { glyf.append(0) }
            let i = min(g, numberOfHMetrics - 1)
            let lsbAt = g < numberOfHMetrics ? h + 4 * g + 2 : h + 4 * numberOfHMetrics + 2 * (g - numberOfHMetrics)
            hmtx += [bytes[h + 4 * i], bytes[h + 4 * i + 1], bytes[lsbAt], bytes[lsbAt + 1]]
        }
        loca.append(glyf.count)
        func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        func be32(_ v: Int) -> [UInt8] { be16(v >> 16) + be16(v & 0xFFFF) }
        var head = Array(bytes[tables["head"]!])
        head[8..<12] = [0, 0, 0, 0]  // checkSumAdjustment: recomputed below
        head[50..<52] = [0, 1]  // long loca
        var hhea = Array(bytes[tables["hhea"]!])
        hhea[34..<36] = ArraySlice(be16(order.count))
        var maxp = Array(bytes[tables["maxp"]!])
        maxp[4..<6] = ArraySlice(be16(order.count))
        var out: [(String, [UInt8])] = [
            ("glyf", glyf), ("head", head), ("hhea", hhea), ("hmtx", hmtx), ("loca", loca.flatMap(be32)),
            ("maxp", maxp),
        ]
        for extra in ["cvt ", "fpgm", "prep"] { if let r = tables[extra] { out.append((extra, Array(bytes[r]))) } }
        out.sort { $0.0 < $1.0 }
        func checksum(_ t: [UInt8]) -> UInt32 {
            var sum: UInt32 = 0
            var p = t
            while p.count % 4 != 0 { p.append(0) }
            for i in stride(from: 0, to: p.count, by: 4) {
                sum &+= UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16 | UInt32(p[i + 2]) << 8 | UInt32(p[i + 3])
            }
            return sum
        }
        let n = out.count
        var entry = 1
        var log2 = 0
        while entry * 2 <= n {
            entry *= 2
            log2 += 1
        }
        var file: [UInt8] = [0, 1, 0, 0]
        file += be16(n)
        file += be16(entry * 16)
        file += be16(log2)
        file += be16(n * 16 - entry * 16)
        var offset = 12 + 16 * n
        var body: [UInt8] = []
        for (tag, t) in out {
            file += Array(tag.utf8)
            file += be32(Int(checksum(t)))
            file += be32(offset)
            file += be32(t.count)
            var padded = t
            while padded.count % 4 != 0 { padded.append(0) }
            body += padded
            offset += padded.count
        }
        file += body
        // head.checkSumAdjustment = 0xB1B0AFBA − checksum of the whole file.
        let adjust = 0xB1B0_AFBA &- checksum(file)
        if let headEntry = out.firstIndex(where: { $0.0 == "head" }) {
            let headOffset = 12 + 16 * n + out[..<headEntry].reduce(0) { $0 + ($1.1.count + 3) / 4 * 4 }
            file[(headOffset + 8)..<(headOffset + 12)] = ArraySlice(be32(Int(adjust)))
        }
        var ids: [UInt16: UInt16] = [:]
        for g in glyphs { ids[g] = UInt16(newId[Int(g)] ?? 0) }
        return (Data(file), ids)
    }
}
