import Testing
@testable import KioskProtocols

/// "AA AA 96" → bytes.
fileprivate func hex(_ s: String) -> [UInt8] {
    s.split(separator: " ").map { UInt8($0, radix: 16)! }
}

fileprivate func parseAll(_ bytes: [UInt8], chunk: Int, parser: inout SAMFrameParser) -> [SAMParsedFrame] {
    var out: [SAMParsedFrame] = []
    var i = 0
    while i < bytes.count {
        parser.feed(bytes[i..<min(i + chunk, bytes.count)])
        while let f = parser.next() { out.append(f) }
        i += chunk
    }
    return out
}

fileprivate func parseAll(_ bytes: [UInt8], chunk: Int) -> [SAMParsedFrame] {
    var parser = SAMFrameParser()
    return parseAll(bytes, chunk: chunk, parser: &parser)
}

/// A synthetic 30 01 reply: text block of a made-up person and a fake WLT photo.
fileprivate func syntheticReadReplyFrame() -> [UInt8] {
    let person = IDCardIdentity(
        cardType: .resident, name: "测试一", sexCode: "1", nationCode: "01", birthDate: "20000101",
        address: "测试省测试市示例路1号", idNumber: "110105200001010016", issuingAuthority: "测试市公安局",
        validFrom: .date("20200101"), validTo: .date("20400101"))
    let photo =
        [0x57, 0x4C, 0x66, 0x00, 0x7E, 0x00, 0x32, 0x00, 0x00, 0xFF, 0x85]
        + (11..<1024).map { UInt8(truncatingIfNeeded: $0 * 7) }
    let data = IDCardIdentity.encodeReadReplyData(text: person.encodeTextBlock(), photo: photo)
    return SAMReply(status: 0x90, data: data).encoded()
}

@Suite struct SAMFrameEncodingTests {
    // Every request frame of devices.md §1.2, plus the baud example of §1.1.
    static let table: [(SAMCommand, String)] = [
        (.resetSAM, "AA AA AA 96 69 00 03 10 FF EC"),
        (.samStatus, "AA AA AA 96 69 00 03 11 FF ED"),
        (.samID, "AA AA AA 96 69 00 03 12 FF EE"),
        (.findCard, "AA AA AA 96 69 00 03 20 01 22"),
        (.selectCard, "AA AA AA 96 69 00 03 20 02 21"),
        (.readTextAndPhoto, "AA AA AA 96 69 00 03 30 01 32"),
        (.readAddress, "AA AA AA 96 69 00 03 30 03 30"),
        (.readTextPhotoFingerprint, "AA AA AA 96 69 00 03 30 10 23"),
        (.chipManagementNumber, "AA AA AA 96 69 00 03 30 05 36"),
        (.maxRFFrame(0x50), "AA AA AA 96 69 00 04 61 FF 50 CA"),
        (.setBaud(0x01), "AA AA AA 96 69 00 03 60 01 62"),
    ]

    @Test(arguments: table)
    func requestFrameEncodesExactly(_ command: SAMCommand, _ expected: String) throws {
        #expect(command.encoded() == hex(expected))
        // And decodes back, as the simulated reader does.
        #expect(try SAMCommand(frame: hex(expected)) == command)
        let parsed = parseAll(hex(expected), chunk: 64)
        #expect(parsed == [.frame(body: [command.cmd, command.para] + command.data)])
        #expect(try SAMCommand(body: [command.cmd, command.para] + command.data) == command)
    }

    @Test func hostTimeouts() {
        #expect(SAMCommand.resetSAM.hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand.samStatus.hostTimeoutMilliseconds == 2_000)
        #expect(SAMCommand.samID.hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand.findCard.hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand.selectCard.hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand.readTextAndPhoto.hostTimeoutMilliseconds == 3_000)
        #expect(SAMCommand.readAddress.hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand.readTextPhotoFingerprint.hostTimeoutMilliseconds == 5_000)
        #expect(SAMCommand.maxRFFrame(0x50).hostTimeoutMilliseconds == 1_000)
        #expect(SAMCommand(cmd: 0x77, para: 0x77).hostTimeoutMilliseconds == 5_000)
        #expect(SAMCommand.findCard.label == "find card (20 01)")
    }

