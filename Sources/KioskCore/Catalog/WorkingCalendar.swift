import Foundation

/// The working calendar (工作日历) promised time limits are counted in: public holidays (法定节假日,
/// including the weekdays given off around them) and the make-up working days (调休上班, a Saturday
/// or Sunday that is worked). Without one, only weekends are skipped.
///
/// It is data, not code: `working-calendar.json` beside `catalog.json` (so a signed catalog bundle
/// carries it), or the file named by `workingCalendar:` in kiosk.yaml. The State Council publishes
/// each year's dates (国务院办公厅关于××××年部分节假日安排的通知) in the autumn before.
///
/// ```json
/// {"source": "…", "sample": false, "years": [2025],
///  "holidays": ["2025-01-01", "2025-01-28..2025-02-04"], "workdays": ["2025-01-26", "2025-02-08"]}
/// ```
public struct WorkingCalendar: Sendable, Equatable {
    /// Days off that are not weekends' own (and weekends inside a holiday): "yyyy-MM-dd".
    public private(set) var holidays: Set<String>
    /// Saturdays or Sundays worked (调休): "yyyy-MM-dd".
    public private(set) var workdays: Set<String>
    /// The years the file lists completely; a date in another year counts weekends only.
    public private(set) var years: Set<Int>
    /// Where the dates come from (the notice), as written in the file.
    public var source: String?
    /// A sample: not checked against the published notice (kioskd warns while one is in use).
    public var sample: Bool

    public static let fileName = "working-calendar.json"

    public init(
        holidays: Set<String> = [], workdays: Set<String> = [], years: Set<Int> = [], source: String? = nil,
        sample: Bool = false
    ) {
        self.holidays = holidays
        self.workdays = workdays
        self.years = years
        self.source = source
        self.sample = sample
    }

    private struct File: Decodable {
        var source: String?
        var sample: Bool?
        var years: [Int]
        var holidays: [String]
        var workdays: [String]
    }

    /// `entry` cut at each "..", as `components(separatedBy: "..")` cuts it, without Foundation's
    /// string search, whose first use maps the regex engine's code (about 0.8 MB) into the daemon.
    static func rangeEnds(_ entry: String) -> [String] {
        var parts: [String] = []
        var start = entry.startIndex
        var i = entry.startIndex
        while i < entry.endIndex {
            let next = entry.index(after: i)
            if entry[i] == ".", next < entry.endIndex, entry[next] == "." {
                parts.append(String(entry[start..<i]))
                i = entry.index(after: next)
                start = i
            } else {
                i = next
            }
        }
        parts.append(String(entry[start...]))
        return parts
    }

    /// Parses and checks a calendar file: every date real and in a listed year, ranges in order, no
    /// day both off and worked, and every make-up working day a Saturday or Sunday (a weekday there
    /// is a typo: weekdays are worked anyway).
    public static func parse(_ data: Data, name: String) throws -> WorkingCalendar {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CatalogError(
                "working calendar \(name) is not valid JSON with years, holidays and workdays (\(error))")
        }
        let years = Set(file.years)
        func days(_ entries: [String], _ what: String) throws -> Set<String> {
            var out = Set<String>()
            for e in entries {
                let ends = Self.rangeEnds(e)
                guard ends.count <= 2, let first = day(ends[0]), let last = day(ends.last!) else {
                    throw CatalogError(
                        "working calendar \(name): \(what) entry \"\(e)\" is not yyyy-MM-dd or yyyy-MM-dd..yyyy-MM-dd")
                }
                guard first <= last, last.timeIntervalSince(first) < 40 * 86400 else {
                    throw CatalogError("working calendar \(name): \(what) range \"\(e)\" is reversed or too long")
                }
                var d = first
                while d <= last {
                    let key = Self.key(d)
                    guard let y = Int(key.prefix(4)), years.contains(y) else {
                        throw CatalogError(
                            "working calendar \(name): \(what) \(key) is in a year not listed under years \(file.years)"
                        )
                    }
                    out.insert(key)
                    d += 86400
                }
            }
            return out
        }
        let holidays = try days(file.holidays, "holiday")
        let workdays = try days(file.workdays, "workday")
        if let both = holidays.intersection(workdays).sorted().first {
            throw CatalogError("working calendar \(name): \(both) is both a holiday and a make-up working day")
        }
        for w in workdays.sorted() where !isWeekend(day(w)!) {
            throw CatalogError(
                "working calendar \(name): make-up working day \(w) is not a Saturday or Sunday (weekdays are worked anyway)"
            )
        }
        return WorkingCalendar(
            holidays: holidays, workdays: workdays, years: years, source: file.source, sample: file.sample ?? false)
    }

    /// `working-calendar.json` beside `catalogFile`, when there is one.
    public static func besideCatalog(_ catalogFile: String) -> String? {
        let path = URL(fileURLWithPath: catalogFile).deletingLastPathComponent().appendingPathComponent(fileName).path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    public static func load(file: String) throws -> WorkingCalendar {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CatalogError("working calendar \(file) cannot be read: check `workingCalendar:` in the config")
        }
        return try parse(data, name: file)
    }

    /// Whether the calendar knows the year of `date` (in `timeZone`).
    public func covers(_ date: Date, timeZone: TimeZone) -> Bool {
        years.contains(Self.calendar(timeZone).component(.year, from: date))
    }

    /// Whether the day of `date` (in `timeZone`) is worked: a make-up day is; a holiday is not;
    /// otherwise Monday to Friday.
    public func isWorkingDay(_ date: Date, timeZone: TimeZone) -> Bool {
        let cal = Self.calendar(timeZone)
        let c = cal.dateComponents([.year, .month, .day, .weekday], from: date)
        let key = String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        if workdays.contains(key) { return true }
        if holidays.contains(key) { return false }
        return c.weekday != 1 && c.weekday != 7
    }

    // Dates in the file are calendar days: handled in UTC, whatever the station's zone.
    static let utc = TimeZone(identifier: "UTC")!

    static func calendar(_ tz: TimeZone) -> Calendar {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        return cal
    }

    /// Midnight UTC of a "yyyy-MM-dd" day, or nil: exactly ten ASCII characters naming a real day
    /// of the Gregorian calendar (what a non-lenient en_US_POSIX DateFormatter parses and writes back
    /// unchanged). Read by hand: a DateFormatter per entry brought ICU's locale, calendar and
    /// number-format data into kioskd's resident set when the calendar was loaded at start.
    static func day(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var n = 0
            for i in r {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return n
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10), y >= 1, (1...12).contains(m)
        else { return nil }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard d >= 1, d <= monthDays[m - 1] else { return nil }
        // Days since 1970-01-01 (the days-from-civil algorithm, years counted from March).
        let yy = m <= 2 ? y - 1 : y
        let era = yy / 400
        let yearOfEra = yy - era * 400
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return Date(timeIntervalSince1970: Double(era * 146_097 + dayOfEra - 719_468) * 86_400)
    }

    static func key(_ d: Date) -> String {
        let c = calendar(utc).dateComponents([.year, .month, .day], from: d)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    static func isWeekend(_ d: Date) -> Bool {
        let wd = calendar(utc).component(.weekday, from: d)
        return wd == 1 || wd == 7
    }
}
