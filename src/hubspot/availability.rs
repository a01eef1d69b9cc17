//! Agent availability from HubSpot's Users API: a user counts when their status is
//! `available`, it is within their working hours (in their time zone) when they have any,
//! and they are not out of office. Answers are cached for 30 s, so a bot asking before
//! every escalation costs at most one call per 30 s.
//!
//! HubSpot's Users API does not say which users work which inbox, so agents are counted
//! for the whole portal (the README says so).

use super::client::HubSpot;
use super::crm::{CrmUser, missing_scope};
use crate::relay::availability::{AgentAvailability, Availability};
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use parking_lot::Mutex;
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CACHE_FOR: Duration = Duration::from_secs(30);

pub(crate) struct UsersAvailability {
    hubspot: Arc<HubSpot>,
    cached: Mutex<Option<(Instant, Availability)>>,
    /// Only one call at a time: concurrent askers wait for it and share its answer.
    asking: tokio::sync::Mutex<()>,
}

impl UsersAvailability {
    pub(crate) fn new(hubspot: Arc<HubSpot>) -> Self {
        UsersAvailability {
            hubspot,
            cached: Mutex::new(None),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Availability> {
        match &*self.cached.lock() {
            Some((at, answer)) if at.elapsed() < CACHE_FOR => Some(answer.clone()),
            _ => None,
        }
    }

    async fn ask(&self) -> Availability {
        if let Some(answer) = self.fresh() {
            return answer;
        }
        let _one = self.asking.lock().await;
        if let Some(answer) = self.fresh() {
            return answer;
        }
        let answer = match self.hubspot.list_users().await {
            Ok(users) => of_users(&users, Utc::now()),
            Err(e) if missing_scope(&e) => Availability::unknown(
                "the HubSpot connection lacks the crm.objects.users.read scope; connect HubSpot again to grant it",
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read agent availability");
                // Not cached: the next ask tries again.
                return Availability::unknown(format!("HubSpot cannot be asked now: {e}"));
            }
        };
        *self.cached.lock() = Some((Instant::now(), answer.clone()));
        answer
    }
}

impl AgentAvailability for UsersAvailability {
    fn check(&self) -> Pin<Box<dyn Future<Output = Availability> + Send + '_>> {
        Box::pin(self.ask())
    }
}

/// The availability of these users at `now`.
pub(crate) fn of_users(users: &[CrmUser], now: DateTime<Utc>) -> Availability {
    let agents = users.iter().filter(|u| is_available(u, now)).count();
    Availability {
        available: Some(agents > 0),
        agents_available: Some(agents),
        reason: (agents == 0).then(|| {
            if users.is_empty() {
                "the portal has no users".to_string()
            } else {
                "no agent is available now".to_string()
            }
        }),
    }
}

fn is_available(user: &CrmUser, now: DateTime<Utc>) -> bool {
    user.status.as_deref() == Some("available")
        && !out_of_office(user.out_of_office.as_deref(), now)
        && within_working_hours(user, now)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hours {
    days: String,
    start_minute: u32,
    end_minute: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Absence {
    start_timestamp: i64,
    end_timestamp: i64,
}

/// Working hours, read in the user's time zone (UTC when it is missing or unknown). No
/// working hours, or hours that cannot be read, do not make anyone unavailable: the
/// status the user set is what counts then.
fn within_working_hours(user: &CrmUser, now: DateTime<Utc>) -> bool {
    let Some(raw) = user.working_hours.as_deref() else {
        return true;
    };
    let Ok(hours) = serde_json::from_str::<Vec<Hours>>(raw) else {
        return true;
    };
    if hours.is_empty() {
        return true;
    }
    let tz: chrono_tz::Tz = user
        .time_zone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let local = now.with_timezone(&tz);
    let minute = local.hour() * 60 + local.minute();
    hours.iter().any(|h| {
        on_day(&h.days, local.weekday()) && (h.start_minute..h.end_minute).contains(&minute)
    })
}

/// `MONDAY`, `MONDAY_TO_FRIDAY`, `SATURDAY_SUNDAY`, `EVERY_DAY`, … (the list is not
/// documented; these are the forms seen).
fn on_day(days: &str, day: Weekday) -> bool {
    let weekend = matches!(day, Weekday::Sat | Weekday::Sun);
    match days.to_uppercase().as_str() {
        "EVERY_DAY" | "EVERYDAY" | "ALL_DAYS" => true,
        "MONDAY_TO_FRIDAY" | "WEEKDAYS" => !weekend,
        "SATURDAY_SUNDAY" | "WEEKENDS" | "WEEKEND" => weekend,
        name => name == day_name(day),
    }
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MONDAY",
        Weekday::Tue => "TUESDAY",
        Weekday::Wed => "WEDNESDAY",
        Weekday::Thu => "THURSDAY",
        Weekday::Fri => "FRIDAY",
        Weekday::Sat => "SATURDAY",
        Weekday::Sun => "SUNDAY",
    }
}

fn out_of_office(raw: Option<&str>, now: DateTime<Utc>) -> bool {
    let Some(list) = raw.and_then(|r| serde_json::from_str::<Vec<Absence>>(r).ok()) else {
        return false;
    };
    let now = now.timestamp_millis();
    list.iter()
        .any(|a| (a.start_timestamp..a.end_timestamp).contains(&now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn user(status: &str, hours: Option<&str>, tz: Option<&str>) -> CrmUser {
        CrmUser {
            actor_id: Some("A-1".into()),
            status: Some(status.into()),
            working_hours: hours.map(str::to_string),
            time_zone: tz.map(str::to_string),
            out_of_office: None,
        }
    }

    const NINE_TO_FIVE: &str =
        r#"[{"days":"MONDAY_TO_FRIDAY","startMinute":540,"endMinute":1020}]"#;

    #[test]
    fn status_working_hours_and_time_zone_decide() {
        // Wednesday 2026-12-02 15:00 UTC = 10:00 in New York, 00:00 (Thursday) in Tokyo.
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        assert!(is_available(&user("available", None, None), now));
        assert!(!is_available(&user("away", None, None), now));
        assert!(is_available(
            &user("available", Some(NINE_TO_FIVE), Some("America/New_York")),
            now
        ));
        assert!(!is_available(
            &user("available", Some(NINE_TO_FIVE), Some("Asia/Tokyo")),
            now
        ));
        // Saturday, inside the hours of the day but not a weekday.
        let saturday = Utc.with_ymd_and_hms(2026, 12, 5, 15, 0, 0).unwrap();
        assert!(!is_available(
            &user("available", Some(NINE_TO_FIVE), Some("America/New_York")),
            saturday
        ));
        // Unreadable hours leave the status to decide.
        assert!(is_available(&user("available", Some("nope"), None), now));
    }

    #[test]
    fn out_of_office_makes_an_available_user_unavailable() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        let ms = now.timestamp_millis();
        let mut away = user("available", None, None);
        away.out_of_office = Some(format!(
            r#"[{{"startTimestamp":{},"endTimestamp":{}}}]"#,
            ms - 1000,
            ms + 1000
        ));
        assert!(!is_available(&away, now));
        assert!(!out_of_office(
            away.out_of_office.as_deref(),
            now + chrono::TimeDelta::seconds(2)
        ));
    }

    #[test]
    fn the_answer_counts_available_agents() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
        let users = [user("available", None, None), user("away", None, None)];
        let answer = of_users(&users, now);
        assert_eq!(answer.available, Some(true));
        assert_eq!(answer.agents_available, Some(1));
        assert!(answer.reason.is_none());
        let none = of_users(&users[1..], now);
        assert_eq!(none.available, Some(false));
        assert!(none.reason.is_some());
    }
}
