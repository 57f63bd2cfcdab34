// Receipt documents: what to print, independent of the printer's command set.

/// A receipt: a list of elements printed top to bottom.
public struct ReceiptDocument: Sendable, Equatable {
    public var elements: [ReceiptElement]
    public init(_ elements: [ReceiptElement] = []) {
        self.elements = elements
    }
}

public enum ReceiptAlign: Sendable, Equatable, Hashable, Codable {
    case left, center, right
}

public enum ReceiptElement: Sendable, Equatable {
    /// Centred, double width and height (so half the columns).
    case title(String)
    /// Wrapped at the paper width; embedded "\n" starts a new line.
    case text(String, align: ReceiptAlign = .left, bold: Bool = false)
    /// Text at `width` × `height` character size (1-8 each, GS !); wrapped at columns / width so a
    /// line never runs past the paper at that size.
    case scaled(String, width: Int, height: Int, align: ReceiptAlign = .left, bold: Bool = false)
    /// Key on the left, value right-aligned on the same line; a long value wraps onto following
    /// lines (right-aligned), a long key wraps first.
    case keyValue(String, String)
    /// A line of ASCII '-' across the width.
    case separator
    /// QR code (model 2, ECC M). The payload is stored as UTF-8 bytes; keep it ASCII for scanners.
    /// `size` is the module size in dots (1-16), capped at the profile's `maxQRSize` and reduced
    /// if the symbol (plus a 4-module quiet zone) would not fit the paper, down to 3 dots per module.
    case qr(String, size: UInt8 = 6)
    /// CODE128 (code set B, printable ASCII), HRI text below.
    case barcode(String)
    /// A monochrome raster image, centred.
    case logo(RasterImage)
    /// Feed `n` blank lines.
    case feed(Int)
    /// Cut the paper (or just feed if the printer has no cutter).
    case cut(partial: Bool)
}

/// A 1-bit image: row-major, MSB = leftmost dot, `(widthDots + 7) / 8` bytes per row, 1 = black.
public struct RasterImage: Sendable, Equatable {
    public var widthDots: Int
    public var heightDots: Int
    public var bits: [UInt8]

    public init(widthDots: Int, heightDots: Int, bits: [UInt8]) {
        self.widthDots = widthDots
        self.heightDots = heightDots
        self.bits = bits
    }

    public var bytesPerRow: Int { (widthDots + 7) / 8 }

    /// An all-white image of the given size.
    public init(widthDots: Int, heightDots: Int) {
        self.init(
            widthDots: widthDots, heightDots: heightDots,
            bits: [UInt8](repeating: 0, count: max(0, (widthDots + 7) / 8 * heightDots)))
    }
}

/// What a receipt printer model can do.
public struct ReceiptPrinterProfile: Sendable, Equatable, Codable {
    public var paperWidthMM: Int
    /// Printable dots per line (384 for 58 mm, 576 for 80 mm).
    public var dots: Int
    /// Font A ASCII columns: 32 for 58 mm, 48 for 80 mm. A Chinese character takes 2.
    public var columns: Int
    /// Send FS & and print GB18030 two-byte text; otherwise ASCII only.
    public var chineseMode: Bool
    /// Text encoding in Chinese mode; only "GB18030" is supported.
    public var encoding: String
    public var supportsQR: Bool
    /// Largest QR module size the model accepts (16 on Epson, 8 on some).
    public var maxQRSize: UInt8
    public var supportsCut: Bool
    public var partialCutOnly: Bool
    /// Rows per GS v 0 band: 256, or 128 on low-cache printers.
    public var rasterBandRows: Int

    public init(
        paperWidthMM: Int, dots: Int, columns: Int, chineseMode: Bool = true, encoding: String = "GB18030",
        supportsQR: Bool = true, maxQRSize: UInt8 = 8, supportsCut: Bool = true, partialCutOnly: Bool = false,
        rasterBandRows: Int = 256
    ) {
        self.paperWidthMM = paperWidthMM
        self.dots = dots
        self.columns = columns
        self.chineseMode = chineseMode
        self.encoding = encoding
        self.supportsQR = supportsQR
        self.maxQRSize = maxQRSize
        self.supportsCut = supportsCut
        self.partialCutOnly = partialCutOnly
        self.rasterBandRows = rasterBandRows
    }

    /// Typical 58 mm kiosk printer: 384 dots, 32 columns, partial cut only, small image cache.
    public static let mm58 = ReceiptPrinterProfile(
        paperWidthMM: 58, dots: 384, columns: 32, chineseMode: true, encoding: "GB18030",
        supportsQR: true, maxQRSize: 8, supportsCut: true, partialCutOnly: true, rasterBandRows: 128)

    /// Typical 80 mm kiosk printer: 576 dots, 48 columns, full and partial cut.
    public static let mm80 = ReceiptPrinterProfile(
        paperWidthMM: 80, dots: 576, columns: 48, chineseMode: true, encoding: "GB18030",
        supportsQR: true, maxQRSize: 8, supportsCut: true, partialCutOnly: false, rasterBandRows: 256)
}
