import AsyncHTTPClient
import Foundation
import KioskCore
import KioskDevices
import KioskFlow
import KioskProtocols
import KioskTerminal
import Logging
#if canImport(Glibc)
    import Glibc
#endif

/// Everything kioskd runs, built from the config: devices (simulated or real), outbox, uploader.
public final class KioskServices: Sendable {
    public let config: KioskConfig
    /// The catalog at start: the current signed bundle when one is installed, else the shipped default.
    public let catalog: Catalog
    /// The bundle version of `catalog` (nil: the shipped default).
    public let catalogBundleVersion: String?
    /// Verified bundles from upstream and which one is current.
    public let catalogBundles: CatalogBundleStore
    /// The outbox database's stores (submissions, upload queue, certificates, staff, audit, …).
    public let stores: OutboxStores
    /// The certificate desk: printing and hand-over rules over the stores.
    public let certificateDesk: StoreCertificateDesk
    /// The station clock: dates (case numbers, ledger, receipts) in the station's time zone.
    public let clock: StationClock
    public let uploader: Uploader
    /// A client of the upstream for health checks (`kioskctl status`).
    public let intake: IntakeClient
    public let http: HTTPClient
    public let reader: IDCardReader?
    public let simulatedReader: SimulatedIDCardReader?
    /// The process's libusb context (nil when no USB device is configured).
    public let usb: LibUSBContext?
    /// Finds the real reader (nil for simulated or no reader); SIGHUP hands it re-read profiles.
    public let readerConnector: SAMReaderConnector?
    public let camera: DocumentCamera?
    public let printer: ReceiptPrinter?
    public let simulatedPrinter: SimulatedReceiptPrinter?
    /// The A4 printer (mode cups); its status is polled off the resident flow's path.
    public let a4Printer: A4Printer?
    /// The simulated A4 printer (mode simulated).
    public let simulatedA4: SimulatedA4Printer?
    public let logger: Logger

    public init(config: KioskConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        catalogBundles = CatalogBundleStore(directory: config.catalogBundleDirectory)
        (catalog, catalogBundleVersion) = try Self.activeCatalog(config, store: catalogBundles, logger: logger)
        try config.checkSecretFilePermissions()
        let key = try AtRestCipher.loadKey(path: config.resolve(config.encryption.keyFile))
        clock = StationClock(timeZone: config.timeZone)
        stores = try OutboxStores(
            stateDirectory: config.stateDirectoryPath, cipher: AtRestCipher(masterKey: key),
            stationId: config.station.id, casePrefix: config.station.casePrefix, clock: clock,
            minFreeBytes: Int64(config.storage?.minFreeMegabytes ?? 100) * 1_000_000)
        let replay = stores.database.replayedAtStart
        if !replay.written.isEmpty {
            logger.notice(
                "seal log: rows a power cut lost were written back",
                metadata: ["cases": "\(replay.written.map(\.caseNumber).sorted())"])
        }
        for (caseNumber, why) in replay.notWritten.sorted(by: { $0.key < $1.key }) {
            logger.error(
                "seal log: a sealed submission has no row yet and is not uploaded until it has; kioskd tries again at its next start (check the key and free disk space, then restart kioskd)",
                metadata: ["case": "\(caseNumber)", "reason": "\(why)"])
        }
        certificateDesk = stores.certificateDesk(logger: logger)
        let up = try config.upstreamConfig()
        do { http = try config.upstreamTLS.makeHTTPClient() } catch { throw ConfigError("\(error)") }
        intake = IntakeClient(http: http, config: up, clock: clock)
        uploader = Uploader(database: stores.database, client: intake, config: up, logger: logger)

        let readerConfig = config.devices.idCardReader
        switch readerConfig.mode {
        case .simulated:
            let removeAfter = config.simulation?.removeCardAfterSeconds ?? 2
            let sim = SimulatedIDCardReader(removeAfterRead: .milliseconds(Int(removeAfter * 1000)))
            simulatedReader = sim
            reader = IDCardReader(
                transport: SimulatorLink(model: sim, name: "id-card-reader"),
                model: "simulated SAM reader", simulated: true, logger: logger)
            usb = nil
            readerConnector = nil
        case .none:
            simulatedReader = nil
            reader = nil
            usb = nil
            readerConnector = nil
        case .usb, .serial, .hid, .auto:
            simulatedReader = nil
            let profiles = try DeviceProfiles.load(directory: config.deviceProfilesPath)
            var context: LibUSBContext?
            if readerConfig.mode == .usb || readerConfig.mode == .auto {
                do { context = try LibUSBContext() } catch {
                    logger.error("libusb unavailable; USB readers cannot be used", metadata: ["error": "\(error)"])
                }
            }
            usb = context
            let connector = SAMReaderConnector(
                settings: ReaderConnectionSettings(
                    mode: readerConfig.mode.link ?? .auto, path: readerConfig.path,
                    profileId: readerConfig.profile, baud: readerConfig.baud),
                profiles: profiles, usb: context, logger: logger)
            readerConnector = connector
            reader = IDCardReader(
                provider: connector, logger: logger,
                options: ReaderOptions(readFingerprints: readerConfig.readFingerprints ?? false))
        }

        let cam = config.devices.documentCamera
        switch cam.mode {
        case .simulated:
            let dir = config.resolve(cam.fixtures ?? "kiosk-config/fixtures/camera")
            camera = DocumentCamera(
                source: try SimulatedFrameSource(fixtureDirectory: dir), logger: logger,
                encoding: cam.upload ?? UploadEncoding(), checkQuality: cam.qualityCheck ?? true)
        case .v4l2:
            let profile = try cam.profile.map { id -> DeviceProfile in
                guard
                    let p = try DeviceProfiles.load(directory: config.deviceProfilesPath).first(where: { $0.id == id })
                else {
                    throw ConfigError("devices.documentCamera.profile \(id) is not in \(config.deviceProfilesPath)")
                }
                return p
            }
            camera = DocumentCamera(
                source: V4L2FrameSource(
                    device: LinuxV4L2Device(),
                    settings: Self.v4l2Settings(path: cam.path ?? "/dev/video0", profile: profile)),
                logger: logger, thresholds: profile?.camera?.quality ?? QualityThresholds(),
                encoding: cam.upload ?? UploadEncoding(), checkQuality: cam.qualityCheck ?? true)
        case .none:
            camera = nil
        }

        let setup = try DeviceFactory.receiptPrinter(config, logger: logger)
        printer = setup?.printer
        simulatedPrinter = setup?.simulator
        a4Printer = DeviceFactory.a4Printer(config, logger: logger)
        simulatedA4 = DeviceFactory.simulatedA4Printer(config)
    }

