// Receipt printer status from DLE EOT n replies and ASB (GS a) blocks, and the inverse for the simulator.
// devices.md §2.5. A nil field means "not known from the bytes seen".

public struct ReceiptPrinterStatus: Sendable, Equatable, Codable {
    /// DLE EOT 1 bit 3 (clear = online); ASB byte 1 bit 3.
    public var online: Bool?
    /// DLE EOT 2 bit 2; ASB byte 1 bit 5.
    public var coverOpen: Bool?
    /// DLE EOT 4 bits 2+3; ASB byte 3 bits 0-1.
    public var paperNearEnd: Bool?
    /// DLE EOT 4 bits 5+6 (and DLE EOT 2 bit 5, printing stopped by paper end); ASB byte 3 bits 2-3.
    public var paperOut: Bool?
    /// DLE EOT 3 bit 3; ASB byte 2 bit 3.
    public var cutterError: Bool?
    /// DLE EOT 3 bit 5; ASB byte 2 bit 5.
    public var unrecoverableError: Bool?
    /// DLE EOT 3 bit 6 (e.g. head temperature); ASB byte 2 bit 6.
    public var autoRecoverableError: Bool?
    /// DLE EOT 2 bit 6: some error occurred (details via DLE EOT 3).
    public var errorOccurred: Bool?

    public init(
        online: Bool? = nil, coverOpen: Bool? = nil, paperNearEnd: Bool? = nil, paperOut: Bool? = nil,
        cutterError: Bool? = nil, unrecoverableError: Bool? = nil, autoRecoverableError: Bool? = nil,
        errorOccurred: Bool? = nil
    ) {
        self.online = online
        self.coverOpen = coverOpen
        self.paperNearEnd = paperNearEnd
        self.paperOut = paperOut
        self.cutterError = cutterError
        self.unrecoverableError = unrecoverableError
        self.autoRecoverableError = autoRecoverableError
        self.errorOccurred = errorOccurred
    }

    /// Nothing known.
    public static let unknown = ReceiptPrinterStatus()

    /// Online, cover closed, paper fine, no errors.
    public static let ready = ReceiptPrinterStatus(
        online: true, coverOpen: false, paperNearEnd: false, paperOut: false, cutterError: false,
        unrecoverableError: false, autoRecoverableError: false, errorOccurred: false)

    // MARK: Merging

    /// `self` with every field that `newer` knows replaced by `newer`'s value.
    public func merging(_ newer: ReceiptPrinterStatus) -> ReceiptPrinterStatus {
        ReceiptPrinterStatus(
            online: newer.online ?? online,
            coverOpen: newer.coverOpen ?? coverOpen,
            paperNearEnd: newer.paperNearEnd ?? paperNearEnd,
            paperOut: newer.paperOut ?? paperOut,
            cutterError: newer.cutterError ?? cutterError,
            unrecoverableError: newer.unrecoverableError ?? unrecoverableError,
            autoRecoverableError: newer.autoRecoverableError ?? autoRecoverableError,
            errorOccurred: newer.errorOccurred ?? errorOccurred)
    }

    public mutating func merge(_ newer: ReceiptPrinterStatus) {
        self = merging(newer)
    }

    // MARK: DLE EOT

    /// DLE EOT n replies have the form 0xx1xx10.
    public static func isValidDLEEOTByte(_ byte: UInt8) -> Bool {
        (byte & 0x93) == 0x12
    }

