//! The persistent outbox: every piece of outbound work is stored (and flushed) before it is
//! acknowledged, then delivered by one background worker per destination, in order per
//! lane (a session), lanes independently, with retries and dead letters.
//!
//! The items live in the store; this module keeps the schedule in memory: which lane's
//! head is due when, and which lanes are in flight. An in-flight item is leased to the one
//! task delivering it, for at most the lease time (the worker's timeout); a crash drops
//! every lease, and [`Outbox::recover`] rebuilds the schedule from the store.

mod job;
mod queue;
mod repo;
pub(crate) mod retry;
pub(crate) mod worker;

pub use job::{DeadLetter, Job, OutboxItem};
pub(crate) use queue::{ItemKey, Queue, lane_prefix};
pub(crate) use repo::OutboxRepo;

use crate::relay::StoreError;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

/// An item leased to one delivery attempt.
#[derive(Debug, Clone)]
pub struct Claim<J> {
    pub key: ItemKey,
    pub item: OutboxItem<J>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneState {
    /// The lane's head may be tried at this time (unix ms).
    Waiting(i64),
    InFlight,
}

#[derive(Default)]
struct Schedule {
    due: BTreeSet<(i64, String)>,
    lanes: HashMap<String, LaneState>,
}

impl Schedule {
    fn wait(&mut self, lane: &str, at: i64) {
        if let Some(LaneState::Waiting(old)) = self.lanes.get(lane) {
            self.due.remove(&(*old, lane.to_string()));
        }
        self.lanes.insert(lane.to_string(), LaneState::Waiting(at));
        self.due.insert((at, lane.to_string()));
    }
}

/// The outbox of one queue: its items in the store, its schedule here.
pub struct Outbox<J: Job> {
    repo: Arc<dyn OutboxRepo<J>>,
    schedule: Mutex<Schedule>,
    notify: Notify,
}

impl<J: Job> Outbox<J> {
    /// Builds the schedule from what the store holds: every lane's head is due at its
    /// `not_before`, whatever was in flight when the last process stopped.
    pub fn recover(repo: Arc<dyn OutboxRepo<J>>) -> Result<Outbox<J>, StoreError> {
        let mut schedule = Schedule::default();
        for (key, item) in repo.heads()? {
            schedule.wait(key.lane(), item.not_before);
        }
        Ok(Outbox {
            repo,
            schedule: Mutex::new(schedule),
            notify: Notify::new(),
        })
    }

    pub(crate) fn queue(&self) -> Queue {
        J::QUEUE
    }

    /// Appends an item and wakes the worker. The caller flushes before acknowledging.
    pub fn enqueue(&self, item: &OutboxItem<J>) -> Result<ItemKey, StoreError> {
        let key = self.repo.push(item)?;
        self.lane_changed(&item.lane, item.enqueued_at);
        Ok(key)
    }

    /// Tells the schedule that items enqueued at `at` (unix ms) were added to `lane`
    /// (directly in the store, e.g. in a transaction with other records).
    ///
    /// No read of the store is needed: a lane the schedule does not know had no items (it
    /// knows every lane from `recover` on, and forgets one only when its head is gone), so
    /// its head is one of the new items, due when it was enqueued (only a retried head
    /// waits longer, and a retried head's lane stays known).
    pub(crate) fn lane_changed(&self, lane: &str, at: i64) {
        let mut schedule = self.schedule.lock();
        // A lane already waiting or in flight will find the new item on its own.
        if !schedule.lanes.contains_key(lane) {
            schedule.wait(lane, at);
        }
        drop(schedule);
        self.notify.notify_one();
    }

