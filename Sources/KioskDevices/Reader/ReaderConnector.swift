import Foundation
import Synchronization
import KioskProtocols
import Logging

/// How kioskd looks for its ID-card reader (kiosk.yaml `devices.idCardReader`).
/// Where the connector looks for a reader.
public enum ReaderLinkMode: String, Sendable, Equatable, CaseIterable {
    case usb, serial, hid, auto
}

public struct ReaderConnectionSettings: Sendable, Equatable {
    public var mode: ReaderLinkMode
    /// Serial: the tty (`/dev/ttyUSB0`, `/dev/serial/by-id/…`); hid: the hidraw node; usb: the
    /// port path (`1-1.4`). Optional: without it, devices matching a reader profile are probed.
    public var path: String?
    /// Restrict to one profile id.
    public var profileId: String?
    /// Serial baud (overrides the profile; default 115200).
    public var baud: Int?

    public init(mode: ReaderLinkMode, path: String? = nil, profileId: String? = nil, baud: Int? = nil) {
        self.mode = mode
        self.path = path
        self.profileId = profileId
        self.baud = baud
    }
}

/// Wakes waiters when something may have changed (a hot-plug event).
public final class ChangeSignal: Sendable {
    /// Waiting continuations by id, the last id given out, and a signal nobody has seen yet.
    private struct State {
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var serial = 0
        var pending = false
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let w: [CheckedContinuation<Void, Never>] = state.withLock { st in
            st.pending = st.waiters.isEmpty
            let w = Array(st.waiters.values)
            st.waiters.removeAll()
            return w
        }
        for c in w { c.resume() }
    }

    private func resume(_ id: Int) {
        let c = state.withLock { $0.waiters.removeValue(forKey: id) }
        c?.resume()
    }

    /// Returns at the next `signal()` (or at once if one came while nobody waited), or after `timeout`.
    public func wait(timeout: Duration) async {
        let id: Int = state.withLock { st in
            st.serial += 1
            return st.serial
        }
        await withTaskGroup(of: Void.self) { g in
            g.addTask {
                try? await Task.sleep(for: timeout)
                self.resume(id)
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = state.withLock { st in
                    if st.pending || Task.isCancelled {
                        st.pending = false
                        return true
                    }
                    st.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
            g.cancelAll()
        }
    }
}

/// One place a reader might be.
public struct ReaderCandidate: Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case usb(USBDeviceInfo, interface: Int), serial(String), hid(String) }
    public var kind: Kind
    public var profile: DeviceProfile?
    public var description: String {
        switch kind {
        case let .usb(d, i): return "\(d.location) \(d.usbId) interface \(i)"
        case let .serial(p): return "serial \(p)"
        case let .hid(p): return "hid \(p)"
        }
    }
}

/// Finds readers by looking where the profiles say (USB ids are hints) and accepting only a
/// device that answers the SAM status command `11 FF` within 2 s. Watches libusb hot-plug where
/// available; otherwise the reader re-enumerates every couple of seconds while disconnected.
public final class SAMReaderConnector: ReaderLinkProvider, Sendable {
    public let settings: ReaderConnectionSettings
    /// The reader profiles in use; `updateProfiles` (SIGHUP) replaces them for the next scan.
    public var profiles: [DeviceProfile] { currentProfiles.withLock { $0 } }
    private let currentProfiles: Mutex<[DeviceProfile]>
    let usb: LibUSBContext?
    let logger: Logger
    let changes = ChangeSignal()
    /// sysfs root (tests point it at a fake tree).
    let sysRoot: String
    /// Whether libusb delivers hot-plug events (else the reader re-enumerates while disconnected).
    public let hotplug: Bool

    public init(
        settings: ReaderConnectionSettings, profiles: [DeviceProfile], usb: LibUSBContext?, logger: Logger,
        sysRoot: String = "/sys"
    ) {
        self.settings = settings
        currentProfiles = Mutex(Self.readerProfiles(profiles, settings: settings))
        self.usb = usb
        self.logger = logger
        self.sysRoot = sysRoot
        if let usb, settings.mode == .usb || settings.mode == .auto {
            let sig = changes
            hotplug = usb.startEvents { event, _ in sig.signal() }
        } else {
            hotplug = false
        }
    }

    static func readerProfiles(_ all: [DeviceProfile], settings: ReaderConnectionSettings) -> [DeviceProfile] {
        all.filter { $0.kind == "idCardReader" && (settings.profileId == nil || $0.id == settings.profileId) }
    }

    /// Re-read profiles (SIGHUP): used from the next scan on; a connected reader stays connected.
    public func updateProfiles(_ all: [DeviceProfile]) {
        let p = Self.readerProfiles(all, settings: settings)
        currentProfiles.withLock { $0 = p }
        changes.signal()
    }

