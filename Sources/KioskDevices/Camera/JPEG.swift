import CTurboJPEG
import Foundation

/// An 8-bit image: 1 channel (grey) or 3 (RGB), rows packed.
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    public var longSide: Int { max(width, height) }

    /// Area-averaged downscale so the long side is at most `longSide` (never upscales).
    public func downscaled(toLongSide longSide: Int) -> PixelImage {
        guard longSide > 0, self.longSide > longSide else { return self }
        let scale = Double(longSide) / Double(self.longSide)
        let w = max(1, Int((Double(width) * scale).rounded()))
        let h = max(1, Int((Double(height) * scale).rounded()))
        return resized(width: w, height: h)
    }

    /// Box-filter resize (each output pixel averages the source area it covers).
    public func resized(width w: Int, height h: Int) -> PixelImage {
        if w == width && h == height { return self }
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let c = channels
        // Precompute column spans.
        var x0s = [Int](repeating: 0, count: w)
        var x1s = [Int](repeating: 0, count: w)
        for x in 0..<w {
            x0s[x] = x * width / w
            x1s[x] = max(x0s[x] + 1, (x + 1) * width / w)
        }
        pixels.withUnsafeBufferPointer { src in
            var acc = [Int](repeating: 0, count: c)
            for y in 0..<h {
                let y0 = y * height / h
                let y1 = max(y0 + 1, (y + 1) * height / h)
                for x in 0..<w {
                    for k in 0..<c { acc[k] = 0 }
                    let xa = x0s[x]
                    let xb = x1s[x]
                    for sy in y0..<y1 {
                        var i = (sy * width + xa) * c
                        for _ in xa..<xb {
                            for k in 0..<c { acc[k] += Int(src[i + k]) }
                            i += c
                        }
                    }
                    let n = (y1 - y0) * (xb - xa)
                    let o = (y * w + x) * c
                    for k in 0..<c { out[o + k] = UInt8((acc[k] + n / 2) / n) }
                }
            }
        }
        return PixelImage(width: w, height: h, channels: c, pixels: out)
    }

    /// ITU-R BT.601 luma.
    public func grey() -> PixelImage {
        guard channels == 3 else { return self }
        var out = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<(width * height) {
                let r = Int(p[3 * i])
                let g = Int(p[3 * i + 1])
                let b = Int(p[3 * i + 2])
                out[i] = UInt8((299 * r + 587 * g + 114 * b + 500) / 1000)
            }
        }
        return PixelImage(width: width, height: height, channels: 1, pixels: out)
    }
}

public struct JPEGError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// JPEG decode and encode with libjpeg-turbo's TurboJPEG API. Decoding can scale by 1/2, 1/4 or
/// 1/8 inside the decoder (DCT scaling), which is what makes a 5-megapixel photo cheap.
public enum JPEG {
    static func lastError(_ h: tjhandle?) -> String {
        guard let h, let s = tjGetErrorStr2(h) else { return "unknown TurboJPEG error" }
        return String(cString: s)
    }

    /// Width and height from the JPEG header.
    public static func size(of jpeg: [UInt8]) throws -> (width: Int, height: Int) {
        guard let h = tjInitDecompress() else { throw JPEGError(description: "TurboJPEG could not start") }
        defer { tjDestroy(h) }
        var w: Int32 = 0
        var ht: Int32 = 0
        var sub: Int32 = 0
        var cs: Int32 = 0
        let rc = jpeg.withUnsafeBufferPointer {
            tjDecompressHeader3(h, $0.baseAddress, UInt($0.count), &w, &ht, &sub, &cs)
        }
        guard rc == 0, w > 0, ht > 0 else { throw JPEGError(description: "not a JPEG image: \(lastError(h))") }
        return (Int(w), Int(ht))
    }

