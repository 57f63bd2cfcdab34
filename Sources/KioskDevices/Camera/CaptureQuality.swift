import Foundation

/// Thresholds of the quality check (a camera profile's `quality:` section; defaults suit an A4
/// page under a document camera's lamp).
public struct QualityThresholds: Sendable, Equatable, Codable {
    /// Long side of the grey image the check looks at.
    public var analysisLongSide: Int?
    /// Mean brightness below this (0–255) is too dark.
    public var minMeanBrightness: Double?
    /// More than this fraction of pixels at 250 or above is overexposed.
    public var maxClippedFraction: Double?
    /// Standard deviation of brightness below this is a blank page.
    public var minContrast: Double?
    /// Variance of the Laplacian below this is blurred.
    public var minSharpness: Double?

    public init(
        analysisLongSide: Int? = nil, minMeanBrightness: Double? = nil, maxClippedFraction: Double? = nil,
        minContrast: Double? = nil, minSharpness: Double? = nil
    ) {
        self.analysisLongSide = analysisLongSide
        self.minMeanBrightness = minMeanBrightness
        self.maxClippedFraction = maxClippedFraction
        self.minContrast = minContrast
        self.minSharpness = minSharpness
    }

    var longSide: Int { analysisLongSide ?? 640 }
    var dark: Double { minMeanBrightness ?? 60 }
    var clipped: Double { maxClippedFraction ?? 0.35 }
    var contrast: Double { minContrast ?? 8 }
    var sharpness: Double { minSharpness ?? 120 }
}

/// The verdict on one capture, with the numbers behind it.
public struct QualityReport: Sendable, Equatable, Codable {
    public enum Verdict: String, Sendable, Codable { case ok, blank, tooDark, overexposed, blurred }
    public var verdict: Verdict
    public var width: Int
    public var height: Int
    public var meanBrightness: Double
    public var contrast: Double
    public var clippedFraction: Double
    public var sharpness: Double

    public var accepted: Bool { verdict == .ok }

    /// What the resident is asked to do (Chinese, short, says the next step).
    public var residentMessage: String {
        switch verdict {
        case .ok: return "拍摄清晰"
        case .blank: return "没有拍到材料，请把材料正面朝上放在拍摄区，然后重拍"
        case .tooDark: return "照片太暗，请把材料放在灯下拍摄区中间，然后重拍"
        case .overexposed: return "照片太亮看不清，请避开反光（如塑封膜），然后重拍"
        case .blurred: return "照片模糊，请把材料放平、不要移动，然后重拍"
        }
    }
}

/// Blank page, too dark, overexposed and blurred, judged on a downscaled grey image: mean and
/// standard deviation of brightness, the fraction of clipped pixels, and the variance of a
/// 4-neighbour Laplacian (low when edges are soft).
public enum CaptureQuality {
    public static func check(jpeg: [UInt8], thresholds t: QualityThresholds = QualityThresholds()) throws
        -> QualityReport
    {
        let (w, h) = try JPEG.size(of: jpeg)
        let grey = try JPEG.decode(jpeg, grey: true, minLongSide: t.longSide).downscaled(toLongSide: t.longSide)
        var r = analyse(grey)
        r.width = w
        r.height = h
        r.verdict = verdict(r, t)
        return r
    }

    public static func check(image: PixelImage, thresholds t: QualityThresholds = QualityThresholds()) -> QualityReport
    {
        var r = analyse(image.grey().downscaled(toLongSide: t.longSide))
        r.width = image.width
        r.height = image.height
        r.verdict = verdict(r, t)
        return r
    }

    static func verdict(_ r: QualityReport, _ t: QualityThresholds) -> QualityReport.Verdict {
        if r.meanBrightness < t.dark { return .tooDark }
        if r.clippedFraction > t.clipped { return .overexposed }
        if r.contrast < t.contrast { return .blank }
        if r.sharpness < t.sharpness { return .blurred }
        return .ok
    }

    static func analyse(_ g: PixelImage) -> QualityReport {
        let n = g.width * g.height
        var sum = 0
        var sumSq = 0
        var clipped = 0
        var lapSum = 0.0
        var lapSq = 0.0
        var lapN = 0
        g.pixels.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let v = Int(p[i])
                sum += v
                sumSq += v * v
                if v >= 250 { clipped += 1 }
            }
            if g.width >= 3 && g.height >= 3 {
                for y in 1..<(g.height - 1) {
                    let row = y * g.width
                    for x in 1..<(g.width - 1) {
                        let i = row + x
                        let l =
                            Int(p[i - 1]) + Int(p[i + 1]) + Int(p[i - g.width]) + Int(p[i + g.width]) - 4 * Int(p[i])
                        lapSum += Double(l)
                        lapSq += Double(l * l)
                        lapN += 1
                    }
                }
            }
        }
        let mean = n > 0 ? Double(sum) / Double(n) : 0
        let variance = n > 0 ? max(0, Double(sumSq) / Double(n) - mean * mean) : 0
        let lapMean = lapN > 0 ? lapSum / Double(lapN) : 0
        let lapVar = lapN > 0 ? max(0, lapSq / Double(lapN) - lapMean * lapMean) : 0
        return QualityReport(
            verdict: .ok, width: g.width, height: g.height,
            meanBrightness: (mean * 10).rounded() / 10, contrast: (variance.squareRoot() * 10).rounded() / 10,
            clippedFraction: n > 0 ? (Double(clipped) / Double(n) * 1000).rounded() / 1000 : 0,
            sharpness: (lapVar * 10).rounded() / 10)
    }
}
