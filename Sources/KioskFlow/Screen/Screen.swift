import Foundation
import KioskProtocols

// A screen is one type: it gives its body (title, lines, typed options and hints), handles its keys
// by returning a transition, and declares who it is for and what idling does. Adding a screen is one
// new file with a type conforming to `Screen` (plus its strings in the string table); nothing else
// lists screens. `FlowMachine.apply(_:)` does all the work of leaving one screen for another.

/// Who a screen is for. Resident screens get help (H) and the language switch (L); staff and
/// technician screens are never read aloud and their results never reach residents.
public enum Audience: Sendable, Equatable {
    case resident, staff, technician
}

/// What leaving a screen alone does.
public enum IdlePolicy: Sendable, Equatable {
    /// The countdown warning, then the session is wiped (staff are signed out).
    case timesOut
    /// Never times out: the home screen, and screens that end by themselves (saving, printing).
    case exempt
}

/// What a key did to the flow. `FlowMachine.apply` carries it out.
public enum Transition: Sendable {
    /// Handled; the screen stays (its data may have changed).
    case stay
    /// The key means nothing here.
    case ignored
    /// Leave for another screen: card reading, sign-out on home and the message are handled in one place.
    case go(Route)
    /// The same screen with other parameters (a page turn): nothing is left, the message stays.
    case page(Route)
    /// The resident's session ends and is wiped (back to the staff menu while assisting).
    case endSession
    /// The session ends and staff are signed out.
    case signOut
    /// The resident asked for staff (the help screen).
    case callStaff
}

/// An option a screen offers: the key that chooses it, its label, and (when it is that simple)
/// what choosing it does. Taps on the option's rows choose it.
public struct ScreenOption: Sendable {
    public typealias Action = @Sendable (inout FlowMachine) -> Transition
    public var key: Key
    public var label: String
    public var action: Action?

    public init(_ key: Key, _ label: String, action: Action? = nil) {
        self.key = key
        self.label = label
        self.action = action
    }

    /// The text drawn before the label: "1", "A", "Enter".
    public var keyLabel: String {
        switch key {
        case .digit(let d): return "\(d)"
        case .char(let c): return String(c).uppercased()
        case .enter: return "Enter"
        case .escape: return "Esc"
        default: return ""
        }
    }

    func chosen(by k: Key) -> Bool { key == k }
}

/// One part of the hint row: words, optionally the key they stand for (tapping them presses it).
public struct Hint: Sendable, Equatable {
    public var text: String
    public var key: Key?
    /// Spaces before it on the hint row.
    public var gap: Int
    public init(_ text: String, _ key: Key? = nil, gap: Int = 3) {
        self.text = text
        self.key = key
        self.gap = gap
    }
}

/// What a screen shows: title, lines (options among them, with their tap targets), hint row.
public struct ScreenBody: Sendable {
    public var title: String
    public var lines: [ScreenLine] = []
    public var hints: [Hint] = []
    /// Every option the body draws, in order.
    public var options: [ScreenOption] = []

    public init(title: String, lines: [ScreenLine] = [], hints: [Hint] = []) {
        self.title = title
        self.lines = lines
        self.hints = hints
    }
}

/// One screen of the flow.
public protocol Screen: Sendable, Hashable {
    /// A short name for logs and the help record (no personal data).
    var name: String { get }
    var audience: Audience { get }
    var idle: IdlePolicy { get }
    /// The screen's content for the machine's current state.
    func body(_ m: FlowMachine, width: Int) -> ScreenBody
    /// A key on this screen: may change the machine's data and effects; says where to go.
    func handle(_ key: Key, _ m: inout FlowMachine) -> Transition
}

extension Screen {
    public var audience: Audience { .resident }
    public var idle: IdlePolicy { .timesOut }
    public func handle(_ key: Key, _ m: inout FlowMachine) -> Transition { choose(key, &m) }

    /// The action of the option the key chooses, if it has one.
    public func choose(_ key: Key, _ m: inout FlowMachine) -> Transition {
        let options = body(m, width: 80).options
        guard let o = options.first(where: { $0.chosen(by: key) }), let action = o.action else { return .ignored }
        return action(&m)
    }
}

/// Where the flow is: one screen value. Two routes are equal when their screens are.
public struct Route: Equatable, Sendable, CustomStringConvertible {
    public let screen: any Screen
    public init(_ screen: some Screen) { self.screen = screen }

    public static func == (a: Route, b: Route) -> Bool { AnyHashable(a.screen) == AnyHashable(b.screen) }

    /// The screen as its type, when it is one.
    public func of<S: Screen>(_ type: S.Type) -> S? { screen as? S }
    public func `is`<S: Screen>(_ type: S.Type) -> Bool { screen is S }

    public var name: String { screen.name }
    public var audience: Audience { screen.audience }
    public var description: String { "\(screen)" }
}

/// Pages of a list: the one paging sum every list screen uses.
public struct Pager: Sendable, Equatable {
    public var count: Int
    public var perPage: Int
    public private(set) var page: Int

    public init(count: Int, perPage: Int, page: Int) {
        self.count = max(0, count)
        self.perPage = max(1, perPage)
        self.page = 0
        self.page = min(max(0, page), pages - 1)
    }

    public var pages: Int { max(1, (count + perPage - 1) / perPage) }
    public var range: Range<Int> { min(count, page * perPage)..<min(count, (page + 1) * perPage) }
    public var hasNext: Bool { page + 1 < pages }
    public var hasPrevious: Bool { page > 0 }
    public func slice<T>(_ all: [T]) -> [T] { Array(all[range]) }
}
