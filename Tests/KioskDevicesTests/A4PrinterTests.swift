import Foundation
import KioskProtocols
import func KioskTestSupport.freePort
import Logging
import Testing
@testable import KioskDevices

@Suite struct PrinterStateReasonTests {
    @Test func severitySuffixIsStripped() {
        #expect(
            PrinterStateReason(parsing: "media-empty-error")
                == PrinterStateReason(keyword: "media-empty", severity: .error))
        #expect(
            PrinterStateReason(parsing: "toner-low-warning")
                == PrinterStateReason(keyword: "toner-low", severity: .warning))
        #expect(
            PrinterStateReason(parsing: "offline-report") == PrinterStateReason(keyword: "offline", severity: .report))
        #expect(PrinterStateReason(parsing: "media-jam") == PrinterStateReason(keyword: "media-jam", severity: .none))
        #expect(PrinterStateReason(parsing: "paused") == PrinterStateReason(keyword: "paused", severity: .none))
    }

    @Test func reasonsMapToDeviceStatus() {
        let empty = A4PrinterCondition.from(
            reasons: ["media-empty-warning", "media-needed-warning"], printerState: 4, acceptingJobs: true)
        #expect(empty.paper == .out && empty.state == .userError && empty.action == .clear)
        #expect(empty.reasons == ["media-empty", "media-needed"])
        let jam = A4PrinterCondition.from(reasons: ["media-jam-report"], printerState: 3, acceptingJobs: true)
        #expect(jam.paper == .jammed && jam.state == .userError)
        let toner = A4PrinterCondition.from(reasons: ["toner-low-report"], printerState: 3, acceptingJobs: true)
        #expect(toner.toner == .low && toner.state == .online && toner.problem == nil)
        let off = A4PrinterCondition.from(reasons: ["offline-report"], printerState: 3, acceptingJobs: true)
        #expect(off.state == .powerOff)
        let stopped = A4PrinterCondition.from(reasons: ["paused"], printerState: 5, acceptingJobs: true)
        #expect(stopped.state == .offline && stopped.action == .configuration)
        let fine = A4PrinterCondition.from(reasons: ["none"], printerState: 3, acceptingJobs: true)
        #expect(fine.state == .online && fine.paper == .full && fine.reasons.isEmpty)
        let odd = A4PrinterCondition.from(reasons: ["fuser-over-temp-error"], printerState: 3, acceptingJobs: true)
        #expect(odd.state == .hardwareError)
    }

    @Test func testPageIsAPDF() {
        let pdf = A4TestPage.pdf(lines: ["Kiosk test (1)", "中文"])
        #expect(pdf.starts(with: Array("%PDF-1.4".utf8)))
        let s = String(decoding: pdf, as: UTF8.self)
        #expect(s.contains("(Kiosk test \\(1\\)) '"))
        #expect(s.contains("(??) '"))
        #expect(s.hasSuffix("%%EOF\n"))
    }
}

/// libcups is opened with dlopen on first use; without it the A4 printer reports what to install.
@Suite struct CupsLibraryTests {
    static let missing = "libkiosk-no-such-cups.so.2"

    @Test func theInstalledLibcupsHasEveryFunctionTheShimCalls() {
        #expect(CupsLibrary.probe("libcups.so.2") == nil)
        #expect(CupsLibrary.system.load() == nil)
    }

    @Test func aMissingOrWrongLibraryIsReportedInTheLoadersWords() {
        let missing = CupsLibrary.probe(Self.missing)
        #expect(missing?.contains("\(Self.missing): cannot open shared object file") == true, "\(missing ?? "nil")")
        let wrong = CupsLibrary.probe("libc.so.6")
        #expect(wrong?.contains("has no function cupsAddOption") == true, "\(wrong ?? "nil")")
    }

    @Test func withoutLibcupsTheA4PrinterSaysToInstallItAndNeverCallsIt() async throws {
        let printer = A4Printer(
            settings: A4PrinterSettings(uri: "ipp://127.0.0.1:9/ipp/print"), logger: Logger(label: "a4-test"),
            library: CupsLibrary { CupsLibrary.probe(Self.missing) })
        let s = await printer.refresh()
        #expect(s.state == .hardwareError && s.action == .configuration)
        #expect(s.lastError?.contains("cannot open shared object file") == true, "\(s.lastError ?? "nil")")
        #expect(s.lastError?.contains("install libcups2") == true, "\(s.lastError ?? "nil")")
        do {
            _ = try await printer.printPDF(testPDF(), label: "test-a4")
            Issue.record("printed without libcups")
        } catch let e as DeviceError {
            #expect(e.description.contains("install libcups2"), "\(e.description)")
        }
        #expect(await printer.status().counters["printFailures"] == 1)
    }
}

