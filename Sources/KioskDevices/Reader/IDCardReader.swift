import Foundation
import KioskProtocols
import Logging

public enum CardReaderEvent: Sendable {
    case cardRead(IDCardIdentity)
    case cardRemoved
    /// A problem the resident can act on (e.g. card moved during the read).
    case problem(resident: String, technician: String)
    case status(DeviceStatus)
}

/// The ID-card reader: speaks SAM frames over any ByteTransport, polls for cards only while a
/// screen asks for one (no faster than every 300 ms), reads once per placement and detects removal.
public actor IDCardReader {
    let transport: any ByteTransport
    let logger: Logger
    let pollInterval: Duration
    let presenceInterval: Duration
    private var parser = SAMFrameParser()
    private var current: DeviceStatus
    private var pollTask: Task<Void, Never>?
    private var stoppedTask: Task<Void, Never>?
    private var consecutiveTimeouts = 0
    private var reads = 0
    private var readFailures = 0
    public nonisolated let events: AsyncStream<CardReaderEvent>
    private let continuation: AsyncStream<CardReaderEvent>.Continuation

    public init(transport: any ByteTransport, model: String, simulated: Bool, logger: Logger,
                pollInterval: Duration = .milliseconds(300), presenceInterval: Duration = .milliseconds(500)) {
        self.transport = transport
        self.logger = logger
        self.pollInterval = max(pollInterval, .milliseconds(300))
        self.presenceInterval = presenceInterval
        self.current = DeviceStatus(kind: .idCardReader, state: .starting, model: model, simulated: simulated)
        (events, continuation) = AsyncStream<CardReaderEvent>.makeStream(bufferingPolicy: .bufferingNewest(32))
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["reads": reads, "readFailures": readFailures]
        return s
    }

    private func setStatus(_ state: DeviceState, error: String? = nil, action: ErrorAction? = nil, media: MediaState? = nil) {
        var s = current
        s.state = state
        s.lastError = error ?? (state == .online ? nil : s.lastError)
        s.action = action
        if let media { s.media = media }
        if s != current {
            current = s
            continuation.yield(.status(status()))
        }
    }

    struct Timeout: Error {}

    /// Sends one command and waits for its reply frame, resynchronising over stray bytes.
    func transact(_ cmd: SAMCommand) async throws -> SAMReply {
        var resent = false
        while true {
            try Task.checkCancellation()
            try await transport.write(cmd.encoded())
            let deadline = ContinuousClock.now + .milliseconds(cmd.hostTimeoutMilliseconds)
            var reply: SAMReply?
            loop: while true {
                while let f = parser.next() {
                    switch f {
                    case .frame(let body):
                        do { reply = try SAMReply(body: body); break loop } catch {
                            logger.warning("reader sent an unusable frame", metadata: ["error": "\(error)"])
                        }
                    case .corrupt(let e):
                        logger.warning("reader frame corrupt, resynchronising", metadata: ["error": "\(e)"])
                    }
                }
                try Task.checkCancellation()
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero { throw Timeout() }
                let bytes = try await transport.read(maxBytes: 4096, timeout: min(remaining, .milliseconds(200)))
                parser.feed(bytes)
            }
            guard let reply else { throw Timeout() }
            let outcome = SAMOutcome(sw3: reply.status)
            if case .linkError = outcome, !resent {
                // The SAM saw a bad checksum or length: flush and resend once.
                await transport.flushInput()
                parser = SAMFrameParser()
                resent = true
                continue
            }
            consecutiveTimeouts = 0
            return reply
        }
    }

    /// SAM status probe: the way a reader is recognised (not by its USB ids).
    @discardableResult
    public func probe() async -> Bool {
        do {
            var reply = try await transact(.samStatus)
            if case .samSelfTestFailed = SAMOutcome(sw3: reply.status) {
                _ = try? await transact(.resetSAM)
                reply = try await transact(.samStatus)
            }
            let outcome = SAMOutcome(sw3: reply.status)
            if case .ok = outcome {
                setStatus(.online, media: .notPresent)
                return true
            }
            setStatus(.hardwareError, error: outcome.technicianMessage, action: .maintenance)
            return false
        } catch let e as TransportError where e.disconnected {
            setStatus(.powerOff, error: "reader not connected (\(e.description)); check the USB cable", action: .maintenance)
            return false
        } catch {
            setStatus(.hardwareError, error: "reader does not answer the SAM status command (11 FF) within 2 s; check the cable and power, then run `kioskctl selftest reader`", action: .reset)
            return false
        }
    }

    /// Starts polling for a card. Each placement yields one `.cardRead`, then `.cardRemoved`.
    public func startReading() {
        guard pollTask == nil else { return }
        let previous = stoppedTask
        stoppedTask = nil
        // The previous loop must be gone before a new one talks to the reader.
        pollTask = Task { await previous?.value; await self.pollLoop() }
    }

    public func stopReading() {
        pollTask?.cancel()
        stoppedTask = pollTask
        pollTask = nil
    }

    private func pollLoop() async {
        // Replies to commands of a cancelled poll may still be in flight: start clean.
        await transport.flushInput()
        parser = SAMFrameParser()
        var probed = current.state == .online
        while !Task.isCancelled {
            if !probed {
                probed = await probe()
                if !probed { try? await Task.sleep(for: .seconds(2)); continue }
            }
            do {
                let found = try await transact(.findCard)
                switch SAMOutcome(sw3: found.status) {
                case .cardFound:
                    try await readPlacedCard()
                case .noCard:
                    try await Task.sleep(for: pollInterval)
                default:
                    try await Task.sleep(for: pollInterval)
                }
            } catch is CancellationError {
                return
            } catch is Timeout {
                consecutiveTimeouts += 1
                if consecutiveTimeouts >= 3 {
                    setStatus(.hardwareError, error: "reader stopped answering (3 timeouts); re-probing", action: .reset)
                    await transport.flushInput()
                    parser = SAMFrameParser()
                    probed = false
                    consecutiveTimeouts = 0
                }
                try? await Task.sleep(for: pollInterval)
            } catch let e as TransportError {
                setStatus(e.disconnected ? .powerOff : .hardwareError, error: "reader link failed: \(e.description); check the USB cable", action: .maintenance)
                probed = false
                try? await Task.sleep(for: .seconds(2))
            } catch {
                try? await Task.sleep(for: pollInterval)
            }
        }
    }

    private func readPlacedCard() async throws {
        let sel = try await transact(.selectCard)
        guard case .ok = SAMOutcome(sw3: sel.status) else { return }
        let reply = try await transact(.readTextAndPhoto)
        let outcome = SAMOutcome(sw3: reply.status)
        guard case .ok = outcome else {
            readFailures += 1
            continuation.yield(.problem(resident: outcome.residentMessage, technician: outcome.technicianMessage))
            return
        }
        do {
            let identity = try IDCardIdentity.decodeReadReply(reply.data)
            reads += 1
            setStatus(.online, media: .present)
            continuation.yield(.cardRead(identity))
        } catch {
            readFailures += 1
            continuation.yield(.problem(resident: "证件信息读取失败，请重新放置证件", technician: "card text could not be decoded: \(error)"))
        }
        // Wait for removal: the card stays consumed until it leaves the field.
        while !Task.isCancelled {
            try await Task.sleep(for: presenceInterval)
            let r: SAMReply
            do { r = try await transact(.readAddress) } catch is Timeout { break }
            switch SAMOutcome(sw3: r.status) {
            case .ok, .noContent: continue
            default: break
            }
            break
        }
        setStatus(.online, media: .notPresent)
        continuation.yield(.cardRemoved)
    }
}
