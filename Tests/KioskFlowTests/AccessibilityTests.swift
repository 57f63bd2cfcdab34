import Foundation
@testable import KioskApp
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

/// Every resident screen, each with the catalog data it shows (item and guide text, names):
/// data is published in Chinese and may appear on English screens.
func everyResidentScreen(_ catalog: Catalog, large: Bool, language: Language) -> [(
    name: String, m: FlowMachine, data: [String]
)] {
    var base = FlowMachine(
        catalog: catalog,
        settings: FlowSettings(
            stationName: "测试便民服务中心", simulatedCards: ["居民身份证 测试一"],
            helpLocation: "服务大厅1号窗口", helpPhone: "0355-0000000"),
        now: Date(timeIntervalSince1970: 1_795_000_000))
    _ = base.handle(.devices(devicesWithA4))
    base.largeMode = large
    base.language = language
    let common = ["测试便民服务中心", "居民身份证 测试一", card.maskedName, "服务大厅1号窗口"]
    var out: [(String, FlowMachine, [String])] = []
    func add(_ name: String, _ data: [String] = [], _ change: (inout FlowMachine) -> Void) {
        var m = base
        change(&m)
        out.append((name, m, common + data))
    }
    func guideData(_ item: CatalogItem) -> [String] {
        var d = [item.name, item.type, item.handling, item.category]
        if let g = catalog.guide(for: item.code) {
            d += [
                g.sampleNotice, g.shortVersion, g.promisedTimeLimit, g.fee, g.location, g.hours, g.consultPhone,
                g.caseKind, g.plainVersion, g.legalBasis, g.conditions, g.legalTimeLimit, g.feeBasis, g.implementer,
                g.window, g.resultName, g.delivery, g.complaintPhone, g.complaint, g.onlineURL,
            ].compactMap { $0 }
            d += g.process + g.faq.flatMap { [$0.q, $0.a] }
            d += g.materials.flatMap { ["\($0.name)（\($0.form) \($0.copies)份）", $0.name, $0.requirements] }
        }
        return d
    }
    let item = catalog.items(level: .town)[0]
    add("home") { _ in }
    add("home out of service", ["今日停电检修，请到窗口办理。"]) { m in _ = m.handle(.serviceState(notice: "今日停电检修，请到窗口办理。")) }
    add("help") { m in m.route = .help }
    for level in ItemLevel.allCases {
        let cats = catalog.categories(level: level)
        for p in 0..<((cats.count + 4) / 5) {
            add("categories \(level) page \(p)") { m in
                m.route = .categories(level)
                m.categoryPage = p
            }
        }
        for c in cats {
            let items = catalog.items(level: level, category: c)
            for p in 0..<((items.count + 3) / 4) {
                add("items \(c) page \(p)", items.map(\.name)) { m in m.route = .items(level, category: c, page: p) }
            }
        }
    }
    for it in catalog.items {
        var probe = base
        probe.session.item = it
        for p in 0..<probe.guidePages(it, width: 80).count {
            add("guide \(it.code) page \(p)", guideData(it)) { m in
                m.session.item = it
                m.route = .guide(code: it.code, page: p)
            }
        }
    }
    for purpose in [FlowMachine.Purpose.apply, .progress, .pickup] {
        add("place card \(purpose)", [item.name]) { m in
            m.session.item = item
            m.route = .placeCard(purpose)
        }
    }
    func applying(_ m: inout FlowMachine) {
        m.session.item = item
        m.session.identity = card
        m.session.photos = [Data([1]), nil, nil]
        m.session.phone = "13800000000"
    }
    add("identity", guideData(item)) { m in
        applying(&m)
        m.route = .identity
    }
    for i in 0..<3 {
        add("photo \(i)", guideData(item)) { m in
            applying(&m)
            m.route = .photo(index: i)
        }
    }
    add("phone") { m in
        applying(&m)
        m.route = .phone
    }
    add("review", [item.name]) { m in
        applying(&m)
        m.route = .review
    }
    add("submitting") { m in
        applying(&m)
        m.route = .submitting
    }
    let sealed = SubmissionSummary(
        id: "x", caseNumber: "GH202611050001", itemCode: item.code, itemName: item.name,
        sealedAt: Date(timeIntervalSince1970: 1_795_000_000), state: .sealed, upstreamState: nil, attempts: 0,
        lastError: nil)
    add("printing") { m in
        applying(&m)
        m.session.sealed = sealed
        m.route = .printing
    }
    add("done") { m in
        applying(&m)
        m.session.sealed = sealed
        m.route = .done(receiptOK: true, problem: nil)
    }
    add("done, no receipt") { m in
        applying(&m)
        m.session.sealed = sealed
        m.route = .done(receiptOK: false, problem: "回执打印机缺纸")
    }
    add("evaluate") { m in m.route = .evaluate }
    add("evaluation reason") { m in m.route = .evaluationReason(level: 2) }
    add("thanks") { m in m.route = .thanks }
    add("progress, none") { m in
        m.session.identity = card
        m.session.progressLoaded = true
        m.route = .progressList
    }
    let items = catalog.items(level: .village)
    add("progress, six", items.prefix(6).map(\.name)) { m in
        m.session.identity = card
        m.session.progressLoaded = true
        m.session.progress = items.prefix(6).map {
            SubmissionSummary(
                id: $0.code, caseNumber: "GH202611050002", itemCode: $0.code, itemName: $0.name,
                sealedAt: Date(timeIntervalSince1970: 1_795_000_000), state: .uploaded,
                upstreamState: .inReview, attempts: 1, lastError: nil)
        }
        m.route = .progressList
    }
    add("pickup, none") { m in
        m.session.identity = card
        m.session.certificatesLoaded = true
        m.route = .pickupList
    }
    add("pickup, two", [certificate("s1").itemName]) { m in
        m.session.identity = card
        m.session.certificatesLoaded = true
        m.session.certificates = [certificate("s1"), certificate("s2")]
        m.route = .pickupList
    }
    add("message", []) { m in
        m.route = .phone
        m.message = m.L("手机号码应为11位数字，以1开头，请检查后重新输入")
    }
    add("countdown") { m in
        m.route = .phone
        m.lastActivity = m.now.addingTimeInterval(-Double(m.idleTimeout - 5))
    }
    return out
}

