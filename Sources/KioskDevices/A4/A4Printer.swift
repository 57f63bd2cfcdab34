import CCups
import Foundation
import KioskProtocols
import Logging

/// Where and how A4 documents are printed (kiosk.yaml `devices.a4Printer` in `cups` mode).
public struct A4PrinterSettings: Sendable, Equatable {
    /// CUPS queue name (through cupsd), e.g. "cert_a4". Either `queue` or `uri` is set.
    public var queue: String?
    /// Direct IPP printer URI (IPP Everywhere printer, no cupsd), e.g. ipp://10.0.0.5/ipp/print.
    public var uri: String?
    /// cupsd to talk to for `queue`: "host:port" or a socket path; nil = libcups default (CUPS_SERVER, client.conf).
    public var server: String?
    /// A job not completed by then is cancelled, so it never prints hours later for someone else.
    public var jobTimeout: Duration
    /// How often the job and printer are polled while a job runs.
    public var pollInterval: Duration
    /// Connect / request timeout for each IPP exchange.
    public var requestTimeout: Duration
    public var media: String

    public init(
        queue: String? = nil, uri: String? = nil, server: String? = nil, jobTimeout: Duration = .seconds(120),
        pollInterval: Duration = .seconds(1), requestTimeout: Duration = .seconds(10),
        media: String = "iso_a4_210x297mm"
    ) {
        self.queue = queue
        self.uri = uri
        self.server = server
        self.jobTimeout = jobTimeout
        self.pollInterval = pollInterval
        self.requestTimeout = requestTimeout
        self.media = media
    }

    public var target: String { uri ?? "queue \(queue ?? "?")" + (server.map { " on \($0)" } ?? "") }
}

/// How a job ended.
public enum A4JobOutcome: Sendable, Equatable {
    case completed
    /// The printer or CUPS aborted it (e.g. a jam); the reasons say why.
    case aborted
    /// Cancelled by someone else (staff at the printer or `cancel`).
    case canceled
    /// Not done by the deadline: the kiosk cancelled it.
    case timedOut
}

public struct A4JobResult: Sendable, Equatable {
    public var jobId: Int
    public var outcome: A4JobOutcome
    /// job-state-reasons seen last (suffix-free keywords as CUPS sends them).
    public var jobReasons: [String]
    /// Printer condition at the end.
    public var condition: A4PrinterCondition

    /// What the resident is told (Chinese).
    public var residentMessage: String {
        switch outcome {
        case .completed: return "文件已打印，请在打印机出纸口取走"
        case .aborted, .canceled, .timedOut:
            switch condition.paper {
            case .out: return "A4打印机缺纸，未能打印。请联系工作人员加纸后补打"
            case .jammed: return "A4打印机卡纸，未能打印。请联系工作人员处理后补打"
            default: return "A4打印机未能完成打印，请联系工作人员补打"
            }
        }
    }
}

