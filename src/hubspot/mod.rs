//! Everything that talks to HubSpot: OAuth, the rate-limited client, the endpoints,
//! provisioning, and the outbox deliverer that publishes messages.

pub(crate) mod api;
pub(crate) mod availability;
pub(crate) mod client;
pub(crate) mod compose;
pub(crate) mod contacts;
pub(crate) mod crm;
pub(crate) mod error;
pub mod files;
pub(crate) mod inbound;
pub mod oauth;
pub(crate) mod provision;
pub(crate) mod publisher;
pub(crate) mod ratelimit;
pub(crate) mod readiness;
pub mod signature;
pub(crate) mod signed_urls;
pub(crate) mod tickets;
pub(crate) mod webhook;

pub(crate) use client::HubSpot;
pub(crate) use error::HubSpotError;
