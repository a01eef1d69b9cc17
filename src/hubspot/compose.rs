//! What the agent sees: the text and rich text of the messages handoff publishes.

use crate::relay::{Content, HistoryLine, Session, Speaker, User};

/// Plain and HTML text of one message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Composed {
    pub(crate) text: String,
    pub(crate) rich_text: String,
}

impl Composed {
    /// Plain text, with its HTML made by escaping it.
    pub(crate) fn plain(text: String) -> Composed {
        Composed {
            rich_text: escape_html(&text),
            text,
        }
    }
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// What became of a transcript line's media when the first message was prepared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LineMedia {
    /// No media on this line.
    None,
    /// Uploaded and attached to the message under this name.
    Attached(String),
    /// Not attached, for this reason; the transcript shows the link.
    Link(String),
}

/// The session's first message: title, description, and the whole transcript in order,
/// one `User:` / `Bot:` line each (with the time when the bot gave it). Media lines say
/// whether they are attached; a location links to a map. `media` is by line (missing
/// entries count as `None`).
pub(crate) fn first_message(
    session: &Session,
    user: &User,
    history: &[HistoryLine],
    media: &[LineMedia],
) -> Composed {
    let title = session
        .title
        .clone()
        .unwrap_or_else(|| "Conversation handed over by the bot".into());
    let who = display_name(user);
    let mut text = format!("{title}\nFrom: {who}\n");
    let mut rich = format!(
        "<p><strong>{}</strong></p><p>From: {}</p>",
        escape_html(&title),
        escape_html(&who)
    );
    if let Some(d) = session
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
    {
        text.push_str(&format!("\n{d}\n"));
        rich.push_str(&format!("<p>{}</p>", escape_html(d)));
    }
    if !history.is_empty() {
        text.push_str("\nTranscript:\n");
        rich.push_str("<p><strong>Transcript</strong></p>");
        for (i, line) in history.iter().enumerate() {
            let speaker = match line.speaker {
                Speaker::User => "User",
                Speaker::Bot => "Bot",
            };
            let when = line
                .at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            let status = match media.get(i).unwrap_or(&LineMedia::None) {
                LineMedia::None => String::new(),
                LineMedia::Attached(name) => format!(" (attached: {name})"),
                LineMedia::Link(reason) => format!(" (not attached: {reason})"),
            };
            let said = line.content.summary();
            match &when {
                Some(w) => text.push_str(&format!("{speaker} ({w}): {said}{status}\n")),
                None => text.push_str(&format!("{speaker}: {said}{status}\n")),
            }
            rich.push_str(&format!("<p><strong>{speaker}</strong>"));
            if let Some(w) = &when {
                rich.push_str(&format!(" <em>{w}</em>"));
            }
            rich.push_str(&format!(
                "<br>{}{}</p>",
                rich_content(&line.content),
                escape_html(&status)
            ));
        }
    }
    Composed {
        text: text.trim_end().to_string(),
        rich_text: rich,
    }
}

/// A message's content as HTML: text escaped, media and places as links.
fn rich_content(content: &Content) -> String {
    let link = |url: &str, label: &str| {
        format!(
            "<a href=\"{}\">{}</a>",
            escape_html(url),
            escape_html(label)
        )
    };
    match content {
        Content::Text { text } => escape_html(text),
        Content::Location {
            latitude,
            longitude,
            ..
        } => {
            let map = format!(
                "https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=17/{latitude}/{longitude}"
            );
            link(&map, &content.summary())
        }
        other => match other.media() {
            Some((kind, url, title)) => {
                let label = format!("{kind:?}").to_lowercase();
                link(
                    url,
                    &title.map(|t| format!("{label}: {t}")).unwrap_or(label),
                )
            }
            None => escape_html(&other.summary()),
        },
    }
}

pub(crate) fn display_name(user: &User) -> String {
    user.name
        .clone()
        .or_else(|| user.email.clone())
        .or_else(|| user.phone.clone())
        .unwrap_or_else(|| "Chat user".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn fixtures(now: chrono::DateTime<Utc>) -> (Session, User) {
        let user = User {
            id: "usr_1".into(),
            name: Some("Jane <Doe>".into()),
            email: Some("jane@example.com".into()),
            phone: None,
            picture_url: None,
            external_id: None,
            created_at: now,
            updated_at: now,
        };
        let session = Session {
            title: Some("Refund".into()),
            description: Some("Order 42".into()),
            ..Session::pending("ses_1".into(), user.id.clone(), now)
        };
        (session, user)
    }

    #[test]
    fn transcript_lists_who_said_what_in_order_and_escapes_html() {
        let (session, user) = fixtures(Utc::now());
        let history = vec![
            HistoryLine {
                speaker: Speaker::User,
                content: Content::Text {
                    text: "I want my money".into(),
                },
                at: None,
            },
            HistoryLine {
                speaker: Speaker::Bot,
                content: Content::Text {
                    text: "Let me get a human".into(),
                },
                at: None,
            },
        ];
        let m = first_message(&session, &user, &history, &[]);
        assert_eq!(
            m.text,
            "Refund\nFrom: Jane <Doe>\n\nOrder 42\n\nTranscript:\nUser: I want my money\nBot: Let me get a human"
        );
        assert!(m.rich_text.contains("Jane &lt;Doe&gt;"));
        let u = m.rich_text.find("I want my money").unwrap();
        let b = m.rich_text.find("Let me get a human").unwrap();
        assert!(u < b);
    }

    #[test]
    fn a_transcript_shows_times_media_and_places() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:03:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let (session, user) = fixtures(now);
        let history = vec![
            HistoryLine {
                speaker: Speaker::User,
                content: Content::Image {
                    url: "https://x.test/a.png?s=1&t=2".into(),
                },
                at: Some(now),
            },
            HistoryLine {
                speaker: Speaker::User,
                content: Content::File {
                    url: "https://x.test/big.pdf".into(),
                    title: Some("Scan".into()),
                },
                at: None,
            },
            HistoryLine {
                speaker: Speaker::Bot,
                content: Content::Location {
                    latitude: 52.5,
                    longitude: 13.4,
                    address: None,
                    title: Some("Shop".into()),
                },
                at: None,
            },
        ];
        let media = [
            LineMedia::Attached("a.png".into()),
            LineMedia::Link("the file is larger than 20 MB".into()),
        ];
        let m = first_message(&session, &user, &history, &media);
        assert!(m.text.contains("User (2026-12-01 10:03:05 UTC): [image] https://x.test/a.png?s=1&t=2 (attached: a.png)"), "{}", m.text);
        assert!(m.text.contains("User: [file: Scan] https://x.test/big.pdf (not attached: the file is larger than 20 MB)"));
        assert!(m.rich_text.contains("<em>2026-12-01 10:03:05 UTC</em>"));
        assert!(
            m.rich_text.contains(
                r#"<a href="https://x.test/a.png?s=1&amp;t=2">image</a> (attached: a.png)"#
            ),
            "{}",
            m.rich_text
        );
        assert!(
            m.rich_text
                .contains(r#"<a href="https://x.test/big.pdf">file: Scan</a>"#)
        );
        assert!(
            m.rich_text
                .contains("https://www.openstreetmap.org/?mlat=52.5&amp;mlon=13.4")
        );
    }
}
