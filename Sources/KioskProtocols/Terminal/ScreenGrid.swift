/// Enough of a terminal to read back what the renderer wrote: absolute cursor moves (CSI row;col H),
/// clears (CSI 2J), erase to end of line (CSI K), text by display width (a wide character takes
/// two cells); SGR and mode sequences are skipped. For mirrors that print text and for tests. Pure.
public struct ScreenGrid: Sendable {
    public private(set) var cells: [[String]]
    public let columns: Int
    public let rows: Int
    private var row = 0
    private var column = 0
    private var pending: [UInt8] = []

    public init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
        cells = Array(repeating: Array(repeating: " ", count: columns), count: rows)
    }

    public var text: String {
        cells.map { line in
            var s = ""
            for c in line where !c.isEmpty { s += c }
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }.joined(separator: "\n")
    }

    public mutating func feed(_ bytes: [UInt8]) {
        pending += bytes
        var i = 0
        var text: [UInt8] = []
        func flushText() {
            guard !text.isEmpty else { return }
            for ch in String(decoding: text, as: UTF8.self) { put(ch) }
            text.removeAll()
        }
        while i < pending.count {
            let b = pending[i]
            if b == 0x1B {
                flushText()
                guard i + 1 < pending.count else { break }
                if pending[i + 1] == UInt8(ascii: "[") {
                    var j = i + 2
                    while j < pending.count && !(0x40...0x7E).contains(pending[j]) { j += 1 }
                    guard j < pending.count else { break }
                    csi(Array(pending[(i + 2)..<j]), final: pending[j])
                    i = j + 1
                } else {
                    i += 2
                }
                continue
            }
            if b == 0x0D {
                flushText()
                column = 0
            } else if b == 0x0A {
                flushText()
                row = min(rows - 1, row + 1)
            } else if b >= 0x20 || b >= 0x80 {
                // Keep a UTF-8 sequence whole across feeds.
                if b >= 0xC0 {
                    let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
                    guard i + need <= pending.count else { break }
                    text += pending[i..<(i + need)]
                    i += need
                    continue
                }
                text.append(b)
            }
            i += 1
        }
        flushText()
        pending.removeFirst(min(i, pending.count))
    }

    private mutating func put(_ ch: Character) {
        let w = DisplayWidth.of(ch)
        guard w > 0, row < rows else { return }
        if column + w > columns { return }
        cells[row][column] = String(ch)
        if w == 2 { cells[row][column + 1] = "" }
        column += w
    }

    private mutating func csi(_ params: [UInt8], final: UInt8) {
        let p = String(decoding: params, as: UTF8.self)
        let n = p.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
        switch final {
        case UInt8(ascii: "H"), UInt8(ascii: "f"):
            guard !p.hasPrefix("?") else { return }
            row = max(0, min(rows - 1, (n.first ?? 1) - 1))
            column = max(0, min(columns - 1, (n.count > 1 ? n[1] : 1) - 1))
        case UInt8(ascii: "J") where p == "2":
            cells = Array(repeating: Array(repeating: " ", count: columns), count: rows)
        case UInt8(ascii: "K"):
            for c in column..<columns { cells[row][c] = " " }
        default: break
        }
    }
}
