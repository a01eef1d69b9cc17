//! Personal data does not stay forever: a closed or failed session older than
//! `store.retention` is removed with its indexes (`externalId`, `Idempotency-Key`, message
//! ids, its HubSpot thread), and its user too when no other session still names them.
//! A session with work still queued is kept until that work is done.

use super::{Queue, Result, Store, decode};
use crate::outbox::lane_prefix;
use crate::relay::{Session, User};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

impl Store {
    /// Removes what ended before `cutoff`; returns how many sessions went.
    pub fn prune_sessions(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let mut expired = Vec::new();
        let mut users_in_use = HashSet::new();
        for entry in self.sessions.iter() {
            let session: Session = decode(&entry?.1)?;
            let ended = session.closed_at.unwrap_or(session.created_at);
            if session.status.is_final() && ended < cutoff && !self.has_queued_work(&session.id)? {
                expired.push(session);
            } else {
                users_in_use.insert(session.user_id);
            }
        }
        let _gate = self.write_gate();
        for session in &expired {
            self.remove_session(session)?;
            if !users_in_use.contains(&session.user_id) {
                self.remove_user(&session.user_id)?;
            }
        }
        Ok(expired.len())
    }

    fn has_queued_work(&self, session_id: &str) -> Result<bool> {
        let prefix = lane_prefix(session_id);
        for queue in Queue::ALL {
            if self
                .outbox_tree(queue)
                .scan_prefix(&prefix)
                .next()
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn remove_session(&self, session: &Session) -> Result<()> {
        let _lock = self.session_lock(&session.id);
        for key in [
            session.external_id.as_ref().map(|k| format!("ext:{k}")),
            session
                .idempotency_key
                .as_ref()
                .map(|k| format!("idem:{k}")),
        ]
        .into_iter()
        .flatten()
        {
            // Only while it still names this session: a later one may have taken the key.
            if self.session_keys.get(&key)?.as_deref() == Some(session.id.as_bytes()) {
                self.session_keys.remove(&key)?;
            }
        }
        for entry in self.message_ids.scan_prefix(lane_prefix(&session.id)) {
            self.message_ids.remove(entry?.0)?;
        }
        if let Some(thread) = &session.hubspot_thread_id {
            self.thread_index.remove(super::thread_key(thread))?;
        }
        self.sessions.remove(&session.id)?;
        Ok(())
    }

    fn remove_user(&self, user_id: &str) -> Result<()> {
        let Some(bytes) = self.users.remove(user_id)? else {
            return Ok(());
        };
        let user: User = decode(&bytes)?;
        let key = User::identity_key(
            user.email.as_deref(),
            user.phone.as_deref(),
            user.external_id.as_deref(),
        );
        if let Some(key) = key
            && self.user_keys.get(&key)?.as_deref() == Some(user_id.as_bytes())
        {
            self.user_keys.remove(&key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{NewSession, SessionOutcome, SessionStatus, Store};
    use chrono::{TimeDelta, Utc};

    #[test]
    fn a_session_with_queued_work_is_kept_past_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let then = Utc::now() - TimeDelta::days(100);
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
        let SessionOutcome::Created(s) = store.create_session(&new, then).unwrap() else {
            panic!("created")
        };
        store
            .update_session(&s.id, |s| {
                s.status = SessionStatus::Failed;
            })
            .unwrap();
        let cutoff = Utc::now() - TimeDelta::days(90);
        assert_eq!(
            store.prune_sessions(cutoff).unwrap(),
            0,
            "its start is queued"
        );
        for queue in crate::store::Queue::ALL {
            let keys: Vec<_> = store
                .outbox_tree(queue)
                .iter()
                .keys()
                .map(|k| k.unwrap())
                .collect();
            for key in keys {
                store.outbox_tree(queue).remove(key).unwrap();
            }
        }
        assert_eq!(store.prune_sessions(cutoff).unwrap(), 1);
        assert!(store.session(&s.id).unwrap().is_none());
    }
}
