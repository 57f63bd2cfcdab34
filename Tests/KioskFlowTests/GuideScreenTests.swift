import Foundation
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

/// Every element seed 001 asks a guide to state, as the guide has it (values only).
func guideElementValues(_ g: ServiceGuide, _ item: CatalogItem) -> [(String, String)] {
    var out: [(String, String)] = [("名称", item.name), ("事项类型", item.type)]
    let optional: [(String, String?)] = [
        ("办件类型", g.caseKind), ("设定依据", g.legalBasis), ("受理条件", g.conditions),
        ("法定办结时限", g.legalTimeLimit), ("承诺办结时限", g.promisedTimeLimit), ("收费标准", g.fee),
        ("收费依据", g.feeBasis), ("承办机构", g.implementer), ("承办窗口", g.window), ("办理地点", g.location),
        ("办理时间", g.hours), ("咨询电话", g.consultPhone), ("投诉电话", g.complaintPhone), ("监督方式", g.complaint),
        ("网上办理地址", g.onlineURL), ("白话版", g.plainVersion),
    ]
    for (k, v) in optional {
        if let v { out.append((k, v)) } else { Issue.record("guide \(g.code) lacks \(k)") }
    }
    for m in g.materials { out += [("申报材料", m.name), ("材料要求", m.requirements)] }
    for s in g.process { out.append(("办理流程", s)) }
    return out
}

func squeezed(_ s: String) -> String { s.filter { !$0.isWhitespace } }

func guideMachine(_ catalog: Catalog, large: Bool, language: Language) -> FlowMachine {
    var m = FlowMachine(
        catalog: catalog,
        settings: FlowSettings(stationName: "测试便民服务中心", simulatedCards: ["测试一"]),
        now: Date(timeIntervalSince1970: 1_795_000_000))
    _ = m.handle(.devices(readyDevices))
    m.largeMode = large
    m.language = language
    return m
}

@Suite struct GuideScreenTests {
    static let bodyRows = 24 - 8  // 80×24: five rows above the body, three below

    /// All of a guide's text pages at 80×24, each checked to fit; returns their text (no page lines).
    func drawnGuideText(_ m: FlowMachine, _ item: CatalogItem) -> (text: String, pages: [GuidePage]) {
        var m = m
        let pages = m.guidePages(item, width: 80)
        var text = ""
        for p in pages.indices {
            m.route = .guide(code: item.code, page: p)
            let body = m.route.screen.body(m, width: 80)
            #expect(body.lines.count <= Self.bodyRows, "\(item.code) page \(p + 1): \(body.lines.count) lines")
            let frame = m.frame(width: 80, height: 24).rows.map(\.text)
            for l in body.lines {
                #expect(DisplayWidth.of(l.text) <= 80, "\(item.code) page \(p + 1): line too wide: \(l.text)")
                #expect(frame.contains(l.text), "\(item.code) page \(p + 1): line not drawn: \(l.text)")
            }
            if !pages[p].qrCode { text += body.lines.dropLast().map(\.text).joined(separator: "\n") + "\n" }
        }
        return (text, pages)
    }

