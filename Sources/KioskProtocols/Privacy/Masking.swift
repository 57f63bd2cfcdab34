// Masking of personal data for screens, receipts and logs (docs/domain.md, "Personal data").
// Works on Characters (grapheme clusters), so rare characters and emoji count as one.

public enum Mask {
    /// First 4 and last 4 characters visible, the rest `*`: `1101**********123X`.
    /// Shorter strings (under 12 characters) keep only their first and last character,
    /// and strings of 3 characters or fewer are starred completely. Surrounding whitespace is
    /// not treated specially; normalise first if needed.
    public static func idNumber(_ s: String) -> String {
        keepEnds(Array(s), head: 4, tail: 4, minimumForFull: 12)
    }

    /// First character, then one `*` per remaining character: `张*`, `欧阳娜娜` → `欧***`.
    /// Empty stays empty.
    public static func name(_ s: String) -> String {
        guard let first = s.first else { return "" }
        return String(first) + String(repeating: "*", count: s.count - 1)
    }

    /// First 3 and last 4 characters visible: `138****1234`.
    /// Shorter strings (under 8 characters) keep only their last 2, and strings of 3 characters
    /// or fewer are starred completely.
    public static func phone(_ s: String) -> String {
        let chars = Array(s)
        if chars.count >= 8 {
            return keepEnds(chars, head: 3, tail: 4, minimumForFull: 8)
        }
        if chars.count <= 3 { return String(repeating: "*", count: chars.count) }
        return String(repeating: "*", count: chars.count - 2) + String(chars.suffix(2))
    }

    private static func keepEnds(_ chars: [Character], head: Int, tail: Int, minimumForFull: Int) -> String {
        let n = chars.count
        let (h, t): (Int, Int)
        if n >= minimumForFull {
            (h, t) = (head, tail)
        } else if n >= 4 {
            (h, t) = (1, 1)
        } else {
            (h, t) = (0, 0)
        }
        return String(chars.prefix(h)) + String(repeating: "*", count: n - h - t) + String(chars.suffix(t))
    }
}
