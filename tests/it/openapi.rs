//! The OpenAPI document served at `/api/v1/openapi.json` matches the real routes: every
//! route in it answers, and every route handoff registers is in it.

use crate::support::fake_hubspot::FakeConfig;
use crate::support::harness::{API_KEY, connected};
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_routes_agree() {
    let (_fake, _dir, h) = connected(FakeConfig::default()).await;
    let response = reqwest::get(format!("{}/api/v1/openapi.json", h.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without a key");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            // `{sessionId}` in the document is `{id}` in the route table.
            let route = path.replace("{sessionId}", "{id}");
            documented.insert((method.to_uppercase(), route));
        }
    }
    let registered: BTreeSet<_> = handoff::bot::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, registered,
        "the document and the route table differ"
    );

    // Every documented route answers a well-formed request with a 2xx.
    let session = h.open_session("ada@example.com", json!([])).await;
    for (method, route) in &documented {
        let path = format!("/api/v1{}", route.replace("{id}", &session));
        let body = match route.as_str() {
            "/users" => Some(json!({"email": "bo@example.com"})),
            "/sessions" => Some(json!({"user": {"email": "cy@example.com"}})),
            "/sessions/{id}/messages" => Some(json!({"type": "text", "payload": {"text": "hi"}})),
            "/sessions/{id}/stop" => Some(json!({"reason": "done"})),
            "/webhook" if method == "PUT" => Some(json!({"url": "https://bot.example.com/events"})),
            _ => None,
        };
        let mut request = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", h.url))
            .bearer_auth(API_KEY);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let status = request.send().await.unwrap().status();
        assert!(status.is_success(), "{method} {path}: {status}");
    }
    // A route that is not in the document is not served.
    let (status, body) = h.get("/api/v1/sessions/x/nothing").await;
    assert_eq!(status, 404, "{body}");
}

/// Every URL field of the document states the pattern the server checks URLs with.
#[test]
fn url_fields_state_the_servers_pattern() {
    let doc: Value = serde_json::from_str(include_str!("../../src/bot/openapi.json")).unwrap();
    let mut found = 0;
    fn walk(v: &Value, found: &mut usize) {
        match v {
            Value::Object(map) => {
                match map.get("description").and_then(Value::as_str) {
                    Some("an http(s) URL") => {
                        assert_eq!(map["pattern"], handoff::bot::validate::HTTP_URL_PATTERN);
                        *found += 1;
                    }
                    Some("an http(s) media URL") => {
                        assert_eq!(map["pattern"], handoff::bot::validate::MEDIA_URL_PATTERN);
                        *found += 1;
                    }
                    _ => {}
                }
                map.values().for_each(|x| walk(x, found));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, found)),
            _ => {}
        }
    }
    walk(&doc, &mut found);
    assert_eq!(
        found, 6,
        "imageUrl, fileUrl, audioUrl, videoUrl, pictureUrl and the webhook url"
    );
}
