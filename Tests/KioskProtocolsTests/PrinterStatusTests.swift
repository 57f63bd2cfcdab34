import Testing
import Foundation
@testable import KioskProtocols

@Suite struct PrinterStatusTests {

    @Test func decodesDLEEOTExamplesFromDevicesDoc() throws {
        #expect(ReceiptPrinterStatus.decodeDLEEOT(n: 1, byte: 0x12) == ReceiptPrinterStatus(online: true))
        // drawer pin high
        #expect(ReceiptPrinterStatus.decodeDLEEOT(n: 1, byte: 0x16) == ReceiptPrinterStatus(online: true))
        #expect(ReceiptPrinterStatus.decodeDLEEOT(n: 1, byte: 0x1A) == ReceiptPrinterStatus(online: false))
        #expect(
            ReceiptPrinterStatus.decodeDLEEOT(n: 4, byte: 0x72)
                == ReceiptPrinterStatus(paperNearEnd: false, paperOut: true))
        #expect(
            ReceiptPrinterStatus.decodeDLEEOT(n: 4, byte: 0x1E)
                == ReceiptPrinterStatus(paperNearEnd: true, paperOut: false))
        #expect(
            ReceiptPrinterStatus.decodeDLEEOT(n: 4, byte: 0x12)
                == ReceiptPrinterStatus(paperNearEnd: false, paperOut: false))
        let cover = try #require(ReceiptPrinterStatus.decodeDLEEOT(n: 2, byte: 0x16))
        #expect(cover.coverOpen == true && cover.paperOut == false && cover.errorOccurred == false)
        let errors = try #require(ReceiptPrinterStatus.decodeDLEEOT(n: 3, byte: 0x12 | 0x08 | 0x40))
        #expect(errors.cutterError == true && errors.unrecoverableError == false && errors.autoRecoverableError == true)
    }

    @Test func rejectsBytesNotOfTheForm0xx1xx10() {
        for byte: UInt8 in [0x00, 0xFF, 0x10, 0x02, 0x92, 0x13, 0x11, 0x14, 0x5F] {
            #expect(ReceiptPrinterStatus.decodeDLEEOT(n: 1, byte: byte) == nil, "0x\(String(byte, radix: 16))")
        }
        #expect(ReceiptPrinterStatus.decodeDLEEOT(n: 5, byte: 0x12) == nil)
        var s = ReceiptPrinterStatus.ready
        let applied = s.applyDLEEOT(n: 1, byte: 0x00)
        #expect(!applied)
        #expect(s == .ready)
        // 256 bytes: exactly those matching 0xx1xx10 are accepted (16 of them).
        let accepted = (0...255).filter { ReceiptPrinterStatus.decodeDLEEOT(n: 2, byte: UInt8($0)) != nil }
        #expect(accepted.count == 16)
        #expect(accepted.allSatisfy { UInt8($0) & 0x93 == 0x12 })
    }

    @Test func mergesRepliesIntoOneStatus() {
        var s = ReceiptPrinterStatus()
        for (n, byte) in [(1, 0x12), (2, 0x12), (3, 0x12), (4, 0x1E)] as [(UInt8, UInt8)] {
            let ok = s.applyDLEEOT(n: n, byte: byte)
            #expect(ok)
        }
        #expect(
            s
                == ReceiptPrinterStatus(
                    online: true, coverOpen: false, paperNearEnd: true, paperOut: false,
                    cutterError: false, unrecoverableError: false, autoRecoverableError: false,
                    errorOccurred: false))
        // A later reply overrides only what it reports.
        let later = s.merging(ReceiptPrinterStatus.decodeDLEEOT(n: 1, byte: 0x1A)!)
        #expect(later.online == false && later.paperNearEnd == true)
    }

    @Test func simulatorInverseMatchesDocMasks() {
        #expect(ReceiptPrinterStatus.statusByte(n: 1, for: .ready) == 0x12)
        #expect(ReceiptPrinterStatus.statusByte(n: 1, for: ReceiptPrinterStatus(online: false)) == 0x1A)
        #expect(ReceiptPrinterStatus.statusByte(n: 4, for: ReceiptPrinterStatus(paperOut: true)) == 0x72)
        #expect(ReceiptPrinterStatus.statusByte(n: 4, for: ReceiptPrinterStatus(paperNearEnd: true)) == 0x1E)
        #expect(ReceiptPrinterStatus.statusByte(n: 2, for: ReceiptPrinterStatus(cutterError: true)) & 0x40 != 0)
    }

    static func allStatuses() -> [ReceiptPrinterStatus] {
        var out: [ReceiptPrinterStatus] = []
        for mask in 0..<(1 << 7) {
            func b(_ k: Int) -> Bool { mask & (1 << k) != 0 }
            out.append(
                ReceiptPrinterStatus(
                    online: b(0), coverOpen: b(1), paperNearEnd: b(2), paperOut: b(3),
                    cutterError: b(4), unrecoverableError: b(5), autoRecoverableError: b(6)))
        }
        return out
    }

    @Test func dleEOTRoundTripsThroughTheSimulatorInverse() throws {
        for s in Self.allStatuses() {
            var decoded = ReceiptPrinterStatus()
            for n: UInt8 in 1...4 {
                let byte = ReceiptPrinterStatus.statusByte(n: n, for: s)
                #expect(ReceiptPrinterStatus.isValidDLEEOTByte(byte))
                let ok = decoded.applyDLEEOT(n: n, byte: byte)
                #expect(ok)
            }
            #expect(decoded.online == s.online)
            #expect(decoded.coverOpen == s.coverOpen)
            #expect(decoded.paperNearEnd == s.paperNearEnd)
            #expect(decoded.paperOut == s.paperOut)
            #expect(decoded.cutterError == s.cutterError)
            #expect(decoded.unrecoverableError == s.unrecoverableError)
            #expect(decoded.autoRecoverableError == s.autoRecoverableError)
            let anyError = s.cutterError == true || s.unrecoverableError == true || s.autoRecoverableError == true
            #expect(decoded.errorOccurred == anyError)
        }
    }

    @Test func asbRoundTripsAndValidates() throws {
        for s in Self.allStatuses() {
            let bytes = ReceiptPrinterStatus.asbBytes(for: s)
            #expect(ReceiptPrinterStatus.isASBFirstByte(bytes[0]))
            let d = try #require(ReceiptPrinterStatus.decodeASB(bytes))
            #expect(d.online == s.online && d.coverOpen == s.coverOpen && d.paperNearEnd == s.paperNearEnd)
            #expect(d.paperOut == s.paperOut && d.cutterError == s.cutterError)
            #expect(d.unrecoverableError == s.unrecoverableError && d.autoRecoverableError == s.autoRecoverableError)
        }
        #expect(ReceiptPrinterStatus.decodeASB([0x12, 0, 0, 0]) == nil)  // a DLE EOT byte, not ASB
        #expect(ReceiptPrinterStatus.decodeASB([0x10, 0x10, 0, 0]) == nil)
        #expect(ReceiptPrinterStatus.decodeASB([0x10, 0, 0]) == nil)
        let paperOut = try #require(ReceiptPrinterStatus.decodeASB([0x18, 0x00, 0x0F, 0x00]))
        #expect(paperOut.online == false && paperOut.paperOut == true && paperOut.paperNearEnd == true)
    }

    @Test func codable() throws {
        let s = ReceiptPrinterStatus(online: true, paperOut: false)
        let data = try JSONEncoder().encode(s)
        #expect(try JSONDecoder().decode(ReceiptPrinterStatus.self, from: data) == s)
    }
}
