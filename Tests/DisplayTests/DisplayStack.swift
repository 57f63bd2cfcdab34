import Foundation
import KioskTestSupport
#if canImport(Glibc)
    import Glibc
#endif

// The shipped display stack run headless: the real kioskd serving its screen socket (simulated
// devices), and `kiosk-screen display` — which starts cage (wlroots' headless backend, pixman
// renderer, no input devices) with `kiosk-screen session` inside, which runs foot with the
// generated font and `kiosk-screen attach` — as an unprivileged throwaway user (cage refuses
// root). Screenshots with grim; OCR with tesseract (chi_sim).

struct DisplayError: Error, CustomStringConvertible { var description: String }

/// An unprivileged user for cage, made once with useradd; its runtime directory (0700) per stack.
enum DisplayUser {
    static let name = "kiosk-shot"

    static func ensure() throws {
        // cage starts Xwayland, which wants /tmp/.X11-unix owned by root or by the user (as
        // systemd's tmpfiles make it: root, 1777).
        var st = stat()
        if stat("/tmp/.X11-unix", &st) != 0 {
            mkdir("/tmp/.X11-unix", 0o1777)
            chmod("/tmp/.X11-unix", 0o1777)
        } else if st.st_uid != 0 {
            chown("/tmp/.X11-unix", 0, 0)
            chmod("/tmp/.X11-unix", 0o1777)
        }
        if getpwnam(name) != nil { return }
        let r = try run("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        guard r.status == 0 || getpwnam(name) != nil else {
            throw DisplayError(description: "useradd \(name) failed: \(r.out)")
        }
    }

    static var uid: uid_t { getpwnam(name)!.pointee.pw_uid }
    static var gid: gid_t { getpwnam(name)!.pointee.pw_gid }
    /// The user's primary group (the display group the station's config names).
    static var group: String { String(cString: getgrgid(gid)!.pointee.gr_name) }
}

/// A screenshot as pixels (grim writes binary PPM, P6).
struct Picture {
    let width: Int
    let height: Int
    let rgb: [UInt8]

    init(ppm path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw DisplayError(description: "no screenshot at \(path)")
        }
        let b = [UInt8](d)
        // P6 <w> <h> <max>\n then pixels; header fields separated by whitespace.
        var fields: [String] = []
        var i = 0
        var cur = ""
        while fields.count < 4 && i < b.count {
            let c = b[i]
            if c == 0x23 {  // comment
                while i < b.count && b[i] != 0x0A { i += 1 }
            } else if c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D {
                if !cur.isEmpty {
                    fields.append(cur)
                    cur = ""
                }
            } else {
                cur.append(Character(Unicode.Scalar(c)))
            }
            i += 1
        }
        guard fields.count == 4, fields[0] == "P6", let w = Int(fields[1]), let h = Int(fields[2]) else {
            throw DisplayError(description: "\(path) is not a binary PPM: \(fields)")
        }
        width = w
        height = h
        rgb = Array(b[i..<min(b.count, i + w * h * 3)])
    }

    func brightness(x: Int, y: Int) -> Int {
        let o = (y * width + x) * 3
        return (Int(rgb[o]) + Int(rgb[o + 1]) + Int(rgb[o + 2])) / 3
    }

    /// Share of bright pixels (> 128) in a pixel row.
    func brightShare(row y: Int) -> Double {
        var n = 0
        for x in 0..<width where brightness(x: x, y: y) > 128 { n += 1 }
        return Double(n) / Double(width)
    }

    /// The height of the inverse (bright) bar the screen starts with: the station row is drawn in
    /// inverse video, so the bar is exactly one terminal row tall.
    func topBarHeight() -> Int {
        var y = 0
        while y < height && brightShare(row: y) > 0.5 { y += 1 }
        return y
    }

    /// Bright pixels anywhere (a blank screen has none).
    func brightPixels() -> Int {
        var n = 0
        var o = 0
        while o + 2 < rgb.count {
            if Int(rgb[o]) + Int(rgb[o + 1]) + Int(rgb[o + 2]) > 384 { n += 1 }
            o += 3
        }
        return n
    }

    /// The same picture inverted and written as PPM (tesseract reads dark text on light best).
    func writeInverted(to path: String) throws {
        var out = Array("P6\n\(width) \(height)\n255\n".utf8)
        out += rgb.map { 255 - $0 }
        guard FileManager.default.createFile(atPath: path, contents: Data(out)) else {
            throw DisplayError(description: "cannot write \(path)")
        }
    }
}

