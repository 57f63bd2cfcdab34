import KioskTestSupport
import Foundation
import Testing

/// Township staff through the real binaries: kioskd in tmux, the reference intake, kioskctl.
@Suite(.serialized) struct StaffEndToEndTests {
    static let staffID = "110105198505050038"  // the simulated card E (工作人员 测试五), synthetic

    func pdf(_ marker: String) -> Data {
        Data(
            "%PDF-1.4\n% certificate \(marker)\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
                .utf8)
    }

    /// The intake marks two submissions done with a certificate; the kiosk downloads both; the
    /// first resident prints theirs at the kiosk (a jam first, then the reprint); staff sign in
    /// (one wrong PIN), batch-print the other and hand it over to its applicant (their card, after
    /// another resident's card is refused); the ledger and the audit trail show every step.
    @Test func certificateFromIntakeToResidentAndStaffThenLedger() throws {
        let st = try Station(name: "staff", a4Printer: "{ mode: simulated }")
        try st.addStaff(id: "S001", name: "测试五", role: "window", idNumber: Self.staffID, pin: "2468")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }

        let (caseA, _) = try applyOnce(t)
        try t.send("0")
        try t.waitFor("首页")
        let (caseB, _) = try applyOnce(t, placeCard: { try t.send("b") })
        try t.send("0")
        try t.waitFor("首页")
        try waitUntil(30, "both uploads") { st.intake.count() == 2 }
        let rows = try st.intake.list()
        func sid(_ c: String) -> String {
            rows.first { $0["caseNumber"] as? String == c }?["submissionId"] as? String ?? ""
        }

        let dir = st.dir + "/certs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try pdf("A").write(to: URL(fileURLWithPath: dir + "/a.pdf"))
        try pdf("B").write(to: URL(fileURLWithPath: dir + "/b.pdf"))
        try st.intake.attachCertificate(submissionId: sid(caseA), file: dir + "/a.pdf")
        try st.intake.attachCertificate(submissionId: sid(caseB), file: dir + "/b.pdf")
        try waitUntil(40, "the kiosk downloads both certificates") {
            st.logs().components(separatedBy: "certificate downloaded").count - 1 >= 2
        }

        // Resident A: self pick-up. The A4 printer jams on the first try; the reprint works.
        try t.send("4")
        try t.waitFor("请放置身份证")
        try t.send("a")
        try t.waitFor("以下证照已办好")
        #expect(try t.screen().contains(caseA))
        #expect(!(try t.screen().contains(caseB)))  // only the resident's own
        #expect(try st.kioskctl("simulate", "a4", "jam").status == 0)
        try t.send("1")
        try t.waitFor("卡纸", seconds: 20)
        #expect(st.a4Printed().isEmpty)
        #expect(try st.kioskctl("simulate", "a4", "clear").status == 0)
        try t.send("1")
        try t.waitFor("证照已打印", seconds: 20)
        #expect(st.a4Printed() == [pdf("A")])
        try t.send("0")
        try t.waitFor("首页")

        // Staff: card E, one wrong PIN, then the right one.
        try t.send("*")
        try t.waitFor("工作人员登录")
        try t.send("e")
        try t.waitFor("请输入工作人员密码")
        try t.send("1111", "Enter")
        try t.waitFor("还可以再试 4 次")
        try t.send("2468", "Enter")
        try t.waitFor("工作人员菜单")
        try t.send("3")
        try t.waitFor("待打印")
        #expect(!(try t.screen().contains(caseA)))  // collected by the resident already
        try t.send("8")
        try t.waitFor("已打印 1 份证照", seconds: 20)
        #expect(st.a4Printed() == [pdf("A"), pdf("B")])
        try t.waitFor("已打印，待领取")
        try t.send("1")
        try t.waitFor(caseB)
        try t.send("0")
        try t.waitFor("证照出证")
        try t.send("6")
        try t.waitFor("逐份登记领取")  // every printed one in turn, each with the collector's card
        try t.waitFor("第 1/1 份：\(caseB)")
        try t.send("1")
        try t.waitFor("证照交付：申请人本人领取")
        try t.waitFor("申请人：测**")
        try t.send("a")  // resident A's card is not B's: refused, nothing recorded
        try t.waitFor("证件与申请人不符")
        try t.send("b")
        try t.waitFor("已登记申请人")
        try t.waitFor("已打印的证照都已登记领取")
        try t.send("0")
        try t.waitFor("没有待领取的证照")
        try t.send("0")
        try t.waitFor("工作人员菜单")
        try t.send("4")
        try t.waitFor("工作台账：今日")
        try t.waitFor("合计 2 件")
        // Printable: on the A4 printer (a PDF) and on the receipt printer.
        try t.send("4")
        try t.waitFor("台账已在A4打印机打印", seconds: 20)
        #expect(st.a4Printed().count == 3)
        #expect(st.a4Printed().last?.starts(with: Array("%PDF-".utf8)) == true)
        try t.send("3")
        try t.waitFor("台账已在回执打印机打印", seconds: 20)
        #expect(st.receipts().last?.contains("工作台账") == true)
        try t.send("0")
        try t.send("0")
        try t.waitFor("首页")

