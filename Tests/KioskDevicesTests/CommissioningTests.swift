import Foundation
import Testing
@testable import KioskDevices

/// Issue 18 point 1: `kioskctl commission` over a fake sysfs.
@Suite struct CommissioningTests {
    let generic80 = try! DeviceProfiles.parse(
        yaml: """
            id: generic-80
            name: "Generic 80 mm"
            kind: receiptPrinter
            transport: usb-printer
            usb: { interfaceClass: 0x07 }
            protocol: escpos
            receipt: { paperWidthMM: 80, dots: 576, columns: 48 }
            """, name: "t")

    /// A sysfs tree: devices under bus/usb/devices/<port> with their interfaces' classes, and
    /// class/<cls>/<node>/device links for the camera and the reader's tty.
    final class FakeSys {
        let root = NSTemporaryDirectory() + "kiosk-commission-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        let fm = FileManager.default
        deinit { try? fm.removeItem(atPath: root) }
        func usb(
            _ port: String, _ vid: String, _ pid: String, serial: String?, classes: [String], product: String? = nil
        ) throws {
            let d = root + "/bus/usb/devices/" + port
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            try (vid + "\n").write(toFile: d + "/idVendor", atomically: true, encoding: .utf8)
            try (pid + "\n").write(toFile: d + "/idProduct", atomically: true, encoding: .utf8)
            if let serial { try (serial + "\n").write(toFile: d + "/serial", atomically: true, encoding: .utf8) }
            if let product { try (product + "\n").write(toFile: d + "/product", atomically: true, encoding: .utf8) }
            for (i, c) in classes.enumerated() {
                try fm.createDirectory(atPath: d + "/\(port):1.\(i)", withIntermediateDirectories: true)
                try (c + "\n").write(toFile: d + "/\(port):1.\(i)/bInterfaceClass", atomically: true, encoding: .utf8)
            }
        }
        func node(_ cls: String, _ name: String, onPort port: String) throws {
            let d = root + "/class/" + cls + "/" + name
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            try fm.createSymbolicLink(
                atPath: d + "/device", withDestinationPath: "../../../bus/usb/devices/\(port)/\(port):1.0")
        }
    }

