import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import IntakeServer
import KioskProtocols
import Logging
import Testing
@testable import KioskCore

// Issue 17, points 1 and 2 on the kiosk side: a lost database is refused, not replaced; case
// numbers survive it; `recover` rebuilds from the encrypted files; quarantine only for proven causes.

func sealOne(_ o: OutboxStores, bytes: Int = 2000) async throws -> SubmissionSummary {
    try await o.submissions.seal(
        NewSubmission(
            itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
            attachments: [
                NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(bytes)),
                NewAttachment(name: "material-2.jpg", contentType: "image/jpeg", data: jpeg(bytes + 7)),
            ]))
}

func removeDatabase(_ state: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(state + "/outbox.sqlite" + suffix) }
}

func recover(_ dir: String) async throws -> RecoveryReport {
    try await OutboxRecovery.recover(
        stateDirectory: dir + "/state",
        cipher: AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32))), stationId: "XY-TEST-001",
        casePrefix: "GH")
}

@Suite struct OutboxLossTests {
    @Test func aMissingEmptyOrUnreadableDatabaseIsRefusedNotReplaced() async throws {
        let dir = tempDir()
        let state = dir + "/state"
        let o = try makeOutbox(dir)
        let s = try await sealOne(o)
        try o.database.close()
        let keep = dir + "/kept.sqlite"
        try FileManager.default.moveItem(atPath: state + "/outbox.sqlite", toPath: keep)

        // Missing (a technician moved it out to inspect it).
        let missing = #expect(throws: OutboxLostError.self) { try makeOutbox(dir) }
        #expect(missing?.problem == "missing")
        #expect(missing?.evidence.contains { $0.contains("attachment folder") } == true)
        #expect(missing?.evidence.contains { $0.contains("station identity") } == true)
        #expect(missing?.description.contains("restore outbox.sqlite") == true)
        #expect(missing?.description.contains("kioskctl outbox recover") == true)
        #expect(!FileManager.default.fileExists(atPath: state + "/outbox.sqlite"))  // nothing created
        #expect(FileManager.default.fileExists(atPath: state + "/attachments/" + s.id))  // nothing deleted

        // Empty (a zero-byte file after a disk error).
        FileManager.default.createFile(atPath: state + "/outbox.sqlite", contents: Data())
        let empty = #expect(throws: OutboxLostError.self) { try makeOutbox(dir) }
        #expect(empty?.problem == "empty")

        // Unreadable (not a database).
        FileManager.default.createFile(atPath: state + "/outbox.sqlite", contents: Data(repeating: 0x5A, count: 8192))
        let unreadable = #expect(throws: OutboxLostError.self) { try makeOutbox(dir) }
        #expect(unreadable?.problem.hasPrefix("unreadable") == true)

        // A database without the outbox's tables (a fresh file put in its place).
        unlink(state + "/outbox.sqlite")
        let fresh = tempDir()
        let other = try makeOutbox(fresh)
        try await other.database.pool.write { db in try db.execute(sql: "DROP TABLE submission") }
        try other.database.close()
        try FileManager.default.copyItem(atPath: fresh + "/state/outbox.sqlite", toPath: state + "/outbox.sqlite")
        let noTables = #expect(throws: OutboxLostError.self) { try makeOutbox(dir) }
        #expect(noTables?.problem.hasPrefix("empty") == true)

        // Restored: it opens and nothing was lost.
        unlink(state + "/outbox.sqlite")
        try FileManager.default.moveItem(atPath: keep, toPath: state + "/outbox.sqlite")
        let back = try makeOutbox(dir)
        #expect(try back.submissions.submission(id: s.id)?.caseNumber == s.caseNumber)

        // A directory that never held an outbox still starts fresh.
        #expect(throws: Never.self) { try makeOutbox(tempDir()) }
    }

    @Test func caseNumbersAreNeverReusedWhenTheDatabaseIsLost() async throws {
        let dir = tempDir()
        let state = dir + "/state"
        let o = try makeOutbox(dir)
        var issued: [String] = []
        for _ in 0..<3 { issued.append(try await sealOne(o).caseNumber) }
        try o.database.close()
        // Everything but the counter file is gone: database, WAL, attachment folders, seal log, identity.
        removeDatabase(state)
        try FileManager.default.removeItem(atPath: state + "/attachments")
        try FileManager.default.removeItem(atPath: state + "/seal-log")
        unlink(state + "/station.json")
        let lost = #expect(throws: OutboxLostError.self) { try makeOutbox(dir) }
        #expect(lost?.evidence == ["case counter case-counter"])
        let report = try await recover(dir)
        #expect(report.databaseProblem == "missing")
        #expect(report.rebuilt.isEmpty)
        let again = try makeOutbox(dir)
        let next = try await sealOne(again)
        #expect(!issued.contains(next.caseNumber))
        #expect(Int(next.caseNumber.suffix(4)) == Int(issued.last!.suffix(4))! + 1)
    }

