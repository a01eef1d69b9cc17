//! Help Desk tickets (§13.9): the ticket HubSpot opens for a thread in a
//! HELP_DESK inbox, its PATCH/GET, the ticket property definitions, and the
//! contact ↔ ticket associations (v3 from either side, v4 default and
//! labelled).
//!
//! Tickets are created lazily: [`settle`] runs before every read of threads
//! or tickets (API and test inspection alike) and creates the tickets whose
//! [`TicketTiming`] is due, so no background timer is needed.

use std::time::Instant;

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::TicketTiming;
use super::contacts::contact_json;
use super::errors::{ApiError, PropertyProblem, property_problem};
use super::guard::{Auth, check_scoped, scopes};
use super::state::{Shared, State, ThreadRec, TicketRec};
use super::util::{
    as_text, crm_object, json_response, now_iso, parse_json, path_param, properties_body,
    query_all, query_list, requested_properties,
};

/// Default ticket properties a tickets GET returns without `?properties=`.
const DEFAULT_PROPERTIES: &[&str] = &[
    "content",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_category",
    "hs_ticket_priority",
    "subject",
];

const WRITABLE: &[&str] = &[
    "content",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_category",
    "hs_ticket_priority",
    "hubspot_owner_id",
    "source_type",
    "subject",
];

const READ_ONLY: &[&str] = &["createdate", "hs_lastmodifieddate", "hs_object_id"];

/// Category values seen in public code (§13.9).
const CATEGORIES: &[&str] = &[
    "PRODUCT_ISSUE",
    "BILLING_ISSUE",
    "FEATURE_REQUEST",
    "GENERAL_INQUIRY",
];

/// Default association type ids (§13.9).
const CONTACT_TO_TICKET: u32 = 15;
const TICKET_TO_CONTACT: u32 = 16;

fn timing_for(st: &State, t: &ThreadRec) -> TicketTiming {
    let o = &st.ticket_timing_overrides;
    o.get(&t.id)
        .or_else(|| o.get(&t.integration_thread_id))
        .copied()
        .unwrap_or(st.cfg.ticket_timing)
}

fn due(timing: TicketTiming, t: &ThreadRec, now: Instant) -> bool {
    match timing {
        TicketTiming::AfterPolls(n) => t.ticket_polls >= n,
        TicketTiming::AfterDelay(d) => now.duration_since(t.created) >= d,
        TicketTiming::Never => false,
    }
}

fn is_help_desk(st: &State, inbox_id: &str) -> bool {
    st.inbox(inbox_id).is_some_and(|i| i["type"] == "HELP_DESK")
}

/// Creates the tickets that are due.
pub(super) fn settle(st: &mut State) {
    let now = Instant::now();
    let ready: Vec<String> = st
        .threads
        .iter()
        .filter(|t| t.ticket_id.is_none() && is_help_desk(st, &t.inbox_id))
        .filter(|t| due(timing_for(st, t), t, now))
        .map(|t| t.id.clone())
        .collect();
    for thread_id in ready {
        open_ticket(st, &thread_id);
    }
}

fn open_ticket(st: &mut State, thread_id: &str) {
    let id = st.ids.ticket();
    let now = now_iso();
    let (pipeline, stage) = st
        .ticket_pipelines
        .first()
        .map(|(p, stages)| (p.clone(), stages.first().cloned().unwrap_or_default()))
        .unwrap_or_default();
    let t = st.thread(thread_id).unwrap();
    let first_text = t
        .published
        .first()
        .and_then(|m| m["text"].as_str())
        .unwrap_or_default()
        .to_string();
    let subject = match first_text.chars().count() {
        0 => format!("Conversation {thread_id}"),
        n if n > 80 => format!("{}…", first_text.chars().take(80).collect::<String>()),
        _ => first_text.clone(),
    };
    let contact = t
        .contact_id
        .clone()
        .filter(|_| st.cfg.ticket_auto_associates_contact);
    let mut properties = Map::new();
    for (k, v) in [
        ("hs_object_id", json!(id)),
        ("createdate", json!(now)),
        ("hs_lastmodifieddate", json!(now)),
        ("subject", json!(subject)),
        ("content", json!(first_text)),
        ("hs_pipeline", json!(pipeline)),
        ("hs_pipeline_stage", json!(stage)),
        ("source_type", json!("CHAT")),
    ] {
        properties.insert(k.into(), v);
    }
    st.tickets.push(TicketRec {
        id: id.clone(),
        thread_id: Some(thread_id.to_string()),
        properties,
        created_at: now,
        contact_ids: contact.into_iter().collect(),
    });
    st.thread_mut(thread_id).unwrap().ticket_id = Some(id);
}

/// `association=TICKET` (or `ticket`, §13.9) among the query parameters.
pub(super) fn wants_ticket(req: &HttpRequest) -> bool {
    query_all(req, "association")
        .iter()
        .any(|a| a.eq_ignore_ascii_case("ticket"))
}

