import CUMockdev
import Foundation
import KioskProtocols
import KioskTestSupport
import Logging
import Testing
@testable import KioskDevices

/// The SAM module seen from the USB side: bulk OUT frames go to the simulated reader, its
/// replies come back on bulk IN in 64-byte packets. Knobs inject the faults of test-harness.md.
final class SAMOverUSB: USBDeviceModel, @unchecked Sendable {
    let sam: SimulatedIDCardReader
    private let lock = NSLock()
    private var inbound: [UInt8] = []
    var silent = false
    var stallNextIn = false
    var splitReplies = false
    var strayPrefix: [UInt8] = []
    var corruptNextReply = false
    private(set) var commands: [[UInt8]] = []

    init(sam: SimulatedIDCardReader = SimulatedIDCardReader()) { self.sam = sam }

    func set(_ body: (SAMOverUSB) -> Void) { lock.withLock { body(self) } }
    func commandCount(_ cmd: SAMCommand) -> Int { lock.withLock { commands.filter { $0 == cmd.encoded() }.count } }

    func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
        lock.withLock {
            commands.append(bytes)
            guard !silent else { return .accept }
            var reply = sam.receive(bytes)
            if corruptNextReply, !reply.isEmpty {
                reply[reply.count - 1] ^= 0x5A
                corruptNextReply = false
            }
            inbound += strayPrefix + reply
            strayPrefix = []
            return .accept
        }
    }

    func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? {
        lock.withLock {
            if stallNextIn {
                stallNextIn = false
                return nil
            }
            let n = Swift.min(max, splitReplies ? 64 : 4096, inbound.count)
            let out = Array(inbound.prefix(n))
            inbound.removeFirst(n)
            return out
        }
    }
}

let readerDescription = UMockUSBDescription(vendorId: 0x0400, productId: 0xC35A, interfaceClass: 0xFF)

let readerProfile = try! DeviceProfiles.parse(
    yaml: """
        id: test-vendor-reader
        name: "test vendor reader"
        kind: idCardReader
        transport: usb-bulk
        usb: { vendorId: 0x0400, productId: 0xC35A, interfaceClass: 0xFF }
        protocol: sam
        """, name: "test")

let usbCard = IDCardIdentity(
    cardType: .resident, name: "测试一", sexCode: "1", nationCode: "01", birthDate: "20000101",
    address: "示例县演示路1号", idNumber: "110105200001010016", issuingAuthority: "示例县公安局",
    validFrom: .date("20200101"), validTo: .longTerm,
    photo: [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 0x11, count: 1020))

/// `awaitCondition` (KioskTestSupport) as a Bool for `#expect`, recording the timeout as an issue.
func waitFor(_ what: String, timeout: Duration = .seconds(10), _ cond: () async -> Bool) async -> Bool {
    do {
        try await awaitCondition(Double(timeout.components.seconds), what, every: 0.02) { await cond() }
        return true
    } catch {
        Issue.record("\(error)")
        return false
    }
}

func nextEvent(
    _ it: inout AsyncStream<CardReaderEvent>.Iterator, timeout: Duration = .seconds(10),
    where match: @escaping (CardReaderEvent) -> Bool
) async -> CardReaderEvent? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        guard let e = await it.next() else { return nil }
        if match(e) { return e }
    }
    return nil
}

func isRead(_ e: CardReaderEvent) -> Bool {
    if case .cardRead = e { return true }
    return false
}
func isRemoved(_ e: CardReaderEvent) -> Bool {
    if case .cardRemoved = e { return true }
    return false
}

/// A reader found through the connector on a fresh libusb context (after the testbed exists).
func usbReader(_ options: ReaderOptions, logger: Logger) throws -> IDCardReader {
    let usb = try LibUSBContext()
    let connector = SAMReaderConnector(
        settings: ReaderConnectionSettings(mode: .usb), profiles: [readerProfile], usb: usb, logger: logger)
    return IDCardReader(provider: connector, logger: logger, options: options)
}

