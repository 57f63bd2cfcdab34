import Foundation
import KioskProtocols

/// The seal's own JSON writer for the two small documents every seal encrypts (the applicant and
/// the manifest): the same JSON `JSONEncoder` reads back, without its per-call set-up, which on
/// a small machine cost more than the encryption. Optional fields that are nil are left out, as
/// `JSONEncoder` does.
struct SealJSON {
    private(set) var bytes: [UInt8] = []
    private var first = true

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func open() {
        bytes.append(UInt8(ascii: "{"))
        first = true
    }
    mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }
    private mutating func key(_ k: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }
    mutating func field(_ k: StaticString, _ v: String?) {
        guard let v else { return }
        key(k)
        string(v)
    }
    mutating func field(_ k: StaticString, _ v: Int) {
        key(k)
        bytes.append(contentsOf: String(v).utf8)
    }
    /// A finite Double, as Swift prints it (the shortest text that reads back the same value).
    mutating func field(_ k: StaticString, _ v: Double) throws {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: [], debugDescription: "not finite"))
        }
        key(k)
        bytes.append(contentsOf: v.description.utf8)
    }
    mutating func object(_ k: StaticString, _ body: (inout SealJSON) throws -> Void) rethrows {
        key(k)
        open()
        try body(&self)
        close()
    }
    mutating func array<T>(_ k: StaticString, _ items: [T], _ body: (inout SealJSON, T) throws -> Void) rethrows {
        key(k)
        bytes.append(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            open()
            try body(&self, item)
            close()
        }
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    private mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static func applicant(_ a: ApplicantData, into j: inout SealJSON) {
        j.field("idNumber", a.idNumber)
        j.field("name", a.name)
        j.field("cardType", a.cardType)
        j.field("phone", a.phone)
    }

    /// The applicant as JSON (the encrypted `personal` column).
    static func encode(_ a: ApplicantData) -> Data {
        var j = SealJSON(capacity: 128)
        j.open()
        applicant(a, into: &j)
        j.close()
        return Data(j.bytes)
    }

    /// The manifest as JSON (the encrypted part of a seal-log record).
    static func encode(_ m: SealedManifest) throws -> Data {
        var j = SealJSON(capacity: 512 + m.attachments.count * 160)
        j.open()
        j.field("version", m.version)
        j.field("submissionId", m.submissionId)
        j.field("caseNumber", m.caseNumber)
        j.field("itemCode", m.itemCode)
        j.field("itemName", m.itemName)
        j.field("stationId", m.stationId)
        try j.field("sealedAt", m.sealedAt)
        j.object("applicant") { applicant(m.applicant, into: &$0) }
        j.field("assistedBy", m.assistedBy)
        j.field("supplementOf", m.supplementOf)
        j.array("attachments", m.attachments) { j, f in
            j.field("name", f.name)
            j.field("contentType", f.contentType)
            j.field("size", f.size)
            j.field("sha256", f.sha256)
            j.field("file", f.file)
        }
        j.close()
        return Data(j.bytes)
    }
}
