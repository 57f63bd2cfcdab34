import Testing
@testable import KioskProtocols

@Suite struct MaskingTests {
    @Test func idNumbers() {
        #expect(Mask.idNumber("11010520000101123X") == "1101**********123X")
        #expect(Mask.idNumber("110105200001010016") == "1101**********0016")
        #expect(Mask.idNumber("USA110080010111") == "USA1*******0111")
        #expect(Mask.idNumber("H00000000") == "H*******0")
        #expect(Mask.idNumber("1234") == "1**4")
        #expect(Mask.idNumber("123") == "***")
        #expect(Mask.idNumber("") == "")
    }

    @Test func names() {
        #expect(Mask.name("张三") == "张*")
        #expect(Mask.name("测试一") == "测**")
        #expect(Mask.name("欧阳测试") == "欧***")
        #expect(Mask.name("张") == "张")
        #expect(Mask.name("") == "")
        #expect(Mask.name("TEST, ONE") == "T********")
        // A supplementary-plane character counts as one.
        #expect(Mask.name("𠀀测") == "𠀀*")
    }

    @Test func phones() {
        #expect(Mask.phone("13800001234") == "138****1234")
        #expect(Mask.phone("01012345678") == "010****5678")
        #expect(Mask.phone("1234567") == "*****67")
        #expect(Mask.phone("12") == "**")
        #expect(Mask.phone("") == "")
    }
}
