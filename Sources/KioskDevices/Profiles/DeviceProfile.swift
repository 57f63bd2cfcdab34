import Foundation
import Yams

/// One device model, read from `DeviceProfiles/<id>.yaml` (schema in DeviceProfiles/README.md).
/// USB ids are hints for where to look first; a reader is only accepted once it answers the SAM
/// status command, whatever its ids.
public struct DeviceProfile: Codable, Sendable, Equatable {
    public struct USB: Codable, Sendable, Equatable {
        public var vendorId: UInt16?
        public var productId: UInt16?
        public var interfaceClass: UInt8?
        /// Interface number to claim; the first matching interface when absent.
        public var interface: Int?
        public var endpoints: Endpoints?
        /// Readers: endpoint layouts to try, in order, each probed with `11 FF` (see
        /// `USBEndpointLayout`): single | split | interrupt | last-pair. Default: [single].
        public var layouts: [String]?
    }
    public struct Endpoints: Codable, Sendable, Equatable {
        public var out: UInt8?
        public var `in`: UInt8?
    }
    public struct Serial: Codable, Sendable, Equatable {
        public var baud: Int?
        /// Ports a reader of this model is attached at on this site's kiosks (stable names such
        /// as `/dev/serial/by-path/pci-0000:00:14.0-usb-0:3:1.0-port0`). Only named ports are
        /// probed: the same bridge chips drive PIN pads and displays.
        public var ports: [String]?
    }
    public struct HID: Codable, Sendable, Equatable {
        public var reportSize: Int?
    }
    public struct Receipt: Codable, Sendable, Equatable {
        public var paperWidthMM: Int?
        public var dots: Int?
        public var columns: Int?
        public var chineseMode: Bool?
        public var encoding: String?
        public var supportsQR: Bool?
        public var maxQRSize: Int?
        public var cut: String?
        public var bidirectional: Bool?
        public var autoStatusBack: Bool?
        public var chunkBytes: Int?
        /// asb | dle-eot | none (see ReceiptProfile.swift); `bidirectional: false` means none.
        public var status: String?
        /// Rows per GS v 0 band (1…256; 128 on printers with a small buffer).
        public var rasterBandRows: Int?
        /// Hex bytes that empty the printer's buffers through the data pipe after an interrupted
        /// receipt (Epson: DLE DC4 fn 8, `10 14 08 01 03 14 01 06 02 08`); the printer-class
        /// SOFT_RESET is tried first.
        public var bufferClear: String?
    }

    public struct Camera: Codable, Sendable, Equatable {
        /// Capture size; the camera's largest MJPEG size when absent.
        public var width: Int?
        public var height: Int?
        public var buffers: Int?
        public var settleFrames: Int?
        /// Frames are dropped this long after the first one while exposure settles.
        public var settleMilliseconds: Int?
        public var frameTimeoutMilliseconds: Int?
        /// Anti-banding: 50 (China), 60, or 0 to leave the camera's setting.
        public var powerLineHz: Int?
        public var quality: QualityThresholds?
    }

    public var id: String
    public var name: String
    /// idCardReader | receiptPrinter | documentCamera | a4Printer
    public var kind: String
    /// simulator | usb-bulk | usb-printer | usb-vendor | serial | hid-a | hid-b | v4l2 | cups
    public var transport: String
    public var `protocol`: String?
    public var usb: USB?
    public var serial: Serial?
    public var hid: HID?
    public var receipt: Receipt?
    public var camera: Camera?
    public var quirks: [String]?
    public var verified: Bool?
    /// The file it came from (not in the YAML).
    public var file: String?

    public static let kinds = ["idCardReader", "receiptPrinter", "documentCamera", "a4Printer"]
    public static let transports = [
        "simulator", "usb-bulk", "usb-printer", "usb-vendor", "serial", "hid-a", "hid-b", "v4l2", "cups",
    ]