fn ticket_not_found() -> ApiError {
    ApiError::not_found("resource not found")
}

/// The ticket JSON; `with_contacts` adds `associations.contacts`.
fn ticket_json(t: &TicketRec, only: Option<&[String]>, with_contacts: bool) -> Value {
    let mut v = crm_object(
        &t.id,
        &t.properties,
        only,
        &t.created_at,
        &t.properties["hs_lastmodifieddate"],
    );
    if with_contacts {
        let results: Vec<Value> = t
            .contact_ids
            .iter()
            .map(|c| json!({ "id": c, "type": "ticket_to_contact" }))
            .collect();
        v["associations"] = json!({ "contacts": { "results": results } });
    }
    v
}

/// `GET /crm/v3/objects/tickets/{ticketId}[?properties=…&associations=contacts]`.
pub(super) async fn get_ticket(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::TICKETS)?;
    let props = requested_properties(&req, DEFAULT_PROPERTIES);
    let with_contacts = query_list(&req, "associations")
        .iter()
        .any(|a| normalise_type(a) == Some(ObjectType::Contact));
    let mut st = sh.state.lock();
    settle(&mut st);
    let id = path_param(&req, "ticketId");
    let t = st.ticket(&id).ok_or_else(ticket_not_found)?;
    Ok(json_response(
        200,
        &ticket_json(t, Some(&props), with_contacts),
    ))
}

/// The allowed values of an enumeration property, if it is one with inline options.
fn options_of(st: &State, name: &str) -> Option<Vec<String>> {
    match name {
        "hs_ticket_priority" => Some(st.ticket_priorities.clone()),
        "hs_ticket_category" => Some(CATEGORIES.iter().map(|s| s.to_string()).collect()),
        _ => None,
    }
}

