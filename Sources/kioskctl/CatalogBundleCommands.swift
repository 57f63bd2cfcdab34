// kioskctl catalog status | verify FILE | fetch | rollback: the signed catalog bundles.
// kioskd applies a change of the current bundle (fetch, rollback) at its next home screen.

import ArgumentParser
import Foundation
import KioskApp
import KioskCore

struct CatalogStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The bundle in use, the previous one, and the last check.")
    @OptionGroup var options: ConfigOption
    @Flag(name: .long, help: "JSON.") var json = false

    func run() throws {
        let cfg = try options.load()
        let state = CatalogBundleStore(directory: cfg.catalogBundleDirectory).state()
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(state), as: UTF8.self))
            return
        }
        print("bundles:   \(cfg.catalogBundle == nil ? "not configured (catalogBundle in kiosk.yaml)" : "configured")")
        print("current:   \(state.current ?? "shipped default (\(cfg.resolve(cfg.catalog)))")")
        print("previous:  \(state.previous ?? (state.current == nil ? "-" : "shipped default"))")
        print("last check: \(state.lastCheckAt ?? "never") \(state.lastOutcome ?? "")")
        if let e = state.lastError { print("last error: \(e)") }
        print("refused:   \(state.refusedTotal)")
    }
}

struct CatalogVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a bundle file against the configured key and the catalog check, without installing it.")
    @OptionGroup var options: ConfigOption
    @Argument(help: "The bundle file.") var file: String
    @Option(name: .long, help: "Public key (base64) instead of the config's catalogBundle key.")
    var publicKey: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        let key: String
        if let publicKey {
            key = publicKey
        } else {
            guard let k = try options.load().catalogBundleKey() else {
                throw ValidationError("no catalogBundle.publicKey in the config; pass --public-key")
            }
            key = k
        }
        do {
            let (bundle, catalog) = try CatalogBundleStore.verify(
                data, publicKey: try CatalogBundle.publicKey(base64: key))
            print(
                "OK: bundle \(bundle.version) published \(bundle.publishedAt): \(catalog.items.count) items, \(catalog.guides.count) guides, signature and catalog check pass"
            )
        } catch {
            FileHandle.standardError.write(Data("kioskctl: bundle refused: \(error)\n".utf8))
            throw ExitCode(65)
        }
    }
}

struct CatalogFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract:
            "Fetch the upstream's bundle now; verified bundles become current (kioskd shows them from its next home screen)."
    )
    @OptionGroup var options: ConfigOption

    func run() async throws {
        let cfg = try options.load()
        guard let key = try cfg.catalogBundleKey() else {
            throw ValidationError("catalogBundle is not configured in \(options.config)")
        }
        let http = try cfg.upstreamTLS.makeHTTPClient()
        let updater = CatalogBundleUpdater(
            http: http, upstream: try cfg.upstreamConfig(),
            store: CatalogBundleStore(directory: cfg.catalogBundleDirectory),
            publicKey: try CatalogBundle.publicKey(base64: key))
        let outcome = await updater.check()
        try? await http.shutdown()
        switch outcome {
        case .installed(let v): print("installed bundle \(v); kioskd shows it from the next home screen")
        case .upToDate(let v): print("up to date (\(v ?? "shipped default"))")
        case .refused(let why):
            FileHandle.standardError.write(Data("kioskctl: bundle refused, the current one stays: \(why)\n".utf8))
            throw ExitCode(65)
        case .unreachable(let why):
            FileHandle.standardError.write(Data("kioskctl: \(why)\n".utf8))
            throw ExitCode(69)
        }
    }
}

struct CatalogRollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Make the previous bundle current again (kioskd shows it from its next home screen).")
    @OptionGroup var options: ConfigOption

    func run() throws {
        let cfg = try options.load()
        do {
            let now = try CatalogBundleStore(directory: cfg.catalogBundleDirectory).rollback()
            print("rolled back to \(now ?? "the shipped default catalog"); kioskd shows it from the next home screen")
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
