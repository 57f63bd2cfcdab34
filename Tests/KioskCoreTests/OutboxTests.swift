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
        #expect(files.sorted() == ["@manifest.enc", "material-1.jpg.enc"])
        let manifest = try #require(
            FileManager.default.contents(atPath: dir + "/state/attachments/\(s.id)/@manifest.enc"))
        #expect(manifest.range(of: Data("110105200001010016".utf8)) == nil)
        #expect(manifest.range(of: Data(s.caseNumber.utf8)) == nil)
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
    /// behind), and a seal without attachments makes no directory at all: its commit is its only fsync.
    @Test func sealWritesFilesInPlaceWithTheirRecoveryManifest() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let atts = (1...3).map {
            NewAttachment(name: "material-\($0).jpg", contentType: "image/jpeg", data: jpeg(3000 * $0))
        }
        let s = try await o.submissions.seal(
            NewSubmission(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant, attachments: atts))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/state/attachments/" + s.id).sorted()
        // No temp file is left: each file is written in place, beside the encrypted manifest.
        #expect(files == ["@manifest.enc", "material-1.jpg.enc", "material-2.jpg.enc", "material-3.jpg.enc"])
        let p = try #require(try await o.uploads.nextDue().due)
        #expect(try p.attachments.map { try o.uploads.attachmentData($0) } == atts.map(\.data))
        let bare = try await o.submissions.seal(
            NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        // Without attachments the folder holds only the manifest `kioskctl outbox recover` reads.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir + "/state/attachments/" + bare.id) == [
                "@manifest.enc"
            ])
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

    @Test func onlySealJournalLeftoversAreRemovedAtOpen() async throws {
        let dir = tempDir()
        _ = try makeOutbox(dir)
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
