import Foundation

/// The host-side files that give kioskd its devices, generated from the device profiles (so a new
/// profile needs no hand-edited rule): udev rules that hand exactly the profiles' devices to one
/// group, and a CUPS usb-quirks file that keeps CUPS's usb backend off the receipt printers.
public enum DeviceAccessRules {
    /// One USB id pair of a profile (product nil: every product of the vendor).
    public struct Match: Sendable, Equatable {
        public var profileId: String
        public var transport: String
        public var vendorId: UInt16
        public var productId: UInt16?
    }

    /// Profiles with USB ids whose device kioskd opens itself (simulators and CUPS queues have none).
    public static func matches(_ profiles: [DeviceProfile]) -> [Match] {
        profiles.sorted { $0.id < $1.id }.compactMap { p in
            guard p.transport != "simulator", p.transport != "cups", let v = p.usb?.vendorId else { return nil }
            return Match(profileId: p.id, transport: p.transport, vendorId: v, productId: p.usb?.productId)
        }
    }

    static func hex(_ v: UInt16) -> String { String(format: "%04x", v) }

    /// `ATTRS{idVendor}=="vvvv", ATTRS{idProduct}=="pppp"` (ATTR for the usb_device itself).
    static func ids(_ m: Match, parent: Bool) -> String {
        let a = parent ? "ATTRS" : "ATTR"
        var s = "\(a){idVendor}==\"\(hex(m.vendorId))\""
        if let p = m.productId { s += ", \(a){idProduct}==\"\(hex(p))\"" }
        return s
    }

    /// udev rules: group `group`, mode 0660, for each profile's device node and nothing else.
    /// usb-bulk / usb-printer / usb-vendor: the usb_device node libusb opens (/dev/bus/usb/BBB/DDD);
    /// serial: the tty of the bridge (ttyUSB*/ttyACM*); hid-a/hid-b: the hidraw node;
    /// v4l2: the video node. Serial and vendor-class readers are also hidden from ModemManager.
    public static func udevRules(profiles: [DeviceProfile], group: String = "kioskdev") -> String {
        var out = """
            # Generated from DeviceProfiles/ by `kioskctl packaging udev-rules` at package build time; do not edit.
            # Gives group \(group) (kioskd's SupplementaryGroups=) read/write access to exactly the devices
            # the device profiles name, mode 0660. Nothing here is world-accessible.

            """
        let access = "GROUP=\"\(group)\", MODE=\"0660\""
        for m in matches(profiles) {
            out += "\n# \(m.profileId) (\(m.transport))\n"
            switch m.transport {
            case "usb-bulk", "usb-printer", "usb-vendor":
                out += "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", \(ids(m, parent: false)), \(access)"
                if m.transport == "usb-bulk" { out += ", ENV{ID_MM_DEVICE_IGNORE}=\"1\"" }
                out += "\n"
            case "serial":
                out +=
                    "SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*|ttyACM*\", \(ids(m, parent: true)), \(access), ENV{ID_MM_DEVICE_IGNORE}=\"1\"\n"
            case "hid-a", "hid-b":
                out += "SUBSYSTEM==\"hidraw\", KERNEL==\"hidraw*\", \(ids(m, parent: true)), \(access)\n"
            case "v4l2":
                out += "SUBSYSTEM==\"video4linux\", KERNEL==\"video*\", \(ids(m, parent: true)), \(access)\n"
            default:
                out += "# transport \(m.transport): no device node rule\n"
            }
        }
        return out
    }

    /// Rules that must run after the distribution's (99-kioskd-late.rules): a serial reader's
    /// bridge is claimed by nobody else. brltty's rules (85-brltty.rules / 90-brltty-device.rules)
    /// take CH340/CP210x ids as braille displays and start brltty on them, which detaches the
    /// serial driver from the reader; ModemManager probes ttys with AT commands. Only the ids of
    /// serial reader profiles are touched; the kiosk has no braille display on those ids.
    public static func lateUdevRules(profiles: [DeviceProfile]) -> String {
        var out = """
            # Generated from DeviceProfiles/ by `kioskctl packaging udev-rules --late`; do not edit.
            # Runs after brltty's and ModemManager's rules: the USB-serial bridges of ID-card reader
            # profiles are neither braille displays nor modems.

            """
        let readers = matches(profiles.filter { $0.kind == "idCardReader" && $0.transport == "serial" })
        if readers.isEmpty { out += "# (no serial reader profile has USB ids)\n" }
        for m in readers {
            out += "\n# \(m.profileId)\n"
            out +=
                "ACTION!=\"remove\", SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", \(ids(m, parent: false)), ENV{BRLTTY_BRAILLE_DRIVER}=\"\", ENV{SYSTEMD_WANTS}=\"\", ENV{ID_MM_DEVICE_IGNORE}=\"1\"\n"
            out +=
                "ACTION!=\"remove\", SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*|ttyACM*\", \(ids(m, parent: true)), ENV{ID_MM_DEVICE_IGNORE}=\"1\", ENV{ID_MM_PORT_IGNORE}=\"1\"\n"
        }
        return out
    }

    /// CUPS usb-quirks lines (`0xVVVV 0xPPPP blacklist`) for the receipt printers kioskd drives
    /// over USB, so the CUPS usb backend never claims them. Install as /usr/share/cups/usb/kiosk.usb-quirks.
    public static func cupsUSBQuirks(profiles: [DeviceProfile]) -> String {
        var out = """
            # Generated from DeviceProfiles/ by `kioskctl packaging usb-quirks` at package build time; do not edit.
            # Receipt printers driven by kioskd over USB: the CUPS usb backend must leave them alone.

            """
        let printers = profiles.filter { $0.kind == "receiptPrinter" }
        let ms = matches(printers)
        if ms.isEmpty { out += "# (no receipt-printer profile has USB ids yet)\n" }
        for m in ms {
            out += "# \(m.profileId)\n"
            out += "0x\(hex(m.vendorId))" + (m.productId.map { " 0x\(hex($0))" } ?? "") + " blacklist\n"
        }
        return out
    }
}
