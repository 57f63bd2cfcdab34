import Foundation

/// A document staff can file (the A4 ledger): a title block, sections as ruled tables with totals,
/// a signature and stamp line, page numbers. Rendered as A4 PDF with its fonts embedded as subsets
/// (CIDFontType2, Identity-H, CIDToGIDMap, ToUnicode), so every printer and viewer shows the same
/// glyphs and the text can be searched and extracted.
public struct RuledDocument: Sendable {
    public struct Column: Sendable {
        public var title: String
        /// Share of the table's width.
        public var weight: Double
        public var alignRight: Bool
        public init(_ title: String, weight: Double = 1, alignRight: Bool = false) {
            self.title = title
            self.weight = weight
            self.alignRight = alignRight
        }
    }
    public struct Section: Sendable {
        public var title: String
        public var columns: [Column]
        public var rows: [[String]]
        /// The totals row (nil: none), drawn below a heavier rule.
        public var total: [String]?
        /// Shown in the table when it has no rows.
        public var empty: String
        public init(title: String, columns: [Column], rows: [[String]], total: [String]? = nil, empty: String = "（无）") {
            self.title = title
            self.columns = columns
            self.rows = rows
            self.total = total
            self.empty = empty
        }
    }
    public var title: String
    /// Title block: label and value pairs (服务点, 统计期间, 打印时间, 打印人 …).
    public var fields: [(String, String)]
    public var sections: [Section]
    /// Signature and stamp line at the end.
    public var signature: String
    public init(title: String, fields: [(String, String)], sections: [Section], signature: String) {
        self.title = title
        self.fields = fields
        self.sections = sections
        self.signature = signature
    }
}

public enum RuledPDF {
    /// Debian's fonts: CJK from fonts-droid-fallback, Latin and digits from fonts-dejavu-core.
    public static let defaultFontFiles = [
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ]

    /// Loads the default fonts (a clear error naming the package when one is missing).
    public static func defaultFonts() throws -> [TrueTypeFont] {
        try defaultFontFiles.map { try TrueTypeFont(path: $0) }
    }

    enum Op {
        case text(x: Double, y: Double, size: Double, String)
        case line(x1: Double, y1: Double, x2: Double, y2: Double, width: Double)
        case fill(x: Double, y: Double, w: Double, h: Double, grey: Double)
    }

    static let pageW = 595.0
    static let pageH = 842.0
    static let margin = 48.0

    /// The font for each character: the first that has it (nil: none; drawn as the first font's .notdef).
    static func run(_ s: String, fonts: [TrueTypeFont]) -> [(font: Int, gid: UInt16)] {
        s.unicodeScalars.map { u in
            for (i, f) in fonts.enumerated() { if let g = f.glyph(for: u) { return (i, g) } }
            return (0, 0)
        }
    }

    static func width(_ s: String, size: Double, fonts: [TrueTypeFont]) -> Double {
        run(s, fonts: fonts).reduce(0) { $0 + fonts[$1.font].width($1.gid) } * size / 1000
    }

    /// The longest prefix of `s` that fits `w` (with … when cut).
    static func fit(_ s: String, _ w: Double, size: Double, fonts: [TrueTypeFont]) -> String {
        if width(s, size: size, fonts: fonts) <= w { return s }
        var out = ""
        for ch in s {
            if width(out + String(ch) + "…", size: size, fonts: fonts) > w { break }
            out.append(ch)
        }
        return out + "…"
    }