    @Test func recoverRebuildsFromTheEncryptedFilesAndSaysWhatItCouldNot() async throws {
        let dir = tempDir()
        let state = dir + "/state"
        let o = try makeOutbox(dir)
        let a = try await sealOne(o)
        let b = try await sealOne(o)
        let c = try await sealOne(o)
        try await o.staff.add(
            staffId: "S001", name: "测试五", role: .window, idNumber: "911840198001010013",
            pinHash: PINHash.make(pin: "2468", iterations: 1000))
        try o.database.close()
        // c's second scan is altered; a folder from an older version has no manifest.
        let altered = state + "/attachments/\(c.id)/material-2.jpg.enc"
        var bytes = try #require(FileManager.default.contents(atPath: altered))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: altered))
        try FileManager.default.createDirectory(
            atPath: state + "/attachments/0ld-f0lder", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: state + "/attachments/0ld-f0lder/material-1.jpg.enc", contents: Data([1]))
        removeDatabase(state)

        let report = try await recover(dir)
        #expect(report.databaseProblem == "missing")
        #expect(report.rebuilt == [a.caseNumber, b.caseNumber].sorted())
        #expect(report.rebuiltWithDamage == [c.caseNumber])
        #expect(report.notRebuilt["0ld-f0lder"]?.contains("older version") == true)
        #expect(report.lost.contains { $0.contains("staff registry") })
        #expect(FileManager.default.fileExists(atPath: state + "/attachments/0ld-f0lder/material-1.jpg.enc"))

        let r = try makeOutbox(dir)
        let p = try #require(try await r.uploads.nextDue().due)
        #expect(p.manifest.applicant == applicant)
        #expect([a.id, b.id, c.id].contains(p.summary.id))
        #expect(try r.submissions.submissions(forIDNumber: applicant.idNumber).count == 3)
        #expect(try r.audit.entries().contains { $0.action == "outbox.recover" })
        // The next number follows the highest rebuilt one.
        let d = try await sealOne(r)
        #expect(Int(d.caseNumber.suffix(4)) == Int(c.caseNumber.suffix(4))! + 1)
        // A second run finds nothing more to do and moves nothing.
        try r.database.close()
        let twice = try await recover(dir)
        #expect(twice.databaseProblem == nil && twice.rebuilt.isEmpty && twice.movedAside.isEmpty)
    }

    /// A folder sealed by an earlier version (its manifest in `@manifest.enc`, no seal-log record)
    /// is still rebuilt by recover, and numbers go on after it.
    @Test func recoverStillReadsTheManifestFilesOfEarlierVersions() async throws {
        let dir = tempDir()
        let state = dir + "/state"
        let o = try makeOutbox(dir)
        let s = try await sealOne(o)
        let rows = try #require(try await o.uploads.nextDue().due)
        try o.database.close()
        // Make it look like an earlier version's seal: manifest in the folder, nothing in the log.
        let cipher = AtRestCipher(masterKey: SymmetricKey(data: Data(repeating: 7, count: 32)))
        let legacyCase = "GH" + String(s.caseNumber.dropFirst(2).prefix(8)) + "0077"
        let manifest = SealedManifest(
            submissionId: s.id, caseNumber: legacyCase, itemCode: "XY-T-001", itemName: "老年人高龄补贴发放",
            stationId: "XY-TEST-001", sealedAt: 1_790_000_000, applicant: applicant, assistedBy: nil,
            supplementOf: nil,
            attachments: rows.attachments.map {
                .init(
                    name: $0.ref.name, contentType: $0.ref.contentType, size: $0.ref.size, sha256: $0.ref.sha256,
                    file: $0.file)
            })
        try cipher.seal(try JSONEncoder().encode(manifest)).write(
            to: URL(fileURLWithPath: state + "/attachments/\(s.id)/@manifest.enc"))
        try FileManager.default.removeItem(atPath: state + "/seal-log")
        removeDatabase(state)
        let report = try await recover(dir)
        #expect(report.rebuilt == [legacyCase])
        let r = try makeOutbox(dir)
        #expect(try r.submissions.submission(id: s.id)?.caseNumber == legacyCase)
        #expect(Int(try await sealOne(r).caseNumber.suffix(4)) == 78)
    }