    @Test func aGenericPrinterProfileIsRefusedWithTwoPrintersAttached() throws {
        let sys = FakeSys()
        try sys.usb("1-2", "0fe6", "811e", serial: nil, classes: ["07"], product: "POS58")
        try sys.usb("1-3", "04f9", "0042", serial: "E7Q123456", classes: ["07", "ff"], product: "HL-L5100DN")
        let devices = Commissioning.usbDevices(sysRoot: sys.root)
        #expect(devices.count == 2 && devices.allSatisfy(\.isPrinterClass))
        do {
            _ = try Commissioning.plan(.init(receiptPrinterProfile: generic80), devices: devices, sysRoot: sys.root)
            Issue.record("a generic profile was pinned to one of two printers")
        } catch let e as Commissioning.Refusal {
            #expect(e.description.contains("never claim the A4 printer"))
            #expect(e.description.contains("04f9:0042") && e.description.contains("0fe6:811e"))
        }
        // Pinned by the config's ids: the receipt printer only; no serial, so by port.
        let plan = try Commissioning.plan(
            .init(receiptPrinterProfile: generic80, receiptPrinterVendorId: 0x0FE6, receiptPrinterProductId: 0x811E),
            devices: devices, sysRoot: sys.root)
        #expect(
            plan.rules.contains(
                "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", ATTR{idVendor}==\"0fe6\", ATTR{idProduct}==\"811e\", KERNEL==\"1-2\", GROUP=\"kioskdev\", MODE=\"0660\""
            ))
        #expect(!plan.rules.contains("04f9"))
        // Or by the port the config names.
        let byPort = try Commissioning.plan(
            .init(receiptPrinterProfile: generic80, receiptPrinterPort: "1-2"), devices: devices, sysRoot: sys.root)
        #expect(byPort.rules.contains("KERNEL==\"1-2\""))
        #expect(!byPort.rules.contains("04f9"))
    }

    @Test func oneAttachedPrinterAndTheCameraArePinnedBySerial() throws {
        let sys = FakeSys()
        try sys.usb("1-2", "0fe6", "811e", serial: "PRN20260042", classes: ["07"])
        try sys.usb("1-4", "1bcf", "2c9a", serial: "SN-CAM-0042", classes: ["0e", "0e"])
        try sys.usb("1-5", "1a86", "7523", serial: nil, classes: ["ff"])
        try sys.node("video4linux", "video0", onPort: "1-4")
        try sys.node("tty", "ttyUSB0", onPort: "1-5")
        let plan = try Commissioning.plan(
            .init(receiptPrinterProfile: generic80, cameraPath: "/dev/video0", serialReaderPath: "/dev/ttyUSB0"),
            devices: Commissioning.usbDevices(sysRoot: sys.root), sysRoot: sys.root)
        #expect(
            plan.rules.contains(
                "ATTR{idVendor}==\"0fe6\", ATTR{idProduct}==\"811e\", ATTR{serial}==\"PRN20260042\", GROUP=\"kioskdev\""
            ))
        #expect(
            plan.rules.contains(
                "SUBSYSTEM==\"video4linux\", KERNEL==\"video*\", ATTRS{idVendor}==\"1bcf\", ATTRS{idProduct}==\"2c9a\", ATTRS{serial}==\"SN-CAM-0042\", GROUP=\"kioskdev\", MODE=\"0660\""
            ))
        #expect(
            plan.rules.contains(
                "SUBSYSTEM==\"tty\", KERNEL==\"ttyUSB*|ttyACM*\", ATTRS{idVendor}==\"1a86\", ATTRS{idProduct}==\"7523\", KERNELS==\"1-5\", GROUP=\"kioskdev\", MODE=\"0660\", ENV{ID_MM_DEVICE_IGNORE}=\"1\""
            ))
        #expect(plan.pinned.count == 3)
        #expect(!plan.rules.contains("0666"))
    }

    @Test func placeholderSerialsAreNotTrusted() {
        #expect(Commissioning.usableSerial("0000") == nil)
        #expect(Commissioning.usableSerial("AAAAAAAA") == nil)
        #expect(Commissioning.usableSerial("1234567890") == nil)
        #expect(Commissioning.usableSerial("a b") == nil)
        #expect(Commissioning.usableSerial("SN-CAM-0042") == "SN-CAM-0042")
    }

    @Test func anUnpluggedCameraIsAClearRefusal() throws {
        let sys = FakeSys()
        try sys.usb("1-2", "0fe6", "811e", serial: nil, classes: ["07"])
        do {
            _ = try Commissioning.plan(
                .init(cameraPath: "/dev/video3"), devices: Commissioning.usbDevices(sysRoot: sys.root),
                sysRoot: sys.root)
            Issue.record("no refusal")
        } catch let e as Commissioning.Refusal {
            #expect(e.description.contains("/dev/video3 is not attached"))
        }
    }

    /// Issue 18 point 5: brltty and ModemManager are kept off the reader's bridge.
    @Test func lateRulesKeepBrlttyAndModemManagerOffSerialReaders() throws {
        let ch340 = try DeviceProfiles.parse(
            yaml:
                "id: sam-serial-ch340\nname: ch340\nkind: idCardReader\ntransport: serial\nusb: { vendorId: 0x1A86, productId: 0x7523 }\n",
            name: "t")
        let rules = DeviceAccessRules.lateUdevRules(profiles: [ch340, generic80])
        #expect(
            rules.contains(
                "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", ATTR{idVendor}==\"1a86\", ATTR{idProduct}==\"7523\", ENV{BRLTTY_BRAILLE_DRIVER}=\"\", ENV{SYSTEMD_WANTS}=\"\""
            ))
        #expect(
            rules.contains(
                "KERNEL==\"ttyUSB*|ttyACM*\", ATTRS{idVendor}==\"1a86\", ATTRS{idProduct}==\"7523\", ENV{ID_MM_DEVICE_IGNORE}=\"1\""
            ))
        #expect(!rules.contains("generic-80"))
    }
}
