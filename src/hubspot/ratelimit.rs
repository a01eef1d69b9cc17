//! Proactive rate limiting for HubSpot's rolling 10-second window.
//!
//! A token bucket that allows a full burst can put more than the limit into one rolling
//! window, so this keeps the actual calls: a call occupies its slot from the moment it is
//! sent until 10 s after its answer arrived. HubSpot stamps a call somewhere between those
//! two instants, so counting this way can only over-count, never under-count.
//!
//! Account-wide pauses (a 429's `Retry-After`) and HubSpot's own `Remaining` header slow
//! every caller down.
//!
//! Work done for an outside caller (a download through a file link) gets a small share of
//! the same window instead of waiting in line: it never takes more than that share, and
//! its calls count in the window like any other, so the total stays within the limit.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// HubSpot's general window.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// The share of the limit outside callers (file links) may use, in percent; at least one
/// call, so a very low limit still lets a link work now and then.
pub(crate) const SHARE_PERCENT: usize = 10;

struct State {
    limit: usize,
    /// Calls sent and not answered yet; they count as "now".
    in_flight: usize,
    /// When the answered calls of the last window came back, oldest first. Answers are
    /// recorded as they arrive, so the queue stays sorted and expiry pops from the front.
    done: VecDeque<Instant>,
    paused_until: Option<Instant>,
    /// The share's calls, counted in `in_flight` and `done` too.
    share_in_flight: usize,
    share_done: VecDeque<Instant>,
}

impl State {
    fn expire(&mut self, now: Instant, window: Duration) {
        while self.done.front().is_some_and(|t| *t + window <= now) {
            self.done.pop_front();
        }
        while self.share_done.front().is_some_and(|t| *t + window <= now) {
            self.share_done.pop_front();
        }
    }

    fn used(&self) -> usize {
        self.in_flight + self.done.len()
    }

    fn share_limit(&self) -> usize {
        (self.limit * SHARE_PERCENT / 100).max(1)
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
pub(crate) struct Permit<'a> {
    limiter: &'a RateLimiter,
    share: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = self.limiter.state.lock();
        let now = Instant::now();
        st.in_flight -= 1;
        st.done.push_back(now);
        if self.share {
            st.share_in_flight -= 1;
            st.share_done.push_back(now);
        }
    }
}

impl RateLimiter {
    pub(crate) fn new(limit_per_window: u32, window: Duration) -> Self {
        let limit = limit_per_window.max(1) as usize;
        RateLimiter {
            configured: limit,
            window,
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                done: VecDeque::new(),
                paused_until: None,
                share_in_flight: 0,
                share_done: VecDeque::new(),
            }),
            turnstile: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits until one more call fits in the window (and no pause is on), then takes a slot.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
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
                            return Permit {
                                limiter: self,
                                share: false,
                            };
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

    /// A slot from the outside callers' share, now or never: `Err` says how long until one
    /// may be free. It does not wait, so a flood of downloads answers 429 at once instead
    /// of queueing in front of message delivery.
    pub(crate) fn try_acquire_share(&self) -> Result<Permit<'_>, Duration> {
        let mut st = self.state.lock();
        let now = Instant::now();
        if let Some(until) = st.paused_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        st.expire(now, self.window);
        // When the oldest answered call of `queue` leaves the window (or soon, when every
        // call counted is still in flight).
        let free_at = |queue: &VecDeque<Instant>| {
            queue
                .front()
                .map(|t| (*t + self.window).saturating_duration_since(now))
                .unwrap_or(Duration::from_secs(1))
        };
        if st.share_in_flight + st.share_done.len() >= st.share_limit() {
            return Err(free_at(&st.share_done));
        }
        if st.used() >= st.limit {
            return Err(free_at(&st.done));
        }
        st.in_flight += 1;
        st.share_in_flight += 1;
        Ok(Permit {
            limiter: self,
            share: true,
        })
    }

    /// Stops every caller until `until` (a 429 is account-wide).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut st = self.state.lock();
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }

    /// Takes HubSpot's view into account: a lower `Max` lowers our limit, and when HubSpot
    /// says fewer calls are left than we think, the difference is counted as used now.
    pub(crate) fn observe(&self, max: Option<u32>, remaining: Option<u32>) {
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

    #[tokio::test(start_paused = true)]
    async fn the_share_is_a_tenth_of_the_same_window() {
        let limiter = RateLimiter::new(50, WINDOW);
        let taken: Vec<_> = (0..5)
            .map(|_| limiter.try_acquire_share().unwrap())
            .collect();
        let wait = limiter
            .try_acquire_share()
            .err()
            .expect("the share is spent");
        assert!(wait > Duration::ZERO && wait <= WINDOW, "{wait:?}");
        drop(taken);
        // The share's calls count in the window: 45 more fill it.
        assert_eq!(limiter.headroom(), 45);
        let others: Vec<_> =
            futures_util::future::join_all((0..45).map(|_| limiter.acquire())).await;
        assert_eq!(limiter.headroom(), 0);
        drop(others);
        tokio::time::sleep(WINDOW).await;
        // A full window (by other callers) leaves no share either.
        let full: Vec<_> = futures_util::future::join_all((0..50).map(|_| limiter.acquire())).await;
        assert!(limiter.try_acquire_share().is_err());
        drop(full);
        tokio::time::sleep(WINDOW).await;
        assert!(
            limiter.try_acquire_share().is_ok(),
            "free again a window later"
        );
    }
}
