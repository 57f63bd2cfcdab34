// tus 1.0.0 (https://tus.io/protocols/resumable-upload), the parts both sides of the kiosk use:
// core, creation, checksum (sha256), expiration, termination. Pure: headers in, values out.
//
//   OPTIONS <creation URL>        204  Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size
//   POST    <creation URL>        201  Location           (Upload-Length, Upload-Metadata)
//   HEAD    <upload URL>          200  Upload-Offset, Upload-Length, Cache-Control: no-store
//   PATCH   <upload URL>          204  Upload-Offset      (Content-Type: application/offset+octet-stream,
//                                                           Upload-Offset, Upload-Checksum: sha256 <base64>)
//   DELETE  <upload URL>          204
// Errors: 409 offset mismatch, 460 checksum mismatch, 404/410 unknown or expired upload,
// 412 unsupported Tus-Resumable, 413 too large. Every request and reply carries Tus-Resumable.

import Foundation

public enum Tus {
    public static let version = "1.0.0"
    public static let resumable = "Tus-Resumable"
    public static let versionHeader = "Tus-Version"
    public static let extensionHeader = "Tus-Extension"
    public static let maxSize = "Tus-Max-Size"
    public static let checksumAlgorithm = "Tus-Checksum-Algorithm"
    public static let uploadOffset = "Upload-Offset"
    public static let uploadLength = "Upload-Length"
    public static let uploadMetadata = "Upload-Metadata"
    public static let uploadChecksum = "Upload-Checksum"
    public static let uploadExpires = "Upload-Expires"
    public static let offsetContentType = "application/offset+octet-stream"
    /// Status of a chunk whose Upload-Checksum does not match its bytes (tus checksum extension).
    public static let checksumMismatchStatus = 460
    /// Extensions the reference intake implements.
    public static let intakeExtensions = ["creation", "checksum", "expiration", "termination"]

    /// `Upload-Metadata`: comma-separated `key base64(value)` pairs; keys are ASCII without
    /// spaces or commas. Keys and order as given.
    public static func encodeMetadata(_ pairs: [(String, String)]) -> String {
        pairs.map { k, v in v.isEmpty ? k : "\(k) \(Data(v.utf8).base64EncodedString())" }.joined(separator: ",")
    }

    /// Parses `Upload-Metadata`. Nil when it is malformed (bad key, bad base64, not UTF-8, repeated key).
    public static func decodeMetadata(_ header: String) -> [String: String]? {
        var out: [String: String] = [:]
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return [:] }
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let fields = part.trimmingCharacters(in: .whitespaces).split(
                separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(fields.count) else { return nil }
            let key = String(fields[0])
            guard !key.isEmpty, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ",") }),
                out[key] == nil
            else { return nil }
            if fields.count == 1 {
                out[key] = ""
                continue
            }
            guard let data = Data(base64Encoded: String(fields[1])),
                let value = String(data: data, encoding: .utf8)
            else { return nil }
            out[key] = value
        }
        return out
    }

    /// A non-negative decimal header value (Upload-Offset, Upload-Length); nil for anything else.
    public static func parseOffset(_ value: String?) -> Int? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty, v.count <= 18,
            v.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(v)
    }

    /// `Upload-Checksum: <algorithm> <base64 digest>` → (algorithm, digest bytes).
    public static func parseChecksum(_ value: String) -> (algorithm: String, digest: Data)? {
        let parts = value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let d = Data(base64Encoded: String(parts[1])) else { return nil }
        return (parts[0].lowercased(), d)
    }

    /// Comma-separated header list (Tus-Extension, Tus-Checksum-Algorithm) → lower-cased items.
    public static func list(_ value: String?) -> [String] {
        (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter {
            !$0.isEmpty
        }
    }

    /// Resolves a `Location` reply against the URL the request went to (absolute, or absolute path).
    public static func resolveLocation(_ location: String, against requestURL: String) -> String? {
        let loc = location.trimmingCharacters(in: .whitespaces)
        if loc.hasPrefix("http://") || loc.hasPrefix("https://") { return loc }
        guard let base = URL(string: requestURL), let resolved = URL(string: loc, relativeTo: base) else { return nil }
        return resolved.absoluteString
    }

    /// What a PATCH reply's Upload-Offset means for a chunk sent from `sent` with `count` bytes.
    /// A server may keep only part of a chunk; it may never go backwards or beyond what was sent.
    public static func acceptPatchOffset(_ newOffset: Int?, sent: Int, count: Int, length: Int) -> Int? {
        guard let n = newOffset, n > sent || count == 0, n <= sent + count, n <= length else { return nil }
        return n
    }

    /// RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (Upload-Expires, Retry-After).
    public static func httpDate(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: d)
    }

    public static func parseHTTPDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.date(from: s.trimmingCharacters(in: .whitespaces))
    }

    /// `Retry-After`: delay in seconds, or an HTTP date (relative to `now`). Capped at a day;
    /// nonsense is ignored (nil).
    public static func retryAfterSeconds(_ value: String?, now: Date) -> Double? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        if let n = Int(v), n >= 0 { return Double(min(n, 86_400)) }
        if let d = parseHTTPDate(v) { return min(86_400, max(0, d.timeIntervalSince(now))) }
        return nil
    }
}
