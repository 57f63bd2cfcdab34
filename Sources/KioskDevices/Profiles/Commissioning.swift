import Foundation

/// `kioskctl commission`: looks at what is attached (sysfs), matches it against the configured
/// devices and their profiles, and writes udev rules pinned to exactly those devices (USB ids
/// plus serial number, or the USB port when the device has no usable serial). Profiles without
/// USB ids (generic-58, generic-80, uvc-document-camera-generic) get no packaged rule, and stock
/// udev leaves /dev/video* root:video and printer-class nodes root:lp, so without this step the
/// camera and a generic printer fail with EACCES under kioskd.service (as root they work).
public enum Commissioning {
    /// One USB device as sysfs shows it (/sys/bus/usb/devices/<port>).
    public struct USBDevice: Sendable, Equatable {
        /// The kernel name = the port path, e.g. `1-1.4`.
        public var port: String
        public var vendorId: UInt16
        public var productId: UInt16
        public var serial: String?
        public var product: String?
        /// bInterfaceClass of each interface.
        public var interfaceClasses: [UInt8]
        public var isPrinterClass: Bool { interfaceClasses.contains(7) }
        public var usbId: String { String(format: "%04x:%04x", vendorId, productId) }
        public var label: String { "\(usbId) at USB port \(port)" + (product.map { " (\($0))" } ?? "") }
    }

    /// What the config asks for.
    public struct Request: Sendable {
        public var receiptPrinterProfile: DeviceProfile?
        public var receiptPrinterVendorId: UInt16?
        public var receiptPrinterProductId: UInt16?
        /// USB port path pinning the receipt printer (e.g. 1-1.4).
        public var receiptPrinterPort: String?
        /// The camera node (/dev/videoN or a /dev/v4l/by-id link).
        public var cameraPath: String?
        /// A serial reader's tty (/dev/serial/by-path/… or /dev/ttyUSBn).
        public var serialReaderPath: String?
        public init(
            receiptPrinterProfile: DeviceProfile? = nil, receiptPrinterVendorId: UInt16? = nil,
            receiptPrinterProductId: UInt16? = nil,
            receiptPrinterPort: String? = nil, cameraPath: String? = nil, serialReaderPath: String? = nil
        ) {
            self.receiptPrinterProfile = receiptPrinterProfile
            self.receiptPrinterVendorId = receiptPrinterVendorId
            self.receiptPrinterProductId = receiptPrinterProductId
            self.receiptPrinterPort = receiptPrinterPort
            self.cameraPath = cameraPath
            self.serialReaderPath = serialReaderPath
        }
    }

    public struct Plan: Sendable {
        public var rules: String
        /// One line per pinned device, for the technician.
        public var pinned: [String]
    }

    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static let rulesPath = "/etc/udev/rules.d/61-kioskd-local.rules"

    // MARK: sysfs

    static func read(_ path: String) -> String? {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? nil : t
    }

    /// USB devices under `<sysRoot>/bus/usb/devices` (hubs' interfaces and root hubs skipped).
    public static func usbDevices(sysRoot: String = "/sys") -> [USBDevice] {
        let dir = sysRoot + "/bus/usb/devices"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var out: [USBDevice] = []
        for n in names.sorted() where !n.contains(":") && !n.hasPrefix("usb") {
            let d = dir + "/" + n
            guard let v = read(d + "/idVendor").flatMap({ UInt16($0, radix: 16) }),
                let p = read(d + "/idProduct").flatMap({ UInt16($0, radix: 16) })
            else { continue }
            let ifaces = ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter {
                $0.hasPrefix(n + ":")
            }.sorted()
            let classes = ifaces.compactMap { read(d + "/" + $0 + "/bInterfaceClass").flatMap { UInt8($0, radix: 16) } }
            out.append(
                USBDevice(
                    port: n, vendorId: v, productId: p, serial: read(d + "/serial"), product: read(d + "/product"),
                    interfaceClasses: classes))
        }
        return out
    }

    /// The USB device a character node (video4linux or tty) sits on: follows
    /// /sys/class/<cls>/<name>/device up to the directory with idVendor.
    public static func usbParent(ofNode node: String, sysClass: String, sysRoot: String = "/sys") -> String? {
        var name = (node as NSString).lastPathComponent
        if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: node) {
            name = (dest as NSString).lastPathComponent
        }
        let link = sysRoot + "/class/" + sysClass + "/" + name + "/device"
        guard let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else { return nil }
        var dir = URL(fileURLWithPath: (link as NSString).deletingLastPathComponent).appendingPathComponent(dest)
            .standardizedFileURL.path
        for _ in 0..<5 {
            if read(dir + "/idVendor") != nil { return (dir as NSString).lastPathComponent }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }

    // MARK: plan

