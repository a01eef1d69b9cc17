//! The event log for the bot: one ordered stream (keys are sled's monotonic ids), each
//! event also indexed by a de-duplication key so that processing a HubSpot event twice
//! never produces two bot events.

use super::{Result, Store, StoredEvent, decode, encode, get_json};
use chrono::{DateTime, Utc};

impl Store {
    /// Appends the event built for a fresh sequence number, unless an event with `key` was
    /// recorded. `EventRepo::append` (in `seam`) serializes appends and calls
    /// [`Store::mark_event_key`] once the event's deliveries are queued: a crash before
    /// that lets a retry append it again under the same id (the bot de-duplicates by
    /// `webhook-id`); the other order could lose it.
    pub(crate) fn append_event(
        &self,
        key: &str,
        build: impl FnOnce(u64) -> StoredEvent,
    ) -> Result<Option<StoredEvent>> {
        let _gate = self.write_gate();
        if self.event_keys.contains_key(key)? {
            return Ok(None);
        }
        let seq = self.db.generate_id()?;
        let stored = build(seq);
        self.events.insert(seq.to_be_bytes(), encode(&stored))?;
        Ok(Some(stored))
    }

    pub(crate) fn mark_event_key(&self, key: &str, seq: u64) -> Result<()> {
        let _gate = self.write_gate();
        self.event_keys.insert(key, &seq.to_be_bytes())?;
        Ok(())
    }

    /// Events in the log. Walks the tree (sled has no count), so only for the dashboard.
    pub(crate) fn event_count(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
        get_json(&self.events, seq.to_be_bytes())
    }

    /// Up to `limit` events after `after`, oldest first.
    pub(crate) fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let Some(from) = after.checked_add(1) else {
            return Ok(vec![]);
        };
        self.events
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|e| decode(&e?.1))
            .collect()
    }

    /// Removes events created before `cutoff`, with their de-duplication keys, and the
    /// markers of HubSpot events accepted before it (HubSpot retries for a day at most).
    /// Returns how many events went.
    pub(crate) fn prune_events(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let _gate = self.write_gate();
        let mut removed = 0;
        for entry in self.events.iter() {
            let (k, v) = entry?;
            let stored: StoredEvent = decode(&v)?;
            if stored.event.created_at >= cutoff {
                break;
            }
            if !stored.key.is_empty() {
                self.event_keys.remove(stored.key.as_str())?;
            }
            self.events.remove(k)?;
            removed += 1;
        }
        let cutoff_ms = cutoff.timestamp_millis();
        for entry in self.inbound_seen.iter() {
            let (k, v) = entry?;
            // A marker stays while its session exists, so a captured webhook can never be
            // accepted again for it; markers without a session go by age alone.
            let (at, session) = super::inbound::read_marker(&v);
            let session_gone = match session {
                Some(id) => !self.sessions.contains_key(id)?,
                None => true,
            };
            if at < cutoff_ms && session_gone {
                self.inbound_seen.remove(k)?;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::Event;
    use chrono::TimeDelta;

    fn event(store: &Store, key: &str, at: DateTime<Utc>) -> Option<StoredEvent> {
        let stored = store
            .append_event(key, |seq| StoredEvent {
                seq,
                event: Event {
                    id: format!("evt_{key}"),
                    kind: "session.message".into(),
                    session_id: "ses_1".into(),
                    external_id: None,
                    created_at: at,
                    data: serde_json::json!({}),
                },
                hubspot_message: None,
                key: key.to_string().into(),
            })
            .unwrap()?;
        store.mark_event_key(key, stored.seq).unwrap();
        Some(stored)
    }

    #[test]
    fn pruning_drops_old_events_their_keys_and_old_inbound_markers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let now = Utc::now();
        let old = now - TimeDelta::days(8);
        event(&store, "old", old).unwrap();
        let fresh = event(&store, "fresh", now).unwrap();
        assert!(event(&store, "fresh", now).is_none(), "a key appends once");
        store
            .accept_inbound("ses_1", "in-old", &serde_json::json!({}), old)
            .unwrap();
        store
            .accept_inbound("ses_1", "in-new", &serde_json::json!({}), now)
            .unwrap();

        assert_eq!(store.prune_events(now - TimeDelta::days(7)).unwrap(), 1);
        let left = store.events_after(0, 10).unwrap();
        let ids: Vec<_> = left.iter().map(|e| (e.seq, e.event.id.as_str())).collect();
        assert_eq!(ids, [(fresh.seq, "evt_fresh")]);
        assert!(
            event(&store, "old", now).is_some(),
            "the old key went with its event"
        );
        assert!(
            !store
                .accept_inbound("ses_1", "in-new", &serde_json::json!({}), now)
                .unwrap()
        );
        assert!(
            store
                .accept_inbound("ses_1", "in-old", &serde_json::json!({}), now)
                .unwrap()
        );
    }

    #[test]
    fn replay_markers_live_as_long_as_their_session() {
        use crate::store::{NewSession, SessionOutcome};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let now = Utc::now();
        let old = now - TimeDelta::days(30);
        let new = NewSession {
            user_id: "usr_1".into(),
            title: None,
            description: None,
            external_id: None,
            idempotency_key: None,
            history: vec![],
            inbox_id: None,
            priority: None,
        };
        let SessionOutcome::Created(session) = store.create_session(&new, old).unwrap() else {
            panic!("created")
        };
        let json = serde_json::json!({});
        assert!(
            store
                .accept_inbound(&session.id, "kept", &json, old)
                .unwrap()
        );
        assert!(
            store
                .accept_inbound("ses_gone", "pruned", &json, old)
                .unwrap()
        );
        store.prune_events(now - TimeDelta::days(7)).unwrap();
        assert!(
            !store
                .accept_inbound(&session.id, "kept", &json, now)
                .unwrap(),
            "the session exists, so its old event is still a replay"
        );
        assert!(
            store
                .accept_inbound("ses_gone", "pruned", &json, now)
                .unwrap()
        );
    }
}
