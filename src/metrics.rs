//! Prometheus metrics, process-wide. Counters are bumped where things happen;
//! gauges (actor state, mailbox depth, journal counts) are set at scrape.
use std::sync::OnceLock;

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::{actors::supervision::ActorState, mom::registry::Slot};

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
        registry,
    }
}

pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(build)
}

/// Prometheus text for a scrape, with the gauges brought up to date.
pub fn render(slots: &[std::sync::Arc<Slot>], journal_counts: &[(String, i64)]) -> String {
    let m = get();
    for s in slots {
        m.actor_pending
            .with_label_values(&[s.stats.name])
            .set(s.stats.pending() as i64);
        m.actor_up
            .with_label_values(&[s.stats.name])
            .set(i64::from(s.stats.state() == ActorState::Running));
    }
    for status in ["pending", "done", "dead"] {
        let n = journal_counts
            .iter()
            .find(|(s, _)| s == status)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        m.mom_envelopes.with_label_values(&[status]).set(n);
    }
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut buf)
        .expect("text encoding");
    String::from_utf8(buf).unwrap_or_default()
}
