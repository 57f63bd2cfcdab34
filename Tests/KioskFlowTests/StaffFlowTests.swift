import Foundation
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

let staffCard = IDCardIdentity(
    cardType: .resident, name: "测试五", sexCode: "1", birthDate: "19850505",
    idNumber: "110105198505050038", validFrom: .date("20200101"), validTo: .longTerm)
let windowStaff = StaffMember(
    staffId: "S001", displayName: "测**", role: .window, active: true, failures: 0, lockedUntil: nil)
let agentStaff = StaffMember(
    staffId: "A007", displayName: "测**", role: .agent, active: true, failures: 0, lockedUntil: nil)

let devicesWithA4 = readyDevices + [DeviceStatus(kind: .a4Printer, state: .online, model: "sim", simulated: true)]

extension Driver {
    /// Home → * → staff card → PIN 2468 → signed in as `member`.
    mutating func signIn(_ member: StaffMember) {
        keys(.char("*"))
        send(.cardRead(staffCard))
        send(.staffIdentified(member))
        keys(.digit(2), .digit(4), .digit(6), .digit(8), .enter)
        send(.staffPINChecked(staffId: member.staffId, .signedIn(member)))
    }
}

func certificate(_ id: String, printed: Int = 0, downloaded: Bool = true) -> CertificateRecord {
    CertificateRecord(
        submissionId: id, caseNumber: "GH20261105000\(id.suffix(1))", itemName: "老年人高龄补贴发放",
        contentType: "application/pdf",
        readyAt: nil, downloaded: downloaded, printedAt: nil, printCount: printed, printedBy: nil,
        collectedAt: nil, collectedBy: nil, collector: nil)
}

