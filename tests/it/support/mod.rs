pub mod binary;
pub mod botpress;
pub mod fake_bot;
pub mod fake_hubspot;
pub mod harness;
pub mod media_server;
pub mod web;
