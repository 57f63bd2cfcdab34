import Foundation
import KioskProtocols
import Logging
import Testing
@testable import KioskDevices
#if canImport(Glibc)
    import Glibc
#endif

/// The device end of a pseudo-terminal pair (or a socket pair) played by the simulated SAM.
final class FDDevice: @unchecked Sendable {
    let fd: Int32
    let sam: SimulatedIDCardReader
    private let lock = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    /// Packet boundaries matter (HID reports): when set, bytes are framed by this closure.
    let framer: (@Sendable ([UInt8]) -> [[UInt8]])?
    let unframer: (@Sendable ([UInt8]) -> [UInt8])?

    init(
        fd: Int32, sam: SimulatedIDCardReader, framer: (@Sendable ([UInt8]) -> [[UInt8]])? = nil,
        unframer: (@Sendable ([UInt8]) -> [UInt8])? = nil
    ) {
        self.fd = fd
        self.sam = sam
        self.framer = framer
        self.unframer = unframer
        let t = Thread { [self] in self.loop() }
        t.start()
    }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ stopped }) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { continue }
            var bytes = Array(buf.prefix(n))
            if let unframer { bytes = unframer(bytes) }
            let reply = sam.receive(bytes)
            guard !reply.isEmpty else { continue }
            let packets =
                framer?(reply)
                ?? stride(from: 0, to: reply.count, by: 17).map { Array(reply[$0..<min($0 + 17, reply.count)]) }
            for pk in packets { _ = pk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
        }
        done.signal()
    }

    func stop() {
        lock.withLock { stopped = true }
        done.wait()
    }
}

let serialCard = IDCardIdentity(
    cardType: .hmt, name: "测试三", sexCode: "2", birthDate: "19900101",
    address: "示例县演示路3号", idNumber: "810000199001010027", issuingAuthority: "示例县公安局",
    validFrom: .date("20230101"), validTo: .date("20280101"), passNumber: "H12345678", issueCount: "01",
    photo: [0x57, 0x4C, 0x66, 0x00] + [UInt8](repeating: 0x22, count: 1020))

@Suite(.serialized) struct SerialReaderTests {
    func ptyPair() throws -> (master: Int32, slavePath: String) {
        let m = Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY)
        guard m >= 0 else { throw TransportError("no /dev/ptmx") }
        var unlock: Int32 = 0
        var n: UInt32 = 0
        guard ioctl(m, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0, ioctl(m, 0x8004_5430 /* TIOCGPTN */, &n) == 0 else {
            throw TransportError("pty setup failed")
        }
        let name = "/dev/pts/\(n)"
        // The device side must be raw too, or the line discipline rewrites bytes.
        var tio = termios()
        tcgetattr(m, &tio)
        cfmakeraw(&tio)
        tcsetattr(m, TCSANOW, &tio)
        return (m, name)
    }

    @Test func serialTransportReadsACardOverAPseudoTerminal() async throws {
        let (m, path) = try ptyPair()
        let sam = SimulatedIDCardReader()
        let device = FDDevice(fd: m, sam: sam)
        let logger = Logger(label: "serial-test")
        let connector = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .serial, path: path), profiles: [], usb: nil, logger: logger)
        let reader = IDCardReader(
            provider: connector, logger: logger,
            options: ReaderOptions(presenceInterval: .milliseconds(200), idleCheckInterval: .seconds(30)))
        #expect(await reader.probe())
        #expect(await reader.status().connection?.contains("115200 8N1") == true)
        var it = reader.events.makeAsyncIterator()
        await reader.startReading()
        sam.place(serialCard)
        var got: IDCardIdentity?
        while let e = await it.next() {
            if case .cardRead(let id) = e {
                got = id
                break
            }
        }
        #expect(got?.cardType == .hmt)
        #expect(got?.passNumber == "H12345678")
        #expect(got?.idNumber == "810000199001010027")
        await reader.shutdown()
        device.stop()
        Glibc.close(m)
    }

    @Test func closingTheDeviceEndIsSeenAsUnplugged() async throws {
        let (m, path) = try ptyPair()
        let t = try SerialTransport(path: path)
        Glibc.close(m)  // the bridge vanished
        var sawGone = false
        for _ in 0..<20 {
            do { _ = try await t.read(maxBytes: 64, timeout: .milliseconds(100)) } catch let e as TransportError {
                sawGone = e.disconnected
                break
            }
        }
        #expect(sawGone, "a hang-up reads as disconnected")
        await t.close()
    }

    @Test func badPathAndBaudGiveClearErrors() {
        #expect(throws: TransportError.self) { try SerialTransport(path: "/dev/does-not-exist-kiosk") }
        #expect(throws: TransportError.self) {
            try SerialTransport(path: "/dev/null", settings: SerialSettings(baud: 12345))
        }
        do {
            _ = try SerialTransport(path: "/dev/null")
            Issue.record("/dev/null is not a tty")
        } catch {
            #expect("\(error)".contains("not a serial port"))
        }
    }
}

