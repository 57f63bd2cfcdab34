import Foundation
import KioskProtocols
import KioskTestSupport
import Testing

@testable import KioskCore

/// Issue 24 in the outbox: case histories with encrypted notes, 补正 links, help calls, the
/// after-service ledger, staff tools, and the A4 ledger as a ruled PDF with embedded fonts.
@Suite struct AfterServiceStoreTests {
    func sealed(_ o: OutboxStores, card: ApplicantData = applicant) async throws -> SubmissionSummary {
        try await o.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: card,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(500))]))
    }

    @Test func caseEventsKeepNotesEncryptedAndSkipRepeats() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await sealed(o)
        let t = Date(timeIntervalSince1970: 1_795_000_000)
        try await o.caseEvents.record(submissionId: s.id, state: "received", at: t, note: nil)
        try await o.caseEvents.record(submissionId: s.id, state: "needMaterials", at: t + 60, note: "缺少户口簿本人页")
        try await o.caseEvents.record(submissionId: s.id, state: "needMaterials", at: t + 120, note: "缺少户口簿本人页")
        let events = try o.caseEvents.events(submissionId: s.id)
        #expect(events.map(\.state) == ["received", "needMaterials"])
        #expect(events.last?.note == "缺少户口簿本人页")
        // The note is not stored in the clear.
        let db = try Data(contentsOf: URL(fileURLWithPath: dir + "/state/outbox.sqlite"))
        #expect(db.range(of: Data("缺少户口簿本人页".utf8)) == nil)
        let sup = try await o.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(500))],
                supplementOf: s.id))
        #expect(try o.caseEvents.supplementOf(submissionId: sup.id) == s.id)
        #expect(
            try o.caseEvents.detail(submissionId: sup.id, certificates: o.certificates)?.supplementOf == s.caseNumber)
        // Retention: once the case's personal data is purged, so is the upstream's note.
        try await o.caseEvents.purgePersonal(olderThanDays: 30)
        #expect(try o.caseEvents.events(submissionId: s.id).last?.note == "缺少户口簿本人页")  // not purged yet
        try await o.database.pool.write { db in
            try db.execute(sql: "UPDATE submission SET purged_at = 1 WHERE id = ?", arguments: [s.id])
        }
        try await o.caseEvents.purgePersonal(olderThanDays: 30)
        #expect(try o.caseEvents.events(submissionId: s.id).map(\.note) == [nil, nil])
    }

    /// A 补正 is sealed with its link to the case in one transaction: when the link cannot be
    /// written, nothing is sealed (no submission, no folder); the encrypted manifest carries the
    /// link, so `recover` puts it back too.
    @Test func aSupplementIsSealedWithItsLinkOrNotAtAll() async throws {
        let dir = tempDir()
        let o = try makeOutbox(dir)
        let s = try await sealed(o)
        func supplement() -> NewSubmission {
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(600))],
                supplementOf: s.id)
        }
        // The link's insert fails inside the seal (a temp trigger on the pool's one writer): the seal fails whole.
        try await o.database.pool.write { db in
            try db.execute(
                sql:
                    "CREATE TEMP TRIGGER no_link BEFORE INSERT ON supplement BEGIN SELECT RAISE(ABORT, 'injected'); END"
            )
        }
        let count = { try o.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submission") } }
        await #expect(throws: (any Error).self) { _ = try await o.submissions.seal(supplement()) }
        #expect(try count() == 1)
        let folders = try FileManager.default.contentsOfDirectory(atPath: o.database.attachmentsDirectory)
        #expect(folders == [s.id])
        try await o.database.pool.write { db in try db.execute(sql: "DROP TRIGGER temp.no_link") }

        let sup = try await o.submissions.seal(supplement())
        #expect(try o.caseEvents.supplementOf(submissionId: sup.id) == s.id)
        // The database is lost: the rebuilt outbox knows which case the 补正 completes.
        try o.database.close()
        removeDatabase(dir + "/state")
        let report = try await recover(dir)
        #expect(Set(report.rebuilt) == [s.caseNumber, sup.caseNumber])
        let again = try makeOutbox(dir)
        #expect(try again.caseEvents.supplementOf(submissionId: sup.id) == s.id)
        #expect(try again.caseEvents.supplementOf(submissionId: s.id) == nil)
    }

    @Test func helpCallsAreQueuedAndAnswered() async throws {
        let o = try makeOutbox(tempDir())
        let id = try await o.messages.queueHelpCall(event: HelpCall.requested, screen: "review")
        #expect(try o.messages.messageSent(id: id) == false)
        #expect(try o.messages.openHelpRequests().map(\.call.helpId) == [id])
        try await o.messages.markMessageSent(id: id)
        #expect(try o.messages.messageSent(id: id))
        try await o.messages.queueHelpCall(event: HelpCall.acknowledged, requestIds: [id], staffId: "S001")
        #expect(try o.messages.openHelpRequests().isEmpty)
        let due = try await o.messages.dueMessages()
        #expect(due.map(\.kind) == [.help])
    }

    @Test func theLedgerCountsSatisfactionOpenPoorRatingsAgentsAndOverdueCases() async throws {
        let o = try makeOutbox(tempDir())
        try await o.messages.recordServiceEvaluation(
            service: "guide", caseNumber: nil, itemCode: "XY-T-001", level: 5, reason: nil)
        try await o.messages.recordServiceEvaluation(
            service: "progress", caseNumber: "GH1", itemCode: nil, level: 2, reason: "等候时间长")
        let queued = try await o.messages.dueMessages()
        let poorId = try #require(queued.last?.id)
        let period = LedgerPeriod.containing(o.database.clock.now, month: true, clock: o.database.clock)
        var a = try o.ledger.afterService(period, catalog: nil)
        #expect(a.satisfactionRate == 0.5)
        #expect(a.evaluationsByService == ["guide": 1, "progress": 1])
        #expect(a.poorRatings == 1)
        #expect(a.openPoorRatings == 1)
        try await o.messages.storeFollowUps([
            EvaluationFollowUp(
                evaluationId: poorId, stationId: "XY-TEST-001", caseNumber: "GH1", level: 2, service: "progress",
                createdAt: "2026-12-01T00:00:00Z", verifiedAt: "2026-12-01T01:00:00Z",
                rectifiedAt: "2026-12-02T01:00:00Z", revisitedAt: "2026-12-03T01:00:00Z")
        ])
        a = try o.ledger.afterService(period, catalog: nil)
        #expect(a.poorVerified == 1 && a.poorRectified == 1 && a.poorRevisited == 1)
        #expect(a.openPoorRatings == 0)
        #expect(a.lines().contains { $0.contains("满意率（满意、非常满意）50.0%") })
        #expect(a.csv().contains("poor_ratings_open,,未闭环差评（全部期间）,,0\r\n"))
        #expect(a.csv().contains("satisfaction_rate,,满意率（满意、非常满意）,,0.500"))
    }

    @Test func casesPastTheirPromisedTimeLimitAreCountedOverdue() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let catalog = try Catalog.load(
            catalogFile: root.appendingPathComponent("kiosk-config/catalog.json").path,
            guidesDirectory: root.appendingPathComponent("kiosk-config/guides").path)
        #expect(catalog.guide(for: "XY-T-001")?.promisedTimeLimit?.contains("10个工作日") == true)
        let o = try makeOutbox(tempDir())
        let late = try await sealed(o)
        let recent = try await sealed(o)
        let done = try await sealed(o)
        let now = o.database.clock.now
        for (s, state, acceptedDaysAgo) in [
            (late, UpstreamState.accepted, 30.0), (recent, .accepted, 1.0), (done, .done, 30.0),
        ] {
            try await o.uploads.markUploaded(id: s.id, upstreamState: state)
            try await o.caseEvents.record(
                submissionId: s.id, state: "accepted", at: now - acceptedDaysAgo * 86400, note: nil)
        }
        let period = LedgerPeriod.containing(now, month: true, clock: o.database.clock)
        #expect(try o.ledger.afterService(period, catalog: catalog).overdue == 1)
        #expect(try o.ledger.afterService(period, catalog: nil).overdue == 0)  // no time limit known
    }

    /// `kioskctl ledger --json` carries what the printed and A4 ledger show: the ledger's own fields,
    /// the title block, satisfaction and 差评 follow-up, overdue cases, help calls, assisted
    /// submissions per agent and every collection with its collector.
    @Test func theJSONLedgerCarriesEverySectionOfThePrintedOne() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let catalog = try Catalog.load(
            catalogFile: root.appendingPathComponent("kiosk-config/catalog.json").path,
            guidesDirectory: root.appendingPathComponent("kiosk-config/guides").path)
        let o = try makeOutbox(tempDir())
        let now = o.database.clock.now
        let late = try await sealed(o)
        try await o.uploads.markUploaded(id: late.id, upstreamState: .accepted)
        try await o.caseEvents.record(submissionId: late.id, state: "accepted", at: now - 30 * 86400, note: nil)
        let assisted = try await o.submissions.seal(
            NewSubmission(
                itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", applicant: applicant,
                attachments: [NewAttachment(name: "material-1.jpg", contentType: "image/jpeg", data: jpeg(500))],
                assistedBy: "A007"))
        try await o.messages.recordServiceEvaluation(
            service: "pickup", caseNumber: nil, itemCode: nil, level: 4, reason: nil)
        try await o.messages.recordServiceEvaluation(
            service: "progress", caseNumber: "GH1", itemCode: nil, level: 1, reason: "等候时间长")
        let poorId = try #require(try await o.messages.dueMessages().last?.id)
        try await o.messages.storeFollowUps([
            EvaluationFollowUp(
                evaluationId: poorId, stationId: "XY-TEST-001", caseNumber: "GH1", level: 1, service: "progress",
                createdAt: "2026-12-01T00:00:00Z", verifiedAt: "2026-12-01T01:00:00Z", rectifiedAt: nil,
                revisitedAt: nil)
        ])
        try await o.audit.append(actor: "resident", action: "help.requested", subject: "review")
        // A certificate printed by staff and handed to a proxy, with the proxy's card.
        let data = Data("%PDF-1.4 x".utf8)
        try await o.certificates.noteCertificate(
            submissionId: assisted.id,
            ref: CertificateRef(ref: "r", contentType: "application/pdf", size: data.count, sha256: sha256Hex(data)))
        try await o.certificates.storeCertificate(submissionId: assisted.id, data: data)
        try await o.certificates.markCertificatePrinted(submissionId: assisted.id, by: .staff("S001"))
        let proxyCard = IDCardIdentity(
            cardType: .resident, name: "测试五", sexCode: "1", nationCode: "01", birthDate: "19850505",
            address: "测试省示例县演示路5号", idNumber: staffID, issuingAuthority: "示例县公安局",
            validFrom: .date("20200101"), validTo: .longTerm)
        _ = try await o.staffTools.handOver(
            submissionId: assisted.id, card: proxyCard, collector: .proxy, relation: "子女", staffId: "S001",
            certificates: o.certificates)

        let period = LedgerPeriod.containing(now, month: true, clock: o.database.clock)
        let l = try o.ledger.ledger(period)
        let a = try o.ledger.afterService(period, catalog: catalog)
        let printed = (l.lines(stationName: "测试便民服务中心") + a.lines(timeZone: o.database.clock.timeZone))
            .joined(separator: "\n")
        #expect(printed.contains("八、证照领取登记：1 份（本人领取 0，代领 1，自助取件 0）"))
        #expect(printed.contains("\(assisted.caseNumber)") && printed.contains("代领（子女） 测**"))
        let json = try LedgerReport(
            ledger: l, afterService: a, stationName: "测试便民服务中心", period: period, generatedAt: now
        ).json()
        let top = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        // The ledger's own fields stay where they were, the title block beside them.
        #expect(top["submissionsTotal"] as? Int == 2 && top["assisted"] as? Int == 1)
        #expect(top["certificatesCollected"] as? Int == 1 && top["stationId"] as? String == "XY-TEST-001")
        #expect(top["stationName"] as? String == "测试便民服务中心" && top["period"] as? String == period.label)
        #expect(top["periodStart"] is String && top["generatedAt"] is String)
        #expect(top["afterServiceAvailable"] as? Bool == true)
        let after = try #require(top["afterService"] as? [String: Any])
        #expect(after["satisfactionRate"] as? Double == 0.5)
        #expect(after["evaluationsByService"] as? [String: Int] == ["pickup": 1, "progress": 1])
        #expect(after["poorRatings"] as? Int == 1 && after["poorVerified"] as? Int == 1)
        #expect(after["poorRectified"] as? Int == 0 && after["poorRevisited"] as? Int == 0)
        #expect(after["openPoorRatings"] as? Int == 1)
        #expect(after["overdue"] as? Int == 1)
        let overdue = try #require(after["overdueCases"] as? [[String: Any]])
        #expect(overdue.map { $0["caseNumber"] as? String } == [late.caseNumber] && overdue[0]["due"] is String)
        #expect(after["helpCalls"] as? Int == 1)
        #expect(after["assistedByAgent"] as? [String: Int] == ["A007": 1])
        let collections = try #require(after["collections"] as? [[String: Any]])
        #expect(collections.count == 1)
        #expect(collections.first?["caseNumber"] as? String == assisted.caseNumber)
        #expect(collections.first?["collector"] as? String == "proxy")
        #expect(collections.first?["relation"] as? String == "子女")
        #expect(collections.first?["collectorMaskedName"] as? String == proxyCard.maskedName)
        #expect(collections.first?["handedOverBy"] as? String == "S001")
        #expect(!json.contains(staffID) && !json.contains("测试五") && !json.contains(applicant.idNumber))
        // The CSV has the same rows.
        #expect(a.csv().contains("collection,\(assisted.caseNumber),代领（子女） 测**,"))
        #expect(a.csv().contains("overdue_case,\(late.caseNumber),XY-T-001,due "))
    }

    @Test func reprintFindsTheCaseByItsLastDigitsAndShowsOnlyMaskedData() async throws {
        let o = try makeOutbox(tempDir())
        let s = try await sealed(o)
        let src = try #require(try o.staffTools.reprintSource(caseNumber: String(s.caseNumber.suffix(6))))
        #expect(src.summary.id == s.id)
        #expect(src.maskedIDNumber == "1101**********0016")
        let doc = ReprintReceipt.document(src, stationName: "测试", printedAt: "2026-12-07 10:00", by: "S001")
        #expect(doc.elements.contains(.title("提交回执（补打）")))
        #expect(!doc.elements.contains(.keyValue("证件号码", "110105200001010016")))
        #expect(try o.staffTools.reprintSource(caseNumber: "12") == nil)  // too short to be one case
    }

    @Test func theA4LedgerIsARuledDocumentWithEmbeddedSubsetFonts() throws {
        let ledger = Ledger(
            period: "2026-12", stationId: "XY-TEST-001",
            submissions: [.init(itemCode: "XY-T-001", itemName: "老年人高龄补贴发放", state: "accepted", count: 3)],
            submissionsTotal: 3, assisted: 1, evaluations: [5: 2, 2: 1], certificatesReady: 1, certificatesPrinted: 1,
            certificateReprints: 0, certificatesCollected: 1, certificatesSelfPickup: 0, certificatesWaiting: 0,
            downtime: [.init(device: "receiptPrinter", seconds: 125, outages: 1)], outOfServiceSeconds: 0)
        // Many rows: the tables continue on a second page with page numbers.
        var long = ledger
        long.submissions = (1...80).map {
            .init(itemCode: String(format: "XY-T-%03d", $0), itemName: "事项\($0)", state: "received", count: $0)
        }
        let pdf = try LedgerDocument.pdf(
            long, after: nil, stationName: "测试便民服务中心", printedAt: "2026-12-07 10:00", printedBy: "工号 S001")
        let path = tempDir() + "/ledger.pdf"
        try pdf.write(to: URL(fileURLWithPath: path))
        #expect(pdf.starts(with: Array("%PDF-1.4".utf8)))
        #expect(pdf.range(of: Data("STSong-Light".utf8)) == nil)  // no longer the non-embedded standard font
        let fonts = try run("/usr/bin/pdffonts", [path])
        #expect(fonts.status == 0, "\(fonts.out)")
        let rows = fonts.out.split(separator: "\n").dropFirst(2)
        #expect(rows.count == 2)
        for r in rows {
            #expect(r.contains("CID TrueType") && r.contains("Identity-H") && r.contains("yes yes yes"), "\(r)")
        }
        let text = try run("/usr/bin/pdftotext", ["-layout", path, "-"]).out
        let compact = text.filter { !$0.isWhitespace }
        for s in ["政务服务自助终端工作台账", "测试便民服务中心", "工号S001", "事项80", "第1页共", "第2页共", "经办人（签字）", "（单位盖章）"] {
            #expect(compact.contains(s), "lacks \(s)")
        }
        // The subset is small: a few hundred kilobytes at most, not the 4 MB font.
        #expect(pdf.count < 400_000)
        // Ghostscript renders it without complaint.
        let gs = try run("/usr/bin/gs", ["-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=nullpage", path])
        #expect(gs.status == 0, "\(gs.out)")
    }
}
