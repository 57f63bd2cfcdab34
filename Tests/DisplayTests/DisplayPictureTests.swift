import Foundation
import KioskProtocols
import KioskTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The resident screen as residents see it: the real kioskd through the shipped display stack
/// (cage headless + foot + kiosk-screen), photographed with grim and read back with tesseract.
/// Needs root (a throwaway user for cage, TIOCSTI for the tap); CI runs as root.
@Suite(.serialized, .enabled(if: getuid() == 0, "needs root: useradd for cage's user, TIOCSTI for the tap"))
struct DisplayPictureTests {
    static let docs = packageRoot.appendingPathComponent("docs/screens").path

    /// Copies a PNG screenshot into docs/screens (KIOSK_SCREENSHOTS=1 when refreshing the docs).
    func keep(_ stack: DisplayStack, _ name: String) throws {
        guard ProcessInfo.processInfo.environment["KIOSK_SCREENSHOTS"] == "1" else { return }
        try FileManager.default.createDirectory(atPath: Self.docs, withIntermediateDirectories: true)
        try stack.screenshot(Self.docs + "/\(name).png", png: true)
    }

    /// The row height in the picture: options 1 and 6 stand on consecutive rows (normal mode, and
    /// large mode once the small grid drops the blank lines), so the distance between the tops of
    /// their OCR boxes is five rows; snapped to the whole number of rows that fills the output.
    func rowHeight(_ lines: [OCRLine], first: String, last: String, height: Int) throws -> Int {
        guard let a = lines.first(where: { $0.text.contains(first) }),
            let b = lines.first(where: { $0.text.contains(last) })
        else { throw DisplayError(description: "no \(first) / \(last) line: \(lines.map(\.text))") }
        let pitch = Double(b.top - a.top) / 5
        let rows = Int((Double(height) / pitch).rounded())
        print("display: OCR row pitch \(pitch) px → \(rows) rows of \(height / max(1, rows)) px")
        return height / max(1, rows)
    }

    @Test func homeScreenInChineseLargeModeTallerAndATapChooses() throws {
        for tool in ["/usr/bin/cage", "/usr/bin/foot", "/usr/bin/grim", "/usr/bin/tesseract"] {
            #expect(
                FileManager.default.isExecutableFile(atPath: tool), "\(tool) missing: scripts/deps.sh test installs it")
        }
        let stack = try DisplayStack(name: "home")
        defer { stack.stop() }
        try stack.station.intake.start()
        try stack.startKioskd()
        try stack.startDisplay()

        // 1. The home screen: title and options read back from the picture.
        let (home, homeLines, _) = try stack.waitForText(["首页", "镇级事项", "村级事项", "进度查询"], name: "home")
        #expect(home.width == DisplayStack.panel.width && home.height == DisplayStack.panel.height)
        let homeText = homeLines.map(\.text).joined(separator: "\n")
        for option in ["证照领取", "呼叫工作人员", "大字模式"] {
            #expect(homeText.contains(option), "OCR did not find \(option) on the home screen:\n\(homeText)")
        }
        // The grid fills the panel: 24 rows of 30 px on 720 (the inverse station bar is one row).
        #expect(home.topBarHeight() == DisplayStack.panel.height / 24, "station row \(home.topBarHeight()) px")
        let normalRow = try rowHeight(homeLines, first: "镇级事项", last: "大字模式", height: home.height)
        try keep(stack, "home")