    /// Leases up to `max` lane heads that are due at `now` (unix ms).
    pub fn claim_due(&self, now: i64, max: usize) -> Result<Vec<Claim<J>>, StoreError> {
        let mut schedule = self.schedule.lock();
        let mut claims = Vec::new();
        while claims.len() < max {
            let Some(first) = schedule.due.first().cloned() else {
                break;
            };
            if first.0 > now {
                break;
            }
            schedule.due.remove(&first);
            let lane = first.1;
            match self.repo.head(&lane)? {
                Some((key, item)) => {
                    schedule.lanes.insert(lane, LaneState::InFlight);
                    claims.push(Claim { key, item });
                }
                None => {
                    schedule.lanes.remove(&lane);
                }
            }
        }
        Ok(claims)
    }

    /// When the next waiting lane becomes due (unix ms).
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.schedule.lock().due.first().map(|(at, _)| *at)
    }

    /// The item was delivered: remove it and schedule the lane's next item.
    pub fn complete(&self, claim: &Claim<J>) -> Result<(), StoreError> {
        self.repo.remove(&claim.key)?;
        self.after_head_removed(claim);
        Ok(())
    }

    /// The item failed for good: move it to the dead letters and go on with the lane.
    pub(crate) fn dead_letter(
        &self,
        claim: &Claim<J>,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.repo
            .dead_letter(&claim.key, &claim.item, reason, now)?;
        self.after_head_removed(claim);
        Ok(())
    }

    /// The lane's next item, if any, was never tried, so it is due now: the lane waits as of
    /// the removed head's enqueue time (which keeps lanes roughly first come, first served),
    /// and `claim_due` reads the next head, or forgets the lane when there is none. One read
    /// per item instead of two.
    fn after_head_removed(&self, claim: &Claim<J>) {
        self.schedule
            .lock()
            .wait(claim.key.lane(), claim.item.enqueued_at);
        self.notify.notify_one();
    }

    /// Stores the item's new state (attempts, error, `not_before`) and puts the lane back
    /// to wait until then. The lane's later items wait behind it.
    pub fn retry(&self, claim: &Claim<J>, updated: &OutboxItem<J>) -> Result<(), StoreError> {
        self.repo.update(&claim.key, updated)?;
        self.schedule
            .lock()
            .wait(claim.key.lane(), updated.not_before);
        self.notify.notify_one();
        Ok(())
    }

    /// Gives a lease back without recording an attempt (shutdown, account-wide pause).
    pub fn release(&self, claim: &Claim<J>, at: i64) {
        self.schedule.lock().wait(claim.key.lane(), at);
        self.notify.notify_one();
    }

    /// Resolves when something was enqueued or rescheduled.
    pub(crate) async fn changed(&self) {
        self.notify.notified().await
    }

    /// Items waiting or in flight.
    pub fn depth(&self) -> usize {
        self.repo.depth()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.schedule
            .lock()
            .lanes
            .values()
            .filter(|s| **s == LaneState::InFlight)
            .count()
    }
}

/// An outbox whatever its job type: what the dashboard and `/metrics` ask of every queue.
pub(crate) trait QueueView: Send + Sync {
    fn queue(&self) -> Queue;
    fn depth(&self) -> usize;
    fn in_flight(&self) -> usize;
    /// Queues a dead letter's job again, as a fresh item at the end of its lane. Refused
    /// when the job does not read as this queue's.
    fn requeue(&self, letter: &DeadLetter, now: i64) -> Result<(), StoreError>;
}

impl<J: Job> QueueView for Outbox<J> {
    fn queue(&self) -> Queue {
        J::QUEUE
    }

    fn depth(&self) -> usize {
        Outbox::depth(self)
    }

    fn in_flight(&self) -> usize {
        Outbox::in_flight(self)
    }