    @Test func commandBodyTooShort() {
        #expect(throws: SAMFrameError.truncated(expected: 2, received: 1)) { try SAMCommand(body: [0x20]) }
    }
}

@Suite struct SAMReplyDecodingTests {
    static let shortReplies: [(String, UInt8, SAMOutcome)] = [
        ("AA AA AA 96 69 00 04 00 00 90 94", 0x90, .ok),
        ("AA AA AA 96 69 00 04 00 00 80 84", 0x80, .noCard),
        ("AA AA AA 96 69 00 04 00 00 81 85", 0x81, .selectFailed),
        ("AA AA AA 96 69 00 04 00 00 41 45", 0x41, .readFailedCardMoved),
        ("AA AA AA 96 69 00 04 00 00 91 95", 0x91, .noContent),
    ]

    @Test(arguments: shortReplies)
    func shortReplyDecodes(_ frame: String, _ sw3: UInt8, _ outcome: SAMOutcome) throws {
        let reply = try SAMReply(frame: hex(frame))
        #expect(reply == SAMReply(status: sw3))
        #expect(reply.outcome == outcome)
        #expect(reply.encoded() == hex(frame))
        guard case let .frame(body)? = parseAll(hex(frame), chunk: 1).first else {
            Issue.record("not parsed")
            return
        }
        #expect(try SAMReply(body: body) == reply)
    }

    @Test func findAndSelectReplies() throws {
        let find = hex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
        #expect(try SAMReply(frame: find) == .cardFound)
        #expect(SAMReply.cardFound.encoded() == find)
        #expect(SAMReply.cardFound.outcome == .cardFound)
        let select = SAMReply.cardSelected.encoded()
        #expect(select.count == 19)
        #expect(Array(select[5...6]) == [0x00, 0x0C])
        #expect(select.last == 0x9C)
        #expect(try SAMReply(frame: select) == .cardSelected)
    }

    @Test func samIDReply() throws {
        // 12 FF: LEN 00 14, 27 bytes, u16 LE, u16 LE, u32 LE ×3.
        let data: [UInt8] = [
            0x05, 0x00, 0x01, 0x00,
            0x39, 0x30, 0x00, 0x00,  // 12345
            0x15, 0xCD, 0x5B, 0x07,  // 123456789
            0x01, 0x00, 0x00, 0x00,
        ]
        let frame = SAMReply(status: 0x90, data: data).encoded()
        #expect(frame.count == 27)
        #expect(Array(frame[5...6]) == [0x00, 0x14])
        let reply = try SAMReply(frame: frame)
        #expect(SAMReply.samIDString(fromData: reply.data) == "05.01-00012345-0123456789-0000000001")
        #expect(SAMReply.samIDString(fromData: [1, 2, 3]) == nil)
    }

    @Test func readReplyFrameLayout() throws {
        let frame = syntheticReadReplyFrame()
        #expect(frame.count == 1295)
        #expect(Array(frame[0...9]) == hex("AA AA AA 96 69 05 08 00 00 90"))
        #expect(Array(frame[10...13]) == hex("01 00 04 00"))
        #expect(Array(frame[270...280]) == hex("57 4C 66 00 7E 00 32 00 00 FF 85"))
        let reply = try SAMReply(frame: frame)
        #expect(reply.outcome == .ok)
        let person = try IDCardIdentity.decodeReadReply(reply.data)
        #expect(person.name == "测试一")
        #expect(Array(frame[14..<270]) == person.textBlock)
        #expect(person.photo.count == 1024)
    }

    @Test func badStatusWords() {
        let frame = SAMFrame.encode(body: [0x00, 0x01, 0x90])
        #expect(throws: SAMFrameError.badStatusWords(sw1: 0x00, sw2: 0x01)) { try SAMReply(frame: frame) }
        #expect(throws: SAMFrameError.truncated(expected: 3, received: 2)) { try SAMReply(body: [0, 0]) }
        // A request-sized frame (LEN 3) is not a reply.
        #expect(throws: SAMFrameError.badLength(3)) { try SAMReply(frame: hex("AA AA AA 96 69 00 03 10 FF EC")) }
    }

