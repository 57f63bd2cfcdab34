// Issue 24 on both engines: help calls (and what comes after the submission) keep the same
// contract on SQLite and PostgreSQL.

import Foundation
import Testing

@testable import IntakeServer

@Suite(.serialized) struct AfterServiceContractTests {
    @Test(arguments: engines) func helpCallsAreIdempotentAndFoldIntoRequestsWithAcknowledgements(engine: String)
        async throws
    {
        try await withStore(engine) { store, _ in
            let help = try #require(store as? any IntakeHelpStorage)
            let r1 = HelpCall(
                helpId: "h-1", stationId: "XY-C-001", event: HelpCall.requested, screen: "review",
                createdAt: "2026-11-01T08:00:00Z")
            let r2 = HelpCall(
                helpId: "h-2", stationId: "XY-C-002", event: HelpCall.requested, screen: "home",
                createdAt: "2026-11-01T08:01:00Z")
            guard case .created = try await help.putHelpCall(r1) else {
                Issue.record("h-1 not created")
                return
            }
            guard case .identical = try await help.putHelpCall(r1) else {
                Issue.record("identical repeat of h-1 not recognised")
                return
            }
            var changed = r1
            changed.screen = "home"
            #expect(try await help.putHelpCall(changed) == .conflict)
            _ = try await help.putHelpCall(r2)
            let ack = HelpCall(
                helpId: "a-1", stationId: "XY-C-001", event: HelpCall.acknowledged, requestIds: ["h-1", "h-2"],
                staffId: "S001", createdAt: "2026-11-01T08:05:00Z")
            _ = try await help.putHelpCall(ack)
            let all = HelpCallList.fold(try await help.helpEvents(stationId: nil)).calls
            #expect(all.map(\.helpId) == ["h-1", "h-2"])
            #expect(all[0].acknowledgedBy == "S001")
            // An acknowledgement answers only its own station's requests.
            #expect(all[1].acknowledgedBy == nil)
            let one = HelpCallList.fold(try await help.helpEvents(stationId: "XY-C-002")).calls
            #expect(one.map(\.helpId) == ["h-2"])
        }
    }

    @Test(arguments: engines) func followUpsAndNotificationRequestsOnBothEngines(engine: String) async throws {
        try await withStore(engine) { store, _ in
            for (id, level) in [("e-1", 2), ("e-2", 5)] {
                _ = try await store.putEvaluation(
                    EvaluationReport(
                        evaluationId: id, stationId: "XY-C-001", caseNumber: "", level: level, reason: nil,
                        createdAt: "2026-11-01T08:00:00Z", service: "guide", itemCode: "XY-T-001"))
            }
            let fs = try #require(store as? any IntakeFollowUpStorage)
            var list = try await store.complaints(stationId: "XY-C-001")
            #expect(list.map(\.evaluationId) == ["e-1"])  // only 差评
            #expect(list.first?.open == true)
            try await fs.putFollowUp(
                FollowUpRecord(evaluationId: "e-1", stage: .verified, note: "属实", at: "2026-11-02T08:00:00Z"))
            try await fs.putFollowUp(
                FollowUpRecord(evaluationId: "e-1", stage: .revisited, note: "满意", at: "2026-11-03T08:00:00Z"))
            list = try await store.complaints(stationId: nil)
            #expect(list.first?.verifiedAt == "2026-11-02T08:00:00Z")
            #expect(list.first?.revisitedAt == "2026-11-03T08:00:00Z")
            #expect(list.first?.open == false)
            #expect(list.first?.stateChinese == "已回访")
            #expect(try await store.complaints(stationId: "XY-C-002").isEmpty)

            let ns = try #require(store as? any IntakeNotificationStorage)
            let r = NotificationRequest(
                notificationId: "n-1", stationId: "XY-C-001", submissionId: "s-1", caseNumber: "GH1",
                events: NotificationEvents.all, phone: "13800000000", createdAt: "2026-11-01T08:00:00Z")
            guard case .created = try await ns.putNotificationRequest(r) else {
                Issue.record("n-1 not created")
                return
            }
            guard case .identical = try await ns.putNotificationRequest(r) else {
                Issue.record("repeat not identical")
                return
            }
            var other = r
            other.phone = "13900000000"
            #expect(try await ns.putNotificationRequest(other) == .conflict)
            #expect(try await ns.notificationRequests(stationId: "XY-C-001") == [r])
            #expect(try await ns.notificationRequests(stationId: "XY-C-002").isEmpty)
        }
    }
}