    @Test func theCounterIsReconciledWithTheHighestNumberTheIntakeHolds() async throws {
        let dir = tempDir()
        let clock = StationClock.system
        let today = clock.dayKey(clock.now)
        let store = try IntakeStore(dataDirectory: dir + "/intake")
        // The intake holds GH<today>0041 from this station (the kiosk's records of it are gone).
        let o = try makeOutbox(dir)
        let seed = try await sealOne(o)
        var m = try #require(try await o.uploads.nextDue().due).manifest
        m.caseNumber = "GH\(today)0041"
        m.attachments = []
        _ = try store.putManifest(m)
        try await o.uploads.quarantine(id: seed.id, cause: .refused, reason: "test: set aside")
        try await buildIntakeApplication(
            configuration: IntakeConfiguration(
                dataDirectory: dir + "/intake", port: 0, stationTokens: [token: "XY-TEST-001"]), store: store
        ).test(.live) { client in
            var cfg = UpstreamConfig(baseURL: "http://127.0.0.1:\(client.port ?? 0)", token: token)
            cfg.stationId = "XY-TEST-001"
            let up = Uploader(
                database: o.database, client: IntakeClient(http: HTTPClient.shared, config: cfg), config: cfg,
                logger: Logger(label: "test"))
            #expect(await up.reconcileCaseNumbers())
        }
        #expect(try await sealOne(o).caseNumber == "GH\(today)0042")
        // The counter file knows the intake's number at once (the seal log holds 42 until the
        // file is next written, at close): both survive the database.
        #expect(try CaseCounterFile(stateDirectory: dir + "/state").last(day: today) == 41)
        try o.database.close()
        #expect(try CaseCounterFile(stateDirectory: dir + "/state").last(day: today) == 42)
    }

    @Test func aTornCounterSlotFallsBackToTheOtherOne() throws {
        let state = tempDir()
        let c = try CaseCounterFile(stateDirectory: state)
        try c.raise(day: "20261207", to: 5)
        try c.raise(day: "20261207", to: 6)
        // Tear the newest slot (generation 2 is slot 0).
        let fh = try FileHandle(forUpdating: URL(fileURLWithPath: state + "/case-counter"))
        try fh.seek(toOffset: 10)
        fh.write(Data("garbage".utf8))
        try fh.close()
        #expect(try CaseCounterFile(stateDirectory: state).last(day: "20261207") == 5)
    }
}

/// A reply the intake did not send, at the status a proxy or portal uses.
func proxyPage(_ status: HTTPResponse.Status) -> Response {
    Response(
        status: status, headers: [.contentType: "text/html; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: "<html><body>Proxy: 访问被拒绝 / not found</body></html>")))
}

/// Routes that answer the health check as the intake does and everything else as a proxy page.
func proxyRouter(_ status: HTTPResponse.Status) -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/v1/health") { _, _ in
        var h: HTTPFields = [.contentType: IntakeAPI.jsonContentType]
        h[.init(IntakeAPI.protocolHeader)!] = IntakeAPI.protocolVersion
        return Response(
            status: .ok, headers: h,
            body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(HealthReply()))))
    }
    for method in [HTTPRequest.Method.options, .post, .head, .patch, .put, .get] {
        router.on("/**", method: method) { _, _ in proxyPage(status) }
    }
    return router
}

