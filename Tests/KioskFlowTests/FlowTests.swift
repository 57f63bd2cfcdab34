import Foundation
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func loadCatalog() throws -> Catalog {
    try Catalog.load(
        catalogFile: root.appendingPathComponent("kiosk-config/catalog.json").path,
        guidesDirectory: root.appendingPathComponent("kiosk-config/guides").path)
}

let card = IDCardIdentity(
    cardType: .resident, name: "测试一", sexCode: "1", birthDate: "20000101",
    idNumber: "110105200001010016", validFrom: .date("20200101"), validTo: .longTerm)

let readyDevices: [DeviceStatus] = [
    DeviceStatus(kind: .idCardReader, state: .online, model: "sim", simulated: true),
    DeviceStatus(kind: .documentCamera, state: .online, model: "sim", simulated: true),
    DeviceStatus(kind: .receiptPrinter, state: .online, model: "sim", simulated: true, paper: .full),
]

struct Driver {
    var m: FlowMachine
    var t = Date(timeIntervalSince1970: 1_795_000_000)
    var effects: [FlowEffect] = []

    init(catalog: Catalog, idle: Int = 60) {
        m = FlowMachine(
            catalog: catalog,
            settings: FlowSettings(
                stationName: "测试便民服务中心", idleTimeoutSeconds: idle,
                warningSeconds: 10, simulatedCards: ["测试一"]), now: t)
        _ = m.handle(.devices(readyDevices))
    }
    mutating func send(_ e: FlowEvent) { effects += m.handle(e) }
    mutating func keys(_ ks: Key...) { for k in ks { send(.key(k)) } }
    mutating func advance(_ s: Double) {
        t += s
        send(.tick(t))
    }
    var screen: String { m.frame(width: 80, height: 24).plainText }
}

@Suite struct FlowTests {
    @Test func homeShowsStationDevicesAndMenu() throws {
        let d = Driver(catalog: try loadCatalog())
        #expect(d.screen.contains("测试便民服务中心"))
        #expect(d.screen.contains("设备就绪"))
        #expect(d.screen.contains("进度查询"))
    }