@Suite struct StaffFlowTests {
    @Test func signInChecksTheCardThenThePINAndNeverKeepsTheCard() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.char("*"))
        #expect(d.screen.contains("工作人员登录"))
        #expect(d.effects.contains(.startCardReading))
        d.send(.cardRead(staffCard))
        #expect(d.effects.contains(.identifyStaff(idNumber: staffCard.idNumber)))
        #expect(d.m.session.identity == nil)
        d.send(.staffIdentified(windowStaff))
        #expect(d.m.route == .staffPIN)
        d.keys(.digit(1), .digit(2), .digit(3), .digit(4))
        #expect(d.screen.contains("****_"))
        #expect(!d.screen.contains("1234"))
        d.keys(.enter)
        #expect(d.effects.last == .verifyStaffPIN(staffId: "S001", pin: "1234"))
        d.send(.staffPINChecked(staffId: "S001", .wrongPIN(attemptsLeft: 4)))
        #expect(d.screen.contains("还可以再试 4 次"))
        #expect(d.m.route == .staffPIN)
        d.keys(.digit(2), .digit(4), .digit(6), .digit(8), .enter)
        d.send(.staffPINChecked(staffId: "S001", .signedIn(windowStaff)))
        #expect(d.m.route == .staffMenu)
        #expect(d.screen.contains("证照出证"))
        #expect(d.screen.contains("工作台账"))
    }

    @Test func unknownCardAndLockoutAreRefusedWithWhatToDo() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.char("*"))
        d.send(.cardRead(card))
        d.send(.staffIdentified(nil))
        #expect(d.screen.contains("未登记为工作人员"))
        #expect(
            d.effects.contains(.audit(actor: "unknown", action: "staff.signin.unknown-card", subject: nil, detail: nil))
        )
        d.send(.cardRead(staffCard))
        d.send(.staffIdentified(windowStaff))
        d.keys(.digit(1), .digit(1), .digit(1), .digit(1), .enter)
        d.send(.staffPINChecked(staffId: "S001", .lockedOut(until: d.t.addingTimeInterval(900))))
        #expect(d.m.route == .home)
        #expect(d.m.staff == nil)
        #expect(d.screen.contains("已锁定 15 分钟"))
        // A locked member is refused at the card already.
        var locked = windowStaff
        locked.lockedUntil = d.t.addingTimeInterval(600)
        d.keys(.char("*"))
        d.send(.cardRead(staffCard))
        d.send(.staffIdentified(locked))
        #expect(d.m.route != .staffPIN)
        #expect(d.screen.contains("联系管理员解锁"))
    }

    @Test func staffNeverStaySignedInBehindAResidentAndLateAnswersAreDropped() throws {
        var d = Driver(catalog: try loadCatalog())
        d.signIn(windowStaff)
        d.keys(.digit(1), .digit(0))  // 帮办代办 started, then back: the staff menu, not home
        #expect(d.m.route == .staffMenu)
        #expect(d.m.staff != nil)
        d.keys(.digit(0))  // sign out
        #expect(d.m.staff == nil)
        // A PIN answer arriving after Esc is not applied to whoever is at the kiosk now.
        d.keys(.char("*"))
        d.send(.cardRead(staffCard))
        d.send(.staffIdentified(windowStaff))
        d.keys(.digit(2), .digit(4), .digit(6), .digit(8), .enter, .escape)
        #expect(d.m.route == .home)
        d.send(.staffPINChecked(staffId: "S001", .signedIn(windowStaff)))
        #expect(d.m.staff == nil)
        #expect(d.m.route == .home)
        d.keys(.char("*"))
        d.send(.cardRead(staffCard))
        d.send(.staffIdentified(agentStaff))
        d.send(.staffPINChecked(staffId: "S001", .signedIn(windowStaff)))
        #expect(d.m.staff == nil)  // someone else's answer
        // Staff results are not shown to the next resident.
        d.keys(.escape)
        d.send(.staffReport(lines: nil, message: "已登记领取：GH202611050001（本人领取）"))
        #expect(!d.screen.contains("已登记领取"))
        // Help is not offered while a submission is being saved.
        d.m.route = .submitting
        d.keys(.char("h"))
        #expect(d.m.route == .submitting)
        // Voice never reads staff screens (names, work numbers).
        d.m.settings.voicePrompts = true
        d.effects = []
        d.m.route = .home
        d.signIn(windowStaff)
        #expect(
            !d.effects.contains {
                if case .speak(let t, _) = $0 { return t.contains("测**") }
                return false
            })
    }

    @Test func staffSessionTimesOutLikeAResidentsAndIsAudited() throws {
        var d = Driver(catalog: try loadCatalog(), idle: 60)
        d.signIn(windowStaff)
        #expect(d.m.route == .staffMenu)
        d.advance(61)
        #expect(d.m.route == .home)
        #expect(d.m.staff == nil)
        #expect(d.effects.contains(.audit(actor: "S001", action: "staff.timeout", subject: nil, detail: nil)))
        #expect(d.effects.last == .wipeTerminal)
    }

    @Test func assistedSubmissionRecordsTheAgentAndTheReceiptSaysSo() throws {
        var d = Driver(catalog: try loadCatalog())
        d.signIn(agentStaff)
        d.keys(.digit(3))  // certificates: not for village agents
        #expect(d.screen.contains("代办员只能办理帮办代办"))
        d.keys(.digit(1))  // 帮办代办：镇级事项
        #expect(d.screen.contains("请选择类别"))
        d.keys(.digit(1), .digit(1), .digit(2))
        #expect(d.screen.contains("帮办代办"))
        d.send(.cardRead(card))
        d.keys(.enter)
        // The resident consents on screen (free of charge) before anything is photographed.
        #expect(d.screen.contains("本服务免费，代办不收费"))
        d.keys(.digit(1))
        #expect(d.effects.contains(.audit(actor: "A007", action: "assist.consent", subject: nil, detail: req0Code(d))))
        while d.m.route.is(PhotoScreen.self) {
            d.keys(.enter)
            d.send(.photoCaptured(Data([0xFF, 0xD8, 0xFF, 0xD9])))
            d.keys(.enter)
        }
        for ch in "13800000000" { d.keys(.digit(Int(String(ch))!)) }
        d.keys(.enter, .enter)
        guard case .seal(let req) = d.effects.last else {
            Issue.record("no seal")
            return
        }
        #expect(req.assistedBy == "A007")
        d.send(
            .sealed(
                SubmissionSummary(
                    id: "x", caseNumber: "GH202611050009", itemCode: req.itemCode, itemName: req.itemName,
                    sealedAt: d.t, state: .sealed, upstreamState: nil, attempts: 0, lastError: nil)))
        guard case .printReceipt(let doc, _) = d.effects.last else {
            Issue.record("no receipt")
            return
        }
        #expect(doc.elements.contains(.text("帮办代办：由代办员 测**（工号 A007）代为办理", bold: true)))
        #expect(doc.elements.contains(.text("本服务免费，代办不收费。", bold: true)))
        d.send(.receiptPrinted)
        d.keys(.digit(0))
        // The resident's data is gone; the agent is still signed in, back at the staff menu.
        #expect(d.m.route == .staffMenu)
        #expect(d.m.session.identity == nil)
        #expect(d.m.staff?.staffId == "A007")
        // A self-service submission afterwards is not marked assisted.
        d.keys(.digit(0))
        #expect(d.m.staff == nil)
        #expect(d.effects.contains(.audit(actor: "A007", action: "staff.signout", subject: nil, detail: nil)))
    }

    @Test func certificatesBatchPrintReprintAndCollection() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(.devices(devicesWithA4))
        d.signIn(windowStaff)
        d.keys(.digit(3))
        #expect(d.effects.last == .loadCertificates(idNumber: nil))
        d.send(
            .certificatesLoaded([
                certificate("s1"), certificate("s2", printed: 1), certificate("s3", downloaded: false),
            ]))
        #expect(d.screen.contains("待打印"))
        #expect(d.screen.contains("已打印，待领取"))
        #expect(d.screen.contains("待下载"))
        #expect(d.screen.contains("其中待打印 1 份"))
        d.keys(.digit(8))
        #expect(d.effects.last == .printCertificateBatch(by: "S001"))
        d.send(.staffReport(lines: nil, message: "已打印 1 份证照，请整理后等待领取"))
        d.send(
            .certificatesLoaded([
                certificate("s1", printed: 1), certificate("s2", printed: 1), certificate("s3", downloaded: false),
            ]))
        d.keys(.digit(2))  // s2
        #expect(d.screen.contains("重新打印"))
        d.keys(.digit(1))  // reprint after a jam
        #expect(d.effects.last == .printCertificate(submissionId: "s2", by: .staff("S001")))
        d.send(.certificatePrinted(submissionId: "s2", ok: true, message: "已打印：GH202611050002"))
        d.send(
            .certificatesLoaded([
                certificate("s1", printed: 1), certificate("s2", printed: 2), certificate("s3", downloaded: false),
            ]))
        d.keys(.digit(3))  // handed to a proxy: the relation, then the proxy's own card
        #expect(d.effects.contains(.afterService(.loadHandover(submissionId: "s2"))))
        d.send(.afterService(.handoverLoaded(maskedName: "测**")))
        #expect(d.screen.contains("申请人：测**"))
        d.keys(.digit(1))  // 配偶
        #expect(d.screen.contains("代领人关系：配偶"))
        #expect(d.effects.contains(.startCardReading))
        d.send(.cardRead(card))
        #expect(
            d.effects.last
                == .afterService(.handOver(submissionId: "s2", card: card, proxy: true, relation: "配偶", by: "S001")))
        d.send(.afterService(.handoverDone(ok: true, message: "已登记由配偶 测** 代领")))
        #expect(d.screen.contains("证照出证"))
        // 逐份登记领取: every printed one in turn, each through its own hand-over and card.
        d.send(
            .certificatesLoaded([
                certificate("s1", printed: 1), certificate("s4", printed: 1), certificate("s3", downloaded: false),
            ]))
        d.keys(.digit(6))
        #expect(d.screen.contains("逐份登记领取"))
        #expect(d.screen.contains("第 1/2 份：GH202611050001"))
        d.keys(.digit(3))  // skipped: it stays waiting
        #expect(d.screen.contains("第 2/2 份：GH202611050004"))
        let before = d.effects.count
        d.keys(.digit(2))  // a proxy: the relation, then the proxy's own card
        #expect(d.effects[before...].contains(.afterService(.loadHandover(submissionId: "s4"))))
        #expect(d.screen.contains("证照交付：他人代领"))
        d.send(.afterService(.handoverLoaded(maskedName: "测*")))
        d.send(.cardRead(card))  // no relation yet: nothing is recorded
        #expect(!d.effects[before...].contains { if case .afterService(.handOver) = $0 { true } else { false } })
        d.keys(.digit(5))  // 村代办员
        d.send(.cardRead(card))
        #expect(
            d.effects.last
                == .afterService(.handOver(submissionId: "s4", card: card, proxy: true, relation: "村代办员", by: "S001")))
        d.send(.afterService(.handoverDone(ok: true, message: "已登记由村代办员 测** 代领")))
        #expect(d.screen.contains("逐份登记领取"))  // back to the walk, not the list
        #expect(d.effects.suffix(2) == [.loadCertificates(idNumber: nil), .stopCardReading])
        d.send(.certificatesLoaded([certificate("s1", printed: 1), certificate("s3", downloaded: false)]))
        #expect(d.screen.contains("其余 1 份已跳过"))
        #expect(
            !d.effects.contains {
                if case .afterService(.handOver(let id, _, _, _, _)) = $0 { id == "s1" } else { false }
            })
        d.keys(.digit(0))
        #expect(d.screen.contains("证照出证"))
        d.keys(.digit(6))  // a new walk starts with the skipped one
        #expect(d.screen.contains("第 1/1 份：GH202611050001"))
        d.keys(.digit(1), .digit(0))  // the applicant's hand-over, left: back to the walk, nothing recorded
        #expect(d.screen.contains("第 1/1 份：GH202611050001"))
        d.keys(.digit(0))
        // A certificate not yet downloaded cannot be printed, with the reason in words.
        d.send(.certificatesLoaded([certificate("s3", downloaded: false)]))
        d.keys(.digit(1), .digit(1))
        #expect(d.screen.contains("尚未下载"))
    }

    /// Staff screens use staff wording: every screen reached from the staff menu, with every device
    /// in trouble, each refusal and the idle countdown, tells staff what to do and never addresses a
    /// resident (请到窗口…, 请联系工作人员…). The out-of-service notices are shown as what residents
    /// will read on the home screen, so they are left out of the check on that one screen.
    @Test func everyStaffScreenSpeaksToStaff() throws {
        var d = Driver(catalog: try loadCatalog(), idle: 60)
        d.signIn(windowStaff)
        d.send(
            .devices([
                DeviceStatus(kind: .idCardReader, state: .powerOff, model: "sim", simulated: true),
                DeviceStatus(kind: .documentCamera, state: .online, model: "sim", simulated: true),
                DeviceStatus(kind: .receiptPrinter, state: .userError, model: "sim", simulated: true, paper: .out),
                DeviceStatus(kind: .a4Printer, state: .offline, model: "sim", simulated: true, paper: .jammed),
            ]))
        var walked: [String] = []
        func check(_ step: String, _ d: Driver, expect what: String? = nil) {
            var text = d.screen
            if d.m.route == .staffService {
                for n in outOfServiceNotices { text = text.replacingOccurrences(of: n, with: "") }
            }
            #expect(d.m.route.audience == .staff, "\(step): not a staff screen")
            for p in StaffWording.residentPhrases { #expect(!text.contains(p), "\(step) says \(p):\n\(text)") }
            if let what { #expect(text.contains(what), "\(step) lacks \(what):\n\(text)") }
            walked.append(step)
        }
        check("menu", d, expect: "工作人员菜单")
        d.keys(.digit(3))
        d.send(
            .certificatesLoaded([
                certificate("s1", printed: 1), certificate("s2"), certificate("s3", downloaded: false),
            ]))
        check("certificates", d, expect: "证照出证")
        d.keys(.digit(8))
        check("batch print, A4 jammed", d, expect: "A4打印机暂不可用（卡纸）：请检查打印机")
        d.keys(.digit(6))
        check("逐份登记领取", d, expect: "第 1/1 份")
        d.keys(.digit(1))
        d.send(.afterService(.handoverLoaded(maskedName: "测**")))
        check("hand-over, reader unplugged", d, expect: "请检查设备")
        d.send(.afterService(.handoverDone(ok: false, message: HandoverError.notTheApplicant.description)))
        check("hand-over refused", d, expect: "证件与申请人不符")
        d.keys(.digit(0), .digit(2))
        check("proxy relation", d, expect: "代领人与申请人的关系")
        d.keys(.digit(6))
        check("proxy card", d, expect: "请代领人将本人身份证放在读卡区")
        d.keys(.digit(0), .digit(0), .digit(3))
        check("walk skipped", d, expect: "已跳过")
        d.keys(.digit(0), .digit(2))
        check("certificate", d, expect: "办件编号")
        d.keys(.digit(1))
        check("print, A4 jammed", d, expect: "请检查打印机")
        d.keys(.digit(2))
        check("hand-over before printing", d, expect: "请先按 1 打印")
        d.keys(.digit(0), .digit(3), .digit(1))
        check("not downloaded", d, expect: "尚未下载")
        d.keys(.digit(0), .digit(0))
        d.keys(.digit(4))
        d.send(.staffReport(lines: ["一、申请提交：合计 0 件"], message: nil))
        check("ledger", d, expect: "工作台账")
        d.keys(.digit(3))
        check("ledger on the receipt printer, no paper", d, expect: "请加纸")
        d.keys(.digit(4))
        check("ledger on A4, jammed", d, expect: "请检查打印机")
        d.keys(.digit(0), .digit(5))
        check("out of service", d, expect: "暂停服务并在首页显示")
        d.keys(.digit(0), .digit(7))
        d.send(.afterService(.helpCallsLoaded([])))
        check("help calls", d, expect: "居民求助记录")
        d.keys(.digit(0), .digit(8))
        check("reprint", d, expect: "补打回执")
        d.keys(.digit(1), .digit(2), .enter)
        check("reprint, too short", d, expect: "后 4 位")
        d.keys(.digit(3), .digit(4), .enter)
        check("reprint, no paper", d, expect: "请加纸")
        d.keys(.escape)
        d.advance(55)
        check("countdown", d, expect: "秒后将退出登录")
        #expect(!d.screen.contains("清除您的信息"))
        #expect(walked.count == 22)  // every step above was checked
    }

    @Test func selfPickupPrintsTheResidentsOwnCertificate() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(4))
        #expect(d.screen.contains("证照打印机暂不可用"))  // no A4 printer: told to go to the window
        d.send(.devices(devicesWithA4))
        d.keys(.digit(4))
        #expect(d.screen.contains("请放置身份证"))
        d.send(.cardRead(card))
        #expect(d.effects.last == .loadCertificates(idNumber: card.idNumber))
        d.send(.certificatesLoaded([certificate("s1"), certificate("s2", printed: 1)]))
        #expect(d.screen.contains("GH202611050001"))
        #expect(d.screen.contains("已由工作人员打印，请到窗口领取：GH202611050002"))  // printed once is enough
        #expect(!d.screen.contains("2  老年人"))
        d.keys(.digit(1))
        #expect(d.effects.last == .printCertificate(submissionId: "s1", by: .resident))
        d.send(.certificatePrinted(submissionId: "s1", ok: false, message: "A4打印机卡纸，未能打印。请联系工作人员处理后补打"))
        #expect(d.screen.contains("请联系工作人员处理后补打"))
        d.keys(.digit(1))
        d.send(.certificatePrinted(submissionId: "s1", ok: true, message: "证照已打印，请在A4打印机出纸口取走"))
        #expect(d.screen.contains("没有可以打印的证照"))
        d.keys(.digit(0))
        #expect(d.m.route == .home)
    }

    @Test func aLongLedgerPagesOnTheStaffScreen() throws {
        var d = Driver(catalog: try loadCatalog())
        d.signIn(windowStaff)
        d.keys(.digit(4), .digit(2))
        #expect(d.effects.last == .ledger(month: true, print: nil, by: "S001"))
        d.send(.staffReport(lines: (1...30).map { "事项\($0)：已受理 \($0)" }, message: nil))
        #expect(d.screen.contains("事项1："))
        #expect(d.screen.contains("第 1/3 页"))
        #expect(!d.screen.contains("事项15："))
        d.keys(.digit(9), .digit(9))
        #expect(d.screen.contains("事项30："))
        #expect(d.screen.contains("第 3/3 页"))
        d.keys(.digit(9), .digit(7))
        #expect(d.screen.contains("第 2/3 页"))
    }

    @Test func outOfServiceShowsTheNoticeAndOnlyStaffGetIn() throws {
        var d = Driver(catalog: try loadCatalog())
        d.signIn(windowStaff)
        d.keys(.digit(5), .digit(1))
        #expect(d.effects.last == .setOutOfService(notice: outOfServiceNotices[0], by: "S001"))
        d.keys(.digit(0), .digit(0))
        #expect(d.m.route == .home)
        #expect(d.screen.contains("暂停服务"))
        #expect(d.screen.contains(outOfServiceNotices[0]))
        d.keys(.digit(1))
        #expect(d.m.route == .home)  // residents cannot start anything
        // kioskctl service on → the runtime posts the new state.
        d.send(.serviceState(notice: nil))
        d.keys(.digit(1))
        #expect(d.screen.contains("请选择类别"))
    }
}

/// The item code of the application in progress (the consent's audit detail).
func req0Code(_ d: Driver) -> String? { d.m.session.item?.code }
