import CLibUSB
import Foundation
import Synchronization

// A thin, thread-safe Swift layer over libusb-1.0: enumeration with descriptors, opening and
// claiming (check-then-detach of kernel drivers), bulk and control transfers that report how
// many bytes moved, and hot-plug with an event thread. Used by the ID-card reader (vendor class)
// and the receipt printer (printer class). Under test it runs unmodified against umockdev.

/// A libusb error with the advice a technician needs.
public struct USBError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: Int32
    public var operation: String

    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    public var name: String { String(cString: libusb_error_name(code)) }
    public var disconnected: Bool { code == LIBUSB_ERROR_NO_DEVICE.rawValue }
    public var timedOut: Bool { code == LIBUSB_ERROR_TIMEOUT.rawValue }
    public var stalled: Bool { code == LIBUSB_ERROR_PIPE.rawValue }

    public var description: String {
        let advice: String
        switch code {
        case LIBUSB_ERROR_ACCESS.rawValue:
            advice =
                "no permission: install the udev rule for this device (GROUP=kioskdev, MODE=0660) and add kioskd to that group"
        case LIBUSB_ERROR_BUSY.rawValue:
            advice =
                "another program holds the interface (is a second kioskd or CUPS using it?); stop it or blacklist the device in CUPS usb-quirks"
        case LIBUSB_ERROR_NO_DEVICE.rawValue:
            advice = "the device was unplugged; check the USB cable, it is picked up again when it comes back"
        case LIBUSB_ERROR_NOT_FOUND.rawValue:
            advice = "the interface or device is not there; check the device profile's interface and endpoints"
        case LIBUSB_ERROR_TIMEOUT.rawValue:
            advice = "the device did not answer in time; check power and cable"
        case LIBUSB_ERROR_PIPE.rawValue:
            advice = "the endpoint stalled; the halt is cleared and the command retried"
        default:
            advice = "check the cable, the USB hub and the device profile"
        }
        return "USB \(operation) failed: \(name) — \(advice)"
    }
}

public struct USBEndpointInfo: Sendable, Equatable, Codable {
    public var address: UInt8
    /// 0 control, 1 isochronous, 2 bulk, 3 interrupt.
    public var transferType: UInt8
    public var maxPacketSize: Int
    public var isIn: Bool { address & 0x80 != 0 }
    public var isBulk: Bool { transferType == 2 }
    public var isInterrupt: Bool { transferType == 3 }
}

public struct USBInterfaceInfo: Sendable, Equatable, Codable {
    public var number: Int
    public var alternate: Int
    public var interfaceClass: UInt8
    public var interfaceSubclass: UInt8
    public var interfaceProtocol: UInt8
    public var endpoints: [USBEndpointInfo]

    public var bulkIn: USBEndpointInfo? { endpoints.first { $0.isIn && $0.isBulk } }
    public var bulkOut: USBEndpointInfo? { endpoints.first { !$0.isIn && $0.isBulk } }
}

/// What enumeration tells about one device (no handle is opened to learn it).
public struct USBDeviceInfo: Sendable, Equatable, Codable {
    public var vendorId: UInt16
    public var productId: UInt16
    public var bus: UInt8
    public var address: UInt8
    /// Port path as in sysfs, e.g. "1-1" or "1-1.4".
    public var portPath: String
    public var deviceClass: UInt8
    public var configurationValue: Int
    public var interfaces: [USBInterfaceInfo]

    /// "0400:c35a", as lsusb prints it.
    public var usbId: String { String(format: "%04x:%04x", vendorId, productId) }
    /// Where it is plugged in, e.g. "usb 1-1 (bus 1 device 2)".
    public var location: String { "usb \(portPath) (bus \(bus) device \(address))" }
}

public enum USBHotplugEvent: Sendable { case arrived, left }