    @Test func browseToAGuideAndPrintTheNotice() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(1))
        #expect(d.screen.contains("社会救助"))
        d.keys(.digit(1))  // first category
        #expect(d.screen.contains("第 1/"))
        d.keys(.digit(9))
        #expect(d.screen.contains("第 2/"))
        d.keys(.digit(7), .digit(1))  // back to page 1, first item
        #expect(d.screen.contains("办事指南"))
        let item = try #require(d.m.session.item)
        if d.m.catalog.guide(for: item.code)?.sample == true { #expect(d.screen.contains("示例")) }
        d.keys(.digit(1))
        #expect(
            d.effects.contains {
                if case .printNotice = $0 { return true }
                return false
            })
    }

    @Test func itemWithoutGuideSaysSo() throws {
        let c = try loadCatalog()
        let noGuide = try #require(c.items.first { c.guide(for: $0.code) == nil })
        var d = Driver(catalog: c)
        d.m = FlowMachine(catalog: c, settings: d.m.settings, now: d.t)
        _ = d.m.handle(.devices(readyDevices))
        d.keys(.digit(noGuide.level == .town ? 1 : 2))
        let cats = c.categories(level: noGuide.level)
        d.keys(.digit(cats.firstIndex(of: noGuide.category)! + 1))
        let items = c.items(level: noGuide.level, category: noGuide.category)
        let idx = items.firstIndex { $0.code == noGuide.code }!
        for _ in 0..<(idx / 6) { d.keys(.digit(9)) }
        d.keys(.digit(idx % 6 + 1))
        #expect(d.screen.contains("以窗口告知为准"))
    }

    mutating func applyThrough(_ d: inout Driver) throws {
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        #expect(d.effects.contains(.startCardReading))
        #expect(d.screen.contains("请放置身份证"))
        d.send(.cardRead(card))
        #expect(d.screen.contains("1101**********0016"))
        #expect(!d.screen.contains("110105200001010016"))
        #expect(d.screen.contains("测**"))
        d.keys(.enter)
        var guardCount = 0
        while d.m.route.is(PhotoScreen.self), guardCount < 10 {
            guardCount += 1
            d.keys(.enter)
            #expect(d.effects.last == .capturePhoto)
            d.send(.photoCaptured(Data([0xFF, 0xD8, 0xFF, 0xD9])))
            d.keys(.enter)
        }
        #expect(d.m.route == .phone)
        for ch in "13800000000" { d.keys(.digit(Int(String(ch))!)) }
        d.keys(.enter)
        #expect(d.m.route == .review)
        #expect(d.screen.contains("138****0000"))
        d.keys(.enter)
    }

    @Test func wholeApplicationProducesSealThenReceiptThenEvaluation() throws {
        var d = Driver(catalog: try loadCatalog())
        var s = self
        try s.applyThrough(&d)
        guard case .seal(let req) = d.effects.last else {
            Issue.record("no seal effect")
            return
        }
        #expect(req.applicant.idNumber == "110105200001010016")
        #expect(req.photos.count >= 1)
        let summary = SubmissionSummary(
            id: "x", caseNumber: "GH202611230001", itemCode: req.itemCode, itemName: req.itemName,
            sealedAt: d.t, state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)
        d.send(.sealed(summary))
        guard case .printReceipt(let doc, _) = d.effects.last else {
            Issue.record("no receipt after seal")
            return
        }
        #expect(doc.elements.contains(.qr("GH202611230001", size: 6)))
        #expect(doc.elements.contains(.keyValue("证件号码", "1101**********0016")))
        d.send(.receiptPrinted)
        #expect(d.screen.contains("GH202611230001"))
        #expect(d.screen.contains("提交成功"))
        d.keys(.enter)
        #expect(d.screen.contains("非常满意"))
        d.keys(.digit(4))  // 不满意 asks for a reason
        #expect(d.screen.contains("原因"))
        d.keys(.digit(1))
        #expect(
            d.effects.contains(.recordEvaluation(caseNumber: "GH202611230001", level: 2, reason: evaluationReasons[0])))
        d.keys(.enter)
        #expect(d.m.route == .home)
        #expect(d.effects.last == .wipeTerminal)
    }

    @Test func evaluationCanBeSkipped() throws {
        var d = Driver(catalog: try loadCatalog())
        var s = self
        try s.applyThrough(&d)
        d.send(
            .sealed(
                SubmissionSummary(
                    id: "x", caseNumber: "GH1", itemCode: "c", itemName: "n", sealedAt: d.t,
                    state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)))
        d.send(.receiptPrinted)
        d.keys(.enter, .digit(0))
        #expect(d.m.route == .thanks)
        #expect(
            !d.effects.contains {
                if case .recordEvaluation = $0 { return true }
                return false
            })
    }

    @Test func paperOutMidReceiptTellsTheResidentTheSubmissionIsSafe() throws {
        var d = Driver(catalog: try loadCatalog())
        var s = self
        try s.applyThrough(&d)
        d.send(
            .sealed(
                SubmissionSummary(
                    id: "x", caseNumber: "GH9", itemCode: "c", itemName: "n", sealedAt: d.t,
                    state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)))
        d.send(.receiptFailed("打印中纸张用完"))
        #expect(d.screen.contains("GH9"))
        #expect(d.screen.contains("已安全保存"))
        #expect(d.screen.contains("补打"))
    }

    @Test func afterPaperOutTheReceiptIsReprintedAtTheKioskOncePaperIsBack() throws {
        var d = Driver(catalog: try loadCatalog())
        var s = self
        try s.applyThrough(&d)
        d.send(
            .sealed(
                SubmissionSummary(
                    id: "sub-1", caseNumber: "GH10", itemCode: "c", itemName: "n", sealedAt: d.t,
                    state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)))
        d.send(.receiptFailed("打印中纸张用完"))
        let paperOut = [
            readyDevices[0], readyDevices[1],
            DeviceStatus(kind: .receiptPrinter, state: .userError, model: "sim", simulated: true, paper: .out),
        ]
        d.send(.devices(paperOut))
        #expect(d.screen.contains("加纸后按 2 重新打印"))
        #expect(d.screen.contains("缺纸"))
        let before = d.effects.count
        d.keys(.digit(2))  // still out of paper: refused, told where to go
        #expect(d.effects.count == before)
        #expect(d.screen.contains("窗口"))
        d.send(.devices(readyDevices))  // staff loaded paper
        #expect(d.screen.contains("现在可按 2 重新打印"))
        d.keys(.digit(2))
        guard case .printReceipt(let doc, let id) = d.effects.last else {
            Issue.record("no reprint")
            return
        }
        #expect(id == "sub-1")
        #expect(doc.elements.contains(.keyValue("办件编号", "GH10")))
        d.send(.receiptPrinted)
        #expect(d.m.route == .done(receiptOK: true, problem: nil))
    }

    @Test func printOnlyActionsAreRefusedWhileThePrinterIsOutOfPaper() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(
            .devices([
                readyDevices[0], readyDevices[1],
                DeviceStatus(kind: .receiptPrinter, state: .userError, model: "sim", simulated: true, paper: .out),
            ]))
        #expect(d.screen.contains("设备状态："))  // not "设备就绪" while the printer has no paper
        #expect(d.screen.contains("回执打印机 缺纸"))
        d.keys(.digit(1), .digit(1), .digit(1))  // a guide
        #expect(d.screen.contains("办事指南"))
        d.keys(.digit(1))  // print the one-time notice
        #expect(
            !d.effects.contains {
                if case .printNotice = $0 { return true }
                return false
            })
        #expect(d.screen.contains("暂不可用"))
        d.send(.devices(readyDevices))
        d.keys(.digit(1))
        #expect(
            d.effects.contains {
                if case .printNotice = $0 { return true }
                return false
            })
    }

    @Test func idleTimeoutWarnsThenExtendsThenWipes() throws {
        var d = Driver(catalog: try loadCatalog(), idle: 30)
        d.keys(.digit(1), .digit(1))
        d.advance(15)
        #expect(d.m.countdown == nil)
        d.advance(7)
        #expect(d.m.countdown == 8)
        #expect(d.screen.contains("8 秒后将返回首页"))
        d.keys(.digit(5))  // extends, does nothing else
        #expect(d.m.countdown == nil)
        if d.m.route.is(ItemsScreen.self) {} else { Issue.record("the extending key must not act") }
        d.advance(31)
        #expect(d.m.route == .home)
        #expect(d.effects.last == .wipeTerminal)
    }

    @Test func belowTheDiskFloorNoNewApplicationStarts() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(.storage(accepting: false))
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        #expect(!d.effects.contains(.startCardReading))
        #expect(d.screen.contains("存储空间不足"))
        d.send(.storage(accepting: true))
        d.keys(.digit(2))
        #expect(d.effects.contains(.startCardReading))
    }

    @Test func sessionWipeForgetsTheResident() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        d.send(.cardRead(card))
        d.keys(.escape)
        #expect(d.m.route == .home)
        #expect(d.m.session.identity == nil)
        #expect(d.m.session.phone.isEmpty)
    }

    @Test func progressQueryShowsOwnSubmissions() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(3))
        d.send(.cardRead(card))
        #expect(d.effects.contains(.loadProgress(idNumber: "110105200001010016")))
        d.send(
            .progressLoaded([
                SubmissionSummary(
                    id: "x", caseNumber: "GH202611230007", itemCode: "c", itemName: "临时救助",
                    sealedAt: d.t, state: .uploaded, upstreamState: .inReview, attempts: 0, lastError: nil)
            ]))
        #expect(d.screen.contains("GH202611230007"))
        #expect(d.screen.contains("审核中"))
        #expect(!d.screen.contains("110105200001010016"))
    }

    @Test func aPictureLandsOnlyInTheSlotItWasTakenFor() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))  // XY-T-001: two materials to photograph
        d.send(.cardRead(card))
        d.keys(.enter, .enter)  // photo 1: capture
        d.send(.photoCaptured(Data([1])))
        d.keys(.enter)  // to photo 2
        d.keys(.enter)  // capture photo 2 in flight
        d.keys(.digit(0))  // back is refused while capturing
        #expect(d.m.route == .photo(index: 1))
        d.send(.photoCaptured(Data([2])))
        #expect(d.m.session.photos == [Data([1]), Data([2])])
    }

    @Test func guidePagingStopsAtTheLastPage() throws {
        var d = Driver(catalog: try loadCatalog())
        // The first item whose guide needs several pages.
        let item = try #require(
            d.m.catalog.items.first { d.m.guideLines($0, width: 80).count > FlowMachine.guideLinesPerPage })
        let pages = d.m.guidePages(item, width: 80).count
        d.m.route = .guide(code: item.code, page: 0)
        for expected in 1..<pages {
            d.keys(.digit(9))
            #expect(d.m.route == .guide(code: item.code, page: expected), "9 turns to page \(expected + 1)")
            #expect(d.screen.contains("第 \(expected + 1)/\(pages) 页"))
        }
        d.keys(.digit(9), .digit(9))
        #expect(d.m.route == .guide(code: item.code, page: pages - 1), "stays on the last page")
        d.keys(.digit(7))
        #expect(d.m.route == .guide(code: item.code, page: pages - 2), "7 turns back")
        for _ in 0..<pages { d.keys(.digit(7)) }
        #expect(d.m.route == .guide(code: item.code, page: 0), "stays on the first page")
    }

    @Test func phoneNumberIsValidated() throws {
        #expect(FlowMachine.validPhone("13800000000"))
        #expect(!FlowMachine.validPhone("1380000000"))
        #expect(!FlowMachine.validPhone("12800000000"))
        #expect(!FlowMachine.validPhone("23800000000"))
    }

    /// Rules are box drawing (whole rows of ─ or ═, drawn one column wide by foot, tmux and xterm);
    /// no other row uses box drawing or other ambiguous-width glyphs.
    @Test func everyScreenFitsEightyColumnsWithoutAmbiguousGlyphs() throws {
        var d = Driver(catalog: try loadCatalog())
        var frames: [Frame] = [d.m.frame(width: 80, height: 24)]
        for k: Key in [.digit(1), .digit(2), .digit(1), .digit(9), .digit(1), .digit(9)] {
            d.keys(k)
            frames.append(d.m.frame(width: 80, height: 24))
        }
        d.keys(.digit(2))
        d.send(.cardRead(card))
        frames.append(d.m.frame(width: 80, height: 24))
        for f in frames {
            #expect(f.rows.count <= 24)
            #expect(f.rows.filter { $0.text == String(repeating: "─", count: 80) }.count == 2, "two rules")
            for row in f.rows where row.text != String(repeating: "─", count: 80) {
                #expect(DisplayWidth.of(row.text) <= 80, "row too wide: \(row.text)")
                for ch in row.text.unicodeScalars {
                    #expect(
                        !(0x2500...0x257F).contains(ch.value) && ch.value != 0x25CF, "ambiguous glyph in \(row.text)")
                }
            }
        }
    }
}

