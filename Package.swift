// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "KioskTerminal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kioskd", targets: ["kioskd"]),
        .executable(name: "kioskctl", targets: ["kioskctl"]),
        .executable(name: "kiosk-intake", targets: ["kiosk-intake"]),
        .executable(name: "kiosk-bench", targets: ["kiosk-bench"]),
        .executable(name: "kiosk-screen", targets: ["kiosk-screen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Pure codecs: bytes in, values out. No I/O, no clocks.
        .target(name: "KioskProtocols"),
        // libusb-1.0 (Debian libusb-1.0-0-dev).
        .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0", providers: [.apt(["libusb-1.0-0-dev"])]),
        // libjpeg-turbo's TurboJPEG (Debian libturbojpeg0-dev) and V4L2 kernel headers.
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CV4L2"),
        // libcups 2.4 for A4 printing, not linked: CCups opens libcups.so.2 (Debian libcups2) with dlopen the
        // first time a CUPS-mode A4 printer is used, so kiosks without one never map it nor its libraries
        // (GnuTLS, Kerberos, Avahi, D-Bus…). The types and constants come from libcups2-dev's headers
        // (scripts/deps.sh); dlopen is in glibc's libc since 2.34 (Debian 12: 2.36), so no -ldl.
        .target(name: "CCups"),
        // Transports, device actors, simulators.
        .target(
            name: "KioskDevices",
            dependencies: [
                "KioskProtocols", "CLibUSB", "CTurboJPEG", "CV4L2", "CCups",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Domain values, catalog, outbox, uploader.
        .target(
            name: "KioskCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                "KioskProtocols",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Screens, state machine, frames and taps. Pure: no devices, no terminal I/O.
        .target(name: "KioskFlow", dependencies: ["KioskCore", "KioskProtocols"]),
        // The terminal the kiosk owns: termios raw mode, alternate screen, restore on every exit path.
        .target(name: "KioskTerminal", dependencies: ["KioskProtocols"]),
        // Config and wiring shared by the executables.
        .target(
            name: "KioskApp",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "KioskCore", "KioskDevices", "KioskFlow", "KioskProtocols", "KioskTerminal",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        // The reference upstream, as a library so tests run it in-process.
        .target(
            name: "IntakeServer",
            dependencies: [
                "KioskProtocols", "KioskCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "kioskd",
            dependencies: [
                "KioskApp", "KioskCore", "KioskFlow", "KioskTerminal",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Release kioskd (the .deb's, --static-swift-stdlib): the toolchain's static link exports every
            // symbol of the program (-export-dynamic), 52,000 of them, which the dynamic loader then hashes
            // through for every libc symbol; and lld packs the 145,000 relative relocations of a PIE
            // (DT_RELR, glibc 2.36) instead of 3.4 MB of RELA records read at every start.
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker",
                        "pack-relative-relocs",
                        // The code kioskd runs to its home screen and while idle, first and together
                        // (scripts/kioskd-order.sh writes the linker script, input section by input section,
                        // unnamed compiler stubs included): the kernel maps a program's pages 64 KiB around
                        // each one touched, so start-up code spread over 32 MB of text was all resident.
                        "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/packaging/kioskd-text.ld",
                    ],
                    .when(configuration: .release))
            ]),
        // The display client run inside the terminal on the kiosk's monitor (foot under cage): attaches
        // to kioskd's screen socket, draws, relays keys and taps; sizes the font for the panel.
        .executableTarget(
            name: "kiosk-screen",
            dependencies: [
                "KioskTerminal", "KioskProtocols",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "kioskctl",
            dependencies: [
                "KioskApp", "KioskCore", "KioskDevices", "KioskProtocols", "KioskTerminal",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "kiosk-intake",
            dependencies: [
                "IntakeServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test support, shared by the test targets and the benchmark: running programs (posix_spawn),
        // ports, waiting on conditions, the fault-injecting loopback proxy, the end-to-end harness
        // (tmux, intake, station config).
        .target(name: "KioskTestSupport"),
        // Benchmarks (make bench): measures, never fails for speed.
        .executableTarget(
            name: "kiosk-bench",
            dependencies: [
                "KioskCore", "KioskFlow", "KioskApp", "KioskProtocols", "KioskDevices", "KioskTestSupport",
                "IntakeServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "KioskProtocolsTests", dependencies: ["KioskProtocols"]),
        .testTarget(
            name: "KioskDevicesTests",
            dependencies: [
                "KioskProtocols", .product(name: "Logging", package: "swift-log"), "KioskDevices", "KioskTestSupport",
            ]),
        .testTarget(
            name: "KioskCoreTests",
            dependencies: [
                "KioskProtocols", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                "KioskCore", "IntakeServer", "KioskTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .testTarget(name: "KioskFlowTests", dependencies: ["KioskFlow", "KioskCore", "KioskProtocols", "KioskApp"]),
        .testTarget(
            name: "KioskAppTests",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), "KioskApp", "KioskDevices", "KioskProtocols",
                "KioskCore", "KioskTerminal", "KioskTestSupport", "KioskFlow",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "IntakeServerTests",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                "IntakeServer", "KioskTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The intake on PostgreSQL (throwaway server) and SQLite: the store contract on both engines,
        // the fleet view, and two intake nodes behind nginx under faults and kills (own phase in run-tests.sh).
        .testTarget(
            name: "IntakeClusterTests",
            dependencies: [
                "IntakeServer", "KioskCore", "KioskTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "EndToEndTests", dependencies: ["KioskProtocols", "KioskCore", "KioskDevices", "KioskTestSupport"]),
        // The .deb (built from the debug binaries), its units under systemd-analyze, udev rules.
        .testTarget(name: "PackagingTests", dependencies: ["KioskApp", "KioskDevices", "KioskTestSupport"]),
        // The resident screen through the shipped display stack (own phase in run-tests.sh, as root):
        // kioskd + cage headless + foot + kiosk-screen, grim screenshots, tesseract OCR, taps.
        .testTarget(name: "DisplayTests", dependencies: ["KioskProtocols", "KioskTestSupport"]),
        // umockdev (test only): USB devices emulated in userspace for the real libusb code.
        .systemLibrary(
            name: "CUMockdev", path: "Tests/CUMockdev", pkgConfig: "umockdev-1.0",
            providers: [.apt(["libumockdev-dev"])]),
        // USB and serial transports against emulated devices. Runs under
        // LD_PRELOAD=libumockdev-preload.so.0 (scripts/run-tests.sh does this).
        .testTarget(
            name: "KioskUSBTests",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), "KioskDevices", "KioskProtocols", "CUMockdev",
                "CLibUSB", "KioskTestSupport",
            ]),
    ]
)
