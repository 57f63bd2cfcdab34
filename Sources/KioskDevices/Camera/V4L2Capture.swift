import CV4L2
import Foundation
import Synchronization
import KioskProtocols
#if canImport(Glibc)
    import Glibc
#endif

/// A V4L2 failure; `errno` ENODEV/ENXIO/ENOENT mean the camera is gone.
public struct V4L2Error: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    /// The node, for open failures (EPERM/EACCES advice names it).
    public var path: String?
    public init(operation: String, code: Int32, path: String? = nil) {
        self.operation = operation
        self.code = code
        self.path = path
    }
    public var unplugged: Bool { code == ENODEV || code == ENXIO || code == ENOENT || code == EIO }
    public var description: String {
        let advice =
            unplugged
            ? "the camera is not connected; check its USB cable (it is reopened when it comes back)"
            : (code == EACCES || code == EPERM)
                ? DeviceAccess.advice(errno: code, path: path ?? "/dev/video*") ?? "no permission on the video device"
                : code == EBUSY
                    ? "another program is using the camera"
                    : "check the camera and its profile"
        return "V4L2 \(operation) failed: \(String(cString: strerror(code))) — \(advice)"
    }
}

public struct V4L2FrameSize: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// The V4L2 calls the capture logic needs, one method per ioctl (or mmap/poll). The real one
/// (`LinuxV4L2Device`) talks to /dev/videoN; tests drive `V4L2Capture` with recorded frames.
public protocol V4L2Device: AnyObject, Sendable {
    func open(path: String) throws
    /// QUERYCAP: (card name, can capture, can stream).
    func queryCapabilities() throws -> (card: String, capture: Bool, streaming: Bool)
    /// ENUM_FMT: fourcc codes.
    func formats() throws -> [UInt32]
    /// ENUM_FRAMESIZES for a fourcc (discrete sizes; a stepwise range reports its maximum).
    func frameSizes(_ fourcc: UInt32) throws -> [V4L2FrameSize]
    /// S_FMT; returns what the driver chose, and `sizeimage`.
    func setFormat(_ fourcc: UInt32, _ size: V4L2FrameSize) throws -> (size: V4L2FrameSize, sizeImage: Int)
    /// REQBUFS (MMAP); returns the count granted (0 frees them).
    func requestBuffers(_ count: Int) throws -> Int
    /// QUERYBUF + mmap of buffer `index`; returns its length.
    func mapBuffer(_ index: Int) throws -> Int
    func queueBuffer(_ index: Int) throws
    func streamOn() throws
    func streamOff() throws
    /// poll(2) for a filled buffer; false on timeout.
    func waitForFrame(timeoutMilliseconds: Int) throws -> Bool
    /// DQBUF: the buffer, its bytesused, flags and timestamp.
    func dequeueBuffer() throws -> V4L2DequeuedBuffer
    /// QUERYCTRL + S_CTRL; false when the camera has no such control (or it is disabled).
    func setControl(_ id: UInt32, value: Int32) throws -> Bool
    /// Copies `count` bytes out of mapped buffer `index`.
    func bytes(ofBuffer index: Int, count: Int) -> [UInt8]
    func unmapAll()
    func close()
}

/// One dequeued buffer as uvcvideo hands it over.
public struct V4L2DequeuedBuffer: Sendable, Equatable {
    public var index: Int
    public var bytesUsed: Int
    /// `V4L2_BUF_FLAG_*`; uvcvideo sets ERROR (0x40) on a frame whose payload was cut short.
    public var flags: UInt32
    /// The buffer's timestamp (monotonic for uvcvideo); zero when the driver gave none.
    public var timestamp: Duration
    public init(index: Int, bytesUsed: Int, flags: UInt32 = 0, timestamp: Duration = .zero) {
        self.index = index
        self.bytesUsed = bytesUsed
        self.flags = flags
        self.timestamp = timestamp
    }
    public static let flagError: UInt32 = 0x40  // V4L2_BUF_FLAG_ERROR
    /// V4L2_CID_POWER_LINE_FREQUENCY and its 50 Hz menu value.
    public static let powerLineFrequencyControl: UInt32 = 0x0098_0918
    public static let powerLine50Hz: Int32 = 1
}

