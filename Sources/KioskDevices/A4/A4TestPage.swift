import Foundation
import KioskProtocols

/// A minimal one-page A4 PDF with a few lines of ASCII text (Helvetica), for `kioskctl print test-a4`
/// and the CUPS tests. Non-ASCII characters become '?': the technician page needs no fonts.
public enum A4TestPage {
    public static func pdf(lines: [String]) -> Data {
        func escape(_ s: String) -> String {
            var r = ""
            for u in s.unicodeScalars {
                switch u {
                case "(", ")", "\\": r += "\\" + String(u)
                case " "..."~": r.unicodeScalars.append(u)
                default: r += "?"
                }
            }
            return r
        }
        var stream = "BT /F1 16 Tf 72 770 Td 20 TL"
        for l in lines { stream += " (\(escape(l))) ' " }
        stream += " ET"
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            "<< /Length \(stream.utf8.count) >>\nstream\n\(stream)\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
        return TextPDF.assemble(objects)
    }
}
