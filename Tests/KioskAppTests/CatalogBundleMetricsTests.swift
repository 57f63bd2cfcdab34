import Foundation
import KioskCore
import Testing
@testable import KioskApp

@Suite struct CatalogBundleMetricsTests {
    /// Refused bundles reach /metrics: a counter from the store's running total and a gauge for
    /// "the last check refused one".
    @Test func refusedBundlesAreCountedInTheMetrics() throws {
        let metrics = KioskMetrics.shared
        var state = CatalogBundleState()
        state.current = "v1"
        metrics.observe(bundle: state)
        state.refusedTotal = 2
        state.lastOutcome = "refused"
        state.lastError = "the bundle's signature does not match"
        metrics.observe(bundle: state)
        let text = metrics.registry.emitToString()
        #expect(text.contains("kiosk_catalog_bundles_refused_total 2"), "\(text)")
        #expect(text.contains("kiosk_catalog_bundle_last_refused 1"))
        state.lastOutcome = "installed"
        metrics.observe(bundle: state)
        #expect(metrics.registry.emitToString().contains("kiosk_catalog_bundle_last_refused 0"))
    }
}
