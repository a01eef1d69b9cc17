//! The bot's side: the `/api/v1` HTTP API and the signing of events sent to the bot.

pub mod api;
pub(crate) mod deliver;
pub(crate) mod messages;
pub(crate) mod signing;
pub mod validate;
pub(crate) mod webhook;
