import Foundation
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

/// The screens on the kiosk's display: rules in box drawing, and large mode laid out for the
/// smaller grid a larger font leaves (DisplayGeometry's large plan: 55×16 on 1280×720, 53×15 on
/// 1920×1080) with every option on screen and tappable.
@Suite struct DisplayLayoutTests {
    @Test func rulesAreBoxDrawingNotDashes() throws {
        let catalog = try loadCatalog()
        for large in [false, true] {
            for (name, m, _) in everyResidentScreen(catalog, large: large, language: .zh) {
                let rows = m.frame(width: 80, height: 24).rows.map(\.text)
                #expect(rows.contains(String(repeating: large ? "═" : "─", count: 80)), "\(name)")
                for r in rows where r.count > 8 {
                    #expect(!r.contains("--------") && !r.contains("========"), "\(name): ASCII rule: \(r)")
                }
            }
        }
    }

    static let largeGrids: [(Int, Int)] = [(1280, 720), (1920, 1080), (1366, 768)].map { w, h in
        let p = DisplayGeometry(panelWidth: w, panelHeight: h).plan(large: true)
        return (p.columns, p.rows)
    }

    @Test(arguments: largeGrids)
    func everyLargeScreenFitsTheLargeGridWithEveryOptionTappable(_ columns: Int, _ rows: Int) throws {
        let catalog = try loadCatalog()
        for language in Language.allCases {
            for (name, m, _) in everyResidentScreen(catalog, large: true, language: language) {
                let f = m.frame(width: columns, height: rows)
                #expect(f.rows.count == rows, "\(name)")
                for r in f.rows {
                    #expect(DisplayWidth.of(r.text) <= columns, "\(name): row wider than \(columns): \(r.text)")
                }
                // Every option the screen offers is drawn, and a tap on its row chooses it.
                let body = m.route.screen.body(m, width: columns)
                let tappable = Set(f.rows.flatMap(\.targets).map { "\($0.key)" })
                for o in body.options {
                    #expect(
                        tappable.contains("\(o.key)"),
                        "\(name) at \(columns)×\(rows): option \(o.keyLabel) \(o.label) not on screen")
                }
                // Nothing of the body is cut: every word of every body line is on screen, in order
                // (a line wider than the grid is wrapped).
                func words(_ t: String) -> String { t.filter { !$0.isWhitespace } }
                let shown = words(f.rows.map(\.text).joined(separator: " "))
                for l in body.lines where !l.text.trimmingCharacters(in: .whitespaces).isEmpty {
                    #expect(shown.contains(words(l.text)), "\(name) at \(columns)×\(rows): body line cut: \(l.text)")
                }
                // An alert is never cut on the large grid.
                if let alert = m.message.map({ m.L("【提示】") + $0 }), m.countdown == nil {
                    #expect(shown.contains(words(alert)), "\(name): alert cut: \(alert)")
                }
                // Help and the language switch are still there.
                #expect(f.rows.contains { $0.targets.contains { $0.key == .char("h") } }, "\(name)")
            }
        }
    }

    @Test func largeHomeAtTheLargeGridTapsChooseTheOptionUnderTheFinger() throws {
        var m = FlowMachine(catalog: try loadCatalog(), settings: FlowSettings(stationName: "测试便民服务中心"))
        m.largeMode = true
        let f = m.frame(width: 55, height: 16)
        guard let row = f.rows.firstIndex(where: { $0.text.contains("1  镇级事项") }) else {
            Issue.record("no option 1 on the large home screen:\n\(f.plainText)")
            return
        }
        #expect(f.key(atColumn: 6, row: row + 1) == .digit(1))
    }
}
