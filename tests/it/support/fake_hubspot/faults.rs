//! Failure injection and rate-limit windows.
//!
//! Injected failures are a single FIFO queue so that `fail_next(1, 503)`
//! followed by `rate_limit_next(1, Some(2))` fails the next two calls in that
//! order; tests of retry sequences depend on it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::errors::ApiError;

#[derive(Debug, Clone, Copy)]
pub(super) struct Injected {
    pub status: u16,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Default)]
pub(super) struct Faults {
    pub queue: VecDeque<Injected>,
    pub outage: Option<u16>,
    pub latency: Duration,
    pub reject_publishes: Option<String>,
    /// Added to every Files API upload.
    pub upload_delay: Duration,
    /// The next N authenticated calls are handled (their effects stay) but the connection
    /// breaks before the answer's body arrives, the way a reset looks to a client.
    pub resets: u32,
}

impl Faults {
    /// The error an authenticated API call must answer instead of being
    /// served, if any. An outage wins and does not drain the queue.
    pub fn take(&mut self) -> Option<ApiError> {
        if let Some(status) = self.outage {
            return Some(ApiError::injected(status));
        }
        let inj = self.queue.pop_front()?;
        Some(if inj.status == 429 {
            ApiError::rate_limited("TEN_SECONDLY_ROLLING", inj.retry_after)
        } else {
            let mut e = ApiError::injected(inj.status);
            e.retry_after = inj.retry_after;
            e
        })
    }
}

/// A rolling window of accepted hits (HubSpot's `TEN_SECONDLY_ROLLING`).
/// Rejected calls are not recorded, so traffic resumes as soon as the oldest
/// accepted hit slides out of the window.
#[derive(Debug, Default)]
pub(super) struct RateWindow {
    hits: VecDeque<Instant>,
}

impl RateWindow {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(first) = self.hits.front() {
            if now.duration_since(*first) >= window {
                self.hits.pop_front();
            } else {
                break;
            }
        }
    }

    /// Remaining calls in the window without consuming one.
    pub fn remaining(&mut self, now: Instant, window: Duration, max: u32) -> u32 {
        self.prune(now, window);
        max.saturating_sub(self.hits.len() as u32)
    }

    /// Consumes one call; `Ok(remaining after this call)` or `Err(())` when full.
    pub fn try_hit(&mut self, now: Instant, window: Duration, max: u32) -> Result<u32, ()> {
        self.prune(now, window);
        if self.hits.len() as u32 >= max {
            return Err(());
        }
        self.hits.push_back(now);
        Ok(max - self.hits.len() as u32)
    }
}