    /// `receipt.bufferClear` as bytes (nil when absent or not hex).
    public var bufferClearBytes: [UInt8]? {
        guard let h = receipt?.bufferClear else { return nil }
        let parts = h.split(whereSeparator: { $0 == " " || $0 == "," })
        let bytes = parts.compactMap { UInt8($0.hasPrefix("0x") ? String($0.dropFirst(2)) : String($0), radix: 16) }
        return bytes.count == parts.count && !bytes.isEmpty ? bytes : nil
    }

    /// Whether the USB ids match the profile's hints (a profile without ids matches nothing).
    public func matches(_ d: USBDeviceInfo) -> Bool {
        guard let usb, let v = usb.vendorId else { return false }
        if v != d.vendorId { return false }
        if let p = usb.productId, p != d.productId { return false }
        if let c = usb.interfaceClass, !d.interfaces.contains(where: { $0.interfaceClass == c }) { return false }
        return true
    }

    public var hasQuirk: (String) -> Bool { { q in quirks?.contains(q) ?? false } }
}

public struct DeviceProfileError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

public enum DeviceProfiles {
    /// Reads every `*.yaml` in the folder. A broken file is an error naming the file and the
    /// field, so a technician can fix it; nothing is silently skipped.
    public static func load(directory: String) throws -> [DeviceProfile] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw DeviceProfileError(
                description:
                    "device profile folder \(directory) cannot be read; set deviceProfiles in kiosk.yaml to the DeviceProfiles folder"
            )
        }
        var out: [DeviceProfile] = []
        var seen: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            let path = (directory as NSString).appendingPathComponent(name)
            var p = try parse(file: path)
            if let other = seen[p.id] {
                throw DeviceProfileError(
                    description: "device profiles \(other) and \(name) both use id \(p.id); ids must be unique")
            }
            seen[p.id] = name
            p.file = path
            out.append(p)
        }
        return out
    }

    public static func parse(file path: String) throws -> DeviceProfile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DeviceProfileError(description: "device profile \(path) cannot be read")
        }
        return try parse(yaml: String(decoding: data, as: UTF8.self), name: (path as NSString).lastPathComponent)
    }

    public static func parse(yaml: String, name: String) throws -> DeviceProfile {
        let p: DeviceProfile
        do {
            p = try YAMLDecoder().decodeWithoutRegex(DeviceProfile.self, from: yaml)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw DeviceProfileError(
                description:
                    "device profile \(name): missing `\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))` (see DeviceProfiles/README.md)"
            )
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw DeviceProfileError(
                description:
                    "device profile \(name): `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` has the wrong type"
            )
        } catch let DecodingError.dataCorrupted(ctx) {
            throw DeviceProfileError(
                description:
                    "device profile \(name): `\(ctx.codingPath.map(\.stringValue).joined(separator: "."))` is invalid (\(ctx.debugDescription))"
            )
        } catch {
            throw DeviceProfileError(description: "device profile \(name) is not valid YAML: \(error)")
        }
        guard DeviceProfile.kinds.contains(p.kind) else {
            throw DeviceProfileError(
                description:
                    "device profile \(name): kind `\(p.kind)` is not one of \(DeviceProfile.kinds.joined(separator: ", "))"
            )
        }
        guard DeviceProfile.transports.contains(p.transport) else {
            throw DeviceProfileError(
                description:
                    "device profile \(name): transport `\(p.transport)` is not one of \(DeviceProfile.transports.joined(separator: ", "))"
            )
        }
        if let b = p.serial?.baud, SerialSettings.speed(b) == nil {
            throw DeviceProfileError(description: "device profile \(name): serial.baud \(b) is not supported")
        }
        if p.kind == "receiptPrinter" {
            do { try p.validateReceiptPrinter() } catch let e as DeviceProfileError {
                throw DeviceProfileError(description: "device profile \(name): \(e.description)")
            }
        }
        return p
    }
}
