//! Integration tests: the real handoff server on 127.0.0.1:0 against a fake HubSpot.

mod support;

mod admin;
mod availability;
mod backup;
mod bad_input;
mod botpress;
mod browser;
mod chaos;
mod commands;
mod crash;
mod delivery;
mod fake_hubspot_contract;
mod file_links;
mod fuzz_corpus;
mod helpdesk;
mod login_limit;
mod media;
mod metrics;
mod oauth_binding;
mod openapi;
mod outbox_props;
mod provisioning;
mod registration;
mod retention;
mod routing;
mod sessions;
mod slow_clients;
mod tls;
mod webhooks;
mod wizard;