/// One libusb context. The daemon keeps one for its lifetime; tests make one per testbed
/// (libusb reads the device list at init, and umockdev's testbed must exist first).
public final class LibUSBContext: Sendable {
    /// libusb contexts may be used from any thread (libusb's own locking).
    nonisolated(unsafe) let ctx: OpaquePointer
    /// The event thread's state and the registered hot-plug callback (its handler box retained
    /// until it is deregistered).
    private struct Events {
        var running = false
        var threadDone: DispatchSemaphore?
        var hotplugHandle: libusb_hotplug_callback_handle = 0
        var hotplugBox: Unmanaged<HotplugBox>?
    }
    private let events = Mutex(Events())

    final class HotplugBox: Sendable {
        let handler: @Sendable (USBHotplugEvent, USBDeviceInfo) -> Void
        init(_ h: @escaping @Sendable (USBHotplugEvent, USBDeviceInfo) -> Void) { handler = h }
    }

    public init() throws {
        var c: OpaquePointer?
        let rc = libusb_init(&c)
        guard rc == 0, let c else { throw USBError(rc, "init (is /dev/bus/usb visible? PrivateDevices= hides it)") }
        ctx = c
    }

    deinit {
        stopEvents()
        libusb_exit(ctx)
    }

    /// Whether this libusb build and platform deliver hot-plug callbacks.
    public var supportsHotplug: Bool { libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 }

    /// All devices with their descriptors. Devices whose descriptors cannot be read are skipped.
    public func devices() -> [USBDeviceInfo] {
        withDeviceList { list in list.compactMap { Self.describe($0.1) } }
    }

    func withDeviceList<T>(_ body: ([(Int, OpaquePointer)]) -> T) -> T {
        var listPtr: UnsafeMutablePointer<OpaquePointer?>?
        let n = libusb_get_device_list(ctx, &listPtr)
        guard n >= 0, let listPtr else { return body([]) }
        defer { libusb_free_device_list(listPtr, 1) }
        var devs: [(Int, OpaquePointer)] = []
        for i in 0..<Int(n) { if let d = listPtr[i] { devs.append((i, d)) } }
        return body(devs)
    }

    static func describe(_ dev: OpaquePointer) -> USBDeviceInfo? {
        var desc = libusb_device_descriptor()
        guard libusb_get_device_descriptor(dev, &desc) == 0 else { return nil }
        let bus = libusb_get_bus_number(dev)
        let address = libusb_get_device_address(dev)
        var ports = [UInt8](repeating: 0, count: 8)
        let np = libusb_get_port_numbers(dev, &ports, Int32(ports.count))
        let portPath = np > 0 ? "\(bus)-" + ports.prefix(Int(np)).map(String.init).joined(separator: ".") : "\(bus)-?"
        var interfaces: [USBInterfaceInfo] = []
        var configValue = 1
        var cfgPtr: UnsafeMutablePointer<libusb_config_descriptor>?
        if libusb_get_active_config_descriptor(dev, &cfgPtr) == 0 || libusb_get_config_descriptor(dev, 0, &cfgPtr) == 0,
            let cfg = cfgPtr
        {
            defer { libusb_free_config_descriptor(cfg) }
            configValue = Int(cfg.pointee.bConfigurationValue)
            for i in 0..<Int(cfg.pointee.bNumInterfaces) {
                let iface = cfg.pointee.interface[i]
                for a in 0..<Int(iface.num_altsetting) {
                    let alt = iface.altsetting[a]
                    var eps: [USBEndpointInfo] = []
                    for e in 0..<Int(alt.bNumEndpoints) {
                        let ep = alt.endpoint[e]
                        eps.append(
                            USBEndpointInfo(
                                address: ep.bEndpointAddress, transferType: ep.bmAttributes & 0x03,
                                maxPacketSize: Int(ep.wMaxPacketSize)))
                    }
                    interfaces.append(
                        USBInterfaceInfo(
                            number: Int(alt.bInterfaceNumber), alternate: Int(alt.bAlternateSetting),
                            interfaceClass: alt.bInterfaceClass, interfaceSubclass: alt.bInterfaceSubClass,
                            interfaceProtocol: alt.bInterfaceProtocol, endpoints: eps))
                }
            }
        }
        return USBDeviceInfo(
            vendorId: desc.idVendor, productId: desc.idProduct, bus: bus, address: address,
            portPath: portPath, deviceClass: desc.bDeviceClass, configurationValue: configValue,
            interfaces: interfaces)
    }

