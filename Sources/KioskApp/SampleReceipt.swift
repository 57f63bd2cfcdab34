import Foundation
import KioskCore
import KioskProtocols

/// Sample documents for technicians (`kioskctl receipt sample`, `kioskctl print test-receipt`).
/// The applicant is made up (测试一, 110105200001010016) and shown masked, as on real receipts.
public enum SampleReceipt {
    public static let applicantName = "测试一"
    public static let applicantID = "110105200001010016"
    public static let applicantPhone = "13800000000"
    public static let caseNumber = "GH202612010001"

    /// An acceptance receipt (受理回执) laid out like the one the flow prints after sealing.
    public static func acceptance(
        stationName: String = "襄垣县古韩镇综合便民服务中心", logo: Bool = true,
        barcode: Bool = false, date: Date = Date(timeIntervalSince1970: 1_796_083_200)
    ) -> ReceiptDocument {
        var e: [ReceiptElement] = []
        if logo { e.append(.logo(emblem(diameter: 96))) }
        e += [
            .title("受理回执"),
            .text(stationName, align: .center),
            .separator,
            .keyValue("办件编号", caseNumber),
            .text("事项：居民身份证换领（到期换证）"),
            .keyValue("申请人", Mask.name(applicantName)),
            .keyValue("证件号码", Mask.idNumber(applicantID)),
            .keyValue("联系电话", Mask.phone(applicantPhone)),
            .keyValue("材料", "2 份（照片）"),
            .keyValue("提交时间", timestamp(date)),
            .keyValue("费用", "¥0.00"),
            .separator,
            .qr(caseNumber, size: 6),
        ]
        if barcode { e.append(.barcode(caseNumber)) }
        e += [
            .text("凭办件编号到窗口或放置身份证在本机查询进度", align: .center),
            .text("请妥善保管本回执", align: .center),
            .feed(2),
            .cut(partial: true),
        ]
        return ReceiptDocument(e)
    }

    /// A technician test receipt: widths, sizes, substitutions, QR, cut. No personal data.
    public static func testPage(profileName: String, columns: Int) -> ReceiptDocument {
        let ruler = String((0..<columns).map { Character(String($0 % 10)) })
        return ReceiptDocument([
            .title("打印测试"),
            .text(profileName, align: .center),
            .separator,
            .text(ruler),
            .text(String(repeating: "中", count: columns / 2)),
            .scaled("倍宽 Double", width: 2, height: 1),
            .text("替换（应印成 ￥ · √ ？）：¥ • ✓ 𠀀"),
            .keyValue("金额", "¥12.50"),
            .separator,
            .qr("KIOSK-TEST", size: 6),
            .feed(2),
            .cut(partial: true),
        ])
    }

    static func timestamp(_ d: Date, clock: StationClock = .system) -> String {
        clock.string(d, format: "yyyy-MM-dd HH:mm")
    }

    /// A ring with a centre dot: a stand-in logo, drawn as a 1-bit raster.
    public static func emblem(diameter: Int) -> RasterImage {
        let w = max(8, diameter)
        var img = RasterImage(widthDots: w, heightDots: w)
        let c = Double(w - 1) / 2
        let r = Double(w) / 2
        for y in 0..<w {
            for x in 0..<w {
                let d = ((Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)).squareRoot()
                if (d <= r && d >= r * 0.8) || d <= r * 0.3 {
                    img.bits[y * img.bytesPerRow + x / 8] |= UInt8(0x80 >> (x % 8))
                }
            }
        }
        return img
    }
}
