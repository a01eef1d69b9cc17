//! Where an outbox keeps its items: the outbox's part of the store seam. `store` keeps them
//! in one sled tree per queue; `memory` (tests only) in maps.

use super::{DeadLetter, ItemKey, Job, OutboxItem};
use crate::relay::StoreError;

/// The items of the queue of `J`, in lanes. Every write is durable only after the store's
/// flush, which the caller awaits before acknowledging anything.
pub trait OutboxRepo<J: Job>: Send + Sync + 'static {
    /// Appends an item to the end of its lane.
    fn push(&self, item: &OutboxItem<J>) -> Result<ItemKey, StoreError>;

    /// The oldest item of a lane.
    fn head(&self, lane: &str) -> Result<Option<(ItemKey, OutboxItem<J>)>, StoreError>;

    /// The head of every lane, for rebuilding the schedule at start-up.
    fn heads(&self) -> Result<Vec<(ItemKey, OutboxItem<J>)>, StoreError>;

    fn update(&self, key: &ItemKey, item: &OutboxItem<J>) -> Result<(), StoreError>;

    fn remove(&self, key: &ItemKey) -> Result<(), StoreError>;

    /// Moves an item to the dead letters, atomically.
    fn dead_letter(
        &self,
        key: &ItemKey,
        item: &OutboxItem<J>,
        reason: &str,
        now: i64,
    ) -> Result<DeadLetter, StoreError>;

    /// Items in the queue (counted, not walked: `/metrics` asks often).
    fn depth(&self) -> usize;
}
