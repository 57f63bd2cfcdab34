import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices

let testCard = IDCardIdentity(
    cardType: .resident, name: "测试一", sexCode: "1", nationCode: "01", birthDate: "20000101",
    address: "示例县演示路1号", idNumber: "110105200001010016", issuingAuthority: "示例县公安局",
    validFrom: .date("20200101"), validTo: .longTerm,
    photo: [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 0, count: 1020))

func nextEvent(_ it: inout AsyncStream<CardReaderEvent>.Iterator, where match: (CardReaderEvent) -> Bool) async
    -> CardReaderEvent?
{
    while let e = await it.next() {
        if match(e) { return e }
    }
    return nil
}

@Suite struct ReaderTests {
    @Test func probeRecognisesReaderBySAMStatus() async {
        let sim = SimulatedIDCardReader()
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        #expect(await reader.probe())
        #expect(await reader.status().state == .online)
    }

    @Test func readsOncePerPlacementAndDetectsRemoval() async throws {
        let sim = SimulatedIDCardReader()
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        var it = reader.events.makeAsyncIterator()
        await reader.startReading()
        sim.place(testCard)
        let read = await nextEvent(&it) {
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .cardRead(let id) = read else {
            Issue.record("no card read")
            return
        }
        #expect(id.idNumber == "110105200001010016")
        #expect(id.name == "测试一")
        #expect(id.validTo == .longTerm)
        #expect(id.photo.count == 1024)
        sim.remove()
        let removed = await nextEvent(&it) {
            if case .cardRemoved = $0 { return true }
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .cardRemoved = removed else {
            Issue.record("expected removal, got \(String(describing: removed))")
            return
        }
        #expect(await reader.status().counters["reads"] == 1)
        await reader.stopReading()
    }

    @Test func stoppingAndRestartingPollingStillReads() async throws {
        let sim = SimulatedIDCardReader()
        let link = SimulatorLink(model: sim, name: "r")
        let reader = IDCardReader(transport: link, model: "sim", simulated: true, logger: Logger(label: "t"))
        var it = reader.events.makeAsyncIterator()
        for _ in 0..<3 {
            await reader.startReading()
            try await Task.sleep(for: .milliseconds(120))
            await reader.stopReading()
        }
        // A read cancelled mid-wait must end: a pending read with nothing to deliver returns at once.
        #expect(try await link.read(maxBytes: 64, timeout: .milliseconds(50)).isEmpty)
        await reader.startReading()
        sim.place(testCard)
        let e = await nextEvent(&it) {
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .cardRead = e else {
            Issue.record("no read after restart")
            return
        }
        await reader.stopReading()
    }

    @Test func cardMovedDuringReadAsksToPlaceAgain() async {
        let sim = SimulatedIDCardReader()
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        var it = reader.events.makeAsyncIterator()
        sim.failNextRead(status: 0x41)
        await reader.startReading()
        sim.place(testCard)
        let e = await nextEvent(&it) {
            if case .problem = $0 { return true }
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .problem(let resident, _) = e else {
            Issue.record("expected a problem event")
            return
        }
        #expect(resident.contains("移动"))
        // The card is still there: the next poll reads it.
        let again = await nextEvent(&it) {
            if case .cardRead = $0 { return true }
            return false
        }
        guard case .cardRead = again else {
            Issue.record("expected a read after retry")
            return
        }
        await reader.stopReading()
    }

    @Test func unpluggedReaderReportsPowerOff() async {
        let sim = SimulatedIDCardReader()
        sim.unplug()
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        #expect(await reader.probe() == false)
        let s = await reader.status()
        #expect(s.state == .powerOff)
        #expect(s.lastError?.contains("cable") == true)
        sim.plug()
        #expect(await reader.probe())
    }
}

@Suite struct PrinterTests {
    func receipt(_ caseNumber: String) -> ReceiptDocument {
        ReceiptDocument([
            .title("受理回执"), .keyValue("办件编号", caseNumber), .keyValue("证件号码", Mask.idNumber("110105200001010016")),
            .qr(caseNumber, size: 6), .cut(partial: true),
        ])
    }

    @Test func printsThroughESCPOSAndTheSimulatorDecodesIt() async throws {
        let sim = SimulatedReceiptPrinter(outputDirectory: nil)
        let p = ReceiptPrinter(
            transport: SimulatorLink(model: sim, name: "p"), profile: .mm80, model: "sim", simulated: true,
            bidirectional: true, logger: Logger(label: "t"))
        #expect(await p.refresh().state == .online)
        try await p.print(receipt("GH202611230001"))
        let r = sim.receipts
        #expect(r.count == 1)
        #expect(r.first?.text.contains("GH202611230001") == true)
        #expect(r.first?.text.contains("1101**********0016") == true)
        #expect(r.first?.qrCodes == ["GH202611230001"])
        #expect(r.first?.text.contains("110105200001010016") == false)
    }

    @Test func paperOutRefusesAndIsPublished() async {
        let sim = SimulatedReceiptPrinter(outputDirectory: nil)
        sim.setPaperOut(true)
        let p = ReceiptPrinter(
            transport: SimulatorLink(model: sim, name: "p"), profile: .mm80, model: "sim", simulated: true,
            bidirectional: true, logger: Logger(label: "t"))
        await #expect(throws: DeviceError.self) { try await p.print(receipt("GH1")) }
        let s = await p.status()
        #expect(s.paper == .out)
        #expect(s.action == .clear)
        sim.setPaperOut(false)
        #expect(await p.refresh().state == .online)
    }

    @Test func paperRunningOutMidReceiptIsReported() async {
        let sim = SimulatedReceiptPrinter(outputDirectory: nil)
        sim.setPaperRemaining(lines: 1)
        let p = ReceiptPrinter(
            transport: SimulatorLink(model: sim, name: "p"), profile: .mm80, model: "sim", simulated: true,
            bidirectional: true, logger: Logger(label: "t"))
        do {
            try await p.print(receipt("GH2"))
            Issue.record("expected a paper-out error")
        } catch let e as DeviceError {
            #expect(e.residentMessage.contains("纸"))
        } catch { Issue.record("\(error)") }
        #expect(await p.status().paper == .out)
    }

    /// A selftest right after paper is reloaded must ask the printer, even while a background
    /// status poll holds the wire; a plain refresh then returns the last known status.
    @Test func aFreshRefreshWaitsForAPollInFlightAndAsksThePrinter() async throws {
        let sim = SimulatedReceiptPrinter(outputDirectory: nil)
        sim.setPaperOut(true)
        let link = GatedLink(SimulatorLink(model: sim, name: "p"))
        let p = ReceiptPrinter(
            transport: link, profile: .mm80, model: "sim", simulated: true, bidirectional: true,
            logger: Logger(label: "t"))
        #expect(await p.refresh().paper == .out)
        await link.close(gate: true)
        let poll = Task { await p.refresh() }
        try await link.waitForBlockedWrite()
        sim.setPaperOut(false)
        #expect(await p.refresh().paper == .out, "a plain refresh while a poll holds the wire: last known")
        let selftest = Task { await p.refresh(fresh: true) }
        try await Task.sleep(for: .milliseconds(100))  // the selftest queues behind the poll
        await link.close(gate: false)
        _ = await poll.value
        let s = await selftest.value
        #expect(s.state == .online)
        #expect(s.paper != .out)
    }
}

/// A link whose writes wait while its gate is closed: a status poll held mid-query.
actor GatedLink: ByteTransport {
    let inner: SimulatorLink
    private var closed = false
    private var held: [CheckedContinuation<Void, Never>] = []
    nonisolated var description: String { inner.description }
    init(_ inner: SimulatorLink) { self.inner = inner }

    func close(gate: Bool) {
        closed = gate
        if !gate {
            for c in held { c.resume() }
            held = []
        }
    }

    func waitForBlockedWrite() async throws {
        for _ in 0..<500 where held.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!held.isEmpty, "the poll reached the printer")
    }

    func write(_ bytes: [UInt8]) async throws {
        if closed { await withCheckedContinuation { held.append($0) } }
        try await inner.write(bytes)
    }
    func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        try await inner.read(maxBytes: maxBytes, timeout: timeout)
    }
    func flushInput() async { await inner.flushInput() }
    func close() async { await inner.close() }
}

/// A printer model that sends ASB blocks but never answers DLE EOT: the status must come from ASB.
final class ASBOnlyPrinter: SimulatedDeviceModel, @unchecked Sendable {
    let inner = SimulatedReceiptPrinter(outputDirectory: nil)
    var connected: Bool { true }
    func receive(_ bytes: [UInt8]) -> [UInt8] {
        // Strip DLE EOT queries before they reach the inner printer, keep everything else (incl. ASB).
        var clean: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x10, i + 1 < bytes.count, bytes[i + 1] == 0x04 {
                i += 3
                continue
            }
            clean.append(bytes[i])
            i += 1
        }
        return inner.receive(clean).filter { $0 & 0x93 != 0x12 }
    }
}

@Suite struct ASBPrinterTests {
    @Test func automaticStatusBackReportsPaperOutMidReceipt() async {
        let sim = SimulatedReceiptPrinter(outputDirectory: nil)
        sim.setPaperRemaining(lines: 2)
        let p = ReceiptPrinter(
            transport: SimulatorLink(model: sim, name: "p"), profile: .mm80, model: "sim", simulated: true,
            bidirectional: true, logger: Logger(label: "t"), autoStatusBack: true)
        do {
            try await p.print(
                ReceiptDocument([
                    .title("受理回执"), .keyValue("办件编号", "GH1"), .text("一"), .text("二"), .text("三"),
                    .cut(partial: true),
                ]))
            Issue.record("expected paper out")
        } catch let e as DeviceError {
            #expect(e.residentMessage.contains("纸"))
        } catch { Issue.record("\(error)") }
        #expect(await p.status().paper == .out)
    }