/// Whether a buffer holds one whole JPEG: starts with SOI (FF D8) and has the EOI marker
/// (FF D9) at its end (uvcvideo may pad a few bytes after it). In entropy-coded data FF is
/// always followed by 00 or a restart marker, so FF D9 near the end is only ever the EOI.
public func isCompleteJPEG(_ b: [UInt8]) -> Bool {
    guard b.count > 4, b[0] == 0xFF, b[1] == 0xD8 else { return false }
    var i = b.count - 2
    let stop = max(2, b.count - 64)
    while i >= stop {
        if b[i] == 0xFF && b[i + 1] == 0xD9 { return true }
        i -= 1
    }
    return false
}

public enum FourCC {
    public static func code(_ s: String) -> UInt32 {
        let b = Array(s.utf8)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    public static func name(_ c: UInt32) -> String {
        String(
            decoding: [UInt8(c & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c >> 16 & 0xFF), UInt8(c >> 24 & 0xFF)],
            as: UTF8.self)
    }
    public static let mjpeg = code("MJPG")
    public static let jpeg = code("JPEG")
}

/// Camera settings from the profile and config.
public struct V4L2Settings: Sendable, Equatable {
    public var path: String
    /// Capture size; the camera's largest MJPEG size when nil.
    public var size: V4L2FrameSize?
    public var buffers: Int
    /// Frames dropped after STREAMON at least (see `settleMilliseconds`).
    public var settleFrames: Int
    /// Time after the first frame during which frames are dropped while auto exposure, white
    /// balance and focus settle. By time, not by count: a camera at 5 fps needs the same
    /// second as one at 30 fps, and 2–3 frames after a reopen are still dark.
    public var settleMilliseconds: Int
    public var frameTimeoutMilliseconds: Int
    /// Power-line frequency for anti-banding (50 Hz in China); nil leaves the camera's setting.
    public var powerLineHz: Int?

    public init(
        path: String, size: V4L2FrameSize? = nil, buffers: Int = 4, settleFrames: Int = 2,
        settleMilliseconds: Int = 1200,
        frameTimeoutMilliseconds: Int = 3000, powerLineHz: Int? = 50
    ) {
        self.path = path
        self.size = size
        self.buffers = max(2, buffers)
        self.settleFrames = max(0, settleFrames)
        self.settleMilliseconds = max(0, settleMilliseconds)
        self.frameTimeoutMilliseconds = max(100, frameTimeoutMilliseconds)
        self.powerLineHz = powerLineHz
    }
}

/// The capture logic: QUERYCAP → ENUM_FMT/ENUM_FRAMESIZES → S_FMT MJPEG at the chosen size →
/// REQBUFS(n, MMAP) → QUERYBUF + mmap + QBUF each → STREAMON → poll → DQBUF → copy → QBUF
/// (buffers cycle) → STREAMOFF → unmap → REQBUFS(0). The device is opened per capture and
/// reopened after an unplug, so a replugged camera works without a restart.
public final class V4L2FrameSource: FrameSource, Sendable {
    let device: any V4L2Device
    public let settings: V4L2Settings
    /// The stream's state; the device is used by one caller at a time, under this lock.
    struct StreamState {
        var streaming = false
        var framesSinceStart = 0
        /// Timestamp of the first frame after STREAMON (buffer clock, or the host's when the driver gives none).
        var firstFrameAt: Duration?
        var settled = false
        /// Frames dropped because they were flagged or torn, since start (for tests and status).
        var droppedFrames = 0
        /// Whether the last start set the power-line control (nil: not tried; false: no such control).
        var powerLineSet: Bool?
        var negotiated: V4L2FrameSize?
        var cardName = "UVC document camera"
    }
    private let state = Mutex(StreamState())
    public var model: String { state.withLock { $0.cardName } }
    public let simulated = false
    /// Frames dropped because they were flagged or torn, since start (for tests and status).
    public var droppedFrames: Int { state.withLock { $0.droppedFrames } }
    /// Whether the last start set the power-line control (nil: not tried; false: no such control).
    public var powerLineSet: Bool? { state.withLock { $0.powerLineSet } }

    public init(device: any V4L2Device, settings: V4L2Settings) {
        self.device = device
        self.settings = settings
    }

