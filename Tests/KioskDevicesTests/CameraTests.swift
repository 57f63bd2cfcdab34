import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices
#if canImport(Glibc)
    import Glibc
#endif

/// Synthetic document images: a page of "text" (dark strokes in lines on near-white paper),
/// and the same page blurred, blank, dark and overexposed.
enum TestPages {
    static func textPage(width: Int = 1240, height: Int = 1754, seed: UInt64 = 42) -> PixelImage {
        var rng = SplitMix(seed: seed)
        var px = [UInt8](repeating: 238, count: width * height)
        let margin = width / 12
        var y = height / 14
        let lineHeight = max(8, height / 60)
        while y + lineHeight < height - height / 14 {
            var x = margin
            while x < width - margin {
                let word = Int(rng.next() % 6 + 2)
                for _ in 0..<word {  // glyphs: a few strokes each
                    let gw = lineHeight * 2 / 3
                    for s in 0..<3 {
                        let vertical = rng.next() % 2 == 0
                        let sx = x + Int(rng.next() % UInt64(max(1, gw - 2)))
                        let sy = y + Int(rng.next() % UInt64(max(1, lineHeight - 2)))
                        let len = vertical ? lineHeight - (sy - y) : gw - (sx - x)
                        for k in 0..<max(1, len) {
                            let (cx, cy) = vertical ? (sx, sy + k) : (sx + k, sy)
                            for t in 0..<2 where cx + (vertical ? t : 0) < width && cy + (vertical ? 0 : t) < height {
                                px[(cy + (vertical ? 0 : t)) * width + cx + (vertical ? t : 0)] = UInt8(30 + s * 10)
                            }
                        }
                    }
                    x += gw + 2
                    if x >= width - margin { break }
                }
                x += lineHeight
            }
            y += lineHeight * 2
        }
        return PixelImage(width: width, height: height, channels: 1, pixels: px)
    }

    static func blurred(_ img: PixelImage, radius: Int) -> PixelImage {
        // Separable box blur, applied twice (close to a Gaussian).
        var cur = img.pixels
        let w = img.width
        let h = img.height
        for _ in 0..<2 {
            var tmp = cur
            for y in 0..<h {
                var acc = 0
                for x in -radius...radius { acc += Int(cur[y * w + min(max(x, 0), w - 1)]) }
                for x in 0..<w {
                    tmp[y * w + x] = UInt8(acc / (2 * radius + 1))
                    acc += Int(cur[y * w + min(x + radius + 1, w - 1)]) - Int(cur[y * w + max(x - radius, 0)])
                }
            }
            for x in 0..<w {
                var acc = 0
                for y in -radius...radius { acc += Int(tmp[min(max(y, 0), h - 1) * w + x]) }
                for y in 0..<h {
                    cur[y * w + x] = UInt8(acc / (2 * radius + 1))
                    acc += Int(tmp[min(y + radius + 1, h - 1) * w + x]) - Int(tmp[max(y - radius, 0) * w + x])
                }
            }
        }
        return PixelImage(width: w, height: h, channels: 1, pixels: cur)
    }

    static func mapped(_ img: PixelImage, _ f: (Int) -> Int) -> PixelImage {
        PixelImage(
            width: img.width, height: img.height, channels: 1,
            pixels: img.pixels.map { UInt8(min(255, max(0, f(Int($0))))) })
    }

    static func blank(width: Int = 1240, height: Int = 1754) -> PixelImage {
        var rng = SplitMix(seed: 7)
        return PixelImage(
            width: width, height: height, channels: 1,
            pixels: (0..<(width * height)).map { _ in UInt8(236 + Int(rng.next() % 5)) })
    }