    @Test func asbAloneIsEnoughWhenDLEEOTIsNotAnswered() async {
        let model = ASBOnlyPrinter()
        let p = ReceiptPrinter(
            transport: SimulatorLink(model: model, name: "p"), profile: .mm80, model: "sim", simulated: true,
            bidirectional: true, logger: Logger(label: "t"), autoStatusBack: true)
        // DLE EOT gets no answer, so the printer is told to send ASB (GS a): its block says ready.
        let s = await p.refresh()
        #expect(s.state == .online, "\(s)")
        #expect(s.paper == .full)
        try? await p.print(ReceiptDocument([.text("测试"), .cut(partial: true)]))
        #expect(model.inner.receipts.count == 1)
        // Paper runs out: the next status comes from the ASB block.
        model.inner.setPaperOut(true)
        let out = await p.refresh()
        #expect(out.paper == .out, "\(out)")
    }
}

@Suite struct CameraTests {
    @Test func simulatedCameraReturnsJPEGFixtures() async throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("kiosk-config/fixtures/camera").path
        let cam = DocumentCamera(source: try SimulatedFrameSource(fixtureDirectory: dir), logger: Logger(label: "t"))
        let jpeg = try await cam.capture()
        #expect(jpeg.prefix(2) == Data([0xFF, 0xD8]))
        #expect(await cam.status().counters["captures"] == 1)
    }

    @Test func missingFixturesGiveAClearError() {
        #expect(throws: DeviceError.self) { try SimulatedFrameSource(fixtureDirectory: "/nonexistent") }
    }
}
