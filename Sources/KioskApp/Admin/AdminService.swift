import Foundation
import KioskCore
import KioskDevices
import KioskProtocols
import Logging
#if canImport(Glibc)
    import Glibc
#endif

public enum KioskVersion {
    public static let string = "0.4.0"
}

/// One request on the admin socket.
public struct AdminRequest: Codable, Sendable {
    /// status | selftest | logs | simulate
    public var cmd: String
    /// selftest: reader | printer | camera | a4 (all when nil); simulate: reader | printer | a4
    public var device: String?
    /// selftest printer: also print a test receipt.
    public var printTestReceipt: Bool?
    /// logs: how many recent lines.
    public var lines: Int?
    /// simulate (simulated devices only): unplug | plug | paperOut | paperIn | jam | clear
    public var action: String?
    public init(
        cmd: String, device: String? = nil, printTestReceipt: Bool? = nil, lines: Int? = nil, action: String? = nil
    ) {
        self.cmd = cmd
        self.device = device
        self.printTestReceipt = printTestReceipt
        self.lines = lines
        self.action = action
    }
}

/// Whether the upstream answered the last health probe (admin status); not the submission state `UpstreamState`.
public struct UpstreamLinkStatus: Codable, Sendable, Equatable {
    public var url: String
    public var reachable: Bool
    public var detail: String?
}

public struct StatusReport: Codable, Sendable {
    public var version: String
    public var station: String
    public var uptimeSeconds: Int
    public var devices: [DeviceStatus]
    public var outbox: OutboxCounts?
    public var outboxError: String?
    public var upstream: UpstreamLinkStatus
    public var freeDiskBytes: Int64?
    public var stateDirectory: String
}

public struct SelftestResult: Codable, Sendable {
    public var device: String
    public var passed: Bool
    public var reasons: [String]
    public var details: [String: String]
}

public struct AdminReply<T: Codable & Sendable>: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var result: T?
}

/// Answers the admin socket from the running services. Nothing it returns carries personal data:
/// device states, counters, queue counts and log lines (which never hold names or ID numbers).
public final class AdminService: Sendable {
    let services: KioskServices
    let started = ContinuousClock.now

    public init(services: KioskServices) { self.services = services }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func reply<T: Codable & Sendable>(_ r: T) -> Data {
        (try? encoder.encode(AdminReply(ok: true, error: nil, result: r))) ?? Data("{\"ok\":false}".utf8)
    }

    static func failure(_ e: String) -> Data {
        (try? encoder.encode(AdminReply<String>(ok: false, error: e, result: nil))) ?? Data("{\"ok\":false}".utf8)
    }

    public func handle(_ data: Data) async -> Data {
        guard let req = try? JSONDecoder().decode(AdminRequest.self, from: data) else {
            return Self.failure("not a valid request: send one JSON object line such as {\"cmd\":\"status\"}")
        }
        switch req.cmd {
        case "status": return Self.reply(await status())
        case "selftest": return Self.reply(await selftest(req.device, printTestReceipt: req.printTestReceipt ?? false))
        case "logs": return Self.reply(RecentEvents.shared.last(min(500, max(1, req.lines ?? 100))).map(Self.scrub))
        case "simulate":
            do {
                try simulate(req.device ?? "", req.action ?? "")
                return Self.reply("done")
            } catch { return Self.failure("\(error)") }
        default:
            return Self.failure("unknown command \(req.cmd); known: status, selftest, logs")
        }
    }

    /// Belt and braces: log lines never carry ID numbers, but a line that looks like one is masked.
    public static func scrub(_ line: String) -> String {
        var s = line
        while let r = s.range(of: "(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])", options: .regularExpression) {
            s.replaceSubrange(r, with: IDCardReport.maskID(String(s[r])))
        }
        return s
    }

