// The reference upstream protocol ("kiosk-intake protocol", version 1).
// Shared by the kiosk's uploader and the reference intake so both sides agree on shapes.
// Described for people and other implementations in docs/intake-openapi.yaml.
//
//   GET  /v1/health                                   -> 200 HealthReply, header Kiosk-Intake-Protocol: 1
//   PUT  /v1/submissions/{id}/attachments/{name}      -> 201 AttachmentReceipt (body = file bytes,
//        header X-Content-SHA256: hex; identical repeat -> 200; different bytes -> 409 ErrorReply)
//   PUT  /v1/submissions/{id}                         -> 201 SubmissionReceipt (body = SubmissionManifest;
//        identical repeat -> 200; different manifest for the same id -> 409; missing attachment -> 422)
//   GET  /v1/submissions/{id}                         -> 200 SubmissionStatusReply, 404 ErrorReply
//   GET  /v1/submissions?station=S                    -> 200 SubmissionList
//   tus 1.0.0 at /v1/uploads (see Tus.swift): the way attachments travel; the PUT above stays for old clients
//   GET  /v1/certificates/{ref}                       -> 200 bytes (X-Content-SHA256), 404
//   POST /v1/evaluations                              -> 201/200 MessageReceipt (body EvaluationReport), 409
//   POST /v1/stations/{stationId}/heartbeats          -> 201/200 MessageReceipt (body StationHeartbeat), 403
// Every request carries `Authorization: Bearer <station token>`; replies are application/json.

public enum IntakeAPI {
    public static let protocolHeader = "Kiosk-Intake-Protocol"
    public static let protocolVersion = "1"
    public static let sha256Header = "X-Content-SHA256"
    public static let jsonContentType = "application/json"
}

public struct HealthReply: Codable, Sendable, Equatable {
    public var service: String  // always "kiosk-intake"
    public var protocolVersion: String
    public init(service: String = "kiosk-intake", protocolVersion: String = IntakeAPI.protocolVersion) {
        self.service = service
        self.protocolVersion = protocolVersion
    }
}

public struct AttachmentRef: Codable, Sendable, Equatable, Hashable {
    public var name: String  // e.g. "material-1.jpg"; [A-Za-z0-9._-]{1,64}
    public var contentType: String  // e.g. "image/jpeg"
    public var size: Int
    public var sha256: String  // lowercase hex
    public init(name: String, contentType: String, size: Int, sha256: String) {
        self.name = name
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
    }
}

public struct ApplicantData: Codable, Sendable, Equatable {
    public var idNumber: String
    public var name: String
    public var cardType: String  // "resident", "hmt", "foreign2017", "foreign2023"
    public var phone: String
    public init(idNumber: String, name: String, cardType: String, phone: String) {
        self.idNumber = idNumber
        self.name = name
        self.cardType = cardType
        self.phone = phone
    }
}

public struct SubmissionManifest: Codable, Sendable, Equatable {
    public var submissionId: String  // chosen by the kiosk (UUID), the idempotency key
    public var caseNumber: String  // human-readable, printed on the receipt
    public var stationId: String
    public var itemCode: String
    public var itemName: String
    public var submittedAt: String  // ISO 8601 UTC
    public var applicant: ApplicantData
    public var attachments: [AttachmentRef]
    public var assistedBy: String?  // staff or agent id for 帮办代办, nil for self-service
    /// 补正: the submission id of the case these materials complete (nil for a new application).
    public var supplementOf: String?
    public init(
        submissionId: String, caseNumber: String, stationId: String, itemCode: String, itemName: String,
        submittedAt: String, applicant: ApplicantData, attachments: [AttachmentRef], assistedBy: String? = nil,
        supplementOf: String? = nil
    ) {
        self.submissionId = submissionId
        self.caseNumber = caseNumber
        self.stationId = stationId
        self.itemCode = itemCode
        self.itemName = itemName
        self.submittedAt = submittedAt
        self.applicant = applicant
        self.attachments = attachments
        self.assistedBy = assistedBy
        self.supplementOf = supplementOf
    }
}

public struct AttachmentReceipt: Codable, Sendable, Equatable {
    public var submissionId: String
    public var name: String
    public var size: Int
    public var sha256: String
    public init(submissionId: String, name: String, size: Int, sha256: String) {
        self.submissionId = submissionId
        self.name = name
        self.size = size
        self.sha256 = sha256
    }
}

/// States a submission goes through upstream.
public enum UpstreamState: String, Codable, Sendable, CaseIterable {
    case received  // 已接收 (the upstream holds it; not yet accepted)
    case inReview  // 审核中
    case accepted  // 已受理 (the upstream accepted the case: the time limit runs from here)
    case needMaterials  // 需补正材料
    case done  // 已办结
    case certificateReady  // 证照可领取
    case rejected  // 不予受理
}

public struct SubmissionReceipt: Codable, Sendable, Equatable {
    public var submissionId: String
    public var caseNumber: String
    public var state: UpstreamState
    public var receivedAt: String
    public init(submissionId: String, caseNumber: String, state: UpstreamState, receivedAt: String) {
        self.submissionId = submissionId
        self.caseNumber = caseNumber
        self.state = state
        self.receivedAt = receivedAt
    }
}

