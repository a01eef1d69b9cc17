//! Checks on the values the bot sends: identities, text lengths, ids.

use crate::error::ApiError;
use crate::store::UserInput;
use email_address::EmailAddress;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub picture_url: Option<String>,
    pub external_id: Option<String>,
}

/// The addresses Botpress makes up for users it has no email for (the HITL plugin's
/// `<user>@no-reply.<bot>.botpress.com`, and the `.botpress.invalid` and `noemail.com`
/// placeholders): they name nobody, so they must never create or match a CRM contact.
pub fn is_made_up_email(email: &str) -> bool {
    let email = email.to_ascii_lowercase();
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    (domain.starts_with("no-reply.") && domain.ends_with(".botpress.com"))
        || domain.ends_with(".botpress.invalid")
        || email == "anonymous@noemail.com"
}

/// Validates a user and normalizes it: email trimmed, phone in E.164. A made-up email
/// counts as none; it still keys the user when the bot gave no `externalId`, so the same
/// visitor stays one user.
pub fn user(body: UserBody) -> Result<UserInput, ApiError> {
    let email = body
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    let (email, made_up) = match email {
        Some(e) if is_made_up_email(&e) => (None, Some(e.to_ascii_lowercase())),
        e => (e, None),
    };
    let phone = body
        .phone
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let external_id = client_id("externalId", body.external_id)?.or(made_up);
    if email.is_none() && phone.is_none() && external_id.is_none() {
        return Err(ApiError::invalid(
            "identity-required",
            "a user needs an email, a phone number or an externalId",
        ));
    }
    if let Some(e) = &email
        && (e.len() > 254 || !EmailAddress::is_valid(e) || !e.contains('.'))
    {
        return Err(ApiError::invalid(
            "invalid-email",
            format!("`{}` is not a valid email address", truncate(e, 80)),
        ));
    }
    let phone = phone.map(|p| e164(&p)).transpose()?;
    let name = optional_text("name", body.name, 200)?;
    let picture_url = match body.picture_url.filter(|u| !u.trim().is_empty()) {
        Some(u) => {
            let ok = url::Url::parse(&u)
                .map(|p| matches!(p.scheme(), "http" | "https"))
                .unwrap_or(false);
            if !ok || u.len() > 2048 {
                return Err(ApiError::invalid(
                    "invalid-url",
                    "pictureUrl must be an http(s) URL",
                ));
            }
            Some(u)
        }
        None => None,
    };
    Ok(UserInput {
        name,
        email,
        phone,
        picture_url,
        external_id,
    })
}

/// A phone number in E.164: `+`, country code, number; validated against libphonenumber's
/// metadata and returned without spaces.
pub fn e164(raw: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "invalid-phone",
            format!(
                "`{}` is not a phone number in E.164 form (+ and country code)",
                truncate(raw, 40)
            ),
        )
    };
    if !raw.starts_with('+') {
        return Err(invalid());
    }
    let parsed = phonenumber::parse(None, raw).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&parsed) {
        return Err(invalid());
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// Optional free text: trimmed, empty means absent, at most `max` characters.
pub fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let value = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if let Some(v) = &value
        && v.chars().count() > max
    {
        return Err(ApiError::invalid(
            "too-long",
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(value)
}

/// A caller-chosen id (`messageId`, `externalId`, `Idempotency-Key`): 1–200 printable
/// characters.
pub fn client_id(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= 200 && !v.chars().any(char::is_control) => {
            Ok(Some(v))
        }
        Some(_) => Err(ApiError::invalid(
            "invalid-id",
            format!("{field} must be 1 to 200 printable characters"),
        )),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_must_be_e164() {
        assert_eq!(e164("+14155552671").unwrap(), "+14155552671");
        assert_eq!(e164("+44 20 7183 8750").unwrap(), "+442071838750");
        for bad in [
            "4155552671",
            "+1",
            "+abc",
            "0044 20 7183 8750",
            "+999123456789",
        ] {
            assert!(e164(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_need_a_valid_identity() {
        let err = |b: UserBody| user(b).unwrap_err().code;
        assert_eq!(err(UserBody::default()), "identity-required");
        assert_eq!(
            err(UserBody {
                email: Some("not-an-email".into()),
                ..Default::default()
            }),
            "invalid-email"
        );
        assert_eq!(
            err(UserBody {
                email: Some("a@b".into()),
                ..Default::default()
            }),
            "invalid-email"
        );
        let ok = user(UserBody {
            email: Some(" jane@example.com ".into()),
            name: Some(" Jane ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.email.as_deref(), Some("jane@example.com"));
        assert_eq!(ok.name.as_deref(), Some("Jane"));
    }

    #[test]
    fn anonymous_users_are_keyed_by_external_id_and_made_up_emails_are_none() {
        let anonymous = user(UserBody {
            name: Some("Visitor".into()),
            external_id: Some("bp:user_1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(anonymous.external_id.as_deref(), Some("bp:user_1"));
        for fake in [
            "user_01J@no-reply.bot-123.botpress.com",
            "u1@My-Bot.botpress.invalid",
            "Anonymous@NoEmail.com",
        ] {
            let u = user(UserBody {
                email: Some(fake.into()),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(u.email, None, "{fake}");
            assert_eq!(u.external_id, Some(fake.to_ascii_lowercase()), "{fake}");
            let u = user(UserBody {
                email: Some(fake.into()),
                external_id: Some("x1".into()),
                ..Default::default()
            })
            .unwrap();
            assert_eq!((u.email, u.external_id.as_deref()), (None, Some("x1")));
        }
        for real in [
            "jane@botpress.com",
            "jane@no-reply.example.com",
            "someone@noemail.com",
        ] {
            assert!(!is_made_up_email(real), "{real}");
        }
        let err = user(UserBody {
            external_id: Some(String::new()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.code, "invalid-id");
    }
}
