//! The one place the platform reads the clock for Beijing dates: everything below the edge takes
//! the instant or the day as an argument (see [`crate::domain::calendar`]).

use time::{Date, OffsetDateTime};

use crate::domain::calendar;

/// Today's date in Beijing.
pub fn today() -> Date {
    calendar::day_of(OffsetDateTime::now_utc())
}

/// The current time in Beijing.
pub fn beijing_now() -> OffsetDateTime {
    calendar::in_beijing(OffsetDateTime::now_utc())
}