    public static func freeDisk(_ path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    public func status() async -> StatusReport {
        let devices = await services.deviceStatuses()
        var counts: OutboxCounts?
        var outboxError: String?
        do { counts = try services.stores.uploads.counts() } catch { outboxError = "\(error)" }
        let up: UpstreamLinkStatus
        do {
            try await services.intake.health()
            up = UpstreamLinkStatus(url: services.config.upstream.url, reachable: true, detail: nil)
        } catch {
            up = UpstreamLinkStatus(url: services.config.upstream.url, reachable: false, detail: "\(error)")
        }
        return StatusReport(
            version: KioskVersion.string, station: services.config.station.id,
            uptimeSeconds: Int((ContinuousClock.now - started) / .seconds(1)), devices: devices, outbox: counts,
            outboxError: outboxError, upstream: up,
            freeDiskBytes: Self.freeDisk(services.config.stateDirectoryPath),
            stateDirectory: services.config.stateDirectoryPath)
    }

    public func selftest(_ device: String?, printTestReceipt: Bool) async -> [SelftestResult] {
        var out: [SelftestResult] = []
        let all = device == nil
        if all || device == "reader" {
            if let r = services.reader {
                let ok = await r.probe()
                let st = await r.status()
                var details: [String: String] = ["state": st.state.rawValue]
                if let c = st.connection { details["connection"] = c }
                if ok, let id = try? await r.samID() { details["samID"] = id }
                out.append(
                    SelftestResult(
                        device: "reader", passed: ok,
                        reasons: ok ? ["SAM status 90"] : [st.lastError ?? "no answer to 11 FF"], details: details))
            } else {
                out.append(
                    SelftestResult(
                        device: "reader", passed: false, reasons: ["not configured (devices.idCardReader.mode: none)"],
                        details: [:]))
            }
        }
        if all || device == "printer" {
            if let p = services.printer {
                // The technician's test receipt is the staff step that releases a printer held
                // after an interrupted receipt (its buffer is cleared first).
                var released: String?
                if printTestReceipt, await p.holdsInterruptedJob { released = await p.clearInterruptedJob() }
                let st = await p.refresh(fresh: true)
                var reasons: [String] = released.map { [$0] } ?? []
                var passed = st.state == .online && st.paper != .out
                if !passed {
                    reasons.append(
                        st.lastError ?? "printer \(st.state.rawValue), paper \(st.paper?.rawValue ?? "unknown")")
                }
                if printTestReceipt && passed {
                    let doc = ReceiptDocument([
                        .title("打印机自检"), .text("技术人员测试回执 / printer self-test"), .separator,
                        .keyValue("时间", ISO8601DateFormatter().string(from: Date())),
                        .keyValue("站点", services.config.station.id), .feed(2), .cut(partial: true),
                    ])
                    do {
                        try await p.print(doc)
                        reasons.append("test receipt printed")
                    } catch {
                        passed = false
                        reasons.append("test receipt failed: \(error)")
                    }
                }
                if passed && reasons.isEmpty {
                    reasons.append("status online, paper \(st.paper?.rawValue ?? "unknown")")
                }
                out.append(
                    SelftestResult(
                        device: "printer", passed: passed, reasons: reasons,
                        details: ["state": st.state.rawValue, "paper": st.paper?.rawValue ?? "unknown"]))
            } else {
                out.append(SelftestResult(device: "printer", passed: false, reasons: ["not configured"], details: [:]))
            }
        }
        if all || device == "camera" {
            if let c = services.camera {
                do {
                    let raw = try await c.captureRaw()
                    let q = try CaptureQuality.check(jpeg: [UInt8](raw), thresholds: c.thresholds)
                    out.append(
                        SelftestResult(
                            device: "camera", passed: true,
                            reasons: [
                                "captured \(q.width)×\(q.height)",
                                "quality \(q.verdict.rawValue) (an empty stage reads as blank)",
                            ],
                            details: [
                                "verdict": q.verdict.rawValue, "sharpness": "\(q.sharpness)",
                                "meanBrightness": "\(q.meanBrightness)",
                            ]))
                } catch {
                    out.append(SelftestResult(device: "camera", passed: false, reasons: ["\(error)"], details: [:]))
                }
            } else {
                out.append(SelftestResult(device: "camera", passed: false, reasons: ["not configured"], details: [:]))
            }
        }
        if all || device == "a4" {
            if let a = services.a4Printer {
                let st = await a.refresh()
                let passed = st.state == .online
                var reasons = ["queue \(st.state.rawValue)"]
                if let e = st.lastError, !passed { reasons.append(e) }
                out.append(
                    SelftestResult(
                        device: "a4", passed: passed, reasons: reasons,
                        details: ["state": st.state.rawValue, "paper": st.paper?.rawValue ?? "unknown"]))
            } else if device == "a4" {
                out.append(
                    SelftestResult(
                        device: "a4", passed: false, reasons: ["not configured (devices.a4Printer.mode: none)"],
                        details: [:]))
            }
        }
        return out
    }

    struct SimulateError: Error, CustomStringConvertible { var description: String }

    /// Test and demo hook for simulated devices only (a real device cannot be unplugged by software).
    func simulate(_ device: String, _ action: String) throws {
        switch (device, action) {
        case ("reader", "unplug"):
            guard let s = services.simulatedReader else {
                throw SimulateError(description: "the reader is not simulated")
            }
            s.unplug()
        case ("reader", "plug"):
            guard let s = services.simulatedReader else {
                throw SimulateError(description: "the reader is not simulated")
            }
            s.plug()
        case ("printer", "paperOut"), ("printer", "paperIn"):
            guard let s = services.simulatedPrinter else {
                throw SimulateError(description: "the printer is not simulated")
            }
            s.setPaperOut(action == "paperOut")
        case ("a4", "jam"), ("a4", "clear"):
            guard let s = services.simulatedA4 else {
                throw SimulateError(description: "the A4 printer is not simulated")
            }
            s.setJammed(action == "jam")
        default:
            throw SimulateError(description: "unknown simulation \(device) \(action)")
        }
    }
}
