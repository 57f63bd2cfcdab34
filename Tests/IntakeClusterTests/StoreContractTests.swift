// The same checks against both engines: SQLite (IntakeStore) and PostgreSQL (PostgresIntakeStore
// on a throwaway server). Whatever the routes rely on must hold for either.

import Crypto
import KioskTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IntakeServer
import Logging
import PostgresNIO
import Testing

// MARK: Fixtures (made-up people only)

let fixtureApplicant = ApplicantData(
    idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")

func bytes(_ n: Int, seed: Int = 1) -> Data { Data((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }) }

func hex(_ d: Data) -> String { SHA256.hash(data: d).map { String(format: "%02x", $0) }.joined() }

func manifest(_ id: String, station: String = "XY-C-001", caseNumber: String, attachments: [(String, Data)])
    -> SubmissionManifest
{
    SubmissionManifest(
        submissionId: id, caseNumber: caseNumber, stationId: station, itemCode: "XY-T-001", itemName: "测试事项",
        submittedAt: "2026-11-01T08:00:00Z", applicant: fixtureApplicant,
        attachments: attachments.map {
            AttachmentRef(name: $0.0, contentType: "image/jpeg", size: $0.1.count, sha256: hex($0.1))
        })
}

func tempFolder(_ prefix: String = "intake-contract") -> String {
    let d = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A finished file on the data directory's file system, as a PUT body or a tus upload leaves it.
func stage(_ store: any IntakeStorage, _ data: Data) throws -> String {
    let f = try store.makeStagingFile()
    try data.withUnsafeBytes { try f.write($0) }
    _ = try f.finish()
    return f.path
}

// MARK: The throwaway PostgreSQL server, one per test process, a database per test

nonisolated(unsafe) private var startedPostgres: ThrowawayPostgres?
private let sharedPostgres: Result<ThrowawayPostgres, any Error> = {
    do {
        let pg = try ThrowawayPostgres()
        try pg.start()
        startedPostgres = pg
        atexit { startedPostgres?.stop() }
        return .success(pg)
    } catch {
        return .failure(error)
    }
}()

func postgres() throws -> ThrowawayPostgres { try sharedPostgres.get() }

/// A new empty database on the shared server; its URL.
func newDatabase() throws -> String {
    let pg = try postgres()
    let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    _ = try pg.psql("CREATE DATABASE \(name)")
    return "postgres://postgres@127.0.0.1:\(pg.port)/\(name)?sslmode=disable"
}

/// Runs `body` with a PostgresIntakeStore whose client runs beside it.
func withPostgresStore<T: Sendable>(
    url: String, dir: String, lockWait: Duration = .seconds(60),
    _ body: @escaping @Sendable (PostgresIntakeStore) async throws -> T
) async throws -> T {
    let client = PostgresClient(
        configuration: try PostgresIntakeStore.configuration(url: url), backgroundLogger: Logger(label: "pg"))
    let store = try PostgresIntakeStore(
        client: client, dataDirectory: dir, logger: Logger(label: "store"), uploadLockWait: lockWait)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        group.addTask {
            try await store.migrate()
            return try await body(store)
        }
        defer { group.cancelAll() }
        while let r = try await group.next() { if let r { return r } }
        throw ServerError("the PostgreSQL client stopped")
    }
}

/// Runs `body` on a fresh store of the named engine.
func withStore<T: Sendable>(_ engine: String, _ body: @escaping @Sendable (any IntakeStorage, String) async throws -> T)
    async throws -> T
{
    let dir = tempFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    if engine == "sqlite" {
        return try await body(try IntakeStore(dataDirectory: dir), dir)
    }
    return try await withPostgresStore(url: try newDatabase(), dir: dir) { try await body($0, dir) }
}

let engines = ["sqlite", "postgres"]

// MARK: The contract

@Suite(.serialized) struct StoreContractTests {
    @Test(arguments: engines) func attachmentsAreStoredOnceAndNeverChange(engine: String) async throws {
        try await withStore(engine) { store, dir in
            let a = bytes(3000)
            let first = try await store.commitAttachment(
                submissionId: "sub-1", name: "material-1.jpg", file: try stage(store, a),
                discard: {}, size: a.count, sha256: hex(a))
            #expect(
                first
                    == .created(
                        AttachmentReceipt(submissionId: "sub-1", name: "material-1.jpg", size: 3000, sha256: hex(a))))
            let again = try stage(store, a)
            #expect(
                try await store.commitAttachment(
                    submissionId: "sub-1", name: "material-1.jpg", file: again,
                    discard: { DurableFile.remove(again) }, size: a.count, sha256: hex(a))
                    == .identical(
                        AttachmentReceipt(submissionId: "sub-1", name: "material-1.jpg", size: 3000, sha256: hex(a))))
            #expect(!FileManager.default.fileExists(atPath: again), "a repeat's file is discarded")
            let b = bytes(3000, seed: 9)
            let other = try stage(store, b)
            guard
                case .conflict = try await store.commitAttachment(
                    submissionId: "sub-1", name: "material-1.jpg", file: other,
                    discard: { DurableFile.remove(other) }, size: b.count, sha256: hex(b))
            else {
                Issue.record("different bytes under the same name must conflict")
                return
            }
            let path = try #require(try await store.attachmentPath(submissionId: "sub-1", name: "material-1.jpg"))
            #expect(path.hasPrefix(dir + "/files/sub-1/"))
            #expect(FileManager.default.contents(atPath: path) == a)
            #expect(try await store.attachments(submissionId: "sub-1").map(\.name) == ["material-1.jpg"])

            // Once the manifest is accepted, a name it does not list is refused.
            _ = try await store.putManifest(
                manifest("sub-1", caseNumber: "C-1", attachments: [("material-1.jpg", a)]), now: Date())
            let late = try stage(store, b)
            #expect(
                try await store.commitAttachment(
                    submissionId: "sub-1", name: "material-2.jpg", file: late,
                    discard: { DurableFile.remove(late) }, size: b.count, sha256: hex(b)) == .submissionClosed)
        }
    }

    @Test(arguments: engines) func manifestsAreIdempotentAndCaseNumbersUniquePerStation(engine: String) async throws {
        try await withStore(engine) { store, _ in
            let a = bytes(1200)
            let m = manifest("sub-a", caseNumber: "GH-20261101-0001", attachments: [("material-1.jpg", a)])
            guard case .missingAttachments(let missing) = try await store.putManifest(m, now: Date()) else {
                Issue.record("a manifest before its attachment must be refused")
                return
            }
            #expect(missing == [AttachmentProblem(name: "material-1.jpg", reason: "not-uploaded")])
            _ = try await store.commitAttachment(
                submissionId: "sub-a", name: "material-1.jpg", file: try stage(store, a), discard: {},
                size: a.count, sha256: hex(a))
            guard case .created(let receipt) = try await store.putManifest(m, now: Date()) else {
                Issue.record("not created")
                return
            }
            #expect(try await store.putManifest(m, now: Date().addingTimeInterval(60)) == .identical(receipt))
            var changed = m
            changed.itemCode = "XY-T-002"
            #expect(try await store.putManifest(changed, now: Date()) == .conflict(existing: receipt))

            // Another id with the same case number at the same station: refused. At another station: fine.
            let same = manifest("sub-b", caseNumber: "GH-20261101-0001", attachments: [])
            #expect(
                try await store.putManifest(same, now: Date())
                    == .caseNumberTaken(caseNumber: "GH-20261101-0001", submissionId: "sub-a"))
            let elsewhere = manifest("sub-c", station: "XY-C-002", caseNumber: "GH-20261101-0001", attachments: [])
            guard case .created = try await store.putManifest(elsewhere, now: Date()) else {
                Issue.record("other station refused")
                return
            }

            #expect(try await store.count() == 2)
            #expect(try await store.submissionExists("sub-a"))
            #expect(try await !store.submissionExists("sub-b"))
            #expect(try await store.stationId(submissionId: "sub-c") == "XY-C-002")
            #expect(try await store.manifest(submissionId: "sub-a") == m)
            #expect(try await store.list(stationId: "XY-C-001").map(\.submissionId) == ["sub-a"])
            let moved = try #require(
                try await store.setState(submissionId: "sub-a", state: .inReview, note: "审核中", now: Date()))
            #expect(moved.state == .inReview && moved.note == "审核中")
            #expect(try await store.setState(submissionId: "nope", state: .inReview, note: nil, now: Date()) == nil)
            #expect(try await store.summaries().map(\.attachmentCount).sorted() == [0, 1])
        }
    }

    @Test(arguments: engines) func tusStateLivesInTheStore(engine: String) async throws {
        try await withStore(engine) { store, _ in
            let up = try await store.createUpload(
                length: 100, metadata: "name bWF0ZXJpYWwtMS5qcGc=", submissionId: "sub-t", name: "material-1.jpg",
                sha256: nil, stationId: "XY-C-001", expiresAt: Date().addingTimeInterval(3600),
                alreadyComplete: false)
            #expect(FileManager.default.fileExists(atPath: store.uploadPath(up.id)))
            var stored = try #require(try await store.tusUpload(id: up.id))
            #expect(abs(stored.expiresAt.timeIntervalSince(up.expiresAt)) < 0.001)
            stored.expiresAt = up.expiresAt
            #expect(stored == up)
            try await store.setUploadOffset(id: up.id, offset: 40, completed: false)
            #expect(try await store.tusUpload(id: up.id)?.offset == 40)
            #expect(try await store.openUploadCount() == 1)
            try await store.setUploadOffset(id: up.id, offset: 100, completed: true)
            #expect(try await store.openUploadCount() == 0)
            let old = try await store.createUpload(
                length: 5, metadata: "", submissionId: nil, name: nil, sha256: nil, stationId: nil,
                expiresAt: Date().addingTimeInterval(-1), alreadyComplete: false)
            #expect(try await store.purgeExpired() == 1)
            #expect(try await store.tusUpload(id: old.id) == nil)
            #expect(!FileManager.default.fileExists(atPath: store.uploadPath(old.id)))
            #expect(try await store.tusUpload(id: up.id) != nil)
        }
    }

    @Test(arguments: engines) func heartbeatsCertificatesAndTheFleetView(engine: String) async throws {
        try await withStore(engine) { store, dir in
            func hb(_ id: String, _ station: String, queue: Int, software: String? = nil) -> StationHeartbeat {
                StationHeartbeat(
                    heartbeatId: id, stationId: station, sentAt: "2026-11-01T08:00:00Z",
                    devices: [
                        DeviceReport(
                            kind: "receiptPrinter", state: queue > 1 ? "hardwareError" : "online", simulated: true)
                    ],
                    queueDepth: queue, quarantined: 0, freeDiskBytes: 5_000_000_000, acceptingSubmissions: true,
                    oldestQueuedSeconds: queue > 0 ? 120 : nil, softwareVersion: software,
                    bundleVersion: software.map { _ in "abcdef012345" },
                    freeDiskFloorBytes: 200_000_000, keyAlarm: 0)
            }
            guard case .created = try await store.putHeartbeat(hb("hb-1", "XY-C-001", queue: 0, software: "0.4.0"))
            else {
                Issue.record("hb-1")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
            guard case .created = try await store.putHeartbeat(hb("hb-2", "XY-C-001", queue: 3, software: "0.4.0"))
            else {
                Issue.record("hb-2")
                return
            }
            guard case .identical = try await store.putHeartbeat(hb("hb-2", "XY-C-001", queue: 3, software: "0.4.0"))
            else {
                Issue.record("repeat")
                return
            }
            #expect(try await store.putHeartbeat(hb("hb-2", "XY-C-001", queue: 4)) == .conflict)
            // An older kiosk's heartbeat, without the optional fields, still decodes.
            let oldJSON =
                #"{"heartbeatId":"hb-old","stationId":"XY-C-002","sentAt":"2026-11-01T08:00:00Z","devices":[],"queueDepth":0,"quarantined":1,"freeDiskBytes":-1,"acceptingSubmissions":true}"#
            let old = try JSONDecoder().decode(StationHeartbeat.self, from: Data(oldJSON.utf8))
            #expect(old.softwareVersion == nil && old.oldestQueuedSeconds == nil)
            guard case .created = try await store.putHeartbeat(old) else {
                Issue.record("old")
                return
            }
            _ = try await store.putManifest(
                manifest("sub-x", station: "XY-C-003", caseNumber: "C-9", attachments: []), now: Date())

            let latest = try await store.latestHeartbeats()
            #expect(latest.map(\.stationId) == ["XY-C-001", "XY-C-002"])
            #expect(latest.first?.heartbeat.heartbeatId == "hb-2")
            #expect(try await store.knownStations() == ["XY-C-001", "XY-C-002", "XY-C-003"])

            let fleet = try await FleetView.stations(store: store, now: Date(), silentAfter: 900)
            #expect(fleet.map(\.stationId) == ["XY-C-001", "XY-C-002", "XY-C-003"])
            #expect(fleet[0].silent == false && fleet[0].queueDepth == 3 && fleet[0].oldestQueuedSeconds == 120)
            #expect(fleet[0].devicesDown == ["receiptPrinter=hardwareError"])
            #expect(fleet[0].softwareVersion == "0.4.0" && fleet[0].bundleVersion == "abcdef012345")
            #expect(fleet[1].freeDiskBytes == nil && fleet[1].softwareVersion == nil && fleet[1].quarantined == 1)
            #expect(fleet[2].silent && fleet[2].lastHeartbeatAt == nil && fleet[2].submissions == 1)
            let later = try await FleetView.stations(
                store: store, now: Date().addingTimeInterval(1000), silentAfter: 900)
            let allSilent = later.allSatisfy { $0.silent }
            #expect(allSilent)
            let table = FleetView.table(fleet)
            #expect(table.count == 4)
            #expect(table[1].hasPrefix("*") && table[1].contains("receiptPrinter=hardwareError"))
            #expect(table[3].hasPrefix("!") && table[3].contains("never"))

            // Certificates: the file on the shared directory, the state moves, the reference is found.
            let pdf = Data("%PDF-1.4 示例".utf8)
            let st = try #require(
                try await store.issueCertificate(
                    submissionId: "sub-x", data: pdf, contentType: "application/pdf", note: "请到窗口领取"))
            #expect(st.state == .certificateReady)
            let ref = try #require(st.certificate)
            #expect(ref.sha256 == hex(pdf) && ref.size == pdf.count)
            let file = try #require(try await store.certificateFile(ref: ref.ref))
            #expect(file.submissionId == "sub-x" && file.path.hasPrefix(dir + "/certificates/"))
            #expect(FileManager.default.contents(atPath: file.path) == pdf)
        }
    }

    /// A submission id belongs to the station that used it first; earlier manifests and uploads
    /// name their owners after an upgrade. On PostgreSQL also when two nodes claim at once.
    @Test(arguments: engines) func submissionIdsBelongToTheStationThatUsedThemFirst(engine: String) async throws {
        try await withStore(engine) { store, _ in
            #expect(try await store.submissionOwner("sub-o") == nil)
            #expect(try await store.claimSubmission("sub-o", stationId: "XY-C-001"))
            #expect(try await store.claimSubmission("sub-o", stationId: "XY-C-001"), "its owner again")
            #expect(try await !store.claimSubmission("sub-o", stationId: "XY-C-002"))
            #expect(try await store.submissionOwner("sub-o") == "XY-C-001")
            // Many claims at once on one fresh id: exactly one station wins, and every answer agrees.
            let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for i in 0..<16 {
                    let station = "XY-C-\(100 + i % 4)"
                    group.addTask { (station, try await store.claimSubmission("sub-race", stationId: station)) }
                }
                var all: [(String, Bool)] = []
                for try await r in group { all.append(r) }
                return all
            }
            let winners = Set(results.filter(\.1).map(\.0))
            #expect(winners.count == 1)
            #expect(try await store.submissionOwner("sub-race") == winners.first)
        }
    }

    /// Certificate references are unique: ids that share their first 58 characters (the old
    /// truncated reference) get different references, and each reference serves its own file.
    @Test(arguments: engines) func certificateReferencesAreUnique(engine: String) async throws {
        try await withStore(engine) { store, _ in
            let stem = String(repeating: "a", count: 60)
            let ids = [stem + "0001", stem + "0002"]
            var refs: [String] = []
            for (i, id) in ids.enumerated() {
                _ = try await store.putManifest(
                    manifest(id, caseNumber: "C-\(i)", attachments: []), now: Date())
                let pdf = Data("%PDF-1.4 \(id)".utf8)
                let st = try #require(
                    try await store.issueCertificate(
                        submissionId: id, data: pdf, contentType: "application/pdf", note: nil))
                let ref = try #require(st.certificate?.ref)
                #expect(IntakeIdentifier.isValid(ref))
                refs.append(ref)
            }
            #expect(Set(refs).count == 2)
            for (id, ref) in zip(ids, refs) {
                let file = try #require(try await store.certificateFile(ref: ref))
                #expect(file.submissionId == id)
                #expect(FileManager.default.contents(atPath: file.path) == Data("%PDF-1.4 \(id)".utf8))
            }
            // A new certificate for the same submission replaces the old one under its reference.
            let again = try #require(
                try await store.issueCertificate(
                    submissionId: ids[0], data: Data("%PDF-1.4 v2".utf8), contentType: "application/pdf", note: nil))
            #expect(again.certificate?.ref == refs[0] && again.certificate?.size == 11)
        }
    }

    /// Two PATCHes on one upload never run at once; on PostgreSQL also from two separate clients
    /// (two nodes). Different uploads do not wait for each other.
    @Test(arguments: engines) func theUploadLockExcludesAcrossNodes(engine: String) async throws {
        let inside = Counter()
        let body: @Sendable () async throws -> Int = {
            let n = inside.enter()
            try await Task.sleep(for: .milliseconds(30))
            inside.leave()
            return n
        }
        if engine == "sqlite" {
            let store = try IntakeStore(dataDirectory: tempFolder())
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await store.withUploadLock(id: "u1", body) } }
                for try await n in group { #expect(n == 1) }
            }
        } else {
            let url = try newDatabase()
            let dir = tempFolder()
            _ = try await withPostgresStore(url: url, dir: dir) { nodeA in
                try await withPostgresStore(url: url, dir: dir, lockWait: .milliseconds(300)) { nodeB in
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        for i in 0..<6 {
                            let store = i % 2 == 0 ? nodeA : nodeB
                            group.addTask { try await store.withUploadLock(id: "u1", body) }
                        }
                        for try await n in group { #expect(n == 1) }
                    }
                    // A different upload does not wait; a held lock times out as 423 for the waiter.
                    let gate = AsyncGate()
                    async let holder: Int = nodeA.withUploadLock(id: "u2") {
                        await gate.wait()
                        return 0
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    #expect(try await nodeB.withUploadLock(id: "u3") { 7 } == 7)
                    do {
                        _ = try await nodeB.withUploadLock(id: "u2") { 1 }
                        Issue.record("the second node got a lock the first one holds")
                    } catch let e as IntakeError {
                        #expect(e.status.code == 423)
                    }
                    await gate.open()
                    _ = try await holder
                    #expect(try await nodeB.withUploadLock(id: "u2") { 2 } == 2)
                    return 0
                }
            }
        }
        #expect(inside.max == 1)
    }

    /// A tus upload started on one node and finished on another (PostgreSQL only: with SQLite
    /// there is one node).
    @Test func aTusUploadResumesOnTheOtherNode() async throws {
        let url = try newDatabase()
        let dir = tempFolder()
        let data = bytes(10_000, seed: 3)
        let m = manifest("sub-resume", caseNumber: "C-R1", attachments: [("material-1.jpg", data)])
        _ = try await withPostgresStore(url: url, dir: dir) { storeA in
            try await withPostgresStore(url: url, dir: dir) { storeB in
                let config = IntakeConfiguration(dataDirectory: dir, port: 0, stationTokens: ["tok": "XY-C-001"])
                let appA = try buildIntakeApplication(configuration: config, store: storeA)
                let appB = try buildIntakeApplication(configuration: config, store: storeB)
                let h: HTTPFields = {
                    var h = HTTPFields()
                    h[.authorization] = "Bearer tok"
                    h[named: "Tus-Resumable"] = "1.0.0"
                    return h
                }()
                let location: String = try await appA.test(.router) { a in
                    var create = h
                    create[named: "Upload-Length"] = String(data.count)
                    create[named: "Upload-Metadata"] =
                        "submissionId \(Data("sub-resume".utf8).base64EncodedString()),name \(Data("material-1.jpg".utf8).base64EncodedString()),sha256 \(Data(hex(data).utf8).base64EncodedString())"
                    let r = try await a.execute(uri: "/v1/uploads", method: .post, headers: create)
                    #expect(r.status == .created)
                    let location = try #require(r.headers[.location])
                    var patch = h
                    patch[.contentType] = "application/offset+octet-stream"
                    patch[named: "Upload-Offset"] = "0"
                    let p = try await a.execute(
                        uri: location, method: .patch, headers: patch, body: ByteBuffer(bytes: data.prefix(4000)))
                    #expect(p.status == .noContent)
                    return location
                }
                try await appB.test(.router) { b in
                    let head = try await b.execute(uri: location, method: .head, headers: h)
                    #expect(head.headers[named: "Upload-Offset"] == "4000")
                    var patch = h
                    patch[.contentType] = "application/offset+octet-stream"
                    patch[named: "Upload-Offset"] = "0"
                    let stale = try await b.execute(
                        uri: location, method: .patch, headers: patch, body: ByteBuffer(bytes: data.prefix(10)))
                    #expect(stale.status == .conflict, "a PATCH at an old offset is refused on the other node too")
                    patch[named: "Upload-Offset"] = "4000"
                    let rest = try await b.execute(
                        uri: location, method: .patch, headers: patch, body: ByteBuffer(bytes: data.dropFirst(4000)))
                    #expect(rest.status == .noContent)
                    #expect(rest.headers[named: "Upload-Offset"] == String(data.count))
                    var put = h
                    put[.contentType] = "application/json"
                    let r = try await b.execute(
                        uri: "/v1/submissions/sub-resume", method: .put, headers: put,
                        body: ByteBuffer(bytes: try JSONEncoder().encode(m)))
                    #expect(r.status == .created)
                }
                let path = try #require(
                    try await storeA.attachmentPath(submissionId: "sub-resume", name: "material-1.jpg"))
                #expect(FileManager.default.contents(atPath: path) == data)
                return 0
            }
        }
    }

    @Test func badPostgresURLsAreRefusedWithAClearMessage() throws {
        for url in ["mysql://x@h/db", "postgres://user@host:5432/", "postgres://u:secret@h/db?sslmode=maybe"] {
            #expect(throws: PostgresStoreError.self) { _ = try PostgresIntakeStore.configuration(url: url) }
        }
        do {
            _ = try PostgresIntakeStore.configuration(url: "postgres://u:secret@h/db?sslmode=maybe")
        } catch {
            #expect(!"\(error)".contains("secret"), "the password never appears in messages")
        }
        _ = try PostgresIntakeStore.configuration(url: "postgres://u:p@127.0.0.1:5433/intake?sslmode=disable")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var now = 0
    private(set) var max = 0
    func enter() -> Int {
        lock.withLock {
            now += 1
            max = Swift.max(max, now)
            return now
        }
    }
    func leave() { lock.withLock { now -= 1 } }
}

actor AsyncGate {
    private var opened = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if opened { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        opened = true
        waiters.forEach { $0.resume() }
        waiters = []
    }
}
