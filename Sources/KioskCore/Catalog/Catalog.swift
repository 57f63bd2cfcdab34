import Foundation

/// Administrative level an item is delegated to.
public enum ItemLevel: String, Codable, Sendable, CaseIterable {
    case town
    case village

    public var displayName: String {
        switch self {
        case .town: return "镇级事项"
        case .village: return "村级事项"
        }
    }
}

/// One service item (政务服务事项) of the catalog.
public struct CatalogItem: Codable, Sendable, Equatable, Identifiable {
    public var code: String
    public var name: String
    public var type: String
    public var level: ItemLevel
    public var handling: String
    public var category: String
    public var department: String?
    public var seq: Int?

    public var id: String { code }

    public init(
        code: String, name: String, type: String, level: ItemLevel, handling: String,
        category: String, department: String? = nil, seq: Int? = nil
    ) {
        self.code = code
        self.name = name
        self.type = type
        self.level = level
        self.handling = handling
        self.category = category
        self.department = department
        self.seq = seq
    }
}

/// One required material (申请材料) of a guide.
public struct GuideMaterial: Codable, Sendable, Equatable {
    public var name: String
    public var form: String  // 原件 / 复印件 / 电子件
    public var copies: Int
    public var requirements: String
    public var photograph: Bool  // the kiosk asks the resident to photograph it

    public init(name: String, form: String, copies: Int, requirements: String, photograph: Bool) {
        self.name = name
        self.form = form
        self.copies = copies
        self.requirements = requirements
        self.photograph = photograph
    }
}

public struct GuideFAQ: Codable, Sendable, Equatable {
    public var q: String
    public var a: String
}

/// A service guide (办事指南) with the element list the seeds and provincial standards name.
public struct ServiceGuide: Codable, Sendable, Equatable {
    public var code: String
    public var name: String
    public var sample: Bool
    public var sampleNotice: String?
    public var type: String?
    public var caseKind: String?  // 办件类型: 即办件 / 承诺件
    public var implementer: String?  // 实施主体/办理机构
    public var window: String?  // 承办窗口
    public var legalBasis: String?  // 设定依据
    public var conditions: String?  // 受理条件
    public var materials: [GuideMaterial]  // 申请材料
    public var process: [String]  // 办理流程
    public var legalTimeLimit: String?  // 法定办结时限
    public var promisedTimeLimit: String?  // 承诺办结时限
    public var fee: String?  // 收费标准
    public var feeBasis: String?  // 收费依据
    public var location: String?  // 办理地点
    public var hours: String?  // 办理时间
    public var visits: Int?  // 到现场次数
    public var onlineURL: String?  // 网办地址
    public var resultName: String?  // 结果名称
    public var delivery: String?  // 送达方式
    public var consultPhone: String?  // 咨询电话
    public var complaintPhone: String?  // 投诉电话
    public var complaint: String?  // 监督方式 (监督投诉方式)
    public var applicationSample: String?  // 申请书示范文本 (printed with the 一次性告知单)
    public var faq: [GuideFAQ]  // 常见问题
    public var shortVersion: String?  // 简版
    public var plainVersion: String?  // 白话版

    enum CodingKeys: String, CodingKey {
        case code, name, sample, sampleNotice, type, caseKind, implementer, window, legalBasis, conditions
        case materials, process, legalTimeLimit, promisedTimeLimit, fee, feeBasis, location, hours, visits, onlineURL
        case resultName, delivery, consultPhone, complaintPhone, complaint, applicationSample, faq, shortVersion
        case plainVersion
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decode(String.self, forKey: .code)
        name = try c.decode(String.self, forKey: .name)
        sample = try c.decodeIfPresent(Bool.self, forKey: .sample) ?? false
        sampleNotice = try c.decodeIfPresent(String.self, forKey: .sampleNotice)
        type = try c.decodeIfPresent(String.self, forKey: .type)
        caseKind = try c.decodeIfPresent(String.self, forKey: .caseKind)
        implementer = try c.decodeIfPresent(String.self, forKey: .implementer)
        window = try c.decodeIfPresent(String.self, forKey: .window)
        legalBasis = try c.decodeIfPresent(String.self, forKey: .legalBasis)
        conditions = try c.decodeIfPresent(String.self, forKey: .conditions)
        materials = try c.decodeIfPresent([GuideMaterial].self, forKey: .materials) ?? []
        process = try c.decodeIfPresent([String].self, forKey: .process) ?? []
        legalTimeLimit = try c.decodeIfPresent(String.self, forKey: .legalTimeLimit)
        promisedTimeLimit = try c.decodeIfPresent(String.self, forKey: .promisedTimeLimit)
        fee = try c.decodeIfPresent(String.self, forKey: .fee)
        feeBasis = try c.decodeIfPresent(String.self, forKey: .feeBasis)
        location = try c.decodeIfPresent(String.self, forKey: .location)
        hours = try c.decodeIfPresent(String.self, forKey: .hours)
        visits = try c.decodeIfPresent(Int.self, forKey: .visits)
        onlineURL = try c.decodeIfPresent(String.self, forKey: .onlineURL)
        resultName = try c.decodeIfPresent(String.self, forKey: .resultName)
        delivery = try c.decodeIfPresent(String.self, forKey: .delivery)
        consultPhone = try c.decodeIfPresent(String.self, forKey: .consultPhone)
        complaintPhone = try c.decodeIfPresent(String.self, forKey: .complaintPhone)
        complaint = try c.decodeIfPresent(String.self, forKey: .complaint)
        applicationSample = try c.decodeIfPresent(String.self, forKey: .applicationSample)
        faq = try c.decodeIfPresent([GuideFAQ].self, forKey: .faq) ?? []
        shortVersion = try c.decodeIfPresent(String.self, forKey: .shortVersion)
        plainVersion = try c.decodeIfPresent(String.self, forKey: .plainVersion)
    }

