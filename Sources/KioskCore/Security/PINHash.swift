import Crypto
import Foundation

/// PINs are stored only as PBKDF2-HMAC-SHA256 hashes with a random salt and a high iteration
/// count (a slow KDF: a 6-digit PIN space is small, so each guess must cost). Format:
/// `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`.
public enum PINHash {
    public static let defaultIterations = 120_000

    public static func make(pin: String, iterations: Int = defaultIterations) -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<salt.count { salt[i] = UInt8.random(in: 0...255, using: &rng) }
        let h = derive(pin: pin, salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(h).base64EncodedString())"
    }

    /// Constant-time comparison of the derived key.
    public static func verify(pin: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let it = Int(parts[1]), it >= 1000, it <= 10_000_000,
            let salt = Data(base64Encoded: String(parts[2])), let want = Data(base64Encoded: String(parts[3])),
            want.count == 32
        else { return false }
        let got = derive(pin: pin, salt: [UInt8](salt), iterations: it)
        var diff: UInt8 = 0
        for (a, b) in zip(got, want) { diff |= a ^ b }
        return diff == 0
    }

    public static func isWellFormed(_ stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        return parts.count == 4 && parts[0] == "pbkdf2-sha256" && Int(parts[1]) != nil
            && Data(base64Encoded: String(parts[2])) != nil && Data(base64Encoded: String(parts[3]))?.count == 32
    }

    /// PBKDF2 (RFC 8018) with HMAC-SHA256, one 32-byte block.
    static func derive(pin: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: Data(pin.utf8))
        var u = [UInt8](HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var t = u
        if iterations > 1 {
            for _ in 1..<iterations {
                u = [UInt8](HMAC<SHA256>.authenticationCode(for: u, using: key))
                for i in 0..<32 { t[i] ^= u[i] }
            }
        }
        return t
    }
}
