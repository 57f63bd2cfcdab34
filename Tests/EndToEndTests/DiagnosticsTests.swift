import KioskTestSupport
import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// kioskctl against a running kioskd with simulated devices, over the admin socket.
@Suite(.serialized) struct DiagnosticsTests {
    func json(_ out: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    func device(_ status: [String: Any], _ kind: String) -> [String: Any]? {
        (status["devices"] as? [[String: Any]])?.first { $0["kind"] as? String == kind }
    }

    @Test func statusSelftestLogsBundleAndMetricsAgainstARunningDaemon() throws {
        let st = try Station(name: "diag")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")

        // status: every device, the outbox, the upstream, disk, version, uptime.
        var s = try json(try st.kioskctl("status", "--json").out)
        #expect(s["version"] as? String != nil)
        #expect(s["uptimeSeconds"] as? Int != nil)
        #expect((s["freeDiskBytes"] as? Int ?? 0) > 0)
        #expect((s["upstream"] as? [String: Any])?["reachable"] as? Bool == true)
        #expect((s["outbox"] as? [String: Any])?["queued"] as? Int == 0)
        #expect(device(s, "idCardReader")?["state"] as? String == "online")
        #expect(device(s, "receiptPrinter")?["state"] as? String == "online")
        #expect(device(s, "documentCamera") != nil)
        let table = try st.kioskctl("status").out
        #expect(table.contains("idCardReader") && table.contains("outbox:") && table.contains("upstream:"))

        // An application by a made-up resident, so the bundle has something to leak if it could.
        let (caseNumber, _) = try applyOnce(t)
        try waitUntil(30, "the upload") { st.intake.count() == 1 }

        // A reader unplugged and a printer out of paper.
        #expect(try st.kioskctl("simulate", "reader", "unplug").status == 0)
        #expect(try st.kioskctl("simulate", "printer", "paperOut").status == 0)
        try waitUntil(15, "reader powerOff in status") {
            device(try json(try st.kioskctl("status", "--json").out), "idCardReader")?["state"] as? String == "powerOff"
        }
        s = try json(try st.kioskctl("status", "--json").out)
        #expect(device(s, "receiptPrinter")?["paper"] as? String == "out")
        #expect((device(s, "idCardReader")?["lastError"] as? String)?.isEmpty == false)
        let failing = try st.kioskctl("selftest")
        #expect(failing.status == 1)
        #expect(failing.out.contains("FAIL  reader"))
        #expect(failing.out.contains("FAIL  printer"))
        #expect(failing.out.contains("PASS  camera"))

        #expect(try st.kioskctl("simulate", "reader", "plug").status == 0)
        #expect(try st.kioskctl("simulate", "printer", "paperIn").status == 0)
        let before = st.receipts().count
        let passing = try st.kioskctl("selftest", "--print")
        #expect(passing.status == 0, "\(passing.out)")
        #expect(passing.out.contains("PASS  reader") && passing.out.contains("samID"))
        try waitUntil(10, "test receipt") { st.receipts().count == before + 1 }
        #expect(st.receipts().last?.contains("打印机自检") == true)

        // logs: recent events.
        let logs = try st.kioskctl("logs", "-n", "50").out
        #expect(logs.contains("submission sealed"))
        #expect(logs.contains(caseNumber))

        // bundle: no personal data of the resident who just applied.
        let archive = st.dir + "/diag.tar.gz"
        #expect(try st.kioskctl("bundle", archive).status == 0)
        let out = st.dir + "/unpacked"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try run("/bin/tar", ["-xzf", archive, "-C", out]).status == 0)
        let files = try FileManager.default.subpathsOfDirectory(atPath: out + "/kiosk-diagnostics")
        #expect(
            files.contains("status.json") && files.contains("events.log") && files.contains("kiosk.yaml")
                && files.contains("versions.txt"))
        var all = ""
        for f in files { all += (try? String(contentsOfFile: out + "/kiosk-diagnostics/" + f, encoding: .utf8)) ?? "" }
        #expect(all.contains(caseNumber), "the case number is there, to find the case")
        for secret in [fullID, "测试一", "13800000000"] { #expect(!all.contains(secret), "bundle leaks \(secret)") }
        let yaml = try String(contentsOfFile: out + "/kiosk-diagnostics/kiosk.yaml", encoding: .utf8)
        #expect(yaml.contains("token: <redacted>"))
        #expect(!yaml.contains(st.intake.token))

        // metrics: scraped over HTTP on loopback and parsed.
        let m = try run("/usr/bin/curl", ["-fsS", "http://127.0.0.1:\(st.metricsPort)/metrics"])
        #expect(m.status == 0, "\(m.out)")
        var values: [String: Double] = [:]
        for line in m.out.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
        }
        #expect((values["kiosk_submissions_sealed_total"] ?? 0) >= 1)
        #expect((values["kiosk_card_reads_total"] ?? 0) >= 1)
        #expect((values["kiosk_sessions_total"] ?? -1) >= 0)
        #expect(values["kiosk_outbox_queued"] != nil)
        #expect(values.keys.contains { $0.hasPrefix("kiosk_device_state{") && $0.contains("idCardReader") })
        #expect(values["kiosk_submissions_uploaded_total"] ?? 0 >= 1)
        #expect((values["kiosk_upload_bytes_total"] ?? 0) > 0, "tus payload bytes")
        #expect((values["kiosk_receipts_printed_total"] ?? 0) >= 1, "the resident's receipt")
        #expect(values["kiosk_upload_retries_total"] != nil)
        #expect(values["kiosk_outbox_key_alarm"] == 0 && values["kiosk_outbox_quarantined"] == 0)
        #expect((values["kiosk_free_disk_floor_bytes"] ?? 0) > 0)
        // Every metric the shipped alert rules and dashboard use is one this kioskd exports.
        let exported = Set(values.keys.map { String($0.split(separator: "{").first ?? "") })
        for file in ["kiosk-alerts.yml", "kiosk-fleet-dashboard.json"] {
            let text = try String(contentsOfFile: packageRoot.path + "/packaging/monitoring/" + file, encoding: .utf8)
            let used = Set(text.matches(of: /kiosk_[a-z0-9_]+/).map { String($0.output) })
            #expect(!used.isEmpty)
            for name in used { #expect(exported.contains(name), "\(file) uses \(name), which kioskd does not export") }
        }
    }

