//! Delivery identifiers (§2.4): `{type, value}` with per-type value checks.

use std::str::FromStr;

use serde_json::{Value, json};

use super::errors::ApiError;

pub(super) const IDENTIFIER_TYPES: &[&str] = &[
    "HS_EMAIL_ADDRESS",
    "HS_PHONE_NUMBER",
    "CHANNEL_SPECIFIC_OPAQUE_ID",
    "HS_SHORT_CODE",
];

/// Email must parse and have a dotted domain (HubSpot rejects `a@localhost`).
pub(super) fn is_email(s: &str) -> bool {
    email_address::EmailAddress::from_str(s).is_ok_and(|e| e.domain().contains('.'))
}

/// E.164: `+`, then 8–15 digits, no leading zero. Deliberately not a full
/// libphonenumber check so test numbers like +15555550123 pass.
pub(super) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::validation(message.clone()).with(
        "errors",
        json!([{ "message": message, "code": "INVALID_DELIVERY_IDENTIFIER", "in": field }]),
    )
}

/// Validates one `deliveryIdentifier`; returns `(type, value)`.
pub(super) fn validate(v: Option<&Value>, field: &str) -> Result<(String, String), ApiError> {
    let Some(obj) = v.and_then(Value::as_object) else {
        return Err(invalid(
            field,
            format!("{field} is required and must be an object with `type` and `value`"),
        ));
    };
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    if !IDENTIFIER_TYPES.contains(&ty) {
        return Err(invalid(
            field,
            format!(
                "{field}.type `{ty}` is not one of {}",
                IDENTIFIER_TYPES.join(", ")
            ),
        ));
    }
    let value = obj.get("value").and_then(Value::as_str).unwrap_or_default();
    if value.trim().is_empty() {
        return Err(invalid(field, format!("{field}.value must not be blank")));
    }
    let ok = match ty {
        "HS_EMAIL_ADDRESS" => is_email(value),
        "HS_PHONE_NUMBER" => is_e164(value),
        _ => true,
    };
    if !ok {
        return Err(invalid(
            field,
            format!("{field}.value `{value}` is not a valid {ty}"),
        ));
    }
    Ok((ty.to_string(), value.to_string()))
}
