//! Outbox and dead-letter trees. Keys are `lane ‖ 0x00 ‖ seq` (seq big-endian from sled's
//! monotonic id generator), so one prefix scan yields a lane's items in enqueue order.
//! Scheduling (what is due, what is in flight) lives in memory in `crate::outbox` and is
//! rebuilt from these trees at start-up.

use super::{Result, Store, StoreError, decode, encode, put_json};
use crate::outbox::{DeadLetter, ItemKey, Job, OutboxItem, OutboxRepo, Queue, lane_prefix};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::sync::atomic::Ordering;

impl Store {
    pub(super) fn outbox_tree(&self, queue: Queue) -> &sled::Tree {
        match queue {
            Queue::HubSpot => &self.outbox_hubspot,
            Queue::Inbound => &self.outbox_inbound,
            Queue::Bot => &self.outbox_bot,
        }
    }

    /// Appends an item to the end of its lane.
    pub(crate) fn outbox_push<J: Job>(&self, item: &OutboxItem<J>) -> Result<ItemKey> {
        let queue = J::QUEUE;
        let _gate = self.write_gate();
        let key = ItemKey::new(&item.lane, self.db.generate_id()?);
        self.outbox_tree(queue)
            .insert(key.as_bytes(), encode(item))?;
        self.outbox_added(queue, 1);
        Ok(key)
    }

    #[cfg(test)]
    pub(crate) fn outbox_get<J: Job>(&self, key: &ItemKey) -> Result<Option<OutboxItem<J>>> {
        self.outbox_tree(J::QUEUE)
            .get(key.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    pub(crate) fn outbox_remove(&self, queue: Queue, key: &ItemKey) -> Result<()> {
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

    /// Items in a queue. Counted as they come and go (sled's `len` walks the whole tree).
    pub(crate) fn outbox_len(&self, queue: Queue) -> usize {
        self.queued[queue.index()].load(Ordering::Relaxed)
    }

    /// The most recent dead letters, newest first.
    pub(crate) fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
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
    pub(crate) fn restore_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let _gate = self.write_gate();
        put_json(&self.dead_letters, letter.id.to_be_bytes(), letter)
    }

    /// Removes a dead letter and returns it (to discard it, or to queue it again).
    pub(crate) fn take_dead_letter(&self, id: u64) -> Result<Option<DeadLetter>> {
        let _gate = self.write_gate();
        self.dead_letters
            .remove(id.to_be_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }
}

impl<J: Job> OutboxRepo<J> for Store {
    fn push(&self, item: &OutboxItem<J>) -> Result<ItemKey> {
        self.outbox_push(item)
    }

    fn head(&self, lane: &str) -> Result<Option<(ItemKey, OutboxItem<J>)>> {
        match self
            .outbox_tree(J::QUEUE)
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

    /// Reads keys in order and decodes only the first item per lane.
    fn heads(&self) -> Result<Vec<(ItemKey, OutboxItem<J>)>> {
        let mut heads = Vec::new();
        let mut last_lane: Option<Vec<u8>> = None;
        for entry in self.outbox_tree(J::QUEUE).iter() {
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

    fn update(&self, key: &ItemKey, item: &OutboxItem<J>) -> Result<()> {
        let _gate = self.write_gate();
        self.outbox_tree(J::QUEUE)
            .insert(key.as_bytes(), encode(item))?;
        Ok(())
    }

    fn remove(&self, key: &ItemKey) -> Result<()> {
        self.outbox_remove(J::QUEUE, key)
    }

    /// In one sled transaction.
    fn dead_letter(
        &self,
        key: &ItemKey,
        item: &OutboxItem<J>,
        reason: &str,
        now: i64,
    ) -> Result<DeadLetter> {
        let queue = J::QUEUE;
        let _gate = self.write_gate();
        let id = self.db.generate_id()?;
        let letter = DeadLetter::of(id, item, reason, now);
        let existed = (self.outbox_tree(queue), &self.dead_letters)
            .transaction(|(outbox, dead)| {
                let removed = outbox.remove(key.as_bytes())?;
                dead.insert(&id.to_be_bytes(), encode(&letter))?;
                Ok::<_, ConflictableTransactionError<()>>(removed.is_some())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
                sled::transaction::TransactionError::Abort(()) => unreachable!("never aborts"),
            })?;
        if existed {
            self.queued[queue.index()].fetch_sub(1, Ordering::Relaxed);
        }
        Ok(letter)
    }

    fn depth(&self) -> usize {
        self.outbox_len(J::QUEUE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::HubSpotJob;

    type Repo = dyn OutboxRepo<HubSpotJob>;

    #[test]
    fn keys_order_items_within_a_lane_and_heads_find_each_lane() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let q = Queue::HubSpot;
        let push = |lane: &str| {
            store
                .outbox_push(&OutboxItem::new(lane, HubSpotJob::CloseThread, 0))
                .unwrap()
        };
        let a1 = push("ses_a");
        let b1 = push("ses_b");
        let a2 = push("ses_a");
        assert_eq!(a1.lane(), "ses_a");
        assert!(a1.seq() < a2.seq());
        let heads: Vec<_> = Repo::heads(&store)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        assert_eq!(heads, vec![a1.clone(), b1.clone()]);
        store.outbox_remove(q, &a1).unwrap();
        assert_eq!(Repo::head(&store, "ses_a").unwrap().unwrap().0, a2);
        let item = store.outbox_get::<HubSpotJob>(&a2).unwrap().unwrap();
        Repo::dead_letter(&store, &a2, &item, "gone", 5).unwrap();
        assert!(Repo::head(&store, "ses_a").unwrap().is_none());
        let letters = store.dead_letters(10).unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].reason, "gone");
        assert!(store.take_dead_letter(letters[0].id).unwrap().is_some());
        assert_eq!(store.dead_letter_count(), 0);
        assert_eq!(store.outbox_len(q), 1);
    }
}
