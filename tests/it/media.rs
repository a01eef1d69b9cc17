//! Bot → agent media: images and files are downloaded, uploaded to HubSpot's Files API and
//! published as attachments with the very same bytes; locations become LOCATION
//! attachments; what cannot be attached reaches the agent as a link with the reason; and a
//! slow download keeps its place in the session's order.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot, Thread};
use crate::support::harness::{connected, connected_with, eventually, test_hosts};
use crate::support::media_server::MediaServer;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn thread(fake: &FakeHubSpot, session: &str) -> Option<Thread> {
    fake.thread_by_integration_id(&handoff::relay::integration_thread_id(session))
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
async fn a_slow_download_and_upload_between_two_texts_keep_the_order() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    fake.set_upload_delay(Duration::from_millis(1500));
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

/// The bot's `session.message` events so far, from the feed.
async fn agent_messages(h: &crate::support::harness::Handoff, n: usize) -> Vec<Value> {
    let read = || async {
        let (_, body) = h.get("/api/v1/events?limit=1000").await;
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "session.message")
            .cloned()
            .collect::<Vec<_>>()
    };
    eventually(WAIT, || async { read().await.len() >= n }).await;
    read().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_files_and_inline_images_reach_the_bot_as_links_that_need_no_credentials() {
    // Inline images are never fetched from loopback: the fake's files are reached under a
    // made-up public name.
    let (fake, _dir, h) = connected_with(FakeConfig::default(), |c| {
        c.test_hosts = test_hosts(&["files.hubspot.test"]);
    })
    .await;
    let session = h.open_session("ada@example.com", json!([])).await;
    messages(&fake, &session, 1).await;
    let thread = thread(&fake, &session).unwrap().id;
    let receipt: Vec<u8> = (0..30_000).map(|_| rand::random::<u8>()).collect();
    let inline: Vec<u8> = (0..5_000).map(|_| rand::random::<u8>()).collect();
    let file = fake.add_file("receipt.pdf", "application/pdf", receipt.clone());
    let picture = fake.add_file("smile.png", "image/png", inline.clone());
    // An inline image's source: HubSpot's own (short-lived) signed URL.
    let signed: Value = reqwest::Client::new()
        .get(format!(
            "{}/files/v3/files/{picture}/signed-url",
            fake.url()
        ))
        .bearer_auth(fake.mint_access_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let src = signed["url"]
        .as_str()
        .unwrap()
        .replace("//127.0.0.1:", "//files.hubspot.test:");
    let rich = format!(
        "<p>Here you go</p><img src=\"{}\">",
        src.replace('&', "&amp;")
    );
    fake.agent_reply_rich(
        &thread,
        "A-2620022",
        "Here you go",
        Some(&rich),
        &[file.as_str()],
    )
    .await;
    // An attachment-only message is a valid event too.
    fake.agent_reply_rich(&thread, "A-2620022", "", Some(""), &[file.as_str()])
        .await;
    let events = agent_messages(&h, 2).await;

    let data = &events[0]["data"];
    assert_eq!(data["text"], "Here you go");
    let attachment = &data["attachments"][0];
    assert_eq!(attachment["name"], "receipt.pdf");
    assert_eq!(attachment["mimeType"], "application/pdf");
    assert_eq!(attachment["size"], receipt.len());
    let url = attachment["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/files/{file}/receipt.pdf?expires=", h.url)),
        "{url}"
    );
    // A plain GET, no credentials: the same bytes, with type and name.
    let got = reqwest::get(url).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert!(
        got.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("receipt.pdf")
    );
    assert!(
        got.bytes().await.unwrap().as_ref() == receipt.as_slice(),
        "identical bytes"
    );
    // A changed link is refused.
    let forged = url.replace(&format!("/files/{file}/"), &format!("/files/{picture}/"));
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 403);
    let tampered = format!("{}0", url);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);

    // The inline image points at handoff, and serves the image's bytes.
    let rich = data["richText"].as_str().unwrap();
    assert!(
        !rich.contains(&src.replace('&', "&amp;")),
        "HubSpot's URL is replaced: {rich}"
    );
    let at = rich.find("src=\"").unwrap() + 5;
    let link = rich[at..at + rich[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(
        link.starts_with(&format!("{}/files/inline?src=", h.url)),
        "{link}"
    );
    let got = reqwest::get(&link).await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().as_ref() == inline.as_slice());

    let only = &events[1]["data"];
    assert_eq!(only["text"], "");
    assert_eq!(only["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_shows_who_said_what_when_with_its_media_attached() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let media = MediaServer::start().await;
    let history = json!([
        {"source": {"type": "user"}, "type": "text", "payload": {"text": "My screen is broken"}, "timestamp": "2026-12-01T10:03:05Z"},
        {"source": {"type": "bot"}, "type": "text", "payload": {"text": "Can you send a photo?"}, "timestamp": 1_764_583_400_000_i64},
        {"source": {"type": "user"}, "type": "image", "payload": {"imageUrl": format!("{}/photo.png", media.url)}},
        {"source": {"type": "user"}, "type": "file", "payload": {"fileUrl": format!("{}/big.pdf", media.url), "title": "Full scan"}},
        {"source": {"type": "user"}, "type": "location", "payload": {"latitude": 52.52, "longitude": 13.405, "title": "Shop"}}
    ]);
    let session = h.open_session("ada@example.com", history).await;
    let first = &messages(&fake, &session, 1).await[0];
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains("User (2026-12-01 10:03:05 UTC): My screen is broken"),
        "{text}"
    );
    assert!(
        text.contains("Bot (2025-12-01 10:03:20 UTC): Can you send a photo?"),
        "{text}"
    );
    assert!(text.contains("(attached: photo.png)"), "{text}");
    assert!(
        text.contains("(not attached: the file is larger than 20 MB)"),
        "{text}"
    );
    let rich = first["richText"].as_str().unwrap();
    assert!(
        rich.contains(&format!(
            "<a href=\"{}/big.pdf\">file: Full scan</a>",
            media.url
        )),
        "{rich}"
    );
    assert!(rich.contains("openstreetmap.org/?mlat=52.52"), "{rich}");
    let attachments = first["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    let uploads = fake.uploads();
    let (_, _, _, _, bytes) = uploads
        .iter()
        .find(|u| u.0 == attachments[0]["fileId"])
        .unwrap();
    assert!(
        *bytes == media.photo,
        "the transcript's photo reached HubSpot unchanged"
    );
    // A transcript time that is not one is refused.
    let (status, body) = h
        .post(
            "/api/v1/sessions",
            json!({"user": {"email": "bo@example.com"}, "messageHistory": [{"source": {"type": "user"}, "type": "text", "payload": {"text": "x"}, "timestamp": "yesterday"}]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid-timestamp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_can_be_refused() {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::harness::config(&fake, dir.path());
    config.media.block_private_networks = true;
    let h = crate::support::harness::Handoff::start(config).await;
    h.wait_ready().await;
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
    let all = messages(&fake, &session, 2).await;
    let text = all[1]["text"].as_str().unwrap();
    assert!(
        text.contains("private address") && text.contains("media.block_private_networks"),
        "{text}"
    );
    assert!(fake.uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_slow_media_opens_after_retries_uploading_each_file_once() {
    // An attempt may hold its item for 3 × 3 s. Five slow files (1.5 s download, 1 s
    // upload each) need 12.5 s: more than one attempt, so only resuming where the last
    // attempt stopped can open the session.
    let (fake, _dir, h) = connected_with(FakeConfig::default(), |c| {
        c.hubspot.timeout = Duration::from_secs(3);
    })
    .await;
    fake.set_upload_delay(Duration::from_secs(1));
    let media = MediaServer::start().await;
    let history: Vec<Value> = (0..5)
        .map(|i| json!({"source": {"type": "user"}, "type": "image", "payload": {"imageUrl": format!("{}/slow.png?n={i}", media.url)}}))
        .collect();
    let session = h.open_session("ada@example.com", json!(history)).await;
    eventually(Duration::from_secs(60), || async {
        thread(&fake, &session).is_some_and(|t| !t.messages.is_empty())
    })
    .await;
    let first = &thread(&fake, &session).unwrap().messages[0];
    let attachments = first["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 5, "{first}");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 5, "each file uploaded exactly once");
    for a in attachments {
        assert!(uploads.iter().any(|u| u.0 == a["fileId"]), "{a}");
        assert!(*uploads.iter().find(|u| u.0 == a["fileId"]).unwrap().4 == media.photo);
    }
    assert_eq!(h.session(&session).await["status"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_link_local_links_are_refused_even_when_private_networks_are_allowed() {
    // The default: a homelab bot may serve media from its LAN.
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let session = h.open_session("ada@example.com", json!([])).await;
    let links = [
        (
            "http://169.254.169.254/latest/meta-data/x.png",
            "cloud metadata",
        ),
        ("http://2852039166/x.png", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/x.png", "cloud metadata"),
        ("http://[fd00:ec2::254]/x.png", "cloud metadata"),
        ("http://169.254.10.1/x.png", "link-local"),
        ("http://[fe80::1]/x.png", "link-local"),
    ];
    for (i, (link, _)) in links.iter().enumerate() {
        send(
            &h,
            &session,
            &format!("m{i}"),
            "image",
            json!({"imageUrl": link}),
        )
        .await;
    }
    let all = messages(&fake, &session, 1 + links.len()).await;
    for (i, (link, reason)) in links.iter().enumerate() {
        let text = all[1 + i]["text"].as_str().unwrap();
        assert!(text.contains(link), "the agent gets the link: {text}");
        assert!(text.contains(reason), "{link}: {text}");
    }
    assert!(fake.uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_that_embed_a_private_one_are_refused_when_blocking() {
    let (fake, _dir, h) = connected_with(FakeConfig::default(), |c| {
        c.media.block_private_networks = true;
    })
    .await;
    let media = MediaServer::start().await;
    let port = media.port;
    let session = h.open_session("ada@example.com", json!([])).await;
    let links = [
        format!("http://127.1:{port}/photo.png"),
        format!("http://2130706433:{port}/photo.png"),
        format!("http://[::ffff:7f00:1]:{port}/photo.png"),
        format!("http://[2002:7f00:1::]:{port}/photo.png"),
        format!("http://[64:ff9b::7f00:1]:{port}/photo.png"),
        format!("http://localhost:{port}/photo.png"),
    ];
    for (i, link) in links.iter().enumerate() {
        send(
            &h,
            &session,
            &format!("m{i}"),
            "image",
            json!({"imageUrl": link}),
        )
        .await;
    }
    let all = messages(&fake, &session, 1 + links.len()).await;
    for (i, link) in links.iter().enumerate() {
        let text = all[1 + i]["text"].as_str().unwrap();
        assert!(
            text.contains("media.block_private_networks refuses private addresses"),
            "{link}: {text}"
        );
    }
    assert_eq!(media.hits(), 0, "nothing was fetched");
    assert!(fake.uploads().is_empty());
}
