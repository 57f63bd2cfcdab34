import CUMockdev
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

// An in-process USB device emulator for umockdev: the kiosk's real libusb code opens
// /dev/bus/usb/BBB/DDD, and every usbdevfs ioctl it makes (claim, submit, reap, discard…)
// lands in `handle(_:)` below, which answers URBs from a Swift device model. See
// shared/docs/test-harness.md §4. Run under LD_PRELOAD=libumockdev-preload.so.0.

/// What a device model does with bytes the host sends to a bulk OUT endpoint.
enum USBOutResult {
    /// Took all bytes.
    case accept
    /// Took the first n bytes, then stops taking data (NAK) until the host gives up.
    case acceptPartial(Int)
    /// Takes nothing (NAK): the URB stays pending until the host's timeout discards it.
    case nak
    /// Endpoint halts (LIBUSB_ERROR_PIPE).
    case stall
}

/// The device side of an emulated USB device.
protocol USBDeviceModel: AnyObject, Sendable {
    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult
    /// Up to `max` bytes the device sends now on an IN endpoint; [] = nothing yet (NAK).
    /// nil = the endpoint stalls.
    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]?
    /// Reply to a control request (setup = 8 bytes). nil = stall.
    func control(setup: [UInt8], data: [UInt8]) -> [UInt8]?
}

extension USBDeviceModel {
    func control(setup: [UInt8], data: [UInt8]) -> [UInt8]? { nil }
}

/// Device descriptor text for umockdev (`.umockdev` format) of a one-interface device.
struct UMockUSBDescription {
    var vendorId: UInt16
    var productId: UInt16
    var interfaceClass: UInt8
    var interfaceSubclass: UInt8 = 0
    var interfaceProtocol: UInt8 = 0
    var outEndpoint: UInt8 = 0x01
    var inEndpoint: UInt8 = 0x81
    /// 2 bulk, 3 interrupt.
    var outType: UInt8 = 2
    var inType: UInt8 = 2
    /// More endpoints after the first pair (two-pair readers): address and type.
    var extraEndpoints: [(address: UInt8, type: UInt8)] = []
    var bus = 1
    var devnum = 2
    var port = "1-1"

    var devnode: String { String(format: "/dev/bus/usb/%03d/%03d", bus, devnum) }
    var syspath: String { "/sys/devices/pci0000:00/0000:00:14.0/usb\(bus)/\(port)" }

    var descriptorHex: String {
        func le16(_ v: UInt16) -> String { String(format: "%02X%02X", v & 0xFF, v >> 8) }
        let dev =
            "12010002000000 40".replacingOccurrences(of: " ", with: "") + le16(vendorId) + le16(productId)
            + "0001010203" + "01"
        let eps = [(outEndpoint, outType), (inEndpoint, inType)] + extraEndpoints.map { ($0.address, $0.type) }
        let total = 9 + 9 + 7 * eps.count
        let cfg = "0902" + String(format: "%02X%02X", total & 0xFF, total >> 8) + "01010080" + "32"
        let iface =
            "09040000" + String(format: "%02X", eps.count)
            + String(format: "%02X%02X%02X", interfaceClass, interfaceSubclass, interfaceProtocol) + "00"
        let epHex = eps.map { "0705" + String(format: "%02X%02X", $0.0, $0.1) + "4000" + ($0.1 == 3 ? "01" : "00") }
            .joined()
        return dev + cfg + iface + epHex
    }

    var umockdevText: String {
        let hex = descriptorHex
        return """
            P: \(syspath.replacingOccurrences(of: "/sys", with: ""))
            N: \(String(devnode.dropFirst(5)))=\(hex)
            E: BUSNUM=\(String(format: "%03d", bus))
            E: DEVNAME=\(devnode)
            E: DEVNUM=\(String(format: "%03d", devnum))
            E: DEVTYPE=usb_device
            E: SUBSYSTEM=usb
            E: PRODUCT=\(String(vendorId, radix: 16))/\(String(productId, radix: 16))/100
            A: bConfigurationValue=1\\n
            A: busnum=\(bus)\\n
            A: devnum=\(devnum)\\n
            A: idVendor=\(String(format: "%04x", vendorId))\\n
            A: idProduct=\(String(format: "%04x", productId))\\n
            A: speed=12\\n
            H: descriptors=\(hex)

            """
    }
}

/// A umockdev testbed with emulated USB devices. One at a time per process (umockdev's state is
/// process-wide): tests using it run in a serialized suite.
final class UMockTestbed: @unchecked Sendable {
    let testbed: UnsafeMutablePointer<UMockdevTestbed>
    private var devices: [String: UMockUSBDevice] = [:]
    private var retired: [UMockUSBDevice] = []

