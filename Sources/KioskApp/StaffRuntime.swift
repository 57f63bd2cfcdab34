import Foundation
import KioskCore
import KioskDevices
import KioskFlow
import KioskProtocols

// The runtime side of staff work and certificates: registry lookups, PIN checks (slow KDF, off
// the loop), A4 printing of certificates and ledgers, collection records, out of service. Every
// step is audited by the outbox functions it calls (no personal data in the trail).

extension KioskRuntime {
    func performStaff(_ effect: FlowEffect) async {
        let s = services
        let log = s.logger
        switch effect {
        case .identifyStaff(let idNumber):
            do { post(.staffIdentified(try s.outbox.staffMember(forIDNumber: idNumber))) } catch {
                log.error("staff registry unreadable", metadata: ["error": "\(error)"])
                post(.staffIdentified(nil))
            }
        case .verifyStaffPIN(let staffId, let pin):
            let outbox = s.outbox
            // The slow KDF runs off the actor and the cooperative pool's loop.
            Task.detached { [self] in
                let r = (try? outbox.verifyStaffPIN(staffId: staffId, pin: pin)) ?? .unknown
                if case .signedIn = r, let h = try? outbox.pendingHelpRequests() { post(.helpPending(count: h.count, last: h.last)) }
                switch r {
                case .signedIn: log.info("staff signed in", metadata: ["staff": "\(staffId)"])
                case .lockedOut: log.warning("staff locked out after wrong PINs", metadata: ["staff": "\(staffId)"])
                default: log.warning("staff sign-in refused", metadata: ["staff": "\(staffId)", "result": "\(r)"])
                }
                post(.staffPINChecked(staffId: staffId, r))
            }
        case .audit(let actor, let action, let subject, let detail):
            do { try s.outbox.audit(actor: actor, action: action, subject: subject, detail: detail) } catch {
                log.error("audit entry not written", metadata: ["action": "\(action)", "error": "\(error)"])
            }
        case .loadCertificates(let idNumber):
            do {
                let list = try idNumber.map { try s.outbox.certificatesForPickup(idNumber: $0) } ?? s.outbox.certificatesOutstanding()
                post(.certificatesLoaded(list))
            } catch {
                log.error("certificates unreadable", metadata: ["error": "\(error)"])
                post(.certificatesLoaded([]))
                if idNumber != nil { post(.progressFailed("本机记录暂时无法读取")) }     // the resident is told, in their language
                else { post(.staffReport(lines: nil, message: "证照记录暂时无法读取，请联系运维人员")) }
            }
        case .printCertificate(let id, let by):
            spawn { [self] in
                let r = await printCertificate(id, by: by)
                post(.certificatePrinted(submissionId: id, ok: r.ok, message: r.message))
                await refreshDevices()
            }
        case .printCertificateBatch(let by):
            spawn { [self] in
                let todo = ((try? s.outbox.certificatesOutstanding()) ?? []).filter { $0.downloaded && $0.printCount == 0 }
                var printed = 0
                var failure: String?
                for c in todo {
                    let r = await printCertificate(c.submissionId, by: by)
                    if r.ok { printed += 1 } else { failure = r.message; break }   // a jam stops the batch
                }
                let msg: String
                if todo.isEmpty { msg = "没有待打印的证照" }
                else if let failure { msg = "已打印 \(printed) 份，其余未打印：\(failure)" }
                else { msg = "已打印 \(printed) 份证照，请整理后等待领取" }
                try? s.outbox.audit(actor: by, action: "certificate.batch", detail: "\(printed)/\(todo.count) printed")
                post(.staffReport(lines: nil, message: msg))
                post(.certificatesLoaded((try? s.outbox.certificatesOutstanding()) ?? []))
                await refreshDevices()
            }
        case .markCertificateCollected(let ids, let by, let collector):
            var done: [String] = []
            var failed = 0
            for id in ids {
                do {
                    try s.outbox.markCertificateCollected(submissionId: id, by: by, collector: collector)
                    let c = try s.outbox.certificateRecord(submissionId: id)
                    done.append(c?.caseNumber ?? id)
                    log.info("certificate collected", metadata: ["case": "\(c?.caseNumber ?? id)", "staff": "\(by)", "collector": "\(collector)"])
                } catch {
                    failed += 1
                    log.warning("certificate not marked collected", metadata: ["submission": "\(id)", "error": "\(error)"])
                }
            }
            let how = collector == "applicant" ? "本人领取" : "代领"
            let what = done.count == 1 ? done[0] : "\(done.count) 份"
            post(.staffReport(lines: nil, message: failed == 0 ? "已登记领取：\(what)（\(how)）"
                                                              : "已登记领取 \(done.count) 份，\(failed) 份未能登记（已领取或未打印）"))
            post(.certificatesLoaded((try? s.outbox.certificatesOutstanding()) ?? []))
        case .ledger(let month, let printTo, let by):
            let period = LedgerPeriod.containing(Date(), month: month)
            let ledger: Ledger
            do { ledger = try s.outbox.ledger(period) } catch {
                post(.staffReport(lines: ["台账无法统计：\(error)"], message: nil))
                return
            }
            let lines = ledger.lines(stationName: s.config.station.name)
            // Shown when asked for; a print keeps the screen busy until it reports back.
            guard let printTo else { post(.staffReport(lines: Array(lines.dropFirst(2)), message: nil)); return }
            spawn { [self] in
                let msg: String
                switch printTo {
                case .receipt:
                    if let p = s.printer {
                        do {
                            try await p.print(ledger.receipt(stationName: s.config.station.name, printedAt: SampleReceipt.timestamp(Date())))
                            msg = "台账已在回执打印机打印"
                        } catch let e as DeviceError { msg = "台账未能打印：\(e.residentMessage)" } catch { msg = "台账未能打印" }
                    } else { msg = "回执打印机未连接" }
                case .a4:
                    let r = await printA4(TextPDF.make(lines: lines + ["", "打印时间：\(SampleReceipt.timestamp(Date()))"]), label: "ledger-" + period.label)
                    msg = r.ok ? "台账已在A4打印机打印" : "台账未能打印：\(r.message)"
                }
                try? s.outbox.audit(actor: by, action: "ledger.printed", subject: period.label, detail: printTo == .a4 ? "a4" : "receipt")
                post(.staffReport(lines: nil, message: msg))
                await refreshDevices()
            }
        case .callStaff(let screen):
            do { try s.outbox.audit(actor: "resident", action: "help.requested", subject: screen) } catch {
                log.error("help request not recorded", metadata: ["error": "\(error)"])
            }
            log.notice("a resident asked for staff", metadata: ["screen": "\(screen)"])
            metrics?.helpRequested()
            if let h = try? s.outbox.pendingHelpRequests() { post(.helpPending(count: h.count, last: h.last)) }
        case .setOutOfService(let notice, let by):
            do {
                try s.outbox.setOutOfService(notice: notice, by: by)
                lastServiceNotice = notice
                log.notice(notice == nil ? "back in service" : "out of service", metadata: ["staff": "\(by)"])
            } catch {
                post(.staffReport(lines: nil, message: "未能保存服务状态：\(error)"))
            }
        default:
            break
        }
    }

