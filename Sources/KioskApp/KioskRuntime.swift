import AsyncHTTPClient
import Foundation
import KioskCore
import KioskDevices
import KioskFlow
import KioskProtocols
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Everything kioskd runs, built from the config: devices (simulated or real), outbox, uploader.
public final class KioskServices: Sendable {
    public let config: KioskConfig
    public let catalog: Catalog
    public let outbox: Outbox
    public let uploader: Uploader
    public let http: HTTPClient
    public let reader: IDCardReader?
    public let simulatedReader: SimulatedIDCardReader?
    public let camera: DocumentCamera?
    public let printer: ReceiptPrinter?
    public let simulatedPrinter: SimulatedReceiptPrinter?
    public let logger: Logger

    public init(config: KioskConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        catalog = try Catalog.load(catalogFile: config.resolve(config.catalog), guidesDirectory: config.guides.map(config.resolve))
        let key = try AtRestCipher.loadKey(path: config.resolve(config.encryption.keyFile))
        outbox = try Outbox(stateDirectory: config.stateDirectoryPath, cipher: AtRestCipher(masterKey: key),
                            stationId: config.station.id, casePrefix: config.station.casePrefix,
                            minFreeBytes: Int64(config.storage?.minFreeMegabytes ?? 100) * 1_000_000)
        let up = try config.upstreamConfig()
        do { http = try config.upstreamTLS.makeHTTPClient() } catch { throw ConfigError("\(error)") }
        uploader = Uploader(outbox: outbox, client: IntakeClient(http: http, config: up), config: up, logger: logger)

        if config.devices.idCardReader.mode == "simulated" {
            let removeAfter = config.simulation?.removeCardAfterSeconds ?? 2
            let sim = SimulatedIDCardReader(removeAfterRead: .milliseconds(Int(removeAfter * 1000)))
            simulatedReader = sim
            reader = IDCardReader(transport: SimulatorLink(model: sim, name: "id-card-reader"),
                                  model: "simulated SAM reader", simulated: true, logger: logger)
        } else { simulatedReader = nil; reader = nil }

        if config.devices.documentCamera.mode == "simulated" {
            let dir = config.resolve(config.devices.documentCamera.fixtures ?? "kiosk-config/fixtures/camera")
            camera = DocumentCamera(source: try SimulatedFrameSource(fixtureDirectory: dir), logger: logger)
        } else { camera = nil }

        if config.devices.receiptPrinter.mode == "simulated" {
            let out = config.simulatorOutputPath + "/receipts"
            try DurableFile.makeDirectory(out)
            let sim = SimulatedReceiptPrinter(outputDirectory: out)
            simulatedPrinter = sim
            printer = ReceiptPrinter(transport: SimulatorLink(model: sim, name: "receipt-printer"),
                                     profile: .mm80, model: "simulated 80 mm ESC/POS printer",
                                     simulated: true, bidirectional: true, logger: logger)
        } else { simulatedPrinter = nil; printer = nil }
    }

    public func deviceStatuses() async -> [DeviceStatus] {
        var out: [DeviceStatus] = []
        if let reader { out.append(await reader.status()) }
        else { out.append(DeviceStatus(kind: .idCardReader, state: .noDevice, model: "-", simulated: false)) }
        if let camera { out.append(await camera.status()) }
        else { out.append(DeviceStatus(kind: .documentCamera, state: .noDevice, model: "-", simulated: false)) }
        if let printer { out.append(await printer.refresh()) }
        else { out.append(DeviceStatus(kind: .receiptPrinter, state: .noDevice, model: "-", simulated: false)) }
        return out
    }

    public func shutdown() async {
        await reader?.stopReading()
        try? await http.shutdown()
    }
}

