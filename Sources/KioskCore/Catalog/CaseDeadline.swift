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

    /// The end of the `n`th working day after `start`: weekends skipped, and with a working
    /// `calendar` its public holidays skipped and its make-up working days (调休) counted. Without
    /// one (or in a year it does not list) only weekends are skipped.
    public static func addWorkingDays(
        _ n: Int, to start: Date, timeZone: TimeZone, calendar: WorkingCalendar? = nil
    ) -> Date {
        let working = calendar ?? WorkingCalendar()
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        var day = cal.startOfDay(for: start)
        var left = n
        while left > 0 {
            day = cal.date(byAdding: .day, value: 1, to: day) ?? day
            if working.isWorkingDay(day, timeZone: timeZone) { left -= 1 }
        }
        return cal.date(byAdding: DateComponents(day: 1, second: -1), to: day) ?? day
    }

    /// The due date of a case accepted at `accepted` for an item whose guide promises `limit`.
    public static func due(
        accepted: Date, limit: String?, timeZone: TimeZone, calendar: WorkingCalendar? = nil
    ) -> Date? {
        guard let limit, let days = workingDays(limit) else { return nil }
        return addWorkingDays(days, to: accepted, timeZone: timeZone, calendar: calendar)
    }
}
