//! Whether anyone is there to answer: what the bot asks before it promises a human. The
//! HubSpot adapter answers it (`hubspot::availability`); the bot API only knows this port.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

/// The answer of `GET /api/v1/availability`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Availability {
    /// `None` when handoff cannot tell (no scope, HubSpot unreachable): the bot decides.
    pub(crate) available: Option<bool>,
    pub(crate) agents_available: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

impl Availability {
    pub(crate) fn unknown(reason: impl Into<String>) -> Availability {
        Availability {
            available: None,
            agents_available: None,
            reason: Some(reason.into()),
        }
    }
}

/// Answers availability; object-safe so the bot API holds it as `Arc<dyn …>`.
pub(crate) trait AgentAvailability: Send + Sync {
    fn check(&self) -> Pin<Box<dyn Future<Output = Availability> + Send + '_>>;
}
