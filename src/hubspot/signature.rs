//! HubSpot request signatures (v1, v3), computed over the raw body and compared in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The v3 replay window, either way.
pub(crate) const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// v1: lowercase hex SHA-256 of `client_secret + body` (plain SHA-256, not HMAC).
pub fn v1(client_secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(client_secret.as_bytes());
    h.update(body);
    hex(&h.finalize())
}

/// HubSpot decodes these percent-encodings in the URI before signing v3 (and only these).
const V3_DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

pub(crate) fn v3_uri(uri: &str) -> std::borrow::Cow<'_, str> {
    if !uri.contains('%') {
        return uri.into();
    }
    V3_DECODED
        .iter()
        .fold(uri.to_string(), |u, (from, to)| u.replace(from, to))
        .into()
}

/// v3: base64 HMAC-SHA256, keyed with the client secret, of `method + uri + body + timestamp`.
pub fn v3(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()).expect("any key length");
    mac.update(method.as_bytes());
    mac.update(v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("no HubSpot signature")]
    Missing,
    #[error("the signature does not match")]
    Mismatch,
    #[error("the request timestamp is missing or not a number")]
    BadTimestamp,
    #[error("the request timestamp is more than 5 minutes away from now")]
    Stale,
}

/// Checks a v3 signature and its timestamp (unix ms) against `now_ms`.
pub(crate) fn verify_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: &str,
    now_ms: i64,
) -> Result<(), Refused> {
    let timestamp = timestamp.ok_or(Refused::BadTimestamp)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refused::BadTimestamp)?;
    // `abs_diff`: a timestamp near i64::MIN must not overflow (found by fuzzing).
    if now_ms.abs_diff(ts) > MAX_SKEW_MS.unsigned_abs() {
        return Err(Refused::Stale);
    }
    if crate::secret::constant_time_eq(
        &v3(client_secret, method, uri, body, timestamp),
        signature.trim(),
    ) {
        Ok(())
    } else {
        Err(Refused::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "https://www.example.com/webhook_uri";
    const SINGLE_QUOTED: &[u8] = b"{'example_field':'example_value'}";

    #[test]
    fn v1_official_vectors() {
        let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
        assert_eq!(
            v1(SECRET, body),
            "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
        );
        assert_eq!(
            v1(SECRET, SINGLE_QUOTED),
            "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750"
        );
    }

    #[test]
    fn v3_official_vectors() {
        for (ts, expected) in [
            (
                "1693657560000",
                "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
            ),
            (
                "1700000300000",
                "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw=",
            ),
            ("15000000", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="),
        ] {
            assert_eq!(
                v3(SECRET, "POST", URI, SINGLE_QUOTED, ts),
                expected,
                "timestamp {ts}"
            );
            let now: i64 = ts.parse().unwrap();
            assert_eq!(
                verify_v3(SECRET, "POST", URI, SINGLE_QUOTED, Some(ts), expected, now),
                Ok(())
            );
        }
    }

    #[test]
    fn v3_refuses_stale_future_forged_and_other_apps() {
        let ts = "1700000300000";
        let sig = "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw=";
        let now = 1_700_000_300_000;
        let check = |secret: &str, body: &[u8], ts: Option<&str>, now: i64| {
            verify_v3(secret, "POST", URI, body, ts, sig, now)
        };
        assert_eq!(
            check(SECRET, SINGLE_QUOTED, Some(ts), now + MAX_SKEW_MS + 1),
            Err(Refused::Stale)
        );
        assert_eq!(
            check(SECRET, SINGLE_QUOTED, Some(ts), now - MAX_SKEW_MS - 1),
            Err(Refused::Stale)
        );
        assert_eq!(
            check(SECRET, SINGLE_QUOTED, Some(ts), now + MAX_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            check(SECRET, b"{'example_field':'other'}", Some(ts), now),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            check("another-app-secret", SINGLE_QUOTED, Some(ts), now),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            check(SECRET, SINGLE_QUOTED, None, now),
            Err(Refused::BadTimestamp)
        );
        assert_eq!(
            check(SECRET, SINGLE_QUOTED, Some("soon"), now),
            Err(Refused::BadTimestamp)
        );
    }

    #[test]
    fn v3_decodes_only_the_listed_escapes() {
        assert_eq!(
            v3_uri("https://x.test/a%3Ab%2Fc?q=%40%21%24%27%28%29%2A%2C%3B%20%26%3D"),
            "https://x.test/a:b/c?q=@!$'()*,;%20%26%3D"
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        for ts in ["-9223372036854775808", "9223372036854775807"] {
            assert_eq!(
                verify_v3(SECRET, "POST", URI, b"{}", Some(ts), "x", 1_700_000_000_000),
                Err(Refused::Stale),
                "{ts}"
            );
        }
    }
}
