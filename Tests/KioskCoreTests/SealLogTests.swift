import Foundation
import GRDB
import KioskProtocols
import Testing
@testable import KioskCore

/// The seal log's own writes: direct (O_DIRECT|O_DSYNC, whole blocks) and buffered (fdatasync)
/// segments, refused rows, the fence readers wait at, and the seal's own JSON and row insert.
@Suite struct SealLogTests {
    struct Refused: Error {}

    /// Boxes of many sizes (some far over a block, some a few bytes) so records start and end
    /// anywhere in a block and cross block edges.
    static func box(_ i: Int) -> Data {
        let sizes = [1, 17, 600, 4000, 4096, 4097, 9000, 250, 3]
        return Data((0..<sizes[i % sizes.count]).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) })
    }

    @Test(arguments: [true, false]) func segmentsReadBackEveryRecordAcrossReopensAndBlockEdges(direct: Bool)
        async throws
    {
        let dir = tempDir()
        var expected: [SealLog.Record] = []
        for round in 0..<3 {
            // Every other round opens the segment the other way: both read what the other wrote.
            let log = SealLog(stateDirectory: dir, directIO: round % 2 == 0 ? direct : !direct)
            #expect(try log.records() == expected)
            // One after another, then several at once (they share writes).
            for i in 0..<7 {
                let id = "r\(round)-\(i)"
                try await log.append(day: "20261207", id: id, caseNumber: "GH202612070001", box: Self.box(i))
                expected.append(.init(day: "20261207", id: id, caseNumber: "GH202612070001", box: Self.box(i)))
            }
            let together = (0..<9).map { "r\(round)-together-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, id) in together.enumerated() {
                    group.addTask {
                        try await log.append(
                            day: "20261207", id: id, caseNumber: "GH202612070002", box: Self.box(i + 3))
                    }
                }
                try await group.waitForAll()
            }
            let all = try log.records()
            #expect(all.count == expected.count + together.count)
            #expect(Set(all.suffix(together.count).map(\.id)) == Set(together))
            expected = all
            let bytes = try #require(try SealLog.read(log.path("20261207")))
            let decoded = SealLog.decode(bytes, day: "20261207")
            #expect(!decoded.damaged)
            #expect(decoded.records == expected)
            // Past the last record: only the zeros written ahead, a whole number of blocks.
            #expect(bytes[decoded.validEnd...].allSatisfy { $0 == 0 })
            #expect(bytes.count % SealLog.block == 0)
        }
    }

    @Test func theBlockTheLogEndsInIsKeptFromWhatWasWrittenBefore() {
        // prefix: the bytes of start's block before start.
        let prefix = [UInt8](repeating: 1, count: 100)
        #expect(SealLog.tail(prefix: prefix, bytes: [2, 3], at: 4196) == prefix + [2, 3])
        let long = [UInt8](repeating: 5, count: 4000)
        let t = SealLog.tail(prefix: prefix, bytes: long, at: 4196)
        #expect(t == [UInt8](repeating: 5, count: 4196 + 4000 - 8192))
        // Ending exactly on a block edge: the next block is empty.
        #expect(SealLog.tail(prefix: prefix, bytes: [UInt8](repeating: 9, count: 3996), at: 4196) == [])
        #expect(SealLog.tail(prefix: [], bytes: [7], at: 0) == [7])
    }

    /// A seal whose rows the database refuses gets no record, alone or beside seals that stand;
    /// every seal that returned is in the log and in the database at once.
    @Test func refusedRowsGetNoRecordAndTheSealsBesideThemStand() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let log = o.database.sealLog
        let before = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        await #expect(throws: SealLog.RowsRefused.self) {
            try await log.append(
                day: "20261207", id: "refused-alone", caseNumber: "GH202612079990", box: Data(count: 40)
            ) {
                _ in throw Refused()
            }
        }
        #expect(try log.records().map(\.id) == [before.id])
        let sealed = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<24 {
                group.addTask {
                    if i % 6 == 3 {
                        // One statement that fails (a duplicate key) leaves nothing behind, without
                        // a savepoint of its own.
                        do {
                            try await log.append(
                                day: "20261207", id: "refused-\(i)", caseNumber: "GH20261207998\(i % 10)",
                                box: Data(count: 40), rowsAreOneStatement: true
                            ) { db in
                                try db.execute(
                                    sql: "INSERT INTO submission (id) SELECT id FROM submission LIMIT 1")
                            }
                            Issue.record("a failing statement must fail the seal")
                        } catch is SealLog.RowsRefused {}
                        return nil
                    }
                    if i % 3 == 0 {
                        do {
                            try await log.append(
                                day: "20261207", id: "refused-\(i)", caseNumber: "GH20261207999\(i % 10)",
                                box: Data(count: 40)
                            ) { db in
                                // Something inserted first, then refused: none of it may stay.
                                try db.execute(
                                    sql: "INSERT INTO kiosk_setting (key, value, updated_at) VALUES (?, 'x', 0)",
                                    arguments: ["refused-\(i)"])
                                throw Refused()
                            }
                            Issue.record("rows that throw must fail the seal")
                        } catch is SealLog.RowsRefused {}
                        return nil
                    }
                    let s = try await o.submissions.seal(
                        NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
                    // Answered: every reader sees it now.
                    #expect(try o.submissions.submission(id: s.id)?.caseNumber == s.caseNumber)
                    return s.id
                }
            }
            var ids: [String] = []
            for try await id in group { if let id { ids.append(id) } }
            return ids
        }
        #expect(sealed.count == 16)
        #expect(Set(try log.records().map(\.id)) == Set(sealed + [before.id]))
        #expect(try o.submissions.allSubmissions().count == 17)
        let leftovers = try await o.database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM kiosk_setting WHERE key LIKE 'refused-%'") ?? -1
        }
        #expect(leftovers == 0)
        // Reopened: nothing to write back, nothing refused comes back.
        try o.database.close()
        let again = try makeOutbox(dir)
        #expect(again.database.replayedAtStart.written.isEmpty)
        #expect(try again.submissions.allSubmissions().count == 17)
    }

    /// A seal's answer reaches its caller whichever comes first: the answer while the caller
    /// polls, the answer before the caller parks, or the caller parked before the answer.
    @Test func anAnswerReachesItsCallerWhetherItPollsOrParks() async throws {
        struct Failed: Error {}
        let polled = SealLog.Answer()
        let answerer = Thread { polled.resume(with: .success(true)) }
        answerer.start()
        #expect(try polled.spin(for: 5)?.get() == true)

        let early = SealLog.Answer()
        #expect(early.spin(for: 0.001) == nil, "no answer yet: the poll gives up")
        early.resume(with: .failure(Failed()))
        await #expect(throws: Failed.self) { try await early.wait() }

        let late = SealLog.Answer()
        #expect(late.spin(for: 0.0001) == nil)
        async let parked = late.wait()
        try await Task.sleep(for: .milliseconds(20))
        late.resume(with: .success(false))
        #expect(try await parked == false)

        // Seals one after another (each alone, so each polls) and several at once (they park).
        let dir = tempDir()
        let log = SealLog(stateDirectory: dir)
        for i in 0..<20 {
            #expect(
                try await log.append(day: "20261207", id: "a\(i)", caseNumber: "C\(i)", box: Self.box(i)) == false)
        }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await log.append(day: "20261207", id: "b\(i)", caseNumber: "D\(i)", box: Self.box(i))
                }
            }
            for try await committed in group { #expect(committed == false, "no rows: nothing to commit") }
        }
        #expect(try log.records().count == 36)
    }

    @Test func submissionIdsAreLowerCaseUUIDs() {
        let ids = (0..<200).map { _ in SubmissionStore.newId() }
        #expect(Set(ids).count == 200)
        for id in ids {
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
        }
    }

    @Test func sealJSONReadsBackAsJSONEncoderWritesIt() throws {
        let people = [
            applicant,
            ApplicantData(
                idNumber: applicant.idNumber, name: "测\"试\\二\n\t\u{1}\u{1F}é😀", cardType: "hmt", phone: ""),
        ]
        for person in people {
            for attachments in [
                [],
                [
                    SealedManifest.File(
                        name: "m\"1.jpg", contentType: "image/jpeg", size: 123_456, sha256: "ab", file: "x/m1.jpg.enc")
                ],
            ] {
                for (assisted, supplement) in [(nil, nil), ("staff-07", "0f0e"), (nil, "s")] as [(String?, String?)] {
                    let m = SealedManifest(
                        submissionId: "0f0e0d0c", caseNumber: "GH202612070001", itemCode: "XY-T-001",
                        itemName: "老年人高龄补贴发放 \"/\\", stationId: "XY-TEST-001", sealedAt: 1_765_100_000.123456,
                        applicant: person, assistedBy: assisted, supplementOf: supplement, attachments: attachments)
                    let sorted = JSONEncoder()
                    sorted.outputFormatting = .sortedKeys
                    let decoded = try JSONDecoder().decode(SealedManifest.self, from: try SealJSON.encode(m))
                    #expect(try sorted.encode(decoded) == sorted.encode(m))
                    #expect(decoded.sealedAt == m.sealedAt)
                    #expect(try JSONDecoder().decode(ApplicantData.self, from: SealJSON.encode(person)) == person)
                }
            }
        }
        let inf = SealedManifest(
            submissionId: "a", caseNumber: "b", itemCode: "c", itemName: "d", stationId: "e", sealedAt: .infinity,
            applicant: applicant, assistedBy: nil, supplementOf: nil, attachments: [])
        #expect(throws: EncodingError.self) { try SealJSON.encode(inf) }
    }

    @Test func theSealsRowInsertWritesWhatTheRecordInsertWrites() throws {
        let o = try makeOutbox(tempDir())
        func record(_ id: String, _ n: Int) -> SubmissionRecord {
            SubmissionRecord(
                id: id, caseNumber: "GH20261207000\(n)", itemCode: "XY-T-001", itemName: "老年人高龄补贴发放",
                stationId: "XY-TEST-001", sealedAt: Date(timeIntervalSince1970: 1_765_100_000.25), state: .sealed,
                upstreamState: nil, attempts: 0, nextAttemptAt: Date(timeIntervalSince1970: 1_765_100_001.5),
                lastError: nil, uploadedAt: nil, idLookup: "lookup", personal: Data([1, 2, 3]), assistedBy: "staff-07",
                receiptPrintedAt: nil, purgedAt: nil)
        }
        try o.database.pool.write { db in
            try record("a", 1).insertSealed(db)
            try record("b", 2).insert(db)
        }
        let rows = try o.database.pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM submission ORDER BY id") }
        #expect(rows.count == 2)
        for column in rows[0].columnNames where !["id", "case_number"].contains(column) {
            #expect(rows[0][column] as DatabaseValue == rows[1][column] as DatabaseValue, "\(column)")
        }
    }
}
