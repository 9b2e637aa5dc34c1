//! 信易贷 onboarding platform: registers a county's market entities under real name on the
//! provincial Xinyidai platform. See `DESIGN.md` in the shared docs for the big picture; the
//! module tree follows it: `domain` (pure rules) → `store` (SQL) → `web` (HTTP edge).

pub mod app;
pub mod application;
pub mod config;
pub mod demo;
pub mod domain;
pub mod jobs;
pub mod mail;
pub mod outbox;
pub mod province;
pub mod report;
pub mod roster;
pub mod security;
pub mod store;
pub mod telemetry;
pub mod web;

/// Today's date in China (UTC+8; no daylight saving, so a fixed offset is exact).
pub fn today_in_china() -> time::Date {
    china_now().date()
}

/// The current time in Asia/Shanghai.
pub fn china_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc().to_offset(domain::calendar::BEIJING)
}
