//! The event log for the bot: one ordered stream (keys are sled's monotonic ids), each
//! event also indexed by a de-duplication key so that processing a HubSpot event twice
//! never produces two bot events.

use super::{Result, Store, StoredEvent, decode, encode, get_json};
use chrono::{DateTime, Utc};

impl Store {
    /// Appends the event built for a fresh sequence number, unless an event with `key` was
    /// recorded. The caller serializes appends and calls [`Store::mark_event_key`] once the
    /// event's deliveries are queued: a crash before that lets a retry append it again
    /// under the same id (the bot de-duplicates by `webhook-id`); the other order could
    /// lose it.
    pub fn append_event(
        &self,
        key: &str,
        build: impl FnOnce(u64) -> StoredEvent,
    ) -> Result<Option<StoredEvent>> {
        if self.event_keys.contains_key(key)? {
            return Ok(None);
        }
        let seq = self.db.generate_id()?;
        let stored = build(seq);
        self.events.insert(seq.to_be_bytes(), encode(&stored))?;
        Ok(Some(stored))
    }

    pub fn mark_event_key(&self, key: &str, seq: u64) -> Result<()> {
        self.event_keys.insert(key, &seq.to_be_bytes())?;
        Ok(())
    }

    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        get_json(&self.events, seq.to_be_bytes())
    }

    /// Up to `limit` events after `after`, oldest first.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let Some(from) = after.checked_add(1) else {
            return Ok(vec![]);
        };
        self.events
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|e| decode(&e?.1))
            .collect()
    }

    /// Removes events created before `cutoff`; returns how many.
    pub fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let mut removed = 0;
        for entry in self.events.iter() {
            let (k, v) = entry?;
            let stored: StoredEvent = decode(&v)?;
            if stored.event.created_at >= cutoff {
                break;
            }
            self.events.remove(k)?;
            removed += 1;
        }
        Ok(removed)
    }
}
