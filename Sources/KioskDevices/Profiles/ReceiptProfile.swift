import Foundation
import KioskProtocols

/// Receipt printer profiles: validation of the `receipt` section and the encoder's view of it.
extension DeviceProfile {
    public enum StatusSupport: String, Sendable, Equatable {
        /// GS a automatic status back (unsolicited 4-byte blocks) plus DLE EOT.
        case asb
        /// DLE EOT n queries only.
        case dleEot = "dle-eot"
        /// One-way printer (USB printer protocol 1, or no IN endpoint): status "unknown".
        case none
    }

    public static let cuts = ["full", "partial", "none"]

    public var isReceiptPrinter: Bool { kind == "receiptPrinter" }

    /// How the printer reports its state.
    public var statusSupport: StatusSupport {
        guard let r = receipt else { return .none }
        if r.bidirectional == false { return .none }
        if let s = r.status, let v = StatusSupport(rawValue: s) { return v }
        return r.autoStatusBack == true ? .asb : .dleEot
    }

    /// Bytes per bulk write (≤ 4 KiB).
    public var writeChunkBytes: Int { min(4096, max(64, receipt?.chunkBytes ?? 4096)) }

    /// Checks the receipt section; the message names the field and what is allowed.
    public func validateReceiptPrinter() throws {
        func bad(_ field: String, _ what: String) -> DeviceProfileError {
            DeviceProfileError(description: "`\(field)` \(what)")
        }
        if let c = usb?.interfaceClass {
            if transport == "usb-printer" && c != 7 {
                throw bad(
                    "usb.interfaceClass",
                    "is 0x\(String(c, radix: 16)) but transport usb-printer means class 7; use transport usb-vendor for class FF"
                )
            }
        }
        guard let r = receipt else {
            throw bad("receipt", "is missing; a receipt printer needs paperWidthMM, dots and columns")
        }
        guard let w = r.paperWidthMM else { throw bad("receipt.paperWidthMM", "is missing; use 58 or 80") }
        guard [58, 76, 80, 82].contains(w) else { throw bad("receipt.paperWidthMM", "is \(w); use 58 or 80") }
        guard let dots = r.dots else { throw bad("receipt.dots", "is missing (384 for 58 mm, 576 or 512 for 80 mm)") }
        guard dots >= 128, dots <= 832, dots % 8 == 0 else {
            throw bad("receipt.dots", "is \(dots); it must be a multiple of 8 (384 for 58 mm, 576 or 512 for 80 mm)")
        }
        guard let cols = r.columns else {
            throw bad("receipt.columns", "is missing (font A: 32 for 58 mm, 42–48 for 80 mm)")
        }
        guard cols >= 16, cols <= 80 else {
            throw bad("receipt.columns", "is \(cols); font A has 32 (58 mm) or 42–48 (80 mm)")
        }
        if r.chineseMode ?? true {
            let e = (r.encoding ?? "GB18030").uppercased().replacingOccurrences(of: "-", with: "")
            guard e == "GB18030" else {
                throw bad(
                    "receipt.encoding", "is \(r.encoding ?? ""); only GB18030 is supported (or chineseMode: false)")
            }
        }
        if let q = r.maxQRSize, q < 1 || q > 16 { throw bad("receipt.maxQRSize", "is \(q); it must be 1…16") }
        if let c = r.cut, !Self.cuts.contains(c) { throw bad("receipt.cut", "is \(c); use full, partial or none") }
        if let s = r.status, StatusSupport(rawValue: s) == nil {
            throw bad("receipt.status", "is \(s); use asb, dle-eot or none")
        }
        if let c = r.chunkBytes, c < 64 || c > 4096 { throw bad("receipt.chunkBytes", "is \(c); it must be 64…4096") }
        if let b = r.rasterBandRows, b < 1 || b > 256 {
            throw bad("receipt.rasterBandRows", "is \(b); it must be 1…256")
        }
        if r.bufferClear != nil && bufferClearBytes == nil {
            throw bad("receipt.bufferClear", "must be hex bytes such as \"10 14 08 01 03 14 01 06 02 08\"")
        }
    }

    /// The encoder's view of a receipt printer profile; nil for other kinds or an incomplete section.
    public var receiptPrinterProfile: ReceiptPrinterProfile? {
        guard isReceiptPrinter, let r = receipt, let w = r.paperWidthMM, let dots = r.dots, let cols = r.columns else {
            return nil
        }
        let cut = r.cut ?? "partial"
        return ReceiptPrinterProfile(
            paperWidthMM: w, dots: dots, columns: cols,
            chineseMode: r.chineseMode ?? true, encoding: r.encoding ?? "GB18030",
            supportsQR: r.supportsQR ?? true, maxQRSize: UInt8(min(16, max(1, r.maxQRSize ?? 8))),
            supportsCut: cut != "none", partialCutOnly: cut == "partial",
            rasterBandRows: r.rasterBandRows ?? 256)
    }
}