    static func jpeg(_ img: PixelImage, quality: Int = 85) throws -> [UInt8] { try JPEG.encode(img, quality: quality) }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct CameraQualityTests {
    let page = TestPages.textPage()

    @Test func sharpTextPageIsAccepted() throws {
        let r = try CaptureQuality.check(jpeg: TestPages.jpeg(page))
        #expect(r.verdict == .ok, "\(r)")
        #expect(r.width == 1240 && r.height == 1754)
    }

    @Test func blurredPageIsRejectedWithARetakeMessage() throws {
        let r = try CaptureQuality.check(jpeg: TestPages.jpeg(TestPages.blurred(page, radius: 6)))
        #expect(r.verdict == .blurred, "\(r)")
        #expect(r.residentMessage.contains("重拍"))
    }

    @Test func blankPageIsRejected() throws {
        let r = try CaptureQuality.check(jpeg: TestPages.jpeg(TestPages.blank()))
        #expect(r.verdict == .blank, "\(r)")
        #expect(r.residentMessage.contains("重拍"))
    }

    @Test func darkPageIsRejected() throws {
        let r = try CaptureQuality.check(jpeg: TestPages.jpeg(TestPages.mapped(page) { $0 / 6 }))
        #expect(r.verdict == .tooDark, "\(r)")
    }

    @Test func overexposedPageIsRejected() throws {
        let r = try CaptureQuality.check(jpeg: TestPages.jpeg(TestPages.mapped(page) { $0 + 200 }))
        #expect(r.verdict == .overexposed, "\(r)")
    }

    @Test func thresholdsComeFromTheProfile() throws {
        let strict = QualityThresholds(minSharpness: 1_000_000)
        #expect(try CaptureQuality.check(jpeg: TestPages.jpeg(page), thresholds: strict).verdict == .blurred)
        let p = try DeviceProfiles.parse(
            yaml: """
                id: cam
                name: cam
                kind: documentCamera
                transport: v4l2
                camera: { width: 2592, height: 1944, quality: { minSharpness: 50, minMeanBrightness: 40 } }
                """, name: "cam.yaml")
        #expect(p.camera?.quality?.minSharpness == 50)
        #expect(p.camera?.width == 2592)
    }

    @Test func shippedDemoFixturesPass() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../kiosk-config/fixtures/camera"
        ).standardizedFileURL.path
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasSuffix(".jpg") {
            let data = try #require(FileManager.default.contents(atPath: dir + "/" + f))
            let r = try CaptureQuality.check(jpeg: [UInt8](data))
            #expect(r.verdict == .ok, "\(f): \(r)")
        }
    }

    @Test func notAJPEGIsAClearError() {
        #expect(throws: JPEGError.self) { try CaptureQuality.check(jpeg: [1, 2, 3, 4, 5]) }
        #expect(throws: JPEGError.self) { try CaptureQuality.check(jpeg: [0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0, 0]) }
    }
}

@Suite struct UploadEncodingTests {
    /// A 5-megapixel colour "photo" of a page.
    static let fiveMP: [UInt8] = {
        let g = TestPages.textPage(width: 2592, height: 1944, seed: 3)
        var rgb = [UInt8](repeating: 0, count: g.width * g.height * 3)
        for i in 0..<(g.width * g.height) {
            let v = g.pixels[i]
            rgb[3 * i] = v
            rgb[3 * i + 1] = v &- (v > 200 ? 8 : 0)
            rgb[3 * i + 2] = v &- (v > 200 ? 20 : 0)
        }
        return try! JPEG.encode(PixelImage(width: g.width, height: g.height, channels: 3, pixels: rgb), quality: 92)
    }()

    @Test func reencodedUploadDecodesAndMeetsTheLongSide() throws {
        let out = try UploadEncoding(longSide: 1600, quality: 80).encode(Self.fiveMP)
        let (w, h) = try JPEG.size(of: out)
        #expect(max(w, h) == 1600)
        #expect(w == 1600 && h == 1200)
        #expect(out.count < Self.fiveMP.count / 2, "\(out.count) vs \(Self.fiveMP.count)")
        let decoded = try JPEG.decode(out, grey: false)
        #expect(decoded.width == 1600)
        #expect(try CaptureQuality.check(jpeg: out).verdict == .ok, "still readable after re-encoding")
    }

