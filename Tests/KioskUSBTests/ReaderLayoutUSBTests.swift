import CUMockdev
import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices

/// Issue 18 point 3: readers whose SAM frames do not travel as whole frames on one bulk pair.

private let preamble: [UInt8] = [0xAA, 0xAA, 0xAA, 0x96, 0x69]

/// Two bulk pairs: the host sends preamble + LEN (7 bytes) on OUT 0x01 and the command, data and
/// checksum on OUT 0x02; the reply's 7-byte header comes on IN 0x81 and its body on IN 0x82.
/// Anything else (a whole frame on 0x01) is not understood and gets no reply.
final class SplitSAMOverUSB: USBDeviceModel, @unchecked Sendable {
    let sam = SimulatedIDCardReader()
    private let lock = NSLock()
    private var header: [UInt8]?
    private var inHeader: [UInt8] = []
    private var inBody: [UInt8] = []
    private(set) var notUnderstood = 0

    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            if endpoint == 0x01 {
                if bytes.count == 7, Array(bytes.prefix(5)) == preamble {
                    header = bytes
                } else {
                    header = nil
                    notUnderstood += 1
                }
            } else if endpoint == 0x02, let h = header {
                header = nil
                var reply = sam.receive(h + bytes)
                while reply.count >= 7 {
                    let len = Int(reply[5]) << 8 | Int(reply[6])
                    inHeader += reply.prefix(7)
                    inBody += reply.dropFirst(7).prefix(len)
                    reply.removeFirst(min(reply.count, 7 + len))
                }
            } else {
                notUnderstood += 1
            }
            return .accept
        }
    }

    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            if endpoint == 0x81 {
                // The header endpoint sends one 7-byte header per transfer.
                let n = Swift.min(max, 7, inHeader.count)
                defer { inHeader.removeFirst(n) }
                return Array(inHeader.prefix(n))
            }
            let n = Swift.min(max, 64, inBody.count)
            defer { inBody.removeFirst(n) }
            return Array(inBody.prefix(n))
        }
    }
}

/// Whole frames, but on interrupt endpoints (no bulk endpoint at all).
final class InterruptSAMOverUSB: USBDeviceModel, @unchecked Sendable {
    let sam = SimulatedIDCardReader()
    private let lock = NSLock()
    private var inbound: [UInt8] = []
    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            inbound += sam.receive(bytes)
            return .accept
        }
    }
    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            let n = Swift.min(max, 64, inbound.count)
            defer { inbound.removeFirst(n) }
            return Array(inbound.prefix(n))
        }
    }
}

/// Two bulk pairs where only the last one is the SAM; the first takes data and never answers.
final class LastPairSAMOverUSB: USBDeviceModel, @unchecked Sendable {
    let sam = SimulatedIDCardReader()
    private let lock = NSLock()
    private var inbound: [UInt8] = []
    private(set) var toFirstPair = 0
    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            if endpoint == 0x02 { inbound += sam.receive(bytes) } else { toFirstPair += 1 }
            return .accept
        }
    }
    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            guard endpoint == 0x82 else { return [] }
            let n = Swift.min(max, 64, inbound.count)
            defer { inbound.removeFirst(n) }
            return Array(inbound.prefix(n))
        }
    }
}

func layoutProfile(_ layouts: [String]) -> DeviceProfile {
    try! DeviceProfiles.parse(
        yaml: """
            id: test-layout-reader
            name: "test layout reader"
            kind: idCardReader
            transport: usb-bulk
            usb: { vendorId: 0x0400, productId: 0xC35A, interfaceClass: 0xFF, layouts: [\(layouts.joined(separator: ", "))] }
            protocol: sam
            """, name: "test")
}

let allLayouts = ["single", "split", "interrupt", "last-pair"]

@Suite(.serialized) struct ReaderLayoutsOverLibUSB {
    let logger = Logger(label: "usb-layout-test")