    public init(
        code: String, name: String, sample: Bool, materials: [GuideMaterial], process: [String] = [],
        shortVersion: String? = nil
    ) {
        self.code = code
        self.name = name
        self.sample = sample
        self.materials = materials
        self.process = process
        self.shortVersion = shortVersion
        self.faq = []
    }

    /// Materials the kiosk asks the resident to photograph.
    public var materialsToPhotograph: [GuideMaterial] { materials.filter(\.photograph) }
}

public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The service catalog with its guides: loaded once, read-only.
public struct Catalog: Sendable {
    public private(set) var items: [CatalogItem]
    public private(set) var guides: [String: ServiceGuide]
    public var source: String?
    /// Preferred order of categories on screen (from the catalog file); others follow in first-seen order.
    public var categoryOrder: [String]
    /// The working calendar due dates are counted in (`working-calendar.json` beside the catalog,
    /// or kiosk.yaml's `workingCalendar:`); nil: weekends only.
    public var workingCalendar: WorkingCalendar?

    public init(
        items: [CatalogItem], guides: [String: ServiceGuide] = [:], source: String? = nil, categoryOrder: [String] = []
    ) {
        self.items = items
        self.guides = guides
        self.source = source
        self.categoryOrder = categoryOrder
    }

    private struct File: Decodable {
        var source: String?
        struct CategoryEntry: Decodable { var name: String }
        var categories: [String: [CategoryEntry]]?
        var items: [CatalogItem]
    }

    /// Loads `catalog.json`, every `<code>.json` in the guides directory, and the working calendar:
    /// `workingCalendarFile`, else `working-calendar.json` beside the catalog file when there is one.
    public static func load(
        catalogFile: String, guidesDirectory: String?, workingCalendarFile: String? = nil
    ) throws -> Catalog {
        guard let data = FileManager.default.contents(atPath: catalogFile) else {
            throw CatalogError("catalog file \(catalogFile) cannot be read: check `catalog:` in the config")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw CatalogError(
                "catalog file \(catalogFile) is not valid catalog JSON (\(error)); regenerate it with scripts/build-catalog.py"
            )
        }
        var seen = Set<String>()
        for item in file.items {
            guard seen.insert(item.code).inserted else {
                throw CatalogError(
                    "catalog file \(catalogFile) lists item code \(item.code) twice; codes must be unique")
            }
        }
        var guides: [String: ServiceGuide] = [:]
        if let dir = guidesDirectory, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) {
            for name in names.sorted() where name.hasSuffix(".json") {
                let path = dir + "/" + name
                guard let g = FileManager.default.contents(atPath: path) else { continue }
                do {
                    let guide = try JSONDecoder().decode(ServiceGuide.self, from: g)
                    guard seen.contains(guide.code) else {
                        throw CatalogError("guide \(path) is for item \(guide.code), which is not in the catalog")
                    }
                    guides[guide.code] = guide
                } catch let e as CatalogError {
                    throw e
                } catch {
                    throw CatalogError("guide \(path) is not valid guide JSON (\(error)); fix or remove the file")
                }
            }
        }
        var catalog = Catalog(
            items: file.items, guides: guides, source: file.source,
            categoryOrder: ((file.categories?["town"] ?? []) + (file.categories?["village"] ?? [])).map(\.name))
        if let f = workingCalendarFile ?? WorkingCalendar.besideCatalog(catalogFile) {
            catalog.workingCalendar = try WorkingCalendar.load(file: f)
        }
        return catalog
    }

    public func item(code: String) -> CatalogItem? { items.first { $0.code == code } }
    public func guide(for code: String) -> ServiceGuide? { guides[code] }

    public func items(level: ItemLevel) -> [CatalogItem] { items.filter { $0.level == level } }

    /// Categories of a level in first-seen order.
    public func categories(level: ItemLevel) -> [String] {
        var seen: [String] = []
        for item in items where item.level == level && !seen.contains(item.category) { seen.append(item.category) }
        var ordered: [String] = []
        for c in categoryOrder where seen.contains(c) && !ordered.contains(c) { ordered.append(c) }
        return ordered + seen.filter { !ordered.contains($0) }
    }

    public func items(level: ItemLevel, category: String) -> [CatalogItem] {
        items.filter { $0.level == level && $0.category == category }
    }
}
