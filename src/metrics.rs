//! `/metrics` in the Prometheus text format: requests by route and status, queue depths,
//! deliveries and failures by destination and outcome, delivery latency histograms, the
//! HubSpot rate-limit headroom, dead letters and readiness. Counters live in one process-wide
//! registry (as with the usual Prometheus clients), so the worker and the HTTP middleware
//! record without anything threaded through them. No label carries an id or a message body.

use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

/// Upper bounds (seconds) of the delivery latency buckets: from milliseconds to a
/// HubSpot outage.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, u16), u64>,
    deliveries: BTreeMap<(&'static str, &'static str), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// One delivery attempt's outcome for `destination` (`hubspot`, `inbound`, `bot`):
/// `delivered`, `retry`, `permanent` or `deferred`; `latency` (from enqueueing to delivery)
/// only for `delivered`.
pub(crate) fn delivery(
    destination: &'static str,
    outcome: &'static str,
    latency: Option<Duration>,
) {
    let mut r = REGISTRY.lock();
    *r.deliveries.entry((destination, outcome)).or_default() += 1;
    if let Some(latency) = latency {
        let h = r.latency.entry(destination).or_default();
        let secs = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }
}

/// Marks a request no route matched (set by the default service), so its path, which
/// could be anything, never becomes a label.
pub(crate) struct Unmatched;

/// The route pattern a handled request matched (`/api/v1/sessions/{id}`), or `unmatched`.
/// actix records which resource matched while routing, so asking for its pattern walks
/// that recorded path, not the route table; and a pattern never holds a request's own
/// text, so the series are bounded by the routes whatever the traffic.
fn route_label(req: &actix_web::HttpRequest) -> String {
    if req.extensions().get::<Unmatched>().is_some() {
        return "unmatched".into();
    }
    req.match_pattern().unwrap_or_else(|| "unmatched".into())
}

/// Counts every request by its route (not its path, so ids make no new series).
pub(crate) fn middleware<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        let status = res.status().as_u16();
        let route = route_label(res.request());
        *REGISTRY.lock().requests.entry((route, status)).or_default() += 1;
        Ok(res)
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A queue's size when the metrics are read.
pub(crate) struct QueueGauge {
    pub(crate) name: &'static str,
    pub(crate) depth: usize,
    pub(crate) in_flight: usize,
}

/// What `/metrics` reports besides the counters, read by the caller at request time.
pub(crate) struct Gauges {
    pub(crate) queues: Vec<QueueGauge>,
    pub(crate) dead_letters: usize,
    pub(crate) ratelimit_headroom: usize,
    pub(crate) ready: bool,
}

/// The text exposition.
pub(crate) fn render(gauges: &Gauges) -> String {
    let mut out = String::new();
    let w = &mut out;
    let family = |w: &mut String, name: &str, kind: &str, help: &str| {
        writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}").unwrap();
    };
    let r = REGISTRY.lock();
    family(
        w,
        "handoff_http_requests_total",
        "counter",
        "HTTP requests by route pattern and status.",
    );
    for ((route, status), n) in &r.requests {
        writeln!(
            w,
            "handoff_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            escape(route)
        )
        .unwrap();
    }
    family(
        w,
        "handoff_deliveries_total",
        "counter",
        "Delivery attempts by destination and outcome (delivered, retry, permanent, deferred).",
    );
    for ((destination, outcome), n) in &r.deliveries {
        writeln!(
            w,
            "handoff_deliveries_total{{destination=\"{destination}\",outcome=\"{outcome}\"}} {n}"
        )
        .unwrap();
    }
    family(
        w,
        "handoff_delivery_latency_seconds",
        "histogram",
        "From enqueueing to delivery, by destination.",
    );
    for (destination, h) in &r.latency {
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            writeln!(w, "handoff_delivery_latency_seconds_bucket{{destination=\"{destination}\",le=\"{bound}\"}} {count}").unwrap();
        }
        writeln!(w, "handoff_delivery_latency_seconds_bucket{{destination=\"{destination}\",le=\"+Inf\"}} {}", h.count).unwrap();
        writeln!(
            w,
            "handoff_delivery_latency_seconds_sum{{destination=\"{destination}\"}} {}",
            h.sum
        )
        .unwrap();
        writeln!(
            w,
            "handoff_delivery_latency_seconds_count{{destination=\"{destination}\"}} {}",
            h.count
        )
        .unwrap();
    }
    drop(r);
    family(
        w,
        "handoff_outbox_depth",
        "gauge",
        "Items waiting or in flight, by queue.",
    );
    for q in &gauges.queues {
        writeln!(
            w,
            "handoff_outbox_depth{{queue=\"{}\"}} {}",
            q.name, q.depth
        )
        .unwrap();
    }
    family(
        w,
        "handoff_outbox_in_flight",
        "gauge",
        "Items being delivered now, by queue.",
    );
    for q in &gauges.queues {
        writeln!(
            w,
            "handoff_outbox_in_flight{{queue=\"{}\"}} {}",
            q.name, q.in_flight
        )
        .unwrap();
    }
    family(
        w,
        "handoff_dead_letters",
        "gauge",
        "Work that failed for good and waits for the operator.",
    );
    writeln!(w, "handoff_dead_letters {}", gauges.dead_letters).unwrap();
    family(
        w,
        "handoff_hubspot_ratelimit_headroom",
        "gauge",
        "HubSpot calls left in the rolling 10 s window, by handoff's count.",
    );
    writeln!(
        w,
        "handoff_hubspot_ratelimit_headroom {}",
        gauges.ratelimit_headroom
    )
    .unwrap();
    family(
        w,
        "handoff_ready",
        "gauge",
        "1 when HubSpot is connected and the channel provisioned.",
    );
    writeln!(w, "handoff_ready {}", u8::from(gauges.ready)).unwrap();
    out
}
