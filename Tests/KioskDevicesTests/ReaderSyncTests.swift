import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices

/// A second made-up resident (check digit valid, obviously fake pattern).
let secondTestCard = IDCardIdentity(
    cardType: .resident, name: "测试二", sexCode: "2", nationCode: "01", birthDate: "20000202",
    address: "示例县演示路2号", idNumber: "110105200002020021", issuingAuthority: "示例县公安局",
    validFrom: .date("20200101"), validTo: .longTerm,
    photo: [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 0, count: 1020))

/// Issue 18 point 4: one late reply must not desynchronise the reader.
@Suite struct ReaderLateReplyTests {
    func readIdentity(_ it: inout AsyncStream<CardReaderEvent>.Iterator) async -> IDCardIdentity? {
        let e = await nextEvent(&it) {
            if case .cardRead = $0 { return true }
            return false
        }
        if case .cardRead(let id) = e { return id }
        return nil
    }

    /// The reply to `30 03` comes after the host gave up, just ahead of the next command's
    /// reply. It has the shape of no `20 01` reply (91, no data) and is dropped.
    @Test func lateAddressReplyIsDroppedAndTheNextCardReads() async throws {
        let sim = SimulatedIDCardReader()
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        var it = reader.events.makeAsyncIterator()
        sim.holdNextReply(to: .readAddress)
        await reader.startReading()
        sim.place(testCard)
        #expect(await readIdentity(&it)?.idNumber == "110105200001010016")
        // The held 30 03 reply times out: the reader takes the card as gone.
        let removed = await nextEvent(&it) {
            if case .cardRemoved = $0 { return true }
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .cardRemoved = removed else {
            Issue.record("expected removal after the 30 03 timeout")
            return
        }
        sim.place(secondTestCard)
        let second = await readIdentity(&it)
        #expect(second?.idNumber == "110105200002020021")
        #expect(second?.name == "测试二")
        await reader.stopReading()
        await reader.shutdown()
    }

    /// A late error reply (80, no card) fits any command's error shape; it is taken as the
    /// next command's answer, and the real answer left behind is drained before the command after.
    @Test func lateErrorReplyIsDrainedBeforeTheNextCommand() async throws {
        let sim = SimulatedIDCardReader(removeAfterRead: .milliseconds(150))
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        var it = reader.events.makeAsyncIterator()
        sim.holdNextReply(to: .readAddress)
        await reader.startReading()
        sim.place(testCard)
        #expect(await readIdentity(&it)?.idNumber == "110105200001010016")
        _ = await nextEvent(&it) {
            if case .cardRemoved = $0 { return true }
            return false
        }
        sim.place(secondTestCard)
        #expect(await readIdentity(&it)?.idNumber == "110105200002020021")
        // And the one after that, too: nothing stays shifted.
        sim.remove()
        _ = await nextEvent(&it) {
            if case .cardRemoved = $0 { return true }
            return false
        }
        sim.place(testCard)
        #expect(await readIdentity(&it)?.idNumber == "110105200001010016")
        await reader.stopReading()
        await reader.shutdown()
    }

    @Test func replyShapesAreCheckedAgainstTheCommandSent() {
        // Right shapes.
        #expect(IDCardReader.mismatch(SAMReply(status: 0x90), for: .samStatus) == nil)
        #expect(IDCardReader.mismatch(.cardFound, for: .findCard) == nil)
        #expect(IDCardReader.mismatch(SAMReply(status: 0x80), for: .findCard) == nil)
        #expect(IDCardReader.mismatch(.cardSelected, for: .selectCard) == nil)
        #expect(
            IDCardReader.mismatch(
                SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 1284)), for: .readTextAndPhoto) == nil)
        #expect(IDCardReader.mismatch(SAMReply(status: 0x41), for: .readTextAndPhoto) == nil)
        #expect(IDCardReader.mismatch(SAMReply(status: 0x91), for: .readAddress) == nil)
        #expect(
            IDCardReader.mismatch(
                SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 1798)), for: .readTextPhotoFingerprint) == nil
        )
        // Replies to other commands.
        #expect(IDCardReader.mismatch(SAMReply(status: 0x91), for: .findCard) != nil)
        #expect(IDCardReader.mismatch(.cardFound, for: .selectCard) != nil)
        #expect(IDCardReader.mismatch(.cardSelected, for: .findCard) != nil)
        #expect(IDCardReader.mismatch(.cardSelected, for: .readTextAndPhoto) != nil)
        #expect(
            IDCardReader.mismatch(SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 1284)), for: .readAddress)
                != nil)
        #expect(
            IDCardReader.mismatch(
                SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 1500)), for: .readTextPhotoFingerprint) != nil
        )
        #expect(IDCardReader.mismatch(SAMReply(status: 0x80, data: [1, 2]), for: .findCard) != nil)
    }
}
