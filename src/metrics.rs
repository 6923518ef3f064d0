//! Prometheus metrics, process-wide. Counters are bumped where things happen;
//! gauges (actor state, mailbox depth, journal counts) are set at scrape.
use std::sync::OnceLock;

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub actor_processed: IntCounterVec,
    pub actor_failures: IntCounterVec,
    pub actor_restarts: IntCounterVec,
    pub actor_pending: IntGaugeVec,
    pub actor_up: IntGaugeVec,
    pub mom_envelopes: IntGaugeVec,
    pub dead_lettered: IntCounterVec,
    pub journal_group_size: Histogram,
    pub journal_commit_seconds: Histogram,
    pub http_requests: HistogramVec,
    pub grpc_requests: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub queue_in_flight: IntGaugeVec,
    pub queue_dead: IntGaugeVec,
    pub queue_published: IntCounterVec,
    pub queue_delivered: IntCounterVec,
}

fn build() -> Metrics {
    let registry = Registry::new_custom(Some("mailroom".into()), None).expect("registry");
    let counter = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
        registry.register(Box::new(c.clone())).expect("register");
        c
    };
    let gauge = |name: &str, help: &str, labels: &[&str]| {
        let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric");
        registry.register(Box::new(g.clone())).expect("register");
        g
    };
    let latency = exponential_buckets(0.0005, 2.0, 16).expect("buckets");
    let histogram_vec = |name: &str, help: &str, labels: &[&str]| {
        let h = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(latency.clone()),
            labels,
        )
        .expect("metric");
        registry.register(Box::new(h.clone())).expect("register");
        h
    };
    let group = Histogram::with_opts(
        HistogramOpts::new(
            "mom_journal_group_size",
            "Requests committed together by the journal writer",
        )
        .buckets(exponential_buckets(1.0, 2.0, 12).expect("buckets")),
    )
    .expect("metric");
    registry
        .register(Box::new(group.clone()))
        .expect("register");
    let commit = Histogram::with_opts(
        HistogramOpts::new(
            "mom_journal_commit_seconds",
            "Time to apply and commit (fsync) one journal group",
        )
        .buckets(latency.clone()),
    )
    .expect("metric");
    registry
        .register(Box::new(commit.clone()))
        .expect("register");
    Metrics {
        actor_processed: counter(
            "actor_processed_total",
            "Envelopes an actor processed and the MOM acknowledged",
            &["actor"],
        ),
        actor_failures: counter(
            "actor_failures_total",
            "Failed deliveries (panics, store errors)",
            &["actor"],
        ),
        actor_restarts: counter("actor_restarts_total", "Supervised restarts", &["actor"]),
        actor_pending: gauge(
            "actor_mailbox_depth",
            "Envelopes pending or in flight for an actor",
            &["actor"],
        ),
        actor_up: gauge("actor_up", "1 when the actor is running", &["actor"]),
        mom_envelopes: gauge(
            "mom_envelopes",
            "Journaled envelopes by status",
            &["status"],
        ),
        dead_lettered: counter(
            "mom_dead_lettered_total",
            "Envelopes moved to the dead letters",
            &["destination"],
        ),
        journal_group_size: group,
        journal_commit_seconds: commit,
        http_requests: histogram_vec(
            "http_request_duration_seconds",
            "REST request latency",
            &["method", "route", "status"],
        ),
        grpc_requests: histogram_vec(
            "grpc_request_duration_seconds",
            "gRPC request latency",
            &["method", "code"],
        ),
        queue_depth: gauge(
            "queue_depth",
            "Messages waiting in a user queue (ready or delayed), set at scrape",
            &["queue"],
        ),
        queue_in_flight: gauge(
            "queue_in_flight",
            "Messages leased from a user queue and not yet acked, set at scrape",
            &["queue"],
        ),
        queue_dead: gauge(
            "queue_dead",
            "Messages in a user queue's dead letters, set at scrape",
            &["queue"],
        ),
        queue_published: counter(
            "queue_published_total",
            "Messages published into a user queue (directly or through a topic)",
            &["queue"],
        ),
        queue_delivered: counter(
            "queue_delivered_total",
            "Messages leased to consumers of a user queue (redeliveries included)",
            &["queue"],
        ),
        registry,
    }
}

pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(build)
}

/// Counts messages published into user queue `queue`.
pub fn queue_published(queue: &str, n: u64) {
    get().queue_published.with_label_values(&[queue]).inc_by(n);
}

/// Counts messages delivered (leased) from user queue `queue`.
pub fn queue_delivered(queue: &str, n: u64) {
    get().queue_delivered.with_label_values(&[queue]).inc_by(n);
}

/// Sets the per-queue gauges to `(queue, depth, in_flight, dead)`; queues
/// not listed (deleted ones) disappear.
pub fn set_queue_gauges<'a>(queues: impl IntoIterator<Item = (&'a str, i64, i64, i64)>) {
    let m = get();
    m.queue_depth.reset();
    m.queue_in_flight.reset();
    m.queue_dead.reset();
    for (q, depth, in_flight, dead) in queues {
        m.queue_depth.with_label_values(&[q]).set(depth);
        m.queue_in_flight.with_label_values(&[q]).set(in_flight);
        m.queue_dead.with_label_values(&[q]).set(dead);
    }
}

/// Drops a deleted queue's series.
pub fn forget_queue(queue: &str) {
    let m = get();
    for g in [&m.queue_depth, &m.queue_in_flight, &m.queue_dead] {
        let _ = g.remove_label_values(&[queue]);
    }
    for c in [&m.queue_published, &m.queue_delivered] {
        let _ = c.remove_label_values(&[queue]);
    }
}

/// Sets one actor's scrape-time gauges.
pub fn set_actor(name: &str, pending: u64, up: bool) {
    let m = get();
    m.actor_pending
        .with_label_values(&[name])
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    m.actor_up.with_label_values(&[name]).set(i64::from(up));
}

/// Sets the journal's envelope counts by status (absent statuses are 0).
pub fn set_journal_counts(counts: &[(String, i64)]) {
    let m = get();
    for status in ["pending", "done", "dead"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == status)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        m.mom_envelopes.with_label_values(&[status]).set(n);
    }
}

/// Every metric as Prometheus text.
pub fn render() -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&get().registry.gather(), &mut buf)
        .expect("text encoding");
    String::from_utf8(buf).unwrap_or_default()
}
