//! Every endpoint refuses bad input with a clear 4xx JSON error and changes nothing.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{API_KEY, Handoff, config};
use serde_json::{Value, json};

struct Case {
    method: &'static str,
    path: String,
    auth: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn case(
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        auth: Some(API_KEY),
        body: body.into(),
        status,
        code,
    }
}

fn json_body(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&fake, dir.path());
    // No HubSpot: the outbox keeps everything, so the store shows every change.
    cfg.hubspot.refresh_token = None;
    let handoff = Handoff::start(cfg).await;
    let open = handoff.open_session("open@example.com", json!([])).await;
    let closed = handoff.open_session("closed@example.com", json!([])).await;
    assert_eq!(
        handoff
            .post(&format!("/api/v1/sessions/{closed}/stop"), json!({}))
            .await
            .0,
        202
    );
    let msgs = format!("/api/v1/sessions/{open}/messages");
    let too_big =
        json_body(json!({"type": "text", "payload": {"text": "x".repeat(1024 * 1024 + 10)}}));

    let mut cases = vec![
        // Authentication.
        Case {
            auth: None,
            ..case(
                "POST",
                "/api/v1/users",
                json_body(json!({"email": "a@example.com"})),
                401,
                "unauthorized",
            )
        },
        Case {
            auth: Some("wrong-key-0000000000000"),
            ..case(
                "GET",
                &format!("/api/v1/sessions/{open}"),
                "",
                401,
                "unauthorized",
            )
        },
        // Not JSON, wrong types.
        case("POST", "/api/v1/users", "{not json", 400, "bad-request"),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"email": 5})),
            400,
            "bad-request",
        ),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!([1, 2])),
            400,
            "bad-request",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"user": "jane"})),
            400,
            "bad-request",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"userId": "x", "messageHistory": {}})),
            400,
            "bad-request",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"payload": {"text": "no type"}})),
            400,
            "bad-request",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "text", "payload": {"text": 1}})),
            400,
            "bad-request",
        ),
        case(
            "POST",
            &format!("/api/v1/sessions/{open}/stop"),
            "nope",
            400,
            "bad-request",
        ),
        // What the OpenAPI document forbids is refused, not clamped or ignored.
        case("GET", "/api/v1/events?limit=0", "", 400, "bad-request"),
        case("GET", "/api/v1/events?limit=1001", "", 400, "bad-request"),
        case("GET", "/api/v1/events?wait=61", "", 400, "bad-request"),
        case("GET", "/api/v1/events?after=-1", "", 400, "bad-request"),
        case("TRACE", "/api/v1/webhook", "", 405, "method-not-allowed"),
        case("DELETE", "/api/v1/sessions", "", 405, "method-not-allowed"),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"email": "", "phone": "+14155552671"})),
            422,
            "invalid-email",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "image", "payload": {"imageUrl": "http://0*"}})),
            422,
            "invalid-url",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "text", "payload": {"text": "x"}, "messageId": "a\u{7}"})),
            422,
            "invalid-id",
        ),
        // Invalid values.
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"name": "No identity"})),
            422,
            "identity-required",
        ),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"email": "not-an-email"})),
            422,
            "invalid-email",
        ),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"phone": "0171 123456"})),
            422,
            "invalid-phone",
        ),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"phone": "+1"})),
            422,
            "invalid-phone",
        ),
        case(
            "POST",
            "/api/v1/users",
            json_body(json!({"email": "a@example.com", "pictureUrl": "javascript:alert(1)"})),
            422,
            "invalid-url",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({})),
            422,
            "user-required",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"userId": "usr_unknown"})),
            422,
            "unknown-user",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"user": {"email": "bad@"}})),
            422,
            "invalid-email",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"user": {"email": "h@example.com"}, "inboxId": "999"})),
            422,
            "unknown-inbox",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(
                json!({"user": {"email": "h@example.com"}, "messageHistory": [{"source": {"type": "agent"}, "type": "text", "payload": {"text": "x"}}]}),
            ),
            422,
            "invalid-history",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(
                json!({"user": {"email": "h@example.com"}, "messageHistory": [{"source": {"type": "user"}, "type": "gif", "payload": {}}]}),
            ),
            422,
            "unknown-message-type",
        ),
        case(
            "POST",
            "/api/v1/sessions",
            json_body(json!({"user": {"email": "h@example.com"}, "title": "t".repeat(501)})),
            422,
            "too-long",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "sticker", "payload": {}})),
            422,
            "unknown-message-type",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "image", "payload": {"imageUrl": "ftp://x.example/a.png"}})),
            422,
            "invalid-url",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "text", "payload": {"text": ""}})),
            422,
            "invalid-text",
        ),
        case(
            "POST",
            &msgs,
            json_body(json!({"type": "text", "payload": {"text": "x"}, "messageId": ""})),
            422,
            "invalid-id",
        ),
        // Unknown ids, closed sessions, size.
        case("GET", "/api/v1/sessions/ses_nope", "", 404, "not-found"),
        case(
            "POST",
            "/api/v1/sessions/ses_nope/messages",
            json_body(json!({"type": "text", "payload": {"text": "x"}})),
            404,
            "not-found",
        ),
        case(
            "POST",
            "/api/v1/sessions/ses_nope/stop",
            "",
            404,
            "not-found",
        ),
        case(
            "POST",
            &format!("/api/v1/sessions/{closed}/messages"),
            json_body(json!({"type": "text", "payload": {"text": "x"}})),
            409,
            "session-closed",
        ),
        case("POST", &msgs, too_big, 413, "payload-too-large"),
        case("GET", "/api/v1/nothing-here", "", 404, "not-found"),
    ];

    let store = handoff.running.as_ref().unwrap().state.store.clone();
    let sessions_before = store.recent_sessions(100).unwrap();
    let depth_before = handoff
        .running
        .as_ref()
        .unwrap()
        .state
        .hubspot_outbox
        .depth();
    for c in cases.drain(..) {
        let mut req = handoff
            .http
            .request(
                c.method.parse().unwrap(),
                format!("{}{}", handoff.url, c.path),
            )
            .header("content-type", "application/json")
            .body(c.body);
        if let Some(key) = c.auth {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, c.status, "{} {}: {body}", c.method, c.path);
        assert_eq!(
            body["error"]["code"], c.code,
            "{} {}: {body}",
            c.method, c.path
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Errors name the field as the bot sent it, and a 405 says what is allowed.
    let (status, body) = handoff
        .post(
            &msgs,
            json!({"type": "file", "payload": {"title": "no link"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.fileUrl"),
        "{body}"
    );
    let resp = handoff
        .http
        .request(
            "TRACE".parse().unwrap(),
            format!("{}/api/v1/webhook", handoff.url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "PUT, GET, DELETE");
    assert_eq!(
        store.recent_sessions(100).unwrap(),
        sessions_before,
        "no session changed"
    );
    assert_eq!(
        handoff
            .running
            .as_ref()
            .unwrap()
            .state
            .hubspot_outbox
            .depth(),
        depth_before,
        "nothing queued"
    );
}
