import Foundation
import KioskDevices

/// `kiosk-bench camera DIR`: time and bytes from a 5-megapixel document photo to the upload file
/// (decode with DCT scaling, box resize to 1600 px, JPEG quality 80). Writes the photo to
/// DIR/photo-5mp.jpg so the script can run ImageMagick on the same file in the same run.
func cameraBench(dir: String) throws -> [String: Double] {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // A synthetic page photographed at 2592×1944: dark strokes in lines on slightly tinted paper.
    let w = 2592
    let h = 1944
    var rgb = [UInt8](repeating: 0, count: w * h * 3)
    var state: UInt64 = 12345
    func rnd() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 33
    }
    for y in 0..<h {
        for x in 0..<w {
            let i = (y * w + x) * 3
            let shade = 226 + Int((x + y) % 17) / 4
            rgb[i] = UInt8(shade)
            rgb[i + 1] = UInt8(shade - 4)
            rgb[i + 2] = UInt8(shade - 14)
        }
    }
    var y = 120
    while y < h - 120 {
        var x = 200
        while x < w - 200 {
            let len = Int(rnd() % 90) + 20
            for yy in y..<(y + 14) {
                for xx in x..<min(x + len, w - 200) where rnd() % 5 != 0 {
                    let i = (yy * w + xx) * 3
                    rgb[i] = 40
                    rgb[i + 1] = 40
                    rgb[i + 2] = 50
                }
            }
            x += len + Int(rnd() % 20) + 10
        }
        y += 34
    }
    let photo = try JPEG.encode(PixelImage(width: w, height: h, channels: 3, pixels: rgb), quality: 92)
    try Data(photo).write(to: URL(fileURLWithPath: dir + "/photo-5mp.jpg"))
    let enc = UploadEncoding(longSide: 1600, quality: 80)
    var times: [Double] = []
    var out: [UInt8] = []
    for _ in 0..<7 {
        let t0 = now()
        out = try enc.encode(photo)
        times.append(now() - t0)
    }
    try Data(out).write(to: URL(fileURLWithPath: dir + "/upload-kiosk.jpg"))
    let t0 = now()
    _ = try CaptureQuality.check(jpeg: photo)
    let checkMs = (now() - t0) * 1000
    return [
        "camera_input_bytes": Double(photo.count), "camera_upload_bytes": Double(out.count),
        "camera_reencode_ms": median(times) * 1000, "camera_quality_check_ms": checkMs,
    ]
}