    /// The size the driver agreed to at the last start.
    public var captureSize: V4L2FrameSize? { state.withLock { $0.negotiated } }

    public func start() async throws {
        try state.withLock { st in
            guard !st.streaming else { return }
            do { try startLocked(&st) } catch {
                device.unmapAll()
                device.close()
                if let e = error as? V4L2Error {
                    throw DeviceError(e.description, resident: e.unplugged ? "高拍仪未连接，请联系工作人员" : "高拍仪暂时无法拍照，请稍后重试")
                }
                throw error
            }
        }
    }

    private func startLocked(_ st: inout StreamState) throws {
        try device.open(path: settings.path)
        let cap = try device.queryCapabilities()
        guard cap.capture, cap.streaming else {
            throw DeviceError(
                "\(settings.path) (\(cap.card)) cannot stream video capture; is it the camera's capture node? check devices.documentCamera.path",
                resident: "高拍仪暂不可用，请联系工作人员")
        }
        st.cardName = cap.card
        let fmts = try device.formats()
        let fourcc = fmts.contains(FourCC.mjpeg) ? FourCC.mjpeg : fmts.contains(FourCC.jpeg) ? FourCC.jpeg : nil
        guard let fourcc else {
            throw DeviceError(
                "camera \(cap.card) offers no MJPEG (formats: \(fmts.map(FourCC.name).joined(separator: ", "))); YUYV at document sizes is too slow over USB 2.0",
                resident: "高拍仪暂不可用，请联系工作人员")
        }
        let sizes = try device.frameSizes(fourcc)
        let want =
            settings.size ?? sizes.max(by: { $0.width * $0.height < $1.width * $1.height })
            ?? V4L2FrameSize(width: 1920, height: 1080)
        let (got, _) = try device.setFormat(fourcc, want)
        st.negotiated = got
        if let hz = settings.powerLineHz {
            // Anti-banding under 50 Hz lights. A camera without the control is fine as it is.
            let value: Int32 = hz == 60 ? 2 : hz == 0 ? 0 : V4L2DequeuedBuffer.powerLine50Hz
            st.powerLineSet =
                (try? device.setControl(V4L2DequeuedBuffer.powerLineFrequencyControl, value: value)) ?? false
        }
        let n = try device.requestBuffers(settings.buffers)
        guard n >= 2 else {
            throw DeviceError("camera granted \(n) buffers; at least 2 are needed", resident: "高拍仪暂不可用，请联系工作人员")
        }
        for i in 0..<n {
            _ = try device.mapBuffer(i)
            try device.queueBuffer(i)
        }
        try device.streamOn()
        st.streaming = true
        st.framesSinceStart = 0
        st.firstFrameAt = nil
        st.settled = false
    }

    private static let hostClockOrigin = ContinuousClock.now