func isCJK(_ u: Unicode.Scalar) -> Bool {
    (0x4E00...0x9FFF).contains(u.value) || (0x3000...0x303F).contains(u.value) || (0xFF00...0xFFEF).contains(u.value)
}

@Suite struct LargeModeTests {
    /// 适老化: every screen fits 80×24 with nothing cut, at most six numbered options, one per
    /// line, and no line broken inside a word (a full line ending in a letter or character that
    /// the next line continues, where no space or punctuation allowed a break).
    @Test(arguments: Language.allCases) func everyScreenFits80x24WithoutBrokenWords(_ language: Language) throws {
        let catalog = try loadCatalog()
        for (name, m, _) in everyResidentScreen(catalog, large: true, language: language) {
            let body = m.route.screen.body(m, width: 80)
            #expect(body.lines.count <= 24 - 8, "\(name): \(body.lines.count) body lines do not fit")
            let f = m.frame(width: 80, height: 24)
            #expect(f.rows.count == 24, "\(name)")
            for r in f.rows { #expect(DisplayWidth.of(r.text) <= 80, "\(name): row wider than 80: \(r.text)") }
            let optionRows = body.lines.filter { $0.text.range(of: "^  [0-9]  ", options: .regularExpression) != nil }
            #expect(optionRows.count <= 6, "\(name): \(optionRows.count) options")
            // One option per line, with a blank line between options (line spacing).
            let idx = body.lines.indices.filter {
                body.lines[$0].text.range(of: "^  [0-9]  ", options: .regularExpression) != nil
            }
            for (a, b) in zip(idx, idx.dropFirst()) { #expect(b - a >= 2, "\(name): options not spaced") }
            // No line cut off with an ellipsis except data (item names in lists are data).
            for (a, b) in zip(body.lines, body.lines.dropFirst()) {
                let ta = a.text
                let tb = b.text.trimmingCharacters(in: .whitespaces)
                guard DisplayWidth.of(ta) >= 78, let last = ta.unicodeScalars.last, let first = tb.unicodeScalars.first
                else { continue }
                let letterOrIdeograph: (Unicode.Scalar) -> Bool = {
                    ($0.properties.isAlphabetic || (0x4E00...0x9FFF).contains($0.value)) && !isCJKPunct($0)
                }
                if letterOrIdeograph(last) && letterOrIdeograph(first) && !(last.isASCII && first.isASCII) {
                    Issue.record("\(name): a word is broken across lines:\n\(ta)\n\(b.text)")
                }
            }
        }
    }

    @Test func largeModeIsSwitchableFromHomeAndGivesMoreTime() throws {
        var d = Driver(catalog: try loadCatalog(), idle: 60)
        #expect(!d.m.largeMode)
        d.keys(.digit(6))
        #expect(d.m.largeMode)
        #expect(d.screen.contains("标准模式"))
        d.keys(.digit(1))
        #expect(d.screen.contains("第 1/2 页"))  // categories paged, five at a time
        d.keys(.digit(9))
        #expect(d.screen.contains("第 2/2 页"))
        d.advance(61)
        #expect(d.m.route != .home)  // twice the idle time in large mode
        d.advance(60)
        #expect(d.m.route == .home)
        #expect(!d.m.largeMode)  // the next resident starts with the default
        // The default comes from the config.
        let m = FlowMachine(
            catalog: try loadCatalog(),
            settings: FlowSettings(stationName: "x", largeMode: true, largeIdleTimeoutSeconds: 300))
        #expect(m.largeMode)
        #expect(m.idleTimeout == 300)
    }
}

func isCJKPunct(_ u: Unicode.Scalar) -> Bool {
    (0x3000...0x303F).contains(u.value) || (0xFF00...0xFF0F).contains(u.value) || (0xFF1A...0xFF20).contains(u.value)
        || "，。；：、）（！？".unicodeScalars.contains(u)
}

@Suite struct StringTableTests {
    static let sources = root.appendingPathComponent("Sources")

    static func swiftFiles(_ dir: String) -> [String] {
        let base = sources.appendingPathComponent(dir).path
        let e = FileManager.default.enumerator(atPath: base)
        return (e?.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".swift") }.map { base + "/" + $0 }
    }

    static func literals(_ pattern: String, in files: [String]) throws -> Set<String> {
        let re = try NSRegularExpression(pattern: pattern)
        var out = Set<String>()
        for f in files {
            let s = try String(contentsOfFile: f, encoding: .utf8)
            for m in re.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
                if let r = Range(m.range(at: 1), in: s) {
                    out.insert(String(s[r]).replacingOccurrences(of: "\\\"", with: "\""))
                }
            }
        }
        return out
    }