@Suite struct TerminalTests {
    @Test func keyDecoderHandlesKeypadArrowsAndLoneEscape() {
        var k = KeyDecoder()
        #expect(k.feed(Array("12\r".utf8)) == [.digit(1), .digit(2), .enter])
        #expect(k.feed([0x7F]) == [.backspace])
        #expect(k.feed([0x1B, 0x5B]) == [])  // incomplete sequence waits
        #expect(k.feed([0x41]) == [.up])
        #expect(k.feed([0x1B]) == [])
        #expect(k.flush() == [.escape])
        #expect(k.feed(Array("\u{1B}[6~".utf8)) == [.pageDown])
    }

    @Test func rendererRedrawsOnlyChangedRows() {
        var r = TerminalRenderer(width: 80, height: 24)
        let a = Frame(rows: [ScreenLine("第一行"), ScreenLine("second")])
        let first = r.render(a)
        #expect(first.contains("第一行"))
        let again = r.render(a)
        #expect(again.isEmpty)
        let b = Frame(rows: [ScreenLine("第一行"), ScreenLine("changed")])
        let diff = r.render(b)
        #expect(diff.contains("changed"))
        #expect(!diff.contains("第一行"))
    }
}

@Suite struct TouchTests {
    @Test func sgrMouseReportsDecodeToTaps() {
        var d = KeyDecoder()
        #expect(d.feed(Array("\u{1B}[<0;12;7M".utf8)) == [.tap(column: 12, row: 7)])
        #expect(d.feed(Array("\u{1B}[<0;12;7m".utf8)) == [], "release is not a second tap")
        #expect(d.feed(Array("\u{1B}[<64;3;3M".utf8)) == [], "wheel is not a tap")
        #expect(d.feed(Array("\u{1B}[<2;3;3M".utf8)) == [], "right button is not a tap")
    }

