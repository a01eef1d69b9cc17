//! The benchmark report's other figures: a 10,000-message backlog released at once against
//! a rate-limited fake HubSpot, the real binary's memory idle and with 100,000 messages
//! queued, its start-up time, its size; then `bench/RESULTS.md`.

use super::fake_hubspot::{FakeConfig, FakeHubSpot};
use super::{API_KEY, RelayFigures, ms, open_sessions, start};
use serde_json::json;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// handoff's own limit for the drain, and the fake's (HubSpot's) slightly larger window.
const DRAIN_LIMIT: u32 = 1000;
const FAKE_LIMIT: u32 = 1100;
const BACKLOG: usize = 10_000;
const QUEUED_FOR_MEMORY: usize = 100_000;

struct Drain {
    elapsed: Duration,
    published: usize,
    rate_limited: usize,
}

struct Process {
    startup_to_ready: Duration,
    rss_idle_kb: u64,
    rss_queued_kb: u64,
    startup_with_backlog: Duration,
    size_bytes: u64,
}

/// `n` messages over `sessions`, posted by 64 connections at once.
async fn queue_messages(url: &str, sessions: &[String], n: usize) {
    let per_conn = n.div_ceil(64);
    let tasks: Vec<_> = (0..64)
        .map(|conn| {
            let url = url.to_string();
            let sessions = sessions.to_vec();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let body = json!({"type": "text", "payload": {"text": "queued"}}).to_string();
                for i in 0..per_conn {
                    if conn * per_conn + i >= n {
                        break;
                    }
                    let session = &sessions[(conn + i * 64) % sessions.len()];
                    let r = http
                        .post(format!("{url}/api/v1/sessions/{session}/messages"))
                        .bearer_auth(API_KEY)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 202);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Queues the backlog while HubSpot is not connected, then connects: everything is released
/// at once, and must drain at the limit without a single 429.
async fn backlog_drain() -> Drain {
    let fake = FakeHubSpot::start(FakeConfig {
        rate_limit_per_10s: Some(FAKE_LIMIT),
        search_rate_limit_per_sec: None,
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (running, url) = start(&fake, dir.path(), false, DRAIN_LIMIT).await;
    let sessions = open_sessions(&url, 100).await;
    queue_messages(&url, &sessions, BACKLOG).await;
    let queued = running.state.hubspot_outbox.depth();
    println!("backlog: {queued} items queued; releasing");
    let before = fake.publish_attempts();
    let started = Instant::now();
    running
        .state
        .hubspot
        .tokens
        .connect(&fake.refresh_token(), None, vec![])
        .await
        .unwrap();
    while running.state.hubspot_outbox.depth() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = Drain {
        elapsed: started.elapsed(),
        published: fake.publish_attempts() - before,
        rate_limited: fake.rate_limited_count(),
    };
    running.stop().await;
    drain
}

fn rss_kb(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn spawn(fake: &FakeHubSpot, dir: &std::path::Path, port: u16, connected: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    command
        .env_clear()
        .env("HANDOFF_LISTEN", format!("127.0.0.1:{port}"))
        .env("HANDOFF_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("HANDOFF_DATA_DIR", dir)
        .env("HANDOFF_HUBSPOT__API_BASE", fake.url())
        .env("HANDOFF_HUBSPOT__APP_BASE", fake.url())
        .env("HANDOFF_HUBSPOT__CLIENT_ID", FakeHubSpot::CLIENT_ID)
        .env("HANDOFF_HUBSPOT__CLIENT_SECRET", FakeHubSpot::CLIENT_SECRET)
        .env("HANDOFF_HUBSPOT__APP_ID", FakeHubSpot::APP_ID)
        .env(
            "HANDOFF_HUBSPOT__DEVELOPER_API_KEY",
            FakeHubSpot::DEVELOPER_API_KEY,
        )
        .env("HANDOFF_HUBSPOT__INBOX_ID", FakeHubSpot::INBOX_ID)
        .env("HANDOFF_BOT__API_KEY", API_KEY)
        .env("RUST_LOG", "warn");
    if connected {
        command.env("HANDOFF_HUBSPOT__REFRESH_TOKEN", fake.refresh_token());
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the handoff binary starts")
}

async fn wait_for(url: &str) -> Duration {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary: time to `/readyz` 200 (provisioning included), RSS when idle, RSS with
/// 100,000 messages queued (HubSpot not connected, so they stay), and the time to
/// `/healthz` when it starts on that backlog.
async fn process() -> Process {
    let fake = FakeHubSpot::start(FakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let mut child = spawn(&fake, dir.path(), port, true);
    wait_for(&format!("http://127.0.0.1:{port}/readyz")).await;
    let startup_to_ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle_kb = rss_kb(&child);
    child.kill().unwrap();
    child.wait().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&fake, dir.path(), port, false);
    wait_for(&format!("{url}/healthz")).await;
    let sessions = open_sessions(&url, 64).await;
    queue_messages(&url, &sessions, QUEUED_FOR_MEMORY).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_queued_kb = rss_kb(&child);
    // SIGTERM: a graceful stop, then a start on the backlog.
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let mut child = spawn(&fake, dir.path(), port, false);
    wait_for(&format!("{url}/healthz")).await;
    let startup_with_backlog = started.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    Process {
        startup_to_ready,
        rss_idle_kb,
        rss_queued_kb,
        startup_with_backlog,
        size_bytes: std::fs::metadata(env!("CARGO_BIN_EXE_handoff"))
            .unwrap()
            .len(),
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!(
        "{model}, {} cores, {memory} RAM, Linux {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        command_output("uname", &["-r"]),
        command_output("rustc", &["--version"])
    )
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

pub async fn report(relay: &RelayFigures) {
    let drain = backlog_drain().await;
    println!(
        "backlog: {} published in {:.1} s, {} 429s",
        drain.published,
        drain.elapsed.as_secs_f64(),
        drain.rate_limited
    );
    let process = process().await;
    let accept_share = 100.0 * relay.accept.per_sec() / relay.floor.per_sec();
    let ingest_share = 100.0 * relay.ingest_quiet.per_sec() / relay.floor.per_sec();
    let drain_rate = drain.published as f64 / drain.elapsed.as_secs_f64();
    let limit_rate = f64::from(DRAIN_LIMIT) / 10.0;
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "# Benchmark results\n").unwrap();
    writeln!(
        w,
        "Written by `cargo bench --bench relay -- --report` on {} UTC.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    )
    .unwrap();
    writeln!(w, "Machine: {}.\n", machine()).unwrap();
    writeln!(
        w,
        "Load: {} connections from the same process (the load generator shares the CPU \
         with handoff and the fake HubSpot), {} s per phase; floor, accept and ingest take \
         turns in {} slices each. Figures move by about ±10 % between runs on this shared \
         VM.\n",
        super::CONNECTIONS,
        relay.secs,
        super::SLICES
    )
    .unwrap();
    writeln!(w, "| figure | measured | target | |").unwrap();
    writeln!(w, "|---|---|---|---|").unwrap();
    let mut row = |figure: &str, measured: String, target: &str, met: Option<bool>| {
        writeln!(
            w,
            "| {figure} | {measured} | {target} | {} |",
            met.map(verdict).unwrap_or("")
        )
        .unwrap();
    };
    row(
        "floor: `GET /healthz`",
        format!(
            "{:.0}/s, p50 {}, p99 {}",
            relay.floor.per_sec(),
            ms(relay.floor.pct(0.5)),
            ms(relay.floor.pct(0.99))
        ),
        "reference",
        None,
    );
    row(
        "durable accept: `POST …/messages`, 202 after the flush",
        format!(
            "{:.0}/s ({accept_share:.0} % of the floor), p50 {}, p99 {}",
            relay.accept.per_sec(),
            ms(relay.accept.pct(0.5)),
            ms(relay.accept.pct(0.99))
        ),
        "≥ 50 % of the floor (issues 2 and 13)",
        Some(accept_share >= 50.0),
    );
    row(
        "durable accept while relaying to HubSpot",
        format!(
            "{:.0}/s, p50 {}, p99 {}",
            relay.relaying.per_sec(),
            ms(relay.relaying.pct(0.5)),
            ms(relay.relaying.pct(0.99))
        ),
        "—",
        None,
    );
    row(
        "relay latency: request sent → fake HubSpot receives the publish",
        format!(
            "p50 {}, p99 {} (from the 202: p50 {}, p99 {})",
            ms(relay.from_send.0),
            ms(relay.from_send.1),
            ms(relay.from_ack.0),
            ms(relay.from_ack.1)
        ),
        "p50 ≤ 5 ms (issue 2)",
        Some(relay.from_send.0 <= Duration::from_millis(5)),
    );
    row(
        "HubSpot webhook ingest: verified, durable 200 (the inbound worker turning the events into bot events alongside)",
        format!(
            "{:.0}/s ({ingest_share:.0} % of the floor), p50 {}, p99 {}",
            relay.ingest_quiet.per_sec(),
            ms(relay.ingest_quiet.pct(0.5)),
            ms(relay.ingest_quiet.pct(0.99))
        ),
        "≥ 35 % of the floor, p99 ≤ 25 ms (issue 13; issue 3 asked ≥ 50 %)",
        Some(ingest_share >= 35.0 && relay.ingest_quiet.pct(0.99) <= Duration::from_millis(25)),
    );
    row(
        &format!(
            "HubSpot events the inbound worker had not yet processed when an ingest slice \
             stopped (the most of {} slices)",
            super::SLICES
        ),
        format!(
            "{} events, processed {} later",
            relay.inbound_left,
            ms(relay.processed_in)
        ),
        "—",
        None,
    );
    row(
        "webhook ingest while processing and relaying",
        format!(
            "{:.0}/s, p50 {}, p99 {}",
            relay.ingest.per_sec(),
            ms(relay.ingest.pct(0.5)),
            ms(relay.ingest.pct(0.99))
        ),
        "—",
        None,
    );
    row(
        "unthrottled drain of the relaying phase's backlog",
        format!(
            "{} messages in {:.1} s ({:.0}/s)",
            relay.queued,
            relay.drained_in.as_secs_f64(),
            relay.queued as f64 / relay.drained_in.as_secs_f64().max(0.001)
        ),
        "—",
        None,
    );
    row(
        &format!(
            "backlog drain: {BACKLOG} messages released at once, limit {DRAIN_LIMIT} per 10 s (fake HubSpot {FAKE_LIMIT})"
        ),
        format!(
            "{} published in {:.1} s ({drain_rate:.1}/s of {limit_rate:.0}/s allowed), {} × 429",
            drain.published,
            drain.elapsed.as_secs_f64(),
            drain.rate_limited
        ),
        "0 × 429 (issue 6); at the limit (DESIGN: drains at the limit instead of hammering 429s)",
        Some(drain.rate_limited == 0 && drain.published >= BACKLOG),
    );
    row(
        "memory (RSS) idle, connected and provisioned",
        format!("{:.1} MiB", process.rss_idle_kb as f64 / 1024.0),
        "no target given",
        None,
    );
    row(
        &format!("memory (RSS) with {QUEUED_FOR_MEMORY} messages queued"),
        format!("{:.1} MiB", process.rss_queued_kb as f64 / 1024.0),
        "no target given",
        None,
    );
    row(
        "start-up to ready (`/readyz` 200, provisioning against the fake included)",
        ms(process.startup_to_ready),
        "no target given",
        None,
    );
    row(
        &format!("start-up on {QUEUED_FOR_MEMORY} queued messages (to `/healthz`)"),
        ms(process.startup_with_backlog),
        "no target given",
        None,
    );
    row(
        "binary size (bench profile = release, not stripped)",
        format!("{:.1} MiB", process.size_bytes as f64 / 1024.0 / 1024.0),
        "no target given",
        None,
    );
    if let Some(table) = &relay.runs_table {
        writeln!(
            out,
            "\n## Floor, accept and ingest, run by run\n\nEach run on a fresh store, each ratio to \
             its own run's floor; the table above shows the last run. \"Inbound left\" is the \
             largest backlog at the end of an ingest slice.\n\n{table}"
        )
        .unwrap();
    }
    std::fs::create_dir_all("bench").unwrap();
    std::fs::write("bench/RESULTS.md", &out).unwrap();
    println!("{out}");
    println!("written to bench/RESULTS.md");
}
