import Foundation
import Yams

/// The station config as a diagnostic bundle may carry it: parsed, every value under a key that
/// names a secret (or the path of one) replaced by `<redacted>`, user and password taken out of
/// URLs, anything shaped like an ID number masked. Matching is by the key's meaning, not a list of
/// exact names, so a new `…Token`, `…Key` or `…Hash` setting is covered without a change here.
public enum ConfigRedaction {
    static let secretWords = ["token", "password", "passwd", "secret", "pin", "key", "hash", "credential", "cert"]

    static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return secretWords.contains { k.contains($0) }
    }

    /// The redacted YAML, or nil when the text is not YAML (then nothing of it should be shared).
    public static func redact(yaml: String) -> String? {
        guard let node = try? Yams.compose(yaml: yaml) else { return nil }
        guard let out = try? Yams.serialize(node: redact(node)) else { return nil }
        return out
    }

    static func redact(_ node: Node) -> Node {
        switch node {
        case .mapping(let m):
            var pairs: [(Node, Node)] = []
            for (k, v) in m {
                if let name = k.string, isSecret(name) {
                    pairs.append((k, Node("<redacted>")))
                } else if let name = k.string, name.lowercased().hasSuffix("url"), let s = v.string {
                    pairs.append((k, Node(withoutUserInfo(s))))
                } else {
                    pairs.append((k, redact(v)))
                }
            }
            return .mapping(Node.Mapping(pairs))
        case .sequence(let s):
            return .sequence(Node.Sequence(s.map(redact)))
        case .scalar(let s):
            return Node(AdminService.scrub(s.string))
        case .alias:
            return Node("<redacted>")
        }
    }

    /// `https://user:pass@host/path` → `https://host/path`.
    static func withoutUserInfo(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.user != nil || c.password != nil else {
            return AdminService.scrub(url)
        }
        c.user = nil
        c.password = nil
        return AdminService.scrub(c.string ?? "<redacted>")
    }
}
