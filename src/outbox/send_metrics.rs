//! In-process counters of the outbox worker, read by `/metrics` and `/admin/sync`. Queue depth
//! is not kept here: it is counted from the outbox table, which survives restarts.

use crate::store::outbox::SendOutcome;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The circuit breaker's position, as a gauge value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// The province looked down: nothing is sent until the cool-down ends.
    Open,
    /// Cool-down over: one probe decides whether to close or open again.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// Chinese label for the admin page.
    pub fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "正常发送",
            BreakerState::Open => "已熔断（暂停发送）",
            BreakerState::HalfOpen => "试探中",
        }
    }

    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    fn from_code(code: u8) -> BreakerState {
        match code {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

/// How one send ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    Accepted,
    Rejected,
    Retry,
    Dead,
}

impl SendResult {
    /// How a recorded outcome counts in the metrics (a skipped update counts as delivered).
    #[must_use]
    pub fn of(outcome: &SendOutcome) -> SendResult {
        match outcome {
            SendOutcome::Accepted | SendOutcome::Skipped { .. } => SendResult::Accepted,
            SendOutcome::Rejected { .. } => SendResult::Rejected,
            SendOutcome::Retry { .. } => SendResult::Retry,
            SendOutcome::Dead { .. } => SendResult::Dead,
        }
    }

    pub const ALL: [SendResult; 4] = [
        SendResult::Accepted,
        SendResult::Rejected,
        SendResult::Retry,
        SendResult::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SendResult::Accepted => "accepted",
            SendResult::Rejected => "rejected",
            SendResult::Retry => "retry",
            SendResult::Dead => "dead",
        }
    }

    fn index(self) -> usize {
        match self {
            SendResult::Accepted => 0,
            SendResult::Rejected => 1,
            SendResult::Retry => 2,
            SendResult::Dead => 3,
        }
    }
}

#[derive(Debug, Default)]
pub struct SyncMetrics {
    outcomes: [AtomicU64; 4],
    /// Calls made to the province (register, status, update, L3), successful or not.
    calls: AtomicU64,
    breaker: AtomicU8,
    breaker_opened: AtomicU64,
    breaker_closed: AtomicU64,
}

/// A consistent-enough copy of the counters for rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub outcomes: Vec<(SendResult, u64)>,
    pub calls: u64,
    pub breaker: BreakerState,
    pub breaker_opened: u64,
    pub breaker_closed: u64,
}

impl SyncMetrics {
    pub fn record(&self, result: SendResult) {
        self.outcomes[result.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves the breaker gauge, counting openings and closings.
    pub fn set_breaker(&self, state: BreakerState) {
        let before = BreakerState::from_code(self.breaker.swap(state.code(), Ordering::Relaxed));
        match (before, state) {
            (BreakerState::Open, BreakerState::Open) => {}
            (_, BreakerState::Open) => {
                self.breaker_opened.fetch_add(1, Ordering::Relaxed);
            }
            (BreakerState::Open | BreakerState::HalfOpen, BreakerState::Closed) => {
                self.breaker_closed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    pub fn breaker(&self) -> BreakerState {
        BreakerState::from_code(self.breaker.load(Ordering::Relaxed))
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            outcomes: SendResult::ALL
                .iter()
                .map(|r| (*r, self.outcomes[r.index()].load(Ordering::Relaxed)))
                .collect(),
            calls: self.calls.load(Ordering::Relaxed),
            breaker: self.breaker(),
            breaker_opened: self.breaker_opened.load(Ordering::Relaxed),
            breaker_closed: self.breaker_closed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_transitions_are_counted_once_each() {
        let m = SyncMetrics::default();
        assert_eq!(m.breaker(), BreakerState::Closed);
        m.set_breaker(BreakerState::Open);
        m.set_breaker(BreakerState::Open);
        m.set_breaker(BreakerState::HalfOpen);
        m.set_breaker(BreakerState::Open);
        m.set_breaker(BreakerState::HalfOpen);
        m.set_breaker(BreakerState::Closed);
        m.set_breaker(BreakerState::Closed);
        let s = m.snapshot();
        assert_eq!((s.breaker_opened, s.breaker_closed), (2, 1));
        assert_eq!(s.breaker, BreakerState::Closed);
    }

    #[test]
    fn outcomes_are_counted_per_result() {
        let m = SyncMetrics::default();
        m.record(SendResult::Accepted);
        m.record(SendResult::Accepted);
        m.record(SendResult::Dead);
        let s = m.snapshot();
        assert_eq!(s.outcomes[0], (SendResult::Accepted, 2));
        assert_eq!(s.outcomes[3], (SendResult::Dead, 1));
        assert_eq!(s.outcomes[1], (SendResult::Rejected, 0));
    }
}
