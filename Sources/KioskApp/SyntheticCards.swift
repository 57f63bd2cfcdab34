import KioskProtocols

/// Made-up residents for the simulated reader: synthetic names and ID numbers with a valid check
/// digit and an obviously fake pattern. Never real people.
public enum SyntheticCards {
    static let photo: [UInt8] =
        [0x57, 0x4C, 0x66, 0x00, 0x7E, 0x00, 0x32, 0x00, 0x00, 0xFF, 0x85] + [UInt8](repeating: 0x5A, count: 1013)

    public static let all: [(label: String, card: IDCardIdentity)] = [
        (
            "居民身份证 测试一",
            card(
                type: .resident, name: "测试一", english: nil, sex: "1", nation: "01", birth: "20000101",
                address: "山西省测试市示例县演示路1号", id: "110105200001010016", authority: "示例县公安局",
                from: "20200101", to: .date("20400101"))
        ),
        (
            "居民身份证 测试二（长期）",
            card(
                type: .resident, name: "测试二", english: nil, sex: "2", nation: "02", birth: "19500101",
                address: "山西省测试市示例县演示村2号", id: "110105195001010020", authority: "示例县公安局",
                from: "20100101", to: .longTerm)
        ),
        (
            "港澳台居民居住证 测试三",
            card(
                type: .hmt, name: "测试三", english: nil, sex: "2", nation: nil, birth: "19900101",
                address: "山西省测试市示例县演示路3号", id: "810000199001010027", authority: "示例县公安局",
                from: "20230101", to: .date("20280101"))
        ),
        (
            "外国人永久居留身份证 TEST",
            card(
                type: .foreign2023, name: "测试四", english: "TEST, PERSON FOUR", sex: "1", nation: nil,
                birth: "19800101", address: nil, id: "911840198001010013", authority: nil,
                from: "20240101", to: .date("20340101"))
        ),
        (
            "工作人员 测试五（演示工号 D001）",
            card(
                type: .resident, name: "测试五", english: nil, sex: "1", nation: "01", birth: "19850505",
                address: "山西省测试市示例县演示路5号", id: "110105198505050038", authority: "示例县公安局",
                from: "20200101", to: .date("20400101"))
        ),
    ]

    static func card(
        type: IDCardType, name: String, english: String?, sex: String, nation: String?, birth: String,
        address: String?, id: String, authority: String?, from: String, to: CardValidity
    ) -> IDCardIdentity {
        IDCardIdentity(
            cardType: type, name: name, englishName: english, sexCode: sex, nationCode: nation,
            birthDate: birth, address: address, idNumber: id, issuingAuthority: authority,
            validFrom: .date(from), validTo: to, nationality: type == .foreign2023 ? "USA" : nil,
            photo: photo)
    }
}