    @Test func kioskctlSaysWhenKioskdIsNotRunning() throws {
        let st = try Station(name: "diag-off")
        let r = try run(binary("kioskctl"), ["status", "--config", st.config])
        #expect(r.status != 0)
        #expect(r.out.contains("kioskd is not running"))
    }
}

@Suite(.serialized) struct TechnicianModeTests {
    @Test func hiddenSequenceAndPINOpenTechnicianModeWithLockout() throws {
        // The hash comes from kioskctl, as a technician would make it.
        let pinFile = NSTemporaryDirectory() + "pin-\(UUID().uuidString.prefix(6))"
        FileManager.default.createFile(atPath: pinFile, contents: Data("246810\n".utf8))
        let hash = try run("/bin/sh", ["-c", "\(binary("kioskctl")) technician-pin < \(pinFile)"]).out
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("pbkdf2-sha256$"))
        let st = try Station(name: "tech", extraYAML: "technician:\n  pinHash: \"\(hash)\"")
        try st.intake.start()
        defer { st.intake.stop() }
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try t.send("#", "#", "#")
        try t.waitFor("请输入维护密码")
        try t.send("1", "1", "1", "1", "Enter")
        try t.waitFor("密码错误")
        try t.send("2", "4", "6", "8", "1", "0")
        try t.waitFor("******_")
        try t.send("Enter")
        try t.waitFor("暂停服务：设备维护中")
        try t.waitFor("upstream: reachable")
        #expect(try t.screen().contains("身份证阅读器 online"))
        try t.send("2")
        try t.waitFor("通过 PASS  reader")
        try t.send("0")
        try t.waitFor("首页")
        // Three wrong PINs lock technician mode for a while.
        try t.send("#", "#", "#")
        try t.waitFor("请输入维护密码")
        for attempt in 1...3 {
            try t.send("9", "9", "9", "9", "Enter")
            // Each wrong PIN is checked (slow hash) and logged before the next is typed.
            try waitUntil(20, "wrong PIN \(attempt) to be checked") {
                st.logs().components(separatedBy: "technician PIN wrong").count - 1 >= attempt
            }
        }
        try t.send("2", "4", "6", "8", "1", "0", "Enter")
        try t.waitFor("密码错误次数过多")
        #expect(st.logs().contains("technician PIN wrong"))
        #expect(!st.logs().contains("246810"))
        // The lockout lives in the outbox database (the PIN gate): kioskd killed and started again keeps it.
        try t.kill9()
        let again = KioskTerminal(configPath: st.config)
        try again.start()
        defer { again.stop() }
        try again.waitFor("首页")
        try again.send("#", "#", "#")
        try again.waitFor("请输入维护密码")
        try again.send("2", "4", "6", "8", "1", "0", "Enter")
        try again.waitFor("密码错误次数过多")
    }
}

