//! Beijing calendar days, months and ISO weeks: staff targets, follow-ups and digests are all
//! counted in the county's own days, not UTC ones.

use time::{Date, OffsetDateTime, UtcOffset};

/// Beijing time; China has no daylight saving, so a fixed offset is exact.
pub const BEIJING: UtcOffset = time::macros::offset!(+8);

/// The Beijing calendar day of an instant.
pub fn day_of(at: OffsetDateTime) -> Date {
    at.to_offset(BEIJING).date()
}

/// An instant as Beijing wall-clock time.
pub fn in_beijing(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(BEIJING)
}

/// An instant as Beijing wall-clock time to the minute, `2026-03-05 14:30`, for tables.
pub fn format_minute(at: OffsetDateTime) -> String {
    in_beijing(at)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap_or_default()
}

/// An instant as messages write it: `2026年3月5日 14:30（北京时间）`.
pub fn format_deadline(at: OffsetDateTime) -> String {
    let at = in_beijing(at);
    format!(
        "{}年{}月{}日 {:02}:{:02}（北京时间）",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// The target period (`YYYY-MM`) a day falls in.
pub fn period_of(day: Date) -> String {
    format!("{:04}-{:02}", day.year(), u8::from(day.month()))
}

/// The ISO week (`YYYY-Www`) a day falls in: one weekly digest per account and week.
pub fn iso_week_of(day: Date) -> String {
    let (year, week, _) = day.to_iso_week_date();
    format!("{year:04}-W{week:02}")
}

/// Midnight at the start of a Beijing day, as an instant.
pub fn start_of(day: Date) -> OffsetDateTime {
    day.midnight().assume_offset(BEIJING)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn a_utc_evening_is_the_next_beijing_day() {
        assert_eq!(
            day_of(datetime!(2026-11-30 16:30 UTC)),
            date!(2026 - 12 - 01)
        );
        assert_eq!(
            day_of(datetime!(2026-11-30 15:59 UTC)),
            date!(2026 - 11 - 30)
        );
    }

    #[test]
    fn periods_and_weeks() {
        assert_eq!(period_of(date!(2026 - 03 - 09)), "2026-03");
        // 2026-01-01 is a Thursday: ISO week 1 of 2026.
        assert_eq!(iso_week_of(date!(2026 - 01 - 01)), "2026-W01");
        // 2027-01-01 is a Friday: still the last week of 2026.
        assert_eq!(iso_week_of(date!(2027 - 01 - 01)), "2026-W53");
    }

    #[test]
    fn instants_are_written_in_beijing_time() {
        let at = datetime!(2026-03-05 06:30 UTC);
        assert_eq!(format_minute(at), "2026-03-05 14:30");
        assert_eq!(format_deadline(at), "2026年3月5日 14:30（北京时间）");
    }

    #[test]
    fn start_of_a_day_is_beijing_midnight() {
        assert_eq!(
            start_of(date!(2026 - 12 - 01)),
            datetime!(2026-11-30 16:00 UTC)
        );
    }
}
