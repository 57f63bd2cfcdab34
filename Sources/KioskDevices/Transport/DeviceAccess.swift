import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// What an open(2) failure on a device node means for kioskd, in words a technician can act on.
/// EACCES is file permissions (udev); EPERM on a device node is the service's device cgroup:
/// `DeviceAllow=char-ttyUSB` (…) is resolved when kioskd starts, and a class whose driver was
/// not loaded yet (usbserial, cdc_acm, videodev, hid) is silently left out until a restart.
public enum DeviceAccess {
    /// The kernel module that registers the character-device class of `path`, if known.
    public static func moduleFor(_ path: String) -> (deviceClass: String, module: String)? {
        let name = resolvedName(path)
        if name.hasPrefix("ttyUSB") { return ("char-ttyUSB", "usbserial") }
        if name.hasPrefix("ttyACM") { return ("char-ttyACM", "cdc_acm") }
        if name.hasPrefix("video") { return ("char-video4linux", "videodev") }
        if name.hasPrefix("hidraw") { return ("char-hidraw", "hid") }
        return nil
    }

    /// The node's own name (`/dev/serial/by-path/…` resolves to `ttyUSB0`).
    static func resolvedName(_ path: String) -> String {
        let real =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map {
                $0.hasPrefix("/")
                    ? $0 : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent($0)
            } ?? path
        return (real as NSString).lastPathComponent
    }

    /// Advice for errno `e` from opening `path`, or nil for errors that are not about access.
    public static func advice(errno e: Int32, path: String) -> String? {
        switch e {
        case EPERM:
            if let m = moduleFor(path) {
                return
                    "the service's device policy does not admit \(path): \(m.deviceClass) was resolved when kioskd started, before the \(m.module) driver was loaded, so systemd left it out. `systemctl restart kioskd` fixes it now; the shipped unit starts after modprobe@\(m.module).service so it does not recur (check `systemctl status modprobe@\(m.module)`, and that a drop-in did not remove the ordering)"
            }
            return
                "the service's device policy (DevicePolicy=closed) does not admit \(path); add a DeviceAllow= for it in a drop-in (systemctl edit kioskd)"
        case EACCES:
            return
                "no permission on \(path) for kioskd's user: the device needs a udev rule giving it to group kioskdev (run `kioskctl commission` on the kiosk, or check /etc/udev/rules.d/61-kioskd-local.rules and 60-kioskd.rules), then replug it"
        default:
            return nil
        }
    }
}
