//! Delivery of registrations to the province: the outbox worker (claims rows written in the
//! registration's own transaction, retries with backoff, a circuit breaker) and its counters.

pub mod send_metrics;
pub mod worker;
