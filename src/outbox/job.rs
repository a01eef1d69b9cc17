//! What a queue holds: items of one job type each, and the dead letters of all of them.
//! Stored as JSON, so renaming a field is a schema change (see `store::SCHEMA_VERSION`).

use super::Queue;
use crate::relay::{BotJob, HubSpotJob, InboundJob};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A job type and the one queue it travels in: an item of one queue cannot end up in
/// another, so no deliverer has to refuse the others' jobs.
pub trait Job:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static
{
    const QUEUE: Queue;

    /// Its name in logs, metrics and the dashboard.
    fn name(&self) -> &'static str;
}

impl Job for HubSpotJob {
    const QUEUE: Queue = Queue::HubSpot;
    fn name(&self) -> &'static str {
        HubSpotJob::name(self)
    }
}

impl Job for InboundJob {
    const QUEUE: Queue = Queue::Inbound;
    fn name(&self) -> &'static str {
        InboundJob::name(self)
    }
}

impl Job for BotJob {
    const QUEUE: Queue = Queue::Bot;
    fn name(&self) -> &'static str {
        BotJob::name(self)
    }
}

/// A queued job and its delivery history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem<J> {
    /// Items in one lane (a session) are delivered one at a time, in order.
    pub(crate) lane: String,
    pub job: J,
    /// Unix milliseconds.
    pub(crate) enqueued_at: i64,
    pub attempts: u32,
    /// Unix milliseconds before which the item must not be tried again.
    pub(crate) not_before: i64,
    pub last_error: Option<String>,
    /// Unix milliseconds of the first failed attempt; the give-up window counts from here,
    /// so time spent paused (reauthorization, not configured) does not use it up.
    #[serde(default)]
    pub(crate) first_failure_at: Option<i64>,
}

impl<J> OutboxItem<J> {
    pub fn new(lane: impl Into<String>, job: J, now: i64) -> Self {
        OutboxItem {
            lane: lane.into(),
            job,
            enqueued_at: now,
            attempts: 0,
            not_before: now,
            last_error: None,
            first_failure_at: None,
        }
    }
}

impl<J: Job> OutboxItem<J> {
    /// The item as the dead letters keep it: any queue's, as JSON.
    pub(crate) fn to_letter_item(&self) -> OutboxItem<serde_json::Value> {
        OutboxItem {
            lane: self.lane.clone(),
            job: serde_json::to_value(&self.job).expect("jobs serialize"),
            enqueued_at: self.enqueued_at,
            attempts: self.attempts,
            not_before: self.not_before,
            last_error: self.last_error.clone(),
            first_failure_at: self.first_failure_at,
        }
    }
}

/// Work that failed for good, kept for the operator to inspect, replay or discard. One
/// list for all queues, so the job is kept as JSON and read back by its queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub(crate) id: u64,
    pub(crate) queue: String,
    pub(crate) item: OutboxItem<serde_json::Value>,
    pub(crate) reason: String,
    pub(crate) failed_at: i64,
}

impl DeadLetter {
    /// `item` of the queue of `J`, failed for good at `now` (ms) because of `reason`.
    pub(crate) fn of<J: Job>(id: u64, item: &OutboxItem<J>, reason: &str, now: i64) -> DeadLetter {
        DeadLetter {
            id,
            queue: J::QUEUE.name().into(),
            item: item.to_letter_item(),
            reason: reason.into(),
            failed_at: now,
        }
    }

    /// The job's `kind`, as its queue names it.
    pub(crate) fn job_name(&self) -> &str {
        self.item
            .job
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
    }
}
