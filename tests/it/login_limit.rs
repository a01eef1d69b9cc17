//! The login limit under parallel requests, the overall limit sparing clean addresses, and
//! `X-Forwarded-For` believed only from a trusted proxy.

use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{Handoff, bare_config};
use crate::support::web::{Browser, PASSWORD};
use handoff::config::Cidr;

async fn claimed(trusted_proxies: &[&str]) -> (FakeHubSpot, tempfile::TempDir, Handoff) {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = bare_config(&fake, dir.path());
    config.http.trusted_proxies = trusted_proxies
        .iter()
        .map(|c| Cidr::parse(c).unwrap())
        .collect();
    let handoff = Handoff::start_bare(config).await;
    Browser::new(&handoff.url)
        .claim(&handoff.setup_token().unwrap())
        .await;
    (fake, dir, handoff)
}

fn verifications(handoff: &Handoff) -> u64 {
    handoff
        .running
        .as_ref()
        .unwrap()
        .state
        .admin
        .verifications()
}

/// A browser whose requests a proxy on loopback forwards for `client`.
fn behind_proxy(handoff: &Handoff, client: &str) -> Browser {
    let mut b = Browser::new(&handoff.url);
    b.headers.push(("x-forwarded-for", client.to_string()));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_are_counted_before_argon2_runs() {
    let (_fake, _dir, handoff) = claimed(&[]).await;
    let before = verifications(&handoff);
    let mut b = Browser::new(&handoff.url);
    let csrf = b.get("/login").await.csrf();
    let cookie = b.cookie_header();
    let http = reqwest::Client::new();
    let tries = (0..40).map(|_| {
        let request = http
            .post(format!("{}/login", handoff.url))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("password", "not the password")]);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let evaluated = verifications(&handoff) - before;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!("40 parallel wrong logins: {evaluated} evaluated, {wrong} 401, {limited} 429");
    assert!(evaluated <= 6, "{evaluated} verifications: {statuses:?}");
    assert_eq!(wrong + limited, 40, "{statuses:?}");
    assert_eq!(wrong as u64, evaluated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_address_logs_in_while_others_exhaust_the_overall_limit() {
    let (_fake, _dir, handoff) = claimed(&["127.0.0.0/8"]).await;
    // 6 addresses x 5 failures = the overall limit of 30.
    for n in 0..6 {
        let mut attacker = behind_proxy(&handoff, &format!("203.0.113.{n}"));
        for _ in 0..5 {
            assert_eq!(attacker.login("not the password").await.status, 401);
        }
        assert_eq!(attacker.login(PASSWORD).await.status, 429, "{n} is limited");
    }
    let mut other_attacker = behind_proxy(&handoff, "203.0.113.99");
    assert_eq!(other_attacker.login("not the password").await.status, 401);
    assert_eq!(
        other_attacker.login("not the password").await.status,
        429,
        "an address that failed waits for the overall limit"
    );
    let mut admin = behind_proxy(&handoff, "198.51.100.20");
    let page = admin.login(PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(admin.get("/admin").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Not trusted: a client cannot pick a fresh address per try.
    let (_fake, _dir, handoff) = claimed(&[]).await;
    for n in 0..5 {
        let mut b = behind_proxy(&handoff, &format!("203.0.113.{n}"));
        assert_eq!(b.login("not the password").await.status, 401);
    }
    let mut b = behind_proxy(&handoff, "203.0.113.77");
    assert_eq!(b.login(PASSWORD).await.status, 429, "all were 127.0.0.1");

    // Trusted: the right-most untrusted entry is the client; what it wrote itself is not.
    let (_fake, _dir, handoff) = claimed(&["127.0.0.0/8"]).await;
    for n in 0..5 {
        let mut b = behind_proxy(&handoff, &format!("10.9.9.{n}, 203.0.113.5"));
        assert_eq!(b.login("not the password").await.status, 401);
    }
    let mut same = behind_proxy(&handoff, "10.9.9.200, 203.0.113.5");
    assert_eq!(
        same.login(PASSWORD).await.status,
        429,
        "203.0.113.5 is limited"
    );
    let mut other = behind_proxy(&handoff, "203.0.113.6");
    assert_eq!(other.login(PASSWORD).await.status, 303);
}
