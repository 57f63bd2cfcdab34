/// How the kiosk's own terminal takes text: UTF-8 (terminals, tmux, foot) or GB18030 (serial
/// hardware terminals that do not speak UTF-8; `screen.encoding: gb18030`).
public enum TerminalTextEncoding: String, Sendable, CaseIterable {
    case utf8 = "utf-8"
    case gb18030

    /// The bytes to write. GB18030 covers all of Unicode; should glibc's converter be missing, a
    /// character it cannot convert becomes "?" (never a dropped line).
    public func encode(_ s: String) -> [UInt8] {
        switch self {
        case .utf8: return Array(s.utf8)
        case .gb18030:
            let codec = GB18030Codec()
            if let all = codec.encode(Array(s.utf8)) { return all }
            var out: [UInt8] = []
            for c in s { out += codec.encode(Array(String(c).utf8)) ?? [UInt8(ascii: "?")] }
            return out
        }
    }

    /// Text the terminal sent (a paste, a hardware terminal's reply) as a string.
    public func decode(_ bytes: [UInt8]) -> String {
        switch self {
        case .utf8: return String(decoding: bytes, as: UTF8.self)
        case .gb18030: return GB18030Codec().decode(bytes)
        }
    }
}