/// The A4 printer behind CUPS (libcups). All libcups calls run on one private thread, never on the
/// actor or the cooperative pool, so a slow or dead printer never blocks the resident flow; every
/// exchange has a timeout, and every job has a deadline after which it is cancelled.
/// libcups is loaded on that thread by the first exchange (refresh or print), not before; without
/// it the printer reports a configuration error that says to install libcups2.
/// Job titles never carry personal data: callers pass a fixed label.
public actor A4Printer {
    public let settings: A4PrinterSettings
    let logger: Logger
    let worker = CupsWorker()
    let library: CupsLibrary
    private var current: DeviceStatus
    private var jobActive = false
    private var printed = 0
    private var failed = 0

    public init(settings: A4PrinterSettings, model: String = "CUPS A4 printer", logger: Logger) {
        self.init(settings: settings, model: model, logger: logger, library: .system)
    }

    init(settings: A4PrinterSettings, model: String = "CUPS A4 printer", logger: Logger, library: CupsLibrary) {
        self.settings = settings
        self.logger = logger
        self.library = library
        current = DeviceStatus(
            kind: .a4Printer, state: .starting, model: model, simulated: false, paper: .unknown,
            toner: .unknown)
    }

    public func status() -> DeviceStatus {
        var s = current
        s.counters = ["documentsPrinted": printed, "printFailures": failed]
        return s
    }

    /// Asks the printer for its state (one Get-Printer-Attributes, with the request timeout).
    /// While a job runs, the job's own polling keeps the status fresh and this returns it.
    @discardableResult
    public func refresh() async -> DeviceStatus {
        if jobActive { return status() }
        var quick = self.settings
        quick.requestTimeout = min(quick.requestTimeout, .seconds(2))  // a status poll must stay short
        let settings = quick
        let library = self.library
        do {
            let snap = try await worker.run { try CupsSession.open(settings, library: library).printerSnapshot() }
            apply(snap)
        } catch let e as A4PrintError {
            applyFailure(e)
        } catch {
            applyFailure(.connect("\(error)"))
        }
        return status()
    }

    private func apply(_ snap: PrinterSnapshot) {
        let c = A4PrinterCondition.from(reasons: snap.reasons, printerState: snap.state, acceptingJobs: snap.accepting)
        current.state = c.state
        current.paper = c.paper
        current.toner = c.toner
        current.action = c.action
        current.lastError = c.problem
        current.reasons = c.reasons
    }

    private func applyFailure(_ e: A4PrintError) {
        current.state = e.isConnection ? .powerOff : .hardwareError
        current.action = e.isConfiguration ? .configuration : .maintenance
        current.lastError = e.description
        current.paper = .unknown
        current.toner = .unknown
        current.reasons = nil
    }

    /// Prints a PDF and follows the job to completed / aborted / canceled, cancelling it at the deadline.
    /// `label` becomes the job title: letters, digits and '-' only (never a name or ID number).
    /// Throws DeviceError (with a resident message) when the job could not be started.
    public func printPDF(_ pdf: Data, label: String) async throws -> A4JobResult {
        guard label.range(of: "^[A-Za-z0-9-]{1,40}$", options: .regularExpression) != nil else {
            throw DeviceError(
                "A4 job label \"\(label.prefix(8))…\" rejected: use letters, digits and '-' only (no personal data in job titles)",
                resident: "打印任务无效，请联系工作人员")
        }
        guard pdf.starts(with: Array("%PDF-".utf8)) else {
            throw DeviceError("A4 document is not a PDF (it must start with %PDF-)", resident: "文件格式无法打印，请联系工作人员")
        }
        guard !jobActive else {
            throw DeviceError("A4 printer busy with another job; retry when it has finished", resident: "A4打印机正忙，请稍后再试")
        }
        jobActive = true
        defer { jobActive = false }
        current.state = current.state == .starting ? .online : current.state

        let settings = self.settings
        let library = self.library
        let title = "kiosk-" + label
        let session: CupsSession
        let jobId: Int
        do {
            session = try await worker.run { try CupsSession.open(settings, library: library) }
            let pre = try await worker.run { try session.printerSnapshot() }
            apply(pre)
            if let why = Self.refusal(pre) {
                failed += 1
                throw DeviceError("A4 print refused: \(why)", resident: "A4打印机暂不可用，请联系工作人员")
            }
            // uri mode talks to the printer itself: send what it takes. IPP Everywhere requires only
            // PWG raster and JPEG; a printer without PDF gets PWG raster rendered here. (Through a
            // CUPS queue, cupsd's filters convert.)
            var document = pdf
            var format = "application/pdf"
            if settings.uri != nil {
                let caps = try await worker.run { try session.documentCapabilities() }
                if !caps.formats.isEmpty && !caps.formats.contains("application/pdf") {
                    guard caps.formats.contains("image/pwg-raster") else {
                        failed += 1
                        throw DeviceError(
                            "A4 printer \(settings.target) takes neither PDF nor PWG raster (document-format-supported: \(caps.formats.joined(separator: ", "))); use a CUPS queue for it (devices.a4Printer.queue)",
                            resident: "A4打印机暂不可用，请联系工作人员")
                    }
                    guard let choice = PWGRasterRenderer.choose(resolutions: caps.resolutions, types: caps.types) else {
                        failed += 1
                        throw DeviceError(
                            "A4 printer offers PWG raster without a usable resolution/type (\(caps.resolutions) dpi, \(caps.types)); use a CUPS queue for it",
                            resident: "A4打印机暂不可用，请联系工作人员")
                    }
                    do { document = try await PWGRasterRenderer.render(pdf: pdf, choice: choice) } catch {
                        failed += 1
                        throw error
                    }
                    format = "image/pwg-raster"
                    logger.info(
                        "A4 document rendered to PWG raster",
                        metadata: ["dpi": "\(choice.dpi)", "type": "\(choice.type)", "bytes": "\(document.count)"])
                }
            }
            let doc = document
            let fmt = format
            jobId = try await worker.run {
                try session.submit(document: doc, format: fmt, title: title, media: settings.media)
            }
        } catch let e as A4PrintError {
            failed += 1
            applyFailure(e)
            throw DeviceError("A4 print failed: \(e.description)", resident: "A4打印机暂不可用，请联系工作人员")
        }
        logger.info("A4 job submitted", metadata: ["job": "\(jobId)", "label": "\(label)"])

        let deadline = ContinuousClock.now + settings.jobTimeout
        var jobReasons: [String] = []
        var outcome: A4JobOutcome? = nil
        while outcome == nil {
            if Task.isCancelled || ContinuousClock.now >= deadline {
                _ = try? await worker.run { try session.cancel(jobId: jobId) }
                outcome = .timedOut
                break
            }
            do {
                let job = try await worker.run { try session.jobSnapshot(jobId: jobId) }
                jobReasons = job.reasons
                if let snap = try? await worker.run({ try session.printerSnapshot() }) { apply(snap) }
                switch job.state {
                case .completed: outcome = .completed
                case .aborted: outcome = .aborted
                case .canceled: outcome = .canceled
                default: break
                }
            } catch let e as A4PrintError {
                logger.warning("A4 job poll failed", metadata: ["job": "\(jobId)", "error": "\(e.description)"])
            }
            if outcome == nil {
                let left = deadline - ContinuousClock.now
                try? await Task.sleep(for: min(settings.pollInterval, max(left, .milliseconds(1))))
            }
        }
        if let snap = try? await worker.run({ try session.printerSnapshot() }) { apply(snap) }
        worker.close(session)
        let result = A4JobResult(
            jobId: jobId, outcome: outcome ?? .timedOut, jobReasons: jobReasons,
            condition: A4PrinterCondition.from(reasons: current.reasons ?? [], printerState: nil, acceptingJobs: nil))
        if result.outcome == .completed {
            printed += 1
        } else {
            failed += 1
            logger.warning(
                "A4 job not completed",
                metadata: [
                    "job": "\(jobId)", "outcome": "\(result.outcome)",
                    "reasons": "\((current.reasons ?? []).joined(separator: ","))",
                ])
        }
        return result
    }

    /// Pre-flight (devices.md §3): accepting jobs, not stopped, no `*-error` reason.
    static func refusal(_ s: PrinterSnapshot) -> String? {
        if s.accepting == false { return "queue is not accepting jobs (run `cupsaccept`)" }
        if s.state == 5 { return "queue is stopped (run `cupsenable`)" }
        let errors = s.reasons.map(PrinterStateReason.init(parsing:)).filter { $0.severity == .error }
        if !errors.isEmpty { return "printer reports " + errors.map { $0.keyword + "-error" }.joined(separator: ", ") }
        return nil
    }
}

