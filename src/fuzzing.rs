//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus
//! on every `cargo test`: each takes arbitrary bytes, runs the same code a request would,
//! and must never panic.

use crate::hubspot::{inbound, signature, webhook};

/// `webhook_body`: a HubSpot webhook body, parsed and keyed for de-duplication.
pub fn webhook_body(data: &[u8]) {
    if let Ok(events) = webhook::parse_body(data) {
        for (_, raw, parsed) in &events {
            let _ = inbound::dedupe_key(raw, parsed);
        }
    }
}

/// `signatures`: the v1 and v3 verifiers with fuzzed secret, URL, timestamp, signature and
/// body (fields split by `\n`; the body is the rest).
pub fn signatures(data: &[u8]) {
    let mut parts = data.splitn(5, |b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (secret, uri, timestamp, given) = (next(), next(), next(), next());
    let body = next();
    let now = chrono::Utc::now().timestamp_millis();
    let _ = signature::verify_v3(
        &secret,
        "POST",
        &uri,
        body.as_bytes(),
        Some(&timestamp),
        &given,
        now,
    );
    let _ = crate::secret::constant_time_eq(&signature::v1(&secret, body.as_bytes()), &given);
    let _ = signature::v3_uri(&uri);
}

/// `bot_request`: a bot API body; the first byte picks the route (users, sessions,
/// messages).
pub fn bot_request(data: &[u8]) {
    let Some((route, body)) = data.split_first() else {
        return;
    };
    let route = match route % 3 {
        0 => "users",
        1 => "sessions",
        _ => "messages",
    };
    let _ = crate::bot::api::parse_request(route, body);
}