    fn requeue(&self, letter: &DeadLetter, now: i64) -> Result<(), StoreError> {
        let job: J = serde_json::from_value(letter.item.job.clone()).map_err(|e| {
            StoreError::Corrupt(format!(
                "a dead letter of the {} queue: {e}",
                J::QUEUE.name()
            ))
        })?;
        self.enqueue(&OutboxItem::new(letter.item.lane.clone(), job, now))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::HubSpotJob;
    use crate::store::Store;

    fn setup() -> (tempfile::TempDir, Store, Outbox<HubSpotJob>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let outbox = Outbox::recover(Arc::new(store.clone())).unwrap();
        (dir, store, outbox)
    }

    fn note(lane: &str, n: u32, now: i64) -> OutboxItem<HubSpotJob> {
        OutboxItem::new(
            lane,
            HubSpotJob::Note {
                message_id: n.to_string(),
                text: n.to_string(),
            },
            now,
        )
    }

    fn ids(claims: &[Claim<HubSpotJob>]) -> Vec<String> {
        claims
            .iter()
            .map(|c| match &c.item.job {
                HubSpotJob::Note { message_id, .. } => format!("{}:{message_id}", c.item.lane),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn one_item_per_lane_in_flight_in_order() {
        let (_d, _s, outbox) = setup();
        for n in 0..3 {
            outbox.enqueue(&note("a", n, 0)).unwrap();
        }
        outbox.enqueue(&note("b", 0, 0)).unwrap();
        let claims = outbox.claim_due(0, 10).unwrap();
        assert_eq!(ids(&claims), ["a:0", "b:0"]);
        assert!(outbox.claim_due(0, 10).unwrap().is_empty(), "lanes busy");
        outbox.complete(&claims[0]).unwrap();
        let next = outbox.claim_due(0, 10).unwrap();
        assert_eq!(ids(&next), ["a:1"]);
    }

    #[test]
    fn a_retried_head_holds_only_its_own_lane() {
        let (_d, _s, outbox) = setup();
        outbox.enqueue(&note("a", 0, 0)).unwrap();
        outbox.enqueue(&note("a", 1, 0)).unwrap();
        outbox.enqueue(&note("b", 0, 0)).unwrap();
        let claims = outbox.claim_due(0, 10).unwrap();
        let mut later = claims[0].item.clone();
        later.not_before = 1000;
        later.attempts = 1;
        outbox.retry(&claims[0], &later).unwrap();
        outbox.complete(&claims[1]).unwrap();
        assert!(outbox.claim_due(999, 10).unwrap().is_empty());
        assert_eq!(outbox.next_due(), Some(1000));
        let again = outbox.claim_due(1000, 10).unwrap();
        assert_eq!(ids(&again), ["a:0"]);
        assert_eq!(again[0].item.attempts, 1);
    }

    #[test]
    fn recover_after_a_crash_redelivers_the_in_flight_head() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 8).unwrap();
            let outbox = Outbox::recover(Arc::new(store.clone())).unwrap();
            outbox.enqueue(&note("a", 0, 0)).unwrap();
            outbox.enqueue(&note("a", 1, 0)).unwrap();
            let claims = outbox.claim_due(0, 10).unwrap();
            assert_eq!(claims.len(), 1);
            store.flush_blocking().unwrap();
            // The process dies here, mid-delivery.
        }
        let store = Store::open(dir.path(), 8).unwrap();
        let outbox = Outbox::<HubSpotJob>::recover(Arc::new(store)).unwrap();
        let claims = outbox.claim_due(0, 10).unwrap();
        assert_eq!(ids(&claims), ["a:0"]);
        assert_eq!(outbox.depth(), 2);
    }

    #[test]
    fn dead_letters_do_not_block_the_lane() {
        let (_d, store, outbox) = setup();
        outbox.enqueue(&note("a", 0, 0)).unwrap();
        outbox.enqueue(&note("a", 1, 0)).unwrap();
        let claims = outbox.claim_due(0, 10).unwrap();
        outbox.dead_letter(&claims[0], "rejected", 0).unwrap();
        assert_eq!(ids(&outbox.claim_due(0, 10).unwrap()), ["a:1"]);
        assert_eq!(store.dead_letter_count(), 1);
    }
}
