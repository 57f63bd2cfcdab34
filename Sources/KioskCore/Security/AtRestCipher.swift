import Crypto
import Foundation

public struct KeyError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Encryption at rest for personal fields and attachment files (AES-256-GCM).
/// The master key comes from a file named in the config (or a systemd credential); it is never
/// written to the state directory. Sub-keys are derived with HKDF for each purpose.
public struct AtRestCipher: Sendable {
    // Raw sub-key bytes (SymmetricKey is not Sendable); keys are rebuilt per operation.
    private let dataKeyBytes: [UInt8]
    private let lookupKeyBytes: [UInt8]
    /// A throwaway key (`ephemeral()`): it decrypts nothing and is never recorded as the outbox's key.
    public let isEphemeral: Bool
    private var dataKey: SymmetricKey { SymmetricKey(data: dataKeyBytes) }
    private var lookupKey: SymmetricKey { SymmetricKey(data: lookupKeyBytes) }

    public init(masterKey: SymmetricKey) { self.init(masterKey: masterKey, ephemeral: false) }

    init(masterKey: SymmetricKey, ephemeral: Bool) {
        isEphemeral = ephemeral
        let salt = Data("kiosk-outbox-v1".utf8)
        dataKeyBytes = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: masterKey, salt: salt,
            info: Data("data-encryption".utf8), outputByteCount: 32
        )
        .withUnsafeBytes { Array($0) }
        lookupKeyBytes = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: masterKey, salt: salt,
            info: Data("id-lookup".utf8), outputByteCount: 32
        )
        .withUnsafeBytes { Array($0) }
    }

    /// A cipher with a random key, for tools that only count rows and never decrypt.
    public static func ephemeral() -> AtRestCipher {
        AtRestCipher(masterKey: SymmetricKey(size: .bits256), ephemeral: true)
    }

    /// Reads a key file: 32 raw bytes, or 64 hex characters, or base64 of 32 bytes (whitespace ignored).
    public static func loadKey(path: String) throws -> SymmetricKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError(
                description:
                    "encryption key file \(path) cannot be read: create it with `kioskctl keygen \(path)` (or point `encryption.keyFile` at the systemd credential) and make it readable by the daemon only"
            )
        }
        if data.count == 32 { return SymmetricKey(data: data) }
        let text = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
        if text.count == 64, let bytes = hexBytes(text) { return SymmetricKey(data: bytes) }
        if let b = Data(base64Encoded: text), b.count == 32 { return SymmetricKey(data: b) }
        throw KeyError(
            description:
                "encryption key file \(path) must hold 32 bytes (raw, 64 hex characters or base64); regenerate it with `kioskctl keygen \(path)`"
        )
    }

    /// Writes a fresh random key as hex, mode 0600. Refuses to overwrite an existing key.
    public static func generateKeyFile(path: String) throws {
        if FileManager.default.fileExists(atPath: path) {
            throw KeyError(
                description:
                    "\(path) already exists; refusing to overwrite a key (data encrypted with it would be lost)")
        }
        let key = SymmetricKey(size: .bits256)
        let hex = key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() } + "\n"
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw KeyError(description: "cannot write key file \(path): check the directory exists and is writable")
        }
    }

    public func seal(_ plaintext: Data) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: dataKey)
        guard let combined = box.combined else { throw KeyError(description: "AES-GCM produced no combined box") }
        return combined
    }

    public func open(_ ciphertext: Data) throws -> Data {
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: ciphertext), using: dataKey)
        } catch {
            throw KeyError(
                description:
                    "stored data cannot be decrypted: the encryption key differs from the one it was written with, or the data is damaged"
            )
        }
    }

    /// Keyed digest of an ID number, for finding a resident's own submissions without storing the number in clear.
    public func lookupToken(_ value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: lookupKey)
        return hexString(mac)
    }
}

public func sha256Hex(_ data: Data) -> String {
    hexString(SHA256.hash(data: data))
}

/// SHA-256 of `bytes`.
func sha256(_ bytes: [UInt8]) -> [UInt8] {
    Array(SHA256.hash(data: bytes))
}

/// Lower-case hex of `bytes`, without a formatter call per byte.
func hexString<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

func hexBytes(_ s: String) -> Data? {
    var out = Data(capacity: s.count / 2)
    var idx = s.startIndex
    while idx < s.endIndex {
        let next = s.index(idx, offsetBy: 2, limitedBy: s.endIndex) ?? s.endIndex
        guard let b = UInt8(s[idx..<next], radix: 16) else { return nil }
        out.append(b)
        idx = next
    }
    return out
}
