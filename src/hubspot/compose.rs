//! What the agent sees: the text and rich text of the messages handoff publishes.

use crate::bot::messages::{HistoryLine, Speaker};
use crate::store::{Session, User};

/// Plain and HTML text of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub text: String,
    pub rich_text: String,
}

pub fn escape_html(s: &str) -> String {
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

/// The session's first message: title, description, and the whole transcript in order,
/// one `User:` / `Bot:` line each.
pub fn first_message(session: &Session, user: &User, history: &[HistoryLine]) -> Composed {
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
        for line in history {
            let speaker = match line.speaker {
                Speaker::User => "User",
                Speaker::Bot => "Bot",
            };
            let said = line.content.summary();
            text.push_str(&format!("{speaker}: {said}\n"));
            rich.push_str(&format!(
                "<p><strong>{speaker}:</strong> {}</p>",
                escape_html(&said)
            ));
        }
    }
    Composed {
        text: text.trim_end().to_string(),
        rich_text: rich,
    }
}

pub fn display_name(user: &User) -> String {
    user.name
        .clone()
        .or_else(|| user.email.clone())
        .or_else(|| user.phone.clone())
        .unwrap_or_else(|| "Chat user".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::messages::Content;
    use crate::store::SessionStatus;
    use chrono::Utc;

    #[test]
    fn transcript_lists_who_said_what_in_order_and_escapes_html() {
        let now = Utc::now();
        let user = User {
            id: "usr_1".into(),
            name: Some("Jane <Doe>".into()),
            email: Some("jane@example.com".into()),
            phone: None,
            picture_url: None,
            created_at: now,
            updated_at: now,
        };
        let session = Session {
            id: "ses_1".into(),
            user_id: user.id.clone(),
            status: SessionStatus::Pending,
            title: Some("Refund".into()),
            description: Some("Order 42".into()),
            external_id: None,
            idempotency_key: None,
            hubspot_thread_id: None,
            channel_account_id: None,
            agent: None,
            created_at: now,
            closed_at: None,
            closed_by: None,
            closed_reason: None,
            failure: None,
        };
        let history = vec![
            HistoryLine {
                speaker: Speaker::User,
                content: Content::Text {
                    text: "I want my money".into(),
                },
            },
            HistoryLine {
                speaker: Speaker::Bot,
                content: Content::Text {
                    text: "Let me get a human".into(),
                },
            },
        ];
        let m = first_message(&session, &user, &history);
        assert_eq!(
            m.text,
            "Refund\nFrom: Jane <Doe>\n\nOrder 42\n\nTranscript:\nUser: I want my money\nBot: Let me get a human"
        );
        assert!(m.rich_text.contains("Jane &lt;Doe&gt;"));
        let u = m.rich_text.find("I want my money").unwrap();
        let b = m.rich_text.find("Let me get a human").unwrap();
        assert!(u < b);
    }
}