@Suite struct HIDVariantATests {
    @Test func framesLoseThePreambleOnTheWayOutAndGetItBackOnTheWayIn() {
        let f = HIDVariantAFraming(reportSize: 64)
        let reports = f.reports(forFrame: SAMCommand.samStatus.encoded())
        #expect(reports.count == 1)
        #expect(reports[0].count == 65)
        // report id 0, LEN, CMD, PARA, CHK
        #expect(Array(reports[0].prefix(6)) == [0x00, 0x00, 0x03, 0x11, 0xFF, 0xED])
        var g = HIDVariantAFraming(reportSize: 64)
        let reply = SAMReply(status: 0x90).encoded()
        var report = Array(reply.dropFirst(5))
        report += [UInt8](repeating: 0, count: 64 - report.count)
        #expect(g.bytes(fromReport: report) == reply, "padding after the frame is dropped")
    }

    @Test func aLongReplyAcrossManyReportsIsReassembled() {
        let data = IDCardIdentity.encodeReadReplyData(text: serialCard.encodeTextBlock(), photo: serialCard.photo)
        let reply = SAMReply(status: 0x90, data: data).encoded()
        let payload = Array(reply.dropFirst(5))
        var g = HIDVariantAFraming(reportSize: 64)
        var out: [UInt8] = []
        for i in stride(from: 0, to: payload.count, by: 64) {
            var r = Array(payload[i..<min(i + 64, payload.count)])
            r += [UInt8](repeating: 0, count: 64 - r.count)
            out += g.bytes(fromReport: r)
        }
        #expect(out == reply)
    }

    @Test func hidTransportReadsACardOverReportSockets() async throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        let sam = SimulatedIDCardReader()
        let device = FDDevice(
            fd: fds[1], sam: sam,
            framer: { reply in
                let body = Array(reply.dropFirst(5))
                return stride(from: 0, to: body.count, by: 64).map {
                    var r = Array(body[$0..<min($0 + 64, body.count)])
                    r += [UInt8](repeating: 0, count: 64 - r.count)
                    return r
                }
            },
            unframer: { report in
                // Device side: drop the report id, re-add the preamble the host stripped, cut padding.
                let body = Array(report.dropFirst())
                let len = Int(body[0]) << 8 | Int(body[1])
                return SAMFrame.preamble + body.prefix(2 + len)
            })
        let t = HIDRawTransport(fileDescriptor: fds[0], name: "socketpair")
        let reader = IDCardReader(transport: t, model: "hid test", simulated: false, logger: Logger(label: "hid"))
        #expect(await reader.probe())
        var it = reader.events.makeAsyncIterator()
        await reader.startReading()
        sam.place(serialCard)
        var got: IDCardIdentity?
        while let e = await it.next() {
            if case .cardRead(let id) = e {
                got = id
                break
            }
        }
        #expect(got?.name == "测试三")
        await reader.shutdown()
        device.stop()
        Glibc.close(fds[1])
    }
}