    init() {
        testbed = umockdev_testbed_new()
    }

    var inMockEnvironment: Bool { umockdev_in_mock_environment() != 0 }

    /// The testbed's root: a child process with UMOCKDEV_DIR set to it (and the preload library)
    /// sees these devices, and its ioctls are answered by the handlers in this process.
    var rootDir: String {
        let p = umockdev_testbed_get_root_dir(testbed)!
        defer { g_free(p) }
        return String(cString: p)
    }

    @discardableResult
    func add(_ desc: UMockUSBDescription, model: any USBDeviceModel, announce: Bool = false) throws -> UMockUSBDevice {
        var err: UnsafeMutablePointer<GError>?
        guard umockdev_testbed_add_from_string(testbed, desc.umockdevText, &err) != 0 else {
            let m = err.map { String(cString: $0.pointee.message) } ?? "?"
            throw TransportTestError("umockdev add_from_string: \(m)")
        }
        let dev = UMockUSBDevice(model: model, description: desc)
        guard umockdev_testbed_attach_ioctl(testbed, desc.devnode, dev.base, &err) != 0 else {
            let m = err.map { String(cString: $0.pointee.message) } ?? "?"
            throw TransportTestError("umockdev attach_ioctl: \(m)")
        }
        devices[desc.devnode] = dev
        if announce { umockdev_testbed_uevent(testbed, desc.syspath, "add") }
        return dev
    }

    /// Unplug: in-flight and new URBs fail with ENODEV, then the device leaves sysfs with a
    /// "remove" uevent (libusb hot-plug LEFT).
    func unplug(_ desc: UMockUSBDescription) {
        devices[desc.devnode]?.unplugged = true
        umockdev_testbed_uevent(testbed, desc.syspath, "remove")
        umockdev_testbed_remove_device(testbed, desc.syspath)
        var err: UnsafeMutablePointer<GError>?
        _ = umockdev_testbed_detach_ioctl(testbed, desc.devnode, &err)
        // The old handler is kept (retired) until the testbed goes: libusb may still reap from it.
        if let d = devices.removeValue(forKey: desc.devnode) { retired.append(d) }
    }

    private var closed = false

    /// Tears the testbed down. Call it (`defer { tb.close() }`) at the end of the test: Swift may end
    /// an object's lifetime after its last use, while umockdev still calls the handlers.
    func close() {
        guard !closed else { return }
        closed = true
        g_object_unref(testbed)
        unsetenv("UMOCKDEV_DIR")
        for d in devices.values { d.disconnect() }
        for d in retired { d.disconnect() }
    }

    deinit { close() }
}

struct TransportTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One emulated device: the usbdevfs ioctl handler and its URB bookkeeping.
final class UMockUSBDevice: @unchecked Sendable {
    let model: any USBDeviceModel
    let description: UMockUSBDescription
    let base: UnsafeMutablePointer<UMockdevIoctlBase>
    private let lock = NSLock()

    final class URB {
        let urb: UnsafeMutablePointer<UMockdevIoctlData>
        let buffer: UnsafeMutablePointer<UMockdevIoctlData>?
        let type: UInt8
        let endpoint: UInt8
        let length: Int
        var status: Int32 = 0
        var actual = 0
        var inData: [UInt8] = []
        init(
            urb: UnsafeMutablePointer<UMockdevIoctlData>, buffer: UnsafeMutablePointer<UMockdevIoctlData>?, type: UInt8,
            endpoint: UInt8, length: Int
        ) {
            self.urb = urb
            self.buffer = buffer
            self.type = type
            self.endpoint = endpoint
            self.length = length
        }
        var isIn: Bool { endpoint & 0x80 != 0 }
        var clientAddress: UInt { UInt(urb.pointee.client_addr) }
    }

    private var pending: [URB] = []
    private var reapable: [URB] = []
    private var _unplugged = false
    /// Every request seen, for assertions (e.g. "CLAIM", "DISCARD", "CLEAR_HALT").
    private(set) var log: [String] = []
    /// Bulk OUT bytes the device took, in order.
    private(set) var received: [UInt8] = []

    var unplugged: Bool {
        get { lock.withLock { _unplugged } }
        set { lock.withLock { _unplugged = newValue } }
    }

    func events() -> [String] { lock.withLock { log } }
    func bytesReceived() -> [UInt8] { lock.withLock { received } }