    func connect(_ profile: DeviceProfile) async throws -> (ReaderLink?, String?) {
        let usb = try LibUSBContext()
        let c = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .usb), profiles: [profile], usb: usb, logger: logger)
        return await c.connect()
    }

    @Test func splitHeaderAndBodyEndpointsReadACard() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        var desc = readerDescription
        desc.extraEndpoints = [(0x02, 2), (0x82, 2)]
        let model = SplitSAMOverUSB()
        try tb.add(desc, model: model)
        // Whole frames on the first pair (the only layout before): not understood, not found.
        let (none, problem) = try await connect(layoutProfile(["single"]))
        #expect(none == nil)
        #expect(problem?.contains("usb.layouts") == true)
        #expect(model.notUnderstood > 0)
        // The shipped candidates include split: found, and a whole card (1295 bytes) reads.
        let usb = try LibUSBContext()
        let c = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .usb), profiles: [layoutProfile(allLayouts)], usb: usb,
            logger: logger)
        let reader = IDCardReader(
            provider: c, logger: logger,
            options: ReaderOptions(presenceInterval: .milliseconds(200), idleCheckInterval: .seconds(30)))
        var it = reader.events.makeAsyncIterator()
        #expect(await reader.probe())
        #expect(await reader.status().connection?.contains("split") == true)
        #expect(await reader.status().identity != nil, "SAM id (12 FF, 16 data bytes) over the split layout")
        await reader.startReading()
        model.sam.place(usbCard)
        guard case .cardRead(let id)? = await nextEvent(&it, where: isRead) else {
            Issue.record("no card read over the split layout")
            await reader.shutdown()
            return
        }
        #expect(id.idNumber == "110105200001010016")
        #expect(id.photo.count == 1024)
        await reader.shutdown()
    }

    @Test func interruptEndpointsAreProbed() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        var desc = readerDescription
        desc.outType = 3
        desc.inType = 3
        try tb.add(desc, model: InterruptSAMOverUSB())
        let (none, _) = try await connect(layoutProfile(["single"]))
        #expect(none == nil, "no bulk OUT: the single layout cannot carry it")
        let (link, problem) = try await connect(layoutProfile(allLayouts))
        #expect(link != nil, "\(problem ?? "-")")
        #expect(link?.connection.contains("interrupt") == true)
        await link?.transport.close()
    }

    @Test func theLastPairIsProbedWhenTheFirstIsSilent() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        var desc = readerDescription
        desc.extraEndpoints = [(0x02, 2), (0x82, 2)]
        let model = LastPairSAMOverUSB()
        try tb.add(desc, model: model)
        let (none, _) = try await connect(layoutProfile(["single"]))
        #expect(none == nil)
        let (link, problem) = try await connect(layoutProfile(["single", "last-pair"]))
        #expect(link != nil, "\(problem ?? "-")")
        #expect(link?.connection.contains("last-pair") == true)
        #expect(model.toFirstPair >= 1, "the first pair was tried first")
        await link?.transport.close()
    }
}

/// Issue 18 point 9: libusb runs hot-plug callbacks on its event thread with its locks held; the
/// callback may only signal. It reads no config descriptor (a device that left has none) and
/// hands over ids and address only; enumeration happens outside.
@Suite(.serialized) struct HotplugCallbackOverLibUSB {
    final class Events: @unchecked Sendable {
        let lock = NSLock()
        var seen: [(USBHotplugEvent, USBDeviceInfo)] = []
    }

    @Test func theCallbackCarriesOnlyIdsAndAddress() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let usb = try LibUSBContext()
        let events = Events()
        guard usb.startEvents(onHotplug: { e, d in events.lock.withLock { events.seen.append((e, d)) } }) else {
            Issue.record("no hot-plug in this libusb build")
            return
        }
        defer { usb.stopEvents() }
        try tb.add(readerDescription, model: SAMOverUSB(), announce: true)
        #expect(await waitFor("arrival") { events.lock.withLock { events.seen.contains { $0.0 == .arrived } } })
        tb.unplug(readerDescription)
        #expect(await waitFor("departure") { events.lock.withLock { events.seen.contains { $0.0 == .left } } })
        let seen = events.lock.withLock { events.seen }
        let arrived = try #require(seen.first { $0.0 == .arrived }?.1)
        #expect(arrived.vendorId == 0x0400 && arrived.productId == 0xC35A, "ids from the cached device descriptor")
        #expect(arrived.interfaces.isEmpty, "no config descriptor read in the callback")
        let left = try #require(seen.first { $0.0 == .left }?.1)
        #expect(left.interfaces.isEmpty)
        #expect(left.bus == 1 && left.address == 2)
        // Enumeration happens outside the callback: after the unplug the device is gone.
        #expect(usb.devices().allSatisfy { $0.vendorId != 0x0400 }, "gone after the unplug")
    }
}
