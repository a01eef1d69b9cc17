//! Help Desk tickets filled from the session. HubSpot makes a ticket for every conversation
//! in a Help Desk a few seconds after the thread opens; handoff looks for it
//! (`?association=TICKET` on the thread), associates the session's contact and sets the
//! subject, content, priority and, when configured, category, pipeline and stage.
//!
//! None of it may block the conversation: the step runs in a lane of its own, and what
//! HubSpot refuses (a missing `tickets` scope, a property value the portal does not have)
//! becomes a warning on the dashboard and in `/readyz`.

use super::client::HubSpot;
use super::crm::missing_scope;
use super::error::HubSpotError;
use crate::config::TicketConfig;
use crate::relay::Session;
use serde_json::{Value, json};

/// How often the thread is asked for its ticket before handoff gives up (with the retry
/// schedule's pauses between: about half a minute with the defaults).
pub(crate) const TICKET_POLLS: u32 = 6;

/// What one look for the ticket came to.
#[derive(Debug, PartialEq)]
pub(crate) enum TicketStep {
    /// The ticket exists; what could be filled in is, and `warnings` says what could not.
    Found {
        ticket_id: String,
        warnings: Vec<(&'static str, String)>,
    },
    /// Not made yet: look again later.
    NotYet,
    /// It will not work for this session (no thread, HubSpot refuses to say).
    GiveUp(&'static str, String),
}

/// The lane a session's ticket step runs in: its own, so the session's messages never
/// wait behind it.
pub(crate) fn ticket_lane(session_id: &str) -> String {
    format!("{session_id}#ticket")
}

/// Looks for the session's ticket once and fills it when it is there. A passing failure
/// (HubSpot unavailable, rate limited) is an `Err`: the outbox tries again.
pub(crate) async fn fill_ticket(
    hubspot: &HubSpot,
    session: &Session,
    config: &TicketConfig,
) -> Result<TicketStep, HubSpotError> {
    let Some(thread) = session.hubspot_thread_id.as_deref() else {
        return Ok(TicketStep::GiveUp(
            "ticket-not-found",
            format!(
                "session {} has no HubSpot thread to find a ticket on",
                session.id
            ),
        ));
    };
    let ticket_id = match hubspot.thread_ticket(thread).await {
        Ok(Some(id)) => id,
        Ok(None) => return Ok(TicketStep::NotYet),
        Err(e) if e.is_permanent() => {
            return Ok(TicketStep::GiveUp(
                "ticket-not-found",
                format!("HubSpot would not say which ticket thread {thread} has: {e}"),
            ));
        }
        Err(e) => return Err(e),
    };
    let mut warnings = Vec::new();
    if let Some(contact) = session.contact_id.as_deref() {
        let associated = hubspot
            .associate_contact_with_ticket(contact, &ticket_id)
            .await;
        tolerate(
            associated,
            "associate the contact with",
            &ticket_id,
            &mut warnings,
        )?;
    }
    let properties = ticket_properties(session, config);
    if has_any(&properties) {
        let what = "set the properties of";
        match hubspot.update_ticket(&ticket_id, &properties).await {
            // HubSpot refuses the whole update for one value the portal does not have
            // (priorities and stages are per portal): the subject and content still go in,
            // and the warning says what was refused.
            Err(HubSpotError::Permanent {
                status: 400,
                message,
                ..
            }) => {
                warnings.push((
                    "ticket-update-refused",
                    format!("HubSpot refused a priority, category, pipeline or stage of ticket {ticket_id} ({message}); the subject and content were set without them"),
                ));
                let plain = plain_properties(&properties);
                if has_any(&plain) {
                    let updated = hubspot.update_ticket(&ticket_id, &plain).await;
                    tolerate(updated, what, &ticket_id, &mut warnings)?;
                }
            }
            other => tolerate(other, what, &ticket_id, &mut warnings)?,
        }
    }
    Ok(TicketStep::Found {
        ticket_id,
        warnings,
    })
}

/// A step HubSpot may refuse: a refusal becomes a warning and the ticket step goes on; a
/// passing failure stays an `Err`, so the step is tried again.
fn tolerate(
    result: Result<(), HubSpotError>,
    what: &str,
    ticket: &str,
    warnings: &mut Vec<(&'static str, String)>,
) -> Result<(), HubSpotError> {
    match result {
        Err(e) if e.is_permanent() => {
            warnings.push(refused(what, ticket, &e));
            Ok(())
        }
        other => other,
    }
}

fn has_any(properties: &Value) -> bool {
    properties.as_object().is_some_and(|p| !p.is_empty())
}

fn refused(what: &str, ticket: &str, e: &HubSpotError) -> (&'static str, String) {
    if missing_scope(e) {
        (
            "tickets-scope-missing",
            format!(
                "HubSpot refused to {what} ticket {ticket}: the connection lacks the tickets scope; connect HubSpot again to grant it"
            ),
        )
    } else {
        (
            "ticket-update-refused",
            format!("HubSpot refused to {what} ticket {ticket}: {e}"),
        )
    }
}

/// The ticket's properties from the session and the configuration; only those with a
/// value.
pub(crate) fn ticket_properties(session: &Session, config: &TicketConfig) -> Value {
    let mut properties = json!({});
    let mut set = |name: &str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            properties[name] = json!(v);
        }
    };
    set("subject", session.title.as_deref());
    set("content", session.description.as_deref());
    set("hs_ticket_priority", session.priority.map(|p| p.hubspot()));
    set("hs_ticket_category", config.category.as_deref());
    set("hs_pipeline", config.pipeline.as_deref());
    set("hs_pipeline_stage", config.pipeline_stage.as_deref());
    properties
}

/// Only the free-text properties (`subject`, `content`), which no portal setting can refuse.
fn plain_properties(properties: &Value) -> Value {
    let mut plain = json!({});
    for name in ["subject", "content"] {
        if let Some(v) = properties.get(name) {
            plain[name] = v.clone();
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::{Priority, SessionStatus};

    #[test]
    fn properties_come_from_the_session_and_the_configuration() {
        let mut session: Session = serde_json::from_value(json!({
            "id": "ses_1", "user_id": "usr_1", "status": "open",
            "title": "Refund", "description": "  ", "external_id": null,
            "idempotency_key": null, "hubspot_thread_id": "42", "channel_account_id": null,
            "agent": null, "created_at": "2026-12-02T00:00:00Z", "closed_at": null,
            "closed_by": null, "failure": null
        }))
        .unwrap();
        assert_eq!(session.status, SessionStatus::Open);
        session.priority = Some(Priority::Urgent);
        let config = TicketConfig {
            category: Some("BILLING_ISSUE".into()),
            pipeline: None,
            pipeline_stage: Some("1".into()),
        };
        assert_eq!(
            ticket_properties(&session, &config),
            json!({"subject": "Refund", "hs_ticket_priority": "URGENT",
                   "hs_ticket_category": "BILLING_ISSUE", "hs_pipeline_stage": "1"})
        );
    }
}
