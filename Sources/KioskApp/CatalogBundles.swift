import AsyncHTTPClient
import Foundation
import KioskCore
import KioskFlow
import Logging

// Signed catalog bundles in kioskd: which catalog to start with, the fetch schedule, and the swap
// at the next home screen when the current bundle changes (a fetch, `kioskctl catalog fetch` or
// `kioskctl catalog rollback`: they all change the store's state.json, which kioskd polls).

extension KioskServices {
    /// The current bundle's catalog when bundles are configured and one is installed; otherwise
    /// (or when the installed one cannot be read) the shipped default from `catalog`/`guides`.
    public static func activeCatalog(_ config: KioskConfig, store: CatalogBundleStore, logger: Logger) throws -> (
        Catalog, String?
    ) {
        if config.catalogBundle != nil {
            do {
                if var (catalog, version) = try store.currentCatalog() {
                    // A bundle without a working calendar keeps the station's own.
                    if catalog.workingCalendar == nil { catalog.workingCalendar = try config.stationWorkingCalendar() }
                    warnAboutWorkingCalendar(catalog.workingCalendar, clock: config.timeZone, logger: logger)
                    return (catalog, version)
                }
            } catch {
                logger.error(
                    "the current catalog bundle cannot be read; using the shipped catalog",
                    metadata: ["error": "\(error)"])
            }
        }
        let catalog = try Catalog.load(
            catalogFile: config.resolve(config.catalog), guidesDirectory: config.guides.map(config.resolve),
            workingCalendarFile: config.workingCalendar.map(config.resolve))
        warnAboutWorkingCalendar(catalog.workingCalendar, clock: config.timeZone, logger: logger)
        return (catalog, nil)
    }

    /// Due dates over holidays are wrong without a calendar for this year, or with a sample one.
    static func warnAboutWorkingCalendar(_ c: WorkingCalendar?, clock tz: TimeZone, logger: Logger) {
        guard let c else {
            logger.warning("no working calendar: due dates skip weekends only (see README, working calendar)")
            return
        }
        if !c.covers(Date(), timeZone: tz) {
            logger.warning(
                "the working calendar does not list this year: due dates skip weekends only until it is updated",
                metadata: ["years": "\(c.years.sorted())"])
        }
        if c.sample {
            logger.warning(
                "the working calendar is marked sample: check its dates against the published notice",
                metadata: ["source": "\(c.source ?? "-")"])
        }
    }

    /// Minutes between scheduled bundle checks (nil: bundles not configured).
    public var catalogBundleFetchMinutes: Double? {
        config.catalogBundle.map { $0.fetchMinutes ?? 60 }
    }

    /// The updater for `kioskctl catalog fetch` and the schedule (nil: bundles not configured).
    public func catalogBundleUpdater() throws -> CatalogBundleUpdater? {
        guard let key = try config.catalogBundleKey() else { return nil }
        return CatalogBundleUpdater(
            http: http, upstream: try config.upstreamConfig(), store: catalogBundles,
            publicKey: try CatalogBundle.publicKey(base64: key))
    }
}

extension KioskRuntime {
    /// Checks the upstream every `minutes`, the first time a few seconds after start (a kiosk that
    /// was off while a bundle was published catches up at once).
    func runCatalogBundleSchedule(every minutes: Double) async {
        let log = services.logger
        let updater: CatalogBundleUpdater?
        do { updater = try services.catalogBundleUpdater() } catch {
            log.error("catalog bundles: cannot start the schedule", metadata: ["error": "\(error)"])
            updater = nil
        }
        try? await Task.sleep(for: .seconds(3))
        while !Task.isCancelled {
            if let updater {
                switch await updater.check() {
                case .installed(let v):
                    log.notice(
                        "catalog bundle installed; shown from the next home screen", metadata: ["version": "\(v)"])
                case .upToDate: break
                case .refused(let why):
                    log.error("catalog bundle refused; the current catalog stays", metadata: ["reason": "\(why)"])
                case .unreachable(let why):
                    log.warning("catalog bundle not checked", metadata: ["reason": "\(why)"])
                }
                pollCatalogBundle()
                await reportCatalogBundle()
            }
            try? await Task.sleep(for: .seconds(minutes * 60))
        }
    }

    /// When the store's current bundle differs from the one shown, loads it for the next home screen.
    func pollCatalogBundle() {
        guard services.config.catalogBundle != nil else { return }
        let current = services.catalogBundles.state().current
        let pending: String?? = pendingBundle
        if case .some(let p) = pending, p == current { return }
        if pending == nil, current == runningBundle { return }
        do {
            let (catalog, version) = try KioskServices.activeCatalog(
                services.config, store: services.catalogBundles, logger: services.logger)
            pendingReload = (catalog, machine.settings)
            pendingBundle = .some(version)
            post(.tick(services.clock.now))
        } catch {
            services.logger.error(
                "catalog bundle not loaded; the current catalog stays", metadata: ["error": "\(error)"])
        }
    }

    /// The flow shows `version` now (called at the home screen swap).
    func catalogSwapped(to version: String?) async {
        if version != runningBundle {
            services.logger.notice(
                "catalog swapped at the home screen",
                metadata: ["from": "\(runningBundle ?? "default")", "to": "\(version ?? "default")"])
        }
        runningBundle = version
        await reportCatalogBundle()
    }

    /// Hands the heartbeat and the metrics the bundle in use and the last refusal.
    func reportCatalogBundle() async {
        let state = services.catalogBundles.state()
        let version =
            runningBundle
            ?? KioskMetrics.bundleVersion(catalogFile: services.config.resolve(services.config.catalog))
        await services.uploader.setVersions(software: KioskVersion.string, bundle: version)
        await services.uploader.setBundleProblem(state.lastOutcome == "refused" ? state.lastError : nil)
        metrics?.observe(bundle: state)
    }
}
