//! The links handoff gives the bot for agents' files and inline images (`/files/…`): they
//! never reach local addresses and never serve active content.

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
