import Foundation

/// A plain A4 PDF of text lines, Chinese included, for the ledger (台账) and other staff pages.
/// The text uses Adobe's standard Chinese font STSong-Light with the UniGB-UCS2-H encoding
/// (PDF 1.4 §5.9, the Adobe-GB1 character collection): no font is embedded, every PDF
/// consumer and CUPS filter (poppler-data, Ghostscript) supplies it. Long lines are wrapped by
/// display width; pages break every `linesPerPage` lines.
public enum TextPDF {
    public static func make(lines: [String], fontSize: Double = 11, linesPerPage: Int = 56, columns: Int = 88) -> Data {
        var wrapped: [String] = []
        for l in lines { wrapped += l.isEmpty ? [""] : DisplayWidth.wrap(l, columns: columns) }
        var pages: [[String]] = []
        var i = 0
        repeat {
            pages.append(Array(wrapped[min(i, wrapped.count)..<min(i + linesPerPage, wrapped.count)]))
            i += linesPerPage
        } while i < wrapped.count
        let total = pages.count

        // Object numbers: 1 catalog, 2 pages, 3 Type0 font, 4 CIDFont, 5 descriptor, then page/content pairs.
        var objects: [String] = []
        objects.append("<< /Type /Catalog /Pages 2 0 R >>")
        let kids = (0..<total).map { "\(6 + $0 * 2) 0 R" }.joined(separator: " ")
        objects.append("<< /Type /Pages /Kids [\(kids)] /Count \(total) >>")
        objects.append(
            "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [4 0 R] >>"
        )
        objects.append(
            "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 5 0 R /DW 1000 /W [1 95 500] >>"
        )
        objects.append(
            "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 626 /StemV 93 >>"
        )
        let leading = fontSize * 1.35
        for (n, page) in pages.enumerated() {
            var stream = "BT /F1 \(fmt(fontSize)) Tf \(fmt(leading)) TL 56 790 Td"
            for l in page { stream += " <\(hex(l))> '" }
            stream += " ET BT /F1 9 Tf 500 30 Td <\(hex("\(n + 1)/\(total)"))> Tj ET"
            objects.append(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents \(7 + n * 2) 0 R /Resources << /Font << /F1 3 0 R >> >> >>"
            )
            objects.append("<< /Length \(stream.utf8.count) >>\nstream\n\(stream)\nendstream")
        }
        return assemble(objects)
    }

    /// A PDF 1.4 file of these objects (numbered from 1, object 1 the catalog), with its
    /// cross-reference table and trailer.
    public static func assemble(_ objects: [String]) -> Data {
        var out = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (k, o) in objects.enumerated() {
            offsets.append(out.utf8.count)
            out += "\(k + 1) 0 obj\n\(o)\nendobj\n"
        }
        let xref = out.utf8.count
        out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for off in offsets {
            let s = String(off)
            out += String(repeating: "0", count: max(0, 10 - s.count)) + s + " 00000 n \n"
        }
        out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return Data(out.utf8)
    }

    static func fmt(_ d: Double) -> String { String(format: "%.2f", d) }

    /// UCS-2 big-endian hex; characters outside the BMP become U+FFFD.
    static func hex(_ s: String) -> String {
        var r = ""
        for u in s.unicodeScalars {
            let v = u.value <= 0xFFFF ? u.value : 0xFFFD
            r += String(format: "%04X", v)
        }
        return r
    }
}