@Suite struct ProfileTests {
    @Test func shippedProfilesParseAndMatchTheirIds() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../DeviceProfiles"
        ).standardizedFileURL.path
        let ps = try DeviceProfiles.load(directory: dir)
        let readers = ps.filter { $0.kind == "idCardReader" }
        #expect(readers.count >= 7)
        let c35a = try #require(ps.first { $0.id == "sam-vendor-0400-c35a" })
        #expect(c35a.usb?.vendorId == 0x0400 && c35a.usb?.productId == 0xC35A)
        let dev = USBDeviceInfo(
            vendorId: 0x0400, productId: 0xC35A, bus: 1, address: 2, portPath: "1-1", deviceClass: 0,
            configurationValue: 1,
            interfaces: [
                USBInterfaceInfo(
                    number: 0, alternate: 0, interfaceClass: 0xFF, interfaceSubclass: 0, interfaceProtocol: 0,
                    endpoints: [])
            ])
        #expect(c35a.matches(dev))
        #expect(ps.contains { $0.id == "sam-serial-cp210x" && $0.usb?.vendorId == 0x10C4 })
        #expect(ps.contains { $0.transport == "hid-a" })
    }

    @Test func brokenProfilesNameTheFieldToFix() {
        #expect(throws: DeviceProfileError.self) {
            try DeviceProfiles.parse(yaml: "id: x\nname: y\nkind: toaster\ntransport: serial\n", name: "x.yaml")
        }
        do {
            _ = try DeviceProfiles.parse(yaml: "id: x\nkind: idCardReader\ntransport: serial\n", name: "x.yaml")
        } catch {
            #expect("\(error)".contains("missing `name`"))
        }
        #expect(throws: DeviceProfileError.self) {
            try DeviceProfiles.parse(
                yaml: "id: x\nname: y\nkind: idCardReader\ntransport: serial\nserial: { baud: 1234 }\n", name: "x.yaml")
        }
    }

    @Test func serialBridgesAreFoundThroughSysfs() async throws {
        // A fake sysfs: /sys/class/tty/ttyUSB0/device -> ../../devices/usb1/1-1/1-1:1.0/ttyUSB0
        let root = NSTemporaryDirectory() + "kiosk-sys-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        let fm = FileManager.default
        let devDir = root + "/devices/usb1/1-1"
        try fm.createDirectory(atPath: devDir + "/1-1:1.0/ttyUSB0", withIntermediateDirectories: true)
        try "1a86\n".write(toFile: devDir + "/idVendor", atomically: true, encoding: .utf8)
        try "7523\n".write(toFile: devDir + "/idProduct", atomically: true, encoding: .utf8)
        try fm.createDirectory(atPath: root + "/class/tty/ttyUSB0", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: root + "/class/tty/ttyUSB0/device", withDestinationPath: "../../../devices/usb1/1-1/1-1:1.0")
        defer { try? fm.removeItem(atPath: root) }
        let profile = try DeviceProfiles.parse(
            yaml:
                "id: ch340\nname: ch340\nkind: idCardReader\ntransport: serial\nusb: { vendorId: 0x1A86, productId: 0x7523 }\n",
            name: "t")
        let c = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .serial), profiles: [profile], usb: nil,
            logger: Logger(label: "t"), sysRoot: root)
        // Issue 18 point 5: a bridge nobody named is not probed (PIN pads use the same chips) …
        #expect(c.candidates().isEmpty)
        let (link, problem) = await c.connect()
        #expect(link == nil)
        #expect(problem?.contains("/dev/ttyUSB0 (1a86:7523) are not probed") == true, "\(problem ?? "-")")
        #expect(problem?.contains("/dev/serial/by-path/") == true)
        // … a port the profile names is.
        let named = root + "/serial-by-path-port0"
        try "".write(toFile: named, atomically: true, encoding: .utf8)
        let pinned = try DeviceProfiles.parse(
            yaml:
                "id: ch340\nname: ch340\nkind: idCardReader\ntransport: serial\nusb: { vendorId: 0x1A86, productId: 0x7523 }\nserial: { ports: [\"\(named)\", \"\(root)/absent\"] }\n",
            name: "t")
        let c2 = SAMReaderConnector(
            settings: ReaderConnectionSettings(mode: .serial), profiles: [pinned], usb: nil,
            logger: Logger(label: "t"), sysRoot: root)
        #expect(c2.candidates().map(\.description) == ["serial \(named)"])
    }

    @Test func serialPortsAreOpenedExclusively() throws {
        let master = Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY)
        guard master >= 0 else { throw TransportError("no /dev/ptmx") }
        defer { Glibc.close(master) }
        var unlock: Int32 = 0
        var n: UInt32 = 0
        #expect(ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0)
        #expect(ioctl(master, 0x8004_5430 /* TIOCGPTN */, &n) == 0)
        let path = "/dev/pts/\(n)"
        let t = try SerialTransport(path: path)
        // TIOCGEXCL on a second descriptor of the same tty: 1 while kioskd holds it exclusively.
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK)
        #expect(fd >= 0)
        defer { Glibc.close(fd) }
        var excl: Int32 = 0
        #expect(ioctl(fd, UInt(0x8004_5440), &excl) == 0)  // TIOCGEXCL
        #expect(excl == 1)
        _ = t
    }

    @Test func epermOnADeviceNodeNamesTheDevicePolicyAndTheModule() {
        let m = DeviceAccess.advice(errno: EPERM, path: "/dev/ttyUSB0")
        #expect(
            m?.contains("char-ttyUSB") == true && m?.contains("usbserial") == true
                && m?.contains("systemctl restart kioskd") == true)
        #expect(DeviceAccess.advice(errno: EPERM, path: "/dev/video2")?.contains("modprobe@videodev") == true)
        #expect(DeviceAccess.advice(errno: EACCES, path: "/dev/video2")?.contains("kioskctl commission") == true)
        #expect(
            V4L2Error(operation: "open /dev/video0", code: EPERM, path: "/dev/video0").description.contains("videodev"))
    }
}

@Suite struct ReaderSessionTests {
    @Test func secondPlacementAfterStopAndRestartIsRead() async throws {
        let sim = SimulatedIDCardReader(removeAfterRead: .milliseconds(500))
        let reader = IDCardReader(
            transport: SimulatorLink(model: sim, name: "r"), model: "sim", simulated: true, logger: Logger(label: "t"))
        #expect(await reader.probe())
        await reader.start()
        var it = reader.events.makeAsyncIterator()
        for round in 0..<3 {
            await reader.startReading()
            sim.place(serialCard)
            var read = false
            while let e = await it.next() {
                if case .cardRead = e {
                    read = true
                    break
                }
            }
            #expect(read, "round \(round)")
            await reader.stopReading()
            try await Task.sleep(for: .milliseconds(round == 1 ? 4000 : 1200))
        }
        await reader.shutdown()
    }
}