    @Test func dpiGreyscaleAndKeepOriginal() throws {
        let e = UploadEncoding(dpi: 150, greyscale: true, quality: 70)
        #expect(e.targetLongSide == 1754)
        let out = try e.encode(Self.fiveMP)
        #expect(try JPEG.size(of: out).width == 1754)
        let colour = try UploadEncoding(dpi: 150, quality: 70).encode(Self.fiveMP)
        #expect(out.count < colour.count, "greyscale is smaller")
        #expect(try UploadEncoding(keepOriginal: true).encode(Self.fiveMP) == Self.fiveMP)
    }

    @Test func smallCapturesAreNotUpscaled() throws {
        let small = try TestPages.jpeg(TestPages.textPage(width: 800, height: 600))
        let out = try UploadEncoding(longSide: 1600).encode(small)
        #expect(try JPEG.size(of: out).width == 800)
    }
}

/// A V4L2 device that plays back recorded frames and writes down every call.
class RecordedV4L2Device: V4L2Device, @unchecked Sendable {
    let lock = NSLock()
    var frames: [[UInt8]]
    var sizes = [
        V4L2FrameSize(width: 640, height: 480), V4L2FrameSize(width: 2592, height: 1944),
        V4L2FrameSize(width: 1920, height: 1080),
    ]
    var formatsOffered = [FourCC.code("YUYV"), FourCC.mjpeg]
    var calls: [String] = []
    var queued: [Int] = []
    var mapped: Set<Int> = []
    var open = false
    var next = 0
    /// Frames delivered before the camera goes silent (timeout).
    var silentAfter: Int?
    /// Frames delivered before the cable is pulled.
    var unplugAfter: Int?
    var delivered = 0
    var unplugged = false
    /// Flags per delivered frame (1-based delivery number), e.g. V4L2_BUF_FLAG_ERROR.
    var flagsAt: [Int: UInt32] = [:]
    /// Frame spacing on the buffer clock (uvcvideo: monotonic timestamps).
    var frameIntervalMilliseconds = 33
    /// Controls the camera has (QUERYCTRL answers), and what S_CTRL set.
    var controls: Set<UInt32> = [V4L2DequeuedBuffer.powerLineFrequencyControl]
    var controlValues: [UInt32: Int32] = [:]

    init(frames: [[UInt8]]) { self.frames = frames }

    func log(_ s: String) { calls.append(s) }
    func call(_ s: String) -> [String] { lock.withLock { calls } }

