import Foundation

/// A byte pipe to a device. Real implementations: libusb bulk, serial (termios), HID; the
/// simulator link attaches a simulated device in-process. Device code does not know which.
public protocol ByteTransport: Sendable {
    /// Writes all bytes or throws.
    func write(_ bytes: [UInt8]) async throws
    /// Reads what is available (up to maxBytes), waiting at most `timeout`; returns [] on timeout.
    func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8]
    /// Drops any bytes waiting to be read.
    func flushInput() async
    func close() async
    var description: String { get }
}

public struct TransportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var disconnected: Bool
    public init(_ description: String, disconnected: Bool = false) {
        self.description = description
        self.disconnected = disconnected
    }
}

/// The device side of a simulator: consumes host bytes, produces reply bytes.
public protocol SimulatedDeviceModel: AnyObject, Sendable {
    /// Bytes from the host. Returns bytes the device sends back (may be empty).
    func receive(_ bytes: [UInt8]) -> [UInt8]
    /// Whether the simulated device is plugged in.
    var connected: Bool { get }
}

/// In-process link between a device actor and a simulated device: the same transport seam the
/// real USB and serial code use. Replies are delivered in `packetSize` chunks like USB bulk IN.
public actor SimulatorLink: ByteTransport {
    let model: any SimulatedDeviceModel
    let packetSize: Int
    private var inbound: [UInt8] = []
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var readSerial = 0
    public nonisolated let description: String

    public init(model: any SimulatedDeviceModel, packetSize: Int = 64, name: String) {
        self.model = model
        self.packetSize = packetSize
        self.description = "simulator:\(name)"
    }

    public func write(_ bytes: [UInt8]) async throws {
        guard model.connected else { throw TransportError("simulated device unplugged", disconnected: true) }
        let reply = model.receive(bytes)
        if !reply.isEmpty {
            inbound.append(contentsOf: reply)
            wakeAny()
        }
    }

    public func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        guard model.connected else { throw TransportError("simulated device unplugged", disconnected: true) }
        if inbound.isEmpty {
            readSerial += 1
            let me = readSerial
            await withTaskGroup(of: Void.self) { group in
                // Ends the wait at the timeout, and also when the reader is cancelled.
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    await self.wakeWaiter(me)
                }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    if !inbound.isEmpty { c.resume() } else { waiters[me] = c }
                }
                group.cancelAll()
            }
        }
        let n = min(maxBytes, packetSize, inbound.count)
        let out = Array(inbound.prefix(n))
        inbound.removeFirst(n)
        return out
    }

    private func wakeWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume()
    }

    private func wakeAny() {
        let all = waiters.values
        waiters.removeAll()
        for c in all { c.resume() }
    }

    public func flushInput() async { inbound.removeAll() }
    public func close() async { wakeAny() }
}
