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

/// A link to a reader that answered the SAM status command.
public struct ReaderLink: Sendable {
    public var transport: any ByteTransport
    /// Model or profile name, for status and logs.
    public var model: String
    /// Where it is attached, e.g. "usb 1-1 0400:c35a" or "serial /dev/ttyUSB0".
    public var connection: String
    public var profileId: String?
    public init(transport: any ByteTransport, model: String, connection: String, profileId: String? = nil) {
        self.transport = transport
        self.model = model
        self.connection = connection
        self.profileId = profileId
    }
}

/// Finds and opens readers (USB vendor class, serial bridges, HID), for the reader actor to use
/// after start-up and after every unplug.
public protocol ReaderLinkProvider: Sendable {
    /// A link to a reader that answered `11 FF` with 90, or nil when none is there (with the reason).
    func connect() async -> (link: ReaderLink?, problem: String?)
    /// Returns when a device may have arrived (hot-plug) or after `timeout`, whichever is first.
    func waitForChange(timeout: Duration) async
}

public struct ReaderOptions: Sendable {
    /// `20 01` interval while a screen wants a card; never below 300 ms.
    public var pollInterval: Duration
    /// `30 03` interval while a read card is still on the reader.
    public var presenceInterval: Duration
    /// SAM status check while nobody wants a card (notices an unplugged serial reader).
    public var idleCheckInterval: Duration
    /// How often to look for a reader while none is connected (when there is no hot-plug).
    public var rescanInterval: Duration
    /// Read with `30 10` (text, photo and fingerprints). Off by default: fingerprints are
    /// sensitive and only read when configuration enables them.
    public var readFingerprints: Bool

    public init(
        pollInterval: Duration = .milliseconds(300), presenceInterval: Duration = .milliseconds(500),
        idleCheckInterval: Duration = .seconds(3), rescanInterval: Duration = .seconds(2),
        readFingerprints: Bool = false
    ) {
        self.pollInterval = max(pollInterval, .milliseconds(300))
        self.presenceInterval = presenceInterval
        self.idleCheckInterval = idleCheckInterval
        self.rescanInterval = rescanInterval
        self.readFingerprints = readFingerprints
    }
}

