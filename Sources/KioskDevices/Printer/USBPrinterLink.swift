import Foundation
import Logging

/// Status the USB printer class gives without going through the (possibly blocked) data pipe.
public protocol PrinterStatusPort: Sendable {
    /// GET_PORT_STATUS byte (bit 5 paper empty, bit 4 selected, bit 3 not-error), nil when unavailable.
    func portStatus() async -> UInt8?
    /// GET_DEVICE_ID (IEEE 1284 "MFG:…;MDL:…;CMD:…;"), nil when unavailable.
    func deviceID() async -> String?
    /// Where the printer is attached, nil when not connected.
    func connection() async -> String?
    /// True for a one-way printer (printer-class protocol 1, or no IN endpoint): no status replies.
    func isOneWay() async -> Bool?
}

/// Which USB device and interface is the receipt printer (from its profile and kiosk.yaml).
public struct USBPrinterSelection: Sendable {
    public var vendorId: UInt16?
    public var productId: UInt16?
    /// 7 (printer class) or 0xFF (vendor class).
    public var interfaceClass: UInt8
    public var interface: Int?
    public var outEndpoint: UInt8?
    public var inEndpoint: UInt8?
    public var writeOptions: USBWriteOptions

    public init(
        vendorId: UInt16? = nil, productId: UInt16? = nil, interfaceClass: UInt8 = 7, interface: Int? = nil,
        outEndpoint: UInt8? = nil, inEndpoint: UInt8? = nil, writeOptions: USBWriteOptions = USBWriteOptions()
    ) {
        self.vendorId = vendorId
        self.productId = productId
        self.interfaceClass = interfaceClass
        self.interface = interface
        self.outEndpoint = outEndpoint
        self.inEndpoint = inEndpoint
        self.writeOptions = writeOptions
    }

    /// From a usb-printer / usb-vendor profile. Vendor-class printers need a vendor id: class FF
    /// alone would also match the ID-card reader.
    public init(
        profile: DeviceProfile, vendorId: UInt16? = nil, productId: UInt16? = nil, writeOptions: USBWriteOptions
    ) throws {
        let cls: UInt8 = profile.usb?.interfaceClass ?? (profile.transport == "usb-vendor" ? 0xFF : 7)
        let v = vendorId ?? profile.usb?.vendorId
        if cls != 7 && v == nil {
            throw TransportError(
                "profile \(profile.id) is vendor class (0x\(String(cls, radix: 16))) but names no vendorId; set usb.vendorId in the profile or devices.receiptPrinter.vendorId"
            )
        }
        self.init(
            vendorId: v, productId: productId ?? (vendorId == nil ? profile.usb?.productId : nil), interfaceClass: cls,
            interface: profile.usb?.interface, outEndpoint: profile.usb?.endpoints?.out,
            inEndpoint: profile.usb?.endpoints?.in, writeOptions: writeOptions)
    }

    /// The first enumerated device and interface that match.
    public func find(in devices: [USBDeviceInfo]) -> (USBDeviceInfo, USBInterfaceInfo)? {
        findAll(in: devices).first
    }

    /// Every enumerated device (with its interface) that matches.
    public func findAll(in devices: [USBDeviceInfo]) -> [(USBDeviceInfo, USBInterfaceInfo)] {
        var out: [(USBDeviceInfo, USBInterfaceInfo)] = []
        for d in devices {
            if let v = vendorId, d.vendorId != v { continue }
            if let p = productId, d.productId != p { continue }
            if let iface = d.interfaces.first(where: {
                $0.alternate == 0 && $0.interfaceClass == interfaceClass && $0.bulkOut != nil
                    && (interface == nil || $0.number == interface)
            }) {
                out.append((d, iface))
            }
        }
        return out
    }

    public var describe: String {
        let ids =
            vendorId.map { String(format: "%04x", $0) + ":" + (productId.map { String(format: "%04x", $0) } ?? "*") }
            ?? "any"
        return "USB printer \(ids) interface class 0x\(String(format: "%02X", interfaceClass))"
    }
}

