import Foundation
import KioskCore
import KioskDevices
import Metrics
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's metrics through swift-metrics, exported by swift-prometheus. Device and outbox
/// figures are taken from their status snapshots (counters advance by the difference between
/// snapshots), so the device code stays free of metrics plumbing.
public final class KioskMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    private let lock = NSLock()
    private var last: [String: Int] = [:]
    private var stateGauges: [String: Metrics.Gauge] = [:]

    let sessions = Metrics.Counter(label: "kiosk_sessions_total")
    let sessionSeconds = Metrics.Timer(label: "kiosk_session_duration_seconds")
    let sealed = Metrics.Counter(label: "kiosk_submissions_sealed_total")
    let help = Metrics.Counter(label: "kiosk_help_requests_total")
    let uploaded = Metrics.Counter(label: "kiosk_submissions_uploaded_total")
    let quarantined = Metrics.Counter(label: "kiosk_submissions_quarantined_total")
    let queueDepth = Metrics.Gauge(label: "kiosk_outbox_queued")
    let oldestQueued = Metrics.Gauge(label: "kiosk_outbox_oldest_queued_seconds")
    let reads = Metrics.Counter(label: "kiosk_card_reads_total")
    let readFailures = Metrics.Counter(label: "kiosk_card_read_failures_total")
    let prints = Metrics.Counter(label: "kiosk_receipts_printed_total")
    let captures = Metrics.Counter(label: "kiosk_camera_captures_total")
    let rejectedCaptures = Metrics.Counter(label: "kiosk_camera_captures_rejected_total")
    let freeDisk = Metrics.Gauge(label: "kiosk_free_disk_bytes")
    let uploadBytes = Metrics.Counter(label: "kiosk_upload_bytes_total")
    let uploadRequests = Metrics.Counter(label: "kiosk_upload_requests_total")
    let uploadRetries = Metrics.Counter(label: "kiosk_upload_retries_total")
    let quarantinedNow = Metrics.Gauge(label: "kiosk_outbox_quarantined")
    let diskFloor = Metrics.Gauge(label: "kiosk_free_disk_floor_bytes")
    let keyAlarm = Metrics.Gauge(label: "kiosk_outbox_key_alarm")
    let info = Metrics.Gauge(label: "kiosk_build_info", dimensions: [("version", KioskVersion.string)])

    /// The catalog bundle's version: the first 12 hex digits of the catalog file's SHA-256 (nil if unreadable).
    public static func bundleVersion(catalogFile: String) -> String? {
        guard let data = FileManager.default.contents(atPath: catalogFile) else { return nil }
        return String(sha256Hex(data).prefix(12))
    }

    /// Bootstraps swift-metrics once per process with a Prometheus registry.
    public static let shared: KioskMetrics = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return KioskMetrics(registry: registry)
    }()

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    private func advance(_ key: String, to value: Int, _ counter: Metrics.Counter) {
        let delta: Int = lock.withLock {
            let prev = last[key]
            last[key] = value
            guard let prev else { return value }
            return value >= prev ? value - prev : value   // a device restart resets its counters
        }
        if delta > 0 { counter.increment(by: delta) }
    }

    public func sessionEnded(duration: TimeInterval) {
        sessions.increment()
        sessionSeconds.recordNanoseconds(Int64(max(0, duration) * 1e9))
    }

    public func submissionSealed() { sealed.increment() }
    public func helpRequested() { help.increment() }

    /// One gauge per device and state: 1 for the current state, 0 for the others.
    public func observe(devices: [DeviceStatus]) {
        for d in devices {
            for s in [DeviceState.online, .offline, .powerOff, .noDevice, .hardwareError, .userError, .deviceBusy, .starting] {
                let key = d.kind.rawValue + "/" + s.rawValue
                let g: Metrics.Gauge = lock.withLock {
                    if let g = stateGauges[key] { return g }
                    let g = Metrics.Gauge(label: "kiosk_device_state", dimensions: [("device", d.kind.rawValue), ("state", s.rawValue)])
                    stateGauges[key] = g
                    return g
                }
                g.record(d.state == s ? 1 : 0)
            }
            switch d.kind {
            case .idCardReader:
                advance("reads", to: d.counters["reads"] ?? 0, reads)
                advance("readFailures", to: d.counters["readFailures"] ?? 0, readFailures)
            case .receiptPrinter:
                advance("prints", to: d.counters["receiptsPrinted"] ?? 0, prints)
            case .documentCamera:
                advance("captures", to: d.counters["captures"] ?? 0, captures)
                advance("rejected", to: d.counters["rejected"] ?? 0, rejectedCaptures)
            case .a4Printer:
                break
            }
        }
    }

    /// Outbox and disk figures. `floorBytes` is storage.minFreeMegabytes in bytes; `keyAlarm` the
    /// number of submissions quarantined because the key cannot decrypt them (both for the alert rules).
    public func observe(outbox c: OutboxCounts, freeDiskBytes: Int64?, floorBytes: Int64? = nil, keyAlarm: Int? = nil) {
        info.record(1)
        quarantinedNow.record(c.quarantined)
        if let floorBytes { diskFloor.record(floorBytes) }
        if let keyAlarm { self.keyAlarm.record(keyAlarm) }
        queueDepth.record(c.queued)
        oldestQueued.record(c.oldestQueuedSeconds ?? 0)
        advance("uploaded", to: c.uploaded, uploaded)
        advance("quarantined", to: c.quarantined, quarantined)
        if let f = freeDiskBytes { freeDisk.record(f) }
    }

    /// tus traffic: payload bytes sent, requests, and retries (interrupted chunks resumed, expired uploads restarted).
    public func observe(upload s: TusClient.Stats) {
        advance("uploadBytes", to: s.bytesSent, uploadBytes)
        advance("uploadRequests", to: s.requests, uploadRequests)
        advance("uploadRetries", to: s.interruptions + s.recreated, uploadRetries)
    }

    public func text() -> String { registry.emitToString() }
}

