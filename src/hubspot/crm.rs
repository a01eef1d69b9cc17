//! The CRM calls of Help Desk sessions and agent availability: a thread's ticket, the
//! ticket's properties and contact, contacts created for users HubSpot does not know, and
//! the Users API. Shapes follow the fact sheet (§7, §13.9, §13.12, §13.14); where it marks a
//! shape uncertain, every variant is read.

use super::client::{Auth, HubSpot};
use super::error::HubSpotError;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// A string or a number, as text (the lenient reading the webhook parser uses).
fn text(v: &Value) -> Option<String> {
    super::inbound::id_of(Some(v))
}

/// The scope a refused call lacked, when HubSpot said so (403 `MISSING_SCOPES`).
pub(crate) fn missing_scope(e: &HubSpotError) -> bool {
    matches!(e, HubSpotError::Permanent { status: 403, .. })
}

/// A HubSpot user with what availability needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CrmUser {
    /// `A-<hs_internal_user_id>`, the actor id agents have in conversations (§13.12).
    pub(crate) actor_id: Option<String>,
    /// `available` or `away`, lowercased; `None` when HubSpot did not say.
    pub(crate) status: Option<String>,
    /// `hs_working_hours`: stringified JSON, parsed by `availability`.
    pub(crate) working_hours: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) out_of_office: Option<String>,
}

impl HubSpot {
    /// The ticket HubSpot made for a Help Desk thread, once it exists.
    pub(crate) async fn thread_ticket(
        &self,
        thread_id: &str,
    ) -> Result<Option<String>, HubSpotError> {
        let path = format!("/conversations/v3/conversations/threads/{thread_id}");
        let thread: Value = self
            .call(
                Method::GET,
                &path,
                &[("association", "TICKET")],
                None,
                Auth::Bearer,
            )
            .await?;
        // `threadAssociations.associatedTicketId` as observed; `ticketId` and an
        // `associations.tickets` list are read too, since the shape is not documented.
        let associations = &thread["threadAssociations"];
        Ok([
            &associations["associatedTicketId"],
            &associations["ticketId"],
            &thread["associatedTicketId"],
            &thread["associations"]["tickets"][0]["id"],
        ]
        .into_iter()
        .find_map(text))
    }

    /// Sets ticket properties (`subject`, `content`, `hs_ticket_priority`, …).
    pub(crate) async fn update_ticket(
        &self,
        ticket_id: &str,
        properties: &Value,
    ) -> Result<(), HubSpotError> {
        let path = format!("/crm/v3/objects/tickets/{ticket_id}");
        let body = json!({ "properties": properties });
        let _: Value = self
            .call(Method::PATCH, &path, &[], Some(&body), Auth::Bearer)
            .await?;
        Ok(())
    }

    /// Associates a contact with a ticket (the v4 default association).
    pub(crate) async fn associate_contact_with_ticket(
        &self,
        contact_id: &str,
        ticket_id: &str,
    ) -> Result<(), HubSpotError> {
        let path =
            format!("/crm/v4/objects/contact/{contact_id}/associations/default/ticket/{ticket_id}");
        let _: Value = self
            .call(Method::PUT, &path, &[], None, Auth::Bearer)
            .await?;
        Ok(())
    }

    /// Creates a contact; when one with the email exists (409), its id is read from
    /// HubSpot's answer ("Contact already exists. Existing ID: 123").
    pub(crate) async fn create_contact(&self, properties: &Value) -> Result<String, HubSpotError> {
        #[derive(Deserialize)]
        struct Created {
            id: Value,
        }
        let body = json!({ "properties": properties });
        let created: Result<Created, _> = self
            .call(
                Method::POST,
                "/crm/v3/objects/contacts",
                &[],
                Some(&body),
                Auth::Bearer,
            )
            .await;
        match created {
            Ok(c) => text(&c.id)
                .ok_or_else(|| HubSpotError::Unexpected("a created contact without an id".into())),
            Err(HubSpotError::Permanent {
                status: 409,
                message,
                category,
            }) => existing_id(&message).ok_or(HubSpotError::Permanent {
                status: 409,
                message,
                category,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every user of the portal with their availability properties (paged, 100 a page).
    pub(crate) async fn list_users(&self) -> Result<Vec<CrmUser>, HubSpotError> {
        let properties = "hs_availability_status,hs_working_hours,hs_standard_time_zone,\
                          hs_out_of_office_hours,hs_internal_user_id";
        let mut users = Vec::new();
        let mut after: Option<String> = None;
        // A portal has at most a few thousand users; the bound keeps a looping `after`
        // from running forever.
        for _ in 0..50 {
            let mut query = vec![("limit", "100"), ("properties", properties)];
            if let Some(a) = after.as_deref() {
                query.push(("after", a));
            }
            let page: Value = self
                .call(
                    Method::GET,
                    "/crm/v3/objects/users",
                    &query,
                    None,
                    Auth::Bearer,
                )
                .await?;
            for user in page["results"].as_array().into_iter().flatten() {
                let p = &user["properties"];
                let prop = |k: &str| text(&p[k]);
                users.push(CrmUser {
                    actor_id: prop("hs_internal_user_id").map(|id| format!("A-{id}")),
                    status: prop("hs_availability_status").map(|s| s.to_lowercase()),
                    working_hours: prop("hs_working_hours"),
                    time_zone: prop("hs_standard_time_zone"),
                    out_of_office: prop("hs_out_of_office_hours"),
                });
            }
            match text(&page["paging"]["next"]["after"]) {
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => break,
            }
        }
        Ok(users)
    }
}

/// The id in HubSpot's 409 message: the digits after "Existing ID:".
fn existing_id(message: &str) -> Option<String> {
    let at = message.find("Existing ID:")? + "Existing ID:".len();
    let digits: String = message[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_existing_id_is_read_from_a_conflict() {
        assert_eq!(
            existing_id("Contact already exists. Existing ID: 12345").as_deref(),
            Some("12345")
        );
        assert_eq!(existing_id("Contact already exists."), None);
        assert_eq!(existing_id("Existing ID: x"), None);
    }
}
