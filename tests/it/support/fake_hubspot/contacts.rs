//! CRM contacts (§7): search, get, create.

use std::time::Instant;

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, PropertyProblem, property_problem};
use super::guard::{Auth, check_scoped, scopes};
use super::identifiers::is_email;
use super::state::{ContactRec, Shared, State};
use super::util::{
    as_text, crm_object, json_response, now_iso, parse_object, properties_body, record_key,
    requested_properties,
};

const DEFAULT_PROPERTIES: &[&str] = &[
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// Contact properties a create may set (HubSpot's defaults that a bridge
/// would name); others answer 400 PROPERTY_DOESNT_EXIST (§13.14) unless a
/// test added them (`add_contact_property`).
const WRITABLE_PROPERTIES: &[&str] = &[
    "address",
    "city",
    "company",
    "country",
    "date_of_birth",
    "email",
    "fax",
    "firstname",
    "hs_language",
    "hs_lead_status",
    "hs_whatsapp_phone_number",
    "hubspot_owner_id",
    "jobtitle",
    "lastname",
    "lifecyclestage",
    "message",
    "mobilephone",
    "phone",
    "salutation",
    "state",
    "website",
    "zip",
];

/// Computed by HubSpot; a create naming them answers READ_ONLY_VALUE.
const READ_ONLY_PROPERTIES: &[&str] = &[
    "createdate",
    "hs_object_id",
    "hs_searchable_calculated_mobile_number",
    "hs_searchable_calculated_phone_number",
    "lastmodifieddate",
];

/// Phone properties and the searchable twin HubSpot derives from each.
const PHONE_PROPERTIES: &[(&str, &str)] = &[
    ("phone", "hs_searchable_calculated_phone_number"),
    ("mobilephone", "hs_searchable_calculated_mobile_number"),
];

/// National significant number: HubSpot's searchable phone properties hold
/// "area code + local number only" (§7). `+` numbers go through
/// libphonenumber; anything else is reduced to its digits.
fn national_digits(phone: &str) -> Option<String> {
    if phone.trim_start().starts_with('+')
        && let Ok(n) = phonenumber::parse(None, phone)
    {
        return Some(n.national().to_string());
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// Inserts a contact, deriving the searchable phone properties.
pub(super) fn insert_contact(st: &mut State, mut props: Map<String, Value>) -> (String, Value) {
    let id = st.ids.contact();
    let now = now_iso();
    for (source, searchable) in PHONE_PROPERTIES {
        if let Some(n) = props
            .get(*source)
            .and_then(Value::as_str)
            .and_then(national_digits)
        {
            props.insert(searchable.to_string(), json!(n));
        }
    }
    props.insert("hs_object_id".into(), json!(id));
    props.insert("createdate".into(), json!(now));
    props.insert("lastmodifieddate".into(), json!(now));
    let rec = ContactRec {
        id: id.clone(),
        properties: props,
        created_at: now,
        created: Instant::now(),
    };
    let body = contact_json(&rec, None);
    st.contacts.push(rec);
    (id, body)
}

/// `{id, properties, createdAt, updatedAt, archived}`; with `only`, the listed
/// properties (unset ones as null), otherwise every property set.
pub(super) fn contact_json(c: &ContactRec, only: Option<&[String]>) -> Value {
    crm_object(
        &c.id,
        &c.properties,
        only,
        &c.created_at,
        &c.properties["lastmodifieddate"],
    )
}

/// Digit-suffix comparison so a value with or without country code (or
/// trunk prefix) matches the stored national number; a shorter value doesn't.
fn phone_suffix_eq(stored: &str, wanted: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (s, w) = (digits(stored), digits(wanted));
    let suffix = |long: &str, short: &str| long.ends_with(short) && long.len() - short.len() <= 3;
    !s.is_empty() && suffix(&w, &s)
}

fn text_eq(prop: &str, stored: &str, wanted: &str) -> bool {
    if prop.starts_with("hs_searchable_calculated_") {
        return phone_suffix_eq(stored, wanted);
    }
    stored.trim().eq_ignore_ascii_case(wanted.trim())
}

/// `*` wildcard match (whole string).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, tr)| t == c && glob(rest, tr)),
    }
}

/// CONTAINS_TOKEN: the value or any whitespace-separated token matches.
fn contains_token(stored: &str, wanted: &str) -> bool {
    let (s, w) = (stored.to_lowercase(), wanted.trim().to_lowercase());
    std::iter::once(s.as_str())
        .chain(s.split_whitespace())
        .any(|tok| glob(w.as_bytes(), tok.as_bytes()))
}

fn compare(stored: &str, wanted: &str) -> std::cmp::Ordering {
    match (stored.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ => stored.to_lowercase().cmp(&wanted.to_lowercase()),
    }
}

fn filter_matches(c: &ContactRec, f: &Value) -> Result<bool, ApiError> {
    let prop = f["propertyName"]
        .as_str()
        .ok_or_else(|| ApiError::validation("filters[].propertyName is required"))?;
    let op = f["operator"].as_str().unwrap_or("EQ");
    let stored = c.properties.get(prop).and_then(as_text);
    let value = as_text(&f["value"]).unwrap_or_default();
    let values: Vec<String> = f["values"]
        .as_array()
        .map(|a| a.iter().filter_map(as_text).collect())
        .unwrap_or_default();
    let s = stored.as_deref();
    use std::cmp::Ordering::*;
    Ok(match op {
        "EQ" => s.is_some_and(|s| text_eq(prop, s, &value)),
        "NEQ" => !s.is_some_and(|s| text_eq(prop, s, &value)),
        "IN" => s.is_some_and(|s| values.iter().any(|v| text_eq(prop, s, v))),
        "NOT_IN" => !s.is_some_and(|s| values.iter().any(|v| text_eq(prop, s, v))),
        "HAS_PROPERTY" => s.is_some(),
        "NOT_HAS_PROPERTY" => s.is_none(),
        "CONTAINS_TOKEN" => s.is_some_and(|s| contains_token(s, &value)),
        "NOT_CONTAINS_TOKEN" => !s.is_some_and(|s| contains_token(s, &value)),
        "LT" => s.is_some_and(|s| compare(s, &value) == Less),
        "LTE" => s.is_some_and(|s| compare(s, &value) != Greater),
        "GT" => s.is_some_and(|s| compare(s, &value) == Greater),
        "GTE" => s.is_some_and(|s| compare(s, &value) != Less),
        "BETWEEN" => {
            let high = as_text(&f["highValue"]).unwrap_or_default();
            s.is_some_and(|s| compare(s, &value) != Less && compare(s, &high) != Greater)
        }
        other => {
            return Err(ApiError::validation(format!(
                "Unknown filter operator {other}"
            )));
        }
    })
}

/// Groups are OR-ed, filters inside a group AND-ed; no groups = everything.
fn search_matches(c: &ContactRec, groups: &[Value]) -> Result<bool, ApiError> {
    if groups.is_empty() {
        return Ok(true);
    }
    for g in groups {
        let filters = g["filters"].as_array().cloned().unwrap_or_default();
        let mut all = true;
        for f in &filters {
            all &= filter_matches(c, f)?;
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `POST /crm/v3/objects/contacts/search` — limits as documented (§7).
pub(super) async fn search(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Search, scopes::CONTACTS_READ)?;
    let b = parse_object(&body)?;
    let groups = b
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let filter_count: usize = groups
        .iter()
        .map(|g| g["filters"].as_array().map_or(0, Vec::len))
        .sum();
    if groups.len() > 5
        || groups
            .iter()
            .any(|g| g["filters"].as_array().map_or(0, Vec::len) > 6)
        || filter_count > 18
    {
        return Err(ApiError::validation(
            "Too many filters: at most 5 filterGroups of 6 filters, 18 in total",
        ));
    }
    let limit = b.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
    if limit > 200 {
        return Err(ApiError::validation("limit must be at most 200"));
    }
    let after = b
        .get("after")
        .and_then(as_text)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0);
    let props: Vec<String> = match b.get("properties").and_then(Value::as_array) {
        Some(p) if !p.is_empty() => p.iter().filter_map(as_text).collect(),
        _ => DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect(),
    };
    let text_query = b
        .get("query")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let st = sh.state.lock();
    let delay = st.cfg.contact_search_delay;
    let mut hits = Vec::new();
    // Search is eventually consistent: new contacts show up after `delay`.
    for c in st.contacts.iter().filter(|c| c.created.elapsed() >= delay) {
        let text_ok = text_query.as_ref().is_none_or(|q| {
            c.properties
                .values()
                .filter_map(as_text)
                .any(|v| v.to_lowercase().contains(q))
        });
        if text_ok && search_matches(c, &groups)? {
            hits.push(contact_json(c, Some(&props)));
        }
    }
    let total = hits.len();
    let end = (after + limit).min(total);
    let results = hits[after.min(total)..end].to_vec();
    let mut out = json!({ "total": total, "results": results });
    if end < total {
        out["paging"] = json!({ "next": { "after": end.to_string() } });
    }
    Ok(json_response(200, &out))
}

/// `GET /crm/v3/objects/contacts/{id}[?idProperty=email&properties=…]`.
pub(super) async fn get_contact(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONTACTS_READ)?;
    let (key, id_prop) = record_key(&req, "contactId");
    let id_prop = id_prop.as_str();
    let props = requested_properties(&req, DEFAULT_PROPERTIES);
    let st = sh.state.lock();
    let c = st
        .contacts
        .iter()
        .find(|c| {
            c.properties
                .get(id_prop)
                .and_then(as_text)
                .is_some_and(|v| text_eq(id_prop, &v, &key))
        })
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    Ok(json_response(200, &contact_json(c, Some(&props))))
}

/// `POST /crm/v3/objects/contacts` → 201, or 409 with the existing id (§7).
pub(super) async fn create_contact(
    req: HttpRequest,
    body: Bytes,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::CONTACTS_WRITE)?;
    let props = properties_body(&body)?;
    if !["email", "firstname", "lastname"].iter().any(|k| {
        props
            .get(*k)
            .and_then(as_text)
            .is_some_and(|v| !v.is_empty())
    }) {
        return Err(ApiError::validation(
            "At least one of email, firstname, lastname is required",
        ));
    }
    let mut st = sh.state.lock();
    let problems: Vec<PropertyProblem> = props
        .keys()
        .filter_map(|k| {
            let writable = WRITABLE_PROPERTIES.contains(&k.as_str())
                || st.extra_contact_properties.contains(k);
            property_problem(k, READ_ONLY_PROPERTIES, writable)
        })
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::invalid_properties(&problems));
    }
    let email = props.get("email").and_then(as_text);
    if let Some(e) = email.as_deref().filter(|e| !is_email(e)) {
        return Err(ApiError::validation("Property values were not valid").with(
            "errors",
            json!([{ "message": format!("Email address {e} is invalid"), "code": "INVALID_EMAIL",
                     "context": { "propertyName": ["email"] } }]),
        ));
    }
    if let Some(e) = &email {
        let existing = st.contacts.iter().find(|c| {
            c.properties
                .get("email")
                .and_then(as_text)
                .is_some_and(|v| v.eq_ignore_ascii_case(e))
        });
        if let Some(c) = existing {
            return Err(ApiError::conflict(format!(
                "Contact already exists. Existing ID: {}",
                c.id
            )));
        }
    }
    let (_, json) = insert_contact(&mut st, props);
    Ok(json_response(201, &json))
}
