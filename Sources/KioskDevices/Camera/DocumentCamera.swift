import Foundation
import KioskProtocols
import Logging

/// Where frames come from: V4L2 on a real kiosk, recorded JPEG files in the simulator and tests.
public protocol FrameSource: Sendable {
    func start() async throws
    /// One JPEG still.
    func nextJPEG() async throws -> Data
    func stop() async
    var model: String { get }
    var simulated: Bool { get }
}

/// Simulated document camera: cycles through JPEG fixtures on disk.
public actor SimulatedFrameSource: FrameSource {
    let files: [String]
    private var index = 0
    public nonisolated let model = "simulated document camera"
    public nonisolated let simulated = true
    public var failNext: String?

    public init(fixtureDirectory: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtureDirectory)) ?? []
        files = names.filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") }.sorted()
            .map { fixtureDirectory + "/" + $0 }
        guard !files.isEmpty else {
            throw DeviceError(
                "no JPEG fixtures in \(fixtureDirectory); set devices.documentCamera.fixtures to a folder of .jpg files",
                resident: "高拍仪暂不可用")
        }
    }

    public func start() async throws {}
    public func stop() async {}
    public func setFailNext(_ m: String?) { failNext = m }

    public func nextJPEG() async throws -> Data {
        if let f = failNext {
            failNext = nil
            throw DeviceError(f, resident: "拍照失败，请重试")
        }
        let path = files[index % files.count]
        index += 1
        guard let d = FileManager.default.contents(atPath: path), d.count > 4, d[0] == 0xFF, d[1] == 0xD8 else {
            throw DeviceError("fixture \(path) is not a JPEG", resident: "拍照失败，请重试")
        }
        return d
    }
}

/// The document camera (高拍仪) device: serialises captures, checks each one (blank, dark,
/// overexposed, blurred) before accepting it, re-encodes accepted ones for upload, and keeps the
/// status. A rejected capture throws a DeviceError whose resident message asks for a retake.
public actor DocumentCamera {
    let source: any FrameSource
    let logger: Logger
    public nonisolated let thresholds: QualityThresholds
    public nonisolated let encoding: UploadEncoding
    /// Skip the quality check (the simulator's fixtures, a camera under test).
    let checkQuality: Bool
    private var current: DeviceStatus
    private var captures = 0
    private var failures = 0
    private var rejected = 0
    public private(set) var lastReport: QualityReport?

    public init(
        source: any FrameSource, logger: Logger, thresholds: QualityThresholds = QualityThresholds(),
        encoding: UploadEncoding = UploadEncoding(), checkQuality: Bool = true
    ) {
        self.source = source
        self.logger = logger
        self.thresholds = thresholds
        self.encoding = encoding
        self.checkQuality = checkQuality
        current = DeviceStatus(kind: .documentCamera, state: .online, model: source.model, simulated: source.simulated)
    }

    public func status() -> DeviceStatus {
        var s = current
        s.model = source.model
        s.counters = ["captures": captures, "failures": failures, "rejected": rejected]
        return s
    }

    /// One raw frame from the camera (no check, no re-encoding): `kioskctl camera capture`.
    public func captureRaw() async throws -> Data {
        do {
            try await source.start()
            let jpeg = try await source.nextJPEG()
            await source.stop()
            if current.state != .online { logger.info("camera back online") }
            current.state = .online
            current.lastError = nil
            current.action = nil
            return jpeg
        } catch let e as DeviceError {
            await source.stop()
            failures += 1
            current.lastError = e.description
            if e.description.contains("not connected") {
                current.state = .powerOff
                current.action = .maintenance
            }
            throw e
        } catch {
            await source.stop()
            failures += 1
            current.state = .hardwareError
            current.lastError = "capture failed: \(error); run `kioskctl camera capture /tmp/test.jpg`"
            current.action = .reset
            throw DeviceError(current.lastError!, resident: "高拍仪暂时无法拍照，请稍后重试或联系工作人员")
        }
    }

    /// A checked capture, re-encoded for upload.
    public func capture() async throws -> Data {
        let jpeg = try await captureRaw()
        let bytes = [UInt8](jpeg)
        if checkQuality {
            let report: QualityReport
            do { report = try CaptureQuality.check(jpeg: bytes, thresholds: thresholds) } catch {
                failures += 1
                throw DeviceError("camera frame cannot be decoded: \(error)", resident: "拍照失败，请重拍")
            }
            lastReport = report
            guard report.accepted else {
                rejected += 1
                logger.info(
                    "capture rejected",
                    metadata: [
                        "verdict": "\(report.verdict.rawValue)", "mean": "\(report.meanBrightness)",
                        "contrast": "\(report.contrast)", "sharpness": "\(report.sharpness)",
                    ])
                throw DeviceError("capture rejected: \(report.verdict.rawValue)", resident: report.residentMessage)
            }
        }
        captures += 1
        do {
            return Data(try encoding.encode(bytes))
        } catch {
            failures += 1
            throw DeviceError("capture could not be re-encoded: \(error)", resident: "拍照失败，请重拍")
        }
    }
}
