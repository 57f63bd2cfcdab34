import ArgumentParser
import Foundation
import KioskProtocols
import KioskApp
import KioskDevices
import Logging

struct CameraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera", abstract: "Capture from the document camera and check image quality.",
        subcommands: [CameraCaptureCommand.self, CameraCheckCommand.self])
}

func qualityJSON(_ r: QualityReport, extra: [String: String] = [:]) throws -> String {
    struct Out: Encodable {
        var verdict: String, accepted: Bool, message: String
        var width: Int, height: Int
        var meanBrightness: Double, contrast: Double, clippedFraction: Double, sharpness: Double
        var file: String?, bytes: Int?
    }
    let o = Out(
        verdict: r.verdict.rawValue, accepted: r.accepted, message: r.residentMessage, width: r.width, height: r.height,
        meanBrightness: r.meanBrightness, contrast: r.contrast, clippedFraction: r.clippedFraction,
        sharpness: r.sharpness,
        file: extra["file"], bytes: extra["bytes"].flatMap(Int.init))
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try enc.encode(o), as: UTF8.self)
}

struct CameraCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Quality verdict (blank, tooDark, overexposed, blurred, ok) and its numbers as JSON.")
    @Argument(help: "A JPEG file.") var file: String
    @Option(name: .long, help: "Take thresholds from this device profile id (see DeviceProfiles/).") var profile:
        String?
    @Option(name: .long, help: "Device profile folder.") var profiles: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { failLine("cannot read \(file)") }
        var t = QualityThresholds()
        if let profile {
            let dir = profiles ?? FileManager.default.currentDirectoryPath + "/DeviceProfiles"
            guard let p = try? DeviceProfiles.load(directory: dir).first(where: { $0.id == profile }) else {
                failLine("no profile \(profile) in \(dir)")
            }
            t = p.camera?.quality ?? t
        }
        do {
            let r = try CaptureQuality.check(jpeg: [UInt8](data), thresholds: t)
            print(try qualityJSON(r))
            if !r.accepted { throw ExitCode(2) }
        } catch let e as ExitCode { throw e } catch { failLine("\(file): \(error)") }
    }
}

struct CameraCaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract:
            "Take one picture with the configured camera, write it to FILE and print its quality verdict (stop kioskd first: it holds the camera)."
    )
    @OptionGroup var options: ConfigOption
    @Argument(help: "Where to write the JPEG.") var file: String
    @Flag(name: .long, help: "Write the re-encoded upload file instead of the camera's frame.") var upload = false

    func run() async throws {
        let cfg = try options.load()
        let c = cfg.devices.documentCamera
        let logger = Logger(label: "kioskctl")
        let source: any FrameSource
        var thresholds = QualityThresholds()
        switch c.mode {
        case .simulated:
            source = try SimulatedFrameSource(
                fixtureDirectory: cfg.resolve(c.fixtures ?? "kiosk-config/fixtures/camera"))
        case .v4l2:
            let profile = c.profile.flatMap { id in
                (try? DeviceProfiles.load(directory: cfg.deviceProfilesPath))?.first { $0.id == id }
            }
            thresholds = profile?.camera?.quality ?? thresholds
            source = V4L2FrameSource(
                device: LinuxV4L2Device(),
                settings: KioskServices.v4l2Settings(path: c.path ?? "/dev/video0", profile: profile))
        case .none:
            failLine("devices.documentCamera.mode is none: no camera configured")
        }
        let cam = DocumentCamera(
            source: source, logger: logger, thresholds: thresholds, encoding: c.upload ?? UploadEncoding())
        do {
            let raw = try await cam.captureRaw()
            let report = try CaptureQuality.check(jpeg: [UInt8](raw), thresholds: thresholds)
            let bytes = upload ? Data(try (c.upload ?? UploadEncoding()).encode([UInt8](raw))) : raw
            try bytes.write(to: URL(fileURLWithPath: file))
            print(try qualityJSON(report, extra: ["file": file, "bytes": String(bytes.count)]))
        } catch let e as DeviceError { failLine(e.description) } catch { failLine("\(error)") }
    }
}
