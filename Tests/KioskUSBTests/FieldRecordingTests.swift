import CUMockdev
import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices

/// A USB device that answers exactly what a `kioskctl devices --record` file says it answered,
/// and nothing else: a request that was not recorded gets no reply (the host times out), an
/// unrecorded control request stalls. So a test against it fails where the driver assumes more
/// than the real device showed.
final class RecordedUSBDevice: USBDeviceModel, @unchecked Sendable {
    let record: FieldRecording.USBRecord
    private let lock = NSLock()
    private var pendingOut: [UInt8] = []
    private var inbound: [UInt8] = []
    private(set) var unrecognised: [[UInt8]] = []
    private var exchanges: [(request: [UInt8], reply: [UInt8])] = []

    init(_ record: FieldRecording.USBRecord) {
        self.record = record
        if let x = record.samStatus, let q = FieldRecording.bytes(x.request), let r = FieldRecording.bytes(x.reply) {
            exchanges.append((q, r))
        }
        for (n, reply) in record.dleEOT ?? [:] {
            if let k = UInt8(n), let r = FieldRecording.bytes(reply) { exchanges.append(([0x10, 0x04, k], r)) }
        }
    }

    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            pendingOut += bytes
            // Answer every recorded request found in what the host sent, in order; the rest
            // (anything not recorded) is kept until it turns into a recorded request or is noted.
            var progress = true
            while progress {
                progress = false
                for x in exchanges {
                    if let r = pendingOut.firstRange(of: x.request) {
                        if r.lowerBound > 0 { unrecognised.append(Array(pendingOut[..<r.lowerBound])) }
                        inbound += x.reply
                        pendingOut.removeSubrange(..<r.upperBound)
                        progress = true
                        break
                    }
                }
            }
            if pendingOut.count > 4096 {
                unrecognised.append(pendingOut)
                pendingOut = []
            }
            return .accept
        }
    }

    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            let n = Swift.min(max, inbound.count)
            defer { inbound.removeFirst(n) }
            return Array(inbound.prefix(n))
        }
    }

    func control(setup: [UInt8], data: [UInt8]) -> [UInt8]? {
        guard setup.count == 8, setup[0] == 0xA1 else { return nil }
        switch setup[1] {
        case 0:
            guard let id = record.deviceID else { return nil }
            let b = Array(id.utf8)
            return [UInt8((b.count + 2) >> 8), UInt8((b.count + 2) & 0xFF)] + b
        case 1:
            return record.portStatus.map { [$0] }
        default:
            return nil
        }
    }

    /// The testbed description: ids, the recorded interface's class and endpoints.
    func description(devnum: Int, port: String) throws -> UMockUSBDescription {
        let d = record.device
        guard let iface = d.interfaces.first(where: { $0.number == (record.interface ?? 0) }) ?? d.interfaces.first,
            let out = iface.bulkOut?.address, let inEP = iface.endpoints.first(where: { $0.isIn })?.address
        else {
            throw TransportTestError("recorded device \(d.usbId) has no bulk OUT and IN endpoint to emulate")
        }
        return UMockUSBDescription(
            vendorId: d.vendorId, productId: d.productId, interfaceClass: iface.interfaceClass,
            interfaceSubclass: iface.interfaceSubclass, interfaceProtocol: iface.interfaceProtocol,
            outEndpoint: out, inEndpoint: inEP, bus: 1, devnum: devnum, port: port)
    }
}

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func loadRecording(_ name: String) throws -> FieldRecording {
    try FieldRecording.load(Data(contentsOf: URL(fileURLWithPath: repoRoot + "/DeviceProfiles/recordings/" + name)))
}

@Suite(.serialized) struct FieldRecordingOverLibUSB {
    let logger = Logger(label: "field-recording-test")

