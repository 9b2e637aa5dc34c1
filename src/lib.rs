//! 信易贷 onboarding platform: registers a county's market entities under real name on the
//! provincial Xinyidai platform. See `DESIGN.md` in the shared docs for the big picture; the
//! module tree follows it: `domain` (pure rules) → `store` (SQL) → `web` (HTTP edge).

pub mod app;
pub mod application;
pub mod clock;
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
pub mod tls;
pub mod web;
