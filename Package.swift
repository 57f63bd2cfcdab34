// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "KioskTerminal",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kioskd", targets: ["kioskd"]),
        .executable(name: "kioskctl", targets: ["kioskctl"]),
        .executable(name: "kiosk-intake", targets: ["kiosk-intake"]),
        .executable(name: "kiosk-bench", targets: ["kiosk-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // Pure codecs: bytes in, values out. No I/O, no clocks.
        .target(name: "KioskProtocols"),
        // Transports, device actors, simulators.
        .target(name: "KioskDevices", dependencies: [
            "KioskProtocols",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Domain values, catalog, outbox, uploader.
        .target(name: "KioskCore", dependencies: [
            "KioskProtocols",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Screens, state machine, terminal renderer.
        .target(name: "KioskFlow", dependencies: ["KioskCore", "KioskDevices", "KioskProtocols"]),
        // Config and wiring shared by the executables.
        .target(name: "KioskApp", dependencies: [
            "KioskCore", "KioskDevices", "KioskFlow", "KioskProtocols",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The reference upstream, as a library so tests run it in-process.
        .target(name: "IntakeServer", dependencies: [
            "KioskProtocols",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "kioskd", dependencies: [
            "KioskApp",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "kioskctl", dependencies: [
            "KioskApp",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "kiosk-intake", dependencies: [
            "IntakeServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fault-injecting loopback proxy shared by the tests and the benchmark.
        .target(name: "KioskTestSupport"),
        // Benchmarks (make bench): measures, never fails for speed.
        .executableTarget(name: "kiosk-bench", dependencies: [
            "KioskCore", "KioskFlow", "KioskApp", "KioskProtocols", "KioskTestSupport", "IntakeServer",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "KioskProtocolsTests", dependencies: ["KioskProtocols"]),
        .testTarget(name: "KioskDevicesTests", dependencies: ["KioskDevices"]),
        .testTarget(name: "KioskCoreTests", dependencies: [
            "KioskCore", "IntakeServer", "KioskTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "KioskFlowTests", dependencies: ["KioskFlow", "KioskApp"]),
        .testTarget(name: "IntakeServerTests", dependencies: [
            "IntakeServer",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "EndToEndTests", dependencies: ["KioskProtocols"]),
    ]
)