// MARK: - libcups, on its own thread

/// libcups, loaded on first use: CCups opens libcups.so.2 with dlopen (and resolves the functions
/// used here) when the first session opens, so a kiosk without a CUPS-mode A4 printer never maps it
/// nor the libraries behind it (GnuTLS, Kerberos, Avahi, D-Bus…). Every libcups call is made only
/// after `require()` has succeeded.
struct CupsLibrary: Sendable {
    /// nil when libcups is usable; otherwise why not (dlerror()'s text).
    let load: @Sendable () -> String?

    /// libcups.so.2, loaded once per process.
    static let system = CupsLibrary {
        kiosk_cups_load() != 0 ? nil : kiosk_cups_load_error().map { String(cString: $0) } ?? "unknown error"
    }

    /// Loads libcups if not done yet; throws what to do when it cannot be loaded.
    func require() throws {
        if let why = load() { throw Self.unavailable(why) }
    }

    static func unavailable(_ why: String) -> A4PrintError {
        .config(
            "libcups could not be loaded (\(why)): install libcups2 (`apt-get install libcups2`), or set devices.a4Printer.mode to none"
        )
    }

    /// Whether the library `soname` would serve as libcups (opened, every function resolved, closed
    /// again; the loaded libcups is not touched): nil if so, else why not.
    static func probe(_ soname: String) -> String? {
        var error = [CChar](repeating: 0, count: 512)
        let size = error.count
        guard kiosk_cups_probe(soname, &error, size) == 0 else { return nil }
        return String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

public struct A4PrintError: Error, CustomStringConvertible, Sendable {
    public var description: String
    var isConnection = false
    var isConfiguration = false
    static func connect(_ d: String) -> A4PrintError { A4PrintError(description: d, isConnection: true) }
    static func config(_ d: String) -> A4PrintError { A4PrintError(description: d, isConfiguration: true) }
}

struct PrinterSnapshot: Sendable {
    var state: Int?
    var reasons: [String]
    var accepting: Bool?
}

struct JobSnapshot: Sendable {
    var state: IPPJobState?
    var reasons: [String]
}

/// Runs blocking libcups calls one at a time on a dedicated thread.
final class CupsWorker: Sendable {
    private let queue = DispatchQueue(label: "kiosk.cups")

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            queue.async { c.resume(with: Result { try body() }) }
        }
    }

