//! Everything that talks to HubSpot: OAuth, the rate-limited client, the endpoints,
//! provisioning, and the outbox deliverer that publishes messages.

pub mod api;
pub mod availability;
pub mod client;
pub mod compose;
pub mod contacts;
pub mod crm;
pub mod error;
pub mod files;
pub mod inbound;
pub mod oauth;
pub mod provision;
pub mod publisher;
pub mod ratelimit;
pub mod readiness;
pub mod signature;
pub mod signed_urls;
pub mod tickets;
pub mod webhook;

pub use client::HubSpot;
pub use error::HubSpotError;
