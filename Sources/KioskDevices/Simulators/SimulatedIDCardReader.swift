import Foundation
import KioskProtocols
import Synchronization

/// A simulated ID-card reader: a SAM module seen from the device side. It answers SAM frames
/// like the real module, so the reader actor's protocol code runs unchanged against it.
public final class SimulatedIDCardReader: SimulatedDeviceModel, Sendable {
    /// The module's state, changed by one caller at a time.
    struct Model {
        var parser = SAMFrameParser()
        var card: IDCardIdentity?
        var consumed = false
        var isConnected = true
        var nextFailure: UInt8?
        var placement = 0
        var holdReplyTo: SAMCommand?
        var heldReply: [UInt8] = []

        mutating func answer(_ cmd: SAMCommand, scheduleRemoval: inout Bool) -> [UInt8] {
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
    private let model = Mutex(Model())
    private let removeAfterRead: Duration?

    /// - Parameter removeAfterRead: simulate the resident taking the card away this long after a read.
    public init(removeAfterRead: Duration? = nil) {
        self.removeAfterRead = removeAfterRead
    }

    public var connected: Bool { model.withLock { $0.isConnected } }
    public var cardPresent: Bool { model.withLock { $0.card != nil } }

    /// Puts a card on the reader. A card already there counts as taken away first: the new
    /// placement is found and read again, and a pending simulated removal no longer applies.
    public func place(_ identity: IDCardIdentity) {
        model.withLock { m in
            m.card = identity
            m.consumed = false
            m.placement += 1
        }
    }
    public func remove() {
        model.withLock { m in
            m.card = nil
            m.consumed = false
            m.placement += 1
        }
    }
    private func remove(placement p: Int) {
        model.withLock { m in
            guard m.placement == p else { return }
            m.card = nil
            m.consumed = false
            m.placement += 1
        }
    }
    public func unplug() { model.withLock { $0.isConnected = false } }
    public func plug() {
        model.withLock { m in
            m.isConnected = true
            m.parser = SAMFrameParser()
        }
    }
    /// Makes the next read answer with this SW3 (e.g. 0x41 card moved).
    public func failNextRead(status: UInt8) { model.withLock { $0.nextFailure = status } }

    /// Withholds the reply to the next `command` (the host times out) and sends it just ahead
    /// of the reply to whatever command comes next, as a SAM that answered late does (a `30 03`
    /// while the card leaves the field takes longer than the host's 1 s).
    public func holdNextReply(to command: SAMCommand) { model.withLock { $0.holdReplyTo = command } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        var scheduleRemoval = false
        let (out, readPlacement): ([UInt8], Int) = model.withLock { m in
            var out: [UInt8] = []
            m.parser.feed(bytes)
            while let f = m.parser.next() {
                guard case .frame(let body) = f else {
                    out += SAMReply(status: 0x10, data: []).encoded()
                    continue
                }
                guard let cmd = try? SAMCommand(body: body) else {
                    out += SAMReply(status: 0x21, data: []).encoded()
                    continue
                }
                let reply = m.answer(cmd, scheduleRemoval: &scheduleRemoval)
                if let h = m.holdReplyTo, h.cmd == cmd.cmd, h.para == cmd.para {
                    m.holdReplyTo = nil
                    m.heldReply = reply
                    continue
                }
                out += m.heldReply + reply
                m.heldReply = []
            }
            return (out, m.placement)
        }
        if scheduleRemoval, let delay = removeAfterRead {
            Task { [weak self] in
                try? await Task.sleep(for: delay)
                self?.remove(placement: readPlacement)
            }
        }
        return out
    }
}
