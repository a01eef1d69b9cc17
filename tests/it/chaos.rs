//! The chaos run: the real handoff binary, the fake HubSpot and the fake bot on loopback,
//! traffic both ways across many sessions, while handoff is SIGKILLed and restarted at
//! random moments and HubSpot answers 503s, 429s with `Retry-After`, slow answers and
//! connection resets, expires the access tokens, and the bot fails for a while. At the end
//! it prints what was acknowledged, lost, duplicated and out of order; all but the first
//! must be 0.
//!
//! The suite runs 5 kill cycles. A long run: `CHAOS_CYCLES=50 CHAOS_SESSIONS=12 cargo test
//! --test it chaos -- --nocapture` (`CHAOS_SEED` repeats a run's choices).

use crate::support::binary::{Binary, Launch, free_port, wait_for};
use crate::support::fake_bot::FakeBot;
use crate::support::fake_hubspot::{FakeConfig, FakeHubSpot};
use crate::support::harness::{API_KEY, eventually, init};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const AGENT: &str = "A-2620022";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn ready(url: &str) {
    wait_for(url, "/readyz", Duration::from_secs(60)).await;
}

/// What the bot and the agents were told was accepted, per session, in order.
#[derive(Default)]
struct Acked {
    user: Vec<Vec<String>>,
    agent: Vec<Vec<String>>,
}

#[derive(Default, Debug)]
struct Tally {
    acknowledged: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
}

