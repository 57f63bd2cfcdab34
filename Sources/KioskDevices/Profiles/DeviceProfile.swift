import Foundation
import KioskProtocols

/// One file of DeviceProfiles/ (schema in DeviceProfiles/README.md). Decoded by KioskApp (YAML);
/// `validate()` says what to fix, naming the field.
public struct DeviceProfile: Codable, Sendable, Equatable {
    public struct USB: Codable, Sendable, Equatable {
        public var vendorId: Int?
        public var productId: Int?
        public var interfaceClass: Int?
        public var endpoints: Endpoints?
        public init(vendorId: Int? = nil, productId: Int? = nil, interfaceClass: Int? = nil, endpoints: Endpoints? = nil) {
            self.vendorId = vendorId; self.productId = productId; self.interfaceClass = interfaceClass; self.endpoints = endpoints
        }
    }
    public struct Endpoints: Codable, Sendable, Equatable {
        public var out: Int?
        public var `in`: Int?
    }
    public struct Serial: Codable, Sendable, Equatable {
        public var baud: Int?
    }
    public enum Cut: String, Codable, Sendable { case full, partial, none }
    /// How the printer reports its state: `asb` (GS a, plus DLE EOT), `dle-eot` (DLE EOT only),
    /// `none` (one-way printer: status "unknown").
    public enum StatusSupport: String, Codable, Sendable { case asb, dleEot = "dle-eot", none }

    public struct Receipt: Codable, Sendable, Equatable {
        public var paperWidthMM: Int
        public var dots: Int
        public var columns: Int
        public var chineseMode: Bool?
        public var encoding: String?
        public var supportsQR: Bool?
        public var maxQRSize: Int?
        public var cut: Cut?
        public var status: StatusSupport?
        /// Bytes per bulk write (64...4096); paced 10 ms apart.
        public var chunkBytes: Int?
        /// Rows per GS v 0 band (1...256).
        public var rasterBandRows: Int?
        /// Overrides `status`: false means one-way (kept for older profiles).
        public var bidirectional: Bool?

        public init(paperWidthMM: Int, dots: Int, columns: Int, chineseMode: Bool? = true, encoding: String? = "GB18030",
                    supportsQR: Bool? = true, maxQRSize: Int? = 8, cut: Cut? = .partial, status: StatusSupport? = .dleEot,
                    chunkBytes: Int? = 4096, rasterBandRows: Int? = 256, bidirectional: Bool? = nil) {
            self.paperWidthMM = paperWidthMM; self.dots = dots; self.columns = columns; self.chineseMode = chineseMode
            self.encoding = encoding; self.supportsQR = supportsQR; self.maxQRSize = maxQRSize; self.cut = cut
            self.status = status; self.chunkBytes = chunkBytes; self.rasterBandRows = rasterBandRows
            self.bidirectional = bidirectional
        }

        public var statusSupport: StatusSupport {
            if bidirectional == false { return .none }
            return status ?? .dleEot
        }
    }

    public var id: String
    public var name: String
    public var kind: DeviceKind
    /// simulator | usb-printer | usb-vendor | usb-bulk | serial | hid-a | hid-b | v4l2 | cups
    public var transport: String
    public var usb: USB?
    public var serial: Serial?
    public var `protocol`: String
    public var receipt: Receipt?
    public var quirks: [String]?
    public var verified: Bool?

    public init(id: String, name: String, kind: DeviceKind, transport: String, usb: USB? = nil, serial: Serial? = nil,
                protocol: String, receipt: Receipt? = nil, quirks: [String]? = nil, verified: Bool? = false) {
        self.id = id; self.name = name; self.kind = kind; self.transport = transport; self.usb = usb; self.serial = serial
        self.protocol = `protocol`; self.receipt = receipt; self.quirks = quirks; self.verified = verified
    }

    public static let transports: Set<String> = ["simulator", "usb-printer", "usb-vendor", "usb-bulk", "serial", "hid-a", "hid-b", "v4l2", "cups"]

    /// Checks the values; the message names the profile and field and says what is allowed.
    public func validate() throws {
        func bad(_ field: String, _ what: String) -> ProfileError { ProfileError("profile \(id): `\(field)` \(what)") }
        guard id.range(of: "^[a-z0-9][a-z0-9-]{0,63}$", options: .regularExpression) != nil else {
            throw ProfileError("profile id \"\(id)\" must be lower-case letters, digits and '-' (it is used in kiosk.yaml)")
        }
        guard Self.transports.contains(transport) else {
            throw bad("transport", "is \(transport); use one of \(Self.transports.sorted().joined(separator: ", "))")
        }
        if let u = usb {
            for (f, v, maxV) in [("usb.vendorId", u.vendorId, 0xFFFF), ("usb.productId", u.productId, 0xFFFF), ("usb.interfaceClass", u.interfaceClass, 0xFF)] {
                if let v, v < 0 || v > maxV { throw bad(f, "is \(v); it must be 0…0x\(String(maxV, radix: 16, uppercase: true))") }
            }
        }
        if transport == "usb-printer", let c = usb?.interfaceClass, c != 7 {
            throw bad("usb.interfaceClass", "is 0x\(String(c, radix: 16)) but transport usb-printer means class 7; use transport usb-vendor for class FF")
        }
        guard kind == .receiptPrinter else { return }
        guard let r = receipt else { throw bad("receipt", "is missing; a receipt printer needs paperWidthMM, dots and columns") }
        guard [58, 76, 80, 82].contains(r.paperWidthMM) else { throw bad("receipt.paperWidthMM", "is \(r.paperWidthMM); use 58 or 80") }
        guard r.dots >= 128, r.dots <= 832, r.dots % 8 == 0 else {
            throw bad("receipt.dots", "is \(r.dots); it must be a multiple of 8 (384 for 58 mm, 576 or 512 for 80 mm)")
        }
        guard r.columns >= 16, r.columns <= 80 else { throw bad("receipt.columns", "is \(r.columns); font A has 32 (58 mm) or 42–48 (80 mm)") }
        if r.chineseMode ?? true {
            let e = (r.encoding ?? "GB18030").uppercased().replacingOccurrences(of: "-", with: "")
            guard e == "GB18030" else { throw bad("receipt.encoding", "is \(r.encoding ?? ""); only GB18030 is supported (or chineseMode: false)") }
        }
        if let q = r.maxQRSize, q < 1 || q > 16 { throw bad("receipt.maxQRSize", "is \(q); it must be 1…16") }
        if let c = r.chunkBytes, c < 64 || c > 4096 { throw bad("receipt.chunkBytes", "is \(c); it must be 64…4096") }
        if let b = r.rasterBandRows, b < 1 || b > 256 { throw bad("receipt.rasterBandRows", "is \(b); it must be 1…256") }
    }

    /// The encoder's view of a receipt printer profile; nil for other kinds.
    public var receiptPrinterProfile: ReceiptPrinterProfile? {
        guard let r = receipt else { return nil }
        let cut = r.cut ?? .partial
        return ReceiptPrinterProfile(paperWidthMM: r.paperWidthMM, dots: r.dots, columns: r.columns,
                                     chineseMode: r.chineseMode ?? true, encoding: r.encoding ?? "GB18030",
                                     supportsQR: r.supportsQR ?? true, maxQRSize: UInt8(min(16, max(1, r.maxQRSize ?? 8))),
                                     supportsCut: cut != .none, partialCutOnly: cut == .partial,
                                     rasterBandRows: r.rasterBandRows ?? 256)
    }
}

public struct ProfileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
