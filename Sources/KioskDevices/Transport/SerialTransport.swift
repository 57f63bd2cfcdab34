import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Serial line settings. Readers behind CH340/CP210x/PL2303 bridges speak 115200 8N1 without
/// flow control (devices.md §1.1).
public struct SerialSettings: Sendable, Equatable {
    public var baud: Int
    public init(baud: Int = 115_200) { self.baud = baud }

    static func speed(_ baud: Int) -> speed_t? {
        switch baud {
        case 9600: return speed_t(B9600)
        case 19200: return speed_t(B19200)
        case 38400: return speed_t(B38400)
        case 57600: return speed_t(B57600)
        case 115_200: return speed_t(B115200)
        case 230_400: return speed_t(B230400)
        default: return nil
        }
    }
}

/// A ByteTransport over a tty (USB-serial bridge or a real UART) configured raw through termios.
/// Reads wait with poll(2) up to the timeout; nothing busy-waits.
public final class SerialTransport: ByteTransport, Sendable {
    /// The open descriptor, -1 once closed.
    private let fd: Mutex<Int32>
    public let path: String
    public let description: String
    private let queue: DispatchQueue

    public init(path: String, settings: SerialSettings = SerialSettings()) throws {
        guard let speed = SerialSettings.speed(settings.baud) else {
            throw TransportError(
                "serial baud \(settings.baud) is not supported; use 9600, 19200, 38400, 57600, 115200 or 230400")
        }
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | Int32(O_CLOEXEC))
        guard fd >= 0 else {
            let e = errno
            let advice =
                DeviceAccess.advice(errno: e, path: path)
                ?? (e == ENOENT
                    ? "no such device: is the reader plugged in? check devices.idCardReader.path"
                    : "check the device path and that no other program has it open")
            throw TransportError(
                "cannot open \(path): \(String(cString: strerror(e))) — \(advice)",
                disconnected: e == ENOENT || e == ENXIO || e == ENODEV)
        }
        var tio = termios()
        guard tcgetattr(fd, &tio) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw TransportError(
                "\(path) is not a serial port (tcgetattr: \(String(cString: strerror(e)))); check devices.idCardReader.path"
            )
        }
        // Exclusive: no other process (ModemManager, brltty, a second kioskd) may open the port
        // while the reader uses it; an already exclusive port refuses us with EBUSY.
        if ioctl(fd, UInt(TIOCEXCL)) != 0 {
            let e = errno
            Glibc.close(fd)
            throw TransportError(
                "cannot take \(path) exclusively (TIOCEXCL: \(String(cString: strerror(e)))); another program may be using it"
            )
        }
        cfmakeraw(&tio)
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        tio.c_cflag &= ~(tcflag_t(CSTOPB) | tcflag_t(PARENB) | tcflag_t(CRTSCTS))
        tio.c_cflag = (tio.c_cflag & ~tcflag_t(CSIZE)) | tcflag_t(CS8)
        tio.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        withUnsafeMutableBytes(of: &tio.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        cfsetispeed(&tio, speed)
        cfsetospeed(&tio, speed)
        guard tcsetattr(fd, TCSANOW, &tio) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw TransportError("cannot configure \(path) for \(settings.baud) 8N1: \(String(cString: strerror(e)))")
        }
        tcflush(fd, TCIOFLUSH)
        self.fd = Mutex(fd)
        self.path = path
        self.description = "serial \(path) \(settings.baud) 8N1"
        queue = DispatchQueue(label: "serial.\(path)")
    }

    deinit {
        let f = fd.withLock { $0 }
        if f >= 0 { Glibc.close(f) }
    }

    private func currentFD() throws -> Int32 {
        let f = fd.withLock { $0 }
        guard f >= 0 else { throw TransportError("serial port \(path) closed", disconnected: true) }
        return f
    }

    static func gone(_ e: Int32) -> Bool { e == EIO || e == ENXIO || e == ENODEV || e == EBADF }

    public func write(_ bytes: [UInt8]) async throws {
        let fd = try currentFD()
        let path = self.path
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            queue.async {
                var off = 0
                let deadline = Date().addingTimeInterval(2)
                while off < bytes.count {
                    let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        off += n
                        continue
                    }
                    let e = errno
                    if n < 0 && (e == EAGAIN || e == EINTR), Date() < deadline {
                        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&p, 1, 100)
                        continue
                    }
                    c.resume(
                        throwing: TransportError(
                            "write to \(path) failed: \(String(cString: strerror(e)))", disconnected: Self.gone(e)))
                    return
                }
                c.resume()
            }
        }
    }

    public func read(maxBytes: Int, timeout: Duration) async throws -> [UInt8] {
        let fd = try currentFD()
        let path = self.path
        let ms = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await withCheckedThrowingContinuation { c in
            queue.async {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, max(0, ms))
                if r < 0 {
                    let e = errno
                    if e == EINTR {
                        c.resume(returning: [])
                        return
                    }
                    c.resume(
                        throwing: TransportError(
                            "poll on \(path) failed: \(String(cString: strerror(e)))", disconnected: Self.gone(e)))
                    return
                }
                if r == 0 {
                    c.resume(returning: [])
                    return
                }
                if p.revents & Int16(POLLNVAL) != 0 {
                    c.resume(throwing: TransportError("serial port \(path) closed", disconnected: true))
                    return
                }
                var buf = [UInt8](repeating: 0, count: max(1, min(maxBytes, 4096)))
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    c.resume(returning: Array(buf.prefix(n)))
                    return
                }
                let e = errno
                if n < 0 && (e == EAGAIN || e == EINTR) {
                    c.resume(returning: [])
                    return
                }
                // n == 0 with POLLHUP, or EIO: the USB-serial bridge went away.
                c.resume(
                    throwing: TransportError(
                        "serial port \(path) went away (\(n == 0 ? "hang-up" : String(cString: strerror(e)))); check the reader's USB cable",
                        disconnected: true))
            }
        }
    }

    public func flushInput() async {
        guard let fd = try? currentFD() else { return }
        queue.sync { _ = tcflush(fd, TCIFLUSH) }
    }

    public func close() async {
        let f: Int32 = fd.withLock { fd in
            let f = fd
            fd = -1
            return f
        }
        if f >= 0 { queue.sync { _ = Glibc.close(f) } }
    }
}