    public static func render(_ doc: RuledDocument, fonts: [TrueTypeFont]) -> Data {
        precondition(!fonts.isEmpty)
        var pages: [[Op]] = [[]]
        var y = pageH - margin
        let left = margin
        let right = pageW - margin
        let bottom = margin + 30
        func add(_ op: Op) { pages[pages.count - 1].append(op) }
        func newPage() {
            pages.append([])
            y = pageH - margin
        }
        func text(
            _ s: String, _ x: Double, _ size: Double, width w: Double, alignRight: Bool = false, center: Bool = false
        ) {
            let t = fit(s, w, size: size, fonts: fonts)
            let tw = width(t, size: size, fonts: fonts)
            let tx = center ? x + (w - tw) / 2 : alignRight ? x + w - tw : x
            add(.text(x: tx, y: y, size: size, t))
        }
        // Title and title block (a two-column ruled box).
        y -= 18
        text(doc.title, left, 18, width: right - left, center: true)
        y -= 14
        let rowH = 18.0
        let labelW = 90.0
        let blockTop = y
        for (label, value) in doc.fields {
            add(.line(x1: left, y1: y, x2: right, y2: y, width: 0.5))
            y -= rowH
            let baseline = y + 5.5
            let save = y
            y = baseline
            text(label, left + 6, 10.5, width: labelW - 12)
            text(value, left + labelW + 6, 10.5, width: right - left - labelW - 12)
            y = save
        }
        add(.line(x1: left, y1: y, x2: right, y2: y, width: 0.5))
        for x in [left, left + labelW, right] { add(.line(x1: x, y1: blockTop, x2: x, y2: y, width: 0.5)) }
        y -= 16

        for section in doc.sections {
            let weights = section.columns.map(\.weight).reduce(0, +)
            var xs = [left]
            for c in section.columns { xs.append(xs.last! + (right - left) * c.weight / weights) }
            func row(_ cells: [String], grey: Double?, heavy: Bool, isHeader: Bool = false) {
                if y - rowH < bottom {
                    newPage()
                    // The table's header again at the top of the new page.
                    if !isHeader { row(section.columns.map(\.title), grey: 0.88, heavy: false, isHeader: true) }
                }
                let top = y
                if let grey { add(.fill(x: left, y: y - rowH, w: right - left, h: rowH, grey: grey)) }
                add(.line(x1: left, y1: top, x2: right, y2: top, width: heavy ? 1.2 : 0.5))
                y -= rowH
                let save = y
                y = save + 5.5
                for (i, c) in section.columns.enumerated() where i < cells.count {
                    text(cells[i], xs[i] + 4, 9.5, width: xs[i + 1] - xs[i] - 8, alignRight: c.alignRight)
                }
                y = save
                add(.line(x1: left, y1: y, x2: right, y2: y, width: heavy ? 1.2 : 0.5))
                for x in xs { add(.line(x1: x, y1: top, x2: x, y2: y, width: 0.5)) }
            }
            func header() { row(section.columns.map(\.title), grey: 0.88, heavy: false, isHeader: true) }
            // Keep the section title with its header and first row.
            if y - 16 - 3 * rowH < bottom { newPage() }
            y -= 12
            text(section.title, left, 12, width: right - left)
            y -= 8
            header()
            if section.rows.isEmpty {
                var cells = [section.empty]
                cells += Array(repeating: "", count: max(0, section.columns.count - 1))
                row(cells, grey: nil, heavy: false)
            }
            for r in section.rows { row(r, grey: nil, heavy: false) }
            if let t = section.total { row(t, grey: 0.95, heavy: true) }
            y -= 14
        }
        // Signature and stamp line.
        if y - 60 < bottom { newPage() }
        y -= 40
        text(doc.signature, left, 11, width: right - left)
        // Page numbers: 第 n 页 共 N 页.
        let total = pages.count
        for i in pages.indices {
            pages[i].append(.line(x1: left, y1: margin + 16, x2: right, y2: margin + 16, width: 0.3))
            let label = "第 \(i + 1) 页 共 \(total) 页"
            let w = width(label, size: 9, fonts: fonts)
            pages[i].append(.text(x: (pageW - w) / 2, y: margin, size: 9, label))
            let t = fit(doc.title, 200, size: 8, fonts: fonts)
            pages[i].append(.text(x: left, y: margin, size: 8, t))
        }
        return assemble(pages, fonts: fonts)
    }

