import Foundation

/// The package's root folder (the shipped config, catalog and device profiles are read from it).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
