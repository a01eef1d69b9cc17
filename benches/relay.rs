//! Relay benchmark: durable acknowledgements per second and latency at 64 concurrent
//! connections next to a non-durable floor (a trivial route on the same server), and the
//! relay latency from the bot's 202 to the fake HubSpot receiving the publish, and HubSpot
//! webhook ingest (verified, de-duplicated, durable acknowledgements).
//!
//! Run: `cargo bench --bench relay` (add `-- --secs 10` for longer phases, `-- --runs 3` to
//! repeat the floor, accept and ingest phases and print each run's ratios and their
//! spread; `BENCH_QUICK=1` stops after those). With `-- --report` it also measures the
//! backlog drain, memory, start-up and binary size of the real binary and writes
//! `bench/RESULTS.md`.

#[path = "report/extra.rs"]
mod extra;
#[path = "../tests/it/support/fake_hubspot/mod.rs"]
mod fake_hubspot;

use fake_hubspot::{FakeConfig, FakeHubSpot};
use handoff::config::Config;
use handoff::secret::Secret;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary's allocator (see `src/main.rs`), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const API_KEY: &str = "bench-api-key-0123456789abcdef";
pub const CONNECTIONS: usize = 64;
/// The relay phases measure handoff, not a rate limit.
const UNLIMITED: u32 = 1_000_000;

fn main() {
    let secs: u64 = std::env::args()
        .skip_while(|a| a != "--secs")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let report = std::env::args().any(|a| a == "--report");
    runtime.block_on(async {
        let relay = run(Duration::from_secs(secs), runs).await;
        if report && let Some(relay) = relay {
            extra::report(&relay).await;
        }
    });
}

/// What the relay phases measured, for the report.
pub struct RelayFigures {
    pub secs: u64,
    pub floor: Load,
    pub accept: Load,
    pub relaying: Load,
    pub ingest_quiet: Load,
    pub inbound_left: usize,
    pub processed_in: Duration,
    pub ingest: Load,
    pub queued: usize,
    pub drained_in: Duration,
    pub from_ack: (Duration, Duration),
    pub from_send: (Duration, Duration),
    /// With `--runs` above 1: each run's floor, accept and ingest, and their spread.
    pub runs_table: Option<String>,
}

