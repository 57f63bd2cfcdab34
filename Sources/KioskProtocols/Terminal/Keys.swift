/// Keys the kiosk understands: the keypad (digits, Enter, Backspace, Esc), arrows and letters.
public enum Key: Equatable, Sendable {
    case digit(Int)
    case enter
    case backspace
    case escape
    case up, down, left, right, pageUp, pageDown
    case char(Character)
    case function(Int)
    /// A tap or left click at a 1-based column and row (SGR 1006 mouse report).
    case tap(column: Int, row: Int)
}

/// Turns terminal input bytes into keys. Pure: the caller decides when a lone ESC has waited
/// long enough (`flush()`), so a bare Esc and an escape sequence are told apart.
public struct KeyDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public var hasPending: Bool { !pending.isEmpty }

    public mutating func feed(_ bytes: [UInt8]) -> [Key] {
        pending += bytes
        var keys: [Key] = []
        while !pending.isEmpty {
            let b = pending[0]
            if b == 0x1B {
                guard pending.count >= 2 else { break }  // maybe the start of a sequence
                if pending[1] == UInt8(ascii: "[") || pending[1] == UInt8(ascii: "O") {
                    // CSI / SS3: parameters until a final byte 0x40–0x7E.
                    var i = 2
                    while i < pending.count && !(0x40...0x7E).contains(pending[i]) { i += 1 }
                    guard i < pending.count else { break }
                    let seq = Array(pending[0...i])
                    pending.removeFirst(i + 1)
                    if let k = Self.decodeSequence(seq) { keys.append(k) }
                    continue
                }
                pending.removeFirst()
                keys.append(.escape)
                continue
            }
            pending.removeFirst()
            switch b {
            case 0x0D, 0x0A: keys.append(.enter)
            case 0x7F, 0x08: keys.append(.backspace)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): keys.append(.digit(Int(b - UInt8(ascii: "0"))))
            case 0x20..<0x7F: keys.append(.char(Character(Unicode.Scalar(b))))
            default:
                if b >= 0x80 {
                    // UTF-8 text (e.g. from a paste): skip continuation bytes quietly.
                    while let n = pending.first, n & 0xC0 == 0x80 { pending.removeFirst() }
                }
            }
        }
        return keys
    }

    /// Called when no more bytes arrived shortly after an ESC: it was the Esc key.
    public mutating func flush() -> [Key] {
        guard !pending.isEmpty else { return [] }
        var keys: [Key] = []
        if pending[0] == 0x1B {
            keys.append(.escape)
            pending.removeFirst()
        }
        keys += feed([])
        pending.removeAll()
        return keys
    }

    static func decodeSequence(_ s: [UInt8]) -> Key? {
        let body = String(decoding: s.dropFirst(2), as: UTF8.self)
        if body.hasPrefix("<") {
            // SGR mouse: ESC [ < button ; column ; row M (press) or m (release).
            guard body.hasSuffix("M") else { return nil }
            let f = body.dropFirst().dropLast().split(separator: ";").compactMap { Int($0) }
            // left button, no motion or wheel
            guard f.count == 3, f[0] & 0b1100_0011 == 0, f[1] > 0, f[2] > 0 else { return nil }
            return .tap(column: f[1], row: f[2])
        }
        switch body {
        case "A": return .up
        case "B": return .down
        case "C": return .right
        case "D": return .left
        case "5~": return .pageUp
        case "6~": return .pageDown
        case "P": return .function(1)
        case "Q": return .function(2)
        case "R": return .function(3)
        case "S": return .function(4)
        case "11~": return .function(1)
        case "12~": return .function(2)
        case "13~": return .function(3)
        case "14~": return .function(4)
        case "M": return .enter  // SS3 M: keypad Enter
        default: return nil
        }
    }
}