/// One line tesseract found: its text without spaces and its box in pixels.
struct OCRLine {
    var text: String
    var left: Int
    var top: Int
    var width: Int
    var height: Int
    /// Heights of the CJK glyph boxes on the line (tesseract's word boxes of one ideograph).
    var glyphHeights: [Int]
}

enum OCR {
    /// tesseract with chi_sim (and eng for the digits and letters), page segmentation "a single
    /// uniform block of text" (a terminal screen is one), TSV output grouped into lines.
    static func lines(_ image: String) throws -> [OCRLine] {
        let r = try run("/usr/bin/tesseract", [image, "stdout", "-l", "chi_sim+eng", "--psm", "6", "tsv"])
        guard r.status == 0 else { throw DisplayError(description: "tesseract failed: \(r.out)") }
        var lines: [String: OCRLine] = [:]
        var order: [String] = []
        for row in r.out.split(separator: "\n").dropFirst() {
            let f = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 12, let level = Int(f[0]), let l = Int(f[6]), let t = Int(f[7]), let w = Int(f[8]),
                let h = Int(f[9])
            else { continue }
            let key = "\(f[2]).\(f[3]).\(f[4])"
            if level == 4 {
                lines[key] = OCRLine(text: "", left: l, top: t, width: w, height: h, glyphHeights: [])
                order.append(key)
            } else if level == 5 {
                let word = f[11].filter { !$0.isWhitespace }
                lines[key]?.text += word
                if word.count == 1, let u = word.unicodeScalars.first, (0x4E00...0x9FFF).contains(u.value) {
                    lines[key]?.glyphHeights.append(h)
                }
            }
        }
        return order.compactMap { lines[$0] }
    }
}

final class DisplayStack {
    let station: Station
    let runtimeDir: String
    var kioskd: BackgroundProcess?
    var display: BackgroundProcess?
    let socket: String

    /// The panel the headless output stands for (wlroots' headless output is 1280×720). Turned
    /// 180° (`cage -r -r`; grim writes the picture upright, taps are in the same upright
    /// coordinates): cage 0.1.4 tries direct scan-out of foot's buffer on an untransformed output,
    /// and on the headless backend every output commit after that fails ("Basic output test
    /// failed"), so nothing after foot's first frame would ever be drawn. A transformed output is
    /// composited, as on a real panel.
    static let panel = (width: 1280, height: 720)

    init(name: String) throws {
        try DisplayUser.ensure()
        let dir = NSTemporaryDirectory() + "kiosk-display-\(name)-\(UUID().uuidString.prefix(6))"
        socket = dir + "/screen.sock"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        station = try Station(
            name: "display-\(name)",
            extraYAML: """
                screen:
                  socket: \(socket)
                  displayGroup: \(DisplayUser.group)
                  panelWidth: \(Self.panel.width)
                  panelHeight: \(Self.panel.height)
                  rotation: 180
                  columns: 80
                  rows: 24
                """)
        // The display user reads the config (kiosk-screen reads only its screen: section).
        chmod(station.dir, 0o755)
        chmod(station.config, 0o644)
        runtimeDir = dir + "/xdg"
        try FileManager.default.createDirectory(atPath: runtimeDir, withIntermediateDirectories: true)
        chown(runtimeDir, DisplayUser.uid, DisplayUser.gid)
        chmod(runtimeDir, 0o700)
    }

    func startKioskd() throws {
        // No terminal (stdin is /dev/null): kioskd serves its screen on the socket only.
        kioskd = try BackgroundProcess(
            binary("kioskd"), ["--config", station.config], env: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"],
            log: station.dir + "/kioskd.out")
        try waitUntil(30, "kioskd to serve its screen socket") { FileManager.default.fileExists(atPath: socket) }
    }

    func stopKioskd() {
        kioskd?.stop()
        kioskd = nil
    }

    var userEnvironment: [String] {
        [
            "XDG_RUNTIME_DIR=\(runtimeDir)", "WLR_BACKENDS=headless", "WLR_RENDERER=pixman",
            "WLR_LIBINPUT_NO_DEVICES=1", "LANG=C.UTF-8", "XDG_CACHE_HOME=\(runtimeDir)/cache",
        ]
    }

    /// `kiosk-screen display` as the display user: cage, foot, kiosk-screen attach.
    func startDisplay() throws {
        display = try BackgroundProcess(
            "/usr/sbin/runuser",
            ["-u", DisplayUser.name, "--", "/usr/bin/env"] + userEnvironment + [
                binary("kiosk-screen"), "display", "--config", station.config,
            ], log: station.dir + "/display.out")
        try waitUntil(30, "cage's Wayland socket") { FileManager.default.fileExists(atPath: runtimeDir + "/wayland-0") }
    }

