//! The login limit: 5 attempts per client address and 30 from all addresses per 5 minutes.
//!
//! An attempt is counted when it *starts* (a reservation), not when Argon2 has finished:
//! counting afterwards let 40 parallel requests all pass the check before the first one
//! failed. A successful login gives its reservation back.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub(crate) const PER_ADDRESS: usize = 5;
pub(crate) const OVERALL: usize = 30;
pub(crate) const WINDOW: Duration = Duration::from_secs(300);

#[derive(Clone, Copy)]
struct Attempt {
    at: Instant,
    id: u64,
}

/// A counted attempt; hand it back with [`Attempts::forgive`] when the password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    key: IpAddr,
    id: u64,
}

#[derive(Default)]
pub(crate) struct Attempts {
    by_address: HashMap<IpAddr, VecDeque<Attempt>>,
    overall: VecDeque<Attempt>,
    next_id: u64,
}

/// One IPv6 host usually owns a whole /64, so that is what one address means there.
fn key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// How long until the oldest of the last `limit` attempts leaves the window.
fn wait_for(q: &VecDeque<Attempt>, limit: usize, now: Instant) -> Option<Duration> {
    (q.len() >= limit).then(|| WINDOW.saturating_sub(now.duration_since(q[q.len() - limit].at)))
}

impl Attempts {
    fn prune(&mut self, now: Instant) {
        let old = |q: &mut VecDeque<Attempt>| {
            while q.front().is_some_and(|a| now.duration_since(a.at) > WINDOW) {
                q.pop_front();
            }
        };
        old(&mut self.overall);
        self.by_address.retain(|_, q| {
            old(q);
            !q.is_empty()
        });
    }

    /// Counts an attempt from `address`, or says how long it must wait first.
    ///
    /// The overall limit throttles only addresses that already have attempts in the
    /// window: an address with none keeps one try, so failures from elsewhere cannot lock
    /// the admin out (the price: an attacker with many addresses gets one try per address
    /// per window, on top of the per-address limit).
    pub(crate) fn reserve(
        &mut self,
        address: IpAddr,
        now: Instant,
    ) -> Result<Reservation, Duration> {
        self.prune(now);
        let key = key(address);
        let mine = self.by_address.get(&key);
        if let Some(wait) = mine.and_then(|q| wait_for(q, PER_ADDRESS, now)) {
            return Err(wait);
        }
        if mine.is_some()
            && let Some(wait) = wait_for(&self.overall, OVERALL, now)
        {
            return Err(wait);
        }
        self.next_id += 1;
        let attempt = Attempt {
            at: now,
            id: self.next_id,
        };
        self.by_address.entry(key).or_default().push_back(attempt);
        self.overall.push_back(attempt);
        Ok(Reservation {
            key,
            id: attempt.id,
        })
    }

    /// Gives a reservation back: the password was right (or it was never checked).
    pub(crate) fn forgive(&mut self, reservation: Reservation) {
        let keep = |a: &Attempt| a.id != reservation.id;
        if let Some(q) = self.by_address.get_mut(&reservation.key) {
            q.retain(keep);
            if q.is_empty() {
                self.by_address.remove(&reservation.key);
            }
        }
        self.overall.retain(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let mut a = Attempts::default();
        let now = Instant::now();
        // Five parallel attempts that have not finished yet fill the address's limit.
        for _ in 0..PER_ADDRESS {
            a.reserve(ip("10.0.0.1"), now).unwrap();
        }
        let wait = a.reserve(ip("10.0.0.1"), now).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(290));
        assert!(a.reserve(ip("10.0.0.2"), now).is_ok(), "others go on");
        assert!(
            a.reserve(ip("10.0.0.1"), now + WINDOW + Duration::from_secs(1))
                .is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn a_right_password_gives_its_attempt_back() {
        let mut a = Attempts::default();
        let now = Instant::now();
        for _ in 0..PER_ADDRESS - 1 {
            a.reserve(ip("10.0.0.1"), now).unwrap();
        }
        let good = a.reserve(ip("10.0.0.1"), now).unwrap();
        a.forgive(good);
        assert!(a.reserve(ip("10.0.0.1"), now).is_ok());
    }

    #[test]
    fn the_overall_limit_spares_addresses_without_attempts() {
        let mut a = Attempts::default();
        let now = Instant::now();
        a.reserve(ip("10.3.0.1"), now).unwrap();
        for i in 1..OVERALL {
            a.reserve(IpAddr::from([10, 1, (i / PER_ADDRESS) as u8, 0]), now)
                .unwrap();
        }
        // An address that tried before (once) waits for the overall limit...
        assert!(a.reserve(ip("10.3.0.1"), now).is_err());
        // ...one that never did keeps a single try.
        let fresh = a
            .reserve(ip("10.2.0.1"), now)
            .expect("a clean address may try");
        assert!(a.reserve(ip("10.2.0.1"), now).is_err(), "but only one");
        a.forgive(fresh);
        assert!(
            a.reserve(ip("10.2.0.1"), now).is_ok(),
            "a success gives it back"
        );
    }

    #[test]
    fn one_ipv6_host_is_its_64() {
        let mut a = Attempts::default();
        let now = Instant::now();
        for i in 0..PER_ADDRESS {
            a.reserve(format!("2001:db8::{i}").parse().unwrap(), now)
                .unwrap();
        }
        assert!(a.reserve(ip("2001:db8::ffff"), now).is_err());
        assert!(a.reserve(ip("2001:db8:0:1::1"), now).is_ok());
    }
}