/// `PATCH /crm/v3/objects/tickets/{ticketId}` (and `/crm/objects/2026-03/…`)
/// with `{"properties":{…}}`; unknown, read-only or out-of-list values → 400.
pub(super) async fn patch_ticket(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::TICKETS)?;
    let props = properties_body(&body)?;
    let mut st = sh.state.lock();
    settle(&mut st);
    let id = path_param(&req, "ticketId");
    let current = st.ticket(&id).ok_or_else(ticket_not_found)?;
    // Empty string or null clears a property, as in HubSpot.
    let values: Vec<(String, Option<String>)> = props
        .iter()
        .map(|(k, v)| (k.clone(), as_text(v).filter(|s| !s.is_empty())))
        .collect();
    let pipeline = values
        .iter()
        .find(|(k, _)| k == "hs_pipeline")
        .and_then(|(_, v)| v.clone())
        .or_else(|| current.properties.get("hs_pipeline").and_then(as_text))
        .unwrap_or_default();
    let mut problems: Vec<PropertyProblem> = Vec::new();
    for (k, v) in &values {
        if let Some(p) = property_problem(k, READ_ONLY, WRITABLE.contains(&k.as_str())) {
            problems.push(p);
            continue;
        }
        let Some(v) = v else { continue };
        if let Some(options) = options_of(&st, k).filter(|o| !o.contains(v)) {
            problems.push((
                k.clone(),
                "INVALID_OPTION",
                format!(
                    "{v} was not one of the allowed options: [{}]",
                    options.join(", ")
                ),
            ));
        }
        let stages = st
            .ticket_pipelines
            .iter()
            .find(|(p, _)| *p == pipeline)
            .map(|(_, s)| s);
        match (k.as_str(), stages) {
            ("hs_pipeline", None) => problems.push((
                k.clone(),
                "INVALID_OPTION",
                format!("{v} is not a valid pipeline ID"),
            )),
            ("hs_pipeline_stage", s) if !s.is_some_and(|s| s.contains(v)) => problems.push((
                k.clone(),
                "INVALID_OPTION",
                format!("{v} is not a valid pipeline stage ID for pipeline {pipeline}"),
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_properties(&problems));
    }
    let t = st.ticket_mut(&id).unwrap();
    for (k, v) in values {
        match v {
            Some(v) => t.properties.insert(k, json!(v)),
            None => t.properties.remove(&k),
        };
    }
    t.properties
        .insert("hs_lastmodifieddate".into(), json!(now_iso()));
    Ok(json_response(200, &ticket_json(t, None, false)))
}

fn title_case(value: &str) -> String {
    value
        .split('_')
        .map(|w| {
            let lower = w.to_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A property definition (`GET /crm/v3/properties/tickets/{name}`).
fn property_definition(st: &State, name: &str) -> Option<Value> {
    let (label, kind, field, external) = match name {
        "hs_ticket_priority" => ("Priority", "enumeration", "select", false),
        "hs_ticket_category" => ("Category", "enumeration", "select", false),
        "hs_pipeline" => ("Pipeline", "enumeration", "select", true),
        "hs_pipeline_stage" => ("Ticket status", "enumeration", "select", true),
        "subject" => ("Ticket name", "string", "text", false),
        "content" => ("Ticket description", "string", "textarea", false),
        "source_type" => ("Source", "enumeration", "select", true),
        "hubspot_owner_id" => ("Ticket owner", "enumeration", "select", true),
        "createdate" | "hs_lastmodifieddate" => ("Date", "datetime", "date", false),
        "hs_object_id" => ("Record ID", "number", "number", false),
        _ => return None,
    };
    // Pipelines, stages and owners keep their values elsewhere: no inline options.
    let options: Vec<Value> = options_of(st, name)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({ "label": title_case(v), "value": v, "displayOrder": i, "hidden": false })
        })
        .collect();
    let read_only = READ_ONLY.contains(&name);
    Some(json!({
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field,
        "groupName": "ticketinformation",
        "description": "",
        "options": options,
        "displayOrder": -1,
        "calculated": false,
        "externalOptions": external,
        "hasUniqueValue": false,
        "hidden": false,
        "hubspotDefined": true,
        "formField": !read_only,
        "modificationMetadata": { "archivable": false, "readOnlyDefinition": true, "readOnlyValue": read_only },
        "createdAt": "2019-07-06T21:18:14.342Z",
        "updatedAt": "2019-07-06T21:18:14.342Z",
        "archived": false,
    }))
}

/// `GET /crm/v3/properties/{objectType}/{propertyName}` for tickets.
pub(super) async fn get_property(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::TICKET_SCHEMA)?;
    let object = path_param(&req, "objectType");
    let name = path_param(&req, "propertyName");
    if normalise_type(&object) != Some(ObjectType::Ticket) {
        return Err(ApiError::not_found(format!(
            "Unable to find object type {object}"
        )));
    }
    let st = sh.state.lock();
    let def = property_definition(&st, &name).ok_or_else(|| {
        ApiError::not_found(format!("Property {name} does not exist"))
            .with("subCategory", json!("PropertyError.PROPERTY_NOT_FOUND"))
    })?;
    Ok(json_response(200, &def))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectType {
    Contact,
    Ticket,
}

/// Every spelling of the two object types: singular, plural, type id.
fn normalise_type(s: &str) -> Option<ObjectType> {
    match s.to_ascii_lowercase().as_str() {
        "contact" | "contacts" | "0-1" => Some(ObjectType::Contact),
        "ticket" | "tickets" | "0-5" => Some(ObjectType::Ticket),
        _ => None,
    }
}

/// Associates after checking both records exist; idempotent.
fn associate(st: &mut State, contact_id: &str, ticket_id: &str) -> Result<(), ApiError> {
    settle(st);
    if st.contact(contact_id).is_none() {
        return Err(ApiError::not_found(format!(
            "No contact with ID {contact_id} exists"
        )));
    }
    let t = st
        .ticket_mut(ticket_id)
        .ok_or_else(|| ApiError::not_found(format!("No ticket with ID {ticket_id} exists")))?;
    if !t.contact_ids.iter().any(|c| c == contact_id) {
        t.contact_ids.push(contact_id.to_string());
    }
    Ok(())
}

fn bad_association_type(given: &str) -> ApiError {
    ApiError::validation(format!(
        "{given} is not a valid association type between these object types"
    ))
}

/// A v3 association PUT: the target must be `to`, the type its default
/// label or id; associates and returns `(from id, to id)`.
fn associate_v3(
    st: &mut State,
    req: &HttpRequest,
    from_param: &str,
    to: ObjectType,
    (label, type_id): (&str, u32),
) -> Result<(String, String), ApiError> {
    let from_id = path_param(req, from_param);
    let to_id = path_param(req, "toObjectId");
    let kind = path_param(req, "associationType");
    if normalise_type(&path_param(req, "toObjectType")) != Some(to)
        || !(kind.eq_ignore_ascii_case(label) || kind == type_id.to_string())
    {
        return Err(bad_association_type(&kind));
    }
    let (contact_id, ticket_id) = match to {
        ObjectType::Ticket => (&from_id, &to_id),
        ObjectType::Contact => (&to_id, &from_id),
    };
    associate(st, contact_id, ticket_id)?;
    Ok((from_id, to_id))
}

/// `PUT /crm/v3/objects/contacts/{contactId}/associations/{toObjectType}/{toObjectId}/{associationType}`
/// with `tickets` and `contact_to_ticket` (or `15`); answers the contact with
/// its ticket associations.
pub(super) async fn associate_from_contact(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONTACTS_WRITE)?;
    let mut st = sh.state.lock();
    let to = ObjectType::Ticket;
    let (contact_id, _) = associate_v3(
        &mut st,
        &req,
        "contactId",
        to,
        ("contact_to_ticket", CONTACT_TO_TICKET),
    )?;
    let mut v = contact_json(st.contact(&contact_id).unwrap(), None);
    let results: Vec<Value> = st
        .tickets
        .iter()
        .filter(|t| t.contact_ids.contains(&contact_id))
        .map(|t| json!({ "id": t.id, "type": "contact_to_ticket" }))
        .collect();
    v["associations"] = json!({ "tickets": { "results": results } });
    Ok(json_response(200, &v))
}

/// `PUT /crm/v3/objects/tickets/{ticketId}/associations/{toObjectType}/{toObjectId}/{associationTypeId}`
/// with `contacts` and `16` (or `ticket_to_contact`); answers the ticket.
pub(super) async fn associate_from_ticket(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::TICKETS)?;
    let mut st = sh.state.lock();
    let to = ObjectType::Contact;
    let (ticket_id, _) = associate_v3(
        &mut st,
        &req,
        "ticketId",
        to,
        ("ticket_to_contact", TICKET_TO_CONTACT),
    )?;
    let t = st.ticket(&ticket_id).unwrap();
    Ok(json_response(200, &ticket_json(t, None, true)))
}

