//! Outbox and dead-letter trees. Keys are `lane ‖ 0x00 ‖ seq` (seq big-endian from sled's
//! monotonic id generator), so one prefix scan yields a lane's items in enqueue order.
//! Scheduling (what is due, what is in flight) lives in memory in `crate::outbox` and is
//! rebuilt from these trees at start-up.

use super::{Result, Store, StoreError, decode, encode, put_json};
use crate::outbox::{DeadLetter, OutboxItem};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Work for HubSpot: publishing, closing threads, message statuses.
    HubSpot,
    /// Verified HubSpot webhook events waiting to be turned into bot events.
    Inbound,
    /// Events waiting to be delivered to the bot's webhook.
    Bot,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::HubSpot, Queue::Inbound, Queue::Bot];

    pub(super) fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Queue::HubSpot => "hubspot",
            Queue::Inbound => "inbound",
            Queue::Bot => "bot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey(Vec<u8>);

impl ItemKey {
    pub(crate) fn new(lane: &str, seq: u64) -> ItemKey {
        debug_assert!(!lane.as_bytes().contains(&0));
        let mut key = Vec::with_capacity(lane.len() + 9);
        key.extend_from_slice(lane.as_bytes());
        key.push(0);
        key.extend_from_slice(&seq.to_be_bytes());
        ItemKey(key)
    }

    fn from_bytes(bytes: &[u8]) -> Result<ItemKey> {
        if bytes.len() < 9 || bytes[bytes.len() - 9] != 0 {
            return Err(StoreError::Corrupt("outbox key".into()));
        }
        Ok(ItemKey(bytes.to_vec()))
    }

    pub fn lane(&self) -> &str {
        std::str::from_utf8(&self.0[..self.0.len() - 9]).unwrap_or("")
    }