/// Serves `GET /metrics` in the Prometheus text format on a loopback port. Nothing else.
public final class MetricsHTTPServer: @unchecked Sendable {
    let port: Int
    let metrics: KioskMetrics
    private var fd: Int32 = -1
    private let lock = NSLock()
    private var stopped = false
    public private(set) var boundPort = 0

    public init(port: Int, metrics: KioskMetrics) { self.port = port; self.metrics = metrics }

    public struct MetricsError: Error, CustomStringConvertible { public var description: String }

    public func start() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw MetricsError(description: "metrics socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")   // loopback only
        addr.sin_port = UInt16(port).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        guard rc == 0, listen(s, 16) == 0 else {
            let e = errno
            Glibc.close(s)
            throw MetricsError(description: "metrics port 127.0.0.1:\(port) cannot be bound: \(String(cString: strerror(e))); change metrics.port")
        }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        boundPort = Int(UInt16(bigEndian: addr.sin_port))
        fd = s
        let t = Thread { [weak self] in self?.loop() }
        t.name = "metrics-http"
        t.start()
    }

    public func stop() {
        lock.withLock { stopped = true }
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd); fd = -1 }
    }

    private func loop() {
        while !lock.withLock({ stopped }) {
            let c = accept(fd, nil, nil)
            if c >= 0 { _ = fcntl(c, F_SETFD, FD_CLOEXEC) }
            if c < 0 { if errno == EINTR { continue }; return }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(c, &buf, buf.count)
            let req = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
            let first = req.split(separator: "\r\n").first.map(String.init) ?? ""
            let response: String
            if first.hasPrefix("GET /metrics ") || first == "GET /metrics" {
                let body = metrics.text()
                response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            } else {
                let body = "only GET /metrics is served here\n"
                response = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            }
            let bytes = Array(response.utf8)
            var off = 0
            while off < bytes.count {
                let w = bytes[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { break }
                off += w
            }
            Glibc.close(c)
        }
    }
}
