//! The session and its user: what the bot opened, where it stands, who holds it.

use super::event::{EventKey, EventKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    /// E.164.
    pub(crate) phone: Option<String>,
    pub(crate) picture_url: Option<String>,
    /// The bot's own id for an anonymous user (no email, no phone).
    #[serde(default)]
    pub(crate) external_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl User {
    /// Users are keyed by email when given, else by phone, else by the bot's `externalId`.
    pub(crate) fn identity_key(
        email: Option<&str>,
        phone: Option<&str>,
        external_id: Option<&str>,
    ) -> Option<String> {
        email
            .map(|e| format!("email:{}", e.to_lowercase()))
            .or_else(|| phone.map(|p| format!("phone:{p}")))
            .or_else(|| external_id.map(|x| format!("ext:{x}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SessionStatus {
    /// Accepted; the first message is not yet in HubSpot.
    Pending,
    Open,
    Assigned,
    Closed,
    Failed,
}

impl SessionStatus {
    /// No more user messages are accepted.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, SessionStatus::Closed | SessionStatus::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClosedBy {
    Agent,
    Bot,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Agent {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) avatar_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionFailure {
    pub(crate) code: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `ses_<ULID>`; the session's `integrationThreadId` is derived from it
    /// (`relay::integration_thread_id`), so it needs no index.
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) status: SessionStatus,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) hubspot_thread_id: Option<String>,
    /// The channel account the session publishes through (set when it is first published).
    pub(crate) channel_account_id: Option<String>,
    pub(crate) agent: Option<Agent>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
    pub(crate) closed_by: Option<ClosedBy>,
    /// The reason the bot gave when it stopped the session.
    #[serde(default)]
    pub(crate) closed_reason: Option<String>,
    pub(crate) failure: Option<SessionFailure>,
    /// The inbox the session publishes into. Sessions from before inboxes could be chosen
    /// have none and use the default inbox (schema 4 fills it in from the one account).
    #[serde(default)]
    pub(crate) inbox_id: Option<String>,
    /// The ticket's priority the bot asked for (Help Desk inboxes).
    #[serde(default)]
    pub(crate) priority: Option<Priority>,
    /// The CRM contact the session was published for, found or created.
    #[serde(default)]
    pub(crate) contact_id: Option<String>,
    /// The Help Desk ticket HubSpot made for the thread, once found.
    #[serde(default)]
    pub(crate) ticket_id: Option<String>,
    /// Open in HubSpot, but the bot has not been told: its ticket is still looked for.
    #[serde(default)]
    pub(crate) awaiting_ticket: bool,
}

/// A ticket priority, as the bot names it; HubSpot's `hs_ticket_priority` is the uppercase
/// form (`URGENT` exists in portals that have it, see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub(crate) fn parse(value: &str) -> Option<Priority> {
        match value {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }

    pub(crate) fn hubspot(self) -> &'static str {
        match self {
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Urgent => "URGENT",
        }
    }
}

impl Session {
    /// A new session of `user_id`, pending: nothing of it is in HubSpot yet.
    pub(crate) fn pending(id: String, user_id: String, created_at: DateTime<Utc>) -> Session {
        Session {
            id,
            user_id,
            status: SessionStatus::Pending,
            title: None,
            description: None,
            external_id: None,
            idempotency_key: None,
            hubspot_thread_id: None,
            channel_account_id: None,
            agent: None,
            created_at,
            closed_at: None,
            closed_by: None,
            closed_reason: None,
            failure: None,
            inbox_id: None,
            priority: None,
            contact_id: None,
            ticket_id: None,
            awaiting_ticket: false,
        }
    }
}

/// handoff's `integrationThreadId` for a session, and back: the thread id is derived from
/// the session id, so no index is needed.
pub fn integration_thread_id(session_id: &str) -> String {
    format!(
        "handoff-{}",
        session_id.trim_start_matches("ses_").to_lowercase()
    )
}

pub(crate) fn session_of_integration_thread(itid: &str) -> Option<String> {
    let ulid = itid.strip_prefix("handoff-")?;
    (ulid.len() == 26 && ulid.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("ses_{}", ulid.to_uppercase()))
}

/// Something that happens to a session. [`apply`] is the one place that decides what it
/// changes and which event the bot gets for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    /// The first message is in HubSpot: the session is open on this thread and account,
    /// for this CRM contact. In a Help Desk the bot hears of it once the ticket is known
    /// (`TicketResolved`), so that `session.opened` can name the ticket.
    Published {
        thread_id: Option<String>,
        account_id: String,
        contact_id: Option<String>,
        awaits_ticket: bool,
    },
    /// The Help Desk ticket was found (or handoff stopped looking).
    TicketResolved { ticket_id: Option<String> },
    /// An agent took the thread (`Some`) or it was unassigned (`None`).
    Assigned {
        agent: Option<Agent>,
        /// The HubSpot event's key, so a redelivered event gives no second `session.assigned`.
        key: EventKey,
    },
    /// The thread was closed in HubSpot.
    ClosedByAgent { at: DateTime<Utc> },
    /// The bot stopped the session (`POST …/stop`).
    StoppedByBot {
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    /// HubSpot refused the session itself: it can never open.
    Failed {
        code: String,
        message: String,
        at: DateTime<Utc>,
    },
}

/// The event a transition gives the bot: appended once, by its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Happened {
    pub(crate) kind: EventKind,
    pub(crate) data: serde_json::Value,
    pub(crate) key: EventKey,
}

/// The session after `transition`, and the event it gives the bot, if any. Pure: the
/// store applies it under the session's lock and the caller appends the event.
///
/// The rules that used to be spread over the adapters:
/// - a session closed by the bot already gave its one `session.closed`, so HubSpot's echo
///   of our own close (or any close of a final session) changes nothing;
/// - an assignment never reopens a final session;
/// - `session.closed` has the same key whoever closed it, so there is only ever one.
pub(crate) fn apply(session: &Session, transition: &Transition) -> (Session, Option<Happened>) {
    let mut next = session.clone();
    let happened = match transition {
        Transition::Published {
            thread_id,
            account_id,
            contact_id,
            awaits_ticket,
        } => {
            if next.hubspot_thread_id.is_none() {
                next.hubspot_thread_id = thread_id.clone();
            }
            next.channel_account_id
                .get_or_insert_with(|| account_id.clone());
            if next.contact_id.is_none() {
                next.contact_id = contact_id.clone();
            }
            if next.status == SessionStatus::Pending {
                next.status = SessionStatus::Open;
                next.awaiting_ticket = *awaits_ticket;
            }
            (!awaits_ticket).then(|| opened(&next))
        }
        Transition::TicketResolved { ticket_id } => {
            if next.ticket_id.is_none() {
                next.ticket_id = ticket_id.clone();
            }
            next.awaiting_ticket = false;
            // A session that ended while its ticket was looked for gave the bot its end;
            // an `opened` after it would only confuse.
            (!next.status.is_final()).then(|| opened(&next))
        }
        Transition::Assigned { agent, key } => {
            next.agent = agent.clone();
            match (agent, session.status) {
                (Some(_), SessionStatus::Open | SessionStatus::Pending) => {
                    next.status = SessionStatus::Assigned
                }
                (None, SessionStatus::Assigned) => next.status = SessionStatus::Open,
                _ => {}
            }
            agent.as_ref().map(|agent| Happened {
                kind: EventKind::Assigned,
                data: serde_json::json!({"agent": agent}),
                key: key.clone(),
            })
        }
        Transition::ClosedByAgent { at } => {
            if session.closed_by == Some(ClosedBy::Bot) || session.status.is_final() {
                return (next, None);
            }
            next.status = SessionStatus::Closed;
            next.closed_by = Some(ClosedBy::Agent);
            next.closed_at = Some(*at);
            Some(Happened {
                kind: EventKind::Closed,
                data: serde_json::json!({"by": "agent"}),
                key: EventKey::closed(&session.id),
            })
        }
        Transition::StoppedByBot { reason, at } => {
            if session.status.is_final() {
                return (next, None);
            }
            next.status = SessionStatus::Closed;
            next.closed_at = Some(*at);
            next.closed_by = Some(ClosedBy::Bot);
            next.closed_reason = reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string);
            Some(bot_closed(&next))
        }
        Transition::Failed { code, message, at } => {
            if !next.status.is_final() {
                next.status = SessionStatus::Failed;
                next.closed_at = Some(*at);
            }
            next.failure = Some(SessionFailure {
                code: code.clone(),
                message: message.clone(),
            });
            Some(Happened {
                kind: EventKind::Failed,
                data: serde_json::json!({"error": {"code": code, "message": message}}),
                key: EventKey::failed(&session.id),
            })
        }
    };
    (next, happened)
}