    @Test func aRecordedReaderIsFoundByTheRealConnector() async throws {
        let rec = try loadRecording("example-bench.json")
        guard let r = rec.usb.first(where: { $0.samStatus != nil }) else {
            Issue.record("no reader in the recording")
            return
        }
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = RecordedUSBDevice(r)
        try tb.add(try model.description(devnum: 2, port: "1-1"), model: model)
        let profiles = try DeviceProfiles.load(directory: repoRoot + "/DeviceProfiles")
        let usb = try LibUSBContext()
        let connector = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .usb), profiles: profiles, usb: usb, logger: logger)
        let (link, problem) = await connector.connect()
        #expect(link != nil, "\(problem ?? "-")")
        #expect(link?.profileId == r.profile)
        #expect(model.unrecognised.isEmpty, "the connector sent only what the device was recorded answering")
        await link?.transport.close()
    }

    @Test func aRecordedPrinterReportsItsRecordedStatus() async throws {
        let rec = try loadRecording("example-bench.json")
        guard let p = rec.usb.first(where: { $0.deviceID != nil }), let pid = p.profile else {
            Issue.record("no printer in the recording")
            return
        }
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = RecordedUSBDevice(p)
        try tb.add(try model.description(devnum: 3, port: "1-2"), model: model)
        let profile = try #require(
            try DeviceProfiles.load(directory: repoRoot + "/DeviceProfiles").first { $0.id == pid })
        let usb = try LibUSBContext()
        let printer = try ReceiptPrinter.overUSB(
            context: usb, profile: profile, writeOptions: testWriteOptions(), logger: logger)
        let st = await printer.refresh()
        #expect(st.state == .online, "\(st)")
        #expect(st.paper == .full)
        #expect(st.identity == "Xprinter XP-58")
        await printer.shutdown()
    }

    @Test func recordingsRoundTrip() throws {
        let rec = try loadRecording("example-bench.json")
        let again = try FieldRecording.load(try rec.encoded())
        #expect(again == rec)
        #expect(rec.source?.contains("NOT a capture") == true, "the shipped example says it is made up")
        #expect(throws: DeviceProfileError.self) { try FieldRecording.load(Data("{\"usb\": 1}".utf8)) }
    }

    /// The recorder itself, against emulated devices: it speaks only to devices a profile matches,
    /// captures what they answer, and what it wrote replays as a device the connector accepts.
    @Test func recordingCapturesRepliesAndSpeaksOnlyToProfiledDevices() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let reader = SAMOverUSB()
        let readerDev = try tb.add(readerDescription, model: reader)
        let printer = PrinterOverUSB()
        var xp58 = printerDescription
        xp58.vendorId = 0x0416
        xp58.productId = 0x5011
        xp58.devnum = 3
        xp58.port = "1-2"
        let printerDev = try tb.add(xp58, model: printer)
        let stranger = PrinterOverUSB()
        var a4 = printerDescription
        a4.vendorId = 0x04F3
        a4.productId = 0x0042
        a4.devnum = 4
        a4.port = "1-3"
        let strangerDev = try tb.add(a4, model: stranger)
        let profiles = try DeviceProfiles.load(directory: repoRoot + "/DeviceProfiles")
        let usb = try LibUSBContext()
        let records = await FieldRecorder.recordUSB(context: usb, profiles: profiles)
        #expect(records.count == 3)
        let r = try #require(records.first { $0.device.vendorId == 0x0400 })
        #expect(r.profile == "sam-vendor-0400-c35a")
        #expect(r.samStatus?.reply == "AA AA AA 96 69 00 04 00 00 90 94")
        #expect(readerDev.bytesReceived() == SAMCommand.samStatus.encoded(), "only 11 FF was sent to the reader")
        let p = try #require(records.first { $0.device.vendorId == 0x0416 })
        #expect(p.profile == "xprinter-xp58")
        #expect(p.deviceID == PrinterOverUSB.deviceID)
        #expect(p.portStatus == 0x18)
        #expect(p.dleEOT?["2"] == "12" && p.dleEOT?["4"] == "12")
        #expect(!containsRun(printerDev.bytesReceived(), [0x1B, 0x40]), "nothing printed")
        let s = try #require(records.first { $0.device.vendorId == 0x04F3 })
        #expect(s.note?.contains("descriptors only") == true)
        #expect(
            strangerDev.bytesReceived().isEmpty && !strangerDev.events().contains("CLAIM"),
            "an unprofiled printer is not touched")
        // What was recorded loads back (JSON) and replays as a reader the connector accepts.
        let file = try FieldRecording.load(try FieldRecording(recordedAt: "test", usb: records, v4l2: []).encoded())
        let replayed = RecordedUSBDevice(try #require(file.usb.first { $0.samStatus != nil }))
        tb.close()
        let tb2 = UMockTestbed()
        defer { tb2.close() }
        try tb2.add(try replayed.description(devnum: 2, port: "1-1"), model: replayed)
        let c = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .usb), profiles: profiles, usb: try LibUSBContext(),
            logger: logger)
        let (link, problem) = await c.connect()
        #expect(link != nil, "\(problem ?? "-")")
        await link?.transport.close()
    }
}