    /// A PDF to whichever A4 printer is configured; (ok, what to tell the person in front of it).
    func printA4(_ pdf: Data, label: String) async -> (ok: Bool, message: String) {
        let s = services
        if let a4 = s.a4Printer {
            do {
                let r = try await a4.printPDF(pdf, label: label)
                return (r.outcome == .completed, r.residentMessage)
            } catch let e as DeviceError {
                s.logger.warning("A4 job not started", metadata: ["error": "\(e.description)"])
                return (false, e.residentMessage)
            } catch { return (false, "A4打印机未能打印，请联系工作人员") }
        }
        if let sim = s.simulatedA4 {
            do {
                return try sim.printPDF(pdf, label: label) ? (true, "文件已打印，请在打印机出纸口取走")
                    : (false, "A4打印机卡纸，未能打印。请联系工作人员处理后补打")
            } catch let e as DeviceError { return (false, e.residentMessage) } catch { return (false, "A4打印机未能打印") }
        }
        return (false, "证照打印机未连接，请到窗口领取")
    }

    /// Prints one certificate and records it: printed (and, for self pick-up, collected by the
    /// resident at once), or the failure with its reason so staff can reprint.
    func printCertificate(_ id: String, by: String) async -> (ok: Bool, message: String) {
        let s = services
        let record = try? s.outbox.certificateRecord(submissionId: id)
        let caseNumber = record?.caseNumber ?? "cert"
        let data: Data
        do {
            guard let c = try s.outbox.certificate(submissionId: id) else {
                return (false, "证照文件还没有下载到本机，请稍后再试或到窗口领取")
            }
            guard c.ref.contentType == "application/pdf" else {
                try? s.outbox.recordCertificatePrintFailure(submissionId: id, by: by, reason: "not a PDF (\(c.ref.contentType))")
                return (false, "此证照不能在本机打印，请到窗口领取")
            }
            data = c.data
        } catch {
            s.logger.error("stored certificate unreadable", metadata: ["case": "\(caseNumber)", "error": "\(error)"])
            try? s.outbox.recordCertificatePrintFailure(submissionId: id, by: by, reason: "stored file unreadable")
            return (false, "证照文件损坏，请到窗口领取，工作人员会重新下载")
        }
        let label = "cert-" + caseNumber.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        let r = await printA4(data, label: label)
        if r.ok {
            do {
                try s.outbox.markCertificatePrinted(submissionId: id, by: by)
                if by == "resident" { try s.outbox.markCertificateCollected(submissionId: id, by: "resident", collector: "applicant") }
            } catch {
                s.logger.error("certificate print not recorded", metadata: ["case": "\(caseNumber)", "error": "\(error)"])
            }
            s.logger.info("certificate printed", metadata: ["case": "\(caseNumber)", "by": "\(by)"])
            return (true, by == "resident" ? "证照已打印，请在A4打印机出纸口取走" : "已打印：\(caseNumber)")
        }
        try? s.outbox.recordCertificatePrintFailure(submissionId: id, by: by, reason: r.message)
        s.logger.warning("certificate not printed", metadata: ["case": "\(caseNumber)", "by": "\(by)"])
        return (false, r.message)
    }

    /// Device history for the ledger's downtime: the devices that changed since `previous`
    /// (the outbox keeps a row only when state or usability differs from the last one).
    func recordDeviceHistory(_ devices: [DeviceStatus], previous: [DeviceStatus] = []) {
        for d in devices where !previous.contains(d) {
            let usable = d.state.usable && d.paper != .out && d.paper != .jammed
            try? services.outbox.recordDeviceState(kind: d.kind.rawValue, state: d.state.rawValue, usable: usable)
            services.logger.notice("device state", metadata: ["device": "\(d.kind.rawValue)", "state": "\(d.state.rawValue)",
                                                              "usable": "\(usable)", "event": "device-state"])
        }
    }

    /// The out-of-service notice `kioskctl service` sets in the database (read every 5 s).
    func pollServiceNotice() {
        let n: String?
        do { n = try services.outbox.outOfServiceNotice() } catch { return }
        if n != lastServiceNotice {
            lastServiceNotice = n
            post(.serviceState(notice: n))
        }
    }
}