    func open(path: String) throws {
        try lock.withLock {
            if unplugged { throw V4L2Error(operation: "open \(path)", code: ENOENT) }
            log("open \(path)")
            open = true
        }
    }
    func queryCapabilities() throws -> (card: String, capture: Bool, streaming: Bool) {
        lock.withLock {
            log("QUERYCAP")
            return ("Test Document Camera", true, true)
        }
    }
    func formats() throws -> [UInt32] {
        lock.withLock {
            log("ENUM_FMT")
            return formatsOffered
        }
    }
    func frameSizes(_ fourcc: UInt32) throws -> [V4L2FrameSize] {
        lock.withLock {
            log("ENUM_FRAMESIZES \(FourCC.name(fourcc))")
            return sizes
        }
    }
    func setFormat(_ fourcc: UInt32, _ size: V4L2FrameSize) throws -> (size: V4L2FrameSize, sizeImage: Int) {
        lock.withLock {
            log("S_FMT \(FourCC.name(fourcc)) \(size.width)x\(size.height)")
            return (size, size.width * size.height)
        }
    }
    func requestBuffers(_ count: Int) throws -> Int {
        lock.withLock {
            log("REQBUFS \(count)")
            if count == 0 { queued = [] }
            return count
        }
    }
    func mapBuffer(_ index: Int) throws -> Int {
        lock.withLock {
            log("QUERYBUF+mmap \(index)")
            mapped.insert(index)
            return 1 << 20
        }
    }
    func queueBuffer(_ index: Int) throws {
        try lock.withLock {
            if unplugged { throw V4L2Error(operation: "QBUF", code: ENODEV) }
            precondition(mapped.contains(index), "QBUF of an unmapped buffer")
            precondition(!queued.contains(index), "buffer \(index) queued twice")
            log("QBUF \(index)")
            queued.append(index)
        }
    }
    func streamOn() throws { lock.withLock { log("STREAMON") } }
    func streamOff() throws { lock.withLock { log("STREAMOFF") } }
    func waitForFrame(timeoutMilliseconds: Int) throws -> Bool {
        try lock.withLock {
            if let u = unplugAfter, delivered >= u {
                unplugged = true
                throw V4L2Error(operation: "poll", code: ENODEV)
            }
            if let s = silentAfter, delivered >= s {
                log("poll timeout")
                return false
            }
            return !queued.isEmpty
        }
    }
    func dequeueBuffer() throws -> V4L2DequeuedBuffer {
        try lock.withLock {
            guard !queued.isEmpty else { throw V4L2Error(operation: "DQBUF", code: EAGAIN) }
            let i = queued.removeFirst()
            delivered += 1
            log("DQBUF \(i)")
            return V4L2DequeuedBuffer(
                index: i, bytesUsed: frames[(delivered - 1) % frames.count].count, flags: flagsAt[delivered] ?? 0,
                timestamp: .seconds(100) + .milliseconds(delivered * frameIntervalMilliseconds))
        }
    }
    func setControl(_ id: UInt32, value: Int32) throws -> Bool {
        lock.withLock {
            guard controls.contains(id) else {
                log("QUERYCTRL \(String(id, radix: 16)) EINVAL")
                return false
            }
            log("S_CTRL \(String(id, radix: 16))=\(value)")
            controlValues[id] = value
            return true
        }
    }
    func bytes(ofBuffer index: Int, count: Int) -> [UInt8] { lock.withLock { frames[(delivered - 1) % frames.count] } }
    func unmapAll() {
        lock.withLock {
            if !mapped.isEmpty { log("munmap") }
            mapped = []
        }
    }
    func close() {
        lock.withLock {
            if open { log("close") }
            open = false
        }
    }
}

@Suite struct V4L2CaptureTests {
    static let frame = try! TestPages.jpeg(TestPages.textPage(width: 640, height: 480))