    func close(_ s: CupsSession) {
        queue.async { s.close() }
    }
}

/// One connection to cupsd or the printer, with the destination. Used only on the worker thread.
final class CupsSession: @unchecked Sendable {
    private var http: OpaquePointer?
    private var dest: UnsafeMutablePointer<cups_dest_t>?
    private var info: OpaquePointer?
    let printerURI: String
    let resource: String
    let timeoutMS: Int32

    /// The cupsd this session talks to, when not libcups' default. libcups decides from its
    /// (per-thread) server setting whether a destination is local to that cupsd or must be reached
    /// at its device URI, so every call first pins the setting to this server.
    let server: String?

    private init(
        http: OpaquePointer, dest: UnsafeMutablePointer<cups_dest_t>, printerURI: String, resource: String,
        timeoutMS: Int32, server: String? = nil
    ) {
        self.http = http
        self.dest = dest
        self.printerURI = printerURI
        self.resource = resource
        self.timeoutMS = timeoutMS
        self.server = server
        pinServer()
    }

    func pinServer() {
        cupsSetServer(server)  // nil: back to the default (CUPS_SERVER, client.conf)
    }

    deinit { close() }

    func close() {
        if let info { cupsFreeDestInfo(info) }
        if let dest { cupsFreeDests(1, dest) }
        if let http { httpClose(http) }
        info = nil
        dest = nil
        http = nil
    }

    static func lastError() -> String {
        "\(String(cString: cupsLastErrorString())) (IPP status 0x\(String(cupsLastError().rawValue, radix: 16)))"
    }

    static func open(_ s: A4PrinterSettings, library: CupsLibrary = .system) throws -> CupsSession {
        try library.require()  // before any libcups call, the URI and server parsing included
        let ms = Int32(
            max(
                100,
                s.requestTimeout.components.seconds * 1000 + s.requestTimeout.components.attoseconds
                    / 1_000_000_000_000_000))
        if let uri = s.uri {
            let (host, port, resource) = try split(uri: uri)
            guard let http = httpConnect2(host, port, nil, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, ms, nil) else {
                throw A4PrintError.connect(
                    "cannot connect to \(host):\(port) for \(uri): check the printer's power and network")
            }
            httpSetTimeout(http, Double(ms) / 1000, nil, nil)
            guard let dest = cupsGetDestWithURI(nil, uri) else {
                httpClose(http)
                throw A4PrintError.config("\(uri) is not a usable printer URI: \(lastError())")
            }
            return CupsSession(http: http, dest: dest, printerURI: uri, resource: resource, timeoutMS: ms)
        }
        guard let queue = s.queue, !queue.isEmpty else {
            throw A4PrintError.config("devices.a4Printer needs `queue` (a CUPS queue name) or `uri` (ipp://…)")
        }
        var host: String
        var port: Int32
        if let server = s.server, !server.isEmpty {
            (host, port) = try split(server: server)
        } else {
            host = String(cString: cupsServer())
            port = ippPort()
        }
        guard let http = httpConnect2(host, port, nil, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, ms, nil) else {
            throw A4PrintError.connect(
                "cannot connect to cupsd at \(host)\(host.hasPrefix("/") ? "" : ":\(port)"): is cups-daemon running?")
        }
        httpSetTimeout(http, Double(ms) / 1000, nil, nil)
        if let server = s.server, !server.isEmpty { cupsSetServer(port == 0 ? host : "\(host):\(port)") }
        guard let dest = cupsGetNamedDest(http, queue, nil) else {
            httpClose(http)
            throw A4PrintError.config(
                "CUPS queue \"\(queue)\" not found on \(host): create it with `lpadmin -p \(queue) -E -v <device-uri>` or fix devices.a4Printer.queue"
            )
        }
        let uri =
            cupsGetOption("printer-uri-supported", dest.pointee.num_options, dest.pointee.options)
            .map { String(cString: $0) } ?? "ipp://localhost/printers/\(queue)"
        return CupsSession(
            http: http, dest: dest, printerURI: uri, resource: "/printers/\(queue)", timeoutMS: ms,
            server: s.server.flatMap { $0.isEmpty ? nil : (port == 0 ? host : "\(host):\(port)") })
    }