    func stopDisplay() {
        display?.stop()
        display = nil
    }

    func stop() {
        stopDisplay()
        stopKioskd()
        station.intake.stop()
    }

    var displayLog: String {
        String(decoding: FileManager.default.contents(atPath: station.dir + "/display.out") ?? Data(), as: UTF8.self)
    }

    /// grim as the display user; PPM (for measuring and OCR) or PNG (for the docs).
    @discardableResult
    func screenshot(_ path: String, png: Bool = false) throws -> String {
        let tmp = runtimeDir + "/shot-\(UUID().uuidString.prefix(6)).\(png ? "png" : "ppm")"
        let r = try run(
            "/usr/sbin/runuser",
            ["-u", DisplayUser.name, "--", "/usr/bin/env"] + userEnvironment + [
                "WAYLAND_DISPLAY=wayland-0", "/usr/bin/grim", "-t", png ? "png" : "ppm", tmp,
            ])
        guard r.status == 0 else { throw DisplayError(description: "grim failed: \(r.out)\n\(displayLog)") }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
        return path
    }

    /// Screenshots until OCR finds every one of `texts` (or fails after `seconds`).
    func waitForText(_ texts: [String], seconds: Double = 30, name: String) throws -> (Picture, [OCRLine], String) {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [OCRLine] = []
        let path = station.dir + "/\(name).ppm"
        while true {
            try screenshot(path)
            let pic = try Picture(ppm: path)
            if pic.brightPixels() > 0 {
                let inv = station.dir + "/\(name)-inverted.ppm"
                try pic.writeInverted(to: inv)
                last = try OCR.lines(inv)
                let all = last.map(\.text).joined(separator: "\n")
                if texts.allSatisfy({ all.contains($0) }) { return (pic, last, path) }
            }
            if Date() > deadline {
                throw DisplayError(
                    description:
                        "OCR never found \(texts) in the screenshot \(path); it read:\n\(last.map(\.text).joined(separator: "\n"))\n--- display log:\n\(displayLog.suffix(2000))"
                )
            }
            usleep(500_000)
        }
    }

    /// The running `kiosk-screen attach` of this stack's display user, found through /proc.
    func attachPID() -> pid_t? {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for p in pids {
            guard let pid = pid_t(p), let cmd = FileManager.default.contents(atPath: "/proc/\(p)/cmdline") else {
                continue
            }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if args.count >= 4, args[0].hasSuffix("kiosk-screen"), args[1] == "attach", args.last == socket {
                return pid
            }
        }
        return nil
    }

    /// The pseudo-terminal `kiosk-screen attach` reads (foot's): found through /proc.
    func attachTTY() -> String? {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for p in pids where Int(p) != nil {
            guard let cmd = FileManager.default.contents(atPath: "/proc/\(p)/cmdline") else { continue }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            // This stack's attach only (its own socket): another run's leftover must not get our keys.
            guard args.count >= 2, args[0].hasSuffix("kiosk-screen"), args[1] == "attach", args.contains(socket)
            else { continue }
            if let tty = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p)/fd/0"),
                tty.hasPrefix("/dev/pts/")
            {
                return tty
            }
        }
        return nil
    }

    /// A tap at a pixel, as foot reports it: foot turns a pointer button press into the cell under
    /// it (column = x / cell width + 1, row = y / cell height + 1) and writes an SGR 1006 report
    /// (press, release) to the program's terminal. The same bytes go into that terminal's input
    /// (TIOCSTI, root), so kiosk-screen, the socket and kioskd handle them as a real tap.
    func tap(x: Int, y: Int, cellWidth: Int, cellHeight: Int) throws {
        guard let tty = attachTTY() else { throw DisplayError(description: "kiosk-screen attach is not running") }
        let col = x / cellWidth + 1
        let row = y / cellHeight + 1
        let fd = open(tty, O_RDWR | O_NOCTTY)
        guard fd >= 0 else {
            throw DisplayError(description: "cannot open \(tty): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        for byte in Array("\u{1B}[<0;\(col);\(row)M\u{1B}[<0;\(col);\(row)m".utf8) {
            var b = CChar(bitPattern: byte)
            guard ioctl(fd, UInt(TIOCSTI), &b) == 0 else {
                throw DisplayError(description: "TIOCSTI on \(tty) failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}