/// The daemon's main loop: one stream of events (keys, clock, devices, effect results) into the
/// flow machine; screens rendered to the terminal; effects carried out against the services.
public actor KioskRuntime {
    let services: KioskServices
    let terminal: TerminalIO
    var machine: FlowMachine
    var renderer: TerminalRenderer
    let events: AsyncStream<FlowEvent>
    let sink: AsyncStream<FlowEvent>.Continuation
    var lastDevices: [DeviceStatus] = []
    let notifier = SystemdNotifier()
    var lastWatchdog = ContinuousClock.now
    var pendingReload: (Catalog, FlowSettings)?

    static func settings(_ c: KioskConfig, simulated: Bool) -> FlowSettings {
        FlowSettings(stationName: c.station.name,
                     idleTimeoutSeconds: c.session?.idleTimeoutSeconds ?? 90,
                     warningSeconds: c.session?.warningSeconds ?? 20,
                     pageSize: c.session?.itemsPerPage ?? 6,
                     simulatedCards: simulated ? SyntheticCards.all.map(\.label) : nil)
    }

    /// SIGHUP: re-reads the config's catalog, guides, station name and session settings, and applies
    /// them once no resident is in the middle of a session. Devices, outbox and upstream need a restart.
    public func reload(configPath: String) {
        let log = services.logger
        do {
            let c = try KioskConfig.load(path: configPath)
            let catalog = try Catalog.load(catalogFile: c.resolve(c.catalog), guidesDirectory: c.guides.map(c.resolve))
            pendingReload = (catalog, Self.settings(c, simulated: services.simulatedReader != nil))
            log.info("configuration reloaded; applied at the next home screen", metadata: ["items": "\(catalog.items.count)"])
            post(.tick(Date()))
        } catch {
            log.error("reload failed, keeping the running configuration", metadata: ["error": "\(error)"])
        }
    }

    public init(services: KioskServices, terminal: TerminalIO) {
        self.services = services
        self.terminal = terminal
        let c = services.config
        machine = FlowMachine(catalog: services.catalog, settings: Self.settings(c, simulated: services.simulatedReader != nil))
        let size = terminal.size()
        renderer = TerminalRenderer(width: size.width, height: size.height)
        (events, sink) = AsyncStream<FlowEvent>.makeStream(bufferingPolicy: .unbounded)
    }

    nonisolated func post(_ e: FlowEvent) { sink.yield(e) }

    /// Runs until the task is cancelled (SIGTERM, SIGINT) or input closes.
    public func run() async {
        let log = services.logger
        terminal.enter()
        defer { terminal.restore() }
        await services.reader?.probe()
        lastDevices = await services.deviceStatuses()
        _ = machine.handle(.devices(lastDevices))
        lastAccepting = services.outbox.diskStatus().accepting
        _ = machine.handle(.storage(accepting: lastAccepting))
        draw()
        notifier.ready(status: "ready; " + Self.statusLine(lastDevices))
        log.info("kiosk ready", metadata: ["station": "\(services.config.station.id)", "items": "\(services.catalog.items.count)"])

        let svc = services
        await services.uploader.setDeviceSource {
            await svc.deviceStatuses().map { DeviceReport(kind: $0.kind.rawValue, state: $0.state.rawValue, simulated: $0.simulated) }
        }
        await withTaskGroup(of: Void.self) { group in
            let keys = terminal.keys()
            group.addTask { [self] in
                for await k in keys { post(.key(k)) }
                sink.finish()      // input closed: the terminal is gone
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    post(.tick(Date()))
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

    var lastAccepting = true

    func refreshDevices() async {
        let accepting = services.outbox.diskStatus().accepting
        if accepting != lastAccepting {
            lastAccepting = accepting
            post(.storage(accepting: accepting))
            if !accepting { services.logger.error("disk below storage.minFreeMegabytes: new submissions paused") }
            else { services.logger.notice("disk above storage.minFreeMegabytes again: taking submissions") }
        }
        let d = await services.deviceStatuses()
        if d != lastDevices {
            lastDevices = d
            post(.devices(d))
            notifier.status(Self.statusLine(d))
        }
    }

    func consume() async {
        for await e in events {
            if Task.isCancelled { break }
            if case .tick = e { petWatchdog() }
            if let (catalog, settings) = pendingReload, machine.reload(catalog: catalog, settings: settings) {
                pendingReload = nil
            }
            let effects = machine.handle(e)
            for effect in effects { await perform(effect) }
            draw()
        }
    }

    /// WATCHDOG=1 from the main loop itself: a hung loop stops petting and systemd restarts us.
    func petWatchdog() {
        guard let interval = notifier.watchdogInterval else { return }
        if ContinuousClock.now - lastWatchdog >= interval {
            notifier.watchdog()
            lastWatchdog = .now
        }
    }

    static func statusLine(_ d: [DeviceStatus]) -> String {
        d.map { "\($0.kind.rawValue)=\($0.state.rawValue)" }.joined(separator: " ")
    }

    func draw() {
        let size = terminal.size()
        if size.width != renderer.width || size.height != renderer.height {
            renderer.resize(width: size.width, height: size.height)
        }
        terminal.write(renderer.render(machine.frame(width: renderer.width, height: renderer.height)))
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
            terminal.wipe()
            renderer.invalidate()
        case .placeSimulatedCard(let i):
            if let sim = s.simulatedReader, i < SyntheticCards.all.count { sim.place(SyntheticCards.all[i].card) }
        case .capturePhoto:
            Task {
                guard let camera = s.camera else { post(.photoFailed("高拍仪未连接")); return }
                do { post(.photoCaptured(try await camera.capture())) }
                catch let e as DeviceError { post(.photoFailed(e.residentMessage)) }
                catch { post(.photoFailed("高拍仪暂时无法拍照")) }
            }
        case .seal(let req):
            Task {
                let sub = NewSubmission(itemCode: req.itemCode, itemName: req.itemName, applicant: req.applicant,
                                        attachments: zip(req.photoNames, req.photos).map {
                                            NewAttachment(name: $0, contentType: "image/jpeg", data: $1) })
                do {
                    let sealed = try s.outbox.seal(sub)
                    log.info("submission sealed", metadata: ["case": "\(sealed.caseNumber)", "item": "\(req.itemCode)",
                                                             "attachments": "\(req.photos.count)"])
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
            Task {
                guard let printer = s.printer else { post(.receiptFailed("回执打印机未连接")); return }
                do {
                    try await printer.print(doc)
                    try? s.outbox.markReceiptPrinted(id: id)
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
            Task {
                guard let printer = s.printer else { post(.noticeFailed("打印机未连接")); return }
                do { try await printer.print(doc); post(.noticePrinted) }
                catch let e as DeviceError { post(.noticeFailed(e.residentMessage)) }
                catch { post(.noticeFailed("打印机故障")) }
                await refreshDevices()
            }
        case .loadProgress(let idNumber):
            do { post(.progressLoaded(try s.outbox.submissions(forIDNumber: idNumber))) }
            catch { post(.progressFailed("本机记录暂时无法读取")) }
        case .recordEvaluation(let c, let level, let reason):
            do {
                try s.outbox.recordEvaluation(caseNumber: c, level: level, reason: reason)
                log.info("evaluation recorded", metadata: ["case": "\(c)", "level": "\(level)"])
            } catch {
                log.error("evaluation not recorded", metadata: ["error": "\(error)"])
            }
        }
    }
}