@Suite(.serialized) struct TouchEndToEndTests {
    /// Finds the screen cell (1-based column, row) of the first occurrence of `text`.
    func cell(of text: String, in screen: String) -> (Int, Int)? {
        for (i, line) in screen.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let r = line.range(of: text) {
                let before = String(line[..<r.lowerBound])
                let width = before.unicodeScalars.reduce(0) { $0 + ($1.value >= 0x1100 && $1.value != 0x2013 ? 2 : 1) }
                return (width + 1, i + 1)
            }
        }
        return nil
    }

    func tap(_ t: KioskTerminal, _ text: String) throws {
        guard let (c, r) = cell(of: text, in: try t.screen()) else {
            throw HarnessError(description: "no \(text) on screen:\n\(try t.screen())")
        }
        _ = try t.tmux(["send-keys", "-t", "ui", "-l", "\u{1B}[<0;\(c);\(r)M\u{1B}[<0;\(c);\(r)m"])
    }

    @Test func tapsInTmuxChooseOptions() throws {
        let st = try Station(name: "touch")
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try tap(t, "村级事项")
        try t.waitFor("请选择类别")
        try tap(t, "返回首页")
        try t.waitFor("首页  请按数字键选择")
        try tap(t, "进度查询")
        try t.waitFor("请放置身份证")
        try tap(t, "居民身份证 测试一")
        try t.waitFor("进度查询")
    }
}

/// Large mode, English, help and voice through the real kioskd in tmux.
@Suite(.serialized) struct AccessibilityEndToEndTests {
    @Test func largeModeEnglishHelpAndVoiceOnTheRealBinary() throws {
        let voiceDir = NSTemporaryDirectory() + "kiosk-voice-" + UUID().uuidString
        let st = try Station(
            name: "a11y",
            extraYAML: """
                voice:
                  enabled: true
                  rate: 170
                  outputDirectory: \(voiceDir)
                help:
                  location: 便民服务中心一楼2号窗口
                  phone: 0355-0000000
                """)
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("首页")
        try t.send("6")
        try t.waitFor("标准模式（小字）")  // large mode from the home screen
        let large = try t.screen()
        #expect(!large.contains("查看办事指南"))  // short labels only
        try t.send("l")
        try t.waitFor("Welcome")  // English
        try TouchEndToEndTests().tap(t, "L 中文")
        try t.waitFor("欢迎使用")  // and back, by a tap
        try t.send("1")
        try t.waitFor("请选择类别")
        try t.send("h")
        // Call staff from any screen. This station's upstream never answers, so the screen says so
        // (staff are said to be told only once the upstream acknowledged) and where help is.
        try t.waitFor("暂时未能通知到工作人员")
        #expect(!(try t.screen().contains("已通知工作人员")))
        #expect(try t.screen().contains("便民服务中心一楼2号窗口"))
        try t.send("0")
        try t.waitFor("请选择类别")
        try waitUntil(10, "the help request in the audit trail") {
            try run(binary("kioskctl"), ["audit", "--config", st.config]).out.contains("help.requested")
        }
        // Each screen's prompt was spoken (written as WAV files by espeak-ng).
        try waitUntil(20, "voice prompts as WAV files") {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: voiceDir)) ?? []
            return files.filter { $0.hasSuffix(".wav") }.count >= 4
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: voiceDir).filter { $0.hasSuffix(".wav") }
            .sorted()
        let first = try Data(contentsOf: URL(fileURLWithPath: voiceDir + "/" + files[0]))
        #expect(first.prefix(4) == Data("RIFF".utf8))
        #expect(first.count > 10_000)
    }
}
