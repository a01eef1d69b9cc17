//! A string that must never reach a log line or a debug dump.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer};
use std::fmt;

/// Holds a credential (client secret, tokens, API keys). `Debug` and `Display` print
/// `[REDACTED]`, so a `?config` in a log statement cannot leak it; call [`Secret::expose`]
/// at the one place the value is actually sent somewhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Compares a presented credential with the expected one without leaking, through timing,
/// how much of it matched.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient_string(d).map(Secret)
    }
}

/// Environment variables arrive typed by figment's guesswork (`HANDOFF_HUBSPOT__APP_ID=123`
/// becomes a number); every string-valued key accepts numbers and booleans as their text.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        S(String),
        U(u64),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::S(s) => s,
        Lenient::U(n) => n.to_string(),
        Lenient::I(n) => n.to_string(),
        Lenient::F(n) => n.to_string(),
        Lenient::B(b) => b.to_string(),
    })
}

/// Decodes a `whsec_…` secret into the HMAC key.
pub(crate) fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or_else(|| "must start with `whsec_`".to_string())?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "the part after `whsec_` must be base64".to_string())?;
    if key.len() < 16 {
        return Err("the key must be at least 16 bytes (24+ base64 characters)".into());
    }
    Ok(key)
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([REDACTED])");
        assert_eq!(s.expose(), "hunter2");
    }
}
