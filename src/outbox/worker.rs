//! The one background task that drains an outbox: claims due lane heads, delivers them
//! concurrently (one per lane), and records the outcome.

use super::retry::RetryPolicy;
use super::{Claim, Job, Outbox, OutboxItem};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What became of one delivery attempt, as classified where the call was made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Delivered,
    /// Failed, may work later; counts as an attempt.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Not attempted because of an account-wide condition (rate limit, token refresh,
    /// reauthorization): try again after `after`, without counting an attempt.
    Deferred {
        reason: String,
        after: Duration,
    },
    /// Will never work: dead-letter it and go on with the lane.
    Permanent(String),
}

impl Outcome {
    /// Its name in the metrics.
    fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Deferred { .. } => "deferred",
            Outcome::Permanent(_) => "permanent",
        }
    }
}

/// A destination the worker delivers to.
pub(crate) trait Deliver<J: Job>: Send + Sync + 'static {
    fn deliver(&self, item: &OutboxItem<J>) -> impl Future<Output = Outcome> + Send;

    /// Whether deliveries can be attempted at all right now (e.g. HubSpot is connected and
    /// the channel provisioned). While false, nothing is claimed and nothing is used up.
    fn available(&self) -> bool {
        true
    }

    /// Called after an item went to the dead letters.
    fn dead_lettered(
        &self,
        _item: &OutboxItem<J>,
        _reason: &str,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) max_in_flight: usize,
    /// The longest one attempt may hold its item; past it the attempt counts as failed.
    pub(crate) lease: Duration,
    /// How long shutdown waits for attempts in flight before leaving them to the next start.
    pub(crate) shutdown_grace: Duration,
    pub(crate) policy: RetryPolicy,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs until `shutdown` turns true, then lets attempts in flight finish (up to the grace
/// period). Whatever does not finish stays in the store and is retried after restart.
pub(crate) async fn run<J: Job, D: Deliver<J>>(
    outbox: Arc<Outbox<J>>,
    deliverer: Arc<D>,
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let queue = outbox.queue().name();
    tracing::info!(queue, depth = outbox.depth(), "outbox worker started");
    let mut in_flight = JoinSet::new();
    while !*shutdown.borrow() {
        let mut wait = Duration::from_secs(1);
        if deliverer.available() {
            let room = config.max_in_flight.saturating_sub(in_flight.len());
            match outbox.claim_due(now_ms(), room) {
                Ok(claims) => {
                    for claim in claims {
                        let (outbox, deliverer, config) =
                            (outbox.clone(), deliverer.clone(), config.clone());
                        in_flight.spawn(async move {
                            attempt(&outbox, &*deliverer, &config, claim).await
                        });
                    }
                }
                Err(e) => tracing::error!(queue, error = %e, "cannot read the outbox"),
            }
            if let Some(next) = outbox.next_due() {
                let until = Duration::from_millis((next - now_ms()).max(0) as u64);
                wait = wait.min(until);
            }
        } else {
            wait = Duration::from_millis(200);
        }
        tokio::select! {
            _ = outbox.changed() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = tokio::time::sleep(wait) => {}
            // A dropped sender means the owner is gone: stop as for a shutdown.
            changed = shutdown.changed() => if changed.is_err() { break },
        }
        while in_flight.try_join_next().is_some() {}
    }
    let pending = in_flight.len();
    if pending > 0 {
        tracing::info!(queue, pending, "waiting for deliveries in flight");
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                queue,
                left = in_flight.len(),
                "left in-flight deliveries for the next start"
            );
            in_flight.abort_all();
        }
    }
    tracing::info!(queue, "outbox worker stopped");
}

async fn attempt<J: Job, D: Deliver<J>>(
    outbox: &Outbox<J>,
    deliverer: &D,
    config: &WorkerConfig,
    claim: Claim<J>,
) {
    let outcome = match tokio::time::timeout(config.lease, deliverer.deliver(&claim.item)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Retry {
            error: format!("no answer within the {:?} lease", config.lease),
            retry_after: None,
        },
    };
    let now = now_ms();
    let lane = claim.item.lane.as_str();
    let job = claim.item.job.name();
    let waited = matches!(outcome, Outcome::Delivered)
        .then(|| Duration::from_millis((now - claim.item.enqueued_at).max(0) as u64));
    crate::metrics::delivery(outbox.queue().name(), outcome.name(), waited);
    let recorded = match outcome {
        Outcome::Delivered => outbox.complete(&claim),
        Outcome::Deferred { reason, after } => {
            tracing::debug!(lane, job, reason, "deferred");
            outbox.release(&claim, now + after.as_millis() as i64);
            Ok(())
        }
        Outcome::Permanent(reason) => bury(outbox, deliverer, &claim, &reason, now).await,
        Outcome::Retry { error, retry_after } => {
            let mut item = claim.item.clone();
            item.attempts += 1;
            let first = *item.first_failure_at.get_or_insert(now);
            let failing_for = Duration::from_millis((now - first).max(0) as u64);
            match config
                .policy
                .next_delay(item.attempts, failing_for, retry_after)
            {
                Some(delay) => {
                    tracing::warn!(lane, job, attempts = item.attempts, retry_in = ?delay, error, "delivery failed; will retry");
                    item.not_before = now + delay.as_millis() as i64;
                    item.last_error = Some(error);
                    outbox.retry(&claim, &item)
                }
                None => {
                    let reason = format!("gave up after {} attempts: {error}", item.attempts);
                    bury(outbox, deliverer, &claim, &reason, now).await
                }
            }
        }
    };
    if let Err(e) = recorded {
        // The outcome could not be stored; the item stays queued and is tried again.
        tracing::error!(lane, job, error = %e, "cannot record a delivery outcome");
        outbox.release(&claim, now + 1000);
    }
}

async fn bury<J: Job, D: Deliver<J>>(
    outbox: &Outbox<J>,
    deliverer: &D,
    claim: &Claim<J>,
    reason: &str,
    now: i64,
) -> Result<(), crate::relay::StoreError> {
    tracing::error!(
        lane = claim.item.lane,
        job = claim.item.job.name(),
        reason,
        "moved to the dead letters"
    );
    outbox.dead_letter(claim, reason, now)?;
    deliverer.dead_lettered(&claim.item, reason).await;
    Ok(())
}
