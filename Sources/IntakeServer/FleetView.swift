// The county's fleet at a glance (`kiosk-intake stations`): per station its last heartbeat, device
// states, queue, disk and versions, with stations silent for too long flagged. Built from what the
// kiosks send (StationHeartbeat); fields older kiosks do not send are shown as unknown.

import Foundation
import KioskProtocols

public struct FleetStation: Codable, Sendable, Equatable {
    public var stationId: String
    /// When the intake last heard a heartbeat (nil: never).
    public var lastHeartbeatAt: String?
    public var secondsSinceHeartbeat: Int?
    /// No heartbeat for longer than the threshold, or never one.
    public var silent: Bool
    public var devices: [DeviceReport]
    /// Devices needing attention: anything but online, busy, starting or not configured (noDevice).
    public var devicesDown: [String]
    public var queueDepth: Int?
    public var oldestQueuedSeconds: Int?
    public var quarantined: Int?
    public var keyAlarm: Int?
    public var freeDiskBytes: Int64?
    public var freeDiskFloorBytes: Int64?
    public var acceptingSubmissions: Bool?
    public var softwareVersion: String?
    public var bundleVersion: String?
    /// Submissions this intake holds from the station.
    public var submissions: Int
    /// Why the station refused the last catalog bundle it fetched (nil: fine).
    public var bundleProblem: String? = nil
}

public enum FleetView {
    /// Device states that count as working.
    static let working: Set<String> = ["online", "deviceBusy", "starting", "noDevice"]

    public static func stations(store: any IntakeStorage, now: Date = Date(), silentAfter: TimeInterval) async throws
        -> [FleetStation]
    {
        let latest = Dictionary(
            try await store.latestHeartbeats().map { ($0.stationId, $0) }, uniquingKeysWith: { a, _ in a })
        var perStation: [String: Int] = [:]
        for s in try await store.summaries() { perStation[s.stationId, default: 0] += 1 }
        let ids = Set(try await store.knownStations()).union(latest.keys)
        return ids.sorted().map { id in
            guard let last = latest[id] else {
                return FleetStation(
                    stationId: id, lastHeartbeatAt: nil, secondsSinceHeartbeat: nil, silent: true, devices: [],
                    devicesDown: [], submissions: perStation[id] ?? 0)
            }
            let hb = last.heartbeat
            let interval = DemoCertifier.date(last.receivedAt).map { max(0, now.timeIntervalSince($0)) }
            return FleetStation(
                stationId: id, lastHeartbeatAt: last.receivedAt, secondsSinceHeartbeat: interval.map { Int($0) },
                silent: interval.map { $0 > silentAfter } ?? true,
                devices: hb.devices,
                devicesDown: hb.devices.filter { !working.contains($0.state) }.map { "\($0.kind)=\($0.state)" },
                queueDepth: hb.queueDepth, oldestQueuedSeconds: hb.oldestQueuedSeconds, quarantined: hb.quarantined,
                keyAlarm: hb.keyAlarm, freeDiskBytes: hb.freeDiskBytes < 0 ? nil : hb.freeDiskBytes,
                freeDiskFloorBytes: hb.freeDiskFloorBytes, acceptingSubmissions: hb.acceptingSubmissions,
                softwareVersion: hb.softwareVersion, bundleVersion: hb.bundleVersion, submissions: perStation[id] ?? 0,
                bundleProblem: hb.bundleProblem)
        }
    }

    /// A fixed-width table, one line per station; flagged stations start with `!`.
    public static func table(_ rows: [FleetStation]) -> [String] {
        func age(_ s: Int?) -> String {
            guard let s else { return "-" }
            if s < 120 { return "\(s)s" }
            if s < 7200 { return "\(s / 60)m" }
            if s < 172_800 { return "\(s / 3600)h" }
            return "\(s / 86400)d"
        }
        func mb(_ b: Int64?) -> String { b.map { "\($0 / 1_000_000)MB" } ?? "-" }
        let header = [
            "", "STATION", "LAST HEARTBEAT", "AGO", "DEVICES", "QUEUE", "OLDEST", "QUAR", "FREE DISK", "SOFTWARE",
            "BUNDLE",
        ]
        var table = [header]
        for r in rows {
            let flag =
                r.silent
                ? "!"
                : ((r.devicesDown.isEmpty && (r.quarantined ?? 0) == 0 && (r.keyAlarm ?? 0) == 0
                    && r.acceptingSubmissions != false) ? "" : "*")
            let devices =
                r.lastHeartbeatAt == nil
                ? "-" : (r.devicesDown.isEmpty ? "all ok (\(r.devices.count))" : r.devicesDown.joined(separator: ","))
            var free = mb(r.freeDiskBytes)
            if r.acceptingSubmissions == false { free += " (below floor)" }
            table.append([
                flag, r.stationId, r.lastHeartbeatAt ?? "never",
                r.silent ? age(r.secondsSinceHeartbeat) + " SILENT" : age(r.secondsSinceHeartbeat),
                devices, r.queueDepth.map(String.init) ?? "-", age(r.oldestQueuedSeconds),
                (r.quarantined.map(String.init) ?? "-") + ((r.keyAlarm ?? 0) > 0 ? " KEY" : ""),
                free, r.softwareVersion ?? "-", (r.bundleVersion ?? "-") + (r.bundleProblem == nil ? "" : " REFUSED"),
            ])
        }
        var widths = Array(repeating: 0, count: header.count)
        for line in table { for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return table.map { line in
            line.enumerated().map { i, cell in
                i == line.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