    @Test func tapsPickTheOptionUnderTheFinger() throws {
        // Targets come from the screens' typed options and hints, not from the drawn text.
        var m = FlowMachine(
            catalog: try loadCatalog(),
            settings: FlowSettings(stationName: "测试", simulatedCards: ["居民身份证 测试一", "居民身份证 测试二"]))
        m.route = .technician
        var f = m.frame(width: 80, height: 24)
        let hintRow = try #require(f.rows.firstIndex { $0.text.hasPrefix("1 状态") }) + 1
        #expect(f.key(atColumn: 1, row: hintRow) == .digit(1))
        #expect(f.key(atColumn: 10, row: hintRow) == .digit(2))
        #expect(f.key(atColumn: DisplayWidth.of("1 状态  2 自检  3 自检并打印测试回执  0"), row: hintRow) == .digit(0))
        #expect(f.key(atColumn: DisplayWidth.of("1 状态") + 1, row: hintRow) == nil, "between two hints")
        m.route = .placeCard(.apply)
        f = m.frame(width: 80, height: 24)
        let cardRow = try #require(f.rows.firstIndex { $0.text.contains("A  居民身份证 测试一") }) + 1
        #expect(f.key(atColumn: 3, row: cardRow) == nil, "left of every option")
        #expect(f.key(atColumn: 6, row: cardRow) == .char("a"))
        #expect(f.key(atColumn: 20, row: cardRow) == .char("a"), "on the label")
        #expect(f.key(atColumn: 6, row: cardRow + 1) == .char("b"))
        m.route = .identity
        m.session.identity = card
        f = m.frame(width: 80, height: 24)
        let idHints = try #require(f.rows.firstIndex { $0.text.hasPrefix("Enter ") }) + 1
        #expect(f.key(atColumn: 3, row: idHints) == .enter)
        #expect(f.key(atColumn: 1, row: 5) == nil, "the title is not an option")
        #expect(f.key(atColumn: 3, row: 0) == nil)
        #expect(f.key(atColumn: 3, row: 99) == nil)
    }

    @Test func everyHomeScreenOptionCanBeTapped() throws {
        let m = FlowMachine(
            catalog: try loadCatalog(),
            settings: FlowSettings(
                stationName: "测试", idleTimeoutSeconds: 90, warningSeconds: 20, pageSize: 6, simulatedCards: nil))
        let f = m.frame(width: 80, height: 24)
        var found: Set<Int> = []
        for (i, r) in f.rows.enumerated() {
            for col in 1...80 { if case .digit(let d)? = f.key(atColumn: col, row: i + 1), i > 2 { found.insert(d) } }
        }
        #expect(found == [1, 2, 3, 4, 5, 6], "\(found)")
    }
}
