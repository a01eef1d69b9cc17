//! Checks on the values the bot sends: identities, text lengths, ids.

use crate::error::ApiError;
use crate::store::UserInput;
use email_address::EmailAddress;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// What an http(s) URL from the bot must look like: a host name whose last label starts
/// with a letter, or a dotted IPv4 address; a port up to 65535; a plain path and query.
/// The OpenAPI document states this very pattern (a test compares them), so what the
/// document allows is exactly what is accepted. The `url` crate alone accepts far more
/// (`http://0*`), which a schema could never describe.
pub const HTTP_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$",
);

/// A media link from the bot: looser than [`HTTP_URL_PATTERN`] in its host (any IPv4 form,
/// an IPv6 literal), because whether handoff may and can fetch it is the worker's
/// question, and a link it refuses still reaches the agent with the reason.
pub const MEDIA_URL_PATTERN: &str = concat!(
    r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?",
    r"(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$",
);

static HTTP_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(HTTP_URL_PATTERN).expect("a valid pattern"));
static MEDIA_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(MEDIA_URL_PATTERN).expect("a valid pattern"));

fn invalid_url(field: &str) -> ApiError {
    ApiError::invalid("invalid-url", format!("{field} must be an http(s) URL"))
}

/// An http(s) URL handoff itself calls or shows (the bot's webhook, a picture), by
/// [`HTTP_URL_PATTERN`], at most 2048 characters.
pub(crate) fn http_url(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = value.len() <= 2048 && HTTP_URL.is_match(value) && url::Url::parse(value).is_ok();
    ok.then_some(()).ok_or_else(|| invalid_url(field))
}

/// A media link, by [`MEDIA_URL_PATTERN`], at most 2048 characters.
pub(crate) fn media_url(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = value.len() <= 2048 && MEDIA_URL.is_match(value);
    ok.then_some(()).ok_or_else(|| invalid_url(field))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserBody {
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) picture_url: Option<String>,
    pub(crate) external_id: Option<String>,
}

/// The addresses Botpress makes up for users it has no email for (the HITL plugin's
/// `<user>@no-reply.<bot>.botpress.com`, and the `.botpress.invalid` and `noemail.com`
/// placeholders): they name nobody, so they must never create or match a CRM contact.
pub(crate) fn is_made_up_email(email: &str) -> bool {
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
pub(crate) fn user(body: UserBody) -> Result<UserInput, ApiError> {
    // An empty email, phone or picture is refused, not taken for none: the document says
    // what each must look like when it is given.
    let email = body.email.map(|e| e.trim().to_string());
    let (email, made_up) = match email {
        Some(e) if is_made_up_email(&e) => (None, Some(e.to_ascii_lowercase())),
        e => (e, None),
    };
    let phone = body.phone.map(|p| p.trim().to_string());
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
    if let Some(u) = &body.picture_url {
        http_url("pictureUrl", u)?;
    }
    let picture_url = body.picture_url;
    Ok(UserInput {
        name,
        email,
        phone,
        picture_url,
        external_id,
    })
}

/// A phone number in E.164: `+`, a country code that does not start with 0, 7 to 15 digits
/// in all; single spaces between digits are dropped. This is the format the OpenAPI
/// document states, so a number the document allows is never refused: a number that
/// belongs to nobody simply matches no contact.
pub(crate) fn e164(raw: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "invalid-phone",
            format!(
                "`{}` is not a phone number in E.164 form (+ and country code)",
                truncate(raw, 40)
            ),
        )
    };
    let digits = raw.strip_prefix('+').ok_or_else(invalid)?;
    let no_double_space =
        !digits.contains("  ") && !digits.starts_with(' ') && !digits.ends_with(' ');
    let digits: String = digits.chars().filter(|c| *c != ' ').collect();
    let ok = no_double_space
        && (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !ok {
        return Err(invalid());
    }
    Ok(format!("+{digits}"))
}

/// Optional free text: at most `max` characters as sent, then trimmed; empty means absent.
pub(crate) fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    if let Some(v) = &value
        && v.chars().count() > max
    {
        return Err(ApiError::invalid(
            "too-long",
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// A caller-chosen id (`messageId`, `externalId`, `Idempotency-Key`): 1–200 printable
/// characters.
pub(crate) fn client_id(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v)
            if !v.is_empty() && v.chars().count() <= 200 && !v.chars().any(char::is_control) =>
        {
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

/// An `inboxId` the bot named: it must be one handoff connected (422 otherwise, naming
/// the ones it can use).
pub(crate) fn connected_inbox(inbox: &str, connected: &[String]) -> Result<(), ApiError> {
    if connected.iter().any(|c| c == inbox) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "unknown-inbox",
        format!(
            "inboxId `{inbox}` is not an inbox handoff is connected to (connected: {})",
            if connected.is_empty() {
                "none yet".to_string()
            } else {
                connected.join(", ")
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_plain_http_addresses() {
        assert!(http_url("url", "https://webhook.botpress.cloud/abc").is_ok());
        assert!(http_url("url", "http://127.0.0.1:9/hook?x=1").is_ok());
        for bad in [
            "",
            "webhook.botpress.cloud/abc",
            "ftp://h/x",
            "https://user:pw@h/x",
            "https://h/x#frag",
            "http://0*",
            " https://h/x",
        ] {
            assert!(http_url("url", bad).is_err(), "{bad}");
        }
        assert!(http_url("url", &format!("https://h/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn phones_must_be_e164() {
        assert_eq!(e164("+14155552671").unwrap(), "+14155552671");
        assert_eq!(e164("+44 20 7183 8750").unwrap(), "+442071838750");
        assert_eq!(e164("+999123456789").unwrap(), "+999123456789");
        for bad in [
            "4155552671",
            "+1",
            "+123456",
            "+abc",
            "0044 20 7183 8750",
            "+0123456789",
            "+1  4155552671",
            "+1415555267100000",
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
