import Foundation
import KioskTestSupport
import KioskCore
import KioskDevices
import KioskProtocols
import KioskDevices
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
        try t.send("Enter")
        try t.waitFor("非常满意")
        try t.send("2")
        try t.waitFor("感谢")
        try t.send("Enter")
        try t.waitFor("首页")

        // Progress query finds the resident's own submission.
        try t.send("3")
        try t.waitFor("请放置身份证")
        try t.send("a")
        try t.waitFor(caseNumber)

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
        // Once the outbox holds it as uploaded the uploader never sends it again; until then it
        // might (wrongly) send it twice, so the count is checked after the outbox says so.
        try waitUntil(30, "the outbox to record the upload") {
            let c = try st.outboxCounts()
            return c["uploaded"] as? Int == 1 && c["queued"] as? Int == 0
        }
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
        // What kioskd writes from here on, byte for byte (tmux's own cursor flag for a dead pane
        // with remain-on-exit varies with the order it sees the exit and the end of output).
        let bytes = st.dir + "/terminal-bytes"
        _ = try t.tmux(["pipe-pane", "-t", "ui", "-o", "cat > \(bytes)"])
        let yaml = String(decoding: FileManager.default.contents(atPath: st.config)!, as: UTF8.self)
        FileManager.default.createFile(
            atPath: st.config, contents: Data(yaml.replacingOccurrences(of: "端到端测试便民服务中心", with: "重新加载后的服务点").utf8))
        let pid = Int32(
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]).trimmingCharacters(
                in: .whitespacesAndNewlines))!
        kill(pid, SIGHUP)
        try t.waitFor("重新加载后的服务点")
        kill(pid, SIGTERM)
        try waitUntil(10, "kioskd to exit") {
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_dead}"]).hasPrefix("1")
        }
        #expect(st.logs().contains("kiosk stopping"))  // the graceful path ran, not a kill
        #expect(try t.tmux(["display-message", "-p", "-t", "ui", "#{alternate_on}"]).hasPrefix("0"))
        // The last bytes kioskd wrote give the shell its terminal back: mouse reports off, the
        // cursor shown, the main screen; no frame after them.
        try waitUntil(5, "the pane's last bytes") {
            String(decoding: FileManager.default.contents(atPath: bytes) ?? Data(), as: UTF8.self).hasSuffix(
                "\u{1B}[?1000l\u{1B}[?1006l\u{1B}[?25h\u{1B}[?1049l")
        }
    }

    /// The real kioskd under a notify socket the test owns (abstract, as systemd's usually is):
    /// READY=1 with the device states once devices are probed and the outbox is open; WATCHDOG=1
    /// from the main loop never further apart than half of WATCHDOG_USEC; SIGHUP: RELOADING=1 then
    /// READY=1, with re-read reader profiles; SIGTERM: STOPPING=1, outbox flushed, terminal restored.
    @Test func systemdNotifyWatchdogAndSignalsOnTheRealBinary() throws {
        let st = try Station(name: "notify", reader: "{ mode: serial, path: /dev/kiosk-test-no-such-tty }")
        // A private copy of the profiles, so the test can add one before SIGHUP.
        let profiles = st.dir + "/profiles"
        _ = try run("/bin/cp", ["-r", packageRoot.path + "/DeviceProfiles", profiles])
        let yaml = String(decoding: FileManager.default.contents(atPath: st.config)!, as: UTF8.self)
        FileManager.default.createFile(
            atPath: st.config,
            contents: Data(
                yaml.replacingOccurrences(
                    of: "deviceProfiles: \(packageRoot.path)/DeviceProfiles", with: "deviceProfiles: \(profiles)"
                ).utf8))
        let sock = try NotifyListener(abstract: true)
        let watchdogUsec = 2_000_000
        let t = KioskTerminal(
            configPath: st.config, kioskdEnvironment: ["NOTIFY_SOCKET": sock.name, "WATCHDOG_USEC": "\(watchdogUsec)"])
        try t.start()
        defer { t.stop() }

        let ready = try sock.waitFor("READY=1", seconds: 20) { $0.contains("READY=1") }
        #expect(ready.hasPrefix("READY=1\nSTATUS=ready; "), "\(ready)")
        #expect(ready.contains("idCardReader="), "STATUS names the device states: \(ready)")
        #expect(ready.contains("receiptPrinter=online"), "\(ready)")
        #expect(FileManager.default.fileExists(atPath: st.dir + "/state/outbox.sqlite"), "outbox open before READY")
        try t.waitFor("端到端测试便民服务中心")

        // Watchdog: 6 s of pets at WATCHDOG_USEC = 2 s.
        let start = sock.received.count
        sock.collect(seconds: 6)
        let pets = sock.received[start...].filter { $0.message == "WATCHDOG=1" }.map(\.at)
        let gaps = zip(pets.dropFirst(), pets).map { ($0 - $1) / .seconds(1) }
        print(
            "notify: \(pets.count) WATCHDOG=1 in 6 s, gaps \(gaps.map { String(format: "%.2f", $0) }.joined(separator: " ")) s (half of WATCHDOG_USEC = 1.00 s)"
        )
        #expect(pets.count >= 5, "pets at least every second")
        #expect(gaps.allSatisfy { $0 <= 1.4 }, "never much more than WATCHDOG_USEC/2 apart: \(gaps)")
        #expect(gaps.allSatisfy { $0 >= 0.5 }, "not flooding: \(gaps)")

        // SIGHUP: a new reader profile and a new station name.
        let pid = Int32(
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]).trimmingCharacters(
                in: .whitespacesAndNewlines))!
        let before = try DeviceProfiles.load(directory: profiles).filter { $0.kind == "idCardReader" }.count
        FileManager.default.createFile(
            atPath: profiles + "/sam-serial-test.yaml",
            contents: Data(
                """
                id: sam-serial-test
                name: "Test reader behind a made-up bridge"
                kind: idCardReader
                transport: serial
                usb: { vendorId: 0x1234, productId: 0x5678 }
                protocol: sam
                """.utf8))
        let cfg = String(decoding: FileManager.default.contents(atPath: st.config)!, as: UTF8.self)
        FileManager.default.createFile(
            atPath: st.config, contents: Data(cfg.replacingOccurrences(of: "端到端测试便民服务中心", with: "重新加载后的服务点").utf8))
        kill(pid, SIGHUP)
        try sock.waitFor("RELOADING=1", seconds: 10) { $0.hasPrefix("RELOADING=1") }
        let reloaded = try sock.waitFor("READY=1 after reload", seconds: 10) { $0.hasPrefix("READY=1") }
        #expect(reloaded.contains("STATUS=configuration reloaded"), "\(reloaded)")
        try t.waitFor("重新加载后的服务点")
        #expect(st.logs().contains("readerProfiles=\(before + 1)"), "the reader profiles were re-read:\n\(st.logs())")

        // SIGTERM: graceful stop.
        kill(pid, SIGTERM)
        try sock.waitFor("STOPPING=1", seconds: 10) { $0.hasPrefix("STOPPING=1") }
        try waitUntil(15, "kioskd to exit") {
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_dead}"]).hasPrefix("1")
        }
        let logs = st.logs()
        #expect(logs.contains("outbox flushed and closed"))
        #expect(logs.hasSuffix("kioskd stopped\n"), "the whole shutdown path ran: \(logs.suffix(600))")
        #expect(OutboxDatabase.walSize(stateDirectory: st.dir + "/state") == 0, "WAL checkpointed into the database")
        #expect(
            try t.tmux(["display-message", "-p", "-t", "ui", "#{alternate_on}"]).hasPrefix("0"), "terminal restored")
    }

    /// SIGTERM while a submission is being sealed and printed: the step finishes (the submission is
    /// in the outbox, its upload continues after a restart) and kioskd still exits cleanly.
    @Test func sigtermRightAfterSubmitFinishesTheStep() throws {
        let st = try Station(name: "term-submit")
        let t = KioskTerminal(configPath: st.config)
        try t.start()
        defer { t.stop() }
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
            try t.send("Enter")
            try t.waitFor("状态：已拍摄")
            try t.send("Enter")
            try waitUntil(15, "the next material or the phone number") {
                let s = try t.screen()
                return s.contains("状态：未拍摄") || s.contains("请输入手机号码")
            }
        }
        try t.waitFor("请输入手机号码")
        try t.send("13800000000", "Enter")
        try t.waitFor("请确认申请信息")
        let pid = Int32(
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_pid}"]).trimmingCharacters(
                in: .whitespacesAndNewlines))!
        try t.send("Enter")
        kill(pid, SIGTERM)
        try waitUntil(15, "kioskd to exit") {
            try t.tmux(["display-message", "-p", "-t", "ui", "#{pane_dead}"]).hasPrefix("1")
        }
        let logs = st.logs()
        #expect(logs.hasSuffix("kioskd stopped\n"), "the whole shutdown path ran: \(logs.suffix(600))")
        #expect(logs.contains("outbox flushed and closed"))
        // Either the seal committed (one queued submission) or it had not started: never half of one.
        let counts = try st.outboxCounts()
        let total = ((counts["queued"] as? Int) ?? 0) + ((counts["uploaded"] as? Int) ?? 0)
        #expect(total <= 1)
        let attachments = (try? FileManager.default.contentsOfDirectory(atPath: st.dir + "/state/attachments")) ?? []
        #expect(attachments.count == total, "no orphan attachment folder")
    }

    /// libcups (and GnuTLS, Kerberos, Avahi… behind it) is opened only for an A4 printer in CUPS mode.
    @Test func libcupsIsMappedOnlyWithACupsA4Printer() throws {
        func cupsMapped(_ t: KioskTerminal) throws -> Bool {
            // cat: Foundation reads a /proc file (size 0) only partly.
            let maps = try run("/bin/cat", ["/proc/\(try t.pid())/maps"]).out
            #expect(maps.contains("/libc.so.6"), "read no whole memory map")
            return maps.contains("/libcups.so.2") || maps.contains("/libgnutls.so.")
        }
        let plain = try Station(name: "nocups")
        let t = KioskTerminal(configPath: plain.config)
        try t.start()
        defer { t.stop() }
        try t.waitFor("端到端测试便民服务中心")
        #expect(try !cupsMapped(t), "kioskd without an A4 printer mapped libcups")

        let a4 = try Station(
            name: "cups", a4Printer: "{ mode: cups, uri: \"ipp://127.0.0.1:\(freePort())/ipp/print\" }")
        let c = KioskTerminal(configPath: a4.config)
        try c.start()
        defer { c.stop() }
        try c.waitFor("端到端测试便民服务中心")
        try waitUntil(15, "kioskd to load libcups for its CUPS A4 printer") { try cupsMapped(c) }
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

@Suite struct KioskctlIDCardTests {
    let card = IDCardIdentity(
        cardType: .foreign2017, name: "", englishName: "TEST, SAMPLE PERSON", sexCode: "2",
        birthDate: "19800101", idNumber: "USA110080010111", issuingAuthority: "1100",
        validFrom: .date("20170101"), validTo: .date("20270101"), nationality: "USA", cardVersion: "01",
        photo: [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 7, count: 1020))

    /// Written through an O_CLOEXEC descriptor: a helper script written with an inheritable fd can
    /// fail to exec with ETXTBSY when another test's thread spawns a process meanwhile.
    func tempFile(_ name: String, _ data: Data) -> String {
        let p = NSTemporaryDirectory() + "kioskctl-\(UUID().uuidString.prefix(8))-\(name)"
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        return p
    }

    var frame: [UInt8] {
        SAMReply(
            status: 0x90, data: IDCardIdentity.encodeReadReplyData(text: card.encodeTextBlock(), photo: card.photo)
        ).encoded()
    }

    @Test func decodeHexAndRawFilesMaskedAndRevealed() throws {
        let hex = frame.map { String(format: "%02X", $0) }.joined(separator: " ")
        let f = tempFile("reply.hex", Data(hex.utf8))
        let masked = try run(binary("kioskctl"), ["idcard", "decode", f])
        #expect(masked.status == 0)
        let m = try #require(try JSONSerialization.jsonObject(with: Data(masked.out.utf8)) as? [String: Any])
        #expect(m["cardType"] as? String == "foreign2017")
        #expect(m["idNumber"] as? String == "USA1*******0111")
        #expect(m["englishName"] as? String == "T*")
        #expect(m["sex"] as? String == "女")
        #expect(m["birthDate"] as? String == "1980-01-01")
        #expect(m["validTo"] as? String == "2027-01-01")
        #expect(m["idNumberValid"] as? Bool == true)
        #expect(m["photo"] as? Int == 1024)
        let raw = tempFile("reply.bin", Data(frame))
        let open = try run(binary("kioskctl"), ["idcard", "decode", "--reveal", raw])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [String: Any])
        #expect(o["idNumber"] as? String == "USA110080010111")
        #expect(o["englishName"] as? String == "TEST, SAMPLE PERSON")
    }

    @Test func brokenRepliesExitNonZeroWithOneLine() throws {
        var bad = frame
        bad[bad.count - 1] ^= 0xFF
        for (bytes, reason) in [
            (bad, "bad checksum"), (Array(frame.prefix(100)), "truncated"), ([0x01, 0x02], "no preamble"),
            (SAMReply(status: 0x41).encoded(), "status 41"),
        ] {
            let r = try run(binary("kioskctl"), ["idcard", "decode", tempFile("bad", Data(bytes))])
            #expect(r.status != 0)
            #expect(r.out.contains(reason), "\(reason): \(r.out)")
            #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1)
        }
    }

    @Test func photoGoesThroughTheHelperProcessSeam() throws {
        // A stand-in for a licensed decoder: reads 1024 bytes, writes a 38862-byte BMP.
        let script = tempFile(
            "decoder.sh",
            Data(
                """
                #!/bin/sh
                head -c 1024 > /dev/null
                printf 'BM'
                head -c 38860 /dev/zero
                """.utf8))
        chmod(script, 0o755)
        let f = tempFile("reply.bin", Data(frame))
        let out = NSTemporaryDirectory() + "photo-\(UUID().uuidString.prefix(6)).bmp"
        let r = try run(binary("kioskctl"), ["idcard", "decode", f, "--photo-out", out, "--decoder", script])
        #expect(r.status == 0, "\(r.out)")
        #expect((try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) == 38862)
        let broken = tempFile("broken.sh", Data("#!/bin/sh\necho nope\n".utf8))
        chmod(broken, 0o755)
        let b = try run(binary("kioskctl"), ["idcard", "decode", f, "--photo-out", out, "--decoder", broken])
        #expect(b.status != 0)
        #expect(b.out.contains("expected a 38862-byte BMP"))
    }

    @Test func readFromTheConfiguredSimulatedReader() throws {
        let st = try Station(name: "ctl-read")
        let r = try run(binary("kioskctl"), ["idcard", "read", "--config", st.config, "--timeout", "5"])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("\"idNumber\": \"1101**********0016\""))
        #expect(!r.out.contains(fullID))
    }
}

