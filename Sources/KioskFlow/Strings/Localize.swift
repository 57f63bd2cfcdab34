import Foundation

/// The interface languages: Mandarin Chinese, and English for holders of the foreign permanent
/// resident card (外国人永久居留身份证).
public enum Language: String, Sendable, Codable, CaseIterable {
    case zh, en
}

public enum Strings {
    /// Text in `language` for the Chinese `zh` (the string table's key), with {1}, {2} … filled in.
    /// A key missing from the table shows the Chinese (the string-table test makes that a failure).
    public static func text(_ zh: String, _ language: Language, _ args: [Any] = []) -> String {
        var s = language == .zh ? zh : (english[zh] ?? zh)
        for (i, a) in args.enumerated() { s = s.replacingOccurrences(of: "{\(i + 1)}", with: "\(a)") }
        return s
    }
}

extension FlowMachine {
    /// Resident-facing text in the current language (Strings.english holds the table).
    func L(_ zh: String, _ args: Any...) -> String { Strings.text(zh, language, args) }
}
