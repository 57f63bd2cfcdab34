import Foundation

// Words that mean what happens (issue 24, point 8): consultation items are not applied for, and
// two items with the same name in one category are told apart wherever a resident picks one.

extension CatalogItem {
    /// A consultation service (咨询): answered by phone or at the window; nothing is applied for.
    public var isConsultation: Bool { name.contains("咨询") || type.contains("咨询") }
}

extension Catalog {
    /// The item's name as residents see it in lists and titles: when another item of the same
    /// level and category has the same name, the type (行政给付, 公共服务 …) is added, and the
    /// code as well if the types are the same too.
    /// With `codeOnly` (screens in English) the code alone tells them apart.
    public func distinctName(_ item: CatalogItem, codeOnly: Bool = false) -> String {
        let twins = items(level: item.level, category: item.category).filter {
            $0.name == item.name && $0.code != item.code
        }
        guard !twins.isEmpty else { return item.name }
        if codeOnly { return "\(item.name) (\(item.code))" }
        if twins.contains(where: { $0.type == item.type }) { return "\(item.name)（\(item.type)，\(item.code)）" }
        return "\(item.name)（\(item.type)）"
    }
}
