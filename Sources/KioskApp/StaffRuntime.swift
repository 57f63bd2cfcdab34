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
            do { post(.staffIdentified(try s.stores.staff.member(forIDNumber: idNumber))) } catch {
                log.error("staff registry unreadable", metadata: ["error": "\(error)"])
                post(.staffIdentified(nil))
            }
        case .verifyStaffPIN(let staffId, let pin):
            let stores = s.stores
            // The slow KDF runs on the PIN gate's own queue, off the actor and the cooperative pool.
            Task.detached { [self] in
                let r = (try? await stores.staff.signIn(staffId: staffId, pin: pin)) ?? .unknown
                if case .signedIn = r, let h = try? stores.audit.pendingHelpRequests() {
                    post(.helpPending(count: h.count, last: h.last))
                }
                switch r {
                case .signedIn: log.info("staff signed in", metadata: ["staff": "\(staffId)"])
                case .lockedOut: log.warning("staff locked out after wrong PINs", metadata: ["staff": "\(staffId)"])
                default: log.warning("staff sign-in refused", metadata: ["staff": "\(staffId)", "result": "\(r)"])
                }
                post(.staffPINChecked(staffId: staffId, r))
            }
        case .audit(let actor, let action, let subject, let detail):
            do { try await s.stores.audit.append(actor: actor, action: action, subject: subject, detail: detail) } catch
            {
                log.error("audit entry not written", metadata: ["action": "\(action)", "error": "\(error)"])
            }
        case .loadCertificates(let idNumber):
            do {
                let list =
                    try idNumber.map { try s.certificateDesk.forPickup(idNumber: $0) }
                    ?? s.certificateDesk.outstanding()
                post(.certificatesLoaded(list))
            } catch {
                log.error("certificates unreadable", metadata: ["error": "\(error)"])
                post(.certificatesLoaded([]))
                if idNumber != nil {
                    post(.progressFailed("本机记录暂时无法读取"))
                }  // the resident is told, in their language
                else {
                    post(.staffReport(lines: nil, message: "证照记录暂时无法读取，请联系运维人员"))
                }
            }
        case .printCertificate(let id, let by):
            spawn { [self] in
                let r = await s.certificateDesk.print(submissionId: id, by: by, on: a4Printer)
                post(.certificatePrinted(submissionId: id, ok: r.ok, message: r.message))
                await refreshDevices()
            }
        case .printCertificateBatch(let by):
            spawn { [self] in
                let msg = await s.certificateDesk.printBatch(by: by, on: a4Printer)
                post(.staffReport(lines: nil, message: msg))
                post(.certificatesLoaded((try? s.certificateDesk.outstanding()) ?? []))
                await refreshDevices()
            }
        case .ledger(let month, let printTo, let by):
            let period = LedgerPeriod.containing(s.clock.now, month: month, clock: s.clock)
            let ledger: Ledger
            do { ledger = try s.stores.ledger.ledger(period) } catch {
                post(.staffReport(lines: ["台账无法统计：\(error)"], message: nil))
                return
            }
            var lines = ledger.lines(stationName: s.config.station.name)
            let after = try? s.stores.ledger.afterService(period, catalog: s.catalog)
            if let after { lines += [""] + after.lines(timeZone: s.clock.timeZone) }
            // Shown when asked for; a print keeps the screen busy until it reports back.
            guard let printTo else {
                post(.staffReport(lines: Array(lines.dropFirst(2)), message: nil))
                return
            }
            spawn { [self] in
                let msg: String
                switch printTo {
                case .receipt:
                    if let p = s.printer {
                        do {
                            try await p.print(
                                ledger.receipt(
                                    stationName: s.config.station.name,
                                    printedAt: SampleReceipt.timestamp(s.clock.now, clock: s.clock)))
                            msg = "台账已在回执打印机打印"
                        } catch let e as DeviceError {
                            msg = "台账未能打印：" + StaffWording.device(e.residentMessage)
                        } catch { msg = "台账未能打印：" + StaffWording.device("回执打印机故障") }
                    } else {
                        msg = "台账未能打印：" + StaffWording.device("回执打印机未连接")
                    }
                case .a4:
                    // A ruled document with its fonts embedded (subsets of Debian's CJK and Latin fonts).
                    do {
                        let pdf = try LedgerDocument.pdf(
                            ledger, after: after, stationName: s.config.station.name,
                            printedAt: SampleReceipt.timestamp(s.clock.now, clock: s.clock), printedBy: "工号 \(by)",
                            timeZone: s.clock.timeZone)
                        let r = await printA4(pdf, label: "ledger-" + period.label)
                        msg = r.ok ? "台账已在A4打印机打印" : "台账未能打印：" + StaffWording.device(r.message)
                    } catch {
                        log.error("ledger PDF not made", metadata: ["error": "\(error)"])
                        msg = "台账未能生成：\(error)"
                    }
                }
                try? await s.stores.audit.append(
                    actor: by, action: "ledger.printed", subject: period.label,
                    detail: printTo == .a4 ? "a4" : "receipt")
                post(.staffReport(lines: nil, message: msg))
                await refreshDevices()
            }
        case .callStaff(let screen):
            do { try await s.stores.audit.append(actor: "resident", action: "help.requested", subject: screen) } catch {
                log.error("help request not recorded", metadata: ["error": "\(error)"])
            }
            log.notice("a resident asked for staff", metadata: ["screen": "\(screen)"])
            metrics?.helpRequested()
            if let h = try? s.stores.audit.pendingHelpRequests() { post(.helpPending(count: h.count, last: h.last)) }
            await sendHelpCall(screen: screen)
        case .setOutOfService(let notice, let by):
            do {
                try await s.stores.service.setOutOfService(notice: notice, by: by)
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
    nonisolated var a4Printer: CertificatePrinter {
        let services = self.services
        return { pdf, label in
            let r = await Self.printA4(pdf, label: label, services: services)
            return CertificatePrintOutcome(ok: r.ok, message: r.message)
        }
    }

    func printA4(_ pdf: Data, label: String) async -> (ok: Bool, message: String) {
        await Self.printA4(pdf, label: label, services: services)
    }

    nonisolated static func printA4(_ pdf: Data, label: String, services: KioskServices) async -> (
        ok: Bool, message: String
    ) {
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
                return try sim.printPDF(pdf, label: label)
                    ? (true, "文件已打印，请在打印机出纸口取走")
                    : (false, "A4打印机卡纸，未能打印。请联系工作人员处理后补打")
            } catch let e as DeviceError { return (false, e.residentMessage) } catch { return (false, "A4打印机未能打印") }
        }
        return (false, "证照打印机未连接，请到窗口领取")
    }

    /// Device history for the ledger's downtime: the devices that changed since `previous`
    /// (the outbox keeps a row only when state or usability differs from the last one).
    func recordDeviceHistory(_ devices: [DeviceStatus], previous: [DeviceStatus] = []) async {
        for d in devices where !previous.contains(d) {
            let usable = d.state.usable && d.paper != .out && d.paper != .jammed
            try? await services.stores.devices.record(kind: d.kind.rawValue, state: d.state.rawValue, usable: usable)
            services.logger.notice(
                "device state",
                metadata: [
                    "device": "\(d.kind.rawValue)", "state": "\(d.state.rawValue)",
                    "usable": "\(usable)", "event": "device-state",
                ])
        }
    }

    /// The out-of-service notice `kioskctl service` sets in the database (read every 5 s).
    func pollServiceNotice() {
        let n: String?
        do { n = try services.stores.service.outOfServiceNotice() } catch { return }
        if n != lastServiceNotice {
            lastServiceNotice = n
            post(.serviceState(notice: n))
        }
    }
}
