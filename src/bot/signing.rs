//! Standard Webhooks signatures for events sent to the bot
//! (<https://www.standardwebhooks.com/>): `v1,` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}")),
//! where the key is the base64-decoded part of the `whsec_…` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `whsec_` and 32 random bytes, base64: a fresh Standard Webhooks secret.
pub(crate) fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-signature` header value for one delivery attempt.
pub(crate) fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::decode_secret;

    #[test]
    fn generated_secrets_are_valid_standard_webhooks_secrets() {
        let secret = new_secret();
        assert_eq!(decode_secret(&secret).unwrap().len(), 32);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        let key = decode_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = sign(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(decode_secret("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(decode_secret("whsec_!!!").is_err());
        assert!(decode_secret("whsec_AAAA").is_err());
    }
}
