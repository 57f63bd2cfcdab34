import Foundation

/// Device trouble told to staff (staff screens, staff prints): the device layers word their messages
/// for residents ("…，请联系工作人员处理后补打"); staff are the ones to act, so the resident's
/// instruction is replaced by what staff do about it.
public enum StaffWording {
    /// Phrases that address a resident and have no place on a staff screen.
    public static let residentPhrases = [
        "联系工作人员", "请到窗口", "到窗口领取", "到窗口办理", "请找工作人员", "呼叫工作人员", "按 H",
    ]

    /// The device message for staff: what is wrong, then what to do.
    public static func device(_ residentMessage: String) -> String {
        var what = residentMessage
        // Cut the resident's instruction: from the first clause that tells them to ask staff or go
        // to the window (or to take the paper away).
        for p in ["请联系工作人员", "联系工作人员", "请到窗口", "请找工作人员", "请在打印机出纸口取走", "请取走"] {
            if let r = what.range(of: p) { what = String(what[..<r.lowerBound]) }
        }
        what = what.trimmingCharacters(in: CharacterSet(charactersIn: "，。；,. "))
        if what.isEmpty { what = "设备未能完成操作" }
        return what + "。" + action(residentMessage)
    }

    static func action(_ m: String) -> String {
        if m.contains("缺纸") || m.contains("纸张用完") { return "请加纸后重新操作。" }
        if m.contains("卡纸") { return "请打开打印机取出卡纸后重新操作。" }
        if m.contains("正忙") || m.contains("稍后") { return "请稍等片刻后重新操作。" }
        if m.contains("格式") || m.contains("内容无法打印") || m.contains("任务无效") {
            return "请从业务系统重新下载或打印该文件。"
        }
        return "请检查设备电源和连接后重新操作；仍不行请联系技术人员（技术员菜单或 kioskctl 可查看原因）。"
    }
}
