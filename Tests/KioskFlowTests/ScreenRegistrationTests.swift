import Foundation
import KioskCore
import KioskProtocols
import Testing
@testable import KioskFlow

/// A screen added in one place: this type is all there is (no enum case, no switch elsewhere).
struct NoticeBoardScreen: Screen {
    var notice: String
    var name: String { "notice-board" }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        var b = ScreenBody(
            title: "公告栏", lines: m.wrapped(notice, w), hints: m.hints("1 知道了  0 返回首页", .digit(1), .digit(0)))
        b.lines.append(ScreenLine(""))
        b.options = [ScreenOption(.digit(1), "知道了，继续浏览") { _ in .go(.categories(.town)) }]
        b.lines += m.optionLines(b.options, width: w)
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        k == .digit(0) ? .go(.home) : choose(k, &m)
    }
}

@Suite struct ScreenRegistrationTests {
    @Test func aScreenDeclaredInOnePlaceIsDrawnTappedAndTimedOut() throws {
        var d = Driver(catalog: try loadCatalog(), idle: 60)
        d.m.apply(.go(Route(NoticeBoardScreen(notice: "本周六上午系统维护。"))))
        // Drawn.
        #expect(d.screen.contains("公告栏"))
        #expect(d.screen.contains("1  知道了，继续浏览"))
        #expect(d.screen.contains("H 求助"), "a resident screen gets help and language controls")
        // Tapped: the row of the option chooses it.
        let f = d.m.frame(width: 80, height: 24)
        let row = try #require(f.rows.firstIndex { $0.text.contains("知道了，继续浏览") }) + 1
        d.send(.key(try #require(f.key(atColumn: 10, row: row))))
        #expect(d.m.route == .categories(.town))
        // Timed out: back on the board, then idle past the timeout wipes the session.
        d.m.apply(.go(Route(NoticeBoardScreen(notice: "本周六上午系统维护。"))))
        #expect(d.m.route.name == "notice-board")
        d.advance(55)
        #expect(d.m.countdown != nil, "the warning shows before the wipe")
        d.advance(6)
        #expect(d.m.route == .home)
        #expect(d.effects.contains(.wipeTerminal))
    }

    @Test func routesCompareByScreenValue() {
        #expect(Route.guide(code: "A", page: 1) == .guide(code: "A", page: 1))
        #expect(Route.guide(code: "A", page: 1) != .guide(code: "A", page: 2))
        #expect(Route.home != .help)
        #expect(Route(NoticeBoardScreen(notice: "x")) != .home)
    }

    @Test func pagerClampsAndSlices() {
        let p = Pager(count: 23, perPage: 6, page: 99)
        #expect(p.pages == 4)
        #expect(p.page == 3)
        #expect(p.range == 18..<23)
        #expect(!p.hasNext && p.hasPrevious)
        #expect(Pager(count: 0, perPage: 6, page: 0).pages == 1)
        #expect(Pager(count: 0, perPage: 6, page: 0).range.isEmpty)
    }
}
