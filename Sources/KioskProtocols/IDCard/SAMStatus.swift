// SW3 status codes of the SAM and what to do about each (docs/devices.md §1.4).

/// What the host should do next after a reply.
public enum SAMRecovery: String, Sendable, Equatable, Hashable, CaseIterable {
    /// Nothing: carry on with the sequence.
    case none
    /// Normal idle: poll `20 01` again after the polling interval.
    case keepPolling
    /// Start again at `20 01` (find card).
    case restartFind
    /// Repeat the same command (after a short pause); after a few failures escalate.
    case retry
    /// Drop buffered input, then send the command again (link-level error).
    case flushAndResend
    /// Send `10 FF` then `11 FF`; if it persists, report a hardware fault.
    case resetSAMThenStatus
    /// Ask the resident to re-place or use another document.
    case askToReplace
    /// Raise an alarm for staff (SAM not authorised).
    case alarm
    /// A host-side bug (bad or forbidden command): log it with the command label.
    case logBug
}

/// The meaning of an SW3 status byte.
public enum SAMOutcome: Sendable, Equatable, Hashable {
    /// 90
    case ok
    /// 9F (reply to `20 01`)
    case cardFound
    /// 91 (e.g. no additional address)
    case noContent
    /// 80: no card, or the card was already read and is still in the field
    case noCard
    /// 81
    case selectFailed
    /// 41: read failed, usually because the card moved
    case readFailedCardMoved
    /// 31, 32, 33: card↔SAM authentication / verification failed
    case authenticationFailed
    /// 40
    case unknownCardType
    /// 10, 11: the SAM received a bad checksum or length
    case linkError
    /// 21, 23: bad command or command not permitted
    case badCommand
    /// 24, 47: unknown error / challenge failed
    case transientError
    /// 60
    case samSelfTestFailed
    /// 66
    case samNotAuthorised
    /// Anything else (raw SW3 kept).
    case unknown(UInt8)

    public init(sw3: UInt8) {
        switch sw3 {
        case 0x90: self = .ok
        case 0x9F: self = .cardFound
        case 0x91: self = .noContent
        case 0x80: self = .noCard
        case 0x81: self = .selectFailed
        case 0x41: self = .readFailedCardMoved
        case 0x31, 0x32, 0x33: self = .authenticationFailed
        case 0x40: self = .unknownCardType
        case 0x10, 0x11: self = .linkError
        case 0x21, 0x23: self = .badCommand
        case 0x24, 0x47: self = .transientError
        case 0x60: self = .samSelfTestFailed
        case 0x66: self = .samNotAuthorised
        default: self = .unknown(sw3)
        }
    }

    /// True for 90, 9F and 91 (91 = "no content", treat as empty).
    public var isSuccess: Bool {
        switch self {
        case .ok, .cardFound, .noContent: true
        default: false
        }
    }

    public var recovery: SAMRecovery {
        switch self {
        case .ok, .cardFound, .noContent: .none
        case .noCard: .keepPolling
        case .selectFailed: .restartFind
        case .readFailedCardMoved: .retry
        case .authenticationFailed: .restartFind
        case .unknownCardType: .askToReplace
        case .linkError: .flushAndResend
        case .badCommand: .logBug
        case .transientError: .retry
        case .samSelfTestFailed: .resetSAMThenStatus
        case .samNotAuthorised: .alarm
        case .unknown: .retry
        }
    }

    /// Short Chinese text for the resident screen, saying what to do.
    public var residentMessage: String {
        switch self {
        case .ok: "读取成功"
        case .cardFound: "正在读取，请勿移动证件"
        case .noContent: "读取成功"
        case .noCard: "请将证件放在读卡区"
        case .selectFailed: "请重新放置证件"
        case .readFailedCardMoved: "请勿移动证件，请重新放置"
        case .authenticationFailed: "证件无法识别，请重新放置；多次失败请联系工作人员"
        case .unknownCardType: "不支持的证件，请换用其他证件或联系工作人员"
        case .linkError: "读卡器通信异常，正在重试，请稍候"
        case .badCommand: "读卡器暂时无法使用，请联系工作人员"
        case .transientError: "读卡失败，请重新放置证件"
        case .samSelfTestFailed: "读卡器故障，请联系工作人员"
        case .samNotAuthorised: "读卡器不可用，请联系工作人员"
        case .unknown: "读卡失败，请重新放置证件"
        }
    }

    /// English text for technicians (with the Chinese term where useful) and the next step.
    public var technicianMessage: String {
        switch self {
        case .ok:
            "SW3 90 OK."
        case .cardFound:
            "SW3 9F card found (找到证件): send 20 02 (select) next."
        case .noContent:
            "SW3 91 no content (无内容), e.g. no additional address: treat as empty."
        case .noCard:
            "SW3 80 no card in the field (无卡), or the card was already read and not yet removed: keep polling 20 01 (≥ 300 ms apart)."
        case .selectFailed:
            "SW3 81 select failed (选卡失败): restart at 20 01 (find card)."
        case .readFailedCardMoved:
            "SW3 41 read failed (读卡失败), usually the card moved: ask the resident to hold it still and retry from 20 01; after several failures ask to re-place it."
        case .authenticationFailed:
            "SW3 31/32/33 card↔SAM authentication failed (认证失败): re-find the card; if it repeats with the same card it is damaged or not genuine, ask for another document."
        case .unknownCardType:
            "SW3 40 unknown card type (不支持的证件): the card is not a supported ID card; ask the resident to use another document."
        case .linkError:
            "SW3 10/11 the SAM received a bad checksum or length (校验和/长度错): flush input and resend; if it repeats check cable, USB hub and baud rate."
        case .badCommand:
            "SW3 21/23 bad or forbidden command (命令错误/无权限): host-side bug; log the command label and report it. Do not retry in a loop."
        case .transientError:
            "SW3 24/47 unknown error or challenge failed: retry; if it repeats, reset the SAM (10 FF then 11 FF)."
        case .samSelfTestFailed:
            "SW3 60 SAM self-test failed (自检失败): send 10 FF then 11 FF; if it persists, the reader is faulty, replace it."
        case .samNotAuthorised:
            "SW3 66 SAM not authorised (SAM 未授权): the reader cannot be used; raise an alarm and contact the reader supplier."
        case let .unknown(code):
            "SW3 \(SAMHex.byte(code)) is not a known status: retry once; if it repeats, log the code with the reader model and report it."
        }
    }
}

extension SAMReply {
    /// The meaning of `status` (SW3).
    public var outcome: SAMOutcome { SAMOutcome(sw3: status) }
}
