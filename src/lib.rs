//! handoff: a durable bot-to-human handoff for HubSpot's Inbox and Help Desk.
//!
//! `main.rs` is the composition root; everything else is here so tests can start the real
//! server on `127.0.0.1:0`.

pub mod app;
pub mod body_deadline;
pub mod bot;
pub mod client_addr;
pub mod config;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod http_client;
pub mod hubspot;
pub mod local_client;
pub mod media;
#[cfg(test)]
mod memory_store;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod outbox;
pub mod relay;
pub mod request_id;
pub mod secret;
pub mod settings;
pub mod store;
pub mod tls;
pub mod web;
