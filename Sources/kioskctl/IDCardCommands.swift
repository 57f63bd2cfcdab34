import ArgumentParser
import Foundation
import KioskApp
import KioskCore
import KioskDevices
import KioskProtocols
import Logging

struct IDCardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idcard", abstract: "Decode reader replies and read cards (masked unless --reveal).",
        subcommands: [IDCardDecodeCommand.self, IDCardReadCommand.self])
}

enum Today {
    /// The station clock of kioskctl: system time in the default station time zone (Asia/Shanghai).
    static let clock = StationClock.system

    static func yyyymmdd() -> String { clock.dayKey(clock.now) }
}

struct Fail: Error, CustomStringConvertible {
    var description: String
}

/// Prints the one-line reason on stderr and exits 1 (ArgumentParser would add usage text).
func failLine(_ s: String) -> Never {
    FileHandle.standardError.write(Data("kioskctl: \(s)\n".utf8))
    exit(1)
}

struct IDCardDecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode one reply to the read command (30 01 or 30 10) from FILE: raw bytes or hex text.")
    @Argument(help: "File with the reply frame (raw bytes, or hex with any whitespace; - for stdin).") var file: String
    @Flag(name: .long, help: "Show the full ID number and name (personal data: only at the resident's request).")
    var reveal = false
    @Option(name: .long, help: "Decode the photo with this licensed helper (see README) and write it here.")
    var photoOut: String?
    @Option(name: .long, help: "Photo decoder helper (default: devices.idCardReader.photoDecoder).") var decoder:
        String?

    func run() async throws {
        let data: Data?
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: file)
        }
        guard let data else { failLine("cannot read \(file)") }
        let identity: IDCardIdentity
        do { identity = try IDCardReport.decode(frame: IDCardReport.bytes(fromFile: [UInt8](data))) } catch {
            failLine("\(error)")
        }
        print(IDCardReport.json(identity, reveal: reveal, today: Today.yyyymmdd()))
        if let photoOut {
            guard let exe = decoder else {
                failLine("--photo-out needs --decoder PATH (a licensed WLT decoder helper)")
            }
            do {
                let photo = try await HelperProcessPhotoDecoder(executable: exe).decode(wlt: identity.photo)
                try Data(photo.bytes).write(to: URL(fileURLWithPath: photoOut))
                FileHandle.standardError.write(
                    Data(
                        "kioskctl: photo written to \(photoOut) (\(photo.format.rawValue), \(photo.bytes.count) bytes)\n"
                            .utf8))
            } catch { failLine("\(error)") }
        }
    }
}