/// The ID-card reader. One supervising loop owns the link: it connects (and reconnects after an
/// unplug), polls for cards only while a screen asks for one (no faster than every 300 ms, no
/// busy waiting), reads once per placement, detects removal, recovers from SAM statuses
/// (10/11 flush and resend, 60 reset then status, 41 ask to hold still / re-place) and publishes
/// its state in the device status vocabulary.
public actor IDCardReader {
    private var transport: (any ByteTransport)?
    private let provider: (any ReaderLinkProvider)?
    let logger: Logger
    let options: ReaderOptions
    private var parser = SAMFrameParser()
    private var current: DeviceStatus
    private var loopTask: Task<Void, Never>?
    private var wantCard = false
    private var probed = false
    private var wakeups: [Int: CheckedContinuation<Void, Never>] = [:]
    private var napSerial = 0
    private var consecutiveTimeouts = 0
    private var consecutiveAuthFailures = 0
    private var reads = 0
    private var readFailures = 0
    private var reconnects = 0
    private var linkBusy = false
    private var linkWaiters: [CheckedContinuation<Void, Never>] = []
    public nonisolated let events: AsyncStream<CardReaderEvent>
    private let continuation: AsyncStream<CardReaderEvent>.Continuation

    /// A reader on a fixed link (the simulator, or a transport opened by the caller).
    public init(
        transport: any ByteTransport, model: String, simulated: Bool, logger: Logger,
        pollInterval: Duration = .milliseconds(300), presenceInterval: Duration = .milliseconds(500)
    ) {
        self.init(
            transport: transport, provider: nil, model: model, simulated: simulated, logger: logger,
            options: ReaderOptions(pollInterval: pollInterval, presenceInterval: presenceInterval))
    }

    /// A reader found and re-found by `provider` (USB, serial, HID).
    public init(provider: any ReaderLinkProvider, logger: Logger, options: ReaderOptions = ReaderOptions()) {
        self.init(
            transport: nil, provider: provider, model: "ID-card reader", simulated: false, logger: logger,
            options: options)
    }

    private init(
        transport: (any ByteTransport)?, provider: (any ReaderLinkProvider)?, model: String, simulated: Bool,
        logger: Logger, options: ReaderOptions
    ) {
        self.transport = transport
        self.provider = provider
        self.logger = logger
        self.options = options
        var s = DeviceStatus(kind: .idCardReader, state: .starting, model: model, simulated: simulated)
        s.connection = transport?.description
        self.current = s
        (events, continuation) = AsyncStream<CardReaderEvent>.makeStream(bufferingPolicy: .bufferingNewest(32))
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["reads": reads, "readFailures": readFailures, "reconnects": reconnects]
        return s
    }

    private func setStatus(
        _ state: DeviceState, error: String? = nil, action: ErrorAction? = nil, media: MediaState? = nil
    ) {
        var s = current
        s.state = state
        s.lastError = error ?? (state == .online ? nil : s.lastError)
        s.action = state == .online ? nil : action
        if let media { s.media = media }
        if state == .powerOff || state == .noDevice { s.media = .unknown }
        if s != current {
            if s.state != current.state {
                logger.info(
                    "reader state", metadata: ["state": "\(s.state.rawValue)", "detail": "\(s.lastError ?? "-")"])
            }
            current = s
            continuation.yield(.status(status()))
        }
    }

    struct Timeout: Error {}

    // MARK: link lock (one exchange on the wire at a time)

    private func acquireLink() async {
        if !linkBusy {
            linkBusy = true
            return
        }
        await withCheckedContinuation { linkWaiters.append($0) }
    }

    private func releaseLink() {
        if linkWaiters.isEmpty { linkBusy = false } else { linkWaiters.removeFirst().resume() }
    }

    /// Sends one command and waits for its reply frame, resynchronising over stray bytes.
    /// 10/11 (the SAM saw a bad checksum or length): flush and resend once.
    func transact(_ cmd: SAMCommand) async throws -> SAMReply {
        guard let transport else { throw TransportError("no reader connected", disconnected: true) }
        await acquireLink()
        defer { releaseLink() }
        var resent = false
        while true {
            try Task.checkCancellation()
            // A reply that came after its command timed out (30 03 while a card leaves the field)
            // must not become the reply to this one: drop whatever is waiting before sending.
            await transport.flushInput()
            if let stale = parser.discardPartialFrame(), case .corrupt = stale {
                logger.info("reader: dropped the rest of an earlier reply", metadata: ["command": "\(cmd.label)"])
            }
            parser.reset()
            try await transport.write(cmd.encoded())
            let deadline = ContinuousClock.now + .milliseconds(cmd.hostTimeoutMilliseconds)
            var reply: SAMReply?
            loop: while true {
                while let f = parser.next() {
                    switch f {
                    case .frame(let body):
                        do {
                            let r = try SAMReply(body: body)
                            if let why = Self.mismatch(r, for: cmd) {
                                // Late reply to an earlier command (or to nothing): not ours.
                                logger.warning(
                                    "reader reply dropped", metadata: ["command": "\(cmd.label)", "why": "\(why)"])
                                continue
                            }
                            reply = r
                            break loop
                        } catch {
                            logger.warning("reader sent an unusable frame", metadata: ["error": "\(error)"])
                        }
                    case .corrupt(let e):
                        logger.warning("reader frame corrupt, resynchronising", metadata: ["error": "\(e)"])
                    }
                }
                try Task.checkCancellation()
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero {
                    if let report = parser.discardPartialFrame(), case .corrupt(let e) = report {
                        logger.warning("reader reply cut off", metadata: ["error": "\(e)", "command": "\(cmd.label)"])
                    }
                    throw Timeout()
                }
                let bytes = try await transport.read(maxBytes: 4096, timeout: min(remaining, .milliseconds(200)))
                parser.feed(bytes)
            }
            guard let reply else { throw Timeout() }
            if case .linkError = reply.outcome, !resent {
                await transport.flushInput()
                parser.reset()
                resent = true
                continue
            }
            consecutiveTimeouts = 0
            return reply
        }
    }

    /// Why `reply` cannot be the answer to `cmd` (nil when it can). Successful replies carry
    /// exactly the data their command returns (devices.md §1.3); error statuses carry none. A
    /// reply of another shape is a late answer to an earlier command and is dropped.
    static func mismatch(_ reply: SAMReply, for cmd: SAMCommand) -> String? {
        let n = reply.data.count
        let success: (status: UInt8, lengths: ClosedRange<Int>, alsoEmpty: Set<UInt8>)
        switch (cmd.cmd, cmd.para) {
        case (0x10, _), (0x11, _), (0x61, _), (0x60, _): success = (0x90, 0...0, [])
        case (0x12, _): success = (0x90, 16...16, [])
        case (0x20, 0x01): success = (0x9F, 4...4, [])
        case (0x20, 0x02): success = (0x90, 8...8, [])
        case (0x30, 0x01): success = (0x90, 1284...1284, [])
        // 4 + FP_LEN(2) + 256 + 1024 + fingerprints of 0, 512 or 1024 bytes.
        case (0x30, 0x10): success = (0x90, 1286...2310, [])
        // 70 bytes of UCS-2 address (unverified: accept up to 70); 91 = none.
        case (0x30, 0x03): success = (0x90, 0...70, [0x91])
        default: return nil  // commands without a known reply shape are taken as they come
        }
        if reply.status == success.status {
            guard success.lengths.contains(n) else {
                return
                    "status \(String(format: "%02X", reply.status)) with \(n) data bytes, \(cmd.label) returns \(success.lengths.lowerBound == success.lengths.upperBound ? "\(success.lengths.lowerBound)" : "\(success.lengths.lowerBound)–\(success.lengths.upperBound)")"
            }
            if cmd.cmd == 0x30 && cmd.para == 0x10 && ![1286, 1798, 2310].contains(n) {
                return "\(n) data bytes is no fingerprint length (0, 512 or 1024)"
            }
            return nil
        }
        if success.alsoEmpty.contains(reply.status) {
            return n == 0 ? nil : "status \(String(format: "%02X", reply.status)) with data"
        }
        // 90 / 9F / 91 belong to other commands; anything else is an error status without data.
        if [0x90, 0x9F, 0x91].contains(reply.status) {
            return "status \(String(format: "%02X", reply.status)) is not an answer to \(cmd.label)"
        }
        return n == 0 ? nil : "error status \(String(format: "%02X", reply.status)) with \(n) data bytes"
    }

    // MARK: connection

    private func dropLink(_ why: String, state: DeviceState = .powerOff, action: ErrorAction = .maintenance) async {
        if let t = transport, provider != nil {
            await t.close()
            transport = nil
        }
        probed = false
        parser.reset()
        setStatus(state, error: why, action: action)
    }

    /// Makes sure there is a link; returns false if none could be had.
    private func ensureLink() async -> Bool {
        if transport != nil { return true }
        guard let provider else { return false }
        let (link, problem) = await provider.connect()
        guard let link else {
            setStatus(
                .powerOff,
                error: problem ?? "no ID-card reader found; check the USB cable, then run `kioskctl devices`",
                action: .maintenance)
            return false
        }
        if current.state != .starting { reconnects += 1 }
        transport = link.transport
        parser.reset()
        current.model = link.model
        current.connection = link.connection
        probed = false
        return true
    }

    /// SAM status probe: the way a reader is recognised (not by its USB ids). 60 (self-test
    /// failed) gets a reset and a second status before it counts as a hardware fault.
    @discardableResult
    public func probe() async -> Bool {
        guard await ensureLink() else { return false }
        do {
            var reply = try await transact(.samStatus)
            if case .samSelfTestFailed = reply.outcome {
                logger.warning("SAM self-test failed (60); resetting the SAM")
                _ = try? await transact(.resetSAM)
                reply = try await transact(.samStatus)
            }
            switch reply.outcome {
            case .ok:
                probed = true
                if let id = try? await transact(.samID), id.outcome == .ok,
                    let s = SAMReply.samIDString(fromData: id.data)
                {
                    current.identity = s
                }
                setStatus(.online, media: .notPresent)
                return true
            case .samNotAuthorised:
                setStatus(.hardwareError, error: reply.outcome.technicianMessage, action: .maintenance)
            default:
                setStatus(.hardwareError, error: reply.outcome.technicianMessage, action: .maintenance)
            }
            return false
        } catch let e as TransportError where e.disconnected {
            await dropLink("reader not connected (\(e.description)); check the USB cable")
            return false
        } catch {
            setStatus(
                .hardwareError,
                error:
                    "reader does not answer the SAM status command (11 FF) within 2 s; check the cable and power, then run `kioskctl selftest reader`",
                action: .reset)
            if provider != nil {
                await dropLink(
                    "reader does not answer the SAM status command (11 FF); re-opening it", state: .hardwareError,
                    action: .reset)
            }
            return false
        }
    }

    /// The SAM's id (`12 FF`), e.g. "05.01-20261123-0000000001-0000000042".
    public func samID() async throws -> String {
        guard await ensureLink() else { throw TransportError("no reader connected", disconnected: true) }
        let r = try await transact(.samID)
        guard r.outcome == .ok, let s = SAMReply.samIDString(fromData: r.data) else {
            throw DeviceError("SAM ID (12 FF) answered \(r.outcome.technicianMessage)", resident: "读卡器暂时无法使用")
        }
        return s
    }

    // MARK: supervision

    /// Starts the supervising loop (idempotent). `startReading()` starts it too.
    public func start() {
        guard loopTask == nil else { return }
        loopTask = Task { await self.superviseLoop() }
    }

    /// Stops the loop and closes the link.
    public func shutdown() async {
        wantCard = false
        loopTask?.cancel()
        wake()
        await loopTask?.value
        loopTask = nil
        if let t = transport { await t.close() }
        if provider != nil { transport = nil }
    }

    /// Starts polling for a card. Each placement yields one `.cardRead`, then `.cardRemoved`.
    public func startReading() {
        start()
        if !wantCard {
            wantCard = true
            // Replies to commands of an earlier poll may still be in flight: start clean.
            parser.reset()
        }
        wake()
    }

    public func stopReading() {
        wantCard = false
        wake()
    }

    private func wake() {
        let w = wakeups.values
        wakeups.removeAll()
        for c in w { c.resume() }
    }

    private func wake(_ id: Int) { wakeups.removeValue(forKey: id)?.resume() }

    /// Sleeps up to `d`, returning early when woken (start/stop reading, shutdown).
    private func nap(_ d: Duration) async {
        napSerial += 1
        let me = napSerial
        await withTaskGroup(of: Void.self) { g in
            // Ends this nap (only this one) at the deadline, or at once when cancelled.
            g.addTask {
                try? await Task.sleep(for: d)
                await self.wake(me)
            }
            await withCheckedContinuation { c in
                if Task.isCancelled { c.resume() } else { wakeups[me] = c }
            }
            g.cancelAll()
        }
    }

    private func superviseLoop() async {
        var lastIdleCheck = ContinuousClock.now
        while !Task.isCancelled {
            if transport == nil {
                guard let provider else { return }
                if await ensureLink() {
                    logger.info("reader link opened", metadata: ["connection": "\(current.connection ?? "-")"])
                } else {
                    await provider.waitForChange(timeout: options.rescanInterval)
                    continue
                }
            }
            if !probed {
                if await probe() {
                    lastIdleCheck = .now
                } else {
                    if transport == nil { continue }
                    await nap(.seconds(2))
                    continue
                }
            }
            if wantCard {
                await pollOnce()
                if wantCard { await nap(options.pollInterval) }
                lastIdleCheck = .now
            } else {
                if ContinuousClock.now - lastIdleCheck >= options.idleCheckInterval {
                    lastIdleCheck = .now
                    await idleCheck()
                }
                await nap(options.idleCheckInterval)
            }
        }
    }

    /// While no screen wants a card: a SAM status every few seconds notices an unplugged or
    /// silent reader, so technicians and the home screen see it at once.
    private func idleCheck() async {
        do {
            let r = try await transact(.samStatus)
            if r.outcome == .ok {
                if current.state != .online { setStatus(.online, media: .notPresent) }
            } else {
                probed = false
            }
        } catch let e as TransportError where e.disconnected {
            await dropLink("reader unplugged (\(e.description)); plug it back in, it is picked up without a restart")
        } catch is Timeout {
            await countTimeout()
        } catch {
            logger.warning("reader idle check failed", metadata: ["error": "\(error)"])
        }
    }

    private func countTimeout() async {
        consecutiveTimeouts += 1
        if consecutiveTimeouts >= 3 {
            consecutiveTimeouts = 0
            if provider != nil {
                await dropLink(
                    "reader stopped answering (3 timeouts); re-opening it", state: .hardwareError, action: .reset)
            } else {
                setStatus(.hardwareError, error: "reader stopped answering (3 timeouts); re-probing", action: .reset)
                await transport?.flushInput()
                parser.reset()
                probed = false
            }
        }
    }

    private func pollOnce() async {
        do {
            let found = try await transact(.findCard)
            switch found.outcome {
            case .cardFound:
                try await readPlacedCard()
            case .noCard, .ok, .noContent:
                if current.state != .online { setStatus(.online, media: .notPresent) }
            case .samSelfTestFailed, .samNotAuthorised:
                probed = false  // reset and status on the next round
            default:
                logger.info("find card answered", metadata: ["detail": "\(found.outcome.technicianMessage)"])
            }
        } catch is CancellationError {
            return
        } catch is Timeout {
            await countTimeout()
        } catch let e as TransportError {
            if e.disconnected || provider != nil {
                await dropLink("reader link failed: \(e.description)")
            } else {
                setStatus(
                    .hardwareError, error: "reader link failed: \(e.description); check the USB cable",
                    action: .maintenance)
                probed = false
            }
        } catch {
            logger.warning("card poll failed", metadata: ["error": "\(error)"])
        }
    }

    private func readPlacedCard() async throws {
        let sel = try await transact(.selectCard)
        guard sel.outcome == .ok else { return }  // 81: restart at 20 01 on the next poll
        let reply = try await transact(options.readFingerprints ? .readTextPhotoFingerprint : .readTextAndPhoto)
        let outcome = reply.outcome
        guard outcome == .ok else {
            readFailures += 1
            if outcome == .authenticationFailed {
                consecutiveAuthFailures += 1
                if consecutiveAuthFailures >= 3 {
                    continuation.yield(
                        .problem(
                            resident: "证件无法识别，可能已损坏，请联系工作人员",
                            technician: outcome.technicianMessage + " (3 times in a row)"))
                    consecutiveAuthFailures = 0
                    return
                }
            }
            if outcome == .samSelfTestFailed { probed = false }
            // 41 (card moved) and others: the card is not consumed, the next poll finds it again.
            continuation.yield(.problem(resident: outcome.residentMessage, technician: outcome.technicianMessage))
            return
        }
        consecutiveAuthFailures = 0
        do {
            var identity = try IDCardIdentity.decodeReadReply(reply.data)
            if !options.readFingerprints { identity.fingerprint = nil }
            reads += 1
            setStatus(.online, media: .present)
            if wantCard { continuation.yield(.cardRead(identity)) }
        } catch {
            readFailures += 1
            continuation.yield(
                .problem(resident: "证件信息读取失败，请重新放置证件", technician: "card text could not be decoded: \(error)"))
        }
        // Wait for removal: the card stays consumed until it leaves the field.
        while !Task.isCancelled {
            await nap(options.presenceInterval)
            if Task.isCancelled { return }
            let r: SAMReply
            do { r = try await transact(.readAddress) } catch is Timeout { break }
            switch r.outcome {
            case .ok, .noContent: continue
            default: break
            }
            break
        }
        setStatus(.online, media: .notPresent)
        continuation.yield(.cardRemoved)
    }

    /// Reads one card outside the resident flow (`kioskctl idcard read`, self-test): waits up to
    /// `timeout` for a placement. The raw reply data is returned with the decoded identity.
    public func readOnce(timeout: Duration) async throws -> (identity: IDCardIdentity, replyData: [UInt8]) {
        var ready = probed
        if !ready { ready = await probe() }
        guard ready else {
            throw DeviceError(current.lastError ?? "no reader", resident: "读卡器未连接")
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let found = try await transact(.findCard)
            if found.outcome == .cardFound {
                let sel = try await transact(.selectCard)
                if sel.outcome == .ok {
                    let r = try await transact(options.readFingerprints ? .readTextPhotoFingerprint : .readTextAndPhoto)
                    if r.outcome == .ok {
                        reads += 1
                        return (try IDCardIdentity.decodeReadReply(r.data), r.data)
                    }
                    readFailures += 1
                    throw DeviceError(r.outcome.technicianMessage, resident: r.outcome.residentMessage)
                }
            }
            try await Task.sleep(for: options.pollInterval)
        }
        throw DeviceError("no card was placed within \(timeout)", resident: "请放置证件")
    }
}