    @Test func ioctlSequenceAndBufferCycling() async throws {
        let dev = RecordedV4L2Device(frames: [Self.frame])
        let src = V4L2FrameSource(
            device: dev, settings: V4L2Settings(path: "/dev/video0", buffers: 4, settleFrames: 2, settleMilliseconds: 0)
        )
        try await src.start()
        #expect(src.captureSize == V4L2FrameSize(width: 2592, height: 1944), "largest MJPEG size")
        for _ in 0..<3 { _ = try await src.nextJPEG() }
        await src.stop()
        let calls = dev.call("")
        #expect(
            Array(calls.prefix(7)) == [
                "open /dev/video0", "QUERYCAP", "ENUM_FMT", "ENUM_FRAMESIZES MJPG", "S_FMT MJPG 2592x1944",
                "S_CTRL 980918=1", "REQBUFS 4",
            ], "power-line frequency 50 Hz before the buffers")
        #expect(calls.contains("STREAMON"))
        let dq = calls.filter { $0.hasPrefix("DQBUF") }
        #expect(dq.count == 2 + 3, "2 settle frames dropped before the first capture, then one per capture")
        #expect(dq == ["DQBUF 0", "DQBUF 1", "DQBUF 2", "DQBUF 3", "DQBUF 0"], "buffers cycle")
        // Every dequeued buffer is queued again right away.
        let qAfterStream = calls.drop { $0 != "STREAMON" }.filter { $0.hasPrefix("QBUF") }
        #expect(qAfterStream.count == dq.count)
        #expect(Array(calls.suffix(4)) == ["STREAMOFF", "munmap", "REQBUFS 0", "close"])
    }

    @Test func profileSizeWinsOverTheLargest() async throws {
        let dev = RecordedV4L2Device(frames: [Self.frame])
        let src = V4L2FrameSource(
            device: dev, settings: V4L2Settings(path: "/dev/video2", size: V4L2FrameSize(width: 1920, height: 1080)))
        try await src.start()
        await src.stop()
        #expect(dev.call("").contains("S_FMT MJPG 1920x1080"))
    }

    @Test func aCameraWithoutMJPEGIsRefusedClearly() async throws {
        let dev = RecordedV4L2Device(frames: [Self.frame])
        dev.formatsOffered = [FourCC.code("YUYV")]
        let src = V4L2FrameSource(device: dev, settings: V4L2Settings(path: "/dev/video0"))
        do {
            try await src.start()
            Issue.record("started without MJPEG")
        } catch let e as DeviceError {
            #expect(e.description.contains("no MJPEG"))
        }
        #expect(dev.call("").last == "close")
    }

    @Test func timeoutGivesARetakeAndTheNextCaptureWorks() async throws {
        let dev = RecordedV4L2Device(frames: [Self.frame])
        dev.silentAfter = 1
        let cam = DocumentCamera(
            source: V4L2FrameSource(
                device: dev,
                settings: V4L2Settings(
                    path: "/dev/video0", settleFrames: 0, settleMilliseconds: 0, frameTimeoutMilliseconds: 100)),
            logger: Logger(label: "cam"), checkQuality: false)
        _ = try await cam.capture()
        do {
            _ = try await cam.capture()
            Issue.record("no timeout")
        } catch let e as DeviceError {
            #expect(e.description.contains("no frame within 100 ms"))
            #expect(e.residentMessage.contains("重拍"))
        }
        #expect(dev.call("").contains("poll timeout"))
        #expect(dev.call("").last == "close", "torn down after the failure")
        dev.lock.withLock { dev.silentAfter = nil }
        _ = try await cam.capture()
    }

    @Test func unplugIsReportedAndTheCameraIsReopenedWhenBack() async throws {
        let dev = RecordedV4L2Device(frames: [Self.frame])
        dev.unplugAfter = 1
        let cam = DocumentCamera(
            source: V4L2FrameSource(
                device: dev, settings: V4L2Settings(path: "/dev/video0", settleFrames: 0, settleMilliseconds: 0)),
            logger: Logger(label: "cam"), checkQuality: false)
        _ = try await cam.capture()
        await #expect(throws: DeviceError.self) { try await cam.capture() }
        #expect(await cam.status().state == .powerOff)
        await #expect(throws: DeviceError.self) { try await cam.capture() }  // still unplugged: open fails
        dev.lock.withLock {
            dev.unplugged = false
            dev.unplugAfter = nil
        }  // plugged back in
        _ = try await cam.capture()
        #expect(await cam.status().state == .online)
        #expect(dev.call("").filter { $0 == "open /dev/video0" }.count >= 3, "reopened")
    }

    @Test func qualityCheckRejectsABlurredCaptureThroughTheCamera() async throws {
        let blurred = try TestPages.jpeg(TestPages.blurred(TestPages.textPage(), radius: 6))
        let dev = RecordedV4L2Device(frames: [blurred])
        let cam = DocumentCamera(
            source: V4L2FrameSource(
                device: dev, settings: V4L2Settings(path: "/dev/video0", settleFrames: 0, settleMilliseconds: 0)),
            logger: Logger(label: "cam"))
        do {
            _ = try await cam.capture()
            Issue.record("blurred capture accepted")
        } catch let e as DeviceError {
            #expect(
                e.residentMessage
                    == QualityReport(
                        verdict: .blurred, width: 0, height: 0, meanBrightness: 0, contrast: 0, clippedFraction: 0,
                        sharpness: 0
                    ).residentMessage)
        }
        #expect(await cam.status().counters["rejected"] == 1)
    }
}

