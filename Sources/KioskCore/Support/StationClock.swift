import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The station's clock: what time it is (`now`) and in which time zone days and months are
/// counted (case numbers, the ledger, receipts). One value is built from the config and passed
/// to everything that needs dates; intervals and backoff use `ContinuousClock` instead.
///
/// The time zone defaults to Asia/Shanghai. Every date the kiosk derives is valid for any clock
/// reading, including a clock reset to 1970 on a kiosk without a battery-backed RTC.
public struct StationClock: Sendable {
    /// The IANA name used when the config names none.
    public static let defaultTimeZoneIdentifier = "Asia/Shanghai"

    public let timeZone: TimeZone
    private let read: @Sendable () -> Date

    /// The current wall-clock time.
    public var now: Date { read() }

    /// A Gregorian calendar in the station's time zone (day and month keys).
    public var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        c.locale = Locale(identifier: "en_US_POSIX")
        return c
    }

    public init(timeZone: TimeZone, now: @escaping @Sendable () -> Date = { Date() }) {
        self.timeZone = timeZone
        self.read = now
    }

    /// `identifier` is an IANA time-zone name such as Asia/Shanghai or Asia/Urumqi.
    public init(timeZoneIdentifier identifier: String, now: @escaping @Sendable () -> Date = { Date() }) throws {
        guard let tz = TimeZone(identifier: identifier) else {
            throw StationClockError(identifier: identifier)
        }
        self.init(timeZone: tz, now: now)
    }

    /// "yyyy-MM-dd HH:mm:ss" of `date` in `timeZone`, as a DateFormatter with the en_US_POSIX
    /// locale writes it, but without ICU's date formatting (its locale and calendar data stay out
    /// of the resident set): the offset from the time zone, the fields from glibc's gmtime_r.
    /// The screen's clock draws with it on every frame.
    public static func dateTimeText(_ date: Date, timeZone: TimeZone) -> String {
        let f = fields(date, offset: timeZone.secondsFromGMT(for: date))
        return "\(f.year)-\(two(f.month))-\(two(f.day)) \(two(f.hour)):\(two(f.minute)):\(two(f.second))"
    }

    /// ISO 8601 in UTC ("2026-12-07T06:01:18Z"), as ISO8601DateFormatter's default and
    /// `.withInternetDateTime` options write it, without ICU.
    public static func iso8601UTC(_ date: Date) -> String {
        let f = fields(date, offset: 0)
        return "\(f.year)-\(two(f.month))-\(two(f.day))T\(two(f.hour)):\(two(f.minute)):\(two(f.second))Z"
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }

    private static func fields(_ date: Date, offset: Int)
        -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int)
    {
        var t = time_t(Int((date.timeIntervalSince1970).rounded(.down)) + offset)
        var tm = tm()
        gmtime_r(&t, &tm)
        return (
            Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min),
            Int(tm.tm_sec)
        )
    }

    /// The station's default clock: system time, Asia/Shanghai (UTC+8 if the time-zone database is missing).
    public static var system: StationClock { StationClock(timeZone: defaultTimeZone) }

    /// A clock in the default time zone reading `now`.
    public static func fixed(_ now: @escaping @Sendable () -> Date) -> StationClock {
        StationClock(timeZone: defaultTimeZone, now: now)
    }

    /// Asia/Shanghai (UTC+8 should the time-zone database lack it).
    public static var defaultTimeZone: TimeZone {
        TimeZone(identifier: defaultTimeZoneIdentifier) ?? TimeZone(secondsFromGMT: 8 * 3600) ?? .current
    }

    /// A formatter in the station's time zone, e.g. "yyyy-MM-dd HH:mm".
    public func formatter(_ format: String) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = timeZone
        f.dateFormat = format
        return f
    }

    /// "yyyyMMdd" of `date` in the station's time zone (the day part of a case number).
    public func dayKey(_ date: Date) -> String {
        // Gregorian fields from the zone's offset at that moment (no calendar or formatter call:
        // every seal asks).
        let f = Self.fields(date, offset: timeZone.secondsFromGMT(for: date))
        return String(f.year) + Self.two(f.month) + Self.two(f.day)
    }

    /// `date` as text in the station's time zone.
    public func string(_ date: Date, format: String) -> String { formatter(format).string(from: date) }
}

public struct StationClockError: Error, CustomStringConvertible, Sendable {
    public var identifier: String
    public var description: String {
        "time zone \"\(identifier)\" is not a known IANA time-zone name; set station.timeZone to a name such as Asia/Shanghai (or remove it for the default)"
    }
}
