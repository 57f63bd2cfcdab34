import Foundation
import KioskProtocols

/// What a technician's devices report, captured by `kioskctl devices --record FILE` and loaded by
/// tests as emulated devices (issue 18 point 10): USB descriptors and endpoint layout, the reply
/// to the SAM status command `11 FF` (readers), GET_DEVICE_ID / GET_PORT_STATUS / DLE EOT
/// (receipt printers) and the V4L2 formats and sizes (cameras). No card data: `11 FF` is the only
/// command sent to a reader, and nothing is printed.
public struct FieldRecording: Codable, Sendable, Equatable {
    /// One request and the bytes that came back, as hex ("AA AA AA 96 69 00 03 11 FF ED").
    public struct Exchange: Codable, Sendable, Equatable {
        public var request: String
        public var reply: String
        /// Milliseconds until the reply was complete (or the wait ended).
        public var milliseconds: Int?
        public init(request: String, reply: String, milliseconds: Int? = nil) {
            self.request = request
            self.reply = reply
            self.milliseconds = milliseconds
        }
    }

    public struct USBRecord: Codable, Sendable, Equatable {
        public var device: USBDeviceInfo
        /// The profile kioskd matched, if any.
        public var profile: String?
        /// The interface the exchanges went through.
        public var interface: Int?
        /// Readers: `11 FF` over the interface's bulk (or interrupt) endpoints.
        public var samStatus: Exchange?
        /// Printer class: GET_DEVICE_ID (the IEEE 1284 string) and the GET_PORT_STATUS byte.
        public var deviceID: String?
        public var portStatus: UInt8?
        /// DLE EOT n → reply byte(s), for n = 1, 2, 4.
        public var dleEOT: [String: String]?
        /// Why nothing was sent to the device (not matched by any profile, could not open, …).
        public var note: String?
        public init(
            device: USBDeviceInfo, profile: String? = nil, interface: Int? = nil, samStatus: Exchange? = nil,
            deviceID: String? = nil, portStatus: UInt8? = nil, dleEOT: [String: String]? = nil, note: String? = nil
        ) {
            self.device = device
            self.profile = profile
            self.interface = interface
            self.samStatus = samStatus
            self.deviceID = deviceID
            self.portStatus = portStatus
            self.dleEOT = dleEOT
            self.note = note
        }
    }

    public struct V4L2Record: Codable, Sendable, Equatable {
        public var path: String
        public var card: String
        public var capture: Bool
        public var streaming: Bool
        /// FourCC names, e.g. ["MJPG", "YUYV"].
        public var formats: [String]
        /// FourCC → "WxH" sizes.
        public var sizes: [String: [String]]
        public var note: String?
        public init(
            path: String, card: String, capture: Bool, streaming: Bool, formats: [String], sizes: [String: [String]],
            note: String? = nil
        ) {
            self.path = path
            self.card = card
            self.capture = capture
            self.streaming = streaming
            self.formats = formats
            self.sizes = sizes
            self.note = note
        }
    }

    public var format: Int
    /// Where it came from ("kioskctl devices --record on …", or "example" for a made-up file).
    public var source: String?
    public var recordedAt: String
    public var usb: [USBRecord]
    public var v4l2: [V4L2Record]

    public init(recordedAt: String, usb: [USBRecord], v4l2: [V4L2Record]) {
        self.format = 1
        self.source = "kioskctl devices --record"
        self.recordedAt = recordedAt
        self.usb = usb
        self.v4l2 = v4l2
    }

    public static func load(_ data: Data) throws -> FieldRecording {
        do { return try JSONDecoder().decode(FieldRecording.self, from: data) } catch {
            throw DeviceProfileError(description: "not a `kioskctl devices --record` file: \(error)")
        }
    }

    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    public static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02X", $0) }.joined(separator: " ") }

    public static func bytes(_ hex: String) -> [UInt8]? {
        let parts = hex.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" })
        let b = parts.compactMap { UInt8($0, radix: 16) }
        return b.count == parts.count ? b : nil
    }

    public static func size(_ s: String) -> V4L2FrameSize? {
        let p = s.split(separator: "x").compactMap { Int($0) }
        return p.count == 2 ? V4L2FrameSize(width: p[0], height: p[1]) : nil
    }
}