    static func num(_ d: Double) -> String {
        let r = (d * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    static func assemble(_ pages: [[Op]], fonts: [TrueTypeFont]) -> Data {
        // Glyphs used per font, then each font's subset (new glyph ids are the CIDs: CIDToGIDMap /Identity).
        var used = Array(repeating: Set<UInt16>(), count: fonts.count)
        for p in pages {
            for op in p {
                if case .text(_, _, _, let s) = op { for r in run(s, fonts: fonts) { used[r.font].insert(r.gid) } }
            }
        }
        var subsets: [(font: Data, ids: [UInt16: UInt16], glyphs: [UInt16])] = []
        for (i, f) in fonts.enumerated() {
            let glyphs = used[i].sorted()
            let s = f.subset(glyphs)
            subsets.append((s.font, s.newIds, glyphs))
        }
        // Unicode of each new glyph id, for ToUnicode.
        var unicode = Array(repeating: [UInt16: UInt32](), count: fonts.count)
        for p in pages {
            for op in p {
                guard case .text(_, _, _, let s) = op else { continue }
                for (u, r) in zip(s.unicodeScalars, run(s, fonts: fonts)) {
                    if let cid = subsets[r.font].ids[r.gid] { unicode[r.font][cid] = u.value }
                }
            }
        }
        var objects: [Data] = []
        func obj(_ s: String) -> Int {
            objects.append(Data(s.utf8))
            return objects.count
        }
        func stream(_ dict: String, _ body: Data) -> Int {
            var d = Data("<< \(dict) /Length \(body.count) >>\nstream\n".utf8)
            d.append(body)
            d.append(Data("\nendstream".utf8))
            objects.append(d)
            return objects.count
        }
        let catalog = obj("")  // filled last
        let pagesObj = obj("")
        var fontRefs: [String] = []
        for (i, f) in fonts.enumerated() {
            let tag = "KSUB" + String(UnicodeScalar(UInt8(65 + i / 26))) + String(UnicodeScalar(UInt8(65 + i % 26)))
            let base = "\(tag)+\(f.name.isEmpty ? "Font\(i)" : f.name)"
            let sub = subsets[i]
            let file = stream("/Length1 \(sub.font.count)", sub.font)
            let scale = 1000 / Double(f.unitsPerEm)
            let descriptor = obj(
                "<< /Type /FontDescriptor /FontName /\(base) /Flags 4 /FontBBox [0 \(num(Double(f.descent) * scale)) 1000 \(num(Double(f.ascent) * scale))] /ItalicAngle 0 /Ascent \(num(Double(f.ascent) * scale)) /Descent \(num(Double(f.descent) * scale)) /CapHeight \(num(Double(f.ascent) * scale)) /StemV 80 /FontFile2 \(file) 0 R >>"
            )
            var widths = ""
            for g in sub.glyphs {
                if let cid = sub.ids[g] { widths += "\(cid) [\(num(f.width(g)))] " }
            }
            let cidFont = obj(
                "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /\(base) /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor \(descriptor) 0 R /CIDToGIDMap /Identity /DW 1000 /W [\(widths)] >>"
            )
            var cmap = """
                /CIDInit /ProcSet findresource begin
                12 dict begin
                begincmap
                /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
                /CMapName /Adobe-Identity-UCS def
                /CMapType 2 def
                1 begincodespacerange
                <0000> <FFFF>
                endcodespacerange

                """
            let entries = unicode[i].sorted { $0.key < $1.key }
            for chunk in stride(from: 0, to: entries.count, by: 100) {
                let part = entries[chunk..<min(chunk + 100, entries.count)]
                cmap += "\(part.count) beginbfchar\n"
                for (cid, u) in part {
                    cmap += "<" + String(format: "%04X", UInt32(cid)) + "> <" + utf16Hex(u) + ">\n"
                }
                cmap += "endbfchar\n"
            }
            cmap += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
            let toUnicode = stream("", Data(cmap.utf8))
            let type0 = obj(
                "<< /Type /Font /Subtype /Type0 /BaseFont /\(base) /Encoding /Identity-H /DescendantFonts [\(cidFont) 0 R] /ToUnicode \(toUnicode) 0 R >>"
            )
            fontRefs.append("/F\(i + 1) \(type0) 0 R")
        }
        var kids: [Int] = []
        for p in pages {
            var c = ""
            for op in p {
                switch op {
                case .fill(let x, let y, let w, let h, let grey):
                    c += "q \(num(grey)) g \(num(x)) \(num(y)) \(num(w)) \(num(h)) re f Q\n"
                case .line(let x1, let y1, let x2, let y2, let w):
                    c += "\(num(w)) w \(num(x1)) \(num(y1)) m \(num(x2)) \(num(y2)) l S\n"
                case .text(let x, let y, let size, let s):
                    // One BT per run of characters in the same font.
                    var runs: [(font: Int, glyphs: [(cid: UInt16, gid: UInt16)])] = []
                    for r in run(s, fonts: fonts) {
                        let cid = subsets[r.font].ids[r.gid] ?? 0
                        if let last = runs.last, last.font == r.font {
                            runs[runs.count - 1].glyphs.append((cid, r.gid))
                        } else {
                            runs.append((r.font, [(cid, r.gid)]))
                        }
                    }
                    var dx = x
                    for (f, glyphs) in runs {
                        let hex = glyphs.map { String(format: "%04X", UInt32($0.cid)) }.joined()
                        c += "BT /F\(f + 1) \(num(size)) Tf \(num(dx)) \(num(y)) Td <\(hex)> Tj ET\n"
                        dx += glyphs.reduce(0) { $0 + fonts[f].width($1.gid) } * size / 1000
                    }
                }
            }
            let content = stream("", Data(c.utf8))
            kids.append(
                obj(
                    "<< /Type /Page /Parent \(pagesObj) 0 R /MediaBox [0 0 \(num(pageW)) \(num(pageH))] /Contents \(content) 0 R /Resources << /Font << \(fontRefs.joined(separator: " ")) >> >> >>"
                ))
        }
        objects[catalog - 1] = Data("<< /Type /Catalog /Pages \(pagesObj) 0 R >>".utf8)
        objects[pagesObj - 1] = Data(
            "<< /Type /Pages /Kids [\(kids.map { "\($0) 0 R" }.joined(separator: " "))] /Count \(kids.count) >>".utf8)
        var out = Data("%PDF-1.4\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".utf8)
        var offsets: [Int] = []
        for (k, o) in objects.enumerated() {
            offsets.append(out.count)
            out.append(Data("\(k + 1) 0 obj\n".utf8))
            out.append(o)
            out.append(Data("\nendobj\n".utf8))
        }
        let xref = out.count
        var tail = "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for off in offsets {
            let s = String(off)
            tail += String(repeating: "0", count: max(0, 10 - s.count)) + s + " 00000 n \n"
        }
        tail += "trailer\n<< /Size \(objects.count + 1) /Root \(catalog) 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        out.append(Data(tail.utf8))
        return out
    }

    static func utf16Hex(_ u: UInt32) -> String {
        guard let s = Unicode.Scalar(u) else { return "FFFD" }
        return String(s).utf16.map { String(format: "%04X", UInt32($0)) }.joined()
    }
}
