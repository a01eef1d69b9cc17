//! The bot's side: the `/api/v1` HTTP API and the signing of events sent to the bot.

pub mod api;
pub mod deliver;
pub mod messages;
pub mod signing;
pub mod validate;
pub mod webhook;