/// Captures a `FieldRecording` from the devices attached now. Only devices a profile matches
/// are spoken to (a reader profile: `11 FF`; a receipt-printer profile with USB ids: the printer
/// class requests and DLE EOT); every other device is recorded from its descriptors alone, so a
/// recording never claims the A4 printer or a PIN pad.
public enum FieldRecorder {
    public static func recordUSB(context: LibUSBContext, profiles: [DeviceProfile]) async -> [FieldRecording.USBRecord]
    {
        var out: [FieldRecording.USBRecord] = []
        for d in context.devices() {
            var rec = FieldRecording.USBRecord(device: d)
            guard let p = profiles.first(where: { $0.matches(d) }) else {
                rec.note = "no profile matches: descriptors only"
                out.append(rec)
                continue
            }
            rec.profile = p.id
            if p.kind == "idCardReader", p.transport == "usb-bulk",
                let n = SAMReaderConnector.readerInterface(d, profile: p)
            {
                rec.interface = n
                do {
                    let t = try USBBulkTransport(
                        context: context, device: d, interface: n, outEndpoint: p.usb?.endpoints?.out,
                        inEndpoint: p.usb?.endpoints?.in)
                    rec.samStatus = await exchange(t, SAMCommand.samStatus.encoded(), timeout: .seconds(2)) { b in
                        var parser = SAMFrameParser()
                        parser.feed(b)
                        while let f = parser.next() { if case .frame = f { return true } }
                        return false
                    }
                    await t.close()
                } catch { rec.note = "could not open: \(error)" }
            } else if p.kind == "receiptPrinter", p.usb?.vendorId != nil,
                let sel = try? USBPrinterSelection(
                    profile: p,
                    writeOptions: USBWriteOptions(chunkBytes: 64, chunkTimeoutMilliseconds: 500, deadline: .seconds(1))),
                let iface = sel.find(in: [d])?.1
            {
                rec.interface = iface.number
                do {
                    let t = try USBBulkTransport(
                        context: context, device: d, interface: iface.number, outEndpoint: sel.outEndpoint,
                        inEndpoint: sel.inEndpoint, writeOptions: sel.writeOptions)
                    rec.deviceID = t.printerDeviceID()
                    rec.portStatus =
                        (try? t.handle.control(
                            requestType: 0xA1, request: 1, value: 0, index: UInt16(iface.number), length: 1,
                            timeoutMilliseconds: 500))?.first
                    var eot: [String: String] = [:]
                    for n: UInt8 in [1, 2, 4] {
                        let x = await exchange(t, [0x10, 0x04, n], timeout: .milliseconds(500)) { !$0.isEmpty }
                        eot[String(n)] = x.reply
                    }
                    rec.dleEOT = eot
                    await t.close()
                } catch { rec.note = "could not open: \(error)" }
            } else {
                rec.note = "profile \(p.id) (\(p.transport)): descriptors only"
            }
            out.append(rec)
        }
        return out
    }

    static func exchange(
        _ t: any ByteTransport, _ request: [UInt8], timeout: Duration,
        complete: ([UInt8]) -> Bool
    ) async -> FieldRecording.Exchange {
        await t.flushInput()
        let start = ContinuousClock.now
        var got: [UInt8] = []
        do {
            try await t.write(request)
            while ContinuousClock.now - start < timeout, !complete(got) {
                got += try await t.read(maxBytes: 64, timeout: .milliseconds(200))
            }
        } catch {
            return FieldRecording.Exchange(
                request: FieldRecording.hex(request), reply: FieldRecording.hex(got) + " (error: \(error))")
        }
        let ms = Int(
            (ContinuousClock.now - start).components.seconds * 1000 + (ContinuousClock.now - start).components
                .attoseconds / 1_000_000_000_000_000)
        return FieldRecording.Exchange(
            request: FieldRecording.hex(request), reply: FieldRecording.hex(got), milliseconds: ms)
    }

    /// QUERYCAP, ENUM_FMT and ENUM_FRAMESIZES of each node (no streaming).
    public static func recordV4L2(paths: [String], makeDevice: () -> any V4L2Device = { LinuxV4L2Device() })
        -> [FieldRecording.V4L2Record]
    {
        paths.map { path in
            let dev = makeDevice()
            defer { dev.close() }
            do {
                try dev.open(path: path)
                let cap = try dev.queryCapabilities()
                let fmts = cap.capture ? try dev.formats() : []
                var sizes: [String: [String]] = [:]
                for f in fmts {
                    sizes[FourCC.name(f)] = (try? dev.frameSizes(f))?.map { "\($0.width)x\($0.height)" } ?? []
                }
                return FieldRecording.V4L2Record(
                    path: path, card: cap.card, capture: cap.capture, streaming: cap.streaming,
                    formats: fmts.map(FourCC.name), sizes: sizes)
            } catch {
                return FieldRecording.V4L2Record(
                    path: path, card: "", capture: false, streaming: false, formats: [], sizes: [:], note: "\(error)")
            }
        }
    }
}