    /// The fields one DLE EOT `n` (1-4) reply reports; nil if the byte is not of the form 0xx1xx10
    /// or `n` is not 1-4. Combine replies with `merging(_:)` or `applyDLEEOT(n:byte:)`.
    public static func decodeDLEEOT(n: UInt8, byte: UInt8) -> ReceiptPrinterStatus? {
        guard isValidDLEEOTByte(byte) else { return nil }
        func bit(_ k: UInt8) -> Bool { byte & (1 << k) != 0 }
        var s = ReceiptPrinterStatus()
        switch n {
        case 1:
            s.online = !bit(3)
        case 2:
            s.coverOpen = bit(2)
            s.paperOut = bit(5)
            s.errorOccurred = bit(6)
        case 3:
            s.cutterError = bit(3)
            s.unrecoverableError = bit(5)
            s.autoRecoverableError = bit(6)
        case 4:
            s.paperNearEnd = byte & 0x0C != 0
            s.paperOut = byte & 0x60 != 0
        default:
            return nil
        }
        return s
    }

    /// Merges a DLE EOT reply into `self`; returns false (and changes nothing) if it is invalid.
    @discardableResult
    public mutating func applyDLEEOT(n: UInt8, byte: UInt8) -> Bool {
        guard let s = ReceiptPrinterStatus.decodeDLEEOT(n: n, byte: byte) else { return false }
        merge(s)
        return true
    }

    /// The byte a printer in `status` answers to DLE EOT `n` (1-4); unknown fields read as "fine".
    /// For other `n` returns 0x12 (the fixed bits only).
    public static func statusByte(n: UInt8, for status: ReceiptPrinterStatus) -> UInt8 {
        var b: UInt8 = 0x12
        switch n {
        case 1:
            if status.online == false { b |= 0x08 }
        case 2:
            if status.coverOpen == true { b |= 0x04 }
            if status.paperOut == true { b |= 0x20 }
            if status.errorOccurred == true || status.cutterError == true || status.unrecoverableError == true
                || status.autoRecoverableError == true
            {
                b |= 0x40
            }
        case 3:
            if status.cutterError == true { b |= 0x08 }
            if status.unrecoverableError == true { b |= 0x20 }
            if status.autoRecoverableError == true { b |= 0x40 }
        case 4:
            if status.paperNearEnd == true { b |= 0x0C }
            if status.paperOut == true { b |= 0x60 }
        default:
            break
        }
        return b
    }

    // MARK: ASB

    /// ASB byte 1 has the form 0xx1xx00.
    public static func isASBFirstByte(_ byte: UInt8) -> Bool {
        (byte & 0x93) == 0x10
    }

    /// Decodes a 4-byte ASB block; nil if the bytes do not match 0xx1xx00 0xx0xxxx 0xx0xxxx 0xx0xxxx.
    public static func decodeASB(_ four: [UInt8]) -> ReceiptPrinterStatus? {
        guard four.count == 4, isASBFirstByte(four[0]),
            four[1...].allSatisfy({ $0 & 0x90 == 0 })
        else { return nil }
        let b1 = four[0]
        let b2 = four[1]
        let b3 = four[2]
        var s = ReceiptPrinterStatus()
        s.online = b1 & 0x08 == 0
        s.coverOpen = b1 & 0x20 != 0
        s.cutterError = b2 & 0x08 != 0
        s.unrecoverableError = b2 & 0x20 != 0
        s.autoRecoverableError = b2 & 0x40 != 0
        s.errorOccurred = b2 & 0x68 != 0
        s.paperNearEnd = b3 & 0x03 != 0
        s.paperOut = b3 & 0x0C != 0
        return s
    }

    /// The 4-byte ASB block a printer in `status` sends (for the simulator); unknown reads as "fine".
    public static func asbBytes(for status: ReceiptPrinterStatus) -> [UInt8] {
        var b1: UInt8 = 0x10
        var b2: UInt8 = 0
        var b3: UInt8 = 0
        if status.online == false { b1 |= 0x08 }
        if status.coverOpen == true { b1 |= 0x20 }
        if status.cutterError == true { b2 |= 0x08 }
        if status.unrecoverableError == true { b2 |= 0x20 }
        if status.autoRecoverableError == true { b2 |= 0x40 }
        if status.paperNearEnd == true { b3 |= 0x03 }
        if status.paperOut == true { b3 |= 0x0C }
        return [b1, b2, b3, 0x00]
    }
}
