import Foundation
import KioskCore
import KioskProtocols

/// Categories of one level (镇级 / 村级), paged.
struct CategoriesScreen: Screen {
    var level: ItemLevel
    var name: String { "categories" }

    func pager(_ m: FlowMachine) -> Pager {
        Pager(count: m.catalog.categories(level: level).count, perPage: m.categoriesPerPage, page: m.categoryPage)
    }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let cats = m.catalog.categories(level: level)
        let p = pager(m)
        var b = ScreenBody(title: m.L("{1}：请选择类别", m.levelName(level)))
        b.options = p.slice(cats).enumerated().map { i, c in
            ScreenOption(.digit(i + 1), m.L("{1}（{2}项）", m.L(c), m.catalog.items(level: level, category: c).count)) {
                [level] _ in
                .go(.items(level, category: c, page: 0))
            }
        }
        b.lines = m.optionLines(b.options, width: w)
        if p.pages > 1 {
            b.lines.append(ScreenLine(""))
            b.lines.append(ScreenLine("  " + m.L("第 {1}/{2} 页", p.page + 1, p.pages), .dim))
            b.hints = m.hints(m.L("数字键选择   7 上一页   9 下一页   0 返回首页"), nil, .digit(7), .digit(9), .digit(0))
        } else {
            b.hints = m.hints(m.L("数字键选择   0 返回首页"), nil, .digit(0))
        }
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        let p = pager(m)
        switch k {
        case .digit(9), .pageDown, .down:
            if p.hasNext { m.categoryPage = p.page + 1 }
            return .stay
        case .digit(7), .pageUp, .up:
            if p.hasPrevious { m.categoryPage = p.page - 1 }
            return .stay
        case .digit(0), .escape:
            return .go(m.staff != nil ? .staffMenu : .home)
        default:
            return choose(k, &m)
        }
    }
}

/// The items of one category, paged.
struct ItemsScreen: Screen {
    var level: ItemLevel
    var category: String
    var page: Int
    var name: String { "items" }

    func pager(_ m: FlowMachine) -> Pager {
        Pager(count: m.catalog.items(level: level, category: category).count, perPage: m.pageSize, page: page)
    }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        let items = m.catalog.items(level: level, category: category)
        let p = pager(m)
        var b = ScreenBody(title: "\(m.levelName(level)) > \(m.L(category))")
        b.options = p.slice(items).enumerated().map { i, item in
            ScreenOption(.digit(i + 1), m.catalog.distinctName(item, codeOnly: m.language == .en)) { m in
                m.session.item = item
                return .go(.guide(code: item.code, page: 0))
            }
        }
        b.lines = m.optionLines(b.options, width: w)
        b.lines.append(ScreenLine(""))
        b.lines.append(ScreenLine("  " + m.L("第 {1}/{2} 页，共 {3} 项", p.page + 1, p.pages, items.count), .dim))
        b.hints = m.hints(
            m.L("1-{1} 选择事项   7 上一页   9 下一页   0 返回", b.options.count), nil, .digit(7), .digit(9), .digit(0))
        return b
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        let p = pager(m)
        switch k {
        case .digit(9), .pageDown, .down:
            return p.hasNext ? .page(.items(level, category: category, page: p.page + 1)) : .stay
        case .digit(7), .pageUp, .up:
            return p.hasPrevious ? .page(.items(level, category: category, page: p.page - 1)) : .stay
        case .digit(0), .escape:
            return .go(.categories(level))  // keeps the category page
        default:
            return choose(k, &m)
        }
    }
}

/// One item's guide (办事指南), paged; prints the 一次性告知单 and starts an application.
struct GuideScreen: Screen {
    var code: String
    var page: Int
    var name: String { "guide " + code }

    func body(_ m: FlowMachine, width w: Int) -> ScreenBody {
        guard let item = m.catalog.item(code: code) else {
            return ScreenBody(title: m.L("事项不存在"), hints: m.hints(m.L("0 返回"), .digit(0)))
        }
        let trouble = m.deviceTrouble(.receiptPrinter).map {
            m.wrapped($0 + m.L("告知单和回执暂不能打印。"), w).map { ScreenLine($0.text, .alert) }
        }
        let pages = m.guidePages(item, width: w, reserve: trouble?.count ?? 0)
        let p = min(max(0, page), pages.count - 1)
        var lines = pages[p].lines
        var hints =
            m.largeMode
            ? m.hints(m.L("1 告知单  2 申办  8 评价  9 下页  0 返回"), .digit(1), .digit(2), .digit(8), .digit(9), .digit(0))
            : m.hints(
                m.L("1 打印一次性告知单  2 我要申办  7/9 翻页  8 评价  0 返回"), .digit(1), .digit(2), nil, .digit(8), .digit(0))
        if item.isConsultation {
            hints =
                m.largeMode
                ? m.hints(m.L("1 告知单  8 评价  9 下页  0 返回"), .digit(1), .digit(8), .digit(9), .digit(0))
                : m.hints(m.L("1 打印一次性告知单  7/9 翻页  8 评价  0 返回"), .digit(1), nil, .digit(8), .digit(0))
        }
        if pages[p].qrCode {
            return ScreenBody(
                title: m.L("第 {1}/{2} 页  手机扫码网上办理：{3}", p + 1, pages.count, item.name), lines: lines,
                hints: hints)
        }
        if let trouble { lines.insert(contentsOf: trouble, at: 0) }
        return ScreenBody(
            title: m.L("办事指南：{1}", m.catalog.distinctName(item, codeOnly: m.language == .en)), lines: lines,
            hints: hints)
    }

    func handle(_ k: Key, _ m: inout FlowMachine) -> Transition {
        guard let item = m.catalog.item(code: code) else { return .go(m.staff != nil ? .staffMenu : .home) }
        switch k {
        case .digit(1):
            guard !m.session.printingNotice else { return .stay }
            if m.receiptPrinterReady {
                m.session.printingNotice = true
                m.message = m.L("正在打印一次性告知单……")
                m.emit(.printNotice(m.noticeDocument(for: item)))
            } else {
                m.message = m.L("回执打印机暂不可用（{1}），请到窗口索取告知单", m.printerProblem)
            }
            return .stay
        case .digit(2):
            if item.isConsultation {
                m.message = m.L("本事项为咨询服务，无需申办，请拨打咨询电话或到窗口咨询。")
                return .stay
            }
            return m.startApplication(code: item.code)
        case .digit(8):
            // 好差评 of the guide (voluntary).
            return m.offerEvaluation(EvaluationSubject(service: "guide", caseNumber: nil, itemCode: item.code))
        case .digit(9), .pageDown, .down:
            let last = m.guidePages(item, width: 80).count - 1
            return .page(.guide(code: code, page: min(page + 1, last)))
        case .digit(7), .pageUp, .up:
            return .page(.guide(code: code, page: max(0, page - 1)))
        case .digit(0), .escape:
            return .go(.items(item.level, category: item.category, page: 0))
        default:
            return .ignored
        }
    }
}

/// One page of the guide screen: text (ending with its page line), or the QR code of the online address.
struct GuidePage: Equatable {
    var lines: [ScreenLine]
    var qrCode: Bool
}

extension Route {
    public static func categories(_ level: ItemLevel) -> Route { Route(CategoriesScreen(level: level)) }
    public static func items(_ level: ItemLevel, category: String, page: Int) -> Route {
        Route(ItemsScreen(level: level, category: category, page: page))
    }
    public static func guide(code: String, page: Int) -> Route { Route(GuideScreen(code: code, page: page)) }
}
