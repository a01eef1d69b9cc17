//! Proactive rate limiting for HubSpot's rolling 10-second window.
//!
//! A token bucket that allows a full burst can put more than the limit into one rolling
//! window, so this keeps the actual calls: a call occupies its slot from the moment it is
//! sent until 10 s after its answer arrived. HubSpot stamps a call somewhere between those
//! two instants, so counting this way can only over-count, never under-count.
//!
//! Account-wide pauses (a 429's `Retry-After`) and HubSpot's own `Remaining` header slow
//! every caller down.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// HubSpot's general window.
pub const WINDOW: Duration = Duration::from_secs(10);

struct State {
    limit: usize,
    /// Calls sent and not answered yet; they count as "now".
    in_flight: usize,
    /// When the answered calls of the last window came back, oldest first. Answers are
    /// recorded as they arrive, so the queue stays sorted and expiry pops from the front.
    done: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl State {
    fn expire(&mut self, now: Instant, window: Duration) {
        while self.done.front().is_some_and(|t| *t + window <= now) {
            self.done.pop_front();
        }
    }

    fn used(&self) -> usize {
        self.in_flight + self.done.len()
    }
}

pub struct RateLimiter {
    configured: usize,
    window: Duration,
    state: Mutex<State>,
    /// Waiters queue here so they are served in order.
    turnstile: tokio::sync::Mutex<()>,
}

/// One call's place in the window; dropping it (when the answer arrived) starts the
/// slot's 10 s in the window.
pub struct Permit<'a> {
    limiter: &'a RateLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = self.limiter.state.lock();
        st.in_flight -= 1;
        st.done.push_back(Instant::now());
    }
}

impl RateLimiter {
    pub fn new(limit_per_window: u32, window: Duration) -> Self {
        let limit = limit_per_window.max(1) as usize;
        RateLimiter {
            configured: limit,
            window,
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                done: VecDeque::new(),
                paused_until: None,
            }),
            turnstile: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits until one more call fits in the window (and no pause is on), then takes a slot.
    pub async fn acquire(&self) -> Permit<'_> {
        let _turn = self.turnstile.lock().await;
        loop {
            let wait_until = {
                let mut st = self.state.lock();
                let now = Instant::now();
                match st.paused_until {
                    Some(until) if until > now => until,
                    _ => {
                        st.paused_until = None;
                        st.expire(now, self.window);
                        if st.used() < st.limit {
                            st.in_flight += 1;
                            return Permit { limiter: self };
                        }
                        // Full: wait for the oldest answered call to leave the window, or
                        // poll shortly while every slot is still in flight.
                        match st.done.front() {
                            Some(t) => *t + self.window,
                            None => now + Duration::from_millis(20),
                        }
                    }
                }
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// Stops every caller until `until` (a 429 is account-wide).
    pub fn pause_until(&self, until: Instant) {
        let mut st = self.state.lock();
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }

    /// Takes HubSpot's view into account: a lower `Max` lowers our limit, and when HubSpot
    /// says fewer calls are left than we think, the difference is counted as used now.
    pub fn observe(&self, max: Option<u32>, remaining: Option<u32>) {
        let mut st = self.state.lock();
        if let Some(max) = max.filter(|m| *m > 0) {
            st.limit = self.configured.min(max as usize);
        }
        if let Some(remaining) = remaining {
            let now = Instant::now();
            st.expire(now, self.window);
            let ours = st.limit.saturating_sub(st.used());
            for _ in remaining as usize..ours {
                st.done.push_back(now);
            }
        }
    }

    /// Calls HubSpot would still accept in the current window, by our count.
    pub fn headroom(&self) -> usize {
        let mut st = self.state.lock();
        st.expire(Instant::now(), self.window);
        st.limit.saturating_sub(st.used())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn no_rolling_window_holds_more_than_the_limit() {
        let limiter = RateLimiter::new(5, WINDOW);
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..12 {
            let permit = limiter.acquire().await;
            sent.push(Instant::now() - start);
            tokio::time::sleep(Duration::from_millis(30)).await; // the call's round trip
            drop(permit);
        }
        // Any 10 s window starting at a send contains at most 5 sends.
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().filter(|u| **u < *t + WINDOW).count();
            assert!(in_window <= 5, "window at {t:?} holds {in_window}");
        }
        assert!(sent[5] >= WINDOW, "the sixth call waited: {:?}", sent[5]);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_and_remaining_slow_callers_down() {
        let limiter = RateLimiter::new(100, WINDOW);
        limiter.pause_until(Instant::now() + Duration::from_secs(3));
        let start = Instant::now();
        drop(limiter.acquire().await);
        assert!(Instant::now() - start >= Duration::from_secs(3));
        limiter.observe(Some(100), Some(2));
        assert_eq!(limiter.headroom(), 2);
        limiter.observe(Some(10), None);
        assert!(limiter.headroom() <= 2);
    }
}
