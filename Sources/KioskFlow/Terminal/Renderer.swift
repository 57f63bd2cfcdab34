import KioskProtocols

/// Columns of a row that choose an option when tapped (0-based, end exclusive).
public struct TapTarget: Equatable, Sendable {
    public var columns: Range<Int>
    public var key: Key
    public init(columns: Range<Int>, key: Key) {
        self.columns = columns
        self.key = key
    }
}

/// A screen as the renderer sees it: rows of text with a style each, and the options drawn on them.
public struct ScreenLine: Equatable, Sendable {
    public enum Style: Equatable, Sendable { case normal, bold, inverse, dim, alert }
    public var text: String
    public var style: Style
    /// Where on this row a tap chooses an option (from the screen's typed options, never from the text).
    public var targets: [TapTarget]
    public init(_ text: String, _ style: Style = .normal, targets: [TapTarget] = []) {
        self.text = text
        self.style = style
        self.targets = targets
    }
}

public struct Frame: Equatable, Sendable {
    public var rows: [ScreenLine]
    public init(rows: [ScreenLine]) { self.rows = rows }

    /// Plain text, one row per line (what a screen capture shows).
    public var plainText: String { rows.map(\.text).joined(separator: "\n") }

    /// The key of the option under a tap at 1-based `column`, `row`; nil where no option is drawn.
    public func key(atColumn column: Int, row: Int) -> Key? {
        guard row >= 1, row <= rows.count else { return nil }
        let x = column - 1
        return rows[row - 1].targets.first { $0.columns.contains(x) }?.key
    }
}

/// Turns frames into terminal output, redrawing only rows that changed.
/// Output uses absolute cursor moves and rows padded to the width. Rules are box drawing (─ ═),
/// East Asian Ambiguous characters counted one column wide, as foot, tmux and xterm draw them.
public struct TerminalRenderer: Sendable {
    private var previous: [ScreenLine] = []
    /// Each row as the last frame gave it, before fitting: a row given again unchanged is skipped
    /// without measuring its text (a clock tick changes one row of the screen; measuring all of
    /// them every second was most of an idle kiosk's drawing time).
    private var given: [ScreenLine] = []
    public private(set) var width: Int
    public private(set) var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public mutating func resize(width: Int, height: Int) {
        self.width = width
        self.height = height
        previous = []
        given = []
    }

    /// Forget what is on screen, so the next render draws everything (after a wipe).
    public mutating func invalidate() {
        previous = []
        given = []
    }

    public mutating func render(_ frame: Frame) -> String {
        var out = ""
        let full = previous.isEmpty
        if full {
            out += "\u{1B}[0m\u{1B}[2J"
            given = []
        }
        for row in 0..<height {
            let line = row < frame.rows.count ? frame.rows[row] : ScreenLine("")
            if !full, row < given.count, row < previous.count, given[row] == line { continue }
            if given.count <= row { given.append(line) } else { given[row] = line }
            let fitted = ScreenLine(
                DisplayWidth.pad(DisplayWidth.truncate(line.text, columns: width), to: width), line.style,
                targets: line.targets)
            if !full, row < previous.count, previous[row] == fitted { continue }
            out += "\u{1B}[\(row + 1);1H"
            switch line.style {
            case .normal: out += "\u{1B}[0m"
            case .bold: out += "\u{1B}[0;1m"
            case .inverse: out += "\u{1B}[0;7m"
            case .dim: out += "\u{1B}[0;2m"
            case .alert: out += "\u{1B}[0;1;7m"
            }
            // Never write into the last cell of the last row (it would scroll the screen).
            var text = fitted.text
            if row == height - 1 { text = DisplayWidth.truncate(text, columns: width - 1, ellipsis: "") }
            out += text + "\u{1B}[0m"
            if previous.count <= row { previous.append(fitted) } else { previous[row] = fitted }
        }
        if previous.count > height { previous.removeLast(previous.count - height) }
        if given.count > height { given.removeLast(given.count - height) }
        return out
    }
}