    @Test func wholeFrameDecodeErrors() {
        #expect(throws: SAMFrameError.badChecksum(computed: 0x94, received: 0x95)) {
            try SAMReply(frame: hex("AA AA AA 96 69 00 04 00 00 90 95"))
        }
        #expect(throws: SAMFrameError.badPreamble) { try SAMReply(frame: hex("AA AA AB 96 69 00 04 00 00 90 94")) }
        #expect(throws: SAMFrameError.truncated(expected: 11, received: 10)) {
            try SAMReply(frame: hex("AA AA AA 96 69 00 04 00 00 90"))
        }
        #expect(throws: SAMFrameError.lengthMismatch(declared: 11, actual: 12)) {
            try SAMReply(frame: hex("AA AA AA 96 69 00 04 00 00 90 94 00"))
        }
    }
}

@Suite struct SAMFrameParserTests {
    @Test func strayBytesBeforePreamble() {
        let bytes = hex("AA 00 AA AA 96 69 00 04 00 00 90 94")
        for chunk in [1, 3, 64] {
            var parser = SAMFrameParser()
            #expect(parseAll(bytes, chunk: chunk, parser: &parser) == [.frame(body: [0, 0, 0x90])])
            // The stray 00 split the preamble: AA 00 is skipped, AA AA 96 69 still syncs.
            #expect(parser.skippedByteCount == 2)
            #expect(parser.bufferedByteCount == 0)
        }
        // Noise and an extra AA before a whole preamble.
        var parser = SAMFrameParser()
        #expect(
            parseAll(hex("FF 13 AA AA AA AA 96 69 00 04 00 00 80 84"), chunk: 2, parser: &parser)
                == [.frame(body: [0, 0, 0x80])])
        #expect(parser.skippedByteCount == 3)
    }

    @Test func readReplyIn64ByteChunks() throws {
        let frame = syntheticReadReplyFrame()
        let parsed = parseAll(frame, chunk: 64)
        #expect(parsed.count == 1)
        guard case let .frame(body)? = parsed.first else {
            Issue.record("no frame")
            return
        }
        #expect(body == Array(frame[7..<1294]))
        let reply = try SAMReply(body: body)
        #expect(try IDCardIdentity.decodeReadReply(reply.data).idNumber == "110105200001010016")
    }

    @Test func readReplyIn1ByteChunks() throws {
        let frame = syntheticReadReplyFrame()
        var parser = SAMFrameParser()
        var results: [SAMParsedFrame] = []
        for (i, b) in frame.enumerated() {
            parser.feed([b])
            if let r = parser.next() {
                results.append(r)
                #expect(i == frame.count - 1, "frame completed early at \(i)")
            }
        }
        #expect(results == [.frame(body: Array(frame[7..<1294]))])
    }

    @Test func severalFramesInOneChunk() {
        let bytes = SAMReply.cardFound.encoded() + SAMReply.cardSelected.encoded() + syntheticReadReplyFrame()
        let parsed = parseAll(bytes, chunk: 4096)
        #expect(parsed.count == 3)
        #expect(parsed.first == .frame(body: [0, 0, 0x9F, 0, 0, 0, 0]))
    }

    @Test func badChecksumThenGoodFrame() {
        var bad = syntheticReadReplyFrame()
        bad[500] ^= 0x01
        let good = SAMReply(status: 0x80).encoded()
        for chunk in [1, 64, 4096] {
            let parsed = parseAll(bad + good, chunk: chunk)
            #expect(parsed.count == 2)
            guard case .corrupt(.badChecksum)? = parsed.first else {
                Issue.record("expected badChecksum, got \(String(describing: parsed.first))")
                continue
            }
            #expect(parsed.last == .frame(body: [0, 0, 0x80]))
        }
    }

    @Test func badLengthThenGoodFrame() {
        let good = hex("AA AA AA 96 69 00 04 00 00 90 94")
        let tooShort = hex("AA AA AA 96 69 00 02 00 02")
        let tooLong = hex("AA AA AA 96 69 0A 01 00 00")
        #expect(parseAll(tooShort + good, chunk: 1) == [.corrupt(.badLength(2)), .frame(body: [0, 0, 0x90])])
        #expect(parseAll(tooLong + good, chunk: 64) == [.corrupt(.badLength(0x0A01)), .frame(body: [0, 0, 0x90])])
    }

    @Test func truncatedFrameFollowedByCompleteFrame() {
        // A 30 01 reply that lost its tail, then the next reply arrives.
        let cut = Array(syntheticReadReplyFrame().prefix(700))
        let good = SAMReply(status: 0x80).encoded()
        for chunk in [1, 64] {
            let parsed = parseAll(cut + good, chunk: chunk)
            #expect(parsed == [.corrupt(.truncated(expected: 1295, received: 700)), .frame(body: [0, 0, 0x80])])
        }
    }

    @Test func foreignOEMFrameIsSkipped() {
        let oem = hex("AA AA AA 96 69 00 05 05 05 05")
        let good = hex("AA AA AA 96 69 00 04 00 00 90 94")
        for chunk in [1, 7, 64] {
            var parser = SAMFrameParser()
            #expect(
                parseAll(oem + good + oem + oem + good, chunk: chunk, parser: &parser)
                    == [.frame(body: [0, 0, 0x90]), .frame(body: [0, 0, 0x90])])
            #expect(parser.ignoredForeignFrameCount == 3)
        }
        // The OEM frame alone, then (later) a good frame: never crashes, the good frame survives.
        var parser = SAMFrameParser()
        parser.feed(oem)
        #expect(parser.next() == nil)
        parser.feed(good)
        #expect(parser.next() == .frame(body: [0, 0, 0x90]))
        #expect(parser.next() == nil)
    }

    @Test func discardPartialFrameOnTimeout() {
        var parser = SAMFrameParser()
        parser.feed(syntheticReadReplyFrame().prefix(100))
        #expect(parser.next() == nil)
        #expect(parser.discardPartialFrame() == .corrupt(.truncated(expected: 1295, received: 100)))
        #expect(parser.bufferedByteCount == 0)
        parser.feed(SAMReply(status: 0x90).encoded())
        #expect(parser.next() == .frame(body: [0, 0, 0x90]))
        #expect(parser.discardPartialFrame() == nil)
    }

    @Test func garbageIsBounded() {
        var parser = SAMFrameParser()
        let noise = [UInt8](repeating: 0x55, count: 1000)
        for _ in 0..<100 {
            parser.feed(noise)
            #expect(parser.next() == nil)
        }
        #expect(parser.bufferedByteCount <= 4)
        #expect(parser.skippedByteCount == 100_000)
        // Feeding without draining overflows once, then keeps working.
        var greedy = SAMFrameParser()
        for _ in 0..<20 { greedy.feed(noise) }
        #expect(greedy.bufferedByteCount <= SAMFrameParser.defaultCapacity)
        #expect(greedy.next() == .corrupt(.bufferOverflow(droppedBytes: 20_000 - SAMFrameParser.defaultCapacity)))
        #expect(greedy.next() == nil)
        greedy.feed(SAMReply(status: 0x90).encoded())
        #expect(greedy.next() == .frame(body: [0, 0, 0x90]))
    }

    @Test func partialPreambleAtChunkEnd() {
        var parser = SAMFrameParser()
        parser.feed(hex("11 22 33 AA AA"))
        #expect(parser.next() == nil)
        parser.feed(hex("AA 96 69 00 04 00 00 90 94"))
        #expect(parser.next() == .frame(body: [0, 0, 0x90]))
        #expect(parser.skippedByteCount == 3)
    }

    @Test func noiseAndRandomChunkingNeverLoseGoodFrames() {
        // Deterministic LCG: noise of random length between good frames, fed in random chunk sizes.
        var state: UInt64 = 0x2545F4914F6CDD1D
        func rnd(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        var stream: [UInt8] = []
        var expected: [[UInt8]] = []
        for i in 0..<300 {
            for _ in 0..<rnd(40) { stream.append([0xAA, 0x96, 0x69, 0x00, UInt8(rnd(256))][rnd(5)]) }
            let reply = SAMReply(
                status: UInt8(truncatingIfNeeded: i), data: (0..<rnd(300)).map { _ in UInt8(rnd(256)) })
            stream += reply.encoded()
            expected.append([0, 0] + [reply.status] + reply.data)
        }
        var parser = SAMFrameParser()
        var frames: [[UInt8]] = []
        var i = 0
        while i < stream.count {
            let n = 1 + rnd(130)
            parser.feed(stream[i..<min(i + n, stream.count)])
            while let r = parser.next() {
                if case let .frame(body) = r { frames.append(body) }
            }
            i += n
        }
        // Every good frame comes out, in order (noise may rarely add a lucky extra frame).
        var it = frames.makeIterator()
        var found = 0
        for e in expected {
            while let f = it.next() {
                if f == e {
                    found += 1
                    break
                }
            }
        }
        #expect(found == expected.count)
    }

    @Test func missingFirstPreambleByte() {
        // A lost first AA still syncs on AA AA 96 69.
        #expect(parseAll(hex("AA AA 96 69 00 04 00 00 90 94"), chunk: 1) == [.frame(body: [0, 0, 0x90])])
    }

    @Test func errorDescriptionsSayWhatToDo() {
        let errors: [SAMFrameError] = [
            .badChecksum(computed: 1, received: 2), .badLength(2),
            .badStatusWords(sw1: 1, sw2: 0), .truncated(expected: 11, received: 5),
            .lengthMismatch(declared: 11, actual: 12), .badPreamble,
            .bufferOverflow(droppedBytes: 3),
        ]
        for e in errors { #expect(!e.description.isEmpty) }
        #expect(SAMFrameError.badChecksum(computed: 0x0A, received: 0xF0).description.contains("0A"))
    }
}

@Suite struct SAMOutcomeTests {
    @Test func mapping() {
        let cases: [(UInt8, SAMOutcome, SAMRecovery)] = [
            (0x90, .ok, .none), (0x9F, .cardFound, .none), (0x91, .noContent, .none),
            (0x80, .noCard, .keepPolling), (0x81, .selectFailed, .restartFind),
            (0x41, .readFailedCardMoved, .retry),
            (0x31, .authenticationFailed, .restartFind), (0x32, .authenticationFailed, .restartFind),
            (0x33, .authenticationFailed, .restartFind),
            (0x40, .unknownCardType, .askToReplace),
            (0x10, .linkError, .flushAndResend), (0x11, .linkError, .flushAndResend),
            (0x21, .badCommand, .logBug), (0x23, .badCommand, .logBug),
            (0x24, .transientError, .retry), (0x47, .transientError, .retry),
            (0x60, .samSelfTestFailed, .resetSAMThenStatus), (0x66, .samNotAuthorised, .alarm),
            (0x05, .unknown(0x05), .retry),
        ]
        for (sw3, outcome, recovery) in cases {
            let o = SAMOutcome(sw3: sw3)
            #expect(o == outcome)
            #expect(o.recovery == recovery)
            #expect(!o.residentMessage.isEmpty)
            #expect(!o.technicianMessage.isEmpty)
        }
        #expect(SAMOutcome(sw3: 0x41).residentMessage == "请勿移动证件，请重新放置")
        #expect(SAMOutcome(sw3: 0x40).residentMessage.contains("不支持的证件"))
        #expect(SAMOutcome(sw3: 0xEE).technicianMessage.contains("EE"))
        #expect(SAMOutcome.ok.isSuccess && SAMOutcome.noContent.isSuccess && !SAMOutcome.noCard.isSuccess)
    }
}