    public func waitForChange(timeout: Duration) async {
        await changes.wait(timeout: timeout)
    }

    /// Where to look, best first.
    public func candidates() -> [ReaderCandidate] {
        var out: [ReaderCandidate] = []
        let profiles = self.profiles
        let mode = settings.mode
        if mode == .usb || mode == .auto, let usb {
            for d in usb.devices() {
                if let path = settings.path, mode == .usb {
                    guard d.portPath == path else { continue }
                    let p = profiles.first { $0.transport == "usb-bulk" && $0.matches(d) }
                    if let n = Self.readerInterface(d, profile: p) {
                        out.append(ReaderCandidate(kind: .usb(d, interface: n), profile: p))
                    }
                    continue
                }
                guard let p = profiles.first(where: { $0.transport == "usb-bulk" && $0.matches(d) }) else { continue }
                if let n = Self.readerInterface(d, profile: p) {
                    out.append(ReaderCandidate(kind: .usb(d, interface: n), profile: p))
                }
            }
        }
        // Serial: only the configured port or ports a profile names. SAM frames are never sent to
        // every CH340/CP210x/PL2303/FTDI tty: PIN pads, displays and modems use the same chips.
        if mode == .serial || mode == .auto {
            if let path = settings.path, mode == .serial {
                out.append(ReaderCandidate(kind: .serial(path), profile: profiles.first { $0.transport == "serial" }))
            } else {
                for p in profiles where p.transport == "serial" {
                    for port in p.serial?.ports ?? [] where FileManager.default.fileExists(atPath: port) {
                        out.append(ReaderCandidate(kind: .serial(port), profile: p))
                    }
                }
            }
        }
        // HID readers: the configured node, or every hidraw node whose USB ids a profile names.
        let nodeKinds:
            [(
                mode: ReaderLinkMode, transport: String, make: (String) -> ReaderCandidate.Kind,
                nodes: () -> [(String, UInt16, UInt16)]
            )] = [
                (.hid, "hid-a", { .hid($0) }, hidrawNodes)
            ]
        for k in nodeKinds where mode == k.mode || mode == .auto {
            if let path = settings.path, mode == k.mode {
                out.append(ReaderCandidate(kind: k.make(path), profile: profiles.first { $0.transport == k.transport }))
                continue
            }
            for (node, vid, pid) in k.nodes() {
                if let p = profiles.first(where: {
                    $0.transport == k.transport && $0.usb?.vendorId == vid
                        && ($0.usb?.productId == nil || $0.usb?.productId == pid)
                }) {
                    out.append(ReaderCandidate(kind: k.make(node), profile: p))
                }
            }
        }
        return out
    }

    /// The interface to claim: the profile's, else the first vendor-class (or profile-class)
    /// interface with a bulk OUT and a bulk or interrupt IN endpoint.
    static func readerInterface(_ d: USBDeviceInfo, profile: DeviceProfile?) -> Int? {
        if let n = profile?.usb?.interface { return n }
        let cls = profile?.usb?.interfaceClass ?? 0xFF
        return d.interfaces.first {
            $0.alternate == 0 && $0.interfaceClass == cls
                && $0.endpoints.contains { !$0.isIn && ($0.isBulk || $0.isInterrupt) }
                && $0.endpoints.contains { $0.isIn }
        }?.number
    }

    /// USB-serial bridges a serial reader profile's ids match but nobody named: listed in the
    /// "no reader found" message so the technician can name the right one.
    func unnamedSerialBridges() -> [String] {
        let ps = profiles.filter { $0.transport == "serial" }
        return serialPorts().compactMap { node, vid, pid in
            ps.contains { $0.usb?.vendorId == vid && ($0.usb?.productId == nil || $0.usb?.productId == pid) }
                ? "\(node) (\(String(format: "%04x:%04x", vid, pid)))" : nil
        }
    }

    /// USB-serial ttys with the ids of the bridge they sit on.
    func serialPorts() -> [(String, UInt16, UInt16)] {
        let cls = sysRoot + "/class/tty"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cls) else { return [] }
        var out: [(String, UInt16, UInt16)] = []
        for n in names.sorted() where n.hasPrefix("ttyUSB") || n.hasPrefix("ttyACM") {
            guard let dev = try? FileManager.default.destinationOfSymbolicLink(atPath: cls + "/" + n + "/device") else {
                continue
            }
            var dir = URL(fileURLWithPath: cls + "/" + n).appendingPathComponent(dev).standardizedFileURL.path
            for _ in 0..<4 {
                if let v = Self.hex(dir + "/idVendor"), let p = Self.hex(dir + "/idProduct") {
                    out.append(("/dev/" + n, v, p))
                    break
                }
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        return out
    }

    /// hidraw nodes with their USB ids (from HID_ID in the parent's uevent).
    func hidrawNodes() -> [(String, UInt16, UInt16)] {
        let cls = sysRoot + "/class/hidraw"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cls) else { return [] }
        var out: [(String, UInt16, UInt16)] = []
        for n in names.sorted() {
            guard let ev = try? String(contentsOfFile: cls + "/" + n + "/device/uevent", encoding: .utf8),
                let line = ev.split(separator: "\n").first(where: { $0.hasPrefix("HID_ID=") })
            else { continue }
            let parts = line.dropFirst(7).split(separator: ":")
            guard parts.count == 3, let v = UInt32(parts[1], radix: 16), let p = UInt32(parts[2], radix: 16) else {
                continue
            }
            out.append(("/dev/" + n, UInt16(truncatingIfNeeded: v), UInt16(truncatingIfNeeded: p)))
        }
        return out
    }

