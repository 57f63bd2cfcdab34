import CUMockdev
import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices

/// An ESC/POS receipt printer seen from the USB side: bulk OUT bytes go to the simulated printer
/// (which decodes the receipt and answers DLE EOT), its replies come back on bulk IN, and the
/// printer-class control requests (GET_DEVICE_ID, GET_PORT_STATUS) are answered. Out of paper it
/// stops taking data (NAK), as real printers do.
final class PrinterOverUSB: USBDeviceModel, @unchecked Sendable {
    let printer: SimulatedReceiptPrinter
    let lock = NSLock()
    private var inbound: [UInt8] = []
    private var accepted = 0
    /// Once this many bytes were taken, the next URB is taken only up to here and then NAKed
    /// (a timeout with a partial transfer); afterwards data flows again.
    var partialOnceAt: Int?
    /// GET_PORT_STATUS reports paper empty whatever the roll sensor says (models where the bit
    /// is not meaningful).
    var portStatusAlwaysPaperEmpty = false
    /// SOFT_RESET requests received (bmRequestType of each).
    private(set) var softResets: [UInt8] = []
    /// The request type this printer accepts for SOFT_RESET (nil: stalls both).
    var softResetAccepts: Set<UInt8> = [0x21, 0x23]
    static let deviceID = "MFG:Kiosk;MDL:SimPrinter;CMD:ESC/POS;CLS:PRINTER;"

    init(printer: SimulatedReceiptPrinter = SimulatedReceiptPrinter(outputDirectory: nil)) { self.printer = printer }

    func set(_ body: (PrinterOverUSB) -> Void) { lock.withLock { body(self) } }

    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            if printer.paperOut { return .nak }
            if let at = partialOnceAt, accepted + bytes.count > at {
                partialOnceAt = nil
                let n = max(0, at - accepted)
                inbound += printer.receive(Array(bytes.prefix(n)))
                accepted += n
                return .acceptPartial(n)
            }
            inbound += printer.receive(bytes)
            accepted += bytes.count
            return .accept
        }
    }

    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            let n = Swift.min(max, inbound.count)
            let out = Array(inbound.prefix(n))
            inbound.removeFirst(n)
            return out
        }
    }

    func control(setup: [UInt8], data: [UInt8]) -> [UInt8]? {
        guard setup.count == 8 else { return nil }
        if (setup[0] == 0x21 || setup[0] == 0x23) && setup[1] == 2 {
            // SOFT_RESET: the printer empties its buffers (what it took but has not printed).
            return lock.withLock {
                softResets.append(setup[0])
                guard softResetAccepts.contains(setup[0]) else { return nil }
                printer.clearBuffer()
                return []
            }
        }
        guard setup[0] == 0xA1 else { return nil }
        switch setup[1] {
        case 0:  // GET_DEVICE_ID: 2-byte big-endian length (including itself), then the id
            let id = Array(Self.deviceID.utf8)
            let len = id.count + 2
            return [UInt8(len >> 8), UInt8(len & 0xFF)] + id
        case 1:  // GET_PORT_STATUS: 0x20 paper empty, 0x10 selected, 0x08 not error
            return [printer.paperOut || portStatusAlwaysPaperEmpty ? 0x30 : 0x18]
        default:
            return nil
        }
    }
}

let printerDescription = UMockUSBDescription(
    vendorId: 0x1234, productId: 0x5679, interfaceClass: 7, interfaceSubclass: 1,
    interfaceProtocol: 2, outEndpoint: 0x01, inEndpoint: 0x82,
    bus: 1, devnum: 3, port: "1-2")

let generic80 = try! DeviceProfiles.parse(
    yaml: """
        id: generic-80
        name: "Generic 80 mm ESC/POS printer (USB printer class)"
        kind: receiptPrinter
        transport: usb-printer
        usb: { interfaceClass: 0x07 }
        protocol: escpos
        receipt: { paperWidthMM: 80, dots: 576, columns: 48, chineseMode: true, encoding: GB18030, supportsQR: true,
                   maxQRSize: 8, cut: partial, status: dle-eot, chunkBytes: 4096, rasterBandRows: 256 }
        """, name: "test")

