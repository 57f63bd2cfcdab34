// The string table's part for what happens after a submission (issue 24): progress, 补正,
// notifications, help, evaluations, staff tools. Kept apart so its additions merge cleanly.
extension Strings {
    /// Every resident-facing text, keyed by its Chinese (the base table and this one).
    public static let english: [String: String] = baseEnglish.merging(afterServiceEnglish) { base, _ in base }

    static let afterServiceEnglish: [String: String] = [
        "已接收，等待受理": "received, waiting to be accepted",
        "已上传": "sent",
        "本事项为咨询服务，无需申办，请拨打咨询电话或到窗口咨询。":
            "This is an advice service: nothing to apply for. Please call the advice line or ask at the service window.",
        // Confirmations and device trouble (point 7)
        "确定要放弃本次申请吗？放弃后以下信息将被清除，不会提交：":
            "Give up this application? The following will be cleared and nothing is submitted:",
        "已拍摄的材料照片 {1} 张": "{1} document photo(s) taken",
        "已输入的手机号码": "the mobile number you typed",
        "已读取的证件信息": "the details read from your card",
        "放弃本次申请？": "Give up this application?",
        "1 放弃并清除   0 继续办理": "1 Give up and clear   0 Continue",
        "放弃申请，清除以上信息": "Give up and clear the above",
        "继续办理（信息保留）": "Continue (nothing is lost)",
        "回执打印机当前：{1}": "Receipt printer: {1}",
        "现在申办可以正常提交，但提交后不能当场打印回执。请记下屏幕上的办件编号，加纸后可在本机补打，或凭办件编号到窗口补打。":
            "You can apply and submit now, but no receipt can be printed here afterwards. Note the case number on the screen: reprint it here once paper is back, or ask at the service window with the case number.",
        "回执打印机暂不可用": "The receipt printer is not available",
        "1 仍然申办   0 返回办事指南": "1 Apply anyway   0 Back to the guide",
        "仍然申办（不打印回执）": "Apply anyway (no receipt printed)",
        "返回办事指南": "Back to the guide",
        "身份证阅读器当前：{1}。请联系工作人员处理，或按 0 返回后到窗口办理。":
            "ID card reader: {1}. Please ask staff for help, or press 0 and go to the service window.",
        "高拍仪当前：{1}。已拍的照片不会丢失；请联系工作人员处理，或到窗口办理。":
            "Document camera: {1}. Photos already taken are kept. Please ask staff for help, or go to the service window.",
        "证照打印机当前：{1}。请联系工作人员处理，或到窗口领取证照。":
            "Certificate printer: {1}. Please ask staff for help, or collect certificates at the service window.",
        "回执打印机当前：{1}。": "Receipt printer: {1}. ",
        "告知单和回执暂不能打印。": "Lists and receipts cannot be printed for now.",
        "本机暂停服务，不能办理此项（原因见上方通知）。已提交的申请不受影响，请到窗口办理。":
            "This kiosk is out of service and cannot do this (see the notice above). Submitted applications are not affected. Please go to the service window.",
        // Help that reaches a person (point 4)
        "正在通知工作人员……": "Telling staff…",
        "暂时未能通知到工作人员。请拨打下面的电话，或到服务窗口找工作人员。":
            "Staff could not be reached just now. Please call the number below, or go to the service window.",
        "求助记录已保存，网络恢复后会自动送达。": "Your call for help is saved and will reach staff once the network is back.",
        "投诉电话：{1}": "Complaints: {1}",
        "办不成事反映：{1}": "If you could not get it done: {1}",
        // Progress in full, 补正 (points 1 and 2)
        "1 打印告知单": "1 Print the notice",
        "1-{1} 查看办理详情   0 结束并返回首页": "1-{1} Details   0 Finish and go home",
        "2 拍照补正": "2 Photograph missing documents",
        "{1}（待）": "{1} (waiting)",
        "下一步：": "Next: ",
        "不予受理理由：": "Reason for not accepting: ",
        "不予受理，原因见上。如有疑问请到窗口咨询或拨打投诉电话。":
            "Not accepted; the reason is above. Ask at the service window or call the complaints line if in doubt.",
        "办理进度": "Progress",
        "已办结。如有证照，送达本机后可在“证照领取”打印，或到窗口领取。":
            "Done. A certificate, if any, can be printed here under Collect certificates once it arrives, or collected at the window.",
        "已超过承诺时限，可拨打投诉电话反映。": "Past the promised time limit: you may call the complaints line.",
        "平台已接收，等待受理；受理后开始计算办理时限。":
            "Received by the government platform, waiting to be accepted; the time limit runs from acceptance.",
        "平台说明：": "Note from the platform (in Chinese): ",
        "手机号码：沿用原申请": "Mobile number: as in the application",
        "承诺时限：{1}{2}": "Promised time limit: {1}{2}",
        "承诺时限：以窗口告知为准": "Promised time limit: as told at the service window",
        "本机记录暂时无法读取，请凭办件编号到窗口查询。":
            "This kiosk's records cannot be read just now. Please ask at the window with your case number.",
        "正在审核，办结后会在本机显示。": "Under review; the result will show here when done.",
        "正在审核，应于 {1} 前办结。": "Under review; due by {1}.",
        "正在打印告知单……": "Printing the notice…",
        "申请发送受阻，请凭办件编号到窗口咨询。": "Sending is blocked. Please ask at the window with your case number.",
        "申请已安全保存在本机，联网后自动发送，无需重新申请。":
            "Your application is saved safely here and is sent once the network is back. No need to apply again.",
        "补正材料，对应办件：{1}": "Missing documents for case {1}",
        "证照已可领取：在本机“证照领取”打印，或到窗口领取。":
            "Your certificate is ready: print it here under Collect certificates, or collect it at the window.",
        "证照已领取，本件办理完毕。": "Certificate collected; this case is complete.",
        "请按补正告知补齐材料：可在本机按 2 拍照提交，或到窗口提交。":
            "Please supply the missing documents listed: press 2 to photograph them here, or bring them to the window.",
        "，应于 {1} 前办结": ", due by {1}",
        "已提交": "submitted",
        "已发送": "sent",
        "平台已接收": "received by the platform",
        "需补正": "documents missing",
        "已领取": "collected",
        "补正材料（第1页）": "Missing documents (page 1)",
        "补正材料（第2页，可跳过）": "Missing documents (page 2, may skip)",
        "补正材料（第3页，可跳过）": "Missing documents (page 3, may skip)",
        // 好差评 for every service (point 5)
        "1 告知单  2 申办  8 评价  9 下页  0 返回": "1 List  2 Apply  8 Rate  9 Next  0 Back",
        "1 打印一次性告知单  2 我要申办  7/9 翻页  8 评价  0 返回":
            "1 Print the list  2 Apply  7/9 Pages  8 Rate  0 Back",
        "1 告知单  8 评价  9 下页  0 返回": "1 List  8 Rate  9 Next  0 Back",
        "1 打印一次性告知单  7/9 翻页  8 评价  0 返回": "1 Print the list  7/9 Pages  8 Rate  0 Back",
        "1-{1} 查看详情   8 评价（自愿）   0 结束": "1-{1} Details   8 Rate (optional)   0 Finish",
        "8 评价本次服务（自愿）   0 结束并返回首页": "8 Rate this service (optional)   0 Finish and go home",
        "1-{1} 打印证照   8 评价（自愿）   0 结束": "1-{1} Print   8 Rate (optional)   0 Finish",
        // Notifications said honestly (point 3)
        "用于接收办理进度短信通知。": "For text messages about your application's progress.",
        "用于工作人员联系您。本机暂不发送短信通知。": "So that staff can contact you. This kiosk sends no text messages.",
        "受理、补正、办结等进度将以短信通知 {1}。": "Progress (accepted, documents missing, done) will be sent by text message to {1}.",
        "本机不发送短信通知，请凭办件编号查询进度。": "This kiosk sends no text messages: check progress with your case number.",
        // Staff tools (point 6): the resident's consent to 帮办代办
        "1 同意代办   0 不同意（结束，不保存任何信息）": "1 I agree   0 I do not agree (ends, nothing is kept)",
        "帮办代办确认": "Assisted service: your consent",
        "本人同意由工作人员 {1} 代为办理本事项，并核对了提交的材料。":
            "I agree that staff member {1} applies on my behalf, and I have checked the documents submitted.",
        "本服务免费，代办不收费。": "This service is free: there is no charge for assisted applications.",
        "申请人：{1}": "Applicant: {1}",
        "请申请人本人按键确认。": "The applicant please confirms with a key.",
    ]
}
