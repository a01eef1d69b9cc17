//! The outbound HTTP client every adapter uses.

use std::time::Duration;

/// Builds the one outbound HTTP client: rustls, timeouts, a user agent, and no redirects
/// (neither HubSpot nor the bot has a reason to redirect us, and following one would
/// resend credentials to wherever it points).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the HTTP client configuration is static")
}