/// Against real CUPS software started by the test: ippeveprinter (direct IPP) and a private cupsd.
@Suite(.serialized) struct A4PrinterCupsTests {
    let logger = Logger(label: "a4-test")

    func fast(_ s: A4PrinterSettings, timeout: Duration = .seconds(20)) -> A4PrinterSettings {
        var s = s
        s.pollInterval = .milliseconds(100)
        s.jobTimeout = timeout
        s.requestTimeout = .seconds(5)
        return s
    }

    @Test func ippEverywherePrinterPrintsAPDF() async throws {
        let fx = try IPPEveFixture()
        defer { fx.stop() }
        let printer = A4Printer(settings: fast(A4PrinterSettings(uri: fx.uri)), logger: logger)
        #expect(await printer.refresh().state == .online)
        let pdf = testPDF()
        let r = try await printer.printPDF(pdf, label: "test-a4")
        #expect(r.outcome == .completed)
        #expect(r.jobId > 0)
        let files = fx.printedFiles
        #expect(files.count == 1)
        if let f = files.first { #expect(FileManager.default.contents(atPath: f) == pdf) }
        let s = await printer.status()
        #expect(s.state == .online && s.paper == .full)
        #expect(s.counters["documentsPrinted"] == 1)
    }

    /// Issue 18 point 8: IPP Everywhere requires only PWG raster and JPEG. A printer without
    /// PDF gets PWG raster rendered locally (Ghostscript), and "printed" comes from its job state.
    @Test func aPrinterWithoutPDFGetsPWGRasterRenderedLocally() async throws {
        let fx = try IPPEveFixture(formats: "image/pwg-raster")
        defer { fx.stop() }
        let printer = A4Printer(settings: fast(A4PrinterSettings(uri: fx.uri)), logger: logger)
        #expect(await printer.refresh().state == .online)
        let r = try await printer.printPDF(testPDF(), label: "test-a4")
        #expect(r.outcome == .completed)
        let files = fx.printedFiles
        #expect(files.count == 1)
        if let f = files.first, let d = FileManager.default.contents(atPath: f) {
            let b = [UInt8](d)
            #expect(Array(b.prefix(4)) == Array("RaS2".utf8), "a PWG raster stream, not the PDF")
            #expect(b.count > 284)
            if b.count > 284 {
                // cups_page_header2_t.HWResolution[0], big-endian, at header offset 276.
                let dpi = b[280...283].reduce(0) { $0 << 8 | Int($1) }
                #expect(dpi == 300, "300 dpi from pwg-raster-document-resolution-supported (300dpi,600dpi)")
            }
        }
        #expect(await printer.status().counters["documentsPrinted"] == 1)
    }

    @Test func pwgRasterSettingsFollowWhatThePrinterOffers() {
        #expect(
            PWGRasterRenderer.choose(resolutions: [300, 600], types: ["black_1", "sgray_8"])
                == .init(dpi: 300, type: "sgray_8"))
        #expect(
            PWGRasterRenderer.choose(resolutions: [600, 1200], types: ["srgb_8"]) == .init(dpi: 600, type: "srgb_8"))
        #expect(PWGRasterRenderer.choose(resolutions: [], types: ["sgray_8"]) == nil)
        #expect(PWGRasterRenderer.choose(resolutions: [300], types: ["adobe-rgb_16"]) == nil)
    }

    @Test func mediaEmptyWhileTheJobWaitsThenTheDeadlineCancelsIt() async throws {
        let fx = try IPPEveFixture(paper: false)
        defer { fx.stop() }
        let printer = A4Printer(settings: fast(A4PrinterSettings(uri: fx.uri), timeout: .seconds(4)), logger: logger)
        let job = Task { try await printer.printPDF(testPDF(), label: "wait-for-paper") }
        // While the job waits the printer shows media-empty: paper out, staff must act.
        var seen = false
        let end = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < end {
            let s = await printer.status()
            if s.paper == .out && s.state == .userError && (s.reasons ?? []).contains("media-empty") {
                seen = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seen, "status never showed media-empty while the job waited")
        let r = try await job.value
        #expect(r.outcome == .timedOut)
        #expect(r.residentMessage.contains("缺纸"))
        #expect(fx.printedFiles.isEmpty)
        #expect(await printer.status().counters["printFailures"] == 1)
    }

    @Test func aJamAbortsTheJob() async throws {
        let fx = try IPPEveFixture()
        defer { fx.stop() }
        _ = FileManager.default.createFile(atPath: fx.jamFile, contents: Data())
        let printer = A4Printer(settings: fast(A4PrinterSettings(uri: fx.uri)), logger: logger)
        let r = try await printer.printPDF(testPDF(), label: "jam")
        #expect(r.outcome == .aborted)
        let s = await printer.status()
        #expect(s.paper == .jammed)
        #expect((s.reasons ?? []).contains("media-jam"))
        #expect(r.residentMessage.contains("卡纸"))
    }

    @Test func privateCupsdQueuePrintsAPDF() async throws {
        let fx = try CupsdFixture()
        defer { fx.stop() }
        let printer = A4Printer(settings: fast(A4PrinterSettings(queue: fx.queue, server: fx.server)), logger: logger)
        #expect(await printer.refresh().state == .online)
        let pdf = testPDF()
        let r = try await printer.printPDF(pdf, label: "test-a4")
        #expect(r.outcome == .completed)
        #expect(fx.printedFiles.count == 1)
        if let f = fx.printedFiles.first { #expect(FileManager.default.contents(atPath: f) == pdf) }
    }

    @Test func cupsdMediaEmptyHoldsTheJobUntilPaperIsLoaded() async throws {
        let fx = try CupsdFixture()
        defer { fx.stop() }
        try "media-empty-error".write(toFile: fx.faultFile, atomically: true, encoding: .utf8)
        let printer = A4Printer(
            settings: fast(A4PrinterSettings(queue: fx.queue, server: fx.server), timeout: .seconds(30)), logger: logger
        )
        let job = Task { try await printer.printPDF(testPDF(), label: "held") }
        var seen = false
        let end = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < end {
            let s = await printer.status()
            if s.paper == .out && (s.reasons ?? []).contains("media-empty") {
                seen = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seen, "status never showed media-empty while cupsd held the job")
        try FileManager.default.removeItem(atPath: fx.faultFile)  // staff loads paper
        let r = try await job.value
        #expect(r.outcome == .completed)
        #expect(await printer.status().paper == .full)
    }

    @Test func cupsdJamAbortsTheJob() async throws {
        let fx = try CupsdFixture()
        defer { fx.stop() }
        _ = FileManager.default.createFile(atPath: fx.jamFile, contents: Data())
        let printer = A4Printer(settings: fast(A4PrinterSettings(queue: fx.queue, server: fx.server)), logger: logger)
        let r = try await printer.printPDF(testPDF(), label: "jam")
        #expect(r.outcome == .aborted)
        #expect(
            (r.jobReasons + (await printer.status().reasons ?? [])).contains {
                $0.hasPrefix("media-jam") || $0.contains("aborted")
            })
    }

    @Test func unknownQueueAndDeadServerGiveClearErrors() async throws {
        let fx = try CupsdFixture()
        defer { fx.stop() }
        let missing = A4Printer(
            settings: fast(A4PrinterSettings(queue: "no_such_queue", server: fx.server)), logger: logger)
        let s = await missing.refresh()
        #expect(s.state == .hardwareError)
        #expect(s.lastError?.contains("lpadmin") == true)
        await #expect(throws: DeviceError.self) { _ = try await missing.printPDF(testPDF(), label: "x") }

        let dead = A4Printer(
            settings: fast(A4PrinterSettings(uri: "ipp://127.0.0.1:\(freePort())/ipp/print")), logger: logger)
        #expect(await dead.refresh().state == .powerOff)
        await #expect(throws: DeviceError.self) { _ = try await dead.printPDF(testPDF(), label: "x") }
        // Personal data never goes into a job title.
        await #expect(throws: DeviceError.self) { _ = try await dead.printPDF(testPDF(), label: "测试一") }
    }
}
