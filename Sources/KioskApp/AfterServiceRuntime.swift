import Foundation
import KioskCore
import KioskDevices
import KioskFlow
import KioskProtocols
import Logging

// The runtime side of what happens after the submission (issue 24): help calls upstream, lists
// for staff. Everything travels through the outbox, so nothing is lost when the upstream is away.

extension KioskRuntime {
    func performAfterService(_ effect: AfterServiceEffect) async {
        let s = services
        switch effect {
        case .loadHelpCalls:
            post(.afterService(.helpCallsLoaded((try? s.stores.messages.helpCalls()) ?? [])))
        case .loadCase(let id):
            do {
                post(
                    .afterService(
                        .caseLoaded(
                            try s.stores.caseEvents.detail(submissionId: id, certificates: s.stores.certificates))))
            } catch {
                s.logger.error("case history unreadable", metadata: ["error": "\(error)"])
                post(.afterService(.caseLoaded(nil)))
            }
        case .recordEvaluation(let service, let caseNumber, let itemCode, let level, let reason):
            do {
                try await s.stores.messages.recordServiceEvaluation(
                    service: service, caseNumber: caseNumber, itemCode: itemCode, level: level, reason: reason)
                s.logger.info("evaluation recorded", metadata: ["service": "\(service)", "level": "\(level)"])
                s.uploader.kick()
            } catch {
                s.logger.error("evaluation not recorded", metadata: ["error": "\(error)"])
            }
        case .reprintReceipt(let caseNumber, let by):
            let source: ReprintSource?
            do { source = try s.stores.staffTools.reprintSource(caseNumber: caseNumber) } catch {
                s.logger.error("reprint lookup failed", metadata: ["error": "\(error)"])
                post(.staffReport(lines: nil, message: "本机记录暂时无法读取：\(error)"))
                return
            }
            guard let source else {
                post(.staffReport(lines: nil, message: "没有找到唯一的办件 \(caseNumber)：请输入更多位数字，或核对办件编号（个人信息已按期清除的办件不能补打）"))
                return
            }
            guard let printer = s.printer else {
                post(.staffReport(lines: nil, message: "补打未成功：" + StaffWording.device("回执打印机未连接")))
                return
            }
            spawn { [self] in
                let doc = ReprintReceipt.document(
                    source, stationName: s.config.station.name,
                    printedAt: SampleReceipt.timestamp(s.clock.now, clock: s.clock), by: by)
                do {
                    try await printer.print(doc)
                    try? await s.stores.audit.append(
                        actor: by, action: "receipt.reprinted", subject: source.summary.caseNumber, detail: nil)
                    s.logger.info("receipt reprinted by staff", metadata: ["case": "\(source.summary.caseNumber)"])
                    post(.staffReport(lines: nil, message: "已补打 \(source.summary.caseNumber) 的回执，请取走"))
                } catch let e as DeviceError {
                    post(.staffReport(lines: nil, message: "补打未成功：" + StaffWording.device(e.residentMessage)))
                } catch {
                    post(.staffReport(lines: nil, message: "补打未成功：" + StaffWording.device("回执打印机故障")))
                }
                await refreshDevices()
            }
        case .loadHandover(let id):
            post(.afterService(.handoverLoaded(maskedName: try? s.stores.staffTools.maskedApplicant(submissionId: id))))
        case .handOver(let id, let card, let proxy, let relation, let by):
            await services.reader?.stopReading()
            do {
                let r = try await s.stores.staffTools.handOver(
                    submissionId: id, card: card, collector: proxy ? .proxy : .applicant, relation: relation,
                    staffId: by,
                    certificates: s.stores.certificates)
                try? await s.stores.audit.append(
                    actor: by, action: "certificate.handover",
                    subject: (try? s.stores.submissions.submission(id: id))?.caseNumber,
                    detail: proxy ? "proxy:\(relation ?? "")" : "applicant")
                post(
                    .afterService(
                        .handoverDone(
                            ok: true,
                            message: proxy
                                ? "已登记由\(relation ?? "他人") \(r.collectorMaskedName) 代领"
                                : "已登记申请人 \(r.collectorMaskedName) 本人领取")))
            } catch let e as HandoverError {
                post(.afterService(.handoverDone(ok: false, message: e.description)))
                await services.reader?.startReading()
            } catch {
                post(.afterService(.handoverDone(ok: false, message: "未能登记：\(error)")))
                await services.reader?.startReading()
            }
        case .acknowledgeHelp(let by):
            do {
                let open = try s.stores.messages.openHelpRequests().map(\.call.helpId)
                guard !open.isEmpty else { return }
                try await s.stores.messages.queueHelpCall(
                    event: HelpCall.acknowledged, requestIds: open, staffId: by)
                s.uploader.kick()
            } catch {
                s.logger.error("help acknowledgement not queued", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Asks the upstream every 30 s what it does with notification requests; the screens promise
    /// SMS only while it says it sends them.
    func watchNotificationCapabilities() async {
        var last: NotificationCapabilities?? = .none
        while !Task.isCancelled {
            let now: NotificationCapabilities? = try? await services.intake.notificationCapabilities()
            if last == nil || last! != now {
                last = .some(now)
                smsCapabilities = now
                if let now {
                    services.logger.notice(
                        now.sms ? "upstream sends SMS notifications" : "upstream sends no SMS notifications",
                        metadata: ["events": "\(now.events.joined(separator: ","))"])
                }
                post(.afterService(.notifications(now)))
            }
            try? await Task.sleep(for: .seconds(30))
        }
    }

    /// After a seal with a phone number: ask the upstream to notify it, if it sends SMS.
    func requestNotifications(submissionId: String, caseNumber: String, phone: String) async {
        guard let caps = smsCapabilities, caps.sms, !phone.isEmpty else { return }
        do {
            try await services.stores.messages.queueNotificationRequest(
                submissionId: submissionId, caseNumber: caseNumber, events: caps.events, phone: phone)
            services.uploader.kick()
        } catch {
            services.logger.error("notification request not queued", metadata: ["error": "\(error)"])
        }
    }

    /// A resident's help call: written to the outbox, sent at once; the screen hears whether the
    /// upstream acknowledged it within a few seconds (else it stays queued and goes later).
    func sendHelpCall(screen: String) async {
        let s = services
        let id: String
        do { id = try await s.stores.messages.queueHelpCall(event: HelpCall.requested, screen: screen) } catch {
            s.logger.error("help call not queued", metadata: ["error": "\(error)"])
            post(.afterService(.helpDelivered(false)))
            return
        }
        let wait = Double(min(10, max(2, (try? s.config.upstreamConfig().requestTimeoutSeconds) ?? 10)))
        spawn { [self] in
            let sender = Task { await s.uploader.sendMessages() }
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            while ContinuousClock.now < deadline {
                if (try? s.stores.messages.messageSent(id: id)) == true {
                    s.logger.notice("help call acknowledged upstream", metadata: ["screen": "\(screen)"])
                    post(.afterService(.helpDelivered(true)))
                    return
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
            _ = sender
            s.logger.warning("help call not acknowledged yet; it stays queued", metadata: ["screen": "\(screen)"])
            post(.afterService(.helpDelivered(false)))
        }
    }
}
