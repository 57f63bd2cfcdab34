import KioskTestSupport
import Foundation
import KioskProtocols
import Testing
@testable import KioskDevices

/// The real kioskd, in tmux, with `devices.idCardReader.mode: usb`: its libusb code runs in its
/// own process under umockdev's preload, and the emulated reader in this process answers every
/// URB. The resident flow of the foundation issue runs unchanged on it.
@Suite(.serialized) struct KioskdOverUSB {
    @Test func residentFlowRunsUnchangedOnAReaderBehindLibUSB() throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        model.set { $0.splitReplies = true }
        try tb.add(readerDescription, model: model)
        let st = try Station(name: "usb-reader", reader: "{ mode: usb }")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(
            configPath: st.config,
            kioskdEnvironment: ["UMOCKDEV_DIR": tb.rootDir, "LD_PRELOAD": "libumockdev-preload.so.0"])
        try t.start()
        defer { t.stop() }
        try t.waitFor("身份证阅读器 就绪", seconds: 30)
        #expect(!(try t.screen()).contains("[演示]"), "no simulated-card hints with a real reader")
        let (caseNumber, photos) = try applyOnce(t) { model.sam.place(usbCard) }
        #expect(photos >= 1)
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        #expect(try st.intake.list().first?["caseNumber"] as? String == caseNumber)
        #expect(model.commandCount(.samStatus) >= 1, "recognised by the SAM status command")
        #expect(model.commandCount(.readTextAndPhoto) == 1, "one read per placement")
        let logs = st.logs()
        #expect(logs.contains("ID-card reader found"))
        for c in t.captures { #expect(!c.contains(usbCard.idNumber)) }
        #expect(!logs.contains(usbCard.idNumber))
        #expect(!logs.contains(usbCard.name))
    }
}
