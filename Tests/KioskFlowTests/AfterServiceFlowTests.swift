import Foundation
import KioskCore
import KioskProtocols
import Testing

@testable import KioskFlow

/// Issue 24 in the pure flow: words that mean what happens (8) and no key that loses work (7).
@Suite struct AfterServiceFlowTests {
    /// Home → first town category → first item → 2 → card → photos → phone → review.
    func toReview(_ d: inout Driver) {
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        d.send(.cardRead(card))
        d.keys(.enter)
        var n = 0
        while d.m.route.is(PhotoScreen.self), n < 10 {
            n += 1
            d.keys(.enter)
            d.send(.photoCaptured(Data([0xFF, 0xD8, 0xFF, 0xD9])))
            d.keys(.enter)
        }
        for ch in "13800000000" { d.keys(.digit(Int(String(ch))!)) }
        d.keys(.enter)
    }

    func summary(_ state: OutboxState = .sealed, upstream: UpstreamState? = nil) -> SubmissionSummary {
        SubmissionSummary(
            id: "s1", caseNumber: "GH202612070001", itemCode: "XY-T-001", itemName: "老年人高龄补贴发放",
            sealedAt: Date(timeIntervalSince1970: 1_795_000_000), state: state, upstreamState: upstream, attempts: 0,
            lastError: nil)
    }

    // MARK: 8 words

    @Test func theReceiptIsASubmissionReceiptUntilTheUpstreamAccepts() throws {
        var d = Driver(catalog: try loadCatalog())
        toReview(&d)
        #expect(d.screen.contains("提交回执"))
        #expect(!d.screen.contains("受理回执"))
        d.keys(.enter)
        d.send(.sealed(summary()))
        guard case .printReceipt(let doc, _) = d.effects.last else {
            Issue.record("no receipt")
            return
        }
        #expect(doc.elements.contains(.title("提交回执")))
        #expect(!doc.elements.contains(.title("受理回执")))
        // Received upstream is not accepted; accepted is.
        #expect(d.m.receiptDocument(for: summary(.uploaded, upstream: .received)).elements.contains(.title("提交回执")))
        #expect(d.m.receiptDocument(for: summary(.uploaded, upstream: .accepted)).elements.contains(.title("受理回执")))
        d.send(.receiptPrinted)
        #expect(d.screen.contains("提交回执已打印"))
    }

    @Test func statesFollowTheUpstreamsMeaning() {
        #expect(summary(.uploaded, upstream: .received).residentState == "已接收，等待受理")
        #expect(summary(.uploaded, upstream: .accepted).residentState == "已受理")
        #expect(summary(.uploaded, upstream: nil).residentState == "已上传")
        #expect(UpstreamState.received.chinese != UpstreamState.accepted.chinese)
        #expect(Ledger.stateLabel("received") == "已接收")
        #expect(Ledger.stateLabel("accepted") == "已受理")
    }

    @Test func consultationItemsDoNotOfferAnApplication() throws {
        let c = try loadCatalog()
        let consult = try #require(c.item(code: "XY-T-022"))
        #expect(consult.isConsultation)
        #expect(!(try #require(c.item(code: "XY-T-001"))).isConsultation)
        var d = Driver(catalog: c)
        d.m.apply(.go(.guide(code: consult.code, page: 0)))
        #expect(d.screen.contains("咨询服务"))
        #expect(!d.screen.contains("我要申办"))
        d.keys(.digit(2))
        #expect(d.m.route.is(GuideScreen.self))
        #expect(!d.effects.contains(.startCardReading))
        #expect(d.screen.contains("无需申办"))
    }

    @Test func twoItemsWithTheSameNameAreToldApart() throws {
        let c = try loadCatalog()
        let a = try #require(c.item(code: "XY-T-002"))
        let b = try #require(c.item(code: "XY-T-010"))
        #expect(a.name == b.name && a.category == b.category)
        #expect(c.distinctName(a) != c.distinctName(b))
        #expect(c.distinctName(try #require(c.item(code: "XY-T-001"))) == "老年人高龄补贴发放")
        var d = Driver(catalog: c)
        d.m.apply(.go(.items(a.level, category: a.category, page: 0)))
        var all = d.screen
        for _ in 0..<3 {
            d.keys(.digit(9))
            all += d.screen
        }
        #expect(all.contains("临时救助（行政给付）"))
        #expect(all.contains("临时救助（公共服务）"))
    }

    // MARK: 7 confirmations, device trouble, out of service

    @Test func leavingTheReviewAsksFirstAndContinuingKeepsEverything() throws {
        var d = Driver(catalog: try loadCatalog())
        toReview(&d)
        #expect(d.m.route == .review)
        d.keys(.digit(0))
        #expect(d.m.route.is(ConfirmLeaveScreen.self))
        #expect(d.screen.contains("放弃本次申请"))
        #expect(d.screen.contains("已输入的手机号码"))
        d.keys(.digit(0))
        #expect(d.m.route == .review)
        #expect(d.screen.contains("138****0000"))
        d.keys(.escape, .digit(1))
        #expect(d.m.route == .home)
        #expect(d.m.session.phone.isEmpty)
        #expect(d.effects.last == .wipeTerminal)
    }

