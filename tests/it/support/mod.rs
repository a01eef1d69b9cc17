pub mod fake_bot;
pub mod fake_hubspot;
pub mod harness;
pub mod web;
