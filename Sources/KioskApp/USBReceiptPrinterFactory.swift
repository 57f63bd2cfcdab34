import Foundation
import KioskDevices
import Logging

/// Opens a receipt printer over USB (libusb) for a usb-printer / usb-vendor profile.
enum USBReceiptPrinterFactory {
    static func open(profile: DeviceProfile, device: KioskConfig.Device, logger: Logger) throws -> ReceiptPrinter {
        throw ConfigError("devices.receiptPrinter.mode usb is not available in this build yet; use `simulated`")
    }
}
