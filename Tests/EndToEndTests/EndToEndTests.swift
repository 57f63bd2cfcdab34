import Foundation
import E2EHarness
import Testing
#if canImport(Glibc)
import Glibc
#endif

let fullID = "110105200001010016"

@Suite(.serialized) struct EndToEndTests {
    @Test func wholeApplicationThroughTheRealBinaries() throws {
        let st = try Station(name: "apply")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }

        let (caseNumber, photos) = try applyOnce(t)
        // (a) the screen confirmed the submission
        let done = try t.screen()
        #expect(done.contains("提交成功"))
        #expect(done.contains(caseNumber))

        // (b) the intake stored exactly one submission with its attachments
        try waitUntil(30, "the upload") { st.intake.count() == 1 }
        let rows = try st.intake.list()
        #expect(rows.count == 1)
        #expect(rows.first?["caseNumber"] as? String == caseNumber)
        #expect(rows.first?["attachmentCount"] as? Int == photos)
        #expect(photos >= 1)

        // (c) the simulated printer's receipt has the case number and masked ID, never the full ID
        let receipts = st.receipts()
        #expect(receipts.count == 1)
        let receipt = receipts.first ?? ""
        #expect(receipt.contains(caseNumber))
        #expect(receipt.contains("1101**********0016"))
        #expect(!receipt.contains(fullID))
        #expect(receipt.contains("[QR] \(caseNumber)"))

        // Evaluation offered, then back home.
        try t.send("Enter"); try t.waitFor("非常满意")
        try t.send("2"); try t.waitFor("感谢")
        try t.send("Enter"); try t.waitFor("首页")

        // Progress query finds the resident's own submission.
        try t.send("3"); try t.waitFor("请放置身份证")
        try t.send("a"); try t.waitFor(caseNumber)

        // kioskctl outbox: counts, no personal data.
        try waitUntil(10, "outbox uploaded count") { (try st.outboxCounts()["uploaded"] as? Int) == 1 }
        let outboxText = try run(binary("kioskctl"), ["outbox", "--config", st.config]).out
        #expect(!outboxText.contains(fullID))

        // No full ID number in any screen capture or log.
        for c in t.captures { #expect(!c.contains(fullID)) }
        let logs = st.logs()
        #expect(logs.contains(caseNumber))
        #expect(!logs.contains(fullID))
        #expect(!logs.contains("测试一"))
    }

    @Test func submissionSurvivesSIGKILLAndArrivesExactlyOnce() throws {
        let st = try Station(name: "restart")
        // The upstream is down while the resident submits: the submission waits in the outbox.
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        let (caseNumber, _) = try applyOnce(t)
        try t.kill9()

        try st.intake.start()
        defer { st.intake.stop() }
        let t2 = KioskTerminal(configPath: st.config)
        try t2.start()
        defer { t2.stop() }
        try t2.waitFor("首页")
        try waitUntil(30, "the upload after restart") { st.intake.count() == 1 }
        // Give the uploader time to (wrongly) send it again; it must not.
        Thread.sleep(forTimeInterval: 2)
        #expect(st.intake.count() == 1)
        #expect(try st.intake.list().first?["caseNumber"] as? String == caseNumber)
        let counts = try st.outboxCounts()
        #expect(counts["uploaded"] as? Int == 1)
        #expect(counts["queued"] as? Int == 0)
    }

    @Test func sighupReloadsAndSigtermRestoresTheTerminal() throws {
        let st = try Station(name: "signals")
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("端到端测试便民服务中心")
        #expect(try t.tmux(["display-message", "-p", "-t", "ui", "#{alternate_on}"]).hasPrefix("1"))
        let yaml = String(decoding: FileManager.default.contents(atPath: st.config)!, as: UTF8.self)
        FileManager.default.createFile(atPath: st.config, contents: Data(yaml.replacingOccurrences(of: "端到端测试便民服务中心", with: "重新加载后的服务点").utf8))
        let pid = Int32(try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines))!
        kill(pid, SIGHUP)
        try t.waitFor("重新加载后的服务点")
        kill(pid, SIGTERM)
        try waitUntil(10, "kioskd to exit") {
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_dead}"]).hasPrefix("1")
        }
        #expect(st.logs().contains("kiosk stopping"))          // the graceful path ran, not a kill
        #expect(try t.tmux(["display-message", "-p", "-t", "ui", "#{alternate_on}"]).hasPrefix("0"))
        #expect(try t.tmux(["display-message", "-p", "-t", "ui", "#{cursor_flag}"]).hasPrefix("1"))
    }

    @Test func badConfigGivesAClearErrorNotACrash() throws {
        let dir = NSTemporaryDirectory() + "kiosk-badcfg-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/k.yaml", contents: Data("station: [1, 2\n".utf8))
        let r = try run(binary("kioskd"), ["--config", dir + "/k.yaml"])
        #expect(r.status == 78)
        #expect(r.out.contains("kiosk.yaml"))
    }
}

@Suite struct KioskctlTests {
    @Test func catalogJSONListsEveryItem() throws {
        let r = try run(binary("kioskctl"), ["catalog", "--json"])
        #expect(r.status == 0)
        let items = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(items.count == 142)
        #expect(items.filter { $0["level"] as? String == "town" }.count == 99)
        #expect(items.filter { $0["level"] as? String == "village" }.count == 43)
        for key in ["code", "name", "type", "level", "handling"] {
            #expect(items.allSatisfy { ($0[key] as? String)?.isEmpty == false }, "every item has \(key)")
        }
    }
}