        // The ledger of this month, as CSV.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "Asia/Shanghai")
        f.dateFormat = "yyyy-MM"
        let csv = try st.kioskctl("ledger", "--month", f.string(from: Date()), "--csv")
        #expect(csv.status == 0)
        #expect(csv.out.contains("submissions_total,,申请合计,,2"))
        #expect(csv.out.contains("certificates,ready,证照到达,,2"))
        #expect(csv.out.contains("certificates,printed,证照打印,,2"))
        #expect(csv.out.contains("certificates,collected,已领取,,2"))
        #expect(csv.out.contains("certificates,self_pickup,其中自助取件,,1"))
        #expect(csv.out.contains("certificates,waiting,待领取（期末）,,0"))
        #expect(csv.out.contains("assisted,,帮办代办,,0"))
        // The same ledger as JSON, with the after-service part: both collections and their collector.
        let json = try st.kioskctl("ledger", "--month", f.string(from: Date()), "--json")
        #expect(json.status == 0)
        let top = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect(top["submissionsTotal"] as? Int == 2 && top["certificatesCollected"] as? Int == 2)
        let after = try #require(top["afterService"] as? [String: Any])
        #expect(after["overdue"] as? Int == 0 && after["helpCalls"] as? Int == 0)
        let collections = try #require(after["collections"] as? [[String: Any]])
        #expect(collections.map { $0["caseNumber"] as? String } == [caseA, caseB])
        #expect(collections.map { $0["handedOverBy"] as? String } == ["resident", "S001"])
        #expect(collections.map { $0["collector"] as? String } == ["applicant", "applicant"])
        #expect(collections.last?["collectorMaskedName"] as? String == "测**")
        #expect(try st.kioskctl("ledger", "--month", f.string(from: Date())).out.contains("本人领取 1，代领 0，自助取件 1"))

        // The audit trail: every sign-in attempt and certificate step, chained, no personal data.
        let audit = try st.kioskctl("audit").out
        for action in [
            "staff.signin.failed", "staff.signin", "certificate.print.failed", "certificate.printed",
            "certificate.collected", "certificate.batch", "certificate.handover", "ledger.printed", "staff.signout",
        ] {
            #expect(audit.contains(action), "audit lacks \(action)")
        }
        #expect(audit.contains("S001"))
        #expect(try st.kioskctl("audit", "--verify").status == 0)
        for text in [audit, csv.out, json.out, st.logs()] + t.captures {
            #expect(!text.contains(Self.staffID))
            #expect(!text.contains("110105200001010016"))
        }
    }

    /// kioskctl service off shows the notice on the home screen within seconds; on brings it back.
    @Test func outOfServiceFromKioskctl() throws {
        let st = try Station(name: "oos")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        #expect(try st.kioskctl("service", "off", "--notice", "今日停电检修，请到窗口办理。").status == 0)
        try t.waitFor("今日停电检修", seconds: 20)
        try t.send("1")
        #expect(!(try t.screen().contains("请选择类别")))
        #expect(try st.kioskctl("service", "status").out.contains("out of service"))
        #expect(try st.kioskctl("service", "on").status == 0)
        try waitUntil(20, "back in service") { !(try t.screen().contains("今日停电检修")) }
        try t.send("1")
        try t.waitFor("请选择类别")
    }
}

/// 帮办代办 through the real binaries: a village agent signs in and submits for a resident.
@Suite(.serialized) struct AssistedEndToEndTests {
    @Test func aVillageAgentSubmitsForAResident() throws {
        let st = try Station(name: "assist")
        try st.addStaff(id: "A007", name: "测试五", role: "agent", idNumber: StaffEndToEndTests.staffID, pin: "1357")
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
        try t.send("1357", "Enter")
        try t.waitFor("工作人员菜单")
        #expect(!(try t.screen().contains("证照出证")))  // agents: assisted submissions only
        let (caseNumber, _) = try applyOnce(t, from: "工作人员菜单")
        try t.send("0")
        try t.waitFor("工作人员菜单")  // back to the agent's menu, resident wiped
        #expect(try t.screen().contains("A007"))
        try t.send("0")
        try t.waitFor("首页")
        #expect(st.receipts().last?.contains("帮办代办：由代办员 测**（工号 A007）代为办理") == true)
        #expect(st.receipts().last?.contains(caseNumber) == true)
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        let audit = try st.kioskctl("audit").out
        #expect(audit.contains("assist.submitted"))
        #expect(try st.kioskctl("ledger", "--csv").out.contains("assisted,,帮办代办,,1"))
    }
}
