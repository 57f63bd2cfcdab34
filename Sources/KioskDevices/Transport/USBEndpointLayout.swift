import Foundation

/// How a USB reader's SAM frames map onto its endpoints. Public code for 0400:C35A-class readers
/// shows several: one bulk OUT/IN pair carrying whole frames; two pairs where the preamble and
/// length go to one OUT endpoint and the command to another, and the reply's header and body come
/// from two IN endpoints; interrupt endpoints instead of bulk; or the interface's last IN/OUT pair
/// (the first being a firmware or debug pipe). A profile lists the candidates (`usb.layouts`);
/// the connector probes each with `11 FF` and keeps the first that answers.
public struct USBEndpointLayout: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable { case single, split, interrupt, lastPair = "last-pair" }
    public var kind: Kind
    public var out: UInt8
    public var outIsInterrupt: Bool
    public var `in`: UInt8?
    public var inIsInterrupt: Bool
    /// split: where the rest of each frame goes / comes from.
    public var out2: UInt8?
    public var in2: UInt8?
    /// split: preamble + LEN (the first 7 bytes of a frame) travel on out / in.
    public static let splitHeaderBytes = 7

    public var description: String {
        func h(_ e: UInt8?) -> String { e.map { String(format: "%02X", $0) } ?? "-" }
        switch kind {
        case .split:
            return "split (header OUT \(h(out)) + body OUT \(h(out2)), header IN \(h(`in`)) + body IN \(h(in2)))"
        default:
            return
                "\(kind.rawValue) (OUT \(h(out))\(outIsInterrupt ? " int" : ""), IN \(h(`in`))\(inIsInterrupt ? " int" : ""))"
        }
    }

    /// The layout `kind` on `iface`, nil when its endpoints cannot carry it.
    public static func make(_ kind: Kind, on iface: USBInterfaceInfo) -> USBEndpointLayout? {
        let outs = iface.endpoints.filter { !$0.isIn && ($0.isBulk || $0.isInterrupt) }
        let ins = iface.endpoints.filter { $0.isIn && ($0.isBulk || $0.isInterrupt) }
        switch kind {
        case .single:
            guard let o = outs.first(where: \.isBulk) else { return nil }
            let i = ins.first(where: \.isBulk) ?? ins.first(where: \.isInterrupt)
            return USBEndpointLayout(
                kind: .single, out: o.address, outIsInterrupt: false, in: i?.address,
                inIsInterrupt: i?.isInterrupt ?? false)
        case .interrupt:
            guard let i = ins.first(where: \.isInterrupt) else { return nil }
            guard let o = outs.first(where: \.isInterrupt) ?? outs.first(where: \.isBulk) else { return nil }
            return USBEndpointLayout(
                kind: .interrupt, out: o.address, outIsInterrupt: o.isInterrupt, in: i.address, inIsInterrupt: true)
        case .lastPair:
            guard outs.count > 1 || ins.count > 1, let o = outs.last, let i = ins.last else { return nil }
            return USBEndpointLayout(
                kind: .lastPair, out: o.address, outIsInterrupt: o.isInterrupt, in: i.address,
                inIsInterrupt: i.isInterrupt)
        case .split:
            guard outs.count >= 2, ins.count >= 2 else { return nil }
            return USBEndpointLayout(
                kind: .split, out: outs[0].address, outIsInterrupt: outs[0].isInterrupt, in: ins[0].address,
                inIsInterrupt: ins[0].isInterrupt, out2: outs[1].address, in2: ins[1].address)
        }
    }

    /// The layouts to probe on `iface`, from a profile's `usb.layouts` (default: single only).
    /// Explicit `usb.endpoints` in the profile make a single layout with those endpoints.
    public static func candidates(on iface: USBInterfaceInfo, profile: DeviceProfile?) -> [USBEndpointLayout] {
        if let ep = profile?.usb?.endpoints, let o = ep.out {
            let i = ep.in ?? iface.endpoints.first(where: { $0.isIn })?.address
            let inInt = iface.endpoints.first { $0.address == i }?.isInterrupt ?? false
            let outInt = iface.endpoints.first { $0.address == o }?.isInterrupt ?? false
            return [USBEndpointLayout(kind: .single, out: o, outIsInterrupt: outInt, in: i, inIsInterrupt: inInt)]
        }
        let names = profile?.usb?.layouts ?? ["single"]
        var out: [USBEndpointLayout] = []
        for n in names {
            guard let k = Kind(rawValue: n), let l = make(k, on: iface), !out.contains(l) else { continue }
            out.append(l)
        }
        return out
    }
}