/// Issue 18 point 6: frames as uvcvideo delivers them.
@Suite struct V4L2FieldFrameTests {
    static let bright = try! TestPages.jpeg(TestPages.textPage(width: 640, height: 480))
    static let dark = try! TestPages.jpeg(TestPages.mapped(TestPages.textPage(width: 640, height: 480)) { $0 / 8 })

    @Test func flaggedAndTornFramesAreDropped() async throws {
        // Frame 1 flagged ERROR (its bytes are a whole JPEG: the flag alone must drop it), frame 2
        // cut short (starts like a JPEG, no end marker), frame 3 not JPEG at all, frame 4 good.
        let torn = Array(Self.bright.prefix(Self.bright.count / 2))
        let other = try TestPages.jpeg(TestPages.textPage(width: 640, height: 480, seed: 7))
        let dev = RecordedV4L2Device(frames: [other, torn, [0x00, 0x00, 0x01, 0x02, 0x03, 0x04], Self.bright])
        dev.flagsAt = [1: V4L2DequeuedBuffer.flagError]
        let src = V4L2FrameSource(
            device: dev, settings: V4L2Settings(path: "/dev/video0", settleFrames: 0, settleMilliseconds: 0))
        try await src.start()
        let got = try await src.nextJPEG()
        await src.stop()
        #expect(Array(got) == Self.bright)
        #expect(src.droppedFrames == 3)
    }

    @Test func aJPEGPaddedAfterItsEndIsAccepted() {
        #expect(isCompleteJPEG(Self.bright + [0, 0, 0, 0]))
        #expect(!isCompleteJPEG(Array(Self.bright.dropLast(2))))
        #expect(isCompleteJPEG([0xFF, 0xD8, 0x00, 0xFF, 0xD9]))
        #expect(!isCompleteJPEG([0x00, 0xD8, 0x00, 0xFF, 0xD9]))
    }

    @Test func onlyUnusableFramesGiveARetakeWithTheCause() async throws {
        let torn = Array(Self.bright.prefix(200))
        let dev = RecordedV4L2Device(frames: [torn])
        let src = V4L2FrameSource(
            device: dev, settings: V4L2Settings(path: "/dev/video0", settleFrames: 0, settleMilliseconds: 0))
        try await src.start()
        do {
            _ = try await src.nextJPEG()
            Issue.record("a torn frame was accepted")
        } catch let e as DeviceError {
            #expect(e.description.contains("no JPEG end-of-image marker"))
            #expect(e.description.contains("USB cable"))
            #expect(e.residentMessage.contains("重拍"))
        }
        await src.stop()
    }

    /// After a reopen the first frames are dark for about a second at 30 fps (auto exposure);
    /// 2–3 dropped frames are not enough, time is.
    @Test func exposureSettlesByTimeNotByFrameCount() async throws {
        let frames = [[UInt8]](repeating: Self.dark, count: 24) + [[UInt8]](repeating: Self.bright, count: 8)
        let dev = RecordedV4L2Device(frames: frames)
        dev.frameIntervalMilliseconds = 40  // 25 fps: the 24 dark frames span 0.96 s
        let src = V4L2FrameSource(
            device: dev, settings: V4L2Settings(path: "/dev/video0", settleFrames: 3, settleMilliseconds: 1000))
        try await src.start()
        let got = try await src.nextJPEG()
        await src.stop()
        #expect(try CaptureQuality.check(jpeg: Self.dark).verdict == .tooDark, "the fixture's early frames are dark")
        #expect(Array(got) == Self.bright)
        #expect(dev.lock.withLock { dev.delivered } == 26, "dropped by time: frames until 1 s after the first")
    }

