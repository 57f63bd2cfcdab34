// kiosk-intake bundle keygen --out KEY          a new Ed25519 signing key (prints the public key)
// kiosk-intake bundle publish DIR --key KEY --data DATA [--version V]
//                                                signs DIR's catalog.json + guides/ and serves it
// kiosk-intake bundle show --data DATA           the latest published version

import ArgumentParser
import Foundation
import IntakeServer

struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Catalog bundles for the kiosks: signing key, publishing, the latest version.",
        subcommands: [BundleKeygen.self, BundlePublish.self, BundleShow.self])
}

struct BundleKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract:
            "Write a new Ed25519 signing key (base64, mode 0600) and print its public key for the kiosks' catalogBundle.publicKey."
    )

    @Option(help: "File for the private key (must not exist).")
    var out: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: out) else {
            throw fail("\(out) exists; choose another file (a published key is never overwritten)")
        }
        let pair = IntakeBundles.makeKeyPair()
        guard
            FileManager.default.createFile(
                atPath: out, contents: Data((pair.privateKey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw fail("cannot write \(out)") }
        emit("public key: \(pair.publicKey)")
    }
}

struct BundlePublish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Check, sign and publish a catalog bundle from DIR (catalog.json and guides/*.json).")

    @Argument(help: "Folder with catalog.json and guides/.")
    var directory: String

    @Option(help: "The Ed25519 private key file (kiosk-intake bundle keygen).")
    var key: String

    @Option(help: "The intake's data directory (the one `serve --data` uses).")
    var data: String

    @Option(help: "Version name (default: UTC time and content digest).")
    var version: String?

    func run() async throws {
        do {
            let v = try IntakeBundles.publish(source: directory, keyFile: key, dataDirectory: data, version: version)
            emit("published catalog bundle \(v)")
        } catch {
            throw fail("bundle not published: \(error)")
        }
    }
}

struct BundleShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the latest published bundle's version and size.")

    @Option(help: "The intake's data directory.")
    var data: String

    func run() async throws {
        guard let latest = IntakeBundles.latest(dataDirectory: data) else {
            throw fail("no catalog bundle published under \(data)")
        }
        emit("\(latest.version) \(latest.data.count) bytes")
    }
}
