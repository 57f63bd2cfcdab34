import Foundation

/// Device state vocabulary (XFS4IoT / CUSS names), see docs devices.md §5.
public enum DeviceState: String, Codable, Sendable {
    case online, offline, powerOff, noDevice, hardwareError, userError, deviceBusy
    case fraudAttempt, potentialFraud, starting

    /// Whether the services that need this device can be offered.
    public var usable: Bool { self == .online || self == .userError || self == .deviceBusy }

    public var chinese: String {
        switch self {
        case .online: return "就绪"
        case .offline: return "暂停使用"
        case .powerOff: return "未连接"
        case .noDevice: return "未配置"
        case .hardwareError: return "故障"
        case .userError: return "需处理"
        case .deviceBusy: return "忙"
        case .fraudAttempt, .potentialFraud: return "异常"
        case .starting: return "启动中"
        }
    }
}

/// Who has to act on an error (XFS4IoT `action`).
public enum ErrorAction: String, Codable, Sendable {
    case reset, softwareError, configuration, clear, maintenance
}

public enum PaperState: String, Codable, Sendable { case unknown, full, low, out, jammed }
public enum TonerState: String, Codable, Sendable { case unknown, full, low, out }
public enum MediaState: String, Codable, Sendable {
    case unknown, present, notPresent, jammed, entering, retracted, latched
}

public enum DeviceKind: String, Codable, Sendable, CaseIterable {
    case idCardReader, documentCamera, receiptPrinter, a4Printer

    public var chinese: String {
        switch self {
        case .idCardReader: return "身份证阅读器"
        case .documentCamera: return "高拍仪"
        case .receiptPrinter: return "回执打印机"
        case .a4Printer: return "A4打印机"
        }
    }
}

public struct DeviceStatus: Codable, Sendable, Equatable {
    public var kind: DeviceKind
    public var state: DeviceState
    public var model: String
    public var simulated: Bool
    /// Technician-facing description of the last problem, with the next step (English).
    public var lastError: String?
    public var action: ErrorAction?
    public var paper: PaperState?
    public var media: MediaState?
    public var counters: [String: Int]
    /// Where the device is attached ("usb 1-1 (bus 1 device 2) 0400:c35a if0", "serial /dev/ttyUSB0 115200 8N1").
    public var connection: String?
    /// What the device says it is (SAM id, IEEE 1284 device id), when known.
    public var identity: String?
    /// A4 printers: toner (marker supply) level, from CUPS printer-state-reasons.
    public var toner: TonerState?
    /// Raw condition keywords behind the state (e.g. CUPS printer-state-reasons without severity suffix).
    public var reasons: [String]?

    public init(
        kind: DeviceKind, state: DeviceState, model: String, simulated: Bool, lastError: String? = nil,
        action: ErrorAction? = nil, paper: PaperState? = nil, media: MediaState? = nil, counters: [String: Int] = [:],
        toner: TonerState? = nil, reasons: [String]? = nil
    ) {
        self.kind = kind
        self.state = state
        self.model = model
        self.simulated = simulated
        self.lastError = lastError
        self.action = action
        self.paper = paper
        self.media = media
        self.counters = counters
        self.toner = toner
        self.reasons = reasons
    }
}

public struct DeviceError: Error, CustomStringConvertible, Sendable {
    public var description: String  // technician (English, with next step)
    public var residentMessage: String  // resident (Chinese, what to do)
    public init(_ description: String, resident: String) {
        self.description = description
        self.residentMessage = resident
    }
}