    public func nextJPEG() async throws -> Data {
        // Blocking poll on a dedicated thread, not the cooperative pool.
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Data, Error>) in
            DispatchQueue.global().async { [self] in
                c.resume(with: Result { try state.withLock { st in try grabLocked(&st) } })
            }
        }
    }

    private func grabLocked(_ st: inout StreamState) throws -> Data {
        guard st.streaming else { throw DeviceError("camera not started", resident: "高拍仪暂不可用") }
        var bad = 0
        var badKinds: Set<String> = []
        while true {
            do {
                guard try device.waitForFrame(timeoutMilliseconds: settings.frameTimeoutMilliseconds) else {
                    throw DeviceError(
                        "camera sent no frame within \(settings.frameTimeoutMilliseconds) ms (lamp or USB bandwidth?); retry, then replug the camera",
                        resident: "高拍仪没有响应，请稍后重拍")
                }
                let buf = try device.dequeueBuffer()
                let frame = device.bytes(ofBuffer: buf.index, count: buf.bytesUsed)
                try device.queueBuffer(buf.index)  // give it back at once: buffers keep cycling
                st.framesSinceStart += 1
                let at = buf.timestamp > .zero ? buf.timestamp : ContinuousClock.now - Self.hostClockOrigin
                if !st.settled {
                    let first = st.firstFrameAt ?? at
                    st.firstFrameAt = first
                    // Exposure still settling after STREAMON: by time, and at least settleFrames.
                    if st.framesSinceStart <= settings.settleFrames
                        || at - first < .milliseconds(settings.settleMilliseconds)
                    {
                        continue
                    }
                    st.settled = true
                }
                // uvcvideo hands over frames whose payload was cut short (USB bandwidth, a lost
                // packet) flagged ERROR, or unflagged without the JPEG end: never pass them on.
                let why: String? =
                    buf.flags & V4L2DequeuedBuffer.flagError != 0
                    ? "flagged V4L2_BUF_FLAG_ERROR"
                    : !isCompleteJPEG(frame)
                        ? (frame.count > 1 && frame[0] == 0xFF && frame[1] == 0xD8
                            ? "torn (no JPEG end-of-image marker)" : "not JPEG")
                        : nil
                if let why {
                    bad += 1
                    st.droppedFrames += 1
                    badKinds.insert(why)
                    if bad < 8 { continue }  // take the next one
                    throw DeviceError(
                        "camera delivered \(bad) unusable frames in a row (\(badKinds.sorted().joined(separator: ", "))); check the USB cable and that the camera is not on a shared hub, then replug it",
                        resident: "拍照失败，请重拍")
                }
                return Data(frame)
            } catch let e as V4L2Error {
                if e.unplugged { teardownLocked(&st) }
                throw DeviceError(e.description, resident: e.unplugged ? "高拍仪未连接，请联系工作人员" : "拍照失败，请重拍")
            }
        }
    }

    public func stop() async {
        state.withLock { st in teardownLocked(&st) }
    }

    private func teardownLocked(_ st: inout StreamState) {
        if st.streaming { try? device.streamOff() }
        st.streaming = false
        device.unmapAll()
        _ = try? device.requestBuffers(0)
        device.close()
    }
}

