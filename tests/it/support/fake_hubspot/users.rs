//! Users API (§13.12): the portal's users with their Help Desk availability.
//!
//! The Users API `id`/`hs_object_id` is local to the account; the HubSpot
//! user id (the one in `A-…` actor ids) is `hs_internal_user_id`. The seeded
//! users are the seeded agents of `conversations::seed_actors`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::guard::{Auth, check_scoped, scopes};
use super::state::{Shared, State, UserRec};
use super::util::{
    crm_object, json_response, now_iso, paginate, query, record_key, requested_properties,
};

const DEFAULT_PROPERTIES: &[&str] = &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"];

/// How available a user is for Help Desk routing (§13.10, §13.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAvailability {
    /// `hs_availability_status`: `"available"` or `"away"`.
    pub status: String,
    /// `hs_standard_time_zone`, a TZ id (set before working hours).
    pub time_zone: Option<String>,
    /// `hs_working_hours`, stored stringified, e.g.
    /// `[{"days":"MONDAY_TO_FRIDAY","startMinute":540,"endMinute":1020}]`.
    pub working_hours: Option<Value>,
    /// `hs_out_of_office_hours`, stored stringified: `[{startTimestamp,endTimestamp}]`.
    pub out_of_office: Option<Value>,
}

impl UserAvailability {
    pub fn available() -> Self {
        UserAvailability {
            status: "available".into(),
            time_zone: None,
            working_hours: None,
            out_of_office: None,
        }
    }

    pub fn away() -> Self {
        UserAvailability {
            status: "away".into(),
            ..Self::available()
        }
    }

    /// Working hours in a time zone.
    pub fn working_hours(mut self, time_zone: &str, hours: Value) -> Self {
        self.time_zone = Some(time_zone.into());
        self.working_hours = Some(hours);
        self
    }

    pub fn out_of_office(mut self, periods: Value) -> Self {
        self.out_of_office = Some(periods);
        self
    }

    /// Writes the four properties (absent ones are removed).
    pub(super) fn apply(&self, props: &mut Map<String, Value>) {
        props.insert("hs_availability_status".into(), json!(self.status));
        let stringified = |v: &Option<Value>| {
            v.as_ref().map(|v| match v {
                Value::String(s) => json!(s),
                other => json!(other.to_string()),
            })
        };
        for (k, v) in [
            (
                "hs_standard_time_zone",
                self.time_zone.as_ref().map(|t| json!(t)),
            ),
            ("hs_working_hours", stringified(&self.working_hours)),
            ("hs_out_of_office_hours", stringified(&self.out_of_office)),
        ] {
            match v {
                Some(v) => props.insert(k.into(), v),
                None => props.remove(k),
            };
        }
    }
}

/// Adds a user; returns its Users API id.
pub(super) fn insert_user(
    st: &mut State,
    internal_user_id: u64,
    email: &str,
    name: &str,
    availability: &UserAvailability,
) -> String {
    let id = st.ids.user();
    let now = now_iso();
    let (given, family) = name.split_once(' ').unwrap_or((name, ""));
    let mut properties = Map::new();
    for (k, v) in [
        ("hs_object_id", json!(id)),
        ("hs_internal_user_id", json!(internal_user_id.to_string())),
        ("hs_email", json!(email)),
        ("hs_given_name", json!(given)),
        ("hs_family_name", json!(family)),
        ("hs_createdate", json!(now)),
        ("hs_lastmodifieddate", json!(now)),
    ] {
        properties.insert(k.into(), v);
    }
    availability.apply(&mut properties);
    st.users.push(UserRec {
        id: id.clone(),
        properties,
        created_at: now,
    });
    id
}

/// The seeded agents as users: available, New York working hours for Sam.
pub(super) fn seed_users(st: &mut State) {
    let hours = json!([{ "days": "MONDAY_TO_FRIDAY", "startMinute": 540, "endMinute": 1020 }]);
    let sam = UserAvailability::available().working_hours("America/New_York", hours);
    insert_user(st, 2_620_022, "sam@example.com", "Sam Agent", &sam);
    let alex = UserAvailability::available();
    insert_user(st, 7, "alex@example.com", "Alex Helper", &alex);
}

fn user_json(u: &UserRec, only: &[String]) -> Value {
    crm_object(
        &u.id,
        &u.properties,
        Some(only),
        &u.created_at,
        &u.properties["hs_lastmodifieddate"],
    )
}

/// `GET /crm/v3/objects/users?properties=…&limit=&after=` (max 100 a page).
pub(super) async fn list_users(
    req: HttpRequest,
    sh: Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::USERS_READ)?;
    let props = requested_properties(&req, DEFAULT_PROPERTIES);
    let mut q = query(&req);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    q.insert("limit".into(), limit.to_string());
    let items: Vec<Value> = sh
        .state
        .lock()
        .users
        .iter()
        .map(|u| user_json(u, &props))
        .collect();
    let link = format!("{}{}", sh.base_url, req.path());
    let (results, paging) = paginate(items, &q, limit, &link);
    let mut body = json!({ "results": results });
    if let Some(p) = paging {
        body["paging"] = p;
    }
    Ok(json_response(200, &body))
}

/// `GET /crm/v3/objects/users/{userId}[?idProperty=hs_internal_user_id]`.
pub(super) async fn get_user(req: HttpRequest, sh: Data<Shared>) -> Result<HttpResponse, ApiError> {
    check_scoped(&sh, &req, Auth::Bearer, scopes::USERS_READ)?;
    let (key, id_prop) = record_key(&req, "userId");
    let props = requested_properties(&req, DEFAULT_PROPERTIES);
    let st = sh.state.lock();
    let u = st
        .users
        .iter()
        .find(|u| u.properties.get(&id_prop).and_then(Value::as_str) == Some(key.as_str()))
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    Ok(json_response(200, &user_json(u, &props)))
}
