// A readable listing of an ESC/POS stream (kioskctl escpos decode): one line per printed line or
// command, with the alignment and character size in force for text.

public enum ESCPOSReadableView {
    /// Renders `bytes` as text. Printed lines look like `C 2x2 | 受理回执` (alignment L/C/R, width x
    /// height, bold as `B`); commands look like `# cut (partial)`.
    public static func render(_ bytes: [UInt8]) -> String {
        var decoder = ESCPOSDecoder(chineseMode: true, reportFormatting: true)
        var events = decoder.feed(bytes)
        events += decoder.flush()
        var out: [String] = []
        var align = ReceiptAlign.left
        var size = (1, 1)
        var bold = false
        var qrModule: Int? = nil
        var stats = (lines: 0, qr: 0, cuts: 0, images: 0, unknown: 0)
        for e in events {
            switch e {
            case .line(let s):
                let a: String = align == .left ? "L" : align == .center ? "C" : "R"
                out.append("\(a) \(size.0)x\(size.1)\(bold ? " B" : "  ") | \(s)")
                stats.lines += 1
            case .align(let a): align = a
            case .size(let w, let h): size = (w, h)
            case .bold(let b): bold = b
            case .qrModuleSize(let n): qrModule = n
            case .initialize:
                out.append("# initialize (ESC @)")
                align = .left
                size = (1, 1)
                bold = false
            case .chineseMode(let on): out.append("# Chinese mode \(on ? "on (FS &), text is GB18030" : "off (FS .)")")
            case .qrCode(let s):
                out.append("# QR code\(qrModule.map { " (module \($0) dots)" } ?? ""): \(s)")
                stats.qr += 1
            case .barcode(let s): out.append("# barcode: \(s)")
            case .raster(let w, let h):
                out.append("# raster image \(w)x\(h) dots")
                stats.images += 1
            case .cut(let partial):
                out.append("# cut (\(partial ? "partial" : "full"))")
                stats.cuts += 1
            case .statusRequest(let n): out.append("# status request (DLE EOT \(n))")
            case .autoStatusBack(let m): out.append("# automatic status back (GS a 0x\(hex(m)))")
            case .endOfJobSentinel: out.append("# end-of-job sentinel (GS r 1)")
            case .unknown(let b):
                out.append("# other command: \(b.prefix(12).map(hex).joined(separator: " "))")
                stats.unknown += 1
            }
        }
        if !decoder.isIdle { out.append("# stream ends inside a command (truncated file?)") }
        out.append(
            "# \(bytes.count) bytes: \(stats.lines) lines, \(stats.qr) QR, \(stats.images) images, \(stats.cuts) cuts, \(stats.unknown) other commands"
        )
        return out.joined(separator: "\n")
    }

    static func hex(_ b: UInt8) -> String {
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }
}
