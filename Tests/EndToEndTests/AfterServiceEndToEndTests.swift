import Foundation
import KioskCore
import KioskProtocols
import KioskTestSupport
import Testing

/// Issue 24 journeys through the real binaries (kioskd in tmux, the reference intake).
@Suite(.serialized) struct AfterServiceEndToEndTests {
    /// Home → 3 → card A → the progress list; returns the screen once `text` shows (re-querying
    /// until then: the kiosk pulls states every statusSyncSeconds).
    func progress(_ t: KioskTerminal, until text: String, seconds: Double = 40) throws -> String {
        var shown = ""
        try waitUntil(seconds, "progress to show \(text)", every: 2) {
            try t.waitFor("首页")
            try t.send("3")
            try t.waitFor("请放置身份证")
            try t.send("a")
            try t.waitFor("进度查询")
            try waitUntil(10, "the list") { !(try t.screen().contains("正在查询")) }
            shown = try t.screen()
            try t.send("0")
            return shown.contains(text)
        }
        return shown
    }

    /// Point 8: a 提交回执 at the kiosk; 已接收 while the upstream holds it, 已受理 once it accepts.
    @Test func wordsFollowWhatTheUpstreamDid() throws {
        let st = try Station(name: "words")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        let (caseNumber, _) = try applyOnce(t)
        let receipt = st.receipts().first ?? ""
        #expect(receipt.contains("提交回执"))
        #expect(!receipt.contains("受理回执"))
        #expect(try t.screen().contains("提交回执已打印"))
        try t.send("0")
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        let received = try progress(t, until: "已接收")
        #expect(received.contains(caseNumber))
        #expect(!received.contains("已受理"))
        try st.intake.setState(submissionId: try st.intake.submissionId(caseNumber: caseNumber), state: "accepted")
        _ = try progress(t, until: "已受理")
    }

