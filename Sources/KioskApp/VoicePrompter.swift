import Foundation
import KioskFlow
import Logging
import Synchronization

/// Voice prompts through espeak-ng (Mandarin voice `cmn`, English `en`). Each prompt starts a
/// separate espeak-ng process and returns at once, so the screen never waits for speech; a new
/// prompt stops the one still speaking. With `outputDirectory`, each prompt is written as a WAV
/// file instead of played (tests, and a way to listen to every prompt). Prompts carry no
/// personal data: screen titles and messages (masked names and numbers are never spoken).
public final class VoicePrompter: Sendable {
    let command: String?
    let zhVoice: String
    let enVoice: String
    let rate: Int
    let volume: Int
    let outputDirectory: String?
    let logger: Logger
    /// The prompt speaking now, how many were queued, whether a start failure was logged.
    private struct Speaker {
        var current: Process?
        var counter = 0
        var warned = false
    }
    private let speaker = Mutex(Speaker())

    public init(_ c: KioskConfig.Voice, resolve: (String) -> String, logger: Logger) {
        zhVoice = c.voice ?? "cmn"
        enVoice = c.englishVoice ?? "en"
        rate = c.rate ?? 140
        volume = c.volume ?? 100
        outputDirectory = c.outputDirectory.map(resolve)
        self.logger = logger
        command = c.command ?? Self.find("espeak-ng")
        if let d = outputDirectory {
            try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        if command == nil {
            logger.warning(
                "voice prompts enabled but espeak-ng was not found: install espeak-ng (scripts/deps.sh does)")
        }
    }

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Prompts start in order on this queue, so the caller (the main loop) never waits for a fork.
    private let queue = DispatchQueue(label: "kioskd.voice")

    /// Queues `text` to be spoken and returns at once. Returns the WAV path when writing files.
    @discardableResult
    public func speak(_ text: String, language: Language) -> String? {
        guard let command else { return nil }
        let clean = text.replacingOccurrences(of: "【提示】", with: "")
        guard !clean.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        let n: Int = speaker.withLock { sp in
            sp.counter += 1
            return sp.counter
        }
        var args = ["-v", language == .zh ? zhVoice : enVoice, "-s", String(rate), "-a", String(volume)]
        var file: String?
        if let d = outputDirectory {
            file = d + String(format: "/prompt-%05d.wav", n)
            args += ["-w", file!]
        }
        args += ["--", clean]
        let argv = args
        queue.async { [self] in start(command, argv) }
        return file
    }

    private func start(_ command: String, _ args: [String]) {
        let outputDirectory = outputDirectory
        let logger = logger
        speaker.withLock { sp in
            if let p = sp.current, p.isRunning, outputDirectory == nil { p.terminate() }  // one voice at a time
            let p = Process()
            p.executableURL = URL(fileURLWithPath: command)
            p.arguments = args
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            do {
                try p.run()
                sp.current = p
            } catch {
                if !sp.warned {
                    logger.warning("espeak-ng could not be started", metadata: ["error": "\(error)"])
                    sp.warned = true
                }
            }
        }
    }

    /// Waits until the queued prompts have started and the last one has finished (tests).
    public func wait() {
        queue.sync {}
        speaker.withLock { $0.current?.waitUntilExit() }
    }
}