    init(model: any USBDeviceModel, description: UMockUSBDescription) {
        self.model = model
        self.description = description
        base = umockdev_ioctl_base_new()
        let cb: kiosk_ioctl_handler = { _, client, user in
            guard let client, let user else { return 0 }
            let dev = Unmanaged<UMockUSBDevice>.fromOpaque(user).takeUnretainedValue()
            dev.handle(client)
            return 1
        }
        handlerId = kiosk_connect_handle_ioctl(base, cb, Unmanaged.passUnretained(self).toOpaque())
    }

    private var handlerId: gulong = 0

    /// Stops umockdev from calling into this object.
    func disconnect() {
        lock.withLock {
            if handlerId != 0 {
                g_signal_handler_disconnect(base, handlerId)
                handlerId = 0
            }
        }
    }

    deinit {
        disconnect()
        for u in pending + reapable { release(u) }
        g_object_unref(base)
    }

    private func release(_ u: URB) {
        g_object_unref(u.urb)
        if let b = u.buffer { g_object_unref(b) }
    }

    private func resolve(_ d: UnsafeMutablePointer<UMockdevIoctlData>, _ offset: Int, _ len: Int)
        -> UnsafeMutablePointer<UMockdevIoctlData>?
    {
        var err: UnsafeMutablePointer<GError>?
        return umockdev_ioctl_data_resolve(d, gsize(offset), gsize(len), &err)
    }

    private func update(_ d: UnsafeMutablePointer<UMockdevIoctlData>, _ offset: Int, _ bytes: [UInt8]) {
        var b = bytes
        b.withUnsafeMutableBufferPointer {
            umockdev_ioctl_data_update(d, gsize(offset), $0.baseAddress, Int32($0.count))
        }
    }