    @Test func aFailedRetakeKeepsThePhotoAlreadyTaken() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        d.send(.cardRead(card))
        d.keys(.enter, .enter)
        d.send(.photoCaptured(Data([0xFF, 0xD8, 0xFF, 0xD9])))
        d.keys(.digit(1))  // retake
        d.send(.photoFailed("高拍仪无响应"))
        #expect(d.m.session.photos[0] != nil)
        #expect(d.screen.contains("状态：已拍摄"))
        // Back to the card screen and 0 there: asks, because a photo would be lost.
        d.keys(.digit(0))
        #expect(d.m.route == .identity)
        d.keys(.digit(0))
        #expect(d.m.route.is(ConfirmLeaveScreen.self))
    }

    @Test func aReaderUnpluggedOnTheCardScreenIsAnnouncedThere() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(3))
        #expect(d.m.route == .placeCard(.progress))
        #expect(!d.screen.contains("身份证阅读器当前"))
        d.send(
            .devices([
                DeviceStatus(kind: .idCardReader, state: .noDevice, model: "sim", simulated: true),
                readyDevices[1], readyDevices[2],
            ]))
        #expect(d.screen.contains("身份证阅读器当前"))
        #expect(d.screen.contains("请联系工作人员"))
        d.send(.devices(readyDevices))
        #expect(!d.screen.contains("身份证阅读器当前"))
    }

    @Test func printerTroubleIsShownBeforeAnApplicationStarts() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(
            .devices([
                readyDevices[0], readyDevices[1],
                DeviceStatus(kind: .receiptPrinter, state: .userError, model: "sim", simulated: true, paper: .out),
            ]))
        d.keys(.digit(1), .digit(1), .digit(1))
        #expect(d.screen.contains("回执打印机当前"))
        d.keys(.digit(2))
        #expect(d.m.route.is(PrinterWarningScreen.self))
        #expect(d.screen.contains("缺纸"))
        #expect(!d.effects.contains(.startCardReading))
        d.keys(.digit(1))
        #expect(d.m.route == .placeCard(.apply))
        #expect(d.effects.contains(.startCardReading))
    }

    @Test func outOfServiceExplainsEveryRefusedChoice() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(.serviceState(notice: "设备维护中，暂停服务，请到窗口办理。"))
        for k in 1...6 {
            d.keys(.digit(k))
            #expect(d.m.route == .home)
            #expect(d.screen.contains("本机暂停服务，不能办理此项"))
        }
    }

    // MARK: 4 help

    @Test func helpSaysStaffWereToldOnlyAfterTheUpstreamAcknowledged() throws {
        var d = Driver(catalog: try loadCatalog())
        d.m.settings.helpPhone = "0355-1234567"
        d.m.settings.complaintPhone = "12345"
        d.m.settings.unresolvedChannel = "办不成事反映窗口"
        d.keys(.char("H"))
        #expect(d.effects.contains(.callStaff(screen: "home")))
        #expect(d.screen.contains("正在通知工作人员"))
        #expect(!d.screen.contains("已通知工作人员"))
        #expect(d.screen.contains("投诉电话：12345"))
        #expect(d.screen.contains("办不成事反映：办不成事反映窗口"))
        d.send(.afterService(.helpDelivered(false)))
        #expect(d.screen.contains("暂时未能通知到工作人员"))
        #expect(d.screen.contains("0355-1234567"))
        d.keys(.digit(0), .char("H"))
        d.send(.afterService(.helpDelivered(true)))
        #expect(d.screen.contains("已通知工作人员"))
    }

    // MARK: 1 补正, 2 timeline

    func detail(_ upstream: UpstreamState?, events: [CaseEvent], note: String? = nil) -> CaseDetail {
        CaseDetail(
            summary: summary(.uploaded, upstream: upstream), events: events,
            uploadedAt: Date(timeIntervalSince1970: 1_795_000_100), certificate: nil, supplementOf: nil)
    }

    @Test func aCaseShowsItsTimelineTimeLimitNextStepAndNote() throws {
        var d = Driver(catalog: try loadCatalog())
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        let events = [
            CaseEvent(state: "sent", at: t0 + 100, note: nil),
            CaseEvent(state: "received", at: t0 + 100, note: nil),
            CaseEvent(state: "accepted", at: t0 + 3600, note: nil),
            CaseEvent(state: "needMaterials", at: t0 + 7200, note: "缺少户口簿本人页复印件"),
        ]
        let c = detail(.needMaterials, events: events)
        d.send(.progressLoaded([c.summary]))
        d.m.session.identity = card
        d.m.apply(.go(.progressList))
        d.keys(.digit(1))
        #expect(d.effects.contains(.afterService(.loadCase(submissionId: "s1"))))
        #expect(d.m.route == .caseDetail("s1"))
        d.send(.afterService(.caseLoaded(c)))
        let s = d.screen
        for step in ["已提交", "已发送", "平台已接收", "已受理", "需补正", "已办结（待）"] { #expect(s.contains(step), "\(step)") }
        #expect(s.contains("承诺时限：【示例】10个工作日"))
        #expect(s.contains("应于"))
        #expect(s.contains("缺少户口簿本人页复印件"))
        #expect(s.contains("下一步"))
        #expect(s.contains("2 拍照补正"))
        // The 补正一次性告知 prints with the note.
        d.keys(.digit(1))
        guard case .printNotice(let doc) = d.effects.last else {
            Issue.record("no notice printed")
            return
        }
        #expect(doc.elements.contains(.title("补正材料一次性告知")))
        #expect(doc.elements.contains(.text("缺少户口簿本人页复印件")))
        d.send(.noticePrinted)
        // Photograph the missing materials: a 补正 of the same case, no phone asked.
        d.keys(.digit(2))
        #expect(d.m.route == .photo(index: 0))
        #expect(d.screen.contains("补正材料，对应办件：GH202612070001"))
        d.keys(.enter)
        d.send(.photoCaptured(Data([0xFF, 0xD8, 0xFF, 0xD9])))
        d.keys(.enter, .digit(9))
        #expect(d.m.route == .review)
        d.keys(.enter)
        guard case .seal(let req) = d.effects.last else {
            Issue.record("no seal")
            return
        }
        #expect(req.supplementOf == "s1")
        #expect(req.photoNames == ["supplement-1.jpg"])
        d.send(.sealed(summary()))
        guard case .printReceipt(let receipt, _) = d.effects.last else {
            Issue.record("no receipt")
            return
        }
        #expect(receipt.elements.contains(.title("补正材料提交回执")))
        #expect(receipt.elements.contains(.keyValue("补正对应办件", "GH202612070001")))
    }

    @Test func dueDatesCountWorkingDaysFromAcceptance() {
        #expect(CaseDeadline.workingDays("【示例】5个工作日") == 5)
        #expect(CaseDeadline.workingDays("即办件") == 0)
        #expect(CaseDeadline.workingDays("以窗口告知为准") == nil)
        let tz = TimeZone(identifier: "Asia/Shanghai")!
        // Friday 2026-12-04 10:00 (+08:00) + 1 working day → Monday 2026-12-07 end of day.
        let friday = ISO8601DateFormatter().date(from: "2026-12-04T02:00:00Z")!
        let due = CaseDeadline.addWorkingDays(1, to: friday, timeZone: tz)
        let f = DateFormatter()
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd HH:mm"
        #expect(f.string(from: due) == "2026-12-07 23:59")
    }

    @Test func pickupAndCameraTroubleAndRatingsOfPickup() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(
            .devices(
                readyDevices + [DeviceStatus(kind: .a4Printer, state: .online, model: "sim", simulated: true)]))
        d.keys(.digit(4))
        #expect(d.m.route == .placeCard(.pickup))
        d.send(.cardRead(card))
        d.send(.certificatesLoaded([]))
        // The A4 printer fails while the pick-up screen is up: said there.
        d.send(
            .devices(
                readyDevices + [DeviceStatus(kind: .a4Printer, state: .noDevice, model: "sim", simulated: true)]))
        #expect(d.screen.contains("证照打印机当前"))
        // A jam (connected, but the paper stuck) is trouble too, said in words.
        d.send(
            .devices(
                readyDevices + [
                    DeviceStatus(kind: .a4Printer, state: .userError, model: "sim", simulated: true, paper: .jammed)
                ]))
        #expect(d.screen.contains("证照打印机当前：卡纸"))
        // Rating the pick-up is offered, never forced.
        d.keys(.digit(8))
        #expect(d.m.route == .evaluate)
        d.keys(.digit(2))
        #expect(
            d.effects.contains(
                .afterService(
                    .recordEvaluation(service: "pickup", caseNumber: nil, itemCode: nil, level: 4, reason: nil))))
    }

    @Test func deviceTroubleOnScreensStaffUseIsInStaffWording() throws {
        var d = Driver(catalog: try loadCatalog())
        d.m.staff = StaffMember(staffId: "S001", displayName: "测**", role: .window)
        d.m.assisting = true
        d.m.apply(.go(.placeCard(.apply)))
        d.send(
            .devices([
                DeviceStatus(kind: .idCardReader, state: .powerOff, model: "sim", simulated: true),
                readyDevices[1], readyDevices[2],
            ]))
        #expect(d.screen.contains("请检查设备"))
        #expect(!d.screen.contains("请联系工作人员处理"))
    }
}