struct IDCardReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract:
            "Read a card from the configured reader and print it as `idcard decode` does. Stop kioskd first: it holds the reader."
    )
    @OptionGroup var options: ConfigOption
    @Flag(name: .long, help: "Show the full ID number and name.") var reveal = false
    @Option(name: .long, help: "Seconds to wait for a card.") var timeout: Int = 15
    @Option(
        name: .long,
        help: "Also write the raw reply frame here (hex), e.g. to report a decoding problem. Contains personal data.")
    var saveReply: String?

    func run() async throws {
        let cfg = try options.load()
        let rc = cfg.devices.idCardReader
        let logger = Logger(label: "kioskctl")
        let reader: IDCardReader
        var sim: SimulatedIDCardReader?
        switch rc.mode {
        case .none:
            failLine("devices.idCardReader.mode is none: no reader configured")
        case .simulated:
            let s = SimulatedIDCardReader()
            s.place(SyntheticCards.all[0].card)
            sim = s
            FileHandle.standardError.write(
                Data("kioskctl: simulated reader, placing the made-up card \(SyntheticCards.all[0].label)\n".utf8))
            reader = IDCardReader(
                transport: SimulatorLink(model: s, name: "reader"), model: "simulated", simulated: true, logger: logger)
        case .usb, .serial, .hid, .auto:
            let profiles: [DeviceProfile]
            do { profiles = try DeviceProfiles.load(directory: cfg.deviceProfilesPath) } catch { failLine("\(error)") }
            let usb = (rc.mode == .usb || rc.mode == .auto) ? try? LibUSBContext() : nil
            let connector = SAMReaderConnector(
                settings: ReaderConnectionSettings(
                    mode: rc.mode.link ?? .auto, path: rc.path, profileId: rc.profile, baud: rc.baud),
                profiles: profiles, usb: usb, logger: logger)
            reader = IDCardReader(
                provider: connector, logger: logger,
                options: ReaderOptions(readFingerprints: rc.readFingerprints ?? false))
        }
        _ = sim
        guard await reader.probe() else {
            failLine(
                "reader not ready: \(await reader.status().lastError ?? "unknown") (if kioskd is running it holds the reader: stop it first)"
            )
        }
        FileHandle.standardError.write(Data("kioskctl: place the card on the reader (waiting \(timeout) s)\n".utf8))
        do {
            let (identity, data) = try await reader.readOnce(timeout: .seconds(timeout))
            if let saveReply {
                let frame = SAMReply(status: 0x90, data: data).encoded()
                try frame.map { String(format: "%02X", $0) }.joined(separator: " ").write(
                    toFile: saveReply, atomically: true, encoding: .utf8)
            }
            print(IDCardReport.json(identity, reveal: reveal, today: Today.yyyymmdd()))
        } catch {
            failLine("\(error)")
        }
        await reader.shutdown()
    }
}

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List USB devices and serial ports seen, and which device profile matched each (or why none did).")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Device profile folder (default: the config's deviceProfiles).") var profiles: String?
    @Flag(name: .long) var json = false
    @Option(
        name: .long,
        help:
            "Record what the devices report (descriptors, endpoint layout, replies to 11 FF, GET_DEVICE_ID, DLE EOT, V4L2 formats) to this JSON file, for the tests (DeviceProfiles/FIELD-CHECKLIST.md). Stop kioskd first."
    )
    var record: String?

    struct Row: Encodable {
        var location: String
        var usbId: String
        var interfaces: String
        var profile: String?
        var note: String
    }

    func run() async throws {
        let dir: String
        if let profiles {
            dir = profiles
        } else if let cfg = try? options.load() {
            dir = cfg.deviceProfilesPath
        } else {
            dir = FileManager.default.currentDirectoryPath + "/DeviceProfiles"
        }
        let ps: [DeviceProfile]
        do { ps = try DeviceProfiles.load(directory: dir) } catch { throw ValidationError("\(error)") }
        if let record {
            var usbRecords: [FieldRecording.USBRecord] = []
            if let usb = try? LibUSBContext() { usbRecords = await FieldRecorder.recordUSB(context: usb, profiles: ps) }
            let videos = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter {
                $0.hasPrefix("video")
            }.sorted().map { "/dev/" + $0 }
            let rec = FieldRecording(
                recordedAt: ISO8601DateFormatter().string(from: Date()), usb: usbRecords,
                v4l2: FieldRecorder.recordV4L2(paths: videos))
            guard FileManager.default.createFile(atPath: record, contents: try rec.encoded()) else {
                throw ValidationError("cannot write \(record)")
            }
            print("recorded \(usbRecords.count) USB device(s) and \(rec.v4l2.count) video node(s) to \(record)")
            for u in usbRecords {
                print(
                    "  \(u.device.location) \(u.device.usbId) \(u.profile ?? "-") \(u.note ?? (u.samStatus != nil ? "11 FF answered" : u.dleEOT != nil ? "printer status recorded" : ""))"
                )
            }
            return
        }
        var rows: [Row] = []
        do {
            let usb = try LibUSBContext()
            for d in usb.devices() {
                let ifs = d.interfaces.map { String(format: "%d:%02x", $0.number, $0.interfaceClass) }.joined(
                    separator: " ")
                if let p = ps.first(where: { $0.matches(d) }) {
                    let note =
                        p.kind == "idCardReader"
                        ? "accepted only if it answers the SAM status command (11 FF)"
                        : (p.verified == true ? "verified profile" : "profile not yet verified on hardware")
                    rows.append(Row(location: d.location, usbId: d.usbId, interfaces: ifs, profile: p.id, note: note))
                } else {
                    let why =
                        ps.contains(where: { $0.usb?.vendorId == d.vendorId })
                        ? "vendor known, product or interface class differs from every profile"
                        : "no profile has vendor \(String(format: "%04x", d.vendorId))"
                    rows.append(Row(location: d.location, usbId: d.usbId, interfaces: ifs, profile: nil, note: why))
                }
            }
        } catch {
            FileHandle.standardError.write(Data("kioskctl: \(error)\n".utf8))
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(rows), as: UTF8.self))
        } else if rows.isEmpty {
            print("no USB devices visible (inside a container or with PrivateDevices=, /dev/bus/usb is hidden)")
        } else {
            for r in rows {
                print("\(r.location)  \(r.usbId)  if[\(r.interfaces)]  \(r.profile ?? "-")  \(r.note)")
            }
        }
    }
}