/// Compares what was acknowledged with what arrived: `arrived` holds each item's arrival
/// positions (one per distinct delivery).
fn tally(acked: &[String], arrived: &HashMap<String, Vec<usize>>, t: &mut Tally) {
    let mut last = None;
    for text in acked {
        t.acknowledged += 1;
        match arrived.get(text).map(Vec::as_slice) {
            None | Some([]) => t.lost += 1,
            Some(positions) => {
                t.duplicated += positions.len() - 1;
                let first = positions[0];
                if last.is_some_and(|l| first < l) {
                    t.out_of_order += 1;
                }
                last = Some(first);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_loses_duplicates_and_reorders_nothing() {
    init();
    let cycles = env_or("CHAOS_CYCLES", 5);
    let sessions = env_or("CHAOS_SESSIONS", 6) as usize;
    let seed = env_or("CHAOS_SEED", rand::random::<u32>() as u64);
    println!("chaos: {cycles} kill cycles, {sessions} sessions, CHAOS_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    // HubSpot's window is wider than handoff's own limit (1,800 per 10 s, above what the
    // traffic needs), so a 429 comes only from the injected ones, and the backlog a kill
    // leaves drains in seconds.
    let fake = Arc::new(
        FakeHubSpot::start(FakeConfig {
            rate_limit_per_10s: Some(2000),
            ..FakeConfig::default()
        })
        .await,
    );
    // HubSpot retries webhooks; enough to outlast a restart.
    fake.set_webhook_retries(30, Duration::from_millis(200));
    let bot = Arc::new(FakeBot::start().await);
    let dir = tempfile::tempdir().unwrap();
    let token = fake.refresh_token();
    let port = free_port();
    let launch = || -> Binary {
        Launch {
            port,
            env: vec![
                ("HANDOFF_HUBSPOT__RATE_LIMIT_PER_10S", "1800".into()),
                ("HANDOFF_BOT__WEBHOOK_URL", bot.url()),
                ("HANDOFF_BOT__WEBHOOK_SECRET", bot.secret()),
            ],
            ..Launch::new(&fake, dir.path(), &token)
        }
        .spawn()
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut bin = launch();
    let url = bin.url.clone();
    ready(&url).await;

    // Sessions, each with its HubSpot thread.
    let mut ids = Vec::new();
    let mut threads = Vec::new();
    for i in 0..sessions {
        let response = http
            .post(format!("{url}/api/v1/sessions"))
            .bearer_auth(API_KEY)
            .json(&json!({"user": {"email": format!("chaos{i}@example.com")}, "title": "Chaos"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        ids.push(body["sessionId"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let itid = handoff::relay::integration_thread_id(id);
        eventually(Duration::from_secs(30), || async {
            fake.thread_by_integration_id(&itid).is_some()
        })
        .await;
        threads.push(fake.thread_by_integration_id(&itid).unwrap().id);
    }

    // Traffic: per session, one bot sending user messages and one agent replying, each in
    // order; only what was answered 202 / 2xx counts as acknowledged.
    let acked = Arc::new(Mutex::new(Acked {
        user: vec![Vec::new(); sessions],
        agent: vec![Vec::new(); sessions],
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let unacked = Arc::new(AtomicUsize::new(0));
    let mut traffic = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (http, url, id, bot_acked, bot_stop, bot_unacked) = (
            http.clone(),
            url.clone(),
            id.clone(),
            acked.clone(),
            stop.clone(),
            unacked.clone(),
        );
        traffic.push(tokio::spawn(async move {
            let (acked, stop, unacked) = (bot_acked, bot_stop, bot_unacked);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("user-{i}-{n}");
                n += 1;
                let sent = http
                    .post(format!("{url}/api/v1/sessions/{id}/messages"))
                    .bearer_auth(API_KEY)
                    .json(&json!({"type": "text", "payload": {"text": text}, "messageId": text}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => acked.lock().user[i].push(text),
                    _ => {
                        unacked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(40 + (n % 7) * 15)).await;
            }
        }));
        let (fake, thread, acked, stop, unacked) = (
            fake.clone(),
            threads[i].clone(),
            acked.clone(),
            stop.clone(),
            unacked.clone(),
        );
        traffic.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("agent-{i}-{n}");
                n += 1;
                let (_, result) = fake.agent_reply(&thread, AGENT, &text, &[]).await;
                if result.delivered {
                    acked.lock().agent[i].push(text);
                } else {
                    unacked.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(80 + (n % 5) * 30)).await;
            }
        }));
    }

    let mut faults = Vec::new();
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1200))).await;
        let fault = match rng.random_range(0..6) {
            0 => {
                fake.fail_next(rng.random_range(1..6), 503);
                "503s"
            }
            1 => {
                fake.rate_limit_next(rng.random_range(1..4), Some(1));
                "429s with Retry-After"
            }
            2 => {
                fake.set_latency(Duration::from_millis(300));
                "slow answers"
            }
            3 => {
                fake.reset_next(rng.random_range(1..4));
                "connection resets"
            }
            4 => {
                fake.expire_access_tokens();
                "expired tokens"
            }
            _ => {
                bot.set_down(Some(503));
                "bot down"
            }
        };
        faults.push(fault);
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
        // SIGKILL: no graceful anything.
        bin.child.kill().unwrap();
        bin.child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
        fake.set_latency(Duration::ZERO);
        if rng.random_bool(0.5) {
            bot.set_down(None);
        }
        bin = launch();
        ready(&url).await;
        println!("chaos: cycle {} done ({fault})", cycle + 1);
    }

    // Stop the traffic and the faults, then let everything drain.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in traffic {
        t.await.unwrap();
    }
    bot.set_down(None);
    fake.set_latency(Duration::ZERO);
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner();
    let user_arrivals = |i: usize| -> HashMap<String, Vec<usize>> {
        let mut map: HashMap<String, Vec<usize>> = HashMap::new();
        let itid = handoff::relay::integration_thread_id(&ids[i]);
        if let Some(thread) = fake.thread_by_integration_id(&itid) {
            for (pos, m) in thread.messages.iter().enumerate() {
                if let Some(text) = m["text"].as_str() {
                    map.entry(text.to_string()).or_default().push(pos);
                }
            }
        }
        map
    };
    // At the bot, one event per distinct event id; retries of one id are not duplicates.
    let agent_arrivals = || -> Vec<HashMap<String, Vec<usize>>> {
        let mut per_session = vec![HashMap::<String, Vec<usize>>::new(); sessions];
        let mut seen = std::collections::HashSet::new();
        for (pos, e) in bot.events().iter().enumerate() {
            let Some(text) = e["data"]["text"].as_str() else {
                continue;
            };
            if e["type"] != "session.message" || !seen.insert(e["id"].to_string()) {
                continue;
            }
            if let Some(i) = ids.iter().position(|id| e["sessionId"] == id.as_str()) {
                per_session[i]
                    .entry(text.to_string())
                    .or_default()
                    .push(pos);
            }
        }
        per_session
    };
    // How much has arrived; the wait ends when all of it has, or when nothing more arrives
    // for 30 s (a backlog drains at the rate limit, so a long run needs longer).
    let arrived_count = || {
        let agents = agent_arrivals();
        (0..sessions)
            .map(|i| {
                let users = user_arrivals(i);
                acked.user[i]
                    .iter()
                    .filter(|t| users.contains_key(*t))
                    .count()
                    + acked.agent[i]
                        .iter()
                        .filter(|t| agents[i].contains_key(*t))
                        .count()
            })
            .sum::<usize>()
    };
    let expected: usize = (0..sessions)
        .map(|i| acked.user[i].len() + acked.agent[i].len())
        .sum();
    let (mut seen, mut progress_at) = (0, tokio::time::Instant::now());
    while seen < expected && progress_at.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = arrived_count();
        if now > seen {
            (seen, progress_at) = (now, tokio::time::Instant::now());
        }
    }

    let (mut to_hubspot, mut to_bot) = (Tally::default(), Tally::default());
    let agents = agent_arrivals();
    for (i, arrived) in agents.iter().enumerate() {
        tally(&acked.user[i], &user_arrivals(i), &mut to_hubspot);
        tally(&acked.agent[i], arrived, &mut to_bot);
    }
    for i in 0..sessions {
        let arrived = user_arrivals(i);
        let missing: Vec<_> = acked.user[i]
            .iter()
            .filter(|t| !arrived.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            println!(
                "  session {i}: {} of {} user messages missing, first {:?}; HubSpot has {}",
                missing.len(),
                acked.user[i].len(),
                missing.first(),
                arrived.len()
            );
        }
    }
    let deliveries = bot.deliveries().len();
    println!("chaos report (CHAOS_SEED={seed}, {cycles} SIGKILLs; faults: {faults:?})");
    println!("  direction         acknowledged  lost  duplicated  out of order");
    for (name, t) in [("bot -> HubSpot", &to_hubspot), ("HubSpot -> bot", &to_bot)] {
        println!(
            "  {name:<16}  {:>12}  {:>4}  {:>10}  {:>12}",
            t.acknowledged, t.lost, t.duplicated, t.out_of_order
        );
    }
    println!(
        "  not acknowledged (sent while handoff was down): {}; webhook deliveries to the bot: {deliveries}; HubSpot 429s: {}",
        unacked.load(Ordering::Relaxed),
        fake.rate_limited_count()
    );
    for t in [&to_hubspot, &to_bot] {
        assert!(t.acknowledged > 0, "no traffic was acknowledged");
        assert_eq!(
            (t.lost, t.duplicated, t.out_of_order),
            (0, 0, 0),
            "lost, duplicated, out of order (CHAOS_SEED={seed})"
        );
    }
    drop(bin);
}
