pub mod fake_hubspot;
pub mod harness;
