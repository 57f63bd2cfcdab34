// IPP printer-state-reasons -> device status (devices.md §3 and §5). Pure: no CUPS calls here.
import Foundation
import KioskProtocols

/// One printer-state-reasons keyword split into the condition and its severity suffix.
public struct PrinterStateReason: Sendable, Equatable, Hashable {
    public enum Severity: String, Sendable, Equatable, Hashable { case report, warning, error, none }
    public var keyword: String
    public var severity: Severity

    public init(keyword: String, severity: Severity) {
        self.keyword = keyword
        self.severity = severity
    }

    /// "media-empty-error" -> (media-empty, error); "paused" -> (paused, none).
    public init(parsing raw: String) {
        let s = raw.trimmingCharacters(in: .whitespaces).lowercased()
        for sev in [Severity.report, .warning, .error] where s.hasSuffix("-" + sev.rawValue) {
            self.init(keyword: String(s.dropLast(sev.rawValue.count + 1)), severity: sev)
            return
        }
        self.init(keyword: s, severity: .none)
    }
}

/// What an A4 printer's IPP state means for the kiosk.
public struct A4PrinterCondition: Sendable, Equatable {
    public var state: DeviceState
    public var paper: PaperState
    public var toner: TonerState
    public var action: ErrorAction?
    /// Technician text (English, with the next step), nil when all is well.
    public var problem: String?
    /// Keywords without severity suffix, "none" removed, sorted.
    public var reasons: [String]

    /// `printerState`: IPP printer-state (3 idle, 4 processing, 5 stopped); nil if unknown.
    /// `acceptingJobs`: printer-is-accepting-jobs; nil if unknown.
    public static func from(reasons raw: [String], printerState: Int?, acceptingJobs: Bool?) -> A4PrinterCondition {
        let parsed = raw.map(PrinterStateReason.init(parsing:)).filter { !$0.keyword.isEmpty && $0.keyword != "none" }
        let keys = Set(parsed.map(\.keyword))
        func has(_ k: String...) -> Bool { k.contains { keys.contains($0) } }

        var c = A4PrinterCondition(
            state: .online, paper: .full, toner: .full, action: nil, problem: nil,
            reasons: keys.sorted())
        if has("toner-low", "marker-supply-low", "marker-waste-almost-full") { c.toner = .low }
        if has("toner-empty", "marker-supply-empty") { c.toner = .out }
        if has("media-low") { c.paper = .low }
        if has("media-empty", "media-needed") { c.paper = .out }
        if has("media-jam") { c.paper = .jammed }

        // Most severe condition first.
        if has("offline", "shutdown", "timed-out") {
            c.state = .powerOff
            c.action = .maintenance
            c.problem =
                "A4 printer is offline (\(keys.filter { ["offline", "shutdown", "timed-out"].contains($0) }.sorted().joined(separator: ", "))): check its power and network/USB cable"
        } else if has("media-jam") {
            c.state = .userError
            c.action = .clear
            c.problem = "A4 printer paper jam (卡纸): open the printer, remove the jammed sheet, close it"
        } else if has("media-empty", "media-needed") {
            c.state = .userError
            c.action = .clear
            c.problem = "A4 printer out of paper (缺纸): load A4 paper into the tray"
        } else if has("cover-open", "door-open", "interlock-open") {
            c.state = .userError
            c.action = .clear
            c.problem = "A4 printer cover open: close the printer's cover/door"
        } else if has("toner-empty", "marker-supply-empty") {
            c.state = .userError
            c.action = .clear
            c.problem = "A4 printer toner empty (墨粉用完): replace the toner cartridge"
        } else if printerState == 5 || has("paused") || acceptingJobs == false {
            c.state = .offline
            c.action = .configuration
            c.problem = "A4 queue is stopped or not accepting jobs: run `cupsenable <queue>` and `cupsaccept <queue>`"
        } else if let e = parsed.first(where: { $0.severity == .error && !Self.informational.contains($0.keyword) }) {
            c.state = .hardwareError
            c.action = .maintenance
            c.problem = "A4 printer reports \(e.keyword)-error: see the printer's panel, then `kioskctl print test-a4`"
        }
        return c
    }

    /// Keywords that describe progress rather than a fault.
    static let informational: Set<String> = [
        "connecting-to-device", "moving-to-paused", "other", "cups-waiting-for-job-completed",
    ]
}

/// IPP job-state values (RFC 8011 §5.3.7).
public enum IPPJobState: Int, Sendable, Equatable {
    case pending = 3, held = 4, processing = 5, stopped = 6, canceled = 7, aborted = 8, completed = 9

    public var isFinal: Bool { self == .canceled || self == .aborted || self == .completed }
}
