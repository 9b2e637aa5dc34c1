//! One integration-test binary: every test starts the real server on port 0 with a fresh
//! database of the engine chosen by `XYD_TEST_ENGINE` (`sqlite`, the default, or `postgres`
//! with `XYD_TEST_PG_URL` pointing at a server where it may create databases).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod access;
mod admin;
mod admin_manage;
mod amend;
mod api;
mod assignment;
mod audit;
mod browser;
mod campaigns;
mod cli;
mod credit_metric;
mod digest;
mod health;
mod helpers;
mod import;
mod leaders;
mod league_model;
mod mail;
mod mailbox;
mod outbox;
mod pages;
mod people;
mod province_client;
mod reconcile;
mod registration;
mod review;
mod screenshots;
mod simulator;
mod staff_accounts;
mod staff_workspace;
mod store;
mod sync_proofs;
mod trends;
mod worker;