/// The receipt printer's USB link: finds and claims the printer when first needed, and again after
/// it was unplugged (an unplugged printer reports `disconnected` until it is back). Bytes move
/// through the shared `USBBulkTransport` (chunked, paced, resumes after a timeout from the count
/// the printer took).
public actor USBPrinterLink: ByteTransport, PrinterStatusPort, PrinterSoftReset {
    let context: LibUSBContext
    public let selection: USBPrinterSelection
    private var transport: USBBulkTransport?
    private var interfaceProtocol: UInt8?
    private var cachedID: String?
    private let control = DispatchQueue(label: "usb.printer.control")
    public nonisolated let description: String

    public init(context: LibUSBContext, selection: USBPrinterSelection) {
        self.context = context
        self.selection = selection
        self.description = selection.describe
    }

    /// Opens the printer if it is not open. Throws a disconnected TransportError when it is not there.
    @discardableResult
    public func connect() async throws -> USBBulkTransport {
        if let t = transport { return t }
        let ctx = context
        let sel = selection
        let all = await onControl { sel.findAll(in: ctx.devices()) }
        if sel.vendorId == nil, all.count > 1 {
            // A generic profile with no ids: one of these may be the A4 printer. Claiming it would
            // detach usblp, take it from CUPS and print ESC/POS garbage on A4. Never guess.
            let list = all.map { "\($0.0.usbId) at \($0.0.location)" }.joined(separator: "; ")
            throw TransportError(
                "\(all.count) printer-class USB devices are attached (\(list)) and the receipt printer profile names no USB ids: kioskd will not guess which is the receipt printer (it could be the A4 printer). Set devices.receiptPrinter.vendorId and productId (from `lsusb`), then run `kioskctl commission`"
            )
        }
        guard let f = all.first else {
            throw TransportError(
                "no \(sel.describe) is plugged in: check the printer's power and USB cable", disconnected: true)
        }
        let (dev, iface) = f
        let t: USBBulkTransport
        do {
            t = try await onControlThrowing {
                try USBBulkTransport(
                    context: ctx, device: dev, interface: iface.number, outEndpoint: sel.outEndpoint,
                    inEndpoint: sel.inEndpoint, writeOptions: sel.writeOptions)
            }
        } catch let e as USBError {
            throw TransportError(e.description, disconnected: e.disconnected)
        }
        transport = t
        interfaceProtocol = iface.interfaceProtocol
        cachedID = nil
        return t
    }

    private func onControl<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in control.async { c.resume(returning: body()) } }
    }

    private func onControlThrowing<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in control.async { c.resume(with: Result { try body() }) } }
    }

    private func dropIfGone(_ error: Error) async {
        let gone =
            (error as? TransportError)?.disconnected == true
            || (error as? USBWriteIncomplete)?.cause.disconnected == true
        if gone, let t = transport {
            transport = nil
            await t.close()
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await write(bytes, options: nil)
    }

    /// Writes with other chunk/timeout options than the selection's (short commands).
    public func write(_ bytes: [UInt8], options: USBWriteOptions?) async throws {
        let t = try await connect()
        do { _ = try await t.writeReportingProgress(bytes, options: options) } catch {
            await dropIfGone(error)
            if let w = error as? USBWriteIncomplete {
                throw TransportError(
                    "printer took \(w.transferred) of \(w.total) bytes, then \(w.cause.description)",
                    disconnected: w.cause.disconnected)
            }
            throw error
        }
    }

    public func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        let t = try await connect()
        do { return try await t.read(maxBytes: maxBytes, timeout: timeout) } catch {
            await dropIfGone(error)
            throw error
        }
    }

    public func flushInput() async {
        await transport?.flushInput()
    }

    public func close() async {
        if let t = transport {
            transport = nil
            await t.close()
        }
    }

    // MARK: PrinterStatusPort

    public func portStatus() async -> UInt8? {
        guard let t = try? await connect() else { return nil }
        let h = t.handle
        let iface = UInt16(t.interface.number)
        let r = await onControl {
            try? h.control(requestType: 0xA1, request: 1, value: 0, index: iface, length: 1, timeoutMilliseconds: 500)
        }
        guard let byte = r?.first else {
            if !h.isOpen { transport = nil }
            return nil
        }
        return byte
    }

    public func deviceID() async -> String? {
        if let cachedID { return cachedID }
        guard let t = try? await connect() else { return nil }
        let id = await onControl { t.printerDeviceID() }
        cachedID = id
        return id
    }

    public func connection() async -> String? { transport?.description }

    /// SOFT_RESET: bmRequestType 0x23 (class, "other" as usblp and CUPS send it) and, if the
    /// printer refuses that, 0x21 (class, interface, as the class spec says); wIndex = interface.
    public func softReset() async -> Bool {
        guard let t = try? await connect() else { return false }
        let h = t.handle
        let iface = UInt16(t.interface.number)
        return await onControl {
            for type: UInt8 in [0x23, 0x21] {
                if (try? h.control(requestType: type, request: 2, value: 0, index: iface, timeoutMilliseconds: 1000))
                    != nil
                {
                    return true
                }
            }
            return false
        }
    }

    public func isOneWay() async -> Bool? {
        guard let t = transport else { return nil }
        return interfaceProtocol == 1 || t.inEndpoint == nil
    }
}

extension ReceiptPrinter {
    /// A receipt printer on USB for a usb-printer / usb-vendor profile. A printer that is not
    /// plugged in yet shows as powerOff and is claimed when it appears. A one-way printer
    /// (printer-class protocol 1, or no IN endpoint) prints with status "unknown".
    public static func overUSB(
        context: LibUSBContext, profile: DeviceProfile, vendorId: UInt16? = nil, productId: UInt16? = nil,
        writeOptions: USBWriteOptions, logger: Logger
    ) throws -> ReceiptPrinter {
        let selection = try USBPrinterSelection(
            profile: profile, vendorId: vendorId, productId: productId, writeOptions: writeOptions)
        guard let encoderProfile = profile.receiptPrinterProfile else {
            throw TransportError(
                "profile \(profile.id) has an incomplete receipt section (paperWidthMM, dots, columns)")
        }
        var bidirectional = profile.statusSupport != .none
        if let found = selection.find(in: context.devices()), found.1.interfaceProtocol == 1 || found.1.bulkIn == nil {
            bidirectional = false
        }
        logger.info(
            "receipt printer over USB",
            metadata: [
                "profile": "\(profile.id)", "selection": "\(selection.describe)",
                "status": "\(bidirectional ? profile.statusSupport.rawValue : "none")",
            ])
        return ReceiptPrinter(
            transport: USBPrinterLink(context: context, selection: selection), profile: encoderProfile,
            model: profile.name, simulated: false, bidirectional: bidirectional, logger: logger,
            chunkSize: writeOptions.chunkBytes, autoStatusBack: profile.statusSupport == .asb,
            bufferClearCommand: profile.bufferClearBytes)
    }
}
