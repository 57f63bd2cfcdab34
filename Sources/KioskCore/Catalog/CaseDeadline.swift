import Foundation

/// Promised time limits (承诺时限) as published in guides, and the due dates they give.
public enum CaseDeadline {
    /// "5个工作日" → 5; "即办件" → 0; anything else → nil (no limit in days).
    public static func workingDays(_ limit: String) -> Int? {
        if limit.contains("即办") { return 0 }
        guard limit.contains("工作日") else { return nil }
        let digits = limit.drop { !$0.isNumber }.prefix { $0.isNumber }
        return Int(digits)
    }

    /// The end of the `n`th working day after `start` (weekends skipped; public holidays are not
    /// known to the kiosk, so a due date over a holiday is early, never late).
    public static func addWorkingDays(_ n: Int, to start: Date, timeZone: TimeZone) -> Date {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        var day = cal.startOfDay(for: start)
        var left = n
        while left > 0 {
            day = cal.date(byAdding: .day, value: 1, to: day) ?? day
            let wd = cal.component(.weekday, from: day)
            if wd != 1 && wd != 7 { left -= 1 }
        }
        return cal.date(byAdding: DateComponents(day: 1, second: -1), to: day) ?? day
    }

    /// The due date of a case accepted at `accepted` for an item whose guide promises `limit`.
    public static func due(accepted: Date, limit: String?, timeZone: TimeZone) -> Date? {
        guard let limit, let days = workingDays(limit) else { return nil }
        return addWorkingDays(days, to: accepted, timeZone: timeZone)
    }
}
