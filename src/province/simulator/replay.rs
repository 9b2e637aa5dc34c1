//! Replay protection: each nonce is accepted once while its timestamp is fresh.

use super::*;

// Nonces

/// Nonces seen within the timestamp window, each kept until its timestamp goes stale: after
/// that the timestamp check refuses a replay by itself, so memory stays bounded by the
/// request rate times the window.
#[derive(Default)]
pub(super) struct NonceCache {
    pub(super) expires_at: HashMap<String, i64>,
    pub(super) next_sweep: i64,
}

impl NonceCache {
    /// Records `nonce`; false if it was already used and has not expired.
    pub(super) fn insert(&mut self, nonce: &str, timestamp: i64, now: i64) -> bool {
        if now >= self.next_sweep {
            // Sweeping at most once a second keeps the cost amortised under load.
            self.expires_at.retain(|_, expiry| *expiry >= now);
            self.next_sweep = now + 1;
        }
        let expiry = timestamp.saturating_add(MAX_CLOCK_SKEW_SECS);
        match self.expires_at.get(nonce) {
            Some(&old) if old >= now => false,
            _ => {
                self.expires_at.insert(nonce.to_owned(), expiry);
                true
            }
        }
    }
}