@Suite(.serialized) struct QuarantineTests {
    @Test(arguments: [HTTPResponse.Status.notFound, .proxyAuthenticationRequired, .forbidden, .badRequest])
    func aProxyPageIsTransientWhateverItsStatus(status: HTTPResponse.Status) async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await sealOne(o)
        try await Application(router: proxyRouter(status)).test(.live) { client in
            let up = uploader(o, port: client.port ?? 0)
            _ = await up.runOnce()
            _ = try await o.uploads.recordFailure(id: s.id, error: "again", retryAt: Date())
            _ = await up.runOnce()
        }
        let row = try #require(try o.submissions.submission(id: s.id))
        #expect(row.state == .sealed, "HTTP \(status.code): \(row.lastError ?? "")")
        #expect(row.lastError?.contains("proxy") == true, "\(row.lastError ?? "")")
        #expect(try o.uploads.counts().quarantined == 0)
    }

    @Test func theIntakesOwnRefusalStillQuarantines() throws {
        // An ErrorReply JSON from the intake is its verdict; the same status as a page is not.
        let body = Data(#"{"error":"invalid-manifest","message":"itemCode is empty"}"#.utf8)
        #expect(IntakeClient.notFromIntake(status: 400, contentType: "application/json", body: body) == nil)
        #expect(IntakeClient.notFromIntake(status: 400, contentType: "text/html", body: Data("<html>".utf8)) != nil)
        #expect(IntakeClient.notFromIntake(status: 404, contentType: "application/json", body: Data("{}".utf8)) != nil)
        #expect(IntakeClient.notFromIntake(status: 407, contentType: "application/json", body: body) != nil)
    }

    @Test func aWrongKeyStopsTheUploaderAndRaisesTheAlarmQuarantiningNothing() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        for _ in 0..<3 { _ = try await sealOne(o) }
        try o.database.close()
        let wrong = try makeOutbox(dir, key: SymmetricKey(data: Data(repeating: 9, count: 32)))
        try await intakeApp(dir + "/intake").test(.live) { client in
            let up = uploader(wrong, port: client.port ?? 0)
            _ = await up.runOnce()
            #expect(await up.lastError?.contains("encryption.keyFile") == true)
            #expect(Uploader.keyAlarmCount(wrong.uploads) == 3)
            await up.queueHeartbeat()
        }
        // The heartbeat carries the alarm to the intake (it is sealed with the key in use).
        let hb = try #require(try await wrong.messages.dueMessages().first { $0.kind == .heartbeat })
        #expect(try JSONDecoder().decode(StationHeartbeat.self, from: hb.body).keyAlarm == 3)
        let c = try wrong.uploads.counts()
        #expect(c.quarantined == 0 && c.queued == 3 && c.keyAlarm != nil)
        #expect(try IntakeStore(dataDirectory: dir + "/intake", create: false).count() == 0)
        try wrong.database.close()
        // The right key back: everything goes up.
        let right = try makeOutbox(dir)
        try await intakeApp(dir + "/intake").test(.live) { client in
            _ = await uploader(right, port: client.port ?? 0).runOnce()
        }
        #expect(try right.uploads.counts().uploaded == 3)
        #expect(Uploader.keyAlarmCount(right.uploads) == 0)
    }

    @Test func aDeletedOrAlteredAttachmentQuarantinesWithTheTrueReasonAndRetryPutsItBack() async throws {
        let dir = tempDir()
        let state = dir + "/state"
        let o = try makeOutbox(dir)
        let gone = try await sealOne(o)
        let changed = try await sealOne(o)
        let fine = try await sealOne(o)
        let goneFile = state + "/attachments/\(gone.id)/material-1.jpg.enc"
        let saved = try #require(FileManager.default.contents(atPath: goneFile))
        unlink(goneFile)
        let changedFile = state + "/attachments/\(changed.id)/material-2.jpg.enc"
        var bytes = try #require(FileManager.default.contents(atPath: changedFile))
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: changedFile))
        try await intakeApp(dir + "/intake").test(.live) { client in
            _ = await uploader(o, port: client.port ?? 0).runOnce()
        }
        let q = try o.uploads.quarantined()
        #expect(q.map(\.caseNumber).sorted() == [gone.caseNumber, changed.caseNumber].sorted())
        #expect(q.first { $0.caseNumber == gone.caseNumber }?.cause == .attachmentMissing)
        #expect(q.first { $0.caseNumber == changed.caseNumber }?.cause == .attachmentAltered)
        #expect(q.allSatisfy { !$0.reason.contains("key") || $0.reason.contains("station key, which reads") })
        #expect(try o.submissions.submission(id: fine.id)?.state == .uploaded)
        let c = try o.uploads.counts()
        #expect(c.quarantinedByCause == ["attachment-missing": 1, "attachment-altered": 1])

        let e = try #require(try o.uploads.explain(caseNumber: gone.caseNumber))
        #expect(e.state == "quarantined" && e.quarantineCause == "attachment-missing")
        #expect(e.attachments.first { $0.name == "material-1.jpg" }?.encryptedBytesOnDisk == nil)
        #expect(e.lastError?.contains("material-1.jpg") == true)

        // --all-transient leaves proven causes alone; the technician restores the file and retries one.
        #expect(try await o.uploads.retryQuarantined(caseNumber: nil, allTransient: true, actor: "t").isEmpty)
        try saved.write(to: URL(fileURLWithPath: goneFile))
        #expect(
            try await o.uploads.retryQuarantined(caseNumber: gone.caseNumber, allTransient: false, actor: "kioskctl:T1")
                == [gone.caseNumber])
        let audit = try o.audit.entries().filter { $0.action == "outbox.retry" }
        #expect(audit.map(\.subject) == [gone.caseNumber] && audit.first?.actor == "kioskctl:T1")
        try await intakeApp(dir + "/intake").test(.live) { client in
            _ = await uploader(o, port: client.port ?? 0).runOnce()
        }
        #expect(try o.submissions.submission(id: gone.id)?.state == .uploaded)
    }

    @Test func allTransientPutsBackWhatAnOlderVersionQuarantinedWithoutACause() async throws {
        let o = try makeOutbox(tempDir())
        let s = try await sealOne(o)
        // As the old key handling and the proxy-page handling left them: quarantined, no cause.
        try await o.database.pool.write { db in
            try db.execute(
                sql: "UPDATE submission SET state = 'quarantined', last_error = 'stored submission cannot be read back'"
            )
        }
        #expect(try o.uploads.counts().quarantinedByCause == ["unknown": 1])
        #expect(
            try await o.uploads.retryQuarantined(caseNumber: nil, allTransient: true, actor: "t") == [s.caseNumber])
        #expect(try o.uploads.counts().queued == 1)
    }
}
