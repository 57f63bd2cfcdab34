import Foundation
import KioskDevices
import Logging

/// Opens a receipt printer over USB (libusb) for a usb-printer / usb-vendor profile. A printer
/// that is not plugged in yet is not an error: it shows as powerOff and is claimed when it appears.
enum USBReceiptPrinterFactory {
    static func open(profile: DeviceProfile, device: KioskConfig.Device<ReceiptPrinterMode>, logger: Logger) throws
        -> ReceiptPrinter
    {
        let context: LibUSBContext
        do { context = try LibUSBContext() } catch { throw ConfigError("devices.receiptPrinter.mode usb: \(error)") }
        return try make(context: context, profile: profile, device: device, logger: logger)
    }

    static func make(
        context: LibUSBContext, profile: DeviceProfile, device: KioskConfig.Device<ReceiptPrinterMode>, logger: Logger
    ) throws -> ReceiptPrinter {
        let chunk = device.chunkBytes ?? profile.writeChunkBytes
        let timeout = device.writeTimeoutMs ?? 3000
        let options = USBWriteOptions(
            chunkBytes: chunk, pause: .milliseconds(10), chunkTimeoutMilliseconds: timeout,
            deadline: .milliseconds(max(10_000, 3 * timeout)))
        do {
            return try ReceiptPrinter.overUSB(
                context: context, profile: profile,
                vendorId: device.vendorId.map { UInt16(truncatingIfNeeded: $0) },
                productId: device.productId.map { UInt16(truncatingIfNeeded: $0) },
                writeOptions: options, logger: logger)
        } catch { throw ConfigError("devices.receiptPrinter: \(error)") }
    }
}
