//! HubSpot's signed file URLs, remembered for most of their life: every ask is a call in
//! HubSpot's rate window, and a link downloaded again (by the bot, a retry, a browser)
//! needs no new one. In memory and bounded; a restart only costs one ask per file.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Files remembered at most.
const CAPACITY: usize = 1024;

/// A URL is used for this share of the time it is valid, so it never expires mid-download.
const USE_FOR: f64 = 0.75;

struct Entry {
    url: String,
    until: Instant,
}

#[derive(Default)]
pub(crate) struct SignedUrls {
    entries: Mutex<HashMap<String, Entry>>,
}

impl SignedUrls {
    pub(crate) fn get(&self, file_id: &str) -> Option<String> {
        let mut entries = self.entries.lock();
        match entries.get(file_id) {
            Some(e) if e.until > Instant::now() => Some(e.url.clone()),
            Some(_) => {
                entries.remove(file_id);
                None
            }
            None => None,
        }
    }

    /// Remembers `url`, valid for `valid_for` from now.
    pub(crate) fn put(&self, file_id: &str, url: &str, valid_for: Duration) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(file_id) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(
            file_id.to_string(),
            Entry {
                url: url.to_string(),
                until: now + valid_for.mul_f64(USE_FOR),
            },
        );
    }

    /// The URL did not work (expired early, revoked): ask again next time.
    pub(crate) fn forget(&self, file_id: &str) {
        self.entries.lock().remove(file_id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_kept_for_most_of_their_life_and_the_cache_stays_bounded() {
        let urls = SignedUrls::default();
        urls.put("1", "https://cdn/1", Duration::from_secs(3600));
        assert_eq!(urls.get("1").as_deref(), Some("https://cdn/1"));
        urls.put("2", "https://cdn/2", Duration::ZERO);
        assert_eq!(urls.get("2"), None, "an expired URL is not used");
        urls.forget("1");
        assert_eq!(urls.get("1"), None);
        for i in 0..CAPACITY + 10 {
            urls.put(&i.to_string(), "u", Duration::from_secs(60 + i as u64));
        }
        assert_eq!(urls.len(), CAPACITY);
        assert_eq!(urls.get("0"), None, "the soonest to expire made room");
        assert!(urls.get(&(CAPACITY + 9).to_string()).is_some());
    }
}
