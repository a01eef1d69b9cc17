//! Bot → agent media: images and files are downloaded, uploaded to HubSpot's Files API and
//! published as attachments with the very same bytes; locations become LOCATION
//! attachments; what cannot be attached reaches the agent as a link with the reason; and a
//! slow download keeps its place in the session's order.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, Thread};
use crate::support::harness::{connected, eventually};
use crate::support::media_server::MediaServer;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn thread(fake: &FakeHubSpot, session: &str) -> Option<Thread> {
    fake.thread_by_integration_id(&handoff::store::integration_thread_id(session))
}

async fn messages(fake: &FakeHubSpot, session: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, || async {
        thread(fake, session).is_some_and(|t| t.messages.len() >= n)
    })
    .await;
    thread(fake, session).unwrap().messages
}

async fn send(
    h: &crate::support::harness::Handoff,
    session: &str,
    id: &str,
    kind: &str,
    payload: Value,
) {
    let (status, body) = h
        .post(
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"type": kind, "payload": payload, "messageId": id}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_reaches_hubspot_as_files_with_the_same_bytes() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let media = MediaServer::start().await;
    let session = h.open_session("ada@example.com", json!([])).await;
    send(
        &h,
        &session,
        "m1",
        "image",
        json!({"imageUrl": format!("{}/photo.png", media.url)}),
    )
    .await;
    send(
        &h,
        &session,
        "m2",
        "file",
        json!({"fileUrl": format!("{}/invoice.pdf", media.url), "title": "Invoice March"}),
    )
    .await;
    send(&h, &session, "m3", "location", json!({"latitude": 52.52, "longitude": 13.405, "address": "Alexanderplatz 1, Berlin", "title": "Shop"})).await;
    let all = messages(&fake, &session, 4).await;

    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 2);
    let image = &all[1]["attachments"][0];
    assert_eq!(image["type"], "FILE");
    assert_eq!(image["fileUsageType"], "IMAGE");
    let (_, name, mime, folder, bytes) = uploads
        .iter()
        .find(|u| u.0 == image["fileId"])
        .expect("the image was uploaded");
    assert_eq!((name.as_str(), mime.as_str()), ("photo.png", "image/png"));
    assert_eq!(folder, &format!("/handoff/{session}"));
    assert!(
        *bytes == media.photo,
        "the image bytes reached HubSpot unchanged"
    );

    let file = &all[2]["attachments"][0];
    assert_eq!(file["fileUsageType"], "OTHER");
    assert_eq!(all[2]["text"], "Invoice March");
    let (_, _, mime, _, bytes) = uploads.iter().find(|u| u.0 == file["fileId"]).unwrap();
    assert_eq!(mime, "application/pdf");
    assert!(
        *bytes == media.pdf,
        "the PDF bytes reached HubSpot unchanged"
    );

    let location = &all[3]["attachments"][0];
    assert_eq!(location["type"], "LOCATION");
    assert_eq!(location["latitude"], 52.52);
    assert_eq!(location["longitude"], 13.405);
    assert_eq!(location["name"], "Shop");
    let text = all[3]["text"].as_str().unwrap();
    assert!(
        text.contains("Alexanderplatz 1, Berlin") && text.contains("52.52"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_attached_reaches_the_agent_as_a_link_with_the_reason() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let media = MediaServer::start().await;
    let session = h.open_session("ada@example.com", json!([])).await;
    let cases = [
        ("file", "fileUrl", "/big.pdf", "larger than 20 MB"),
        (
            "image",
            "imageUrl",
            "/page.html",
            "`text/html` is not allowed",
        ),
        ("image", "imageUrl", "/missing.png", "HTTP 404"),
    ];
    for (i, (kind, field, path, _)) in cases.iter().enumerate() {
        let url = format!("{}{path}", media.url);
        send(&h, &session, &format!("m{i}"), kind, json!({ *field: url })).await;
    }
    let all = messages(&fake, &session, 1 + cases.len()).await;
    for (i, (_, _, path, reason)) in cases.iter().enumerate() {
        let message = &all[1 + i];
        let text = message["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("{}{path}", media.url)),
            "the link: {text}"
        );
        assert!(text.contains(reason), "the reason `{reason}`: {text}");
        assert_eq!(message["attachments"], json!([]));
    }
    assert!(fake.uploads().is_empty());
    // None of this is a failure of the session.
    let s = h.session(&session).await;
    assert_eq!(s["status"], "open", "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_between_two_texts_keeps_the_order() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let media = MediaServer::start().await;
    let session = h.open_session("ada@example.com", json!([])).await;
    messages(&fake, &session, 1).await;
    h.send_text(&session, "t1", "before the photo").await;
    send(
        &h,
        &session,
        "i1",
        "image",
        json!({"imageUrl": format!("{}/slow.png", media.url)}),
    )
    .await;
    h.send_text(&session, "t2", "after the photo").await;
    let all = messages(&fake, &session, 4).await;
    assert_eq!(all[1]["text"], "before the photo");
    assert_eq!(all[2]["attachments"][0]["type"], "FILE");
    assert_eq!(all[3]["text"], "after the photo");
    assert_eq!(all.len(), 4, "exactly once each");
}