    @Test(arguments: [false, true], [Language.zh, .en])
    func everyElementOfEveryGuideIsDrawnAt80x24(large: Bool, language: Language) throws {
        let catalog = try loadCatalog()
        #expect(catalog.guides.count == 6)
        let labels =
            language == .zh
            ? [
                "事项名称：", "事项类型：", "办件类型：", "设定依据：", "受理条件：", "申请材料：", "要求：", "办理流程：", "法定办结时限：",
                "承诺时限：", "收费标准：", "收费依据：", "承办机构：", "承办窗口：", "办理地点：", "办理时间：", "咨询电话：", "投诉电话：",
                "监督方式：", "网上办理：", "白话版：", "申请书示范文本：",
            ]
            : [
                "Service:", "Type:", "Case kind:", "Legal basis:", "Conditions:", "Documents:", "Requirements:",
                "Steps:",
                "Statutory time limit:", "Time limit:", "Fee:", "Fee basis:", "Handled by:", "Window:", "Where:",
                "Hours:",
                "Help line:", "Complaints phone:", "Supervision:", "Apply online:", "In plain words:",
                "Sample application form:",
            ]
        for (code, g) in catalog.guides.sorted(by: { $0.key < $1.key }) {
            let item = try #require(catalog.item(code: code))
            let m = guideMachine(catalog, large: large, language: language)
            let (text, pages) = drawnGuideText(m, item)
            let flat = squeezed(text)
            for (element, value) in guideElementValues(g, item) {
                #expect(
                    flat.contains(squeezed(value)),
                    "\(code) \(large ? "large" : "normal") \(language): \(element) missing")
            }
            for label in labels {
                #expect(
                    text.contains(label), "\(code) \(large ? "large" : "normal") \(language): label \(label) missing")
            }
            #expect(pages.last?.qrCode == true, "\(code): the online address's QR code is the last page")
            // 白话版 first in large mode; after the name and type otherwise.
            let lines = text.split(separator: "\n").map(String.init)
            let plain = try #require(lines.firstIndex { $0.contains(language == .zh ? "白话版：" : "In plain words:") })
            let name = try #require(lines.firstIndex { $0.contains(language == .zh ? "事项名称：" : "Service:") })
            #expect((plain < name) == large, "\(code): plain version \(large ? "first" : "after the name")")
        }
    }

    @Test func nothingIsCutOnAnyItemsGuideInAnyMode() throws {
        let catalog = try loadCatalog()
        #expect(catalog.items.count == 142)
        for large in [false, true] {
            for language in [Language.zh, .en] {
                let m = guideMachine(catalog, large: large, language: language)
                for item in catalog.items { _ = drawnGuideText(m, item) }
            }
        }
    }

    @Test func pagingReachesTheQRPageAndStopsThere() throws {
        let catalog = try loadCatalog()
        let code = "XY-T-004"
        var m = guideMachine(catalog, large: false, language: .zh)
        let item = try #require(catalog.item(code: code))
        let pages = m.guidePages(item, width: 80)
        m.route = .guide(code: code, page: 0)
        for _ in 0..<(pages.count + 2) { _ = m.handle(.key(.digit(9))) }
        #expect(m.route == .guide(code: code, page: pages.count - 1))
        let screen = m.frame(width: 80, height: 24).plainText
        #expect(screen.contains("手机扫码网上办理"))
        #expect(screen.contains("█"))
    }

    @Test func theNoticeCarriesEveryElementTheSampleTextAndANativeQRCode() throws {
        let catalog = try loadCatalog()
        for (code, g) in catalog.guides {
            let item = try #require(catalog.item(code: code))
            let m = guideMachine(catalog, large: false, language: .zh)
            let doc = m.noticeDocument(for: item)
            let bytes = try ESCPOSEncoder(profile: .mm80).encode(doc)
            // GS ( k: store (fn 180) then print (fn 181) the online address.
            let url = try #require(g.onlineURL)
            let store: [UInt8] =
                [
                    0x1D, 0x28, 0x6B, UInt8((url.utf8.count + 3) & 0xFF), UInt8((url.utf8.count + 3) >> 8), 0x31, 0x50,
                    0x30,
                ]
                + Array(url.utf8)
            #expect(bytes.firstRange(of: store) != nil, "\(code): QR store command")
            #expect(bytes.firstRange(of: [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]) != nil, "\(code): QR print")
            var decoder = ESCPOSDecoder()
            let view = try #require(PrintedReceiptView.split(decoder.feed(bytes)).first)
            #expect(view.qrCodes == [url])
            let printed = squeezed(view.lines.joined())
            for (element, value) in guideElementValues(g, item) {
                #expect(printed.contains(squeezed(value)), "\(code): \(element) not printed")
            }
            let sample = try #require(g.applicationSample)
            #expect(printed.contains("申请书示范文本"))
            for line in sample.split(separator: "\n") {
                #expect(printed.contains(squeezed(String(line))), "\(code): sample text line not printed: \(line)")
            }
        }
    }

    /// The QR page as a terminal would show it, decoded by zbarimg: each cell is one module
    /// wide and two tall; ink of █ ▀ ▄ is light, everything else (blank, text) dark.
    @Test(arguments: [false, true])
    func theHalfBlockQRCodeOnScreenDecodesWithZbarimg(large: Bool) throws {
        let zbar = ["/usr/bin/zbarimg", "/usr/local/bin/zbarimg"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let zbar else {
            Issue.record("zbarimg is not installed: run scripts/deps.sh test (Debian package zbar-tools)")
            return
        }
        let catalog = try loadCatalog()
        for (code, g) in catalog.guides.sorted(by: { $0.key < $1.key }) {
            var m = guideMachine(catalog, large: large, language: .zh)
            let item = try #require(catalog.item(code: code))
            m.route = .guide(code: code, page: m.guidePages(item, width: 80).count - 1)
            let rows = m.frame(width: 80, height: 24).rows.map(\.text)
            let png = NSTemporaryDirectory() + "guide-qr-\(code)-\(UUID().uuidString).pgm"
            try screenImage(rows, columns: 80).write(to: URL(fileURLWithPath: png))
            defer { try? FileManager.default.removeItem(atPath: png) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: zbar)
            p.arguments = ["-q", "--raw", png]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let decoded = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(decoded == g.onlineURL, "\(code): zbarimg read \(decoded.isEmpty ? "nothing" : decoded)")
        }
    }

    @Test func qrCodesOfEveryVersionStayWithinTheirCapacity() throws {
        for n in [1, 14, 15, 40, 100, 200, 271] {
            let qr = try QRCode(bytes: Array(repeating: 0x61, count: n))
            #expect(QRCode.capacity(version: qr.version, errorCorrection: qr.errorCorrection) >= n)
            #expect(qr.size == 17 + 4 * qr.version)
            // Finder patterns: dark corners and centres, light separators.
            for (x, y) in [(0, 0), (qr.size - 7, 0), (0, qr.size - 7)] {
                #expect(qr.isDark(x: x, y: y) && qr.isDark(x: x + 3, y: y + 3) && !qr.isDark(x: x + 1, y: y + 1))
            }
        }
        #expect(throws: QRCodeError.tooLong(bytes: 272, maximum: 271)) {
            try QRCode(bytes: Array(repeating: 0x61, count: 272))
        }
        #expect(throws: QRCodeError.empty) { try QRCode(bytes: []) }
    }
}

/// A binary PGM of the screen: 6 pixels per module, a cell = one module wide, two tall.
func screenImage(_ rows: [String], columns: Int) -> Data {
    let scale = 6
    let w = columns * scale
    let h = rows.count * 2 * scale
    var px = [UInt8](repeating: 0, count: w * h)
    for (r, row) in rows.enumerated() {
        var col = 0
        for ch in row {
            let (top, bottom): (Bool, Bool) =
                switch ch {
                case "█": (true, true)
                case "▀": (true, false)
                case "▄": (false, true)
                default: (false, false)
                }
            let width = DisplayWidth.of(String(ch))
            for (half, light) in [top, bottom].enumerated() where light && col < columns {
                for dy in 0..<scale {
                    let y = (r * 2 + half) * scale + dy
                    for dx in 0..<scale { px[y * w + col * scale + dx] = 255 }
                }
            }
            col += width
        }
    }
    var d = Data("P5\n\(w) \(h)\n255\n".utf8)
    d.append(contentsOf: px)
    return d
}