    /// What a hot-plug callback may know about a device: ids (the cached device descriptor, only
    /// on arrival) and where it sits. No interfaces: enumerate with `devices()` after the signal.
    static func hotplugInfo(_ dev: OpaquePointer, arrived: Bool) -> USBDeviceInfo {
        var desc = libusb_device_descriptor()
        let haveDesc = arrived && libusb_get_device_descriptor(dev, &desc) == 0
        return USBDeviceInfo(
            vendorId: haveDesc ? desc.idVendor : 0, productId: haveDesc ? desc.idProduct : 0,
            bus: libusb_get_bus_number(dev), address: libusb_get_device_address(dev), portPath: "?",
            deviceClass: haveDesc ? desc.bDeviceClass : 0, configurationValue: 1, interfaces: [])
    }

    /// Opens the device enumerated as `info` (matched by bus and address).
    public func open(_ info: USBDeviceInfo) throws -> USBDeviceHandle {
        let result: Result<OpaquePointer, USBError> = withDeviceList { list in
            guard
                let dev = list.first(where: {
                    libusb_get_bus_number($0.1) == info.bus && libusb_get_device_address($0.1) == info.address
                })?.1
            else { return .failure(USBError(LIBUSB_ERROR_NO_DEVICE.rawValue, "open \(info.location)")) }
            var h: OpaquePointer?
            let rc = libusb_open(dev, &h)
            guard rc == 0, let h else { return .failure(USBError(rc, "open \(info.usbId) at \(info.location)")) }
            return .success(h)
        }
        return USBDeviceHandle(handle: try result.get(), info: info, context: self)
    }

    /// Starts the event thread and, where supported, hot-plug callbacks. Returns false when the
    /// platform has no hot-plug (callers then re-enumerate periodically).
    @discardableResult
    public func startEvents(onHotplug: (@Sendable (USBHotplugEvent, USBDeviceInfo) -> Void)? = nil) -> Bool {
        let ctx = self.ctx
        let supported = supportsHotplug
        return events.withLock { ev -> Bool in
            var hotplug = false
            if let onHotplug, supported, ev.hotplugBox == nil {
                let box = Unmanaged.passRetained(HotplugBox(onHotplug))
                let cb: kiosk_hotplug_fn = { _, dev, event, user in
                    guard let dev, let user else { return 0 }
                    let box = Unmanaged<HotplugBox>.fromOpaque(user).takeUnretainedValue()
                    let kind: USBHotplugEvent = event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? .arrived : .left
                    // libusb runs this on its event thread with its locks held: no I/O, no opening,
                    // no config descriptors (a device that left has none to give). Only the cached
                    // device descriptor and the address; the handler signals, enumeration happens
                    // outside (libusb API docs, "Device hotplug event notification").
                    box.handler(kind, LibUSBContext.hotplugInfo(dev, arrived: kind == .arrived))
                    return 0
                }
                let mask = Int32(
                    LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
                if kiosk_hotplug_register(ctx, mask, cb, box.toOpaque(), &ev.hotplugHandle) == 0 {
                    ev.hotplugBox = box
                    hotplug = true
                } else {
                    box.release()
                }
            } else if ev.hotplugBox != nil {
                hotplug = true
            }
            if !ev.running {
                ev.running = true
                let done = DispatchSemaphore(value: 0)
                ev.threadDone = done
                nonisolated(unsafe) let ctx = ctx
                let t = Thread { [weak self] in
                    var tv = timeval(tv_sec: 0, tv_usec: 250_000)
                    while self?.isRunning ?? false {
                        _ = libusb_handle_events_timeout_completed(ctx, &tv, nil)
                    }
                    done.signal()
                }
                t.name = "libusb-events"
                t.start()
            }
            return hotplug
        }
    }

    var isRunning: Bool { events.withLock { $0.running } }

    public func stopEvents() {
        let (wasRunning, done, bits, handle) = events.withLock { ev in
            defer {
                ev.running = false
                ev.hotplugBox = nil
            }
            return (ev.running, ev.threadDone, ev.hotplugBox.map { UInt(bitPattern: $0.toOpaque()) }, ev.hotplugHandle)
        }
        if bits != nil { libusb_hotplug_deregister_callback(ctx, handle) }
        if wasRunning { done?.wait() }
        if let bits, let raw = UnsafeMutableRawPointer(bitPattern: bits) {
            Unmanaged<HotplugBox>.fromOpaque(raw).release()
        }
    }
}

/// An open device. Transfers may run on several threads at once (libusb is thread-safe);
/// `close()` waits for nothing and makes later calls fail with NO_DEVICE.
public final class USBDeviceHandle: Sendable {
    /// The libusb handle (as its address: libusb handles may be used from any thread), the
    /// interfaces claimed, and those whose kernel driver was detached (re-attached on close).
    private struct State {
        var handle: UInt?
        var claimed: [Int32] = []
        var detached: [Int32] = []
    }
    private let state: Mutex<State>
    public let info: USBDeviceInfo
    let context: LibUSBContext  // keeps the context alive while the handle is open

