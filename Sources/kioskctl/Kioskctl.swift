import ArgumentParser
import Foundation
import KioskApp
import KioskCore

@main
struct Kioskctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kioskctl",
        abstract: "Tools for technicians and township staff. Never prints personal data.",
        subcommands: [
            CatalogCommand.self, OutboxCommand.self, KeygenCommand.self, IDCardCommand.self, DevicesCommand.self,
            CameraCommand.self,
            StatusCommand.self, SelftestCommand.self, LogsCommand.self, BundleCommand.self, SimulateCommand.self,
            TechnicianPINCommand.self,
            ReceiptCommand.self, EscposCommand.self, PrintCommand.self, PackagingCommand.self, CommissionCommand.self,
            StaffCommand.self, LedgerCommand.self, AuditCommand.self, ServiceCommand.self, ScreenCommand.self,
        ])
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Path of kiosk.yaml.")
    var config: String = "/etc/kioskd/kiosk.yaml"

    func load() throws -> KioskConfig {
        var path = config
        // Beside a source tree after `make demo`, the demo's config is the natural default.
        let demo = FileManager.default.currentDirectoryPath + "/.demo/kiosk.yaml"
        if !FileManager.default.fileExists(atPath: path), FileManager.default.fileExists(atPath: demo) { path = demo }
        do { return try KioskConfig.load(path: path) } catch {
            throw ValidationError("\(error)")
        }
    }
}

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "The service catalog and its signed bundles: list (default), status, verify, fetch, rollback.",
        subcommands: [
            CatalogList.self, CatalogStatus.self, CatalogVerify.self, CatalogFetch.self, CatalogRollback.self,
        ],
        defaultSubcommand: CatalogList.self)
}

struct CatalogList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print the service catalog (the shipped default, or --file).")
    @OptionGroup var options: ConfigOption
    @Flag(name: .long, help: "JSON array of items (code, name, type, level, handling, category, hasGuide).")
    var json = false
    @Option(name: .long, help: "Catalog file to read instead of the one in the config.")
    var file: String?

    func run() throws {
        let catalog: Catalog
        if let file {
            catalog = try Catalog.load(catalogFile: file, guidesDirectory: CatalogCommand.guides(besides: file))
        } else if FileManager.default.fileExists(atPath: options.config) {
            let cfg = try options.load()
            catalog = try Catalog.load(
                catalogFile: cfg.resolve(cfg.catalog), guidesDirectory: cfg.guides.map(cfg.resolve))
        } else if let found = CatalogCommand.shippedCatalog() {
            catalog = try Catalog.load(catalogFile: found, guidesDirectory: CatalogCommand.guides(besides: found))
        } else {
            throw ValidationError(
                "no config at \(options.config) and no shipped catalog found; pass --config or --file")
        }
        if json {
            struct Row: Encodable {
                var code, name, type, level, handling, category: String
                var hasGuide: Bool
                var sampleGuide: Bool
            }
            let rows = catalog.items.map {
                Row(
                    code: $0.code, name: $0.name, type: $0.type, level: $0.level.rawValue, handling: $0.handling,
                    category: $0.category, hasGuide: catalog.guide(for: $0.code) != nil,
                    sampleGuide: catalog.guide(for: $0.code)?.sample ?? false)
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(rows), as: UTF8.self))
        } else {
            for level in ItemLevel.allCases {
                print("\(level.displayName) (\(catalog.items(level: level).count))")
                for item in catalog.items(level: level) {
                    let g = catalog.guide(for: item.code).map { $0.sample ? " [示例指南]" : " [指南]" } ?? ""
                    print("  \(item.code)  \(item.name)  \(item.type)  \(item.handling)\(g)")
                }
            }
        }
    }
}

extension CatalogCommand {
    static func guides(besides file: String) -> String {
        ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("guides")
    }

    /// The catalog shipped with the software: in the working directory, beside a build in the
    /// source tree, or where the package installs it.
    static func shippedCatalog() -> String? {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            FileManager.default.currentDirectoryPath + "/kiosk-config/catalog.json",
            exe.appendingPathComponent("../../../kiosk-config/catalog.json").standardizedFileURL.path,
            exe.appendingPathComponent("../../kiosk-config/catalog.json").standardizedFileURL.path,
            "/usr/share/kioskd/kiosk-config/catalog.json",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Create a new outbox encryption key file (mode 0600).")
    @Argument(help: "Where to write the key (outside the state directory).") var path: String
    func run() throws {
        do { try AtRestCipher.generateKeyFile(path: path) } catch { throw ValidationError("\(error)") }
        print("wrote a new 256-bit key to \(path)")
    }
}