/// All USB tests share umockdev's process-wide state: one testbed at a time.
@Suite(.serialized) struct ReaderOverLibUSB {
    let logger = Logger(label: "usb-test")

    @Test func enumeratesAndIdentifiesDescriptors() throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        #expect(tb.inMockEnvironment, "run under LD_PRELOAD=libumockdev-preload.so.0 (scripts/run-tests.sh)")
        try tb.add(readerDescription, model: SAMOverUSB())
        let usb = try LibUSBContext()
        let devs = usb.devices()
        let d = try #require(devs.first { $0.vendorId == 0x0400 })
        #expect(d.usbId == "0400:c35a")
        #expect(d.portPath == "1-1")
        #expect(d.interfaces.first?.interfaceClass == 0xFF)
        #expect(d.interfaces.first?.bulkOut?.address == 0x01)
        #expect(d.interfaces.first?.bulkIn?.address == 0x81)
        #expect(d.interfaces.first?.bulkIn?.maxPacketSize == 64)
    }

    @Test func readsACardThroughLibUSBAndDetectsRemoval() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        model.set { $0.splitReplies = true }  // 1295-byte reply in 64-byte packets
        let dev = try tb.add(readerDescription, model: model)
        let reader = try usbReader(
            ReaderOptions(presenceInterval: .milliseconds(200), idleCheckInterval: .seconds(30)), logger: logger)
        var it = reader.events.makeAsyncIterator()
        #expect(await reader.probe())
        let st = await reader.status()
        #expect(st.state == .online)
        #expect(st.connection?.contains("0400:c35a") == true)
        #expect(st.identity != nil, "SAM id read with 12 FF")
        #expect(dev.events().contains("CLAIM"))
        await reader.startReading()
        model.sam.place(usbCard)
        guard case .cardRead(let id)? = await nextEvent(&it, where: isRead) else {
            Issue.record("no card read over USB")
            return
        }
        #expect(id.idNumber == "110105200001010016")
        #expect(id.name == "测试一")
        #expect(id.photo.count == 1024)
        #expect(id.fingerprint == nil)
        #expect(await reader.status().media == .present)
        model.sam.remove()
        #expect(await nextEvent(&it, where: { isRemoved($0) || isRead($0) }).map(isRemoved) == true)
        #expect(await reader.status().counters["reads"] == 1, "one read per placement")
        await reader.shutdown()
        #expect(dev.events().contains("RELEASE"))
    }

    @Test func deviceWithReaderIdsThatDoesNotAnswerSAMIsNotAccepted() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        model.set { $0.silent = true }
        try tb.add(readerDescription, model: model)
        let usb = try LibUSBContext()
        let connector = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .usb), profiles: [readerProfile], usb: usb, logger: logger)
        let (link, problem) = await connector.connect()
        #expect(link == nil)
        #expect(problem?.contains("does not answer the SAM status command") == true)
        #expect(model.commandCount(.samStatus) >= 1)
    }

    @Test func stallOnTheInEndpointIsClearedAndTheReaderCarriesOn() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        let dev = try tb.add(readerDescription, model: model)
        let reader = try usbReader(ReaderOptions(idleCheckInterval: .seconds(30)), logger: logger)
        #expect(await reader.probe())
        model.set { $0.stallNextIn = true }
        var it = reader.events.makeAsyncIterator()
        await reader.startReading()
        model.sam.place(usbCard)
        #expect(await nextEvent(&it, where: isRead) != nil, "a read after the stall")
        #expect(dev.events().contains("CLEAR_HALT"))
        await reader.shutdown()
    }

    @Test func corruptAndStrayBytesAreResynchronised() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        try tb.add(readerDescription, model: model)
        let reader = try usbReader(ReaderOptions(idleCheckInterval: .seconds(30)), logger: logger)
        model.set { $0.strayPrefix = [0xAA, 0x00, 0x13] }
        #expect(await reader.probe(), "stray bytes before the preamble are skipped")
        var it = reader.events.makeAsyncIterator()
        model.set { $0.corruptNextReply = true }  // the next find-card reply has a bad XOR
        await reader.startReading()
        model.sam.place(usbCard)
        #expect(await nextEvent(&it, where: isRead) != nil)
        await reader.shutdown()
    }

    @Test func silentReaderTimesOutThroughDiscardAndIsReopened() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        let dev = try tb.add(readerDescription, model: model)
        let reader = try usbReader(
            ReaderOptions(idleCheckInterval: .seconds(30), rescanInterval: .milliseconds(200)), logger: logger)
        #expect(await reader.probe())
        model.set { $0.silent = true }
        await reader.startReading()
        // 3 find-card timeouts (1 s each): the link is closed and re-opened.
        #expect(
            await waitFor("hardwareError after 3 timeouts", timeout: .seconds(20)) {
                await reader.status().state == .hardwareError
            })
        #expect(dev.events().contains("DISCARD"), "libusb cancels the timed-out IN transfer")
        model.set { $0.silent = false }
        #expect(await waitFor("back online", timeout: .seconds(20)) { await reader.status().state == .online })
        #expect(await reader.status().counters["reconnects"] ?? 0 >= 1)
        await reader.shutdown()
    }

    @Test func unplugDuringAReadAndReplugWithoutRestart() async throws {
        let tb = UMockTestbed()
        defer { tb.close() }
        let model = SAMOverUSB()
        try tb.add(readerDescription, model: model)
        let reader = try usbReader(
            ReaderOptions(idleCheckInterval: .seconds(30), rescanInterval: .milliseconds(300)), logger: logger)
        #expect(await reader.probe())
        await reader.startReading()
        model.set { $0.silent = true }  // a read in flight that never answers…
        try await Task.sleep(for: .milliseconds(150))
        tb.unplug(readerDescription)  // …when the cable is pulled
        #expect(await waitFor("powerOff after unplug") { await reader.status().state == .powerOff })
        #expect(await reader.status().lastError?.contains("USB") == true)

        // Plug a reader back in (same port): picked up by hot-plug or re-enumeration.
        let model2 = SAMOverUSB()
        try tb.add(readerDescription, model: model2, announce: true)
        #expect(await waitFor("online after replug", timeout: .seconds(15)) { await reader.status().state == .online })
        var it = reader.events.makeAsyncIterator()
        model2.sam.place(usbCard)
        #expect(await nextEvent(&it, where: isRead) != nil, "reads on the replugged reader")
        #expect(await reader.status().counters["reconnects"] ?? 0 >= 1)
        await reader.shutdown()
    }

    @Test func bulkWritesResumeFromTheTransferredCountAfterATimeout() async throws {
        final class Sink: USBDeviceModel, @unchecked Sendable {
            let lock = NSLock()
            var calls = 0
            func bulkOut(endpoint: UInt8, _ bytes: [UInt8]) -> USBOutResult {
                lock.withLock {
                    calls += 1
                    return calls == 2 ? .acceptPartial(1000) : .accept  // second chunk: 1000 bytes, then NAK
                }
            }
            func bulkIn(endpoint: UInt8, max: Int) -> [UInt8]? { [] }
        }
        let tb = UMockTestbed()
        defer { tb.close() }
        let sink = Sink()
        let dev = try tb.add(readerDescription, model: sink)
        let usb = try LibUSBContext()
        let d = try #require(usb.devices().first { $0.vendorId == 0x0400 })
        let t = try USBBulkTransport(
            context: usb, device: d, interface: 0,
            writeOptions: USBWriteOptions(chunkBytes: 4096, chunkTimeoutMilliseconds: 200, deadline: .seconds(5)))
        let payload = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let sent = try await t.writeReportingProgress(payload)
        #expect(sent == payload.count)
        #expect(dev.bytesReceived() == payload, "every byte exactly once, in order")
        #expect(dev.events().contains("DISCARD"))
        await t.close()
    }
}
