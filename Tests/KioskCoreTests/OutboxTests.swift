import Crypto
import Foundation
import KioskProtocols
import Testing
@testable import KioskCore

let applicant = ApplicantData(idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "outbox-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func makeOutbox(_ dir: String, key: SymmetricKey = SymmetricKey(data: Data(repeating: 7, count: 32))) throws
    -> OutboxStores
{
    try OutboxStores(
        stateDirectory: dir + "/state", cipher: AtRestCipher(masterKey: key), stationId: "XY-TEST-001", casePrefix: "GH"
    )
}

func jpeg(_ n: Int) -> Data { Data([0xFF, 0xD8]) + Data((0..<n).map { UInt8($0 % 251) }) + Data([0xFF, 0xD9]) }

@Suite struct OutboxTests {
    @Test func walWithSynchronousFullVerifiedByQuery() async throws {
        let o = try makeOutbox(tempDir())
        #expect(try o.database.synchronousLevel() == 2)  // 2 = FULL (GRDB would leave NORMAL = 1)
        #expect(try o.database.journalMode() == "wal")
    }

    @Test func sealCommitsRowsAndEncryptedFsyncedAttachments() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await o.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(5000))]))
        #expect(s.caseNumber.hasPrefix("GH"))
        #expect(s.caseNumber.count == 14)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/state/attachments/" + s.id)
        #expect(files.sorted() == ["material-1.jpg.enc"])
        // The seal log holds the encrypted manifest; only the id and case number are in clear.
        let day = String(s.caseNumber.dropFirst(2).prefix(8))
        let log = try #require(FileManager.default.contents(atPath: dir + "/state/seal-log/\(day).log"))
        #expect(log.range(of: Data("110105200001010016".utf8)) == nil)
        #expect(log.range(of: Data("测试一".utf8)) == nil)
        #expect(log.range(of: Data("老年人高龄补贴发放".utf8)) == nil)
        #expect(log.range(of: Data(s.caseNumber.utf8)) != nil)
        let stored = try #require(
            FileManager.default.contents(atPath: dir + "/state/attachments/\(s.id)/material-1.jpg.enc"))
        #expect(stored != jpeg(5000))
        #expect(stored.prefix(2) != Data([0xFF, 0xD8]))
        let c = try o.uploads.counts()
        #expect(c.queued == 1 && c.uploaded == 0 && c.attachmentsQueued == 1)
        // Nothing personal readable in the database files.
        for f in ["outbox.sqlite", "outbox.sqlite-wal"] {
            if let d = FileManager.default.contents(atPath: dir + "/state/" + f) {
                #expect(d.range(of: Data("110105200001010016".utf8)) == nil)
                #expect(d.range(of: Data("测试一".utf8)) == nil)
                #expect(d.range(of: Data("13800000000".utf8)) == nil)
            }
        }
    }

    /// The seal writes its files straight into the submission's new directory (no temp file left
    /// behind), and a seal without attachments makes no directory at all: its log record is its only fsync.
    @Test func sealWritesFilesInPlaceAndItsManifestToTheSealLog() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let atts = (1...3).map {
            NewAttachment(name: "material-\($0).jpg", contentType: "image/jpeg", data: jpeg(3000 * $0))
        }
        let s = try await o.submissions.seal(
            NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant, attachments: atts))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/state/attachments/" + s.id).sorted()
        // No temp file and no `@sealing` mark is left: each file is written in place.
        #expect(files == ["material-1.jpg.enc", "material-2.jpg.enc", "material-3.jpg.enc"])
        let p = try #require(try await o.uploads.nextDue().due)
        #expect(try p.attachments.map { try o.uploads.attachmentData($0) } == atts.map(\.data))
        let bare = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        // Without attachments there is no folder: the seal log holds the manifest recovery reads.
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/attachments/" + bare.id))
        #expect(try o.database.sealLog.records().map(\.caseNumber) == [s.caseNumber, bare.caseNumber])
        #expect(try o.submissions.submission(id: bare.id)?.caseNumber == bare.caseNumber)
        // Reopening keeps both (the attachment directory is named by its row) and drops nothing.
        _ = try makeOutbox(dir)
        #expect(FileManager.default.fileExists(atPath: dir + "/state/attachments/\(s.id)/material-3.jpg.enc"))
    }

    @Test func caseNumbersAreUniqueAndSequentialPerDay() async throws {
        let o = try makeOutbox(tempDir())
        let a = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        let b = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        #expect(a.caseNumber != b.caseNumber)
        #expect(Int(b.caseNumber.suffix(4))! == Int(a.caseNumber.suffix(4))! + 1)
    }

    @Test func residentFindsOwnSubmissionsOnly() async throws {
        let o = try makeOutbox(tempDir())
        _ = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "临时救助", applicant: applicant, attachments: []))
        #expect(try o.submissions.submissions(forIDNumber: "110105200001010016").count == 1)
        #expect(try o.submissions.submissions(forIDNumber: "110105200001010016".lowercased()).count == 1)
        #expect(try o.submissions.submissions(forIDNumber: "810000199001010027").isEmpty)
    }

    @Test func pendingUploadDecryptsWithTheRightKeyOnly() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        _ = try await o.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(100))]))
        let p = try #require(try await o.uploads.nextDue().due)
        #expect(p.manifest.applicant == applicant)
        #expect(try o.uploads.attachmentData(p.attachments[0]) == jpeg(100))
        // Another key: the key alarm, nothing due, nothing quarantined, no new seal with that key.
        let wrong = try makeOutbox(dir, key: SymmetricKey(data: Data(repeating: 9, count: 32)))
        #expect(wrong.database.keyProblem?.contains("keyFile") == true)
        await #expect(throws: KeyAlarm.self) { _ = try await wrong.uploads.nextDue() }
        #expect(try wrong.uploads.counts().quarantined == 0)
        #expect(try wrong.uploads.counts().keyAlarm != nil)
        await #expect(throws: OutboxError.self) {
            _ = try await wrong.submissions.seal(
                NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        }
        // The right key back: the same submission is due, untouched.
        let right = try makeOutbox(dir)
        #expect(right.database.keyProblem == nil)
        #expect(try await right.uploads.nextDue().due?.manifest.applicant == applicant)
    }

    /// A power cut after the seal-log record was synced and before the rows' commit (not fsynced
    /// of its own) reached the disk: the next start writes the rows back from the record.
    @Test func rowsAPowerCutLostAreWrittenBackFromTheSealLog() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await sealOne(o)
        let bare = try await o.submissions.seal(
            NewSubmission(
                itemCode: "c", itemName: "n", applicant: applicant, attachments: [], supplementOf: s.id))
        // What the lost commit would have left: no rows at all.
        try await o.database.pool.write { db in
            try db.execute(sql: "DELETE FROM supplement")
            try db.execute(sql: "DELETE FROM attachment")
            try db.execute(sql: "DELETE FROM submission")
            try db.execute(sql: "DELETE FROM case_counter")
        }
        // No orderly close (the counter file is not written): the numbers must come from the log.
        unlink(dir + "/state/case-counter")
        let again = try makeOutbox(dir)
        #expect(again.database.replayedAtStart.written.map(\.caseNumber) == [s.caseNumber, bare.caseNumber])
        #expect(try again.submissions.submission(id: s.id)?.caseNumber == s.caseNumber)
        #expect(try again.submissions.submissions(forIDNumber: applicant.idNumber).count == 2)
        #expect(try CaseEvents(database: again.database).supplementOf(submissionId: bare.id) == s.id)
        let p = try #require(try await again.uploads.nextDue().due)
        #expect(p.summary.id == s.id)
        #expect(try p.attachments.map { try again.uploads.attachmentData($0) } == [jpeg(2000), jpeg(2007)])
        // Numbers go on after the highest in the log, and a second start writes nothing twice.
        let next = try await sealOne(again)
        #expect(Int(next.caseNumber.suffix(4)) == Int(bare.caseNumber.suffix(4))! + 1)
        try again.database.close()
        #expect(try makeOutbox(dir).database.replayedAtStart.written.isEmpty)
    }

    /// Seals that wait together share the log's write and fdatasync; each still gets its own
    /// number and record, and a torn record at the end (a cut mid-append) is cut off at the next open.
    @Test func concurrentSealsShareTheLogAndATornTailIsCutOff() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let sealed = try await withThrowingTaskGroup(of: SubmissionSummary.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await o.submissions.seal(
                        NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(sealed.map(\.caseNumber)).count == 24)
        #expect(Set(try o.database.sealLog.records().map(\.id)) == Set(sealed.map(\.id)))
        let day = try #require(o.database.sealLog.days().last)
        try o.database.close()
        // Torn: a record's head and part of its payload right after the last whole record.
        let path = dir + "/state/seal-log/\(day).log"
        let end = SealLog.decode(try #require(try SealLog.read(path)), day: day).validEnd
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seek(toFileOffset: UInt64(end))
        handle.write(Data("SLR1".utf8) + Data([0x40, 0, 0, 0]) + Data(repeating: 0x33, count: 20))
        handle.closeFile()
        let again = try makeOutbox(dir)
        let more = try await sealOne(again)
        #expect(try again.database.sealLog.records().count == 25)
        #expect(try again.database.sealLog.records().last?.id == more.id)
        // The next record went where the torn one was; nothing after the records but zeros.
        let bytes = try #require(try SealLog.read(path))
        let decoded = SealLog.decode(bytes, day: day)
        #expect(!decoded.damaged && bytes[decoded.validEnd...].allSatisfy { $0 == 0 })

        // Damage in the middle (a flipped bit in record 3) loses that record only, and nothing is cut.
        try again.database.close()
        var damaged = bytes
        let third = SealLog.decode(bytes, day: day).records[2]
        let at = try #require(bytes.firstRange(of: Array("\(third.id) ".utf8))?.lowerBound)
        damaged[at] ^= 0x01
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        let read = SealLog.decode(try #require(try SealLog.read(path)), day: day)
        #expect(read.damaged && read.records.count == 24 && !read.records.contains { $0.id == third.id })
        let last = try makeOutbox(dir)
        _ = try await sealOne(last)
        #expect(try last.database.sealLog.records().count == 25)
    }

    /// Retention drops the seal log's copies of purged submissions with their files.
    @Test func retentionCompactsTheSealLog() async throws {
        let dir = tempDir()
        let clock = TestClock()
        let o = try OutboxStores(
            stateDirectory: dir + "/state",
            cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))),
            stationId: "XY-TEST-001", casePrefix: "GH", clock: .fixed { clock.now })
        let a = try await sealOne(o)
        let b = try await sealOne(o)
        try await o.uploads.markUploaded(id: a.id, upstreamState: .accepted)
        clock.advance(days: 31)
        #expect(try await o.retention.purgeConfirmed(olderThanDays: 30) == 1)
        // a's record went with its files; b (never confirmed) keeps its own.
        #expect(try o.database.sealLog.records().map(\.id) == [b.id])
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/attachments/" + a.id))
        // The counter file kept the day's highest number before the record went.
        let day = String(b.caseNumber.dropFirst(2).prefix(8))
        #expect(try CaseCounterFile(stateDirectory: dir + "/state").last(day: day) == Int(b.caseNumber.suffix(4)))
    }

    /// A folder still marked `@sealing` whose seal has a log record returned (a receipt may be
    /// printed): kept, even when its rows cannot be written back at this start (wrong key).
    @Test func aMarkedFolderWithALogRecordIsNeverRemoved() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await sealOne(o)
        // The power cut lost the rows and the unlink of the mark.
        try await o.database.pool.write { db in
            try db.execute(sql: "DELETE FROM attachment")
            try db.execute(sql: "DELETE FROM submission")
        }
        _ = FileManager.default.createFile(atPath: dir + "/state/attachments/\(s.id)/@sealing", contents: Data())
        let wrongKey = try makeOutbox(dir, key: SymmetricKey(data: Data(repeating: 9, count: 32)))
        #expect(wrongKey.database.keyProblem != nil)
        #expect(FileManager.default.fileExists(atPath: dir + "/state/attachments/\(s.id)/material-1.jpg.enc"))
        let right = try makeOutbox(dir)
        #expect(right.database.replayedAtStart.written.map(\.caseNumber) == [s.caseNumber])
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/attachments/\(s.id)/@sealing"))
        let p = try #require(try await right.uploads.nextDue().due)
        #expect(try p.attachments.map { try right.uploads.attachmentData($0) } == [jpeg(2000), jpeg(2007)])
    }

    @Test func onlyLeftoversOfSealsInProgressAreRemovedAtOpen() async throws {
        let dir = tempDir()
        _ = try makeOutbox(dir)
        // A seal of this version that crashed before its log record: a folder with the `@sealing` mark.
        let marked = dir + "/state/attachments/0badc0de"
        try FileManager.default.createDirectory(atPath: marked, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marked + "/@sealing", contents: Data())
        _ = FileManager.default.createFile(atPath: marked + "/x.enc", contents: Data([1]))
        // A seal that crashed before its rows committed: journal entry + folder.
        let leftover = dir + "/state/attachments/deadbeef"
        try FileManager.default.createDirectory(atPath: leftover, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: leftover + "/x.enc", contents: Data([1]))
        try FileManager.default.createDirectory(atPath: dir + "/state/seal-journal", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/state/seal-journal/deadbeef", contents: Data())
        // A folder no row and no journal entry accounts for: kept, and reported.
        let unknown = dir + "/state/attachments/cafebabe"
        try FileManager.default.createDirectory(atPath: unknown, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: unknown + "/x.enc", contents: Data([1]))
        let o = try makeOutbox(dir)
        #expect(!FileManager.default.fileExists(atPath: marked))
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(!FileManager.default.fileExists(atPath: dir + "/state/seal-journal/deadbeef"))
        #expect(FileManager.default.fileExists(atPath: unknown + "/x.enc"))
        #expect(try o.database.unaccountedFolders() == ["cafebabe"])
    }

    @Test func failuresBackOffAndQuarantineKeepsTheRow() async throws {
        let o = try makeOutbox(tempDir())
        let s = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        try await o.uploads.recordFailure(id: s.id, error: "down", retryAt: Date().addingTimeInterval(60))
        let n = try await o.uploads.nextDue()
        #expect(n.due == nil)
        #expect(n.nextAt != nil)
        try await o.uploads.quarantine(id: s.id, cause: .refused, reason: "HTTP 400")
        #expect(try o.uploads.counts().quarantined == 1)
        #expect(try o.submissions.submission(id: s.id)?.lastError == "HTTP 400")
    }

    @Test func aRetryTimeFarInTheFutureCountsAsDue() async throws {
        let o = try makeOutbox(tempDir())
        let s = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        try await o.uploads.recordFailure(
            id: s.id, error: "clock was years ahead", retryAt: Date().addingTimeInterval(86400 * 400))
        #expect(try await o.uploads.nextDue(maxDelay: 600).due?.summary.id == s.id)
    }

    @Test func evaluationsAreRecordedAndValidated() async throws {
        let o = try makeOutbox(tempDir())
        try await o.messages.recordEvaluation(caseNumber: "GH1", level: 5, reason: nil)
        await #expect(throws: OutboxError.self) {
            try await o.messages.recordEvaluation(caseNumber: "GH1", level: 9, reason: nil)
        }
        #expect(try o.messages.evaluations().count == 1)
    }

    @Test func keyFilesAreReadAndBadOnesExplained() async throws {
        let dir = tempDir()
        try AtRestCipher.generateKeyFile(path: dir + "/k")
        _ = try AtRestCipher.loadKey(path: dir + "/k")
        #expect(throws: KeyError.self) { try AtRestCipher.generateKeyFile(path: dir + "/k") }
        _ = FileManager.default.createFile(atPath: dir + "/bad", contents: Data("short".utf8))
        #expect(throws: KeyError.self) { _ = try AtRestCipher.loadKey(path: dir + "/bad") }
    }
}

@Suite struct CatalogTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func catalogHasAllSeedItems() async throws {
        let c = try Catalog.load(
            catalogFile: root.appendingPathComponent("kiosk-config/catalog.json").path,
            guidesDirectory: root.appendingPathComponent("kiosk-config/guides").path)
        #expect(c.items(level: .town).count == 99)
        #expect(c.items(level: .village).count == 43)
        #expect(Set(c.items.map(\.code)).count == 142)
        #expect(c.items.contains { $0.name == "城乡居民基本养老保险变更登记（性别、民族、居住地址、联系电话变更）" })
        #expect(c.guides.count >= 5)
        #expect(c.guides.values.allSatisfy { $0.sample })
        #expect(c.categories(level: .town).count <= 9)
    }

    @Test func malformedCatalogGivesAClearError() async throws {
        let dir = tempDir()
        _ = FileManager.default.createFile(atPath: dir + "/c.json", contents: Data("{\"items\": 3}".utf8))
        do {
            _ = try Catalog.load(catalogFile: dir + "/c.json", guidesDirectory: nil)
            Issue.record("should fail")
        } catch let e as CatalogError { #expect(e.description.contains("build-catalog")) }
    }
}
