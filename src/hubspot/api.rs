//! The HubSpot endpoints handoff uses, with lenient models: ids arrive as strings or
//! numbers, optional fields may be missing, unknown fields are ignored.

use super::client::{Auth, HubSpot};
use super::error::HubSpotError;
use reqwest::Method;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

pub(crate) const CHANNELS: &str = "/conversations/v3/custom-channels";

/// How long the signed file URLs handoff asks for are valid.
pub(crate) const SIGNED_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(86_400);

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::secret::lenient_string(d)
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Value>::deserialize(d).map(|v| match v {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Channel {
    #[serde(deserialize_with = "id")]
    pub(crate) id: String,
    pub(crate) webhook_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelAccount {
    #[serde(deserialize_with = "id")]
    pub(crate) id: String,
    #[serde(deserialize_with = "id")]
    pub(crate) inbox_id: String,
    #[serde(default)]
    pub(crate) archived: bool,
    #[serde(default = "yes")]
    pub(crate) authorized: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublishedMessage {
    #[serde(default, deserialize_with = "opt_id")]
    pub(crate) conversations_thread_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Inbox {
    #[serde(deserialize_with = "id")]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) archived: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subscription {
    #[serde(deserialize_with = "id")]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) event_type: String,
    pub(crate) property_name: Option<String>,
    #[serde(default)]
    pub(crate) active: bool,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Deserialize)]
struct NextPage {
    #[serde(deserialize_with = "id")]
    after: String,
}

/// How many pages of a list handoff reads before it stops (a safety bound, 100 per page).
const MAX_PAGES: usize = 50;

impl HubSpot {
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        auth: Auth,
    ) -> Result<Vec<T>, HubSpotError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", "100")];
            if let Some(a) = after.as_deref() {
                query.push(("after", a));
            }
            let page: Page<T> = self.call(Method::GET, path, &query, None, auth).await?;
            all.extend(page.results);
            match page.paging.and_then(|p| p.next) {
                Some(next) => after = Some(next.after),
                None => break,
            }
        }
        Ok(all)
    }

    pub(crate) async fn list_channels(&self) -> Result<Vec<Channel>, HubSpotError> {
        self.list_all(CHANNELS, Auth::Developer).await
    }

    /// `None` when HubSpot does not know the channel (404).
    pub(crate) async fn get_channel(
        &self,
        channel_id: &str,
    ) -> Result<Option<Channel>, HubSpotError> {
        let path = format!("{CHANNELS}/{channel_id}");
        match self
            .call(Method::GET, &path, &[], None, Auth::Developer)
            .await
        {
            Ok(channel) => Ok(Some(channel)),
            Err(HubSpotError::Permanent { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn create_channel(&self, body: &Value) -> Result<Channel, HubSpotError> {
        self.call(Method::POST, CHANNELS, &[], Some(body), Auth::Developer)
            .await
    }

    pub(crate) async fn update_channel_webhook(
        &self,
        channel_id: &str,
        webhook_url: &str,
    ) -> Result<Channel, HubSpotError> {
        let path = format!("{CHANNELS}/{channel_id}");
        let body = json!({ "webhookUrl": webhook_url });
        self.call(Method::PATCH, &path, &[], Some(&body), Auth::Developer)
            .await
    }

    pub(crate) async fn list_channel_accounts(
        &self,
        channel_id: &str,
    ) -> Result<Vec<ChannelAccount>, HubSpotError> {
        self.list_all(
            &format!("{CHANNELS}/{channel_id}/channel-accounts"),
            Auth::Bearer,
        )
        .await
    }

    pub(crate) async fn create_channel_account(
        &self,
        channel_id: &str,
        body: &Value,
    ) -> Result<ChannelAccount, HubSpotError> {
        let path = format!("{CHANNELS}/{channel_id}/channel-accounts");
        self.call(Method::POST, &path, &[], Some(body), Auth::Bearer)
            .await
    }

    pub(crate) async fn publish(
        &self,
        channel_id: &str,
        message: &Value,
    ) -> Result<PublishedMessage, HubSpotError> {
        let path = format!("{CHANNELS}/{channel_id}/messages");
        self.call(Method::POST, &path, &[], Some(message), Auth::Bearer)
            .await
    }

    pub(crate) async fn set_thread_status(
        &self,
        thread_id: &str,
        status: &str,
    ) -> Result<(), HubSpotError> {
        let path = format!("/conversations/v3/conversations/threads/{thread_id}");
        let body = json!({ "status": status });
        self.call::<Value>(Method::PATCH, &path, &[], Some(&body), Auth::Bearer)
            .await
            .map(|_| ())
    }

    /// Uploads a private file into `folder` (created if missing); returns its id.
    pub(crate) async fn upload_file(
        &self,
        bytes: bytes::Bytes,
        name: &str,
        mime: &str,
        folder: &str,
    ) -> Result<String, HubSpotError> {
        #[derive(Deserialize)]
        struct Uploaded {
            #[serde(deserialize_with = "id")]
            id: String,
        }
        let upload = super::client::Upload {
            bytes,
            name: name.to_string(),
            mime: mime.to_string(),
            fields: vec![
                ("folderPath", folder.to_string()),
                ("fileName", name.to_string()),
                (
                    "options",
                    json!({"access": "PRIVATE", "ttl": "P1Y"}).to_string(),
                ),
            ],
        };
        let uploaded: Uploaded = self.call_upload("/files/v3/files", &upload).await?;
        Ok(uploaded.id)
    }

    pub(crate) async fn list_inboxes(&self) -> Result<Vec<Inbox>, HubSpotError> {
        self.list_all("/conversations/v3/conversations/inboxes", Auth::Bearer)
            .await
    }

    /// The first CRM contact matching any of the filters, each `(property, value)` with `EQ`.
    pub(crate) async fn search_contact(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Option<String>, HubSpotError> {
        #[derive(Deserialize)]
        struct Hit {
            #[serde(deserialize_with = "id")]
            id: String,
        }
        if filters.is_empty() {
            return Ok(None);
        }
        let groups: Vec<Value> = filters
            .iter()
            .map(|(property, value)| json!({"filters": [{"propertyName": property, "operator": "EQ", "value": value}]}))
            .collect();
        let body = json!({ "filterGroups": groups, "properties": ["email", "phone"], "limit": 1 });
        let page: Page<Hit> = self
            .call(
                Method::POST,
                "/crm/v3/objects/contacts/search",
                &[],
                Some(&body),
                Auth::Bearer,
            )
            .await?;
        Ok(page.results.into_iter().next().map(|h| h.id))
    }

    fn webhooks_path(&self, tail: &str) -> Result<String, HubSpotError> {
        let dev = self.developer().ok_or(HubSpotError::NotConnected)?;
        Ok(format!("/webhooks/v3/{}/{tail}", dev.app_id))
    }

    pub(crate) async fn put_webhook_target(&self, target_url: &str) -> Result<(), HubSpotError> {
        let path = self.webhooks_path("settings")?;
        let body = json!({ "targetUrl": target_url, "throttling": { "maxConcurrentRequests": 10, "period": "SECONDLY" } });
        self.call::<Value>(Method::PUT, &path, &[], Some(&body), Auth::Developer)
            .await
            .map(|_| ())
    }

    pub(crate) async fn list_subscriptions(&self) -> Result<Vec<Subscription>, HubSpotError> {
        let path = self.webhooks_path("subscriptions")?;
        let value: Value = self
            .call(Method::GET, &path, &[], None, Auth::Developer)
            .await?;
        // The answer is `{results: [...]}`; accept a bare array too.
        let list = value.get("results").cloned().unwrap_or(value);
        serde_json::from_value(list)
            .map_err(|e| HubSpotError::Unexpected(format!("subscriptions: {e}")))
    }

    pub(crate) async fn create_subscription(
        &self,
        event_type: &str,
        property: Option<&str>,
    ) -> Result<(), HubSpotError> {
        let path = self.webhooks_path("subscriptions")?;
        let mut body = json!({ "eventType": event_type, "active": true });
        if let Some(p) = property {
            body["propertyName"] = json!(p);
        }
        self.call::<Value>(Method::POST, &path, &[], Some(&body), Auth::Developer)
            .await
            .map(|_| ())
    }

    pub(crate) async fn activate_subscription(&self, id: &str) -> Result<(), HubSpotError> {
        let path = self.webhooks_path(&format!("subscriptions/{id}"))?;
        let body = json!({ "active": true });
        self.call::<Value>(Method::PATCH, &path, &[], Some(&body), Auth::Developer)
            .await
            .map(|_| ())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Actor {
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) avatar: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SignedFile {
    pub(crate) url: String,
    /// When `url` stops working (HubSpot may grant less than was asked for).
    #[serde(default, rename = "expiresAt")]
    pub(crate) expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) name: Option<String>,
    pub(crate) extension: Option<String>,
    pub(crate) size: Option<u64>,
}

impl SignedFile {
    pub(crate) fn file_name(&self) -> Option<String> {
        match (&self.name, &self.extension) {
            (Some(n), Some(e)) if !n.ends_with(&format!(".{e}")) => Some(format!("{n}.{e}")),
            (Some(n), _) => Some(n.clone()),
            _ => None,
        }
    }

    /// A MIME type from the extension (the Files API does not give one).
    pub(crate) fn mime_type(&self) -> Option<&'static str> {
        crate::media::mime_for_extension(self.extension.as_deref()?)
    }
}

impl HubSpot {
    pub(crate) async fn get_actor(&self, actor_id: &str) -> Result<Actor, HubSpotError> {
        let path = format!("/conversations/v3/conversations/actors/{actor_id}");
        self.call(Method::GET, &path, &[], None, Auth::Bearer).await
    }

    pub(crate) async fn signed_file_url(&self, file_id: &str) -> Result<SignedFile, HubSpotError> {
        self.signed_file_url_with(file_id, super::client::Budget::Shared)
            .await
    }

    /// A signed URL valid for [`SIGNED_URL_LIFETIME`], under a chosen part of the limit.
    pub(crate) async fn signed_file_url_with(
        &self,
        file_id: &str,
        budget: super::client::Budget,
    ) -> Result<SignedFile, HubSpotError> {
        let path = format!("/files/v3/files/{file_id}/signed-url");
        let seconds = SIGNED_URL_LIFETIME.as_secs().to_string();
        self.call_with(
            Method::GET,
            &path,
            &[("expirationSeconds", seconds.as_str())],
            None,
            Auth::Bearer,
            budget,
        )
        .await
    }

    pub(crate) async fn set_message_status(
        &self,
        channel_id: &str,
        message_id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), HubSpotError> {
        let path = format!("{CHANNELS}/{channel_id}/messages/{message_id}");
        let mut body = json!({ "statusType": status });
        if let Some(e) = error {
            body["errorMessage"] = json!(e);
        }
        self.call::<Value>(Method::PATCH, &path, &[], Some(&body), Auth::Bearer)
            .await
            .map(|_| ())
    }
}
