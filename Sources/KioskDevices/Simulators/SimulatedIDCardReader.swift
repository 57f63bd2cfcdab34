import Foundation
import KioskProtocols

/// A simulated ID-card reader: a SAM module seen from the device side. It answers SAM frames
/// like the real module, so the reader actor's protocol code runs unchanged against it.
public final class SimulatedIDCardReader: SimulatedDeviceModel, @unchecked Sendable {
    private let lock = NSLock()
    private var parser = SAMFrameParser()
    private var card: IDCardIdentity?
    private var consumed = false
    private var isConnected = true
    private var removeAfterRead: Duration?
    private var nextFailure: UInt8?
    private var placement = 0
    private var holdReplyTo: SAMCommand?
    private var heldReply: [UInt8] = []

    /// - Parameter removeAfterRead: simulate the resident taking the card away this long after a read.
    public init(removeAfterRead: Duration? = nil) {
        self.removeAfterRead = removeAfterRead
    }

    public var connected: Bool { lock.withLock { isConnected } }
    public var cardPresent: Bool { lock.withLock { card != nil } }

    /// Puts a card on the reader. A card already there counts as taken away first: the new
    /// placement is found and read again, and a pending simulated removal no longer applies.
    public func place(_ identity: IDCardIdentity) {
        lock.withLock {
            card = identity
            consumed = false
            placement += 1
        }
    }
    public func remove() {
        lock.withLock {
            card = nil
            consumed = false
            placement += 1
        }
    }
    private func remove(placement p: Int) {
        lock.withLock {
            if placement == p {
                card = nil
                consumed = false
                placement += 1
            }
        }
    }
    public func unplug() { lock.withLock { isConnected = false } }
    public func plug() {
        lock.withLock {
            isConnected = true
            parser = SAMFrameParser()
        }
    }
    /// Makes the next read answer with this SW3 (e.g. 0x41 card moved).
    public func failNextRead(status: UInt8) { lock.withLock { nextFailure = status } }

    /// Withholds the reply to the next `command` (the host times out) and sends it just ahead
    /// of the reply to whatever command comes next, as a SAM that answered late does (a `30 03`
    /// while the card leaves the field takes longer than the host's 1 s).
    public func holdNextReply(to command: SAMCommand) { lock.withLock { holdReplyTo = command } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var scheduleRemoval = false
        var readPlacement = 0
        lock.withLock {
            parser.feed(bytes)
            while let f = parser.next() {
                guard case .frame(let body) = f else {
                    out += SAMReply(status: 0x10, data: []).encoded()
                    continue
                }
                guard let cmd = try? SAMCommand(body: body) else {
                    out += SAMReply(status: 0x21, data: []).encoded()
                    continue
                }
                let reply = answer(cmd, scheduleRemoval: &scheduleRemoval)
                if let h = holdReplyTo, h.cmd == cmd.cmd, h.para == cmd.para {
                    holdReplyTo = nil
                    heldReply = reply
                    continue
                }
                out += heldReply + reply
                heldReply = []
            }
            readPlacement = placement
        }
        if scheduleRemoval, let delay = removeAfterRead {
            Task { [weak self] in
                try? await Task.sleep(for: delay)
                self?.remove(placement: readPlacement)
            }
        }
        return out
    }

    private func answer(_ cmd: SAMCommand, scheduleRemoval: inout Bool) -> [UInt8] {
        switch (cmd.cmd, cmd.para) {
        case (0x10, 0xFF), (0x11, 0xFF), (0x61, 0xFF), (0x60, _):
            return SAMReply(status: 0x90, data: []).encoded()
        case (0x12, 0xFF):
            // SAM id: two u16 LE and three u32 LE.
            var d: [UInt8] = [0x05, 0x00, 0x01, 0x00]
            for v: UInt32 in [20261123, 1, 42] { d += withUnsafeBytes(of: v.littleEndian, Array.init) }
            return SAMReply(status: 0x90, data: d).encoded()
        case (0x20, 0x01):
            if card != nil && !consumed { return SAMReply(status: 0x9F, data: [0, 0, 0, 0]).encoded() }
            return SAMReply(status: 0x80, data: []).encoded()
        case (0x20, 0x02):
            if card != nil { return SAMReply(status: 0x90, data: [UInt8](repeating: 0, count: 8)).encoded() }
            return SAMReply(status: 0x81, data: []).encoded()
        case (0x30, 0x01):
            guard let c = card else { return SAMReply(status: 0x41, data: []).encoded() }
            if let f = nextFailure {
                nextFailure = nil
                return SAMReply(status: f, data: []).encoded()
            }
            consumed = true
            scheduleRemoval = true
            let data = IDCardIdentity.encodeReadReplyData(text: c.encodeTextBlock(), photo: c.photo)
            return SAMReply(status: 0x90, data: data).encoded()
        case (0x30, 0x03):
            // Only the card that was read answers; a fresh placement has no session yet.
            return card != nil && consumed
                ? SAMReply(status: 0x91, data: []).encoded() : SAMReply(status: 0x80, data: []).encoded()
        default:
            return SAMReply(status: 0x21, data: []).encoded()
        }
    }
}
