//! The CRM contact a session is published for: found by the user's email or phone, or
//! created when HubSpot has none (`hubspot.create_contacts`). Anonymous users (no email,
//! no phone) get none. Nothing here stops a session: a refused search or create leaves it
//! without a contact, and only a passing failure (HubSpot unavailable) makes the publish
//! wait.

use super::client::HubSpot;
use super::error::HubSpotError;
use crate::relay::User;
use serde_json::{Value, json};

/// The contact for `user`: found, created, or none.
pub(crate) async fn ensure_contact(
    hubspot: &HubSpot,
    user: &User,
    create: bool,
) -> Result<Option<String>, HubSpotError> {
    if user.email.is_none() && user.phone.is_none() {
        return Ok(None);
    }
    let national = user.phone.as_deref().and_then(national_number);
    let mut filters: Vec<(&str, &str)> = Vec::new();
    if let Some(email) = user.email.as_deref() {
        filters.push(("email", email));
    }
    if let Some(n) = national.as_deref() {
        // HubSpot's searchable phone properties hold the number without country code.
        filters.push(("hs_searchable_calculated_phone_number", n));
        filters.push(("hs_searchable_calculated_mobile_number", n));
    }
    match hubspot.search_contact(&filters).await {
        Ok(Some(found)) => return Ok(Some(found)),
        Ok(None) => {}
        Err(e) if e.is_permanent() => {
            tracing::warn!(error = %e, "contact search refused; publishing without a contact");
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    if !create {
        return Ok(None);
    }
    match hubspot.create_contact(&contact_properties(user)).await {
        Ok(id) => {
            tracing::info!(contact = id, "CRM contact created for the user");
            Ok(Some(id))
        }
        Err(e) if e.is_permanent() => {
            tracing::warn!(error = %e, "contact creation refused; publishing without a contact");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `firstname` and `lastname` from the name (the last word is the last name), and the
/// email or phone.
fn contact_properties(user: &User) -> Value {
    let mut properties = json!({});
    if let Some(email) = &user.email {
        properties["email"] = json!(email);
    }
    if let Some(phone) = &user.phone {
        properties["phone"] = json!(phone);
    }
    match user
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => match name.rsplit_once(' ') {
            Some((first, last)) => {
                properties["firstname"] = json!(first.trim());
                properties["lastname"] = json!(last);
            }
            None => properties["firstname"] = json!(name),
        },
        // HubSpot needs an email, a first or a last name; a phone-only user without a name
        // is named by the number, which is what the agent sees for them anyway.
        None if user.email.is_none() => properties["firstname"] = json!(user.phone),
        None => {}
    }
    properties
}

/// The national significant number of an E.164 phone number ("+14155550123" → "4155550123").
pub(crate) fn national_number(e164: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    Some(parsed.national().value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_drop_the_country_code() {
        assert_eq!(
            national_number("+14155550123").as_deref(),
            Some("4155550123")
        );
        assert_eq!(
            national_number("+442071838750").as_deref(),
            Some("2071838750")
        );
    }

    #[test]
    fn names_split_into_first_and_last() {
        let user = |name: Option<&str>| User {
            id: "usr_1".into(),
            name: name.map(str::to_string),
            email: Some("jane@example.com".into()),
            phone: None,
            picture_url: None,
            external_id: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let p = contact_properties(&user(Some("Jane van Doe")));
        assert_eq!(p["firstname"], "Jane van");
        assert_eq!(p["lastname"], "Doe");
        assert_eq!(p["email"], "jane@example.com");
        let p = contact_properties(&user(Some("Cher")));
        assert_eq!(p["firstname"], "Cher");
        assert!(p.get("lastname").is_none());
        assert!(contact_properties(&user(None)).get("firstname").is_none());
        let mut phone_only = user(None);
        phone_only.email = None;
        phone_only.phone = Some("+14155550123".into());
        assert_eq!(contact_properties(&phone_only)["firstname"], "+14155550123");
        let mut phone_only = user(None);
        phone_only.email = None;
        phone_only.phone = Some("+14155550123".into());
        assert_eq!(contact_properties(&phone_only)["firstname"], "+14155550123");
    }
}
