//! How a HubSpot call failed, classified where the call was made, and what the outbox
//! should do about it.

use crate::outbox::worker::Outcome;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum HubSpotError {
    /// 423, 429 seen mid-item, 477, 5xx, timeouts, connection errors: try this item again.
    #[error("HubSpot is unavailable: {message}")]
    Transient {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: this request will never succeed as it is.
    #[error("HubSpot refused the request ({status}{}): {message}", category.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Permanent {
        status: u16,
        category: Option<String>,
        message: String,
    },
    /// Account-wide rate limit: every call waits, nothing is counted against the item.
    #[error("HubSpot rate limit reached; paused for {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The refresh token was refused (`invalid_grant`): an operator must reconnect.
    #[error("HubSpot reauthorization required: {0}")]
    ReauthorizationRequired(String),
    /// No app credentials or refresh token yet.
    #[error("HubSpot is not connected")]
    NotConnected,
    /// HubSpot answered 2xx with a body we cannot read.
    #[error("unexpected answer from HubSpot: {0}")]
    Unexpected(String),
}

impl HubSpotError {
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, HubSpotError::Permanent { .. })
    }

    /// What the outbox does with an item whose delivery failed this way.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            HubSpotError::Transient { retry_after, .. } => Outcome::Retry {
                error: self.to_string(),
                retry_after: *retry_after,
            },
            HubSpotError::Unexpected(_) => Outcome::Retry {
                error: self.to_string(),
                retry_after: None,
            },
            HubSpotError::Permanent { .. } => Outcome::Permanent(self.to_string()),
            HubSpotError::RateLimited { retry_after } => Outcome::Deferred {
                reason: self.to_string(),
                after: *retry_after,
            },
            HubSpotError::ReauthorizationRequired(_) | HubSpotError::NotConnected => {
                Outcome::Deferred {
                    reason: self.to_string(),
                    after: Duration::from_secs(1),
                }
            }
        }
    }
}
