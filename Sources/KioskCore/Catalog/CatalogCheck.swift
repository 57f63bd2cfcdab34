import Foundation

/// The checks a catalog must pass before the kiosk shows it: the shipped default at start and
/// every bundle from upstream before it is staged. The same rules as scripts/check-catalog.py
/// where they concern the data itself (the script also compares the default against seed 001).
public enum CatalogCheck {
    public static let caseKinds: Set<String> = ["即办件", "承诺件"]
    public static let materialForms: Set<String> = ["原件", "复印件", "电子件"]
    public static let sampleMark = "示例"
    /// Kiosk functions this kiosk does not have: a sample guide never offers them.
    public static let claimsTheKioskLacks = [
        "一体机缴费", "一体机支付", "一体机上缴费", "本机缴费", "本机支付", "扫码支付", "一体机打印", "在一体机打印", "本机打印",
        "机器上自己打印", "一体机可24小时", "一体机自助取件",
    ]

    /// Every problem found, one sentence each (empty: the catalog passes).
    public static func problems(_ catalog: Catalog) -> [String] {
        var out: [String] = []
        if catalog.items.isEmpty { out.append("the catalog lists no items") }
        for item in catalog.items {
            for (k, v) in [("code", item.code), ("name", item.name), ("type", item.type), ("category", item.category)]
            where v.trimmingCharacters(in: .whitespaces).isEmpty {
                out.append("item \(item.code): \(k) is empty")
            }
        }
        for code in catalog.guides.keys.sorted() {
            guard let g = catalog.guides[code] else { continue }
            out += problems(g, item: catalog.item(code: code))
        }
        return out
    }

    static func problems(_ g: ServiceGuide, item: CatalogItem?) -> [String] {
        var out: [String] = []
        let w = "guide \(g.code)"
        if let item {
            if g.name != item.name { out.append("\(w): name \(g.name) differs from the catalog's \(item.name)") }
            if let t = g.type, t != item.type { out.append("\(w): type \(t) differs from the catalog's \(item.type)") }
        } else {
            out.append("\(w): item \(g.code) is not in the catalog")
        }
        if let k = g.caseKind, !caseKinds.contains(k) {
            out.append("\(w): caseKind must be 即办件 or 承诺件, not \(k)")
        }
        if g.materials.isEmpty { out.append("\(w): no materials (申请材料); list at least one") }
        for m in g.materials {
            if m.name.trimmingCharacters(in: .whitespaces).isEmpty { out.append("\(w): a material has no name") }
            if !materialForms.contains(m.form) {
                out.append("\(w): material \(m.name): form must be 原件, 复印件 or 电子件, not \(m.form)")
            }
            if m.copies < 1 { out.append("\(w): material \(m.name): copies must be at least 1") }
            if m.requirements.trimmingCharacters(in: .whitespaces).isEmpty {
                out.append("\(w): material \(m.name): requirements are empty")
            }
        }
        if let u = g.onlineURL, !(u.hasPrefix("https://") || u.hasPrefix("http://")) {
            out.append("\(w): onlineURL must be an http(s) address, not \(u)")
        }
        if g.sample {
            // Every field of a sample says so, materials, steps and answers included.
            let free: [(String, String?)] = [
                ("legalBasis", g.legalBasis), ("conditions", g.conditions), ("implementer", g.implementer),
                ("window", g.window), ("legalTimeLimit", g.legalTimeLimit),
                ("promisedTimeLimit", g.promisedTimeLimit), ("fee", g.fee), ("feeBasis", g.feeBasis),
                ("location", g.location), ("hours", g.hours), ("resultName", g.resultName),
                ("delivery", g.delivery), ("consultPhone", g.consultPhone), ("complaintPhone", g.complaintPhone),
                ("complaint", g.complaint), ("applicationSample", g.applicationSample),
                ("shortVersion", g.shortVersion), ("plainVersion", g.plainVersion),
            ]
            for (k, v) in free {
                if let v, !v.contains(sampleMark) { out.append("\(w): sample field \(k) is not marked 示例") }
            }
            for m in g.materials where !m.requirements.contains(sampleMark) {
                out.append("\(w): sample material \(m.name): requirements are not marked 示例")
            }
            for (i, s) in g.process.enumerated() where !s.contains(sampleMark) {
                out.append("\(w): sample process step \(i + 1) is not marked 示例")
            }
            for f in g.faq where !f.a.contains(sampleMark) {
                out.append("\(w): sample answer to \(f.q) is not marked 示例")
            }
            let text =
                ([g.hours, g.delivery, g.complaint, g.fee, g.feeBasis, g.plainVersion, g.shortVersion].compactMap { $0 }
                + g.process + g.faq.map(\.a) + g.materials.map(\.requirements)).joined(separator: "\n")
            for claim in claimsTheKioskLacks where text.contains(claim) {
                out.append("\(w): a sample guide claims a kiosk function the kiosk lacks (\(claim)); remove it")
            }
        }
        return out
    }
}