    public static func v4l2Settings(path: String, profile: DeviceProfile?) -> V4L2Settings {
        let c = profile?.camera
        let size = c?.width.flatMap { w in c?.height.map { V4L2FrameSize(width: w, height: $0) } }
        return V4L2Settings(
            path: path, size: size, buffers: c?.buffers ?? 4, settleFrames: c?.settleFrames ?? 2,
            settleMilliseconds: c?.settleMilliseconds ?? 1200,
            frameTimeoutMilliseconds: c?.frameTimeoutMilliseconds ?? 3000,
            powerLineHz: c?.powerLineHz == 0 ? nil : (c?.powerLineHz ?? 50))
    }

    public func deviceStatuses() async -> [DeviceStatus] {
        var out: [DeviceStatus] = []
        if let reader {
            out.append(await reader.status())
        } else {
            out.append(DeviceStatus(kind: .idCardReader, state: .noDevice, model: "-", simulated: false))
        }
        if let camera {
            out.append(await camera.status())
        } else {
            out.append(DeviceStatus(kind: .documentCamera, state: .noDevice, model: "-", simulated: false))
        }
        if let printer {
            out.append(await printer.refresh())
        } else {
            out.append(DeviceStatus(kind: .receiptPrinter, state: .noDevice, model: "-", simulated: false))
        }
        if let a4Printer {
            out.append(await a4Printer.refresh())
        } else if let simulatedA4 {
            out.append(simulatedA4.status())
        }
        return out
    }

    /// SIGHUP: re-reads the device profiles for the reader's next scan. Throws when a profile is
    /// broken (the running profiles stay).
    public func reloadProfiles(_ c: KioskConfig) throws -> Int {
        guard let connector = readerConnector else { return 0 }
        let profiles = try DeviceProfiles.load(directory: c.deviceProfilesPath)
        connector.updateProfiles(profiles)
        return connector.profiles.count
    }