/// The (contact, ticket) pair of a v4 path, whichever side comes first.
fn v4_pair(req: &HttpRequest) -> Result<(String, String, bool), ApiError> {
    let from = normalise_type(&path_param(req, "fromObjectType"));
    let to = normalise_type(&path_param(req, "toObjectType"));
    let (from_id, to_id) = (
        path_param(req, "fromObjectId"),
        path_param(req, "toObjectId"),
    );
    match (from, to) {
        (Some(ObjectType::Contact), Some(ObjectType::Ticket)) => Ok((from_id, to_id, true)),
        (Some(ObjectType::Ticket), Some(ObjectType::Contact)) => Ok((to_id, from_id, false)),
        _ => Err(ApiError::validation(
            "This fake only associates contacts with tickets",
        )),
    }
}

fn spec(type_id: u32) -> Value {
    json!({ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id })
}

/// `PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}`:
/// both directions' default association, in the v4 batch shape.
pub(super) async fn associate_v4_default(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::ASSOCIATIONS)?;
    let (contact_id, ticket_id, contact_first) = v4_pair(&req)?;
    let started = now_iso();
    associate(&mut sh.state.lock(), &contact_id, &ticket_id)?;
    let c2t = json!({ "from": { "id": contact_id }, "to": { "id": ticket_id },
                      "associationSpec": spec(CONTACT_TO_TICKET) });
    let t2c = json!({ "from": { "id": ticket_id }, "to": { "id": contact_id },
                      "associationSpec": spec(TICKET_TO_CONTACT) });
    let results = if contact_first {
        vec![c2t, t2c]
    } else {
        vec![t2c, c2t]
    };
    Ok(json_response(
        200,
        &json!({ "status": "COMPLETE", "results": results, "startedAt": started, "completedAt": now_iso() }),
    ))
}

/// `PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}/{toObjectId}`
/// with `[{associationCategory: HUBSPOT_DEFINED, associationTypeId: 15|16}]`.
pub(super) async fn associate_v4_labelled(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::ASSOCIATIONS)?;
    let (contact_id, ticket_id, contact_first) = v4_pair(&req)?;
    let specs = match parse_json(&body)? {
        Value::Array(a) if !a.is_empty() => a,
        _ => {
            return Err(ApiError::validation(
                "Expected a non-empty array of association types",
            ));
        }
    };
    let wanted = if contact_first {
        CONTACT_TO_TICKET
    } else {
        TICKET_TO_CONTACT
    };
    for s in &specs {
        let category_ok = s["associationCategory"] == "HUBSPOT_DEFINED";
        let id = s["associationTypeId"]
            .as_u64()
            .or_else(|| s["associationTypeId"].as_str().and_then(|v| v.parse().ok()));
        if !category_ok || id != Some(u64::from(wanted)) {
            return Err(bad_association_type(&s.to_string()));
        }
    }
    associate(&mut sh.state.lock(), &contact_id, &ticket_id)?;
    let (from_type, from_id, to_type, to_id) = if contact_first {
        ("0-1", contact_id.as_str(), "0-5", ticket_id.as_str())
    } else {
        ("0-5", ticket_id.as_str(), "0-1", contact_id.as_str())
    };
    let number = |s: &str| s.parse::<u64>().map(Value::from).unwrap_or(json!(s));
    Ok(json_response(
        200,
        &json!({ "fromObjectTypeId": from_type, "fromObjectId": number(from_id),
                 "toObjectTypeId": to_type, "toObjectId": number(to_id), "labels": [] }),
    ))
}
