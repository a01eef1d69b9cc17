//! The links handoff gives the bot for agents' files and inline images (`/files/…`): they
//! never reach local addresses, never serve active content, and cannot exhaust HubSpot's
//! rate budget.

use crate::support::fake_hubspot::FakeConfig;
use crate::support::harness::{Handoff, connected, connected_with, test_hosts};
use crate::support::media_server::MediaServer;

fn inline_link(h: &Handoff, src: &str) -> String {
    h.running.as_ref().unwrap().state.file_links.inline(src)
}

/// Every `/files/*` answer, errors included, forbids sniffing and running anything.
fn assert_inert(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(
        headers["content-security-policy"], "default-src 'none'; sandbox",
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_links_to_local_addresses_are_never_fetched() {
    // Private networks are allowed for bot media here; inline images come from HubSpot
    // content and are refused local addresses anyway.
    let (_fake, _dir, h) = connected(FakeConfig::default()).await;
    let media = MediaServer::start().await;
    let port = media.port;
    for src in [
        format!("http://127.0.0.1:{port}/photo.png"),
        format!("http://localhost:{port}/photo.png"),
        format!("http://2130706433:{port}/photo.png"),
        format!("http://127.1:{port}/photo.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/photo.png"),
        format!("http://[::1]:{port}/photo.png"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/x.png".to_string(),
    ] {
        let got = reqwest::get(inline_link(&h, &src)).await.unwrap();
        assert_eq!(got.status(), 403, "{src}");
        assert_inert(&got, &src);
        let body: serde_json::Value = got.json().await.unwrap();
        assert_eq!(body["error"]["code"], "address-refused", "{src}: {body}");
    }
    assert_eq!(media.hits(), 0, "the local server was never asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_raster_images_are_served_inline_and_nothing_can_run() {
    let (_fake, _dir, h) = connected_with(FakeConfig::default(), |c| {
        c.test_hosts = test_hosts(&["media.test"]);
    })
    .await;
    let media = MediaServer::start().await;
    let base = format!("http://media.test:{}", media.port);

    let png = reqwest::get(inline_link(&h, &format!("{base}/photo.png")))
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_inert(&png, "png");
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.headers()["content-disposition"], "inline");
    assert!(png.bytes().await.unwrap().as_ref() == media.photo.as_slice());

    for path in ["/drawing.svg", "/page.html"] {
        let got = reqwest::get(inline_link(&h, &format!("{base}{path}")))
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{path}");
        assert_inert(&got, path);
        assert_eq!(
            got.headers()["content-disposition"],
            "attachment",
            "{path} is a download"
        );
        assert_eq!(
            got.headers()["content-type"],
            "application/octet-stream",
            "{path} does not keep its active type"
        );
    }

    // Errors carry the headers too.
    let forged = inline_link(&h, &format!("{base}/photo.png")).replace("photo", "other");
    let got = reqwest::get(&forged).await.unwrap();
    assert_eq!(got.status(), 403);
    assert_inert(&got, "a forged link");
    let got = reqwest::get(format!("{}/files/inline?src=x", h.url))
        .await
        .unwrap();
    assert_eq!(got.status(), 400);
    assert_inert(&got, "a link without its signature");
}

fn signed_url_calls(fake: &crate::support::fake_hubspot::FakeHubSpot) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/signed-url"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_link_downloaded_many_times_asks_hubspot_once() {
    let (fake, _dir, h) = connected(FakeConfig::default()).await;
    let bytes: Vec<u8> = (0..20_000).map(|_| rand::random::<u8>()).collect();
    let id = fake.add_file("receipt.pdf", "application/pdf", bytes.clone());
    let link = h
        .running
        .as_ref()
        .unwrap()
        .state
        .file_links
        .file(&id, "receipt.pdf");
    let before = signed_url_calls(&fake);
    for _ in 0..5 {
        let got = reqwest::get(&link).await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "application/pdf");
        assert!(got.bytes().await.unwrap().as_ref() == bytes.as_slice());
    }
    assert_eq!(
        signed_url_calls(&fake) - before,
        1,
        "one signed URL, used 5 times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_file_links_gets_only_its_share_and_messages_still_go_out() {
    // 30 calls per 10 s: file links may use 3 of them.
    let (fake, _dir, h) = connected_with(FakeConfig::default(), |c| {
        c.hubspot.rate_limit_per_10s = 30;
    })
    .await;
    let session = h
        .open_session("ada@example.com", serde_json::json!([]))
        .await;
    let state = h.running.as_ref().unwrap().state.clone();
    // Provisioning's calls leave the window first, so the share is not hidden by them.
    crate::support::harness::eventually(std::time::Duration::from_secs(20), || async {
        state.hubspot.limiter.headroom() == 30
    })
    .await;
    let links: Vec<String> = (0..15)
        .map(|i| {
            let id = fake.add_file(&format!("f{i}.pdf"), "application/pdf", vec![i as u8; 100]);
            state.file_links.file(&id, &format!("f{i}.pdf"))
        })
        .collect();
    let before = signed_url_calls(&fake);
    let answers = futures_util::future::join_all(links.iter().map(reqwest::get)).await;
    let mut served = 0;
    for got in answers {
        let got = got.unwrap();
        match got.status().as_u16() {
            200 => served += 1,
            429 => {
                let wait: u64 = got.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=10).contains(&wait), "Retry-After {wait}");
                assert_inert(&got, "a 429");
                let body: serde_json::Value = got.json().await.unwrap();
                assert_eq!(body["error"]["code"], "too-many-requests");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let asked = signed_url_calls(&fake) - before;
    assert!(asked <= 3, "file links asked HubSpot {asked} times");
    assert_eq!(served, asked, "each served link cost one call");
    assert!(served >= 1, "the share is usable");
    // Message delivery still has its budget.
    h.send_text(&session, "m1", "still here").await;
    crate::support::harness::eventually(std::time::Duration::from_secs(20), || async {
        fake.thread_by_integration_id(&handoff::relay::integration_thread_id(&session))
            .is_some_and(|t| t.messages.iter().any(|m| m["text"] == "still here"))
    })
    .await;
}
