import Foundation
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
            throw DeviceError("no JPEG fixtures in \(fixtureDirectory); set devices.documentCamera.fixtures to a folder of .jpg files",
                              resident: "高拍仪暂不可用")
        }
    }

    public func start() async throws {}
    public func stop() async {}
    public func setFailNext(_ m: String?) { failNext = m }

    public func nextJPEG() async throws -> Data {
        if let f = failNext { failNext = nil; throw DeviceError(f, resident: "拍照失败，请重试") }
        let path = files[index % files.count]
        index += 1
        guard let d = FileManager.default.contents(atPath: path), d.count > 4, d[0] == 0xFF, d[1] == 0xD8 else {
            throw DeviceError("fixture \(path) is not a JPEG", resident: "拍照失败，请重试")
        }
        return d
    }
}

/// The document camera (高拍仪) device: serialises captures and keeps the status.
public actor DocumentCamera {
    let source: any FrameSource
    let logger: Logger
    private var current: DeviceStatus
    private var captures = 0
    private var failures = 0

    public init(source: any FrameSource, logger: Logger) {
        self.source = source; self.logger = logger
        current = DeviceStatus(kind: .documentCamera, state: .online, model: source.model, simulated: source.simulated)
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["captures": captures, "failures": failures]
        return s
    }

    public func capture() async throws -> Data {
        do {
            try await source.start()
            let jpeg = try await source.nextJPEG()
            await source.stop()
            captures += 1
            current.state = .online
            current.lastError = nil
            return jpeg
        } catch let e as DeviceError {
            failures += 1
            current.lastError = e.description
            throw e
        } catch {
            failures += 1
            current.state = .hardwareError
            current.lastError = "capture failed: \(error); run `kioskctl selftest camera`"
            current.action = .reset
            throw DeviceError(current.lastError!, resident: "高拍仪暂时无法拍照，请稍后重试或联系工作人员")
        }
    }
}