/// What the bot must hear before anything an agent did: `session.opened`, when it was held
/// back for a ticket still looked for (then it names no ticket; the ticket is in
/// `GET /sessions/{id}` once found, and the later `opened` is the same event, given once).
pub(crate) fn opened_first(session: &Session) -> Option<Happened> {
    session.awaiting_ticket.then(|| opened(session))
}

/// `session.opened`: the thread, and the ticket when there is one. One per session
/// whichever transition gives it.
fn opened(session: &Session) -> Happened {
    let mut data = serde_json::json!({"hubspotThreadId": session.hubspot_thread_id});
    if let Some(ticket) = &session.ticket_id {
        data["ticketId"] = serde_json::json!(ticket);
    }
    Happened {
        kind: EventKind::Opened,
        data,
        key: EventKey::opened(&session.id),
    }
}

/// The `session.closed` of a session the bot stopped. Also asked again for a stop that is
/// retried after the session closed, so that the event exists exactly once.
pub(crate) fn bot_closed(session: &Session) -> Happened {
    let mut data = serde_json::json!({"by": "bot"});
    if let Some(r) = session.closed_reason.as_deref() {
        data["reason"] = serde_json::json!(r);
    }
    Happened {
        kind: EventKind::Closed,
        data,
        key: EventKey::closed(&session.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_thread_ids_map_back_to_sessions() {
        let session = format!("ses_{}", ulid::Ulid::generate());
        let itid = integration_thread_id(&session);
        assert!(itid.starts_with("handoff-"));
        assert_eq!(session_of_integration_thread(&itid), Some(session));
        assert_eq!(session_of_integration_thread("bridge-123"), None);
        assert_eq!(session_of_integration_thread("handoff-../../etc"), None);
    }

    fn session(status: SessionStatus) -> Session {
        Session {
            status,
            ..Session::pending("ses_1".into(), "usr_1".into(), Utc::now())
        }
    }

    fn agent() -> Agent {
        Agent {
            id: "A-1".into(),
            name: Some("Sam".into()),
            email: None,
            avatar_url: None,
        }
    }

    #[test]
    fn publishing_opens_a_pending_session_once() {
        let published = Transition::Published {
            thread_id: Some("42".into()),
            account_id: "acc".into(),
            contact_id: Some("7".into()),
            awaits_ticket: false,
        };
        let (open, event) = apply(&session(SessionStatus::Pending), &published);
        assert_eq!(open.status, SessionStatus::Open);
        assert_eq!(open.hubspot_thread_id.as_deref(), Some("42"));
        let event = event.unwrap();
        assert_eq!(event.kind, EventKind::Opened);
        assert_eq!(event.key, EventKey::opened("ses_1"));
        // A retried publish keeps the first thread.
        let again = Transition::Published {
            thread_id: Some("43".into()),
            account_id: "other".into(),
            contact_id: None,
            awaits_ticket: false,
        };
        let (same, _) = apply(&open, &again);
        assert_eq!(same.hubspot_thread_id.as_deref(), Some("42"));
        assert_eq!(same.channel_account_id.as_deref(), Some("acc"));
        assert_eq!(same.contact_id.as_deref(), Some("7"));
    }

    #[test]
    fn a_help_desk_session_opens_for_the_bot_when_its_ticket_is_known() {
        let published = Transition::Published {
            thread_id: Some("42".into()),
            account_id: "acc".into(),
            contact_id: None,
            awaits_ticket: true,
        };
        let (open, event) = apply(&session(SessionStatus::Pending), &published);
        assert_eq!(open.status, SessionStatus::Open);
        assert!(event.is_none(), "not before the ticket is known");
        // An agent acting meanwhile makes it come first.
        assert_eq!(opened_first(&open).unwrap().key, EventKey::opened("ses_1"));
        let found = Transition::TicketResolved {
            ticket_id: Some("9".into()),
        };
        let (with_ticket, event) = apply(&open, &found);
        assert_eq!(with_ticket.ticket_id.as_deref(), Some("9"));
        assert!(opened_first(&with_ticket).is_none());
        let event = event.unwrap();
        assert_eq!(event.key, EventKey::opened("ses_1"));
        assert_eq!(event.data["ticketId"], "9");
        let (_, without) = apply(&open, &Transition::TicketResolved { ticket_id: None });
        assert!(without.unwrap().data.get("ticketId").is_none());
        let mut stopped = open.clone();
        stopped.status = SessionStatus::Closed;
        let (closed, late) = apply(&stopped, &found);
        assert_eq!(
            closed.ticket_id.as_deref(),
            Some("9"),
            "the ticket is still recorded"
        );
        assert!(late.is_none(), "no opened after the end");
    }

    #[test]
    fn assignment_moves_between_open_and_assigned() {
        let key = EventKey::from("app:x".to_string());
        let assign = Transition::Assigned {
            agent: Some(agent()),
            key: key.clone(),
        };
        let (assigned, event) = apply(&session(SessionStatus::Open), &assign);
        assert_eq!(assigned.status, SessionStatus::Assigned);
        assert_eq!(event.unwrap().key, key);
        let unassign = Transition::Assigned { agent: None, key };
        let (open, event) = apply(&assigned, &unassign);
        assert_eq!(open.status, SessionStatus::Open);
        assert!(open.agent.is_none());
        assert!(event.is_none(), "unassigning tells the bot nothing");
        let (closed, _) = apply(&session(SessionStatus::Closed), &assign);
        assert_eq!(
            closed.status,
            SessionStatus::Closed,
            "a final session stays final"
        );
    }

    #[test]
    fn the_echo_of_a_bot_stop_gives_no_second_close() {
        let stop = Transition::StoppedByBot {
            reason: Some("  done ".into()),
            at: Utc::now(),
        };
        let (stopped, event) = apply(&session(SessionStatus::Assigned), &stop);
        assert_eq!(stopped.closed_by, Some(ClosedBy::Bot));
        assert_eq!(stopped.closed_reason.as_deref(), Some("done"));
        let event = event.unwrap();
        assert_eq!(event.data["reason"], "done");
        let echo = Transition::ClosedByAgent { at: Utc::now() };
        let (after, none) = apply(&stopped, &echo);
        assert_eq!(after, stopped);
        assert!(none.is_none());
        // An agent's close of a live session is the one close, with the same key.
        let (closed, event) = apply(&session(SessionStatus::Open), &echo);
        assert_eq!(closed.closed_by, Some(ClosedBy::Agent));
        assert_eq!(event.unwrap().key, EventKey::closed("ses_1"));
    }

    #[test]
    fn a_failure_is_final_and_named() {
        let failed = Transition::Failed {
            code: "hubspot-rejected".into(),
            message: "no".into(),
            at: Utc::now(),
        };
        let (s, event) = apply(&session(SessionStatus::Pending), &failed);
        assert_eq!(s.status, SessionStatus::Failed);
        assert_eq!(s.failure.unwrap().code, "hubspot-rejected");
        assert_eq!(event.unwrap().data["error"]["code"], "hubspot-rejected");
        let (closed, _) = apply(&session(SessionStatus::Closed), &failed);
        assert_eq!(
            closed.status,
            SessionStatus::Closed,
            "a closed session stays closed"
        );
    }
}