    init(handle: OpaquePointer, info: USBDeviceInfo, context: LibUSBContext) {
        self.state = Mutex(State(handle: UInt(bitPattern: handle)))
        self.info = info
        self.context = context
    }

    deinit { close() }

    private func current(_ op: String) throws -> OpaquePointer {
        guard let h = handlePointer else {
            throw USBError(LIBUSB_ERROR_NO_DEVICE.rawValue, op + " on a closed handle")
        }
        return h
    }

    /// Claims an interface. A bound kernel driver (usblp, a vendor driver) is detached first and
    /// re-attached on close. Retries BUSY a few times (the kernel may still be releasing it).
    public func claim(interface n: Int) throws {
        let h = try current("claim")
        let iface = Int32(n)
        if libusb_kernel_driver_active(h, iface) == 1 {
            let rc = libusb_detach_kernel_driver(h, iface)
            guard rc == 0 || rc == LIBUSB_ERROR_NOT_FOUND.rawValue else {
                throw USBError(rc, "detach kernel driver from interface \(n)")
            }
            if rc == 0 { state.withLock { $0.detached.append(iface) } }
        }
        var rc: Int32 = 0
        for attempt in 0..<3 {
            rc = libusb_claim_interface(h, iface)
            if rc != LIBUSB_ERROR_BUSY.rawValue { break }
            if attempt < 2 { usleep(100_000) }
        }
        guard rc == 0 else { throw USBError(rc, "claim interface \(n) of \(info.usbId)") }
        state.withLock { $0.claimed.append(iface) }
    }

    /// Sets the configuration only when it differs (some printers lose the next job otherwise).
    public func ensureConfiguration(_ value: Int) throws {
        let h = try current("get configuration")
        var cur: Int32 = 0
        if libusb_get_configuration(h, &cur) == 0, cur == Int32(value) { return }
        let rc = libusb_set_configuration(h, Int32(value))
        guard rc == 0 else { throw USBError(rc, "set configuration \(value)") }
    }