    static func hex(_ path: String) -> UInt16? {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return UInt16(s.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
    }

    /// The endpoint layouts to probe for a USB candidate (one for serial and HID).
    func layouts(_ c: ReaderCandidate) -> [USBEndpointLayout?] {
        guard case let .usb(d, n) = c.kind else { return [nil] }
        guard let iface = d.interfaces.first(where: { $0.number == n && $0.alternate == 0 }) else { return [nil] }
        let ls = USBEndpointLayout.candidates(on: iface, profile: c.profile)
        return ls.isEmpty ? [nil] : ls
    }

    func open(_ c: ReaderCandidate, layout: USBEndpointLayout? = nil) throws -> any ByteTransport {
        switch c.kind {
        case let .usb(d, n):
            guard let usb else { throw TransportError("libusb is not available") }
            let ep = c.profile?.usb?.endpoints
            return try USBBulkTransport(
                context: usb, device: d, interface: n, outEndpoint: ep?.out, inEndpoint: ep?.in, layout: layout)
        case let .serial(path):
            return try SerialTransport(
                path: path, settings: SerialSettings(baud: settings.baud ?? c.profile?.serial?.baud ?? 115_200))
        case let .hid(path):
            return try HIDRawTransport(path: path, reportSize: c.profile?.hid?.reportSize ?? 64)
        }
    }

    public func connect() async -> (link: ReaderLink?, problem: String?) {
        let cands = candidates()
        if cands.isEmpty {
            let where_ = settings.path.map { " at \($0)" } ?? ""
            var hint = ""
            if settings.path == nil, settings.mode == .serial || settings.mode == .auto {
                let bridges = unnamedSerialBridges()
                if !bridges.isEmpty {
                    hint =
                        "; USB-serial bridges \(bridges.joined(separator: ", ")) are not probed because no one named them: set devices.idCardReader.path to the reader's /dev/serial/by-path/… name"
                }
            }
            return (
                nil,
                "no ID-card reader found\(where_) (mode \(settings.mode.rawValue)); check the USB cable, then run `kioskctl devices` to see what is attached and which profile matched\(hint)"
            )
        }
        var problems: [String] = []
        for c in cands {
            let ls = layouts(c)
            for layout in ls {
                let t: any ByteTransport
                do { t = try open(c, layout: layout) } catch {
                    problems.append("\(c): \(error)")
                    break
                }
                if await Self.answersSAMStatus(t) {
                    let model = c.profile?.name ?? "SAM reader"
                    logger.info(
                        "ID-card reader found",
                        metadata: [
                            "at": "\(c)", "profile": "\(c.profile?.id ?? "-")",
                            "layout": "\(layout?.description ?? "-")",
                        ])
                    return (
                        ReaderLink(transport: t, model: model, connection: t.description, profileId: c.profile?.id), nil
                    )
                }
                await t.close()
                let tried = layout.map { " with endpoint layout \($0)" } ?? ""
                problems.append(
                    "\(c): does not answer the SAM status command (11 FF)\(tried) — not an ID-card reader, wrong baud rate, or an endpoint layout the profile does not list (usb.layouts)"
                )
            }
        }
        return (nil, problems.joined(separator: "; "))
    }

    /// Sends `11 FF` and waits up to 2 s for any well-formed SAM reply (90, or 60 for a SAM that
    /// needs a reset: still a reader).
    public static func answersSAMStatus(_ t: any ByteTransport) async -> Bool {
        await t.flushInput()
        var parser = SAMFrameParser()
        do {
            try await t.write(SAMCommand.samStatus.encoded())
            let deadline = ContinuousClock.now + .milliseconds(SAMCommand.samStatus.hostTimeoutMilliseconds)
            while ContinuousClock.now < deadline {
                parser.feed(try await t.read(maxBytes: 64, timeout: .milliseconds(200)))
                while let f = parser.next() {
                    if case .frame(let body) = f, let r = try? SAMReply(body: body) {
                        return r.status == 0x90 || r.status == 0x60
                    }
                }
            }
        } catch {
            return false
        }
        return false
    }
}