    pub fn seq(&self) -> u64 {
        u64::from_be_bytes(self.0[self.0.len() - 8..].try_into().expect("8 bytes"))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

pub(super) fn lane_prefix(lane: &str) -> Vec<u8> {
    let mut p = lane.as_bytes().to_vec();
    p.push(0);
    p
}

impl Store {
    pub(super) fn outbox_tree(&self, queue: Queue) -> &sled::Tree {
        match queue {
            Queue::HubSpot => &self.outbox_hubspot,
            Queue::Inbound => &self.outbox_inbound,
            Queue::Bot => &self.outbox_bot,
        }
    }

    /// Appends an item to the end of its lane.
    pub fn outbox_push(&self, queue: Queue, item: &OutboxItem) -> Result<ItemKey> {
        let _gate = self.write_gate();
        let key = ItemKey::new(&item.lane, self.db.generate_id()?);
        self.outbox_tree(queue)
            .insert(key.as_bytes(), encode(item))?;
        self.outbox_added(queue, 1);
        Ok(key)
    }

    pub fn outbox_get(&self, queue: Queue, key: &ItemKey) -> Result<Option<OutboxItem>> {
        self.outbox_tree(queue)
            .get(key.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    pub fn outbox_update(&self, queue: Queue, key: &ItemKey, item: &OutboxItem) -> Result<()> {
        let _gate = self.write_gate();
        self.outbox_tree(queue)
            .insert(key.as_bytes(), encode(item))?;
        Ok(())
    }

    pub fn outbox_remove(&self, queue: Queue, key: &ItemKey) -> Result<()> {
        let _gate = self.write_gate();
        if self.outbox_tree(queue).remove(key.as_bytes())?.is_some() {
            self.queued[queue.index()].fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts items written to a queue (also inside transactions, after they commit).
    pub(super) fn outbox_added(&self, queue: Queue, n: usize) {
        self.queued[queue.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// The oldest item of a lane.
    pub fn outbox_head(&self, queue: Queue, lane: &str) -> Result<Option<(ItemKey, OutboxItem)>> {
        match self
            .outbox_tree(queue)
            .scan_prefix(lane_prefix(lane))
            .next()
        {
            Some(entry) => {
                let (k, v) = entry?;
                Ok(Some((ItemKey::from_bytes(&k)?, decode(&v)?)))
            }
            None => Ok(None),
        }
    }

    /// The head of every lane, for rebuilding the schedule at start-up. Reads keys in
    /// order and decodes only the first item per lane.
    pub fn outbox_heads(&self, queue: Queue) -> Result<Vec<(ItemKey, OutboxItem)>> {
        let mut heads = Vec::new();
        let mut last_lane: Option<Vec<u8>> = None;
        for entry in self.outbox_tree(queue).iter() {
            let (k, v) = entry?;
            let key = ItemKey::from_bytes(&k)?;
            let lane = key.lane().as_bytes();
            if last_lane.as_deref() == Some(lane) {
                continue;
            }
            last_lane = Some(lane.to_vec());
            heads.push((key, decode(&v)?));
        }
        Ok(heads)
    }

    /// Items in a queue. Counted as they come and go (sled's `len` walks the whole tree).
    pub fn outbox_len(&self, queue: Queue) -> usize {
        self.queued[queue.index()].load(Ordering::Relaxed)
    }

    /// Moves an item to the dead letters in one transaction.
    pub fn dead_letter(
        &self,
        queue: Queue,
        key: &ItemKey,
        item: &OutboxItem,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        let _gate = self.write_gate();
        let id = self.db.generate_id()?;
        let letter = DeadLetter {
            id,
            queue: queue.name().into(),
            item: item.clone(),
            reason: reason.into(),
            failed_at: now,
        };
        let existed = (self.outbox_tree(queue), &self.dead_letters)
            .transaction(|(outbox, dead)| {
                let removed = outbox.remove(key.as_bytes())?;
                dead.insert(&id.to_be_bytes(), encode(&letter))?;
                Ok::<_, ConflictableTransactionError<()>>(removed.is_some())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
                sled::transaction::TransactionError::Abort(()) => unreachable!("never aborts"),
            })?;
        if existed {
            self.queued[queue.index()].fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The most recent dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.dead_letters
            .iter()
            .rev()
            .take(limit)
            .map(|e| decode(&e?.1))
            .collect()
    }

    pub fn dead_letter_count(&self) -> usize {
        self.dead_letters.len()
    }

    /// Puts a dead letter back (a replay whose enqueue failed).
    pub fn restore_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.dead_letters, letter.id.to_be_bytes(), letter)
    }

    /// Removes a dead letter and returns it (to discard it, or to queue it again).
    pub fn take_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>> {
        let _gate = self.write_gate();
        self.dead_letters
            .remove(id.to_be_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Job;

    #[test]
    fn keys_order_items_within_a_lane_and_heads_find_each_lane() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let q = Queue::HubSpot;
        let push = |lane: &str| {
            store
                .outbox_push(q, &OutboxItem::new(lane, Job::CloseThread, 0))
                .unwrap()
        };
        let a1 = push("ses_a");
        let b1 = push("ses_b");
        let a2 = push("ses_a");
        assert_eq!(a1.lane(), "ses_a");
        assert!(a1.seq() < a2.seq());
        let heads: Vec<_> = store
            .outbox_heads(q)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(heads, vec![a1.clone(), b1.clone()]);
        store.outbox_remove(q, &a1).unwrap();
        assert_eq!(store.outbox_head(q, "ses_a").unwrap().unwrap().0, a2);
        let item = store.outbox_get(q, &a2).unwrap().unwrap();
        store.dead_letter(q, &a2, &item, "gone", 5).unwrap();
        assert!(store.outbox_head(q, "ses_a").unwrap().is_none());
        let letters = store.dead_letters(10).unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].reason, "gone");
        assert!(store.take_dead_letter(letters[0].id).unwrap().is_some());
        assert_eq!(store.dead_letter_count(), 0);
        assert_eq!(store.outbox_len(q), 1);
    }
}