    private func int32Bytes(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    func handle(_ client: UnsafeMutablePointer<UMockdevIoctlClient>) {
        let req = umockdev_ioctl_client_get_request(client)
        guard let arg = umockdev_ioctl_client_get_arg(client) else {
            umockdev_ioctl_client_complete(client, -1, EINVAL)
            return
        }
        lock.lock()
        defer { lock.unlock() }
        let gone = _unplugged
        switch req {
        case kiosk_usbdevfs_get_capabilities():
            log.append("GET_CAPABILITIES")
            if let d = resolve(arg, 0, 4) { update(d, 0, int32Bytes(0x0F)) }
            umockdev_ioctl_client_complete(client, 0, 0)
        case kiosk_usbdevfs_claiminterface(), kiosk_usbdevfs_releaseinterface(), kiosk_usbdevfs_disconnect_claim(),
            kiosk_usbdevfs_setinterface(), kiosk_usbdevfs_setconfiguration(), kiosk_usbdevfs_reset(),
            kiosk_usbdevfs_resetep():
            log.append(name(req))
            if gone {
                umockdev_ioctl_client_complete(client, -1, ENODEV)
            } else {
                umockdev_ioctl_client_complete(client, 0, 0)
            }
        case kiosk_usbdevfs_clear_halt():
            log.append("CLEAR_HALT")
            umockdev_ioctl_client_complete(client, gone ? -1 : 0, gone ? ENODEV : 0)
        case kiosk_usbdevfs_getdriver(), kiosk_usbdevfs_ioctl():
            umockdev_ioctl_client_complete(client, -1, ENODATA)
        case kiosk_usbdevfs_submiturb():
            submit(client, arg, gone: gone)
        case kiosk_usbdevfs_discardurb():
            let addr = arg.pointee.data.withMemoryRebound(to: UInt.self, capacity: 1) { $0.pointee }
            if let i = pending.firstIndex(where: { $0.clientAddress == addr }) {
                let u = pending.remove(at: i)
                u.status = -ENOENT
                reapable.append(u)
                log.append("DISCARD")
                umockdev_ioctl_client_complete(client, 0, 0)
            } else {
                umockdev_ioctl_client_complete(client, -1, EINVAL)
            }
        case kiosk_usbdevfs_reapurb(), kiosk_usbdevfs_reapurbndelay():
            if gone {
                // Everything in flight ends with ENODEV/ESHUTDOWN, then reaping fails.
                for u in pending {
                    u.status = -ENODEV
                    reapable.append(u)
                }
                pending.removeAll()
            } else {
                serviceInURBs()
            }
            guard !reapable.isEmpty else {
                umockdev_ioctl_client_complete(client, -1, gone ? ENODEV : EAGAIN)
                return
            }
            let u = reapable.removeFirst()
            guard let d = resolve(arg, 0, MemoryLayout<UInt>.size) else {
                umockdev_ioctl_client_complete(client, -1, EFAULT)
                return
            }
            if u.isIn || u.type == 2, let b = u.buffer, !u.inData.isEmpty {
                update(b, u.type == 2 ? 8 : 0, u.inData)
            }
            update(u.urb, kiosk_urb_status_offset(), int32Bytes(u.status))
            update(u.urb, kiosk_urb_actual_length_offset(), int32Bytes(Int32(u.actual)))
            umockdev_ioctl_data_set_ptr(d, 0, u.urb)
            umockdev_ioctl_client_complete(client, 0, 0)
            release(u)
        default:
            umockdev_ioctl_client_complete(client, -1, ENOTTY)
        }
    }

    private func name(_ req: UInt) -> String {
        switch req {
        case kiosk_usbdevfs_claiminterface(): return "CLAIM"
        case kiosk_usbdevfs_releaseinterface(): return "RELEASE"
        case kiosk_usbdevfs_disconnect_claim(): return "DISCONNECT_CLAIM"
        case kiosk_usbdevfs_setinterface(): return "SETINTERFACE"
        case kiosk_usbdevfs_setconfiguration(): return "SETCONFIGURATION"
        case kiosk_usbdevfs_reset(): return "RESET"
        case kiosk_usbdevfs_resetep(): return "RESETEP"
        default: return String(req, radix: 16)
        }
    }

    private func submit(
        _ client: UnsafeMutablePointer<UMockdevIoctlClient>, _ arg: UnsafeMutablePointer<UMockdevIoctlData>, gone: Bool
    ) {
        if gone {
            umockdev_ioctl_client_complete(client, -1, ENODEV)
            return
        }
        guard let urbData = resolve(arg, 0, kiosk_urb_size()) else {
            umockdev_ioctl_client_complete(client, -1, EFAULT)
            return
        }
        let raw = UnsafeRawPointer(urbData.pointee.data!)
        let type = kiosk_urb_type(raw)
        let ep = kiosk_urb_endpoint(raw)
        let len = Int(kiosk_urb_buffer_length(raw))
        guard type == 2 || type == 3 || type == 1 else {  // control, bulk, interrupt
            umockdev_ioctl_client_complete(client, -1, ENOTTY)
            return
        }
        let buf = len > 0 ? resolve(urbData, kiosk_urb_buffer_offset(), len) : nil
        g_object_ref(urbData)
        if let buf { g_object_ref(buf) }
        let u = URB(urb: urbData, buffer: buf, type: type, endpoint: ep, length: len)
        if type == 2 {
            log.append("CONTROL")
            let bytes = buf.map { Array(UnsafeBufferPointer(start: $0.pointee.data, count: len)) } ?? []
            let setup = Array(bytes.prefix(8))
            if let reply = model.control(setup: setup, data: Array(bytes.dropFirst(8))) {
                let wLength = setup.count == 8 ? Int(setup[6]) | Int(setup[7]) << 8 : 0
                let r = Array(reply.prefix(min(wLength, max(0, len - 8))))
                u.inData = r
                u.actual = setup.first.map { $0 & 0x80 != 0 } == true ? r.count : max(0, len - 8)
            } else {
                u.status = -EPIPE
            }
            reapable.append(u)
        } else if u.isIn {
            pending.append(u)
            serviceInURBs()
        } else {
            let bytes = buf.map { Array(UnsafeBufferPointer(start: $0.pointee.data, count: len)) } ?? []
            switch model.bulkOut(endpoint: ep, bytes) {
            case .accept:
                received += bytes
                u.actual = len
                reapable.append(u)
            case .acceptPartial(let n):
                received += bytes.prefix(n)
                u.actual = min(n, len)
                pending.append(u)  // completes (as ENOENT, with `actual`) when the host discards it
            case .nak:
                pending.append(u)
            case .stall:
                u.status = -EPIPE
                reapable.append(u)
            }
        }
        umockdev_ioctl_client_complete(client, 0, 0)
    }

    /// Gives pending IN URBs whatever the model has now.
    private func serviceInURBs() {
        var still: [URB] = []
        for u in pending {
            guard u.isIn else {
                still.append(u)
                continue
            }
            guard let bytes = model.bulkIn(endpoint: u.endpoint, max: u.length) else {
                u.status = -EPIPE
                reapable.append(u)
                continue
            }
            if bytes.isEmpty {
                still.append(u)
                continue
            }
            u.inData = Array(bytes.prefix(u.length))
            u.actual = u.inData.count
            reapable.append(u)
        }
        pending = still
    }
}
