// kiosk-bench: the in-process measurements behind `make bench`. Prints one JSON object; the
// script compares it with peers measured in the same run. It reports, it never fails for speed.
import Foundation
import KioskApp
import KioskCore
import KioskFlow
import KioskProtocols
#if canImport(Glibc)
    import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s[s.count / 2]
}

/// Resident set size in KiB (VmRSS) and its peak (VmHWM).
func rss() -> (current: Int, peak: Int) {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func field(_ name: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
    return (field("VmRSS"), field("VmHWM"))
}

let args = CommandLine.arguments
if args.count > 2, args[1] == "camera" {
    let r = try cameraBench(dir: args[2])
    print(String(decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}
if args.count > 2 && args[1] == "upload" {
    // kiosk-bench upload DIR [PYTHON] [TUSPY_SCRIPT] [fixed|random]
    let udir = args[2]
    try? FileManager.default.removeItem(atPath: udir)
    try FileManager.default.createDirectory(atPath: udir, withIntermediateDirectories: true)
    let r = try await UploadBench.run(
        dir: udir, python: args.count > 3 ? args[3] : nil,
        script: args.count > 4 ? args[4] : "bench/tuspy_drain.py", model: args.count > 5 ? args[5] : "fixed")
    try? FileManager.default.removeItem(atPath: udir)
    print(
        String(
            decoding: try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .prettyPrinted]),
            as: UTF8.self))
    exit(0)
}
if args.count > 2 && args[1] == "seals" {
    // kiosk-bench seals DIR [N]: only sequential attachment-less seals, for profiling.
    try? FileManager.default.removeItem(atPath: args[2])
    let outbox = try OutboxStores(
        stateDirectory: args[2], cipher: AtRestCipher(masterKey: .init(data: Data(repeating: 3, count: 32))),
        stationId: "BENCH", casePrefix: "BN"
    ).submissions
    let n = args.count > 3 ? Int(args[3]) ?? 2000 : 2000
    let applicant = ApplicantData(
        idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")
    let t0 = now()
    var each: [Double] = []
    for _ in 0..<n {
        let t = now()
        _ = try await outbox.seal(NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
        each.append(now() - t)
    }
    print("\(Double(n) / (now() - t0)) seals/s")
    let sorted = each.sorted()
    let slow = sorted.filter { $0 > 0.0005 }
    let share = slow.reduce(0, +) / each.reduce(0, +)
    print(
        String(
            format: "each seal: p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us; "
                + "over 0.5 ms: %d seals, %.0f %% of the time",
            sorted[n / 2] * 1e6, sorted[n * 9 / 10] * 1e6, sorted[n * 99 / 100] * 1e6, sorted[n - 1] * 1e6,
            slow.count, share * 100))
    let log = outbox.database.sealLog
    let t1 = now()
    for i in 0..<n {
        try await log.append(day: "20990101", id: "x\(i)", caseNumber: "BN209901010001", box: Data(count: 600))
    }
    print("\(Double(n) / (now() - t1)) log appends/s")
    let t2 = now()
    for _ in 0..<n { _ = try await FileSync.run { 1 } }
    print("\(Double(n) / (now() - t2)) hops/s")
    exit(0)
}
/// The seal rows: `rounds` seals of 3 × 500 KB attachments, each followed by writing and fsyncing
/// the same bytes raw (three files and a 512-byte row, each durably); the medians in ms.
func sealRows(dir: String, cipher: AtRestCipher, applicant: ApplicantData, rounds: Int) async throws -> (
    seal: Double, raw: Double
) {
    let outbox = try OutboxStores(stateDirectory: dir + "/seal", cipher: cipher, stationId: "BENCH", casePrefix: "BN")
        .submissions
    let blobs = (0..<3).map { i in Data((0..<500_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }) }
    var seal: [Double] = []
    var raw: [Double] = []
    try FileManager.default.createDirectory(atPath: dir + "/raw", withIntermediateDirectories: true)
    for round in 0..<rounds {
        let t0 = now()
        _ = try await outbox.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: blobs.enumerated().map {
                    NewAttachment(name: "m\($0.offset).jpg", contentType: "image/jpeg", data: $0.element)
                }))
        seal.append(now() - t0)
        let t1 = now()
        for (i, b) in blobs.enumerated() { try DurableFile.write(b, to: dir + "/raw/\(round)-\(i)") }
        try DurableFile.write(Data(repeating: 1, count: 512), to: dir + "/raw/\(round)-row")
        raw.append(now() - t1)
    }
    return (median(seal) * 1000, median(raw) * 1000)
}

/// The durable-seal rows: 300 seals one after another, then 8 tasks sealing 37 each at once,
/// then the floor on the same disk (a 512-byte record appended to one file and fsynced, 300
/// times); each per second.
func enqueueRows(dir: String, cipher: AtRestCipher, applicant: ApplicantData) async throws -> (
    sequential: Double, concurrent: Double, raw: Double
) {
    let outbox = try OutboxStores(stateDirectory: dir, cipher: cipher, stationId: "BENCH", casePrefix: "BN")
        .submissions
    let n = 300
    let t0 = now()
    for _ in 0..<n {
        _ = try await outbox.seal(NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
    }
    let sequential = Double(n) / (now() - t0)
    // Several seals waiting at once (staff desk and terminal, or a burst): they share fdatasyncs.
    let writers = 8
    let t2 = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<writers {
            group.addTask {
                for _ in 0..<(n / writers) {
                    _ = try await outbox.seal(
                        NewSubmission(itemCode: "c", itemName: "n", applicant: applicant, attachments: []))
                }
            }
        }
        try await group.waitForAll()
    }
    let concurrent = Double(n / writers * writers) / (now() - t2)
    var raw = 0.0
    let fd = open(dir + "/raw-records", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    if fd >= 0 {
        let record = [UInt8](repeating: 0x5A, count: 512)
        let t1 = now()
        for _ in 0..<n {
            _ = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fsync(fd)
        }
        raw = Double(n) / (now() - t1)
        close(fd)
    }
    return (sequential, concurrent, raw)
}

if args.count > 2 && args[1] == "enqueue" {
    // kiosk-bench enqueue DIR [RUNS]: only the durable-seal rows, RUNS times; per run the rates
    // and the ratios to the raw floor, then the median ratios.
    let runs = args.count > 3 ? Int(args[3]) ?? 5 : 5
    let cipher = AtRestCipher(masterKey: .init(data: Data(repeating: 3, count: 32)))
    let applicant = ApplicantData(
        idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")
    var seq: [Double] = []
    var con: [Double] = []
    for run in 0..<runs {
        let d = args[2] + "/run\(run)"
        try? FileManager.default.removeItem(atPath: d)
        let r = try await enqueueRows(dir: d, cipher: cipher, applicant: applicant)
        try? FileManager.default.removeItem(atPath: d)
        seq.append(r.sequential / r.raw)
        con.append(r.concurrent / r.raw)
        print(
            String(
                format: "one after another %.0f/s  8 at once %.0f/s  raw %.0f/s  ratios %.2f %.2f", r.sequential,
                r.concurrent, r.raw, r.sequential / r.raw, r.concurrent / r.raw))
    }
    print(String(format: "median ratios: one after another %.2f, 8 at once %.2f", median(seq), median(con)))
    exit(0)
}

if args.count > 2 && args[1] == "seal" {
    // kiosk-bench seal DIR [RUNS] [ROUNDS]: only the seal rows, RUNS times ROUNDS rounds (as in the
    // full bench); per run the medians and their ratio, then the median ratio.
    let runs = args.count > 3 ? Int(args[3]) ?? 9 : 9
    let rounds = args.count > 4 ? Int(args[4]) ?? 15 : 15
    let cipher = AtRestCipher(masterKey: .init(data: Data(repeating: 3, count: 32)))
    let applicant = ApplicantData(
        idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")
    var ratios: [Double] = []
    for run in 0..<runs {
        let d = args[2] + "/run\(run)"
        try? FileManager.default.removeItem(atPath: d)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let r = try await sealRows(dir: d, cipher: cipher, applicant: applicant, rounds: rounds)
        try? FileManager.default.removeItem(atPath: d)
        ratios.append(r.seal / r.raw)
        print(String(format: "seal %.3f ms  raw %.3f ms  ratio %.3f", r.seal, r.raw, r.seal / r.raw))
    }
    print(String(format: "median ratio %.3f (min %.3f, max %.3f)", median(ratios), ratios.min()!, ratios.max()!))
    exit(0)
}
let dir = args.count > 1 ? args[1] : NSTemporaryDirectory() + "kiosk-bench-\(getpid())"
try? FileManager.default.removeItem(atPath: dir)
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let applicant = ApplicantData(idNumber: "110105200001010016", name: "测试一", cardType: "resident", phone: "13800000000")
let cipher = AtRestCipher(masterKey: .init(data: Data(repeating: 3, count: 32)))
var results: [String: Double] = [:]

// 1. Seal latency, 3 × 500 KB attachments, against writing + fsyncing the same bytes raw.
do {
    let r = try await sealRows(dir: dir, cipher: cipher, applicant: applicant, rounds: 15)
    results["seal_ms"] = r.seal
    results["raw_write_fsync_ms"] = r.raw
}

// 2. Durable enqueue throughput: small sealed submissions per second (each one fsynced).
do {
    let r = try await enqueueRows(dir: dir + "/enqueue", cipher: cipher, applicant: applicant)
    results["enqueue_per_s"] = r.sequential
    results["enqueue_concurrent_per_s"] = r.concurrent
    results["raw_fsync_per_s"] = r.raw
}

// 3. Receipt encoding (the kiosk's acceptance receipt).
do {
    let doc = ReceiptDocument([
        .title("受理回执"), .text("襄垣县古韩镇综合便民服务中心", align: .center), .separator,
        .keyValue("办件编号", "GH202611230001"), .text("事项：城乡居民基本养老保险变更登记（性别、民族、居住地址、联系电话变更）"),
        .keyValue("申请人", "测**"), .keyValue("证件号码", "1101**********0016"), .keyValue("联系电话", "138****0000"),
        .keyValue("提交时间", "2026-11-23 20:30:44"), .separator, .qr("GH202611230001", size: 6),
        .text("请妥善保管本回执", align: .center), .feed(2), .cut(partial: true),
    ])
    let enc = ESCPOSEncoder(profile: .mm80)
    var bytes = 0
    let n = 2000
    let t0 = now()
    for _ in 0..<n { bytes = try enc.encode(doc).count }
    results["receipt_encode_us"] = (now() - t0) / Double(n) * 1e6
    results["receipt_bytes"] = Double(bytes)
}

// 4. RSS after 1,000 complete simulated sessions against after the first (flow + seal + receipt).
do {
    let catalog = try Catalog.load(
        catalogFile: args.count > 2 ? args[2] : "kiosk-config/catalog.json",
        guidesDirectory: args.count > 3 ? args[3] : "kiosk-config/guides")
    let outbox = try OutboxStores(
        stateDirectory: dir + "/sessions", cipher: cipher, stationId: "BENCH", casePrefix: "BN"
    ).submissions
    let card = IDCardIdentity(
        cardType: .resident, name: "测试一", sexCode: "1", birthDate: "20000101",
        idNumber: "110105200001010016", validFrom: .date("20200101"), validTo: .longTerm)
    let photo = Data(repeating: 0xAB, count: 50_000)
    var m = FlowMachine(catalog: catalog, settings: FlowSettings(stationName: "BENCH"))
    _ = m.handle(
        .devices([
            .init(kind: .idCardReader, state: .online, model: "sim", simulated: true),
            .init(kind: .documentCamera, state: .online, model: "sim", simulated: true),
            .init(kind: .receiptPrinter, state: .online, model: "sim", simulated: true),
        ]))
    let encoder = ESCPOSEncoder(profile: .mm80)
    func session() async throws {
        var effects: [FlowEffect] = []
        for k: Key in [.digit(1), .digit(1), .digit(1), .digit(2)] { effects += m.handle(.key(k)) }
        effects += m.handle(.cardRead(card))
        effects += m.handle(.key(.enter))
        while m.route.name == "photo" {
            effects += m.handle(.key(.enter))
            effects += m.handle(.photoCaptured(photo))
            effects += m.handle(.key(.enter))
        }
        for ch in "13800000000" { effects += m.handle(.key(.digit(Int(String(ch))!))) }
        effects += m.handle(.key(.enter))
        effects = m.handle(.key(.enter))
        guard case .seal(let req) = effects.last else { fatalError("flow did not seal") }
        let s = try await outbox.seal(
            NewSubmission(
                itemCode: req.itemCode, itemName: req.itemName, applicant: req.applicant,
                attachments: zip(req.photoNames, req.photos).map {
                    NewAttachment(name: $0, contentType: "image/jpeg", data: $1)
                }))
        let e = m.handle(.sealed(s))
        if case .printReceipt(let doc, _) = e.last { _ = try encoder.encode(doc) }
        _ = m.handle(.receiptPrinted)
        _ = m.handle(.key(.enter))
        _ = m.handle(.key(.digit(1)))
        _ = m.handle(.key(.enter))
        _ = m.frame(width: 80, height: 24)
    }
    try await session()
    let first = rss().current
    for _ in 1..<1000 { try await session() }
    let after = rss()
    results["rss_after_1_session_kib"] = Double(first)
    results["rss_after_1000_sessions_kib"] = Double(after.current)
    results["rss_peak_kib"] = Double(after.peak)
}

try? FileManager.default.removeItem(atPath: dir)
let json = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys, .prettyPrinted])
print(String(decoding: json, as: UTF8.self))
