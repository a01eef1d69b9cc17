//! HubSpot webhook events: which session a thread belongs to, and accepting each event
//! once.

use super::{Result, Store};
use crate::outbox::OutboxItem;
use crate::relay::{EventKey, HubSpotEvent, InboundJob};
#[cfg(test)]
use chrono::{DateTime, Utc};

impl Store {
    pub fn session_of_hubspot_thread(&self, thread_id: &str) -> Result<Option<String>> {
        self.injected()?;
        Ok(self
            .thread_index
            .get(super::thread_key(thread_id))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// See `IngressRepo::accept_inbound_events`. One pass under one session lock, so the
    /// events of a webhook body cost one look-up of the lock per session.
    pub(crate) fn accept_inbound_events(
        &self,
        session_id: &str,
        events: Vec<(EventKey, HubSpotEvent)>,
        now_ms: i64,
    ) -> Result<usize> {
        let _gate = self.write_gate();
        let _session = self.session_lock(session_id);
        let mut accepted = 0;
        for (key, event) in events {
            if self.inbound_seen.contains_key(key.as_str())? {
                continue;
            }
            let marker = seen_marker(now_ms, session_id);
            let seen = key.as_str().to_string();
            let job = InboundJob::HubSpotEvent { key, event };
            self.outbox_push(&OutboxItem::new(session_id, job, now_ms))?;
            self.inbound_seen.insert(seen, marker)?;
            accepted += 1;
        }
        Ok(accepted)
    }

    /// Queues one HubSpot event in the form written up to schema 2 (the raw JSON, parsed
    /// again when processed). handoff no longer writes it; tests use it to build the items
    /// an older handoff left queued. Returns whether the event was new.
    #[cfg(test)]
    pub(crate) fn accept_inbound(
        &self,
        session_id: &str,
        key: &str,
        event: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let _gate = self.write_gate();
        let _session = self.session_lock(session_id);
        if self.inbound_seen.contains_key(key)? {
            return Ok(false);
        }
        let job = InboundJob::Inbound {
            key: EventKey::from(key.to_string()),
            event: event.clone(),
        };
        self.outbox_push(&OutboxItem::new(session_id, job, now.timestamp_millis()))?;
        self.inbound_seen
            .insert(key, seen_marker(now.timestamp_millis(), session_id))?;
        Ok(true)
    }
}

/// A replay marker's value: when it was accepted (unix ms, big-endian) and its session, so
/// the marker lives as long as the session does.
fn seen_marker(at_ms: i64, session_id: &str) -> Vec<u8> {
    let mut v = at_ms.to_be_bytes().to_vec();
    v.extend_from_slice(session_id.as_bytes());
    v
}

/// A marker's acceptance time and session (none in markers written before sessions were
/// recorded; unreadable ones count as new, so they are kept).
pub(super) fn read_marker(v: &[u8]) -> (i64, Option<&str>) {
    let Some((at, session)) = v.split_first_chunk::<8>() else {
        return (i64::MAX, None);
    };
    let session = std::str::from_utf8(session).ok().filter(|s| !s.is_empty());
    (i64::from_be_bytes(*at), session)
}