    /// Decodes, letting the decoder scale down by the largest factor that keeps the long side at
    /// least `minLongSide` (0 = full size).
    public static func decode(_ jpeg: [UInt8], grey: Bool, minLongSide: Int = 0) throws -> PixelImage {
        guard jpeg.count > 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else {
            throw JPEGError(description: "not a JPEG image (no SOI marker)")
        }
        guard let h = tjInitDecompress() else { throw JPEGError(description: "TurboJPEG could not start") }
        defer { tjDestroy(h) }
        var w: Int32 = 0
        var ht: Int32 = 0
        var sub: Int32 = 0
        var cs: Int32 = 0
        let hr = jpeg.withUnsafeBufferPointer {
            tjDecompressHeader3(h, $0.baseAddress, UInt($0.count), &w, &ht, &sub, &cs)
        }
        guard hr == 0, w > 0, ht > 0 else { throw JPEGError(description: "not a JPEG image: \(lastError(h))") }
        guard Int(w) * Int(ht) <= 64_000_000 else {
            throw JPEGError(description: "JPEG is \(w)×\(ht): larger than any document camera makes")
        }
        var outW = Int(w)
        var outH = Int(ht)
        if minLongSide > 0 {
            for denom in [8, 4, 2] {
                let sw = (Int(w) + denom - 1) / denom
                let sh = (Int(ht) + denom - 1) / denom
                if max(sw, sh) >= minLongSide {
                    outW = sw
                    outH = sh
                    break
                }
            }
        }
        let channels = grey ? 1 : 3
        var out = [UInt8](repeating: 0, count: outW * outH * channels)
        let pf = grey ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let rc = jpeg.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(h, src.baseAddress, UInt(src.count), dst.baseAddress, Int32(outW), 0, Int32(outH), pf, 0)
            }
        }
        if rc != 0 {
            // A warning (e.g. a truncated tail) still yields an image; a real error does not.
            if tjGetErrorCode(h) != Int32(TJERR_WARNING.rawValue) {
                throw JPEGError(description: "JPEG cannot be decoded: \(lastError(h))")
            }
        }
        return PixelImage(width: outW, height: outH, channels: channels, pixels: out)
    }

    /// Encodes with 4:2:0 chroma (grey images as single-channel JPEG).
    public static func encode(_ img: PixelImage, quality: Int) throws -> [UInt8] {
        guard let h = tjInitCompress() else { throw JPEGError(description: "TurboJPEG could not start") }
        defer { tjDestroy(h) }
        var buf: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let pf = img.channels == 1 ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let sub = img.channels == 1 ? Int32(TJSAMP_GRAY.rawValue) : Int32(TJSAMP_420.rawValue)
        let rc = img.pixels.withUnsafeBufferPointer {
            tjCompress2(
                h, $0.baseAddress, Int32(img.width), 0, Int32(img.height), pf, &buf, &size, sub,
                Int32(min(100, max(1, quality))), Int32(TJFLAG_FASTDCT))
        }
        defer { if let buf { tjFree(buf) } }
        guard rc == 0, let buf else { throw JPEGError(description: "JPEG encoding failed: \(lastError(h))") }
        return Array(UnsafeBufferPointer(start: buf, count: Int(size)))
    }
}

/// How accepted captures are re-encoded for upload (kiosk.yaml `devices.documentCamera.upload`).
public struct UploadEncoding: Sendable, Equatable, Codable {
    /// Long side in pixels of the upload image (ignored when `dpi` is set).
    public var longSide: Int?
    /// Resolution for an A4 page (297 mm long side): 150 dpi → 1754 px.
    public var dpi: Int?
    public var greyscale: Bool?
    public var quality: Int?
    /// Upload the camera's original JPEG unchanged instead (larger; off by default).
    public var keepOriginal: Bool?

    public init(
        longSide: Int? = nil, dpi: Int? = nil, greyscale: Bool? = nil, quality: Int? = nil, keepOriginal: Bool? = nil
    ) {
        self.longSide = longSide
        self.dpi = dpi
        self.greyscale = greyscale
        self.quality = quality
        self.keepOriginal = keepOriginal
    }

    public static let a4LongSideInches = 297.0 / 25.4

    public var targetLongSide: Int {
        if let dpi, dpi > 0 { return Int((Double(dpi) * Self.a4LongSideInches).rounded()) }
        return longSide ?? 1600
    }

    /// The upload file for a capture: decoded (scaled in the decoder where it can be), resized to
    /// the target long side, optionally grey, encoded at `quality` (default 80).
    public func encode(_ jpeg: [UInt8]) throws -> [UInt8] {
        if keepOriginal == true { return jpeg }
        let target = targetLongSide
        let img = try JPEG.decode(jpeg, grey: greyscale ?? false, minLongSide: target)
        return try JPEG.encode(img.downscaled(toLongSide: target), quality: quality ?? 80)
    }
}