/// The real V4L2 device: open/ioctl/mmap/poll on /dev/videoN.
public final class LinuxV4L2Device: V4L2Device, @unchecked Sendable {
    private var fd: Int32 = -1
    private var maps: [(pointer: UnsafeMutableRawPointer, length: Int)] = []
    private let type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)

    public init() {}
    deinit {
        unmapAll()
        close()
    }

    private func check(_ rc: Int32, _ op: String) throws {
        if rc < 0 { throw V4L2Error(operation: op, code: errno) }
    }

    private func xioctl(_ op: String, _ body: () -> Int32) throws {
        var rc: Int32
        repeat { rc = body() } while rc < 0 && errno == EINTR
        try check(rc, op)
    }

    public func open(path: String) throws {
        close()
        fd = Glibc.open(path, O_RDWR | O_NONBLOCK | Int32(O_CLOEXEC))
        if fd < 0 { throw V4L2Error(operation: "open \(path)", code: errno, path: path) }
    }

    public func queryCapabilities() throws -> (card: String, capture: Bool, streaming: Bool) {
        var c = v4l2_capability()
        try xioctl("QUERYCAP") { kiosk_v4l2_querycap(fd, &c) }
        let card = withUnsafeBytes(of: c.card) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let caps = c.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? c.device_caps : c.capabilities
        return (card, caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0, caps & UInt32(V4L2_CAP_STREAMING) != 0)
    }

    public func formats() throws -> [UInt32] {
        var out: [UInt32] = []
        for i in 0..<64 {
            var f = v4l2_fmtdesc()
            f.index = UInt32(i)
            f.type = UInt32(type)
            if kiosk_v4l2_enum_fmt(fd, &f) < 0 { break }
            out.append(f.pixelformat)
        }
        return out
    }

    public func frameSizes(_ fourcc: UInt32) throws -> [V4L2FrameSize] {
        var out: [V4L2FrameSize] = []
        for i in 0..<128 {
            var s = v4l2_frmsizeenum()
            s.index = UInt32(i)
            s.pixel_format = fourcc
            if kiosk_v4l2_enum_framesizes(fd, &s) < 0 { break }
            if s.type == UInt32(V4L2_FRMSIZE_TYPE_DISCRETE.rawValue) {
                out.append(V4L2FrameSize(width: Int(s.discrete.width), height: Int(s.discrete.height)))
            } else {
                out.append(V4L2FrameSize(width: Int(s.stepwise.max_width), height: Int(s.stepwise.max_height)))
                break
            }
        }
        return out
    }

    public func setFormat(_ fourcc: UInt32, _ size: V4L2FrameSize) throws -> (size: V4L2FrameSize, sizeImage: Int) {
        var f = v4l2_format()
        f.type = UInt32(type)
        f.fmt.pix.width = UInt32(size.width)
        f.fmt.pix.height = UInt32(size.height)
        f.fmt.pix.pixelformat = fourcc
        f.fmt.pix.field = UInt32(V4L2_FIELD_ANY.rawValue)
        try xioctl("S_FMT") { kiosk_v4l2_s_fmt(fd, &f) }
        return (V4L2FrameSize(width: Int(f.fmt.pix.width), height: Int(f.fmt.pix.height)), Int(f.fmt.pix.sizeimage))
    }

    public func requestBuffers(_ count: Int) throws -> Int {
        var r = v4l2_requestbuffers()
        r.count = UInt32(count)
        r.type = UInt32(type)
        r.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
        try xioctl("REQBUFS") { kiosk_v4l2_reqbufs(fd, &r) }
        return Int(r.count)
    }

    private func mmapBuffer(_ index: Int = 0) -> v4l2_buffer {
        var b = v4l2_buffer()
        b.index = UInt32(index)
        b.type = UInt32(type)
        b.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
        return b
    }

    public func mapBuffer(_ index: Int) throws -> Int {
        var b = mmapBuffer(index)
        try xioctl("QUERYBUF") { kiosk_v4l2_querybuf(fd, &b) }
        let len = Int(b.length)
        guard let p = mmap(nil, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(kiosk_v4l2_buffer_offset(&b))),
            p != kiosk_map_failed()
        else { throw V4L2Error(operation: "mmap buffer \(index)", code: errno) }
        while maps.count <= index { maps.append((UnsafeMutableRawPointer(bitPattern: 1)!, 0)) }
        maps[index] = (p, len)
        return len
    }

    public func queueBuffer(_ index: Int) throws {
        var b = mmapBuffer(index)
        try xioctl("QBUF") { kiosk_v4l2_qbuf(fd, &b) }
    }

    public func streamOn() throws { try xioctl("STREAMON") { kiosk_v4l2_streamon(fd, type) } }
    public func streamOff() throws { try xioctl("STREAMOFF") { kiosk_v4l2_streamoff(fd, type) } }

    public func waitForFrame(timeoutMilliseconds: Int) throws -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(timeoutMilliseconds))
        if r < 0 {
            if errno == EINTR { return false }
            throw V4L2Error(operation: "poll", code: errno)
        }
        if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { throw V4L2Error(operation: "poll", code: ENODEV) }
        return r > 0
    }

    public func dequeueBuffer() throws -> V4L2DequeuedBuffer {
        var b = mmapBuffer()
        try xioctl("DQBUF") { kiosk_v4l2_dqbuf(fd, &b) }
        let ts = Duration.seconds(Int64(b.timestamp.tv_sec)) + .microseconds(Int64(b.timestamp.tv_usec))
        return V4L2DequeuedBuffer(index: Int(b.index), bytesUsed: Int(b.bytesused), flags: b.flags, timestamp: ts)
    }

    public func setControl(_ id: UInt32, value: Int32) throws -> Bool {
        var q = v4l2_queryctrl()
        q.id = id
        if kiosk_v4l2_queryctrl(fd, &q) < 0 {
            if errno == EINVAL { return false }  // the camera has no such control
            throw V4L2Error(operation: "QUERYCTRL", code: errno)
        }
        if q.flags & UInt32(V4L2_CTRL_FLAG_DISABLED) != 0 { return false }
        guard value >= q.minimum, value <= q.maximum else { return false }
        var c = v4l2_control(id: id, value: value)
        try xioctl("S_CTRL") { kiosk_v4l2_s_ctrl(fd, &c) }
        return true
    }

    public func bytes(ofBuffer index: Int, count: Int) -> [UInt8] {
        guard index < maps.count else { return [] }
        let m = maps[index]
        return Array(UnsafeRawBufferPointer(start: m.pointer, count: min(count, m.length)))
    }

    public func unmapAll() {
        for m in maps where m.length > 0 { munmap(m.pointer, m.length) }
        maps.removeAll()
    }

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