    static func split(uri: String) throws -> (String, Int32, String) {
        var scheme = [CChar](repeating: 0, count: 32)
        var user = [CChar](repeating: 0, count: 256)
        var host = [CChar](repeating: 0, count: 256)
        var resource = [CChar](repeating: 0, count: 1024)
        var port: Int32 = 0
        let st = httpSeparateURI(HTTP_URI_CODING_ALL, uri, &scheme, 32, &user, 256, &host, 256, &port, &resource, 1024)
        let sch = String(cString: scheme)
        guard st.rawValue >= HTTP_URI_STATUS_OK.rawValue, ["ipp", "ipps", "http", "https"].contains(sch) else {
            throw A4PrintError.config("printer URI \(uri) is not valid: use ipp://host[:port]/ipp/print")
        }
        return (String(cString: host), port, String(cString: resource))
    }

    static func split(server: String) throws -> (String, Int32) {
        if server.hasPrefix("/") { return (server, 0) }
        let parts = server.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, let p = Int32(parts[1]), p > 0, p < 65536 { return (String(parts[0]), p) }
        if parts.count == 1 { return (server, 631) }
        throw A4PrintError.config("devices.a4Printer.server \(server) is not host:port or a socket path")
    }

    func printerSnapshot() throws -> PrinterSnapshot {
        pinServer()
        guard let req = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES) else {
            throw A4PrintError(description: "out of memory")
        }
        ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, printerURI)
        Self.requested(req, ["printer-state", "printer-state-reasons", "printer-is-accepting-jobs"])
        guard let resp = cupsDoRequest(http, req, resource) else {
            throw A4PrintError.connect("Get-Printer-Attributes failed: \(Self.lastError())")
        }
        defer { ippDelete(resp) }
        guard cupsLastError().rawValue < 0x0400 else {
            throw A4PrintError(description: "Get-Printer-Attributes refused: \(Self.lastError())")
        }
        var snap = PrinterSnapshot(state: nil, reasons: [], accepting: nil)
        if let a = ippFindAttribute(resp, "printer-state", IPP_TAG_ENUM) { snap.state = Int(ippGetInteger(a, 0)) }
        if let a = ippFindAttribute(resp, "printer-is-accepting-jobs", IPP_TAG_BOOLEAN) {
            snap.accepting = ippGetBoolean(a, 0) != 0
        }
        snap.reasons = Self.strings(ippFindAttribute(resp, "printer-state-reasons", IPP_TAG_KEYWORD))
        return snap
    }

    func jobSnapshot(jobId: Int) throws -> JobSnapshot {
        pinServer()
        guard let req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES) else {
            throw A4PrintError(description: "out of memory")
        }
        ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, printerURI)
        ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "job-id", Int32(jobId))
        Self.requested(req, ["job-state", "job-state-reasons"])
        guard let resp = cupsDoRequest(http, req, resource) else {
            throw A4PrintError.connect("Get-Job-Attributes failed: \(Self.lastError())")
        }
        defer { ippDelete(resp) }
        var snap = JobSnapshot(state: nil, reasons: [])
        if let a = ippFindAttribute(resp, "job-state", IPP_TAG_ENUM) {
            snap.state = IPPJobState(rawValue: Int(ippGetInteger(a, 0)))
        }
        snap.reasons = Self.strings(ippFindAttribute(resp, "job-state-reasons", IPP_TAG_KEYWORD))
        return snap
    }

    /// What the printer takes: document-format-supported, and for PWG raster its resolutions
    /// (dpi) and types (sgray_8, srgb_8, black_1).
    func documentCapabilities() throws -> (formats: [String], resolutions: [Int], types: [String]) {
        pinServer()
        guard let req = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES) else {
            throw A4PrintError(description: "out of memory")
        }
        ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, printerURI)
        Self.requested(
            req,
            [
                "document-format-supported", "pwg-raster-document-resolution-supported",
                "pwg-raster-document-type-supported",
            ])
        guard let resp = cupsDoRequest(http, req, resource) else {
            throw A4PrintError.connect("Get-Printer-Attributes failed: \(Self.lastError())")
        }
        defer { ippDelete(resp) }
        let formats = Self.strings(ippFindAttribute(resp, "document-format-supported", IPP_TAG_MIMETYPE))
        let types = Self.strings(ippFindAttribute(resp, "pwg-raster-document-type-supported", IPP_TAG_KEYWORD))
        var dpis: [Int] = []
        if let a = ippFindAttribute(resp, "pwg-raster-document-resolution-supported", IPP_TAG_RESOLUTION) {
            for i in 0..<ippGetCount(a) {
                var y: Int32 = 0
                var units = IPP_RES_PER_INCH
                let x = ippGetResolution(a, i, &y, &units)
                dpis.append(units == IPP_RES_PER_CM ? Int((Double(x) * 2.54).rounded()) : Int(x))
            }
        }
        return (formats, dpis, types)
    }

    /// Create-Job + Send-Document; returns the job id.
    func submit(document pdf: Data, format: String, title: String, media: String) throws -> Int {
        pinServer()
        guard let dest else { throw A4PrintError(description: "session closed") }
        if info == nil { info = cupsCopyDestInfo(http, dest) }
        guard let info else {
            throw A4PrintError.connect("cannot read the printer's capabilities: \(Self.lastError())")
        }
        var options: UnsafeMutablePointer<cups_option_t>? = nil
        var n: Int32 = 0
        n = cupsAddOption("media", media, n, &options)
        n = cupsAddOption("sides", "one-sided", n, &options)
        n = cupsAddOption("print-scaling", "none", n, &options)
        defer { cupsFreeOptions(n, options) }
        var jobId: Int32 = 0
        let created = cupsCreateDestJob(http, dest, info, &jobId, title, n, options)
        guard created == IPP_STATUS_OK, jobId > 0 else {
            throw A4PrintError(description: "Create-Job refused: \(Self.lastError())")
        }
        guard cupsStartDestDocument(http, dest, info, jobId, title, format, 0, nil, 1) == HTTP_STATUS_CONTINUE else {
            let why = Self.lastError()
            _ = cupsCancelDestJob(http, dest, jobId)
            throw A4PrintError(description: "Send-Document refused: \(why)")
        }
        var ok = true
        pdf.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count && ok {
                let len = min(65536, raw.count - off)
                let p = raw.baseAddress!.advanced(by: off).assumingMemoryBound(to: CChar.self)
                if cupsWriteRequestData(http, p, len) != HTTP_STATUS_CONTINUE { ok = false }
                off += len
            }
        }
        let finished = cupsFinishDestDocument(http, dest, info)
        guard ok, finished.rawValue < 0x0400 else {
            let why = Self.lastError()
            _ = cupsCancelDestJob(http, dest, jobId)
            throw A4PrintError(description: "sending the document (\(format)) failed: \(why)")
        }
        return Int(jobId)
    }

    func cancel(jobId: Int) throws {
        pinServer()
        guard let dest else { return }
        let st = cupsCancelDestJob(http, dest, Int32(jobId))
        guard st.rawValue < 0x0400 else { throw A4PrintError(description: "Cancel-Job failed: \(Self.lastError())") }
    }

    static func requested(_ req: OpaquePointer, _ names: [String]) {
        let cstrs = names.map { strdup($0) }
        defer { cstrs.forEach { free($0) } }
        var ptrs: [UnsafePointer<CChar>?] = cstrs.map { UnsafePointer($0) }
        ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes", Int32(names.count), nil, &ptrs)
    }

    static func strings(_ attr: OpaquePointer?) -> [String] {
        guard let attr else { return [] }
        return (0..<ippGetCount(attr)).compactMap { i in ippGetString(attr, i, nil).map { String(cString: $0) } }
    }
}
