// Slow clients cannot starve the intake. Four rules, from the socket up:
//
//   - at most `maxConnections` open at once: one more is answered 503 (Retry-After, plain HTTP) and
//     closed at once, so the descriptors stay below the unit's LimitNOFILE and accept() never runs
//     out of them (Hummingbird's MaximumAvailableConnections only pauses accepting, and did not
//     hold against a burst here: several connections are accepted per wake-up);
//   - a connection that completes no request part for `idleTimeoutSeconds` is closed (Hummingbird's
//     idle timeout: it also bounds how long a request head may take, and a half-sent body that stops);
//   - a request that is being received must bring at least `minBytesPerSecond` per window of
//     `rateWindowSeconds` (ConnectionGuard below): two windows that bring something but too little
//     close it as a trickle (one is forgiven: the last bytes of a request may fall into a window
//     the handler is still busy in); a window in which nothing arrives is the idle rule's; once the
//     intake answers, the request is no longer "being received";
//   - a reset by the client is logged as a reset (not as an internal error), and a body that is not
//     valid HTTP (a malformed chunk) is answered 400 (JSONErrorMiddleware, ClientFault).

import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Connections open right now, shared by every connection of one server.
final class ConnectionCount: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)
    init(limit: Int) { self.limit = limit }
    /// Counts a new connection; false (and not counted) when the limit is reached.
    func admit() -> Bool {
        guard open.add(1, ordering: .relaxed).newValue <= limit else {
            open.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }
    func release() { open.subtract(1, ordering: .relaxed) }
    var current: Int { open.load(ordering: .relaxed) }
}

/// Wraps the HTTP (or TLS) child channel and puts a `ConnectionGuard` first in every connection's
/// pipeline; a connection beyond the limit is refused there.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let window: TimeAmount
    let minBytesPerWindow: Int
    let connections: ConnectionCount
    /// Plain HTTP: a refused connection is told 503 before it is closed (with TLS it is only closed).
    let plainHTTP: Bool
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = connections.admit()
        if admitted {
            let connections = self.connections
            channel.closeFuture.whenComplete { _ in connections.release() }
        } else {
            self.logger.warning(
                "connection refused: too many open", metadata: ["limit": "\(connections.limit)"])
        }
        let guardHandler = ConnectionGuard(
            window: window, minBytesPerWindow: minBytesPerWindow, refuse: !admitted, plainHTTP: plainHTTP,
            logger: self.logger)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(guardHandler, position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Raw bytes, before TLS and HTTP: while a request is being received (bytes came in and the intake
/// has not answered yet), a second window that brings some bytes but fewer than `minBytesPerWindow`
/// closes the connection. Logs resets by the client as resets.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    let window: TimeAmount
    let minBytesPerWindow: Int
    let logger: Logger
    private var receiving = false
    private var bytesThisWindow = 0
    private var receivedTotal = 0
    /// Windows of this request that brought too little.
    private var strikes = 0
    private var timer: RepeatedTask?

    /// Over the connection limit: answer 503 (plain HTTP) and close as soon as the channel is active.
    let refuse: Bool
    let plainHTTP: Bool

    init(window: TimeAmount, minBytesPerWindow: Int, refuse: Bool, plainHTTP: Bool, logger: Logger) {
        self.window = window
        self.minBytesPerWindow = minBytesPerWindow
        self.refuse = refuse
        self.plainHTTP = plainHTTP
        self.logger = logger
    }

    static let busyReply: String = {
        let body = #"{"error":"busy","message":"The intake has too many connections open. Retry in a few seconds."}"#
        return
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            + body
    }()

    private func refuseNow(context: ChannelHandlerContext) {
        if plainHTTP {
            // Raw bytes from the head of the pipeline: nothing behind this handler sees them.
            let reply = context.channel.allocator.buffer(string: Self.busyReply)
            context.writeAndFlush(NIOAny(reply), promise: nil)
        }
        context.close(promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        if refuse {
            refuseNow(context: context)
            return
        }
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if refuse {
            if context.channel.isActive { refuseNow(context: context) }
            return
        }
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: window, delay: window) { _ in
            loopBound.value.handler.tick(context: loopBound.value.context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refuse { return }
        let n = unwrapInboundIn(data).readableBytes
        if !receiving {
            receiving = true
            bytesThisWindow = 0
        }
        bytesThisWindow += n
        receivedTotal += n
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The intake answers: whatever it was receiving is complete (or refused).
        receiving = false
        strikes = 0
        context.write(data, promise: promise)
    }

    private func tick(context: ChannelHandlerContext) {
        defer { bytesThisWindow = 0 }
        guard receiving, bytesThisWindow > 0 else { return }
        guard bytesThisWindow < minBytesPerWindow else {
            strikes = 0
            return
        }
        strikes += 1
        guard strikes >= 2 else { return }
        logger.notice(
            "slow client: connection closed",
            metadata: [
                "bytes": "\(bytesThisWindow)", "window_s": "\(window.nanoseconds / 1_000_000_000)",
                "needed": "\(minBytesPerWindow)",
            ])
        timer?.cancel()
        timer = nil
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch ClientFault(error) {
        case .reset:
            logger.notice(
                "connection reset by the client",
                metadata: ["during": "\(receiving ? "request" : "idle")", "bytes": "\(receivedTotal)"])
        case .closedEarly, .malformed, nil:
            break
        }
        context.fireErrorCaught(error)
    }
}

/// What a client did wrong, told apart from the intake's own failures.
enum ClientFault: Equatable {
    /// The client reset the connection (RST): whatever it was sending is cut off.
    case reset
    /// The client closed the connection before its request ended.
    case closedEarly
    /// The bytes are not valid HTTP (e.g. a malformed chunked body).
    case malformed

    init?(_ error: any Error) {
        if let e = error as? IOError {
            guard [ECONNRESET, EPIPE, ETIMEDOUT].contains(e.errnoCode) else { return nil }
            self = .reset
        } else if let e = error as? HTTPParserError {
            self = e == .invalidEOFState ? .closedEarly : .malformed
        } else if let e = error as? ChannelError {
            switch e {
            case .eof, .inputClosed, .ioOnClosedChannel, .alreadyClosed, .outputClosed: self = .closedEarly
            default: return nil
            }
        } else {
            return nil
        }
    }
}