/// Short timeouts so fault tests stay quick; libusb busy-polls emulated nodes (test-harness.md §4).
func testWriteOptions(chunk: Int = 256) -> USBWriteOptions {
    USBWriteOptions(
        chunkBytes: chunk, pause: .milliseconds(1), chunkTimeoutMilliseconds: 200, deadline: .milliseconds(900))
}

func acceptanceReceipt(_ caseNumber: String) -> ReceiptDocument {
    ReceiptDocument([
        .title("受理回执"), .text("测试便民服务中心", align: .center), .separator,
        .keyValue("办件编号", caseNumber), .keyValue("申请人", Mask.name("测试一")),
        .keyValue("证件号码", Mask.idNumber("110105200001010016")),
        .text("事项：城乡居民基本医疗保险参保登记及信息变更，请凭本回执到窗口领取材料。"),
        .keyValue("费用", "¥0.00"), .separator, .qr(caseNumber, size: 6),
        .text("请妥善保管本回执", align: .center), .feed(2), .cut(partial: true),
    ])
}

@Suite(.serialized) struct ReceiptPrinterOverLibUSB {
    let logger = Logger(label: "usb-printer-test")

    @Test func printsAReceiptOverThePrinterClassAndIdentifiesThePrinter() async throws {
        let tb = UMockTestbed()
        #expect(tb.inMockEnvironment, "run under LD_PRELOAD=libumockdev-preload.so.0 (scripts/run-tests.sh)")
        let model = PrinterOverUSB()
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(chunk: 512), logger: logger)
        let before = await printer.refresh()
        #expect(before.state == .online)
        #expect(before.paper == .full)
        #expect(before.identity == "Kiosk SimPrinter")
        #expect(before.connection?.contains("1234:5679") == true)
        #expect(dev.events().contains("CLAIM"))
        let doc = acceptanceReceipt("GH202612010007")
        try await printer.print(doc)
        let r = try #require(model.printer.receipts.last)
        #expect(r.qrCodes == ["GH202612010007"])
        #expect(r.text.contains("1101**********0016"))
        #expect(r.text.contains("￥0.00"))
        #expect(!r.text.contains("110105200001010016"))
        // The job went out in ≤ 512-byte URBs and arrived exactly once, in order.
        let job = try ESCPOSEncoder(profile: generic80.receiptPrinterProfile!).encode(doc)
        let received = dev.bytesReceived()
        #expect(received.count > job.count)  // plus the DLE EOT status queries
        #expect(containsRun(received, job))
        #expect(await printer.status().counters["receiptsPrinted"] == 1)
    }

    @Test func aTimeoutWithAPartialTransferResumesWithoutResending() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let profile = generic80
        let selection = try USBPrinterSelection(profile: profile, writeOptions: testWriteOptions(chunk: 256))
        let link = USBPrinterLink(context: usb, selection: selection)
        let job = try ESCPOSEncoder(profile: profile.receiptPrinterProfile!).encode(acceptanceReceipt("GH202612010008"))
        #expect(job.count > 400)  // the partial URB is in the middle of the job
        model.set { $0.partialOnceAt = 300 }  // the second 256-byte URB moves 44 bytes, then times out
        try await link.write(job)
        #expect(dev.events().contains("DISCARD"), "the timed-out URB was discarded")
        #expect(dev.bytesReceived() == job, "bytes after the timeout resumed at the transferred count")
        #expect(model.printer.receipts.last?.qrCodes == ["GH202612010008"])
        await link.close()
    }

    @Test func paperOutMidJobIsDetectedAndPrintingIsRefusedUntilPaperIsBack() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(chunk: 128), logger: logger)
        #expect(await printer.refresh().state == .online)
        model.printer.setPaperRemaining(lines: 3)  // the roll ends three lines into the receipt
        do {
            try await printer.print(acceptanceReceipt("GH202612010009"))
            Issue.record("expected paper out")
        } catch let e as DeviceError {
            #expect(e.residentMessage.contains("纸张用完"), "\(e.residentMessage) / \(e.description)")
        }
        let st = await printer.status()
        #expect(st.paper == .out)
        #expect(st.state == .userError && st.action == .clear)
        // Nothing was sent twice: what the printer took is a prefix of the job (after the status queries).
        let job = try ESCPOSEncoder(profile: generic80.receiptPrinterProfile!).encode(
            acceptanceReceipt("GH202612010009"))
        let got = dev.bytesReceived()
        #expect(got.count < job.count + 64, "the rest of the job was not pushed after paper out")
        // Refused while out of paper, without sending anything.
        let sentBefore = dev.bytesReceived().count
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010010")) }
        #expect(dev.bytesReceived().count == sentBefore)
        // Staff loads paper; the printer stays held until staff clear it, then prints.
        model.printer.setPaperOut(false)
        model.printer.setPaperRemaining(lines: nil)
        #expect(await printer.refresh().state == .userError)
        await printer.clearInterruptedJob()
        #expect(await printer.refresh().state == .online)
        try await printer.print(acceptanceReceipt("GH202612010009"))
        #expect(model.printer.receipts.last?.qrCodes == ["GH202612010009"])
    }

    /// Issue 18 point 7: the printer keeps what it took but could not print. Without clearing,
    /// the rest of resident A's receipt (case number, QR) comes out when paper is back, ahead
    /// of resident B's.
    @Test func theRestOfAnInterruptedReceiptNeverReachesTheNextResident() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(chunk: 128), logger: logger)
        #expect(await printer.refresh().state == .online)
        model.printer.setPaperRemaining(lines: 3)
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010021")) }
        #expect(model.lock.withLock { model.softResets }.first == 0x23, "SOFT_RESET sent at once, on the control pipe")
        #expect(model.printer.heldEventCount == 0, "the printer's buffer was emptied")
        let printedBefore = model.printer.receipts.count
        // Staff loads paper: nothing of A's receipt comes out.
        model.printer.setPaperOut(false)
        model.printer.setPaperRemaining(lines: nil)
        // Held out of service until staff clear it, and a resident's print is refused.
        let held = await printer.refresh()
        #expect(held.state == .userError && held.action == .clear)
        #expect(held.lastError?.contains("kioskctl selftest printer --print") == true)
        let sent = dev.bytesReceived().count
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010022")) }
        #expect(dev.bytesReceived().count == sent, "nothing sent while held")
        let cleared = await printer.clearInterruptedJob()
        #expect(cleared.contains("SOFT_RESET"))
        try await printer.print(acceptanceReceipt("GH202612010022"))
        let after = Array(model.printer.receipts.dropFirst(printedBefore))
        #expect(after.count == 1)
        #expect(after.first?.qrCodes == ["GH202612010022"])
        #expect(
            !after.contains { $0.qrCodes.contains("GH202612010021") || $0.lines.joined().contains("GH202612010021") },
            "no part of A's receipt after the paper was reloaded")
        await printer.shutdown()
    }

    /// The same printer without a SOFT_RESET (both request types stall) and no buffer-clear
    /// command: the held data would print; the printer stays held and says to power-cycle.
    @Test func withoutAnyWayToClearStaffAreToldToPowerCycle() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        model.softResetAccepts = []
        _ = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(chunk: 128), logger: logger)
        model.printer.setPaperRemaining(lines: 3)
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010023")) }
        #expect(model.lock.withLock { model.softResets } == [0x23, 0x21], "both SOFT_RESET forms tried")
        #expect(model.printer.heldEventCount > 0)
        #expect(await printer.holdsInterruptedJob)
        model.printer.clearBuffer()  // the technician power-cycles it
        model.printer.setPaperOut(false)
        model.printer.setPaperRemaining(lines: nil)
        #expect(await printer.clearInterruptedJob().contains("power-cycle"))
        await printer.shutdown()
    }

    /// Issue 18 point 1: a generic profile (no USB ids) with a second printer-class device
    /// attached (the A4 printer on USB) is refused: nothing is claimed, nothing is sent.
    @Test func aGenericProfileNeverGuessesBetweenTwoPrinters() async throws {
        let tb = UMockTestbed()
        let receipt = PrinterOverUSB()
        let a4 = PrinterOverUSB()
        let r = try tb.add(printerDescription, model: receipt)
        var a4Desc = printerDescription
        a4Desc.vendorId = 0x04F9
        a4Desc.productId = 0x0042
        a4Desc.devnum = 4
        a4Desc.port = "1-3"
        let a = try tb.add(a4Desc, model: a4)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(), logger: logger)
        let st = await printer.refresh()
        #expect(st.state != .online)
        #expect(st.lastError?.contains("could be the A4 printer") == true, "\(st.lastError ?? "-")")
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010031")) }
        #expect(r.bytesReceived().isEmpty && a.bytesReceived().isEmpty, "nothing sent to either printer")
        // Pinned by ids, the receipt printer is used and the A4 printer is left alone.
        let pinned = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, vendorId: 0x1234, productId: 0x5679,
            writeOptions: testWriteOptions(), logger: logger)
        try await pinned.print(acceptanceReceipt("GH202612010032"))
        #expect(receipt.printer.receipts.last?.qrCodes == ["GH202612010032"])
        #expect(a.bytesReceived().isEmpty)
        await pinned.shutdown()
        await printer.shutdown()
    }

    /// GET_PORT_STATUS's paper bit is not meaningful on every model: DLE EOT 4 (the roll sensor)
    /// is asked before the printer is called out of paper.
    @Test func portStatusPaperBitIsCrossCheckedWithDLEEOT4() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        model.set { $0.portStatusAlwaysPaperEmpty = true }
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(), logger: logger)
        let st = await printer.refresh()
        #expect(st.state == .online && st.paper != .out, "\(st)")
        #expect(containsRun(dev.bytesReceived(), [0x10, 0x04, 0x04]), "DLE EOT 4 asked")
        // Really out of paper: the roll sensor agrees, paper out.
        model.printer.setPaperOut(true)
        #expect(await printer.refresh().paper == .out)
        await printer.shutdown()
    }

    @Test func unplugShowsPowerOffAndPrintingFailsClearly() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(), logger: logger)
        #expect(await printer.refresh().state == .online)
        tb.unplug(printerDescription)
        let st = await printer.refresh()
        #expect(st.state == .powerOff, "\(st)")
        await #expect(throws: DeviceError.self) { try await printer.print(acceptanceReceipt("GH202612010011")) }
        #expect(await printer.status().state == .powerOff)
    }

    @Test func aOneWayPrinterPrintsWithStatusUnknown() async throws {
        let tb = UMockTestbed()
        var desc = printerDescription
        desc.interfaceProtocol = 1  // unidirectional printer class
        let model = PrinterOverUSB()
        let dev = try tb.add(desc, model: model)
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(chunk: 4096), logger: logger)
        let st = await printer.refresh()
        #expect(st.state == .online)
        #expect(st.paper == .unknown)
        let doc = acceptanceReceipt("GH202612010012")
        try await printer.print(doc)
        #expect(model.printer.receipts.last?.qrCodes == ["GH202612010012"])
        // No status queries on a one-way printer: exactly the job went out.
        #expect(dev.bytesReceived() == (try ESCPOSEncoder(profile: generic80.receiptPrinterProfile!).encode(doc)))
        #expect(await printer.status().paper == .unknown)
    }

    @Test func automaticStatusBackOverUSBReportsPaperOut() async throws {
        let tb = UMockTestbed()
        let model = PrinterOverUSB()
        let dev = try tb.add(printerDescription, model: model)
        let usb = try LibUSBContext()
        var asbProfile = generic80
        asbProfile.receipt?.status = "asb"
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: asbProfile, writeOptions: testWriteOptions(chunk: 4096), logger: logger)
        #expect(await printer.refresh().state == .online)
        try await printer.print(acceptanceReceipt("GH202612010013"))
        #expect(containsRun(dev.bytesReceived(), [0x1B, 0x40, 0x1D, 0x61, 0x4F]), "ASB enabled with the job")
        model.printer.setPaperRemaining(lines: 2)
        do {
            try await printer.print(acceptanceReceipt("GH202612010014"))
            Issue.record("expected paper out")
        } catch let e as DeviceError {
            #expect(e.residentMessage.contains("纸张用完"), "\(e.description)")
        }
        #expect(await printer.status().paper == .out)
    }

    @Test func noPrinterPluggedInIsPowerOffNotACrash() async throws {
        let tb = UMockTestbed()
        _ = tb
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: generic80, writeOptions: testWriteOptions(), logger: logger)
        let st = await printer.refresh()
        #expect(st.state == .powerOff)
        #expect(st.lastError?.contains("plugged in") == true)
    }
}

func containsRun(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= hay.count else { return false }
    for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
        if hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
    }
    return false
}