    static func placeholders(_ s: String) -> [String] {
        let re = try! NSRegularExpression(pattern: "\\{[0-9]\\}")
        return re.matches(in: s, range: NSRange(s.startIndex..., in: s)).compactMap {
            Range($0.range, in: s).map { String(s[$0]) }
        }.sorted()
    }

    @Test func everyTextTheFlowShowsIsInTheTableInBothLanguages() throws {
        let keys = try Self.literals(#"\bL\("((?:[^"\\]|\\.)*)""#, in: Self.swiftFiles("KioskFlow"))
        #expect(keys.count > 150)
        for k in keys.sorted() {
            guard let en = Strings.english[k] else {
                Issue.record("not in the string table: \(k)")
                continue
            }
            #expect(!en.isEmpty, "empty English for \(k)")
            #expect(!en.unicodeScalars.contains(where: isCJK), "English of \(k) has Chinese in it: \(en)")
            #expect(Self.placeholders(k) == Self.placeholders(en), "placeholders differ: \(k) / \(en)")
        }
        for (k, en) in Strings.english {
            #expect(k.unicodeScalars.contains(where: isCJK), "key is not Chinese: \(k)")
            #expect(Self.placeholders(k) == Self.placeholders(en), "placeholders differ: \(k) / \(en)")
        }
    }

    /// What the device layers and the runtime tell residents is in the table too.
    @Test func everyDeviceAndRuntimeMessageForResidentsIsInTheTable() throws {
        var messages = try Self.literals(#"resident: "([^"\\]+)""#, in: Self.swiftFiles("."))
        messages.formUnion(try Self.literals(#"post\(\.\w+\("([^"\\]+)"\)\)"#, in: Self.swiftFiles("KioskApp")))
        messages.formUnion(
            try Self.literals(#"return \((?:false|true), "([^"\\]+)"\)"#, in: Self.swiftFiles("KioskApp")))
        // The residentMessage properties (camera quality, SAM status, ID numbers, A4 jobs): their
        // Chinese literals (technician texts are English with at most a Chinese term in brackets).
        let files = [
            "KioskDevices/Camera/CaptureQuality.swift", "KioskProtocols/IDCard/SAMStatus.swift",
            "KioskProtocols/IDCard/IDNumber.swift", "KioskDevices/A4/A4Printer.swift",
        ].map { Self.sources.appendingPathComponent($0).path }
        for l in try Self.literals(#""([^"\\\n]+)""#, in: files)
        where l.unicodeScalars.contains(where: isCJK)
            && l.unicodeScalars.filter({ $0.isASCII && $0.properties.isAlphabetic }).count <= 2
        {
            messages.insert(l)
        }
        messages.insert(DiskFloorError.residentMessage)
        for k in DeviceKind.allCases { messages.insert(k.chinese) }
        for l in EvaluationLevel.allCases { messages.insert(l.chinese) }
        for r in evaluationReasons { messages.insert(r) }
        for c in try loadCatalog().items.map(\.category) { messages.insert(c) }
        #expect(messages.count > 40)
        for m in messages.sorted() where m.unicodeScalars.contains(where: isCJK) {
            #expect(Strings.english[m] != nil, "resident message not in the string table: \(m)")
        }
    }

    /// English screens show no Chinese except the published data (item names, guides, the station).
    @Test func everyScreenInEnglishIsEnglishApartFromData() throws {
        let catalog = try loadCatalog()
        for large in [false, true] {
            for (name, m, data) in everyResidentScreen(catalog, large: large, language: .en) {
                let corpus = data.joined(separator: "\n") + "\n中文"
                for r in m.frame(width: 80, height: 24).rows {
                    var run = ""
                    for u in (r.text + " ").unicodeScalars {
                        if isCJK(u) {
                            run.unicodeScalars.append(u)
                            continue
                        }
                        if !run.isEmpty {
                            let core = run.trimmingCharacters(in: CharacterSet(charactersIn: "（）：，。、…"))
                            if !core.isEmpty && !corpus.contains(core) {
                                Issue.record("\(name): Chinese on an English screen: \(run) in \(r.text)")
                            }
                            run = ""
                        }
                    }
                }
            }
        }
    }

    @Test func languageSwitchesOnEveryScreenAndTheNextResidentGetsTheDefault() throws {
        var d = Driver(catalog: try loadCatalog())
        #expect(d.screen.contains("L English"))
        d.keys(.char("l"))
        #expect(d.screen.contains("Welcome"))
        #expect(d.screen.contains("L 中文"))
        d.keys(.digit(1))
        #expect(d.screen.contains("choose a category"))
        d.keys(.function(2))
        #expect(d.screen.contains("请选择类别"))
        d.keys(.char("L"))
        d.keys(.digit(1), .digit(1), .digit(2))
        #expect(d.screen.contains("Place your ID card"))
        d.keys(.digit(0))
        #expect(d.m.route == .home)
        #expect(d.m.language == .zh)
        // Tapping the controls on the hint row works like the keys.
        let f = d.m.frame(width: 80, height: 24)
        let hintRow = f.rows[f.rows.count - 2].text
        let col = DisplayWidth.of(String(hintRow[..<hintRow.range(of: "L English")!.lowerBound])) + 2
        #expect(f.key(atColumn: col, row: f.rows.count - 1) == .char("l"))
        let hcol = DisplayWidth.of(String(hintRow[..<hintRow.range(of: "H 求助")!.lowerBound])) + 1
        #expect(f.key(atColumn: hcol, row: f.rows.count - 1) == .char("h"))
    }
}

@Suite struct HelpAndVoiceTests {
    @Test func callStaffFromAnyScreenRecordsItAndComesBackUntouched() throws {
        var d = Driver(catalog: try loadCatalog())
        d.keys(.digit(1), .digit(1), .digit(1), .digit(2))
        d.send(.cardRead(card))
        d.keys(.enter)
        guard d.m.route.is(PhotoScreen.self) else {
            Issue.record("not at the photo step")
            return
        }
        d.keys(.char("h"))
        #expect(d.m.route == .help)
        #expect(d.effects.contains(.callStaff(screen: "photo")))
        // "Staff were told" only once the upstream acknowledged the call (issue 24).
        #expect(d.screen.contains("正在通知工作人员"))
        d.send(.afterService(.helpDelivered(true)))
        #expect(d.screen.contains("已通知工作人员"))
        #expect(d.screen.contains("请到服务大厅的窗口找工作人员"))
        d.keys(.digit(0))
        guard d.m.route.is(PhotoScreen.self) else {
            Issue.record("help did not return to the photo step")
            return
        }
        #expect(d.m.session.identity != nil)
        // From home, 5 is the numbered option.
        d.keys(.escape, .escape)
        d.send(.tick(d.t))
        var h = Driver(catalog: try loadCatalog())
        h.keys(.digit(5))
        #expect(h.m.route == .help)
        #expect(h.effects.last == .callStaff(screen: "home"))
        // Staff see the request when they sign in, and acknowledge it.
        h.keys(.digit(0))
        h.signIn(windowStaff)
        h.send(.helpPending(count: 1, last: h.t))
        #expect(h.screen.contains("居民求助 1 次未处理"))
        h.keys(.digit(6))
        #expect(
            h.effects.contains(.audit(actor: "S001", action: "help.acknowledged", subject: nil, detail: "1 request(s)"))
        )
    }

    @Test func errorsSayWhatToDoInWordsNotByColourAlone() throws {
        var d = Driver(catalog: try loadCatalog())
        d.send(.devices([DeviceStatus(kind: .idCardReader, state: .powerOff, model: "sim", simulated: true)]))
        d.keys(.digit(3))
        let f = d.m.frame(width: 80, height: 24)
        let alert = try #require(f.rows.last)
        #expect(alert.style == .alert)
        #expect(alert.text.hasPrefix("【提示】"))  // a text marker, not only the colour
        #expect(alert.text.contains("请到窗口查询进度"))  // and the next step in words
        d.keys(.char("l"), .digit(3))
        #expect(d.m.frame(width: 80, height: 24).rows.last?.text.hasPrefix("[!] ") == true)
        // Every resident message in the table tells the resident what to do, or what is going on.
        for (zh, en) in Strings.english where zh.contains("，请") || zh.contains("。请") {
            let verbs = [
                "please", "press", "ask", "try", "retake", "keep", "put", "lay", "avoid", "collect", "staff", "place",
                "use", "check", "go ",
            ]
            #expect(verbs.contains { en.lowercased().contains($0) }, "\(zh) → \(en) does not say what to do")
        }
    }

    @Test func voicePromptsAnnounceEachScreenAndEachErrorOnce() throws {
        var d = Driver(catalog: try loadCatalog())
        d.m.settings.voicePrompts = true
        d.keys(.digit(1))
        #expect(d.effects.last == .speak("镇级事项：请选择类别", .zh))
        d.effects = []
        d.keys(.backspace)  // does nothing here: nothing changes, nothing is said
        d.advance(1)
        #expect(
            !d.effects.contains {
                if case .speak = $0 { return true }
                return false
            })
        d.keys(.char("l"))
        #expect(d.effects.last == .speak("Town services: choose a category", .en))
        d.keys(.digit(0))
        d.send(.devices([DeviceStatus(kind: .idCardReader, state: .powerOff, model: "sim", simulated: true)]))
        d.keys(.char("l"), .char("l"))
        d.keys(.digit(3))
        #expect(
            d.effects.last
                == .speak("The ID card reader is not available. Please ask at the service window about progress.", .en))
    }

    /// espeak-ng writes each prompt to a WAV file; speaking returns at once.
    @Test func espeakNGWritesMandarinAndEnglishAudio() throws {
        let dir = NSTemporaryDirectory() + "voice-" + UUID().uuidString
        var c = KioskConfig.Voice()
        c.enabled = true
        c.outputDirectory = dir
        c.rate = 160
        c.volume = 80
        let v = VoicePrompter(c, resolve: { $0 }, logger: .init(label: "test"))
        let started = Date()
        let zh = try #require(v.speak("请将身份证平放在读卡区域", language: .zh))
        #expect(Date().timeIntervalSince(started) < 2)  // not waiting for the speech
        v.wait()
        let en = try #require(v.speak("Place your ID card on the reader", language: .en))
        v.wait()
        for file in [zh, en] {
            let wav = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(wav.prefix(4) == Data("RIFF".utf8))
            #expect(wav.dropFirst(8).prefix(4) == Data("WAVE".utf8))
            #expect(wav.count > 20_000, "\(file) is \(wav.count) bytes: too short to be speech")
        }
    }
}