        // 2. A tap at the pixel position of "6 大字模式" (found by OCR) switches large mode: the same
        // bytes foot sends for a pointer press there, into kiosk-screen's terminal.
        guard let six = homeLines.first(where: { $0.text.contains("大字模式") }) else {
            Issue.record("no 大字模式 line in:\n\(homeText)")
            return
        }
        let g = DisplayGeometry(panelWidth: DisplayStack.panel.width, panelHeight: DisplayStack.panel.height)
        let normal = g.plan(large: false)
        try stack.tap(
            x: six.left + six.width / 2, y: six.top + six.height / 2, cellWidth: normal.cellWidth,
            cellHeight: normal.cellHeight)
        let (large, largeLines, _) = try stack.waitForText(["镇级事项", "标准模式"], name: "large")
        let largeRow = try rowHeight(largeLines, first: "镇级事项", last: "标准模式", height: large.height)
        #expect(
            Double(largeRow) >= 1.5 * Double(normalRow),
            "large-mode rows \(largeRow) px are not 1.5× the normal \(normalRow) px")
        let median: ([Int]) -> Double = { h in
            let s = h.sorted()
            return s.isEmpty ? 0 : Double(s[s.count / 2])
        }
        let normalGlyph = median(homeLines.flatMap(\.glyphHeights))
        let largeGlyph = median(largeLines.flatMap(\.glyphHeights))
        print("display: rows \(normalRow) → \(largeRow) px; CJK glyph boxes (median) \(normalGlyph) → \(largeGlyph) px")
        #expect(largeGlyph >= 1.4 * normalGlyph, "glyphs \(normalGlyph) → \(largeGlyph) px")
        try keep(stack, "home-large")

        // 3. In large mode, a tap on "1 镇级事项" opens the town categories.
        guard let one = largeLines.first(where: { $0.text.contains("镇级事项") }) else {
            Issue.record("no 镇级事项 line in large mode")
            return
        }
        let big = g.plan(large: true)
        try stack.tap(
            x: one.left + one.width / 2, y: one.top + one.height / 2, cellWidth: big.cellWidth,
            cellHeight: big.cellHeight)
        _ = try stack.waitForText(["请选择类别"], name: "categories-large")
        try keep(stack, "categories-large")
    }

    /// Seconds until the screenshot shows the screen again (the inverse station row is back).
    func secondsUntilDrawn(_ stack: DisplayStack, limit: Double = 10) throws -> Double {
        let t0 = Date()
        let path = stack.station.dir + "/redraw.ppm"
        while Date().timeIntervalSince(t0) < limit {
            try stack.screenshot(path)
            if try Picture(ppm: path).topBarHeight() == DisplayStack.panel.height / 24 {
                return Date().timeIntervalSince(t0)
            }
            usleep(20_000)
        }
        throw DisplayError(
            description: "the screen was not drawn again within \(limit) s\n\(stack.displayLog.suffix(1500))")
    }

    /// Either side restarts: kioskd (the display says it is connecting, then redraws once kioskd's
    /// socket is back), and the display (foot and kiosk-screen attach ended: the session starts
    /// them again), each redrawn within 1 s, the resident's screen as it was.
    @Test func bothSidesRestartAndTheScreenIsBackWithinASecond() throws {
        let stack = try DisplayStack(name: "restart")
        defer { stack.stop() }
        try stack.station.intake.start()
        try stack.startKioskd()
        try stack.startDisplay()
        _ = try stack.waitForText(["首页", "镇级事项"], name: "home")

        stack.stopKioskd()
        try waitUntil(10, "the display to lose kioskd") {
            let p = stack.station.dir + "/gone.ppm"
            try stack.screenshot(p)
            return try Picture(ppm: p).topBarHeight() == 0
        }
        try stack.startKioskd()  // returns once the socket is there
        let afterKioskd = try secondsUntilDrawn(stack)
        print("display: kioskd restart → drawn again \(Int(afterKioskd * 1000)) ms after its socket appeared")
        #expect(afterKioskd < 1.0)

        guard let attach = stack.attachPID() else {
            Issue.record("kiosk-screen attach not found")
            return
        }
        // The terminal's program dies: foot ends, the session starts both again. Timed from the
        // kill, counted only once a new kiosk-screen attach runs and the screen is drawn.
        let killedAt = Date()
        kill(attach, SIGKILL)
        try waitUntil(5, "a new kiosk-screen attach", every: 0.01) {
            stack.attachPID().map { $0 != attach } ?? false
        }
        _ = try secondsUntilDrawn(stack)
        let afterDisplay = Date().timeIntervalSince(killedAt)
        print("display: display restart → drawn again in \(Int(afterDisplay * 1000)) ms")
        #expect(afterDisplay < 1.0)
        _ = try stack.waitForText(["首页", "镇级事项"], name: "home-again")
    }

    @Test func screensOfAnApplicationInChinese() throws {
        let stack = try DisplayStack(name: "apply")
        defer { stack.stop() }
        try stack.station.intake.start()
        try stack.startKioskd()
        try stack.startDisplay()
        _ = try stack.waitForText(["首页", "镇级事项"], name: "home")
        let g = DisplayGeometry(panelWidth: DisplayStack.panel.width, panelHeight: DisplayStack.panel.height)
        let p = g.plan(large: false)
        // Keys typed on the display's keyboard travel the same way as taps: into foot's terminal.
        func type(_ s: String) throws {
            guard let tty = stack.attachTTY() else {
                throw DisplayError(description: "kiosk-screen attach not running")
            }
            let fd = open(tty, O_RDWR | O_NOCTTY)
            defer { close(fd) }
            for byte in Array(s.utf8) {
                var b = CChar(bitPattern: byte)
                _ = ioctl(fd, UInt(TIOCSTI), &b)
            }
        }
        _ = p
        try type("1")
        _ = try stack.waitForText(["请选择类别"], name: "categories")
        try keep(stack, "categories")
        try type("1")
        _ = try stack.waitForText(["第1/"], name: "items")
        try keep(stack, "items")
        try type("1")
        _ = try stack.waitForText(["办事指南"], name: "guide")
        try keep(stack, "guide")
    }
}
