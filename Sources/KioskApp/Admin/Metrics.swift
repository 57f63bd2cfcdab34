import Foundation
import KioskProtocols
import KioskCore
import KioskDevices
import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics through swift-metrics, exported by swift-prometheus. Device and outbox
/// figures are taken from their status snapshots (counters advance by the difference between
/// snapshots), so the device code stays free of metrics plumbing.
public final class KioskMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The last snapshot value per counter, and the per-device-state gauges made so far.
    private struct State {
        var last: [String: Int] = [:]
        var stateGauges: [String: Metrics.Gauge] = [:]
    }
    private let state = Mutex(State())

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
    let bundlesRefused = Metrics.Counter(label: "kiosk_catalog_bundles_refused_total")
    let bundleRefusedNow = Metrics.Gauge(label: "kiosk_catalog_bundle_last_refused")

    /// Catalog bundles refused (counter from the store's running total) and whether the last check refused one.
    public func observe(bundle s: CatalogBundleState) {
        advance("catalog_bundles_refused", to: s.refusedTotal, bundlesRefused)
        bundleRefusedNow.record(s.lastOutcome == "refused" ? 1 : 0)
    }

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
        let delta: Int = state.withLock { st in
            let prev = st.last[key]
            st.last[key] = value
            guard let prev else { return value }
            return value >= prev ? value - prev : value  // a device restart resets its counters
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
            for s in [
                DeviceState.online, .offline, .powerOff, .noDevice, .hardwareError, .userError, .deviceBusy, .starting,
            ] {
                let key = d.kind.rawValue + "/" + s.rawValue
                let g: Metrics.Gauge = state.withLock { st in
                    if let g = st.stateGauges[key] { return g }
                    let g = Metrics.Gauge(
                        label: "kiosk_device_state", dimensions: [("device", d.kind.rawValue), ("state", s.rawValue)])
                    st.stateGauges[key] = g
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