    /// One bulk OUT transfer. Returns how many bytes the device took, even when it then failed
    /// (a timeout can still have moved part of the buffer).
    public func bulkWrite(
        endpoint: UInt8, _ bytes: ArraySlice<UInt8>, timeoutMilliseconds: Int, interrupt: Bool = false
    ) -> (transferred: Int, error: USBError?) {
        guard let h = handlePointer else {
            return (0, USBError(LIBUSB_ERROR_NO_DEVICE.rawValue, "bulk write"))
        }
        var data = Array(bytes)
        var transferred: Int32 = 0
        let rc = data.withUnsafeMutableBufferPointer {
            interrupt
                ? libusb_interrupt_transfer(
                    h, endpoint, $0.baseAddress, Int32($0.count), &transferred, UInt32(max(1, timeoutMilliseconds)))
                : libusb_bulk_transfer(
                    h, endpoint, $0.baseAddress, Int32($0.count), &transferred, UInt32(max(1, timeoutMilliseconds)))
        }
        return (
            Int(transferred), rc == 0 ? nil : USBError(rc, "bulk write to endpoint \(String(format: "%02X", endpoint))")
        )
    }

    /// One bulk (or interrupt) IN transfer of up to `maxLength` bytes. A timeout returns what
    /// arrived (often nothing) without an error.
    public func bulkRead(endpoint: UInt8, maxLength: Int, timeoutMilliseconds: Int, interrupt: Bool = false) throws
        -> [UInt8]
    {
        let h = try current("bulk read")
        var data = [UInt8](repeating: 0, count: max(1, maxLength))
        var transferred: Int32 = 0
        let rc = data.withUnsafeMutableBufferPointer { p in
            interrupt
                ? libusb_interrupt_transfer(
                    h, endpoint, p.baseAddress, Int32(p.count), &transferred, UInt32(max(1, timeoutMilliseconds)))
                : libusb_bulk_transfer(
                    h, endpoint, p.baseAddress, Int32(p.count), &transferred, UInt32(max(1, timeoutMilliseconds)))
        }
        if rc != 0 && rc != LIBUSB_ERROR_TIMEOUT.rawValue && rc != LIBUSB_ERROR_OVERFLOW.rawValue {
            throw USBError(rc, "bulk read from endpoint \(String(format: "%02X", endpoint))")
        }
        return Array(data.prefix(Int(transferred)))
    }

    /// A control transfer. For IN requests (`requestType & 0x80`) `length` bytes are requested
    /// and what arrived is returned; for OUT requests `data` is sent.
    public func control(
        requestType: UInt8, request: UInt8, value: UInt16, index: UInt16,
        length: Int = 0, data: [UInt8] = [], timeoutMilliseconds: Int = 1000
    ) throws -> [UInt8] {
        let h = try current("control transfer")
        var buf = requestType & 0x80 != 0 ? [UInt8](repeating: 0, count: length) : data
        let rc = buf.withUnsafeMutableBufferPointer {
            libusb_control_transfer(
                h, requestType, request, value, index, $0.baseAddress, UInt16($0.count), UInt32(timeoutMilliseconds))
        }
        guard rc >= 0 else { throw USBError(rc, "control request \(request)") }
        return requestType & 0x80 != 0 ? Array(buf.prefix(Int(rc))) : []
    }

    public func clearHalt(endpoint: UInt8) {
        if let h = handlePointer { _ = libusb_clear_halt(h, endpoint) }
    }

    /// Releases claimed interfaces, re-attaches detached kernel drivers and closes the handle.
    public func close() {
        let (bits, c, d) = state.withLock { st in
            defer { st = State() }
            return (st.handle, st.claimed, st.detached)
        }
        guard let h = bits.flatMap(OpaquePointer.init(bitPattern:)) else { return }
        for i in c { _ = libusb_release_interface(h, i) }
        for i in d { _ = libusb_attach_kernel_driver(h, i) }
        libusb_close(h)
    }

    public var isOpen: Bool { state.withLock { $0.handle != nil } }

    /// The open libusb handle, nil once closed.
    private var handlePointer: OpaquePointer? { state.withLock { $0.handle }.flatMap(OpaquePointer.init(bitPattern:)) }
}