/// Where a ready certificate (证照) can be downloaded: GET /v1/certificates/{ref}.
public struct CertificateRef: Codable, Sendable, Equatable {
    public var ref: String  // [A-Za-z0-9._-]{1,64}
    public var contentType: String  // e.g. application/pdf
    public var size: Int
    public var sha256: String  // lowercase hex of the bytes
    public init(ref: String, contentType: String, size: Int, sha256: String) {
        self.ref = ref
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
    }
}

public struct SubmissionStatusReply: Codable, Sendable, Equatable {
    public var submissionId: String
    public var caseNumber: String
    public var state: UpstreamState
    public var updatedAt: String
    public var note: String?
    /// Present when state is certificateReady (and afterwards, while the file is kept).
    public var certificate: CertificateRef?
    public init(
        submissionId: String, caseNumber: String, state: UpstreamState, updatedAt: String, note: String? = nil,
        certificate: CertificateRef? = nil
    ) {
        self.submissionId = submissionId
        self.caseNumber = caseNumber
        self.state = state
        self.updatedAt = updatedAt
        self.note = note
        self.certificate = certificate
    }
}

/// 好差评: one evaluation, idempotent by evaluationId (POST /v1/evaluations).
public struct EvaluationReport: Codable, Sendable, Equatable {
    public var evaluationId: String  // chosen by the kiosk (UUID)
    public var stationId: String
    public var caseNumber: String
    public var level: Int  // 5 非常满意 … 1 非常不满意
    public var reason: String?
    public var createdAt: String  // ISO 8601 UTC
    /// The service rated: apply (default), progress, pickup, guide (好差评 for every service).
    public var service: String?
    /// The item concerned, when there is one (a guide viewed, a query about a case).
    public var itemCode: String?
    public init(
        evaluationId: String, stationId: String, caseNumber: String, level: Int, reason: String?, createdAt: String,
        service: String? = nil, itemCode: String? = nil
    ) {
        self.evaluationId = evaluationId
        self.stationId = stationId
        self.caseNumber = caseNumber
        self.level = level
        self.reason = reason
        self.createdAt = createdAt
        self.service = service
        self.itemCode = itemCode
    }
}

public struct DeviceReport: Codable, Sendable, Equatable {
    public var kind: String  // idCardReader, documentCamera, receiptPrinter, a4Printer
    public var state: String  // the device status vocabulary (ready, noDevice, paperOut …)
    public var simulated: Bool
    public init(kind: String, state: String, simulated: Bool) {
        self.kind = kind
        self.state = state
        self.simulated = simulated
    }
}

/// A station heartbeat (POST /v1/stations/{stationId}/heartbeats), idempotent by heartbeatId.
public struct StationHeartbeat: Codable, Sendable, Equatable {
    public var heartbeatId: String
    public var stationId: String
    public var sentAt: String
    public var devices: [DeviceReport]
    public var queueDepth: Int  // submissions waiting for upload
    public var quarantined: Int
    public var freeDiskBytes: Int64
    public var acceptingSubmissions: Bool
    // Optional (added for the fleet view; older kiosks leave them out):
    /// Age of the oldest submission waiting for upload, in seconds (nil: none waiting).
    public var oldestQueuedSeconds: Int?
    /// The kiosk software's version (kioskd).
    public var softwareVersion: String?
    /// The catalog bundle's version: the first 12 hex digits of the catalog file's SHA-256.
    public var bundleVersion: String?
    /// storage.minFreeMegabytes in bytes: below it the kiosk takes no new submission.
    public var freeDiskFloorBytes: Int64?
    /// Submissions quarantined because they could not be decrypted with the kiosk's key.
    public var keyAlarm: Int?
    /// Why the last catalog bundle fetched was refused (nil: the last check was fine).
    public var bundleProblem: String?
    public init(
        heartbeatId: String, stationId: String, sentAt: String, devices: [DeviceReport], queueDepth: Int,
        quarantined: Int, freeDiskBytes: Int64, acceptingSubmissions: Bool, oldestQueuedSeconds: Int? = nil,
        softwareVersion: String? = nil, bundleVersion: String? = nil, freeDiskFloorBytes: Int64? = nil,
        keyAlarm: Int? = nil, bundleProblem: String? = nil
    ) {
        self.heartbeatId = heartbeatId
        self.stationId = stationId
        self.sentAt = sentAt
        self.devices = devices
        self.queueDepth = queueDepth
        self.quarantined = quarantined
        self.freeDiskBytes = freeDiskBytes
        self.acceptingSubmissions = acceptingSubmissions
        self.oldestQueuedSeconds = oldestQueuedSeconds
        self.softwareVersion = softwareVersion
        self.bundleVersion = bundleVersion
        self.freeDiskFloorBytes = freeDiskFloorBytes
        self.keyAlarm = keyAlarm
        self.bundleProblem = bundleProblem
    }
}

/// Reply to an evaluation or heartbeat: 201 first time, 200 identical repeat.
public struct MessageReceipt: Codable, Sendable, Equatable {
    public var id: String
    public var receivedAt: String
    public init(id: String, receivedAt: String) {
        self.id = id
        self.receivedAt = receivedAt
    }
}

public struct SubmissionList: Codable, Sendable, Equatable {
    public var submissions: [SubmissionStatusReply]
    public init(submissions: [SubmissionStatusReply]) { self.submissions = submissions }
}

public struct ErrorReply: Codable, Sendable, Equatable {
    public var error: String  // machine code, e.g. "conflict", "missing-attachment", "unauthorized"
    public var message: String  // what happened and what to do
    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}