    /// Point 8: a consultation item offers no application; same-named items are told apart.
    @Test func consultationItemsAndTwinNames() throws {
        let st = try Station(name: "consult")
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        let catalog = try Catalog.load(
            catalogFile: packageRoot.appendingPathComponent("kiosk-config/catalog.json").path,
            guidesDirectory: packageRoot.appendingPathComponent("kiosk-config/guides").path)
        func open(_ code: String) throws {
            let item = try #require(catalog.item(code: code))
            try t.waitFor("首页")
            try t.send("1")
            try t.waitFor("请选择类别")
            let cats = catalog.categories(level: .town)
            try t.send(String(try #require(cats.firstIndex(of: item.category)) + 1))
            try t.waitFor("第 1/")
            let idx = try #require(catalog.items(level: .town, category: item.category).firstIndex { $0.code == code })
            for p in 0..<(idx / 6) {
                try t.send("9")
                try t.waitFor("第 \(p + 2)/")
            }
            try t.send(String(idx % 6 + 1))
            try t.waitFor("办事指南")
        }
        try open("XY-T-022")
        #expect(try t.screen().contains("咨询服务"))
        #expect(!(try t.screen().contains("我要申办")))
        try t.send("2")
        try t.waitFor("无需申办")
        #expect(!(try t.screen().contains("请放置身份证")))
        try t.send("0")
        try t.send("0")
        try t.send("0")
        try open("XY-T-002")
        #expect(try t.screen().contains("临时救助（行政给付）"))
    }

    /// Point 7: leaving the review asks first; device trouble shows on the screen in use; out of
    /// service explains refused choices.
    @Test func noKeyLosesWorkAndDeviceTroubleIsShown() throws {
        let st = try Station(name: "confirm")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        // The reader unplugged while the card screen is up.
        try t.send("3")
        try t.waitFor("请放置身份证")
        #expect(try st.kioskctl("simulate", "reader", "unplug").status == 0)
        try t.waitFor("身份证阅读器当前")
        #expect(try st.kioskctl("simulate", "reader", "plug").status == 0)
        try waitUntil(15, "the reader back") { !(try t.screen().contains("身份证阅读器当前")) }
        try t.send("0")
        // The receipt printer out of paper: said on the guide and before the application starts.
        #expect(try st.kioskctl("simulate", "printer", "paperOut").status == 0)
        try t.waitFor("首页")
        try t.send("1")
        try t.waitFor("请选择类别")
        try t.send("1")
        try t.waitFor("第 1/")
        try t.send("1")
        try t.waitFor("回执打印机当前")
        try t.send("2")
        try t.waitFor("回执打印机暂不可用")
        try t.send("0")
        #expect(try st.kioskctl("simulate", "printer", "paperIn").status == 0)
        try waitUntil(15, "paper back") { !(try t.screen().contains("回执打印机当前")) }
        try t.send("0", "0", "0")
        // Review → 0 asks; 0 continues with everything kept.
        try applyUntilReview(t)
        try t.send("0")
        try t.waitFor("放弃本次申请")
        try t.send("0")
        try t.waitFor("请确认申请信息")
        #expect(try t.screen().contains("138****0000"))
        try t.send("0")
        try t.waitFor("放弃本次申请")
        try t.send("1")
        try t.waitFor("首页")
        #expect(st.intake.count() == 0)
        // Out of service: a refused choice says why.
        #expect(try st.kioskctl("service", "off", "--notice", "设备维护中，暂停服务，请到窗口办理。").status == 0)
        try t.waitFor("暂停服务")
        try t.send("1")
        try t.waitFor("本机暂停服务，不能办理此项")
    }

    /// Point 4: a help call reaches the intake before the screen says staff were told; offline it
    /// says where to go and the call goes later; staff list and answer calls, and the answer goes upstream.
    @Test func helpReachesAPerson() throws {
        let st = try Station(
            name: "help",
            extraYAML: """
                help:
                  location: 一楼综合窗口
                  phone: 0355-1234567
                  complaintPhone: 12345
                  unresolved: 办不成事反映窗口（一楼东侧）
                """)
        try st.addStaff(id: "S001", name: "测试五", role: "window", idNumber: "110105198505050038", pin: "2468")
        // Upstream away: the screen does not claim staff were told.
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try t.send("H")
        try t.waitFor("正在通知工作人员")
        try t.waitFor("暂时未能通知到工作人员", seconds: 20)
        var s = try t.screen()
        #expect(s.contains("0355-1234567"))
        #expect(s.contains("一楼综合窗口"))
        #expect(s.contains("投诉电话：12345"))
        #expect(s.contains("办不成事"))
        #expect(!s.contains("已通知工作人员"))
        try t.send("0")
        // The upstream is back: the queued call goes; a new call is acknowledged at once.
        try st.intake.start()
        defer { st.intake.stop() }
        try waitUntil(30, "the queued help call upstream") { (try st.intake.helpCalls()).count == 1 }
        try t.waitFor("首页")
        try t.send("H")
        try t.waitFor("已通知工作人员", seconds: 20)
        s = try t.screen()
        #expect(!s.contains("暂时未能通知到工作人员"))
        #expect(try st.intake.helpCalls().count == 2)
        try t.send("0")
        // Staff: the list, then answer; the acknowledgement reaches the intake.
        try t.waitFor("首页")
        try t.send("*")
        try t.waitFor("工作人员登录")
        try t.send("e")
        try t.waitFor("请输入工作人员密码")
        try t.send("2468", "Enter")
        try t.waitFor("工作人员菜单")
        try t.send("7")
        try t.waitFor("居民求助记录")
        try t.waitFor("已送达平台")
        #expect(try t.screen().contains("未处理"))
        try t.send("1")
        try t.waitFor("已处理（S001）")
        try waitUntil(30, "the acknowledgement upstream") {
            try st.intake.helpCalls().allSatisfy { $0["acknowledgedBy"] as? String == "S001" }
        }
        #expect(try st.intake.helpCalls().count == 2)
    }

    /// Points 1 and 2: the upstream asks for 补正 with a note; the resident sees the timeline, the
    /// note and the next step, prints the 补正一次性告知, photographs the missing page at the kiosk;
    /// it reaches the intake as a supplement of the same case, which goes back to review.
    @Test func supplementReachesTheResidentAndGoesBackUpstream() throws {
        let st = try Station(name: "supplement")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        let (caseNumber, _) = try applyOnce(t)
        try t.send("0")
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        let sid = try st.intake.submissionId(caseNumber: caseNumber)
        try st.intake.setState(submissionId: sid, state: "accepted")
        try st.intake.setState(submissionId: sid, state: "needMaterials", note: "缺少户口簿本人页复印件，请补交")
        _ = try progress(t, until: "需补正材料")
        try t.waitFor("首页")
        try t.send("3")
        try t.waitFor("请放置身份证")
        try t.send("a")
        try t.waitFor(caseNumber)
        try t.send("1")
        try t.waitFor("缺少户口簿本人页复印件")
        var s = try t.screen()
        #expect(s.contains("已提交"))
        #expect(s.contains("已受理"))
        #expect(s.contains("需补正"))
        #expect(s.contains("下一步"))
        #expect(s.contains("承诺时限"))
        try t.send("1")
        try t.waitFor("一次性告知单已打印", seconds: 20)
        #expect(st.receipts().last?.contains("补正材料一次性告知") == true)
        #expect(st.receipts().last?.contains("缺少户口簿本人页复印件") == true)
        try t.send("2")
        try t.waitFor("补正材料，对应办件")
        try t.send("Enter")
        try t.waitFor("状态：已拍摄")
        try t.send("Enter")
        try t.waitFor("第 2/")
        try t.send("9")
        try t.waitFor("请确认申请信息")
        s = try t.screen()
        #expect(s.contains(caseNumber))
        try t.send("Enter")
        try t.waitFor("提交成功")
        #expect(st.receipts().last?.contains("补正材料提交回执") == true)
        try waitUntil(30, "the supplement upstream") { st.intake.count() == 2 }
        try waitUntil(10, "the case back in review") {
            try st.intake.list().first { $0["caseNumber"] as? String == caseNumber }?["state"] as? String == "inReview"
        }
    }

    /// Point 5: a progress query is rated (voluntarily) as 不满意 with a reason; the intake lists
    /// the 差评; 核实 / 整改 / 回访 come back to the kiosk's ledger with the satisfaction rate and
    /// the open 差评 count.
    @Test func poorRatingsOfEveryServiceAreFollowedUp() throws {
        let st = try Station(name: "rating")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        // A guide rated 非常满意, then a progress query rated 不满意 (reason 1).
        try t.waitFor("首页")
        try t.send("1")
        try t.waitFor("请选择类别")
        try t.send("1")
        try t.waitFor("第 1/")
        try t.send("1")
        try t.waitFor("办事指南")
        try t.send("8")
        try t.waitFor("非常满意")
        try t.send("1")
        try t.waitFor("感谢")
        try t.send("Enter")
        try t.waitFor("首页")
        try t.send("3")
        try t.waitFor("请放置身份证")
        try t.send("a")
        try t.waitFor("本机没有查到")
        try t.send("8")
        try t.waitFor("非常满意")
        try t.send("4")
        try t.waitFor("原因")
        try t.send("1")
        try t.waitFor("感谢")
        try t.send("Enter")
        var complaints: [[String: Any]] = []
        try waitUntil(30, "the 差评 on the intake") {
            complaints = try st.intake.adminGet("complaints")["evaluations"] as? [[String: Any]] ?? []
            return complaints.count == 1
        }
        #expect(complaints.first?["service"] as? String == "progress")
        #expect(complaints.first?["level"] as? Int == 2)
        let id = try #require(complaints.first?["evaluationId"] as? String)
        func ledger() throws -> String { try st.kioskctl("ledger").out }
        try waitUntil(20, "both ratings in the ledger") { try ledger().contains("满意率（满意、非常满意）50.0%") }
        #expect(try ledger().contains("未闭环差评（未回访，全部期间）：1 条"))
        #expect(try ledger().contains("办事指南 1"))
        #expect(try ledger().contains("进度查询 1"))
        try st.intake.followUp(evaluationId: id, stage: "verified", note: "核实：等候时间确实较长")
        try st.intake.followUp(evaluationId: id, stage: "rectified", note: "增加高峰时段窗口")
        try st.intake.followUp(evaluationId: id, stage: "revisited", note: "回访满意")
        let listed = try st.intake.adminGet("complaints")["evaluations"] as? [[String: Any]] ?? []
        #expect(listed.first?["verifiedAt"] != nil && listed.first?["revisitedAt"] != nil)
        try waitUntil(30, "the follow-up back on the kiosk") { try ledger().contains("未闭环差评（未回访，全部期间）：0 条") }
        #expect(try ledger().contains("已回访 1"))
    }

    /// Point 3: without SMS upstream the kiosk promises none; with it, the phone screen says SMS,
    /// and the request (case, events, phone) is recorded and listed by the intake.
    @Test func notificationsAreSaidHonestly() throws {
        let st = try Station(name: "notify")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try waitUntil(30, "the kiosk to hear from the upstream") {
            st.logs().contains("upstream sends no SMS notifications")
        }
        try applyUntilPhone(t)
        #expect(try t.screen().contains("本机暂不发送短信通知"))
        #expect(!(try t.screen().contains("用于接收办理进度短信通知")))
        try t.send("13800000000", "Enter")
        try t.waitFor("请确认申请信息")
        try t.send("Enter")
        try t.waitFor("提交成功")
        #expect(try t.screen().contains("本机不发送短信通知"))
        try t.send("0")
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        #expect((try st.intake.adminGet("notifications")["requests"] as? [Any])?.isEmpty == true)
        // The upstream now says it sends SMS (a back office works from its list).
        st.intake.stop()
        st.intake.extraArguments = ["--sms"]
        try st.intake.start()
        try waitUntil(60, "the kiosk to hear of SMS") { st.logs().contains("upstream sends SMS notifications") }
        try applyUntilPhone(t)
        #expect(try t.screen().contains("用于接收办理进度短信通知"))
        try t.send("13800000000", "Enter")
        try t.waitFor("请确认申请信息")
        try t.send("Enter")
        try t.waitFor("提交成功")
        #expect(try t.screen().contains("以短信通知 138****0000"))
        try waitUntil(30, "the notification request on the intake") {
            (try st.intake.adminGet("notifications")["requests"] as? [[String: Any]] ?? []).count == 1
        }
        let req = try #require((try st.intake.adminGet("notifications")["requests"] as? [[String: Any]])?.first)
        #expect(req["phone"] as? String == "13800000000")
        #expect((req["events"] as? [String])?.contains("needMaterials") == true)
        #expect(!st.logs().contains("13800000000"))
    }

    /// Point 6: 帮办代办 with the resident's consent and 代办不收费 on the receipt; a receipt
    /// reprinted by case number from the staff menu; a certificate handed over only against the
    /// applicant's own card (a wrong card refused), the collector recorded; the A4 ledger a ruled
    /// document whose fonts are embedded (pdffonts) and whose text extracts (pdftotext).
    @Test func staffToolsThePromisesNeed() throws {
        let st = try Station(name: "tools", a4Printer: "{ mode: simulated }")
        try st.addStaff(id: "S001", name: "测试五", role: "window", idNumber: "110105198505050038", pin: "2468")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try t.send("*")
        try t.waitFor("工作人员登录")
        try t.send("e")
        try t.waitFor("请输入工作人员密码")
        try t.send("2468", "Enter")
        try t.waitFor("工作人员菜单")
        let (caseNumber, _) = try applyOnce(t, from: "工作人员菜单")
        let receipt = st.receipts().last ?? ""
        #expect(receipt.contains("代办不收费"))
        #expect(receipt.contains("S001"))
        try t.send("0")
        try t.waitFor("工作人员菜单")
        // Reprint by the case number's last digits.
        let before = st.receipts().count
        try t.send("8")
        try t.waitFor("补打回执")
        try t.send(String(caseNumber.suffix(6)), "Enter")
        try t.waitFor("已补打", seconds: 20)
        #expect(st.receipts().count == before + 1)
        let reprint = st.receipts().last ?? ""
        #expect(reprint.contains("补打"))
        #expect(reprint.contains(caseNumber))
        #expect(reprint.contains("1101**********0016"))
        #expect(!reprint.contains("110105200001010016"))
        try t.send("Escape")
        try t.waitFor("工作人员菜单")
        // A certificate: printed by staff, handed over against the applicant's card.
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        let dir = st.dir + "/certs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("%PDF-1.4\n% certificate\n%%EOF\n".utf8).write(to: URL(fileURLWithPath: dir + "/a.pdf"))
        try st.intake.attachCertificate(
            submissionId: try st.intake.submissionId(caseNumber: caseNumber), file: dir + "/a.pdf")
        try waitUntil(40, "the certificate downloaded") { st.logs().contains("certificate downloaded") }
        try t.send("3")
        try t.waitFor("证照出证")
        try t.waitFor(caseNumber)
        try t.send("1")
        try t.waitFor("办件编号：\(caseNumber)")
        try t.send("1")
        try t.waitFor("已打印", seconds: 20)
        try t.send("2")
        try t.waitFor("证照交付：申请人本人领取")
        try t.waitFor("申请人：测**")
        try t.send("b")  // another resident's card
        try t.waitFor("证件与申请人不符", seconds: 20)
        try t.send("a")
        try t.waitFor("已登记申请人", seconds: 20)
        #expect(try st.kioskctl("audit").out.contains("certificate.handover"))
        try t.send("0")
        try t.waitFor("工作人员菜单")
        // The A4 ledger: ruled, fonts embedded.
        try t.send("4")
        try t.waitFor("工作台账：今日")
        try t.send("4")
        try t.waitFor("台账已在A4打印机打印", seconds: 30)
        let pdf = st.dir + "/ledger.pdf"
        try #require(st.a4Printed().last).write(to: URL(fileURLWithPath: pdf))
        let fonts = try run("/usr/bin/pdffonts", [pdf])
        #expect(fonts.status == 0)
        let fontLines = fonts.out.split(separator: "\n").dropFirst(2)
        #expect(!fontLines.isEmpty)
        for l in fontLines {
            #expect(l.contains("CID TrueType"), "\(l)")
            #expect(l.contains("Identity-H"), "\(l)")
            #expect(l.contains("yes yes yes"), "not embedded as a subset with ToUnicode: \(l)")
        }
        let text = try run("/usr/bin/pdftotext", ["-layout", pdf, "-"]).out.filter { !$0.isWhitespace }
        for s in ["政务服务自助终端工作台账", "端到端测试便民服务中心", "工号S001", "经办人（签字）", "第1页共", "帮办代办：工号S001", "满意率"] {
            #expect(text.contains(s), "the ledger PDF lacks \(s)")
        }
        // kioskctl writes the same document.
        let out = st.dir + "/kioskctl-ledger.pdf"
        #expect(try st.kioskctl("ledger", "--pdf", out, "--printed-by", "王**").status == 0)
        #expect(try run("/usr/bin/pdffonts", [out]).out.contains("yes yes yes"))
    }

    /// From home to the review screen of the first town item (card A, every photo, a phone number).
    func applyUntilReview(_ t: KioskTerminal) throws {
        try applyUntilPhone(t)
        try t.send("13800000000", "Enter")
        try t.waitFor("请确认申请信息")
    }

    /// From home to the phone screen of the first town item (card A, every photo).
    func applyUntilPhone(_ t: KioskTerminal) throws {
        try t.waitFor("首页")
        try t.send("1")
        try t.waitFor("请选择类别")
        try t.send("1")
        try t.waitFor("第 1/")
        try t.send("1")
        try t.waitFor("办事指南")
        try t.send("2")
        try t.waitFor("请放置身份证")
        try t.send("a")
        try t.waitFor("请核对您的身份信息")
        try t.send("Enter")
        try t.waitFor("拍摄申请材料")
        while try t.screen().contains("拍摄申请材料") {
            let marker = try t.screen().split(separator: "\n").first { $0.contains("份：") }.map(String.init) ?? ""
            try t.send("Enter")
            try t.waitFor("状态：已拍摄")
            try t.send("Enter")
            try waitUntil(10, "next step") {
                let s = try t.screen()
                return !s.contains(marker) || !s.contains("拍摄申请材料")
            }
        }
        try t.waitFor("请输入手机号码")
    }
}