/// Starts handoff against `fake`; `connected = false` leaves HubSpot unconfigured, so
/// accepted messages only queue (the cost of accepting, without relaying competing for CPU).
pub async fn start(
    fake: &FakeHubSpot,
    dir: &std::path::Path,
    connected: bool,
    rate_limit_per_10s: u32,
) -> (handoff::app::Running, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        public_url: Some(url.clone()),
        ..Config::default()
    };
    c.hubspot.api_base = fake.url();
    c.hubspot.app_base = fake.url();
    c.hubspot.client_id = Some(FakeHubSpot::CLIENT_ID.into());
    c.hubspot.client_secret = Some(Secret::new(FakeHubSpot::CLIENT_SECRET));
    c.hubspot.app_id = Some(FakeHubSpot::APP_ID.into());
    c.hubspot.developer_api_key = Some(Secret::new(FakeHubSpot::DEVELOPER_API_KEY));
    if connected {
        c.hubspot.refresh_token = Some(Secret::new(fake.refresh_token()));
    }
    c.hubspot.inbox_id = Some(FakeHubSpot::INBOX_ID.into());
    c.hubspot.rate_limit_per_10s = rate_limit_per_10s;
    c.bot.api_key = Some(Secret::new(API_KEY));
    let running = handoff::app::start(c, listener).await.unwrap();
    let http = reqwest::Client::new();
    if connected {
        loop {
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status() == 200
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (running, url)
}

#[derive(Default)]
pub struct Load {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn pct(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// Adds another slice of the same phase.
    fn add(&mut self, slice: Load) {
        self.requests += slice.requests;
        self.elapsed += slice.elapsed;
        self.latencies.extend(slice.latencies);
        self.latencies.sort();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One client per connection, built before any clock starts: each build loads the root
/// certificates (about a millisecond of CPU), which is the load generator's cost, not the
/// server's. A client keeps its connection from one phase to the next.
fn clients() -> Vec<reqwest::Client> {
    (0..CONNECTIONS)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect()
}

/// `CONNECTIONS` clients (one connection each) hammer `request` for `duration`.
async fn load<F>(duration: Duration, request: F) -> Load
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static,
{
    load_on(&clients(), duration, request, None).await
}

/// `clients` hammer `request` (given the client and its connection number) for
/// `duration`; every answer must be a success, and `expect`'s body when given.
async fn load_on<F>(
    clients: &[reqwest::Client],
    duration: Duration,
    request: F,
    expect: Option<&'static str>,
) -> Load
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .enumerate()
        .map(|(conn, client)| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let resp = request(&client, conn).send().await.expect("request");
                    assert!(resp.status().is_success(), "{}", resp.status());
                    let body = resp.bytes().await.unwrap();
                    if let Some(expect) = expect {
                        assert_eq!(&body[..], expect.as_bytes());
                    }
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Load {
        requests: latencies.len(),
        elapsed,
        latencies,
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn open_sessions(url: &str, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut sessions = Vec::new();
    for i in 0..n {
        let r: Value = http
            .post(format!("{url}/api/v1/sessions"))
            .bearer_auth(API_KEY)
            .json(&json!({"user": {"email": format!("bench{i}@example.com")}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sessions.push(r["sessionId"].as_str().unwrap().to_string());
    }
    sessions
}

/// Distinct, validly signed agent replies to `sessions`, like HubSpot sends them: every
/// request is a new event (numbered across slices), so each one is stored and processed,
/// never dropped as a repeat.
fn webhook_request(
    url: &str,
    sessions: Vec<String>,
    channel_id: String,
) -> impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static {
    let webhook = format!("{url}/webhooks/hubspot");
    let thread_ids: Arc<Vec<String>> = Arc::new(
        sessions
            .iter()
            .map(|s| handoff::relay::integration_thread_id(s))
            .collect(),
    );
    let sent = Arc::new(AtomicUsize::new(0));
    move |c, conn| {
        let n = sent.fetch_add(1, Ordering::Relaxed);
        // Built with format! rather than json! to keep the load generator cheap.
        let body = format!(
            r#"{{"type":"OUTGOING_CHANNEL_MESSAGE_CREATED","portalId":"12345678","channelId":"{channel_id}","eventId":"e-{n}","channelIntegrationThreadIds":["{}"],"message":{{"id":"bench{n:012}","text":"agent reply","senders":[{{"actorId":"A-2620022","name":"Sam Agent"}}],"direction":"OUTGOING"}}}}"#,
            thread_ids[conn % thread_ids.len()]
        );
        let ts = chrono::Utc::now().timestamp_millis().to_string();
        let sig = handoff::hubspot::signature::v3(
            FakeHubSpot::CLIENT_SECRET,
            "POST",
            &webhook,
            body.as_bytes(),
            &ts,
        );
        c.post(&webhook)
            .header("content-type", "application/json")
            .header("x-hubspot-signature-v3", sig)
            .header("x-hubspot-request-timestamp", ts)
            .body(body)
    }
}

/// What the webhook answers for one new event.
const ONE_ACCEPTED: Option<&str> = Some(r#"{"accepted":1}"#);

async fn post_webhooks(
    url: &str,
    sessions: Vec<String>,
    channel_id: String,
    duration: Duration,
) -> Load {
    let request = webhook_request(url, sessions, channel_id);
    load_on(&clients(), duration, request, ONE_ACCEPTED).await
}

/// A text message to each connection's own session. URLs and the body are built once, so
/// the load generator (which shares the CPU with the server) does as little as possible
/// per request.
fn message_request(
    url: &str,
    sessions: Vec<String>,
) -> impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + Clone + 'static {
    let urls: Arc<Vec<String>> = Arc::new(
        sessions
            .iter()
            .map(|s| format!("{url}/api/v1/sessions/{s}/messages"))
            .collect(),
    );
    let body = bytes::Bytes::from(
        json!({"type": "text", "payload": {"text": "benchmark message"}}).to_string(),
    );
    move |c, conn| {
        c.post(&urls[conn])
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body.clone())
    }
}

pub async fn post_messages(url: &str, duration: Duration) -> Load {
    let sessions = open_sessions(url, CONNECTIONS).await;
    load(duration, message_request(url, sessions)).await
}

fn row(name: &str, l: &Load) {
    println!(
        "| {name} | {:.0} | {} | {} |",
        l.per_sec(),
        ms(l.pct(0.5)),
        ms(l.pct(0.99))
    );
}

/// What one run of the side-by-side phases measured.
struct Quiet {
    floor: Load,
    accept: Load,
    ingest: Load,
    /// The most HubSpot events still waiting for the inbound worker when an ingest slice
    /// ended, and how long it took to turn them into bot events: a small backlog means the
    /// ingest rate is one the worker sustains, not only one the webhook acknowledges.
    inbound_left: usize,
    processed_in: Duration,
}

/// How many slices each side-by-side phase is cut into.
pub const SLICES: u32 = 5;

/// Waits, looking every `poll`, until `outbox` is empty; returns how many items it held
/// and how long they took.
async fn drain<J: handoff::outbox::Job>(
    outbox: &handoff::outbox::Outbox<J>,
    poll: Duration,
) -> (usize, Duration) {
    let queued = outbox.depth();
    let since = Instant::now();
    while outbox.depth() > 0 {
        tokio::time::sleep(poll).await;
    }
    (queued, since.elapsed())
}

/// The side-by-side phases on a fresh store, HubSpot not connected (so nothing but
/// accepting, or ingest and its inbound worker, competes for the CPU): floor, accept and
/// ingest take turns in `SLICES` slices each, so a change in the shared VM's speed during
/// the run weighs on all three alike instead of on whichever phase it fell in. Each ingest
/// slice's backlog is processed before the next floor slice starts.
async fn quiet_phases(fake: &FakeHubSpot, duration: Duration) -> Quiet {
    let quiet_dir = tempfile::tempdir().unwrap();
    let (quiet, quiet_url) = start(fake, quiet_dir.path(), false, UNLIMITED).await;
    let floor_url = Arc::new(format!("{quiet_url}/healthz"));
    let floor_request = move |c: &reqwest::Client, _| c.get(floor_url.as_str());
    let accept_request = message_request(&quiet_url, open_sessions(&quiet_url, CONNECTIONS).await);
    let ingest_request = webhook_request(
        &quiet_url,
        open_sessions(&quiet_url, CONNECTIONS).await,
        "2930388".into(),
    );
    let clients = clients();
    let slice = duration / SLICES;
    let inbound = &quiet.state.inbound_outbox;
    let mut q = Quiet {
        floor: Load::default(),
        accept: Load::default(),
        ingest: Load::default(),
        inbound_left: 0,
        processed_in: Duration::ZERO,
    };
    for _ in 0..SLICES {
        q.floor
            .add(load_on(&clients, slice, floor_request.clone(), None).await);
        q.accept
            .add(load_on(&clients, slice, accept_request.clone(), None).await);
        q.ingest
            .add(load_on(&clients, slice, ingest_request.clone(), ONE_ACCEPTED).await);
        let (left, processed_in) = drain(inbound, Duration::from_millis(1)).await;
        if left >= q.inbound_left {
            q.inbound_left = left;
            q.processed_in = processed_in;
        }
    }
    quiet.stop().await;
    q
}

/// Each run's ratios to its own floor, and their spread, as a Markdown table.
fn runs_table(runs: &[Quiet]) -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "| run | floor/s | accept/s (of floor) | ingest/s (of floor) | ingest p99 | inbound left (processed in) |\n|---|---|---|---|---|---|\n",
    );
    let mut shares = (Vec::new(), Vec::new());
    for (n, q) in runs.iter().enumerate() {
        let a = 100.0 * q.accept.per_sec() / q.floor.per_sec();
        let i = 100.0 * q.ingest.per_sec() / q.floor.per_sec();
        writeln!(
            out,
            "| {} | {:.0} | {:.0} ({a:.0} %) | {:.0} ({i:.0} %) | {} | {} ({}) |",
            n + 1,
            q.floor.per_sec(),
            q.accept.per_sec(),
            q.ingest.per_sec(),
            ms(q.ingest.pct(0.99)),
            q.inbound_left,
            ms(q.processed_in)
        )
        .unwrap();
        shares.0.push(a);
        shares.1.push(i);
    }
    let spread = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.0}–{hi:.0} %")
    };
    writeln!(
        out,
        "\naccept / floor: {}; ingest / floor: {} over {} runs",
        spread(&shares.0),
        spread(&shares.1),
        runs.len()
    )
    .unwrap();
    out
}

async fn run(duration: Duration, runs: usize) -> Option<RelayFigures> {
    let fake = FakeHubSpot::start(FakeConfig {
        rate_limit_per_10s: None,
        search_rate_limit_per_sec: None,
        ..FakeConfig::default()
    })
    .await;

    // Phases 1 and 2, `runs` times; the report takes the last run.
    let mut quiet = Vec::new();
    for _ in 0..runs {
        quiet.push(quiet_phases(&fake, duration).await);
    }
    let runs_table = (runs > 1).then(|| runs_table(&quiet));
    if let Some(table) = &runs_table {
        print!("{table}");
    }
    let Quiet {
        floor,
        accept,
        ingest: ingest_quiet,
        inbound_left,
        processed_in,
    } = quiet.pop().expect("at least one run");
    if std::env::var_os("BENCH_QUICK").is_some() {
        row("floor", &floor);
        row("accept", &accept);
        row("ingest", &ingest_quiet);
        println!(
            "most inbound events left after an ingest slice: {inbound_left}, processed in {}",
            ms(processed_in)
        );
        return None;
    }

    // Phase 3: connected, so HubSpot publishing runs alongside accepting.
    let dir = tempfile::tempdir().unwrap();
    let (running, url) = start(&fake, dir.path(), true, UNLIMITED).await;
    let relaying = post_messages(&url, duration).await;
    let webhook_sessions = open_sessions(&url, CONNECTIONS).await;
    let channel_id = fake.channels()[0]["id"].as_str().unwrap().to_string();
    let ingest = post_webhooks(&url, webhook_sessions, channel_id, duration).await;
    let (queued, drained_in) =
        drain(&running.state.hubspot_outbox, Duration::from_millis(10)).await;

    // Relay latency, one message at a time on a quiet server.
    let http = reqwest::Client::new();
    let session = open_sessions(&url, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut from_ack = Vec::new();
    let mut from_send = Vec::new();
    for n in 0..300 {
        let before = fake.request_count();
        let sent = Instant::now();
        let resp = http
            .post(format!("{url}/api/v1/sessions/{session}/messages"))
            .bearer_auth(API_KEY)
            .json(&json!({"type": "text", "payload": {"text": format!("relay {n}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let acked = Instant::now();
        let arrived = loop {
            if let Some(r) = fake
                .requests_since(before)
                .into_iter()
                .find(|r| r.method == "POST" && r.path.ends_with("/messages"))
            {
                break r.at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        from_send.push(arrived.saturating_duration_since(sent));
        from_ack.push(arrived.saturating_duration_since(acked));
    }
    from_ack.sort();
    from_send.sort();

    println!(
        "handoff relay benchmark: {CONNECTIONS} connections, {}s per phase",
        duration.as_secs()
    );
    println!("| phase | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    row("floor: GET /healthz", &floor);
    row("durable accept: POST messages, 202 after flush", &accept);
    row("durable accept while relaying to HubSpot", &relaying);
    row(
        "HubSpot webhook ingest: verified, durable 200",
        &ingest_quiet,
    );
    row(
        "HubSpot webhook ingest while processing and relaying",
        &ingest,
    );
    println!(
        "webhook ingest / floor = {:.0} %",
        100.0 * ingest_quiet.per_sec() / floor.per_sec()
    );
    println!(
        "most inbound events left after an ingest slice: {inbound_left}, processed in {}",
        ms(processed_in)
    );
    println!(
        "durable accept / floor = {:.0} %",
        100.0 * accept.per_sec() / floor.per_sec()
    );
    println!(
        "backlog left after the relaying phase: {queued} messages, relayed in {:.1} s ({:.0}/s)",
        drained_in.as_secs_f64(),
        queued as f64 / drained_in.as_secs_f64().max(0.001)
    );
    println!(
        "relay 202 -> HubSpot receives publish: p50 {} p99 {} (request sent -> publish: p50 {} p99 {})",
        ms(percentile(&from_ack, 0.5)),
        ms(percentile(&from_ack, 0.99)),
        ms(percentile(&from_send, 0.5)),
        ms(percentile(&from_send, 0.99))
    );
    running.stop().await;
    Some(RelayFigures {
        secs: duration.as_secs(),
        floor,
        accept,
        relaying,
        ingest_quiet,
        inbound_left,
        processed_in,
        ingest,
        queued,
        drained_in,
        from_ack: (percentile(&from_ack, 0.5), percentile(&from_ack, 0.99)),
        from_send: (percentile(&from_send, 0.5), percentile(&from_send, 0.99)),
        runs_table,
    })
}