    /// Shutdown, after the run loop ended and in-flight steps finished: devices closed (reader
    /// loop stopped and link closed, printer link closed after any print in progress, libusb
    /// events stopped), the outbox flushed (WAL checkpointed) and closed, the HTTP client shut down.
    public func shutdown() async {
        await reader?.shutdown()
        await printer?.shutdown()
        usb?.stopEvents()
        do {
            try stores.database.close()
            logger.info("outbox flushed and closed")
        } catch {
            logger.error("outbox close failed (every commit is already durable)", metadata: ["error": "\(error)"])
        }
        try? await http.shutdown()
    }
}

/// The daemon's main loop: one stream of events (keys, clock, devices, effect results) into the
/// flow machine; screens rendered to the terminal; effects carried out against the services.
public actor KioskRuntime {
    let services: KioskServices
    /// kioskd's own terminal (tmux, a serial terminal, the console); nil when it runs without one
    /// (under systemd with the display stack: the screen is served on the socket only).
    let terminal: TerminalIO?
    /// The screen socket: the display and technicians' mirrors attach to it.
    let screens: ScreenSocketServer?
    var machine: FlowMachine
    var renderer: TerminalRenderer
    let events: AsyncStream<FlowEvent>
    let sink: AsyncStream<FlowEvent>.Continuation
    var lastDevices: [DeviceStatus] = []
    let notifier = SystemdNotifier()
    var lastWatchdog = ContinuousClock.now
    var pendingReload: (Catalog, FlowSettings)?
    /// The bundle version `pendingReload` carries (.some(nil): the shipped default; nil: unchanged).
    var pendingBundle: String??
    /// The bundle version the flow shows (nil: the shipped default).
    var runningBundle: String?
    /// What the upstream last said about notifications (nil: unknown).
    var smsCapabilities: NotificationCapabilities?
    /// Steps running outside the loop (seal, print, photo): SIGTERM lets them finish.
    var inFlight: [UUID: Task<Void, Never>] = [:]

    /// Clock ticks: every second, faster when a short watchdog needs it (at least four per interval).
    var tickPeriod: Duration {
        guard let w = notifier.watchdogInterval else { return .seconds(1) }
        return min(.seconds(1), w / 4)
    }

    static func settings(_ c: KioskConfig, simulated: Bool) -> FlowSettings {
        var settings = FlowSettings(
            stationName: c.station.name,
            idleTimeoutSeconds: c.session?.idleTimeoutSeconds ?? 90,
            warningSeconds: c.session?.warningSeconds ?? 20,
            pageSize: c.session?.itemsPerPage ?? 6,
            simulatedCards: simulated ? SyntheticCards.all.map(\.label) : nil,
            timeZone: c.timeZone,
            language: c.accessibility?.language?.language ?? .zh,
            largeMode: c.accessibility?.largeMode ?? false,
            largeIdleTimeoutSeconds: c.accessibility?.largeIdleTimeoutSeconds,
            helpLocation: c.help?.location, helpPhone: c.help?.phone,
            voicePrompts: c.voice?.enabled ?? false)
        settings.complaintPhone = c.help?.complaintPhone
        settings.unresolvedChannel = c.help?.unresolved
        return settings
    }

    /// SIGHUP: re-reads the config's catalog, guides, station name and session settings, and applies
    /// them once no resident is in the middle of a session. Devices, outbox and upstream need a restart.
    public func reload(configPath: String) {
        let log = services.logger
        notifier.send("RELOADING=1\nSTATUS=reloading configuration")
        do {
            let c = try KioskConfig.load(path: configPath)
            let (catalog, version) = try KioskServices.activeCatalog(c, store: services.catalogBundles, logger: log)
            pendingBundle = .some(version)
            let readerProfiles = try services.reloadProfiles(c)
            pendingReload = (catalog, Self.settings(c, simulated: services.simulatedReader != nil))
            log.info(
                "configuration reloaded; applied at the next home screen",
                metadata: ["items": "\(catalog.items.count)", "readerProfiles": "\(readerProfiles)"])
            notifier.send("READY=1\nSTATUS=configuration reloaded; " + Self.statusLine(lastDevices))
            post(.tick(services.clock.now))
        } catch {
            log.error("reload failed, keeping the running configuration", metadata: ["error": "\(error)"])
            notifier.send("READY=1\nSTATUS=reload failed, running configuration kept; " + Self.statusLine(lastDevices))
        }
    }

    let metrics: KioskMetrics?
    var sessionStartedAt: ContinuousClock.Instant?
    /// Voice prompts (voice.enabled), through espeak-ng.
    let voice: VoicePrompter?

    public init(
        services: KioskServices, terminal: TerminalIO?, screens: ScreenSocketServer? = nil, metrics: KioskMetrics? = nil
    ) {
        self.services = services
        self.metrics = metrics
        self.terminal = terminal
        self.screens = screens
        let c = services.config
        voice = (c.voice?.enabled ?? false) ? VoicePrompter(c.voice!, resolve: c.resolve, logger: services.logger) : nil
        machine = FlowMachine(
            catalog: services.catalog, settings: Self.settings(c, simulated: services.simulatedReader != nil))
        let size = terminal?.size() ?? (80, 24)
        renderer = TerminalRenderer(width: size.0, height: size.1)
        (events, sink) = AsyncStream<FlowEvent>.makeStream(bufferingPolicy: .unbounded)
    }

    nonisolated func post(_ e: FlowEvent) { sink.yield(e) }

    /// Runs until the task is cancelled (SIGTERM, SIGINT) or input closes.
    public func run() async {
        let log = services.logger
        terminal?.enter()
        defer { terminal?.restore() }
        terminal?.onReopen = { [weak self] in Task { await self?.redrawAfterHangup() } }
        if let screens {
            do {
                try screens.start(
                    key: { [weak self] k in self?.post(.key(k)) },
                    redraw: { [weak self] in Task { await self?.draw() } })
                log.info("screen served on its socket", metadata: ["socket": "\(screens.path)"])
            } catch {
                log.error("screen socket not available", metadata: ["error": "\(error)"])
            }
        }
        defer { screens?.stop() }
        if terminal == nil && screens == nil {
            log.warning("no terminal and no screen socket: residents see nothing (set screen.socket)")
        }
        await services.reader?.probe()
        await services.reader?.start()
        lastDevices = await services.deviceStatuses()
        _ = machine.handle(.devices(lastDevices))
        lastAccepting = services.stores.database.diskStatus().accepting
        _ = machine.handle(.storage(accepting: lastAccepting))
        await recordDeviceHistory(lastDevices)
        lastServiceNotice = try? services.stores.service.outOfServiceNotice()
        _ = machine.handle(.serviceState(notice: lastServiceNotice))
        if let n = lastServiceNotice { log.notice("starting out of service", metadata: ["notice": "\(n)"]) }
        draw()
        notifier.ready(status: "ready; " + Self.statusLine(lastDevices))
        log.info(
            "kiosk ready",
            metadata: ["station": "\(services.config.station.id)", "items": "\(services.catalog.items.count)"])

        let svc = services
        await services.uploader.setDeviceSource {
            await svc.deviceStatuses().map {
                DeviceReport(kind: $0.kind.rawValue, state: $0.state.rawValue, simulated: $0.simulated)
            }
        }
        runningBundle = services.catalogBundleVersion
        await reportCatalogBundle()
        await withTaskGroup(of: Void.self) { group in
            if let terminal {
                let keys = terminal.keys()
                group.addTask { [self] in
                    for await k in keys { post(.key(k)) }
                    sink.finish()  // input closed: the terminal is gone
                }
            }
            let period = tickPeriod
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: period)
                    post(.tick(services.clock.now))
                }
            }
            if let reader = services.reader {
                group.addTask { [self] in
                    for await e in reader.events {
                        switch e {
                        case .cardRead(let id): post(.cardRead(id))
                        case .cardRemoved: post(.cardRemoved)
                        case .problem(let resident, let tech):
                            log.warning("card read problem", metadata: ["detail": "\(tech)"])
                            post(.cardProblem(resident))
                        case .status: await refreshDevices()
                        }
                    }
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    await refreshDevices()
                }
            }
            group.addTask { [services] in await services.uploader.run() }
            if let minutes = services.catalogBundleFetchMinutes, minutes > 0 {
                group.addTask { [self] in await runCatalogBundleSchedule(every: minutes) }
            }
            group.addTask { [self] in await watchNotificationCapabilities() }
            group.addTask { [self] in
                await consume()
            }
            _ = await group.next()
            group.cancelAll()
        }
        notifier.stopping()
        await services.reader?.stopReading()
        log.info("kiosk stopping")
    }

    /// The out-of-service notice last applied to the flow (kioskctl service changes it in the database).
    var lastServiceNotice: String?

    /// The technician PIN through the persisted PIN gate (slow hash off the cooperative pool;
    /// lockout per `PINRole.technician.policy`, kept across restarts). Every attempt is logged (no PIN).
    nonisolated static func checkTechnicianPIN(_ pin: String, services: KioskServices) async -> FlowEvent {
        let log = services.logger
        guard let hash = services.config.technician?.pinHash else {
            return .technicianPINChecked(ok: false, reason: "未配置维护密码（technician.pinHash）")
        }
        let result: PINCheckResult
        do {
            result = try await services.stores.pinGate.check(
                role: .technician, subject: DatabasePINGate.technicianSubject, pin: pin, against: hash)
        } catch {
            log.error("technician PIN not checked: the outbox database is unavailable", metadata: ["error": "\(error)"])
            return .technicianPINChecked(ok: false, reason: "密码错误 / wrong PIN")
        }
        switch result {
        case .accepted:
            log.info("technician mode entered")
            return .technicianPINChecked(ok: true, reason: nil)
        case .lockedOut(let until, false):
            log.warning("technician PIN refused: locked out")
            let minutes = Int(until.timeIntervalSince(services.clock.now) / 60) + 1
            return .technicianPINChecked(ok: false, reason: "密码错误次数过多，请 \(minutes) 分钟后再试")
        case .lockedOut(_, true):
            log.warning(
                "technician PIN wrong",
                metadata: ["failures": "\(PINRole.technician.policy.maxFailures)", "lockout": "yes"])
            return .technicianPINChecked(ok: false, reason: "密码错误 / wrong PIN")
        case .wrong(let failures, _):
            log.warning("technician PIN wrong", metadata: ["failures": "\(failures)"])
            return .technicianPINChecked(ok: false, reason: "密码错误 / wrong PIN")
        }
    }

    static func technicianLines(_ s: StatusReport) -> [String] {
        var out = ["kioskd \(s.version)  \(s.station)  up \(s.uptimeSeconds / 60) min"]
        for d in s.devices {
            var l = "\(d.kind.chinese) \(d.state.rawValue)"
            if let p = d.paper { l += " paper=\(p.rawValue)" }
            if let c = d.connection { l += " [\(c)]" }
            out.append(l)
            if let e = d.lastError { out.append("   \(e)") }
        }
        if let o = s.outbox {
            out.append("outbox: queued \(o.queued), uploaded \(o.uploaded), quarantined \(o.quarantined)")
        }
        out.append("upstream: \(s.upstream.reachable ? "reachable" : "NOT reachable")")
        if let f = s.freeDiskBytes { out.append("free disk: \(f / 1_048_576) MiB") }
        return out
    }
    var lastAccepting = true

    func refreshDevices() async {
        let accepting = services.stores.database.diskStatus().accepting
        if accepting != lastAccepting {
            lastAccepting = accepting
            post(.storage(accepting: accepting))
            if !accepting {
                services.logger.error("disk below storage.minFreeMegabytes: new submissions paused")
            } else {
                services.logger.notice("disk above storage.minFreeMegabytes again: taking submissions")
            }
        }
        let d = await services.deviceStatuses()
        if let metrics {
            metrics.observe(devices: d)
            if let c = try? services.stores.uploads.counts() {
                metrics.observe(
                    outbox: c, freeDiskBytes: AdminService.freeDisk(services.config.stateDirectoryPath),
                    floorBytes: services.stores.database.minFreeBytes,
                    keyAlarm: Uploader.keyAlarmCount(services.stores.uploads))
            }
            metrics.observe(upload: await services.uploader.tusStats)
        }
        pollServiceNotice()
        pollCatalogBundle()
        if d != lastDevices {
            await recordDeviceHistory(d, previous: lastDevices)
            lastDevices = d
            post(.devices(d))
            notifier.status(Self.statusLine(d))
        }
    }

    func consume() async {
        for await var e in events {
            if Task.isCancelled { break }
            if case .key(.tap(let column, let row)) = e {
                // A tap chooses the option drawn under it; elsewhere it only keeps the session alive.
                let f = machine.frame(width: renderer.width, height: renderer.height)
                if let k = f.key(atColumn: column, row: row) { e = .key(k) }
            }
            if case .tick = e { petWatchdog() }
            if case .key = e, sessionStartedAt == nil { sessionStartedAt = .now }
            if let (catalog, settings) = pendingReload, machine.reload(catalog: catalog, settings: settings) {
                pendingReload = nil
                if case .some(let version) = pendingBundle { await catalogSwapped(to: version) }
                pendingBundle = nil
            }
            let effects = machine.handle(e)
            for effect in effects { await perform(effect) }
            draw()
        }
    }

    /// WATCHDOG=1 from the main loop itself: a hung loop stops petting and systemd restarts us.
    /// Petted on the first tick at least (interval − one tick) after the last, so two pets are
    /// never more than half of WATCHDOG_USEC apart (plus scheduling jitter).
    func petWatchdog() {
        guard let interval = notifier.watchdogInterval else { return }
        if ContinuousClock.now - lastWatchdog >= interval - tickPeriod {
            notifier.watchdog()
            lastWatchdog = .now
        }
    }

    static func statusLine(_ d: [DeviceStatus]) -> String {
        d.map { "\($0.kind.rawValue)=\($0.state.rawValue)" }.joined(separator: " ")
    }

    /// Runs a step outside the loop, remembered until it ends so shutdown can wait for it.
    func spawn(_ body: @escaping @Sendable () async -> Void) {
        let id = UUID()
        inFlight[id] = Task { [weak self] in
            await body()
            await self?.stepEnded(id)
        }
    }

    func stepEnded(_ id: UUID) { inFlight[id] = nil }

    /// SIGTERM, after the loop ended: waits up to `timeout` for in-flight steps (a seal commits or
    /// rolls back as a whole; a receipt in progress prints to the end). Returns how many were left.
    public func finishInFlightSteps(timeout: Duration) async -> Int {
        let running = Array(inFlight.values)
        guard !running.isEmpty else { return 0 }
        services.logger.info("waiting for steps in progress", metadata: ["count": "\(running.count)"])
        // A fresh task: the caller may already be cancelled, and Task.sleep would not wait then.
        let finished = await Task.detached { () -> Bool in
            await withTaskGroup(of: Bool.self) { g in
                g.addTask {
                    for t in running { await t.value }
                    return true
                }
                g.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await g.next() ?? false
                g.cancelAll()
                return first
            }
        }.value
        return finished ? 0 : inFlight.count
    }

    /// The terminal hung up and was reopened, or was reset under us: everything is drawn again.
    func redrawAfterHangup() {
        services.logger.notice("terminal hung up or reset, taken back; screen redrawn")
        renderer.invalidate()
        draw()
    }

    /// The grid frames are laid out for: kioskd's own terminal, else the attached display's, else 80×24.
    var layoutSize: (width: Int, height: Int) {
        if let terminal { return terminal.size() }
        if let d = screens?.displaySize { return (d.columns, d.rows) }
        return (80, 24)
    }

    func draw() {
        let size = layoutSize
        if size.width != renderer.width || size.height != renderer.height {
            renderer.resize(width: size.width, height: size.height)
        }
        let frame = machine.frame(width: renderer.width, height: renderer.height)
        if let terminal { terminal.write(renderer.render(frame)) }
        screens?.publish(frame, width: renderer.width, height: renderer.height, largeMode: machine.largeMode)
    }

    func perform(_ effect: FlowEffect) async {
        let s = services
        let log = s.logger
        switch effect {
        case .startCardReading:
            await s.reader?.startReading()
        case .stopCardReading:
            await s.reader?.stopReading()
        case .wipeTerminal:
            if let start = sessionStartedAt {
                metrics?.sessionEnded(duration: (ContinuousClock.now - start) / .seconds(1))
                sessionStartedAt = nil
            }
            terminal?.wipe()
            screens?.wipe()
            renderer.invalidate()
        case .placeSimulatedCard(let i):
            if let sim = s.simulatedReader, i < SyntheticCards.all.count { sim.place(SyntheticCards.all[i].card) }
        case .capturePhoto:
            spawn { [self] in
                guard let camera = s.camera else {
                    post(.photoFailed("高拍仪未连接"))
                    return
                }
                do { post(.photoCaptured(try await camera.capture())) } catch let e as DeviceError {
                    post(.photoFailed(e.residentMessage))
                } catch { post(.photoFailed("高拍仪暂时无法拍照")) }
            }
        case .seal(let req):
            spawn { [self] in
                let sub = NewSubmission(
                    itemCode: req.itemCode, itemName: req.itemName, applicant: req.applicant,
                    attachments: zip(req.photoNames, req.photos).map {
                        NewAttachment(name: $0, contentType: "image/jpeg", data: $1)
                    },
                    assistedBy: req.assistedBy, supplementOf: req.supplementOf)
                do {
                    let sealed = try await s.stores.submissions.seal(sub)
                    self.metrics?.submissionSealed()
                    log.info(
                        "submission sealed",
                        metadata: [
                            "case": "\(sealed.caseNumber)", "item": "\(req.itemCode)",
                            "attachments": "\(req.photos.count)", "assistedBy": "\(req.assistedBy ?? "-")",
                        ])
                    if let agent = req.assistedBy {
                        try? await s.stores.audit.append(
                            actor: agent, action: "assist.submitted", subject: sealed.caseNumber, detail: req.itemCode)
                    }
                    // A 补正's link to its case is part of the seal itself (one transaction).
                    if req.supplementOf == nil {
                        await self.requestNotifications(
                            submissionId: sealed.id, caseNumber: sealed.caseNumber, phone: req.applicant.phone)
                    }
                    s.uploader.kick()
                    post(.sealed(sealed))
                } catch let e as DiskFloorError {
                    log.error("seal refused: disk floor", metadata: ["error": "\(e)"])
                    post(.sealFailed(DiskFloorError.residentMessage))
                } catch {
                    log.error("seal failed", metadata: ["error": "\(error)"])
                    post(.sealFailed("本机存储出现问题，请联系工作人员"))
                }
            }
        case .printReceipt(let doc, let id):
            spawn { [self] in
                guard let printer = s.printer else {
                    post(.receiptFailed("回执打印机未连接"))
                    return
                }
                do {
                    try await printer.print(doc)
                    try? await s.stores.submissions.markReceiptPrinted(id: id)
                    post(.receiptPrinted)
                } catch let e as DeviceError {
                    log.warning("receipt not printed", metadata: ["error": "\(e.description)"])
                    post(.receiptFailed(e.residentMessage))
                } catch {
                    post(.receiptFailed("打印机故障"))
                }
                await refreshDevices()
            }
        case .printNotice(let doc):
            spawn { [self] in
                guard let printer = s.printer else {
                    post(.noticeFailed("打印机未连接"))
                    return
                }
                do {
                    try await printer.print(doc)
                    post(.noticePrinted)
                } catch let e as DeviceError { post(.noticeFailed(e.residentMessage)) } catch {
                    post(.noticeFailed("打印机故障"))
                }
                await refreshDevices()
            }
        case .verifyTechnicianPIN(let pin):
            Task.detached { [self] in post(await Self.checkTechnicianPIN(pin, services: s)) }
        case .technicianStatus:
            Task {
                let st = await AdminService(services: s).status()
                post(.technicianReport(Self.technicianLines(st)))
            }
        case .technicianSelftest(let printTestReceipt):
            Task {
                let rs = await AdminService(services: s).selftest(nil, printTestReceipt: printTestReceipt)
                log.info("technician self-test", metadata: ["passed": "\(rs.filter(\.passed).count)/\(rs.count)"])
                post(
                    .technicianReport(
                        rs.map {
                            "\($0.passed ? "通过 PASS" : "失败 FAIL")  \($0.device): \($0.reasons.joined(separator: "; "))"
                        }))
                await refreshDevices()
            }
        case .loadProgress(let idNumber):
            do { post(.progressLoaded(try s.stores.submissions.submissions(forIDNumber: idNumber))) } catch {
                post(.progressFailed("本机记录暂时无法读取"))
            }
        case .identifyStaff, .verifyStaffPIN, .audit, .loadCertificates, .printCertificate, .printCertificateBatch,
            .ledger, .setOutOfService, .callStaff:
            await performStaff(effect)
        case .speak(let text, let language):
            voice?.speak(text, language: language)
        case .afterService(let e):
            await performAfterService(e)
        case .recordEvaluation(let c, let level, let reason):
            do {
                try await s.stores.messages.recordEvaluation(caseNumber: c, level: level, reason: reason)
                log.info("evaluation recorded", metadata: ["case": "\(c)", "level": "\(level)"])
            } catch {
                log.error("evaluation not recorded", metadata: ["error": "\(error)"])
            }
        }
    }
}