    /// A serial number worth pinning to: present, printable, not a placeholder many units share.
    static func usableSerial(_ s: String?) -> String? {
        guard let s, s.count >= 4, s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\"" }) else { return nil }
        let placeholders: Set<String> = [
            "0000", "00000000", "0123456789", "123456789", "1234567890", "ffffffff", "FFFFFFFF",
        ]
        if placeholders.contains(s) || Set(s).count == 1 { return nil }
        return s
    }

    /// `ATTRS{idVendor}=="…", ATTRS{idProduct}=="…", ATTRS{serial}=="…"` or `KERNELS=="port"`.
    static func pin(_ d: USBDevice, parent: Bool) -> (match: String, how: String) {
        let a = parent ? "ATTRS" : "ATTR"
        var s = String(format: "\(a){idVendor}==\"%04x\", \(a){idProduct}==\"%04x\"", d.vendorId, d.productId)
        if let serial = usableSerial(d.serial) {
            s += ", \(a){serial}==\"\(serial)\""
            return (s, "serial \(serial)")
        }
        s += parent ? ", KERNELS==\"\(d.port)\"" : ", KERNEL==\"\(d.port)\""
        return (s, "USB port \(d.port) (no usable serial number: keep it in this port)")
    }

    public static func plan(_ req: Request, devices: [USBDevice], sysRoot: String = "/sys", group: String = "kioskdev")
        throws -> Plan
    {
        var body = ""
        var pinned: [String] = []
        let access = "GROUP=\"\(group)\", MODE=\"0660\""
        if let profile = req.receiptPrinterProfile {
            let d = try receiptPrinter(req, profile: profile, devices: devices)
            let p = pin(d, parent: false)
            body += "\n# receipt printer (\(profile.id)): \(d.label), pinned by \(p.how)\n"
            body += "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", \(p.match), \(access)\n"
            pinned.append("receipt printer \(profile.id): \(d.label), pinned by \(p.how)")
        }
        if let cam = req.cameraPath {
            guard let port = usbParent(ofNode: cam, sysClass: "video4linux", sysRoot: sysRoot),
                let d = devices.first(where: { $0.port == port })
            else {
                throw Refusal(
                    description:
                        "the camera \(cam) is not attached (or not a USB camera): plug it in, check devices.documentCamera.path (`v4l2-ctl --list-devices`), then run `kioskctl commission` again"
                )
            }
            let p = pin(d, parent: true)
            body += "\n# document camera \(cam): \(d.label), pinned by \(p.how)\n"
            body += "SUBSYSTEM==\"video4linux\", KERNEL==\"video*\", \(p.match), \(access)\n"
            pinned.append("document camera \(cam): \(d.label), pinned by \(p.how)")
        }
        if let tty = req.serialReaderPath {
            guard let port = usbParent(ofNode: tty, sysClass: "tty", sysRoot: sysRoot),
                let d = devices.first(where: { $0.port == port })
            else {
                throw Refusal(
                    description:
                        "the reader's port \(tty) is not attached: plug the reader in, check devices.idCardReader.path (`ls -l /dev/serial/by-path/`), then run `kioskctl commission` again"
                )
            }
            let p = pin(d, parent: true)
            body += "\n# ID-card reader \(tty): \(d.label), pinned by \(p.how); hidden from ModemManager\n"
            body +=
                "SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*|ttyACM*\", \(p.match), \(access), ENV{ID_MM_DEVICE_IGNORE}=\"1\"\n"
            pinned.append("ID-card reader \(tty): \(d.label), pinned by \(p.how)")
        }
        guard !pinned.isEmpty else {
            throw Refusal(
                description:
                    "nothing to commission: the config names no USB receipt printer, V4L2 camera or serial reader")
        }
        let header = """
            # Written by `kioskctl commission` for the devices attached to this kiosk; run it again after
            # replacing a device. Gives group \(group) (kioskd's SupplementaryGroups=) mode 0660 on exactly
            # these devices; the packaged 60-kioskd.rules covers profiles with USB ids.

            """
        return Plan(rules: header + body, pinned: pinned)
    }

    /// The receipt printer to pin. A profile without ids (generic-58/80) matches any printer-class
    /// device: with more than one attached and none pinned by the config, it is refused, because
    /// claiming the A4 printer's interface (detaching usblp) takes it from CUPS and prints ESC/POS
    /// garbage on A4.
    static func receiptPrinter(_ req: Request, profile: DeviceProfile, devices: [USBDevice]) throws -> USBDevice {
        let vid = req.receiptPrinterVendorId ?? profile.usb?.vendorId
        let pid =
            req.receiptPrinterVendorId == nil
            ? (req.receiptPrinterProductId ?? profile.usb?.productId) : req.receiptPrinterProductId
        let cls: UInt8 = profile.usb?.interfaceClass ?? (profile.transport == "usb-vendor" ? 0xFF : 7)
        var cands = devices.filter { d in
            (vid == nil || d.vendorId == vid) && (pid == nil || d.productId == pid) && d.interfaceClasses.contains(cls)
        }
        if let port = req.receiptPrinterPort { cands = cands.filter { $0.port == port } }
        if cands.isEmpty {
            let printers = devices.filter(\.isPrinterClass).map(\.label)
            throw Refusal(
                description: "no attached USB device matches receipt printer profile \(profile.id)"
                    + (printers.isEmpty
                        ? " (no printer-class device is attached: check the printer's power and cable)"
                        : "; printer-class devices attached: \(printers.joined(separator: "; "))"))
        }
        if cands.count > 1 {
            let list = cands.map(\.label).joined(separator: "; ")
            throw Refusal(
                description:
                    "\(cands.count) devices match receipt printer profile \(profile.id): \(list). kioskd must never claim the A4 printer: set devices.receiptPrinter.vendorId and productId (from `lsusb`) or devices.receiptPrinter.path to the receipt printer's USB port, then run `kioskctl commission` again"
            )
        }
        return cands[0]
    }
}
