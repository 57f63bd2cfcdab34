// The screen socket's wire format: kioskd serves the resident screen on a local Unix socket; the
// display client (`kiosk-screen attach`, inside the terminal on the kiosk's monitor) and read-only
// mirrors (`kioskctl screen --watch`) attach to it.
//
// Every message is one type byte, a 4-byte big-endian payload length, and the payload.
//   client → kioskd:  H hello (JSON ScreenHello), I input (raw terminal bytes: keys, SGR mouse
//                     reports), S size (JSON ScreenSize, after the terminal was resized)
//   kioskd → client:  O output (terminal bytes, UTF-8, to write as they are), M mode (JSON ScreenMode)
// Pure: no I/O.

/// What a client says first: what it is and how large its terminal is.
public struct ScreenHello: Codable, Sendable, Equatable {
    /// `display` (the kiosk's own screen: its keys and taps reach the flow) or `watch` (a read-only mirror).
    public var role: ScreenRole
    public var columns: Int
    public var rows: Int
    public init(role: ScreenRole, columns: Int, rows: Int) {
        self.role = role
        self.columns = columns
        self.rows = rows
    }
}

public enum ScreenRole: String, Codable, Sendable { case display, watch }

public struct ScreenSize: Codable, Sendable, Equatable {
    public var columns: Int
    public var rows: Int
    public init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
    }
}

/// The flow's presentation mode: a display in large mode uses a larger font (a smaller grid).
public struct ScreenMode: Codable, Sendable, Equatable {
    public var largeMode: Bool
    /// The grid the frames are laid out for.
    public var columns: Int
    public var rows: Int
    public init(largeMode: Bool, columns: Int, rows: Int) {
        self.largeMode = largeMode
        self.columns = columns
        self.rows = rows
    }
}

public enum ScreenMessageType: UInt8, Sendable {
    case hello = 0x48  // H
    case input = 0x49  // I
    case size = 0x53  // S
    case output = 0x4F  // O
    case mode = 0x4D  // M
}

public struct ScreenMessage: Sendable, Equatable {
    public var type: ScreenMessageType
    public var payload: [UInt8]
    public init(_ type: ScreenMessageType, _ payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }

    /// The largest payload either side accepts (a whole frame is a few KB).
    public static let maxPayload = 1 << 20

    public var encoded: [UInt8] {
        let n = UInt32(payload.count)
        return [type.rawValue, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }
}

public struct ScreenWireError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Splits a byte stream into messages. Feed what arrives; take the complete messages.
public struct ScreenMessageReader: Sendable {
    private var buffer: [UInt8] = []
    public init() {}

    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [ScreenMessage] {
        buffer += bytes
        var out: [ScreenMessage] = []
        while buffer.count >= 5 {
            guard let type = ScreenMessageType(rawValue: buffer[0]) else {
                throw ScreenWireError("unknown screen message type \(buffer[0]): not a kioskd screen socket peer")
            }
            let n = Int(buffer[1]) << 24 | Int(buffer[2]) << 16 | Int(buffer[3]) << 8 | Int(buffer[4])
            guard n <= ScreenMessage.maxPayload else {
                throw ScreenWireError("screen message of \(n) bytes is larger than \(ScreenMessage.maxPayload)")
            }
            guard buffer.count >= 5 + n else { break }
            out.append(ScreenMessage(type, Array(buffer[5..<(5 + n)])))
            buffer.removeFirst(5 + n)
        }
        return out
    }
}