    @Test func powerLineFrequencyIsSetTo50HzWhereTheControlExists() async throws {
        let dev = RecordedV4L2Device(frames: [Self.bright])
        let src = V4L2FrameSource(device: dev, settings: V4L2Settings(path: "/dev/video0", settleMilliseconds: 0))
        try await src.start()
        await src.stop()
        #expect(dev.lock.withLock { dev.controlValues[V4L2DequeuedBuffer.powerLineFrequencyControl] } == 1)
        #expect(src.powerLineSet == true)
        // A camera without the control still captures.
        let plain = RecordedV4L2Device(frames: [Self.bright])
        plain.controls = []
        let src2 = V4L2FrameSource(device: plain, settings: V4L2Settings(path: "/dev/video0", settleMilliseconds: 0))
        try await src2.start()
        _ = try await src2.nextJPEG()
        await src2.stop()
        #expect(src2.powerLineSet == false)
    }
}

/// Issue 18 point 10: a camera from a `kioskctl devices --record` file, through the V4L2 seam.
final class RecordedFormatsV4L2Device: RecordedV4L2Device, @unchecked Sendable {
    let record: FieldRecording.V4L2Record
    init(_ record: FieldRecording.V4L2Record, frames: [[UInt8]]) {
        self.record = record
        super.init(frames: frames)
        formatsOffered = record.formats.map(FourCC.code)
    }
    override func queryCapabilities() throws -> (card: String, capture: Bool, streaming: Bool) {
        lock.withLock {
            log("QUERYCAP")
            return (record.card, record.capture, record.streaming)
        }
    }
    override func frameSizes(_ fourcc: UInt32) throws -> [V4L2FrameSize] {
        lock.withLock {
            log("ENUM_FRAMESIZES \(FourCC.name(fourcc))")
            return (record.sizes[FourCC.name(fourcc)] ?? []).compactMap(FieldRecording.size)
        }
    }
}

@Suite struct RecordedCameraTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func aRecordedCameraIsDrivenAtItsLargestMJPEGSizeAndItsMetadataNodeIsRefused() async throws {
        let rec = try FieldRecording.load(
            Data(contentsOf: URL(fileURLWithPath: Self.root + "/DeviceProfiles/recordings/example-bench.json")))
        let capture = try #require(rec.v4l2.first { $0.capture })
        let dev = RecordedFormatsV4L2Device(capture, frames: [V4L2FieldFrameTests.bright])
        let src = V4L2FrameSource(device: dev, settings: V4L2Settings(path: capture.path, settleMilliseconds: 0))
        try await src.start()
        _ = try await src.nextJPEG()
        await src.stop()
        #expect(src.captureSize == V4L2FrameSize(width: 3264, height: 2448))
        #expect(src.model == capture.card)
        // The second node uvcvideo creates (metadata) cannot capture: a clear refusal.
        let meta = try #require(rec.v4l2.first { !$0.capture })
        let src2 = V4L2FrameSource(
            device: RecordedFormatsV4L2Device(meta, frames: []), settings: V4L2Settings(path: meta.path))
        do {
            try await src2.start()
            Issue.record("a metadata node was started")
        } catch let e as DeviceError {
            #expect(e.description.contains("cannot stream video capture"))
        }
    }
}

@Suite struct V4L2RecorderTests {
    @Test func theRecorderWritesFormatsAndSizesAndNotesAFailure() throws {
        let dev = RecordedV4L2Device(frames: [])
        let gone = RecordedV4L2Device(frames: [])
        gone.unplugged = true
        var made = [dev, gone]
        let recs = FieldRecorder.recordV4L2(paths: ["/dev/video0", "/dev/video7"]) { made.removeFirst() }
        #expect(recs.count == 2)
        #expect(recs[0].card == "Test Document Camera" && recs[0].capture)
        #expect(recs[0].formats == ["YUYV", "MJPG"])
        #expect(recs[0].sizes["MJPG"] == ["640x480", "2592x1944", "1920x1080"])
        #expect(!dev.call("").contains("STREAMON"), "recording never streams")
        #expect(recs[1].note?.contains("not connected") == true, "\(recs[1].note ?? "-")")
        // And it loads back as a camera.
        let back = try FieldRecording.load(try FieldRecording(recordedAt: "t", usb: [], v4l2: recs).encoded())
        #expect(back.v4l2 == recs)
    }
}
