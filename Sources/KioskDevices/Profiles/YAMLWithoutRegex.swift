import Foundation
import Yams

extension YAMLDecoder {
    /// `decode(_:from:)` for a file that has no `<<` in it, without Yams' regular expression.
    ///
    /// `YAMLDecoder.decode(_:from: String)` resolves tags with `Resolver([.merge])`, whose one rule is an
    /// `NSRegularExpression` matching the `<<` merge key. The first regular expression a process compiles
    /// sets up ICU's regex engine and its Unicode property sets, which stay in kioskd's resident set.
    /// Without a `<<` in the text that rule matches no scalar, so composing with `Resolver.basic` gives
    /// the same tags and the same values. Text with `<<`, or text that does not parse, goes through
    /// `decode(_:from: String)` as before (same merge keys, same errors).
    public func decodeWithoutRegex<T: Decodable>(_ type: T.Type, from yaml: String) throws -> T {
        guard !yaml.contains("<<"), let node = try? Yams.compose(yaml: yaml, Resolver.basic) else {
            return try decode(type, from: yaml)
        }
        return try decode(type, from: node)
    }
}