@Suite struct KioskctlCameraTests {
    @Test func checkPrintsTheVerdictAndItsNumbers() throws {
        let page = packageRoot.appendingPathComponent("kiosk-config/fixtures/camera/page-1.jpg").path
        let ok = try run(binary("kioskctl"), ["camera", "check", page])
        #expect(ok.status == 0)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(ok.out.utf8)) as? [String: Any])
        #expect(o["verdict"] as? String == "ok")
        for k in ["meanBrightness", "contrast", "clippedFraction", "sharpness", "width", "height"] {
            #expect(o[k] != nil, "\(k)")
        }
        // A blank sheet: rejected, exit 2, the message asks for a retake.
        let blank = try JPEG.encode(
            PixelImage(width: 800, height: 1100, channels: 1, pixels: [UInt8](repeating: 240, count: 800 * 1100)),
            quality: 85)
        let f = NSTemporaryDirectory() + "blank-\(UUID().uuidString.prefix(6)).jpg"
        FileManager.default.createFile(atPath: f, contents: Data(blank))
        let b = try run(binary("kioskctl"), ["camera", "check", f])
        #expect(b.status == 2)
        #expect(b.out.contains("\"verdict\":\"blank\""))
        #expect(b.out.contains("重拍"))
    }

    @Test func captureWritesAFrameFromTheConfiguredCamera() throws {
        let st = try Station(name: "ctl-camera")
        let out = NSTemporaryDirectory() + "capture-\(UUID().uuidString.prefix(6)).jpg"
        let r = try run(binary("kioskctl"), ["camera", "capture", "--config", st.config, "--upload", out])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("\"verdict\":\"ok\""))
        let data = try #require(FileManager.default.contents(atPath: out))
        #expect(data.prefix(2) == Data([0xFF, 0xD8]))
        #expect(try JPEG.size(of: [UInt8](data)).height <= 1600)
    }
}
