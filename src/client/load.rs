//! `mailroom load`: drive a node like many users at once, optionally kill
//! actors while it runs (`--chaos`), then check — Jepsen-style — that the
//! node kept its promise.
//!
//! 1. **Setup.** Registers its own users (deposit each), creates its own
//!    products with known stock (admin `POST /products`), and waits until
//!    inventory knows them and the node is idle. Probes `GET /queues`: a
//!    404 means the node has no user queues and that part is skipped.
//! 2. **Mix.** `--concurrency` workers, each acting as its own user: browse,
//!    search, cart + order from the cart, orders by card (some with the
//!    always-declined card) and by wallet, transfers, deposits, cancels,
//!    queue publish/receive/ack. Every command carries an `Idempotency-Key`
//!    and is retried with the same key on transport errors, 503 and 429; 202s
//!    are followed to their operation's end. A request whose fate stays
//!    unknown is kept and replayed (same key) by the checker, which is how
//!    a careful client learns what happened.
//! 3. **Chaos** (`--chaos`): every `--chaos-interval`, a random running
//!    actor from `/admin/actors` (the MOM included) is killed with a random
//!    `down_ms` (0..1500) or, now and then, has its next one or two messages
//!    crash — with at most three actors down at once, so the node heals
//!    while it is hurt rather than staying down. Faults are cleared at the end.
//! 4. **Checker.** After quiescence (every order settled, every actor
//!    running with nothing pending, in the post office and in the journal)
//!    it verifies the invariants of `PRODUCT.md` §8 against what the node
//!    acknowledged, prints PASS/FAIL for each, and exits 3 if any failed.
//!    It never waits without a bound (`Watch`): when nothing moves for
//!    `--stall-timeout`, or after `--settle-timeout` in all, it fails "the
//!    system settles" with what is stuck (actors, backlogs, the oldest
//!    pending envelopes, orders, requests) and skips what it could not
//!    read. Every request has the client's 20 s timeout.
//!
//! `--state FILE` writes what the run created and what was acknowledged;
//! `--check --state FILE` re-runs only the checker against it (e.g. after
//! tampering with a store, to see the checker fail).
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Args;
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    api::{Api, Attempt, ClientError, Outcome, Policy, V1},
    output::{money, table, Out},
    seg, SETTLED,
};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Run for this long (e.g. `30s`, `2m`); the default is 30 s.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "orders")]
    pub duration: Option<Duration>,
    /// Stop once this many orders have been placed.
    #[arg(long)]
    pub orders: Option<u64>,
    /// Concurrent workers, each acting as its own user.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Kill a random actor every `--chaos-interval` while the load runs.
    #[arg(long)]
    pub chaos: bool,
    /// How often chaos strikes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub chaos_interval: Duration,
    /// Seed for the mix and the chaos (default: random; the report shows it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The admin account (to create products and inject faults).
    #[arg(long, env = "MAILROOM_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,
    /// The admin's password.
    #[arg(long, env = "MAILROOM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Write the whole report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the run's state (users, products, acknowledged requests) to this
    /// file; with `--check`, read it instead.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Only run the checker, against the state a previous run wrote.
    #[arg(long, requires = "state")]
    pub check: bool,
    /// The most the checker waits, in all, for the node to settle (replays,
    /// queue drain and quiescence included).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    pub settle_timeout: Duration,
    /// The checker stops waiting when nothing moves for this long (no actor
    /// changes state, backlog or counters, and the checker learns nothing
    /// new): it prints what is stuck and fails "the system settles".
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub stall_timeout: Duration,
}

/// Exit code when an invariant fails.
pub const EXIT_FAIL: i32 = 3;

const GOOD_CARD: &str = "4242424242424242";
const DECLINED_CARD: &str = "4000000000000002";
const INITIAL_FUNDS: i64 = 50_000;
const AUTHORS: [&str; 6] = [
    "Tolkien",
    "Le Guin",
    "Pratchett",
    "Austen",
    "Borges",
    "Calvino",
];

// ---- the state a run leaves (and `--check` reads) ---------------------------

/// Everything the checker needs: what the run created and what the node
/// acknowledged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Tags the run's users, skus and keys.
    pub run: String,
    pub url: String,
    pub users: Vec<LoadUser>,
    pub products: Vec<LoadProduct>,
    /// Acknowledged deposits (2xx, or a 202 whose operation is done).
    pub deposits: Vec<DepositRec>,
    pub transfers: Vec<TransferRec>,
    pub orders: Vec<OrderRec>,
    /// Requests whose fate the run could not learn; the checker repeats them
    /// with their key (and then knows).
    pub unresolved: Vec<Replay>,
    /// Set when the node has user queues and the run used them.
    pub queue: Option<QueueRec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadUser {
    pub email: String,
    pub password: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadProduct {
    pub sku: String,
    pub price_cents: i64,
    pub initial_stock: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepositRec {
    pub user: usize,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRec {
    pub id: String,
    pub from: usize,
    pub to: usize,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRec {
    pub id: String,
    pub user: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueRec {
    pub name: String,
    /// Acknowledged publishes: tag → message id.
    pub published: BTreeMap<String, String>,
    /// Every delivery seen, in order.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub tag: String,
    pub id: String,
    /// The ack was answered 2xx.
    pub acked: bool,
}

/// A command to repeat with its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub user: usize,
    pub what: ReplayKind,
    pub method: String,
    pub path: String,
    pub body: Value,
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplayKind {
    Deposit { amount_cents: i64 },
    Transfer { to: usize, amount_cents: i64 },
    Order,
    Publish { tag: String },
}

// ---- statistics -----------------------------------------------------------------

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Per kind of operation.
struct KindStats {
    count: u64,
    ok: u64,
    rejected: u64,
    failed: u64,
    /// Time to outcome (retries and 202 following included), µs.
    time: Histogram<u64>,
}

impl Default for KindStats {
    fn default() -> Self {
        KindStats {
            count: 0,
            ok: 0,
            rejected: 0,
            failed: 0,
            time: histogram(),
        }
    }
}

/// One worker's numbers (merged at the end).
#[derive(Default)]
struct Stats {
    kinds: BTreeMap<&'static str, KindStats>,
    /// Per request (not per operation), µs.
    latency: Option<Histogram<u64>>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    requests: u64,
    polls: u64,
    accepted: u64,
    accepted_done: Option<Histogram<u64>>,
}

impl Stats {
    fn attempt(&mut self, a: &Attempt) {
        if a.poll {
            self.polls += 1;
            return;
        }
        self.requests += 1;
        self.latency
            .get_or_insert_with(histogram)
            .saturating_record(a.latency.as_micros() as u64);
        match a.status {
            Some(s) => {
                *self.statuses.entry(s).or_default() += 1;
                if s == 202 {
                    self.accepted += 1;
                }
            }
            None => self.transport_errors += 1,
        }
    }

    /// Records an operation's outcome; true if it counts as an error.
    fn finish(&mut self, kind: &'static str, out: &Outcome, took: Duration) -> bool {
        let k = self.kinds.entry(kind).or_default();
        k.count += 1;
        k.time.saturating_record(took.as_micros() as u64);
        match out {
            Outcome::Done { accepted_for, .. } => {
                k.ok += 1;
                if let Some(d) = accepted_for {
                    self.accepted_done
                        .get_or_insert_with(histogram)
                        .saturating_record(d.as_micros() as u64);
                }
                false
            }
            // A business answer (insufficient funds, too late to cancel).
            Outcome::Rejected(e) if matches!(e.status(), Some(404 | 409 | 422)) => {
                k.rejected += 1;
                false
            }
            _ => {
                k.failed += 1;
                true
            }
        }
    }

    fn merge(&mut self, o: Stats) {
        for (kind, s) in o.kinds {
            let k = self.kinds.entry(kind).or_default();
            k.count += s.count;
            k.ok += s.ok;
            k.rejected += s.rejected;
            k.failed += s.failed;
            let _ = k.time.add(&s.time);
        }
        merge_hist(&mut self.latency, o.latency);
        merge_hist(&mut self.accepted_done, o.accepted_done);
        for (s, n) in o.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.transport_errors += o.transport_errors;
        self.requests += o.requests;
        self.polls += o.polls;
        self.accepted += o.accepted;
    }
}

fn merge_hist(into: &mut Option<Histogram<u64>>, from: Option<Histogram<u64>>) {
    if let Some(h) = from {
        let _ = into.get_or_insert_with(histogram).add(&h);
    }
}

// ---- the report -----------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(h: Option<&Histogram<u64>>) -> Percentiles {
        let Some(h) = h.filter(|h| !h.is_empty()) else {
            return Percentiles::default();
        };
        let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub count: u64,
    pub ok: u64,
    /// Business refusals (404/409/422: insufficient funds, too late to cancel, ...).
    pub rejected: u64,
    /// Errors: dead-lettered, unexpected status, or fate unknown.
    pub failed: u64,
    /// Time to outcome, retries and 202 following included.
    pub time: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultRec {
    pub at_ms: u64,
    pub actor: String,
    pub action: String,
    pub down_ms: Option<u64>,
    pub count: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub url: String,
    pub run: String,
    pub seed: u64,
    pub concurrency: u16,
    pub users: usize,
    pub target: String,
    pub chaos_interval_ms: Option<u64>,
    pub elapsed_s: f64,
    pub operations: u64,
    pub requests: u64,
    pub ops_per_s: f64,
    pub requests_per_s: f64,
    /// Per request (operation polls excluded).
    pub latency: Percentiles,
    pub kinds: BTreeMap<String, KindReport>,
    pub status_codes: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub operation_polls: u64,
    /// 202s received, and the time from first send to their operation being done.
    pub accepted: u64,
    pub accepted_completion: Percentiles,
    pub orders_placed: u64,
    pub faults_injected: u64,
    pub faults: Vec<FaultRec>,
    pub queues: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    pub name: String,
    /// "PASS", "FAIL" or "SKIP".
    pub verdict: String,
    pub detail: String,
    /// The first violations found.
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub settled: bool,
    pub settle_s: f64,
    pub replayed: usize,
    pub orders: BTreeMap<String, u64>,
    pub invariants: Vec<Invariant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run: Option<RunReport>,
    pub checker: CheckReport,
    pub pass: bool,
}

// ---- entry ------------------------------------------------------------------------

/// Runs `mailroom load`; returns the exit code.
pub async fn main(api: &Api, out: Out, args: LoadArgs) -> i32 {
    match run(api, out, args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn run(api: &Api, out: Out, args: LoadArgs) -> Result<i32, ClientError> {
    let password = args.admin_password.clone().ok_or_else(|| {
        ClientError::Other(
            "load needs the admin's password (to create products and inject faults): \
             --admin-password or MAILROOM_ADMIN_PASSWORD"
                .into(),
        )
    })?;
    let admin = api.with_token(login(api, &args.admin_email, &password).await?);

    let (run_report, mut state, users) = if args.check {
        let path = args.state.as_ref().expect("clap requires --state");
        let bytes = std::fs::read(path)
            .map_err(|e| ClientError::Other(format!("reading {}: {e}", path.display())))?;
        let state: State = serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Other(format!("{} is not a load state: {e}", path.display()))
        })?;
        let mut users = Vec::new();
        for u in &state.users {
            users.push(api.with_token(login(api, &u.email, &u.password).await?));
        }
        (None, state, users)
    } else {
        let (r, s, u) = load(api, &admin, &args).await?;
        (Some(r), s, u)
    };

    let checker = check(
        &admin,
        &users,
        &mut state,
        args.settle_timeout,
        args.stall_timeout,
    )
    .await;
    if let Some(path) = &args.state {
        write_json(path, &state)?;
    }
    let pass = checker.invariants.iter().all(|i| i.verdict != "FAIL");
    let report = Report {
        run: run_report,
        checker,
        pass,
    };
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if out.json {
        out.print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        print_report(&report);
    }
    Ok(if pass { 0 } else { EXIT_FAIL })
}

fn write_json<T: Serialize>(path: &std::path::Path, v: &T) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec_pretty(v).expect("serializes");
    std::fs::write(path, bytes)
        .map_err(|e| ClientError::Other(format!("writing {}: {e}", path.display())))
}

async fn login(api: &Api, email: &str, password: &str) -> Result<String, ClientError> {
    let v = api
        .execute(
            Method::POST,
            &format!("{V1}/auth/login"),
            Some(&json!({ "email": email, "password": password })),
            None,
            Policy::PATIENT,
            &mut |_| {},
        )
        .await
        .into_result()
        .map_err(|e| ClientError::Other(format!("logging in as {email}: {e}")))?;
    Ok(v["token"].as_str().unwrap_or_default().to_owned())
}

// ---- setup and the mix ---------------------------------------------------------------

/// What every worker knows.
struct Plan {
    run: String,
    users: Vec<LoadUser>,
    products: Vec<LoadProduct>,
    queue: Option<String>,
}

/// Live counters (the progress bar) and the stop conditions.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Orders still to place (`--orders`); `i64::MAX` for a timed run.
    orders_left: AtomicI64,
    orders_placed: AtomicU64,
    ops: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    faults: AtomicU64,
}

async fn load(
    api: &Api,
    admin: &Api,
    args: &LoadArgs,
) -> Result<(RunReport, State, Vec<Api>), ClientError> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let concurrency = args.concurrency as usize;
    let n_users = concurrency.max(2);
    let mut state = State {
        run: run.clone(),
        url: api.base().to_owned(),
        ..State::default()
    };
    eprintln!(
        "mailroom load: run {run}, seed {seed}, {concurrency} workers, {n_users} users against {}",
        api.base()
    );

    // Users: register and fund them.
    let registered: Vec<Result<(LoadUser, String), ClientError>> =
        futures::stream::iter(0..n_users)
            .map(|i| register_user(api, &run, i))
            .buffered(8)
            .collect()
            .await;
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    for r in registered {
        let (u, t) = r?;
        users.push(u);
        tokens.push(api.with_token(t));
    }
    let deposits: Vec<(usize, Outcome)> = futures::stream::iter(tokens.iter().enumerate())
        .map(|(i, t)| {
            let key = format!("load-{run}-fund-{i}");
            async move {
                let out = t
                    .execute(
                        Method::POST,
                        &format!("{V1}/wallet/deposit"),
                        Some(&json!({ "amount_cents": INITIAL_FUNDS })),
                        Some(&key),
                        Policy::PATIENT,
                        &mut |_| {},
                    )
                    .await;
                (i, out)
            }
        })
        .buffered(8)
        .collect()
        .await;
    for (i, out) in deposits {
        out.into_result()
            .map_err(|e| ClientError::Other(format!("funding load user {i}: {e}")))?;
        state.deposits.push(DepositRec {
            user: i,
            amount_cents: INITIAL_FUNDS,
        });
    }

    // Products with known stock; one scarce, so some orders run out.
    let mut products = Vec::new();
    for (i, author) in AUTHORS.iter().enumerate() {
        let p = LoadProduct {
            sku: format!("LOAD-{run}-{i}"),
            price_cents: 150 + 275 * i as i64,
            initial_stock: if i == 0 { 40 } else { 1_000_000 },
        };
        let body = json!({
            "sku": p.sku, "title": format!("Load book {i} of run {run}"), "author": author,
            "category": format!("load-{run}"), "description": "created by mailroom load",
            "price_cents": p.price_cents, "initial_stock": p.initial_stock,
        });
        admin
            .execute(
                Method::POST,
                &format!("{V1}/products"),
                Some(&body),
                Some(&format!("load-{run}-product-{i}")),
                Policy::PATIENT,
                &mut |_| {},
            )
            .await
            .into_result()
            .map_err(|e| ClientError::Other(format!("creating product {}: {e}", p.sku)))?;
        products.push(p);
    }
    for p in &products {
        let until = Instant::now() + Duration::from_secs(30);
        while admin
            .get::<Value>(&format!("{V1}/inventory/{}", seg(&p.sku)))
            .await
            .is_err()
        {
            if Instant::now() > until {
                return Err(ClientError::Other(format!(
                    "inventory never learned about {}",
                    p.sku
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The cart and the rest learn about products from events: let them.
    let _ = quiesce(admin, Duration::from_secs(30)).await;

    // User queues, if this node has them.
    let (queue, queues_note) = setup_queue(&tokens, &users, &run).await;
    state.queue = queue.as_ref().map(|name| QueueRec {
        name: name.clone(),
        ..QueueRec::default()
    });
    eprintln!("queues: {queues_note}");

    state.users = users.clone();
    state.products = products.clone();
    let plan = Arc::new(Plan {
        run: run.clone(),
        users,
        products,
        queue,
    });
    let shared = Arc::new(Shared {
        orders_left: AtomicI64::new(
            args.orders
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
                .unwrap_or(i64::MAX),
        ),
        ..Shared::default()
    });
    let duration = match (args.orders, args.duration) {
        (Some(_), _) => None,
        (None, d) => Some(d.unwrap_or(Duration::from_secs(30))),
    };
    let target = match (args.orders, duration) {
        (Some(n), _) => format!("{n} orders"),
        (None, Some(d)) => format!("{}", humantime::format_duration(d)),
        (None, None) => unreachable!(),
    };

    // Go.
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let progress = progress_bar(args.orders, duration);
    let ticker = {
        let (shared, pb) = (shared.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let ops = shared.ops.load(Relaxed);
                match duration {
                    Some(_) => pb.set_position(started.elapsed().as_secs()),
                    None => pb.set_position(shared.orders_placed.load(Relaxed)),
                }
                pb.set_message(format!(
                    "{ops} ops ({:.0}/s) · {} orders · {} errors · {} retries · {} faults",
                    ops as f64 / secs,
                    shared.orders_placed.load(Relaxed),
                    shared.errors.load(Relaxed),
                    shared.retries.load(Relaxed),
                    shared.faults.load(Relaxed),
                ));
                if shared.stop.load(Relaxed) {
                    break;
                }
            }
        })
    };
    let chaos = args.chaos.then(|| {
        tokio::spawn(chaos_loop(
            admin.clone(),
            shared.clone(),
            args.chaos_interval,
            seed ^ 0xC4A0_5C4A_05C4_A05C,
            started,
            deadline,
        ))
    });
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let worker = Worker {
            w,
            me: w % n_users,
            api: tokens[w % n_users].clone(),
            rng: StdRng::seed_from_u64(seed.wrapping_add(w as u64 * 0x9E37_79B9)),
            plan: plan.clone(),
            shared: shared.clone(),
            deadline,
            seq: 0,
            log: Log::default(),
            my_orders: Vec::new(),
        };
        workers.push(tokio::spawn(worker.run()));
    }
    let mut stats = Stats::default();
    for w in workers {
        let log = w
            .await
            .map_err(|e| ClientError::Other(format!("a worker panicked: {e}")))?;
        stats.merge(log.stats);
        state.deposits.extend(log.deposits);
        state.transfers.extend(log.transfers);
        state.orders.extend(log.orders);
        state.unresolved.extend(log.unresolved);
        if let Some(q) = state.queue.as_mut() {
            q.published.extend(log.published);
            q.deliveries.extend(log.deliveries);
        }
    }
    let elapsed = started.elapsed();
    shared.stop.store(true, Relaxed);
    let faults = match chaos {
        Some(c) => c.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let _ = ticker.await;
    progress.finish_and_clear();
    if args.chaos {
        clear_faults(admin).await;
    }

    let ops: u64 = stats.kinds.values().map(|k| k.count).sum();
    let secs = elapsed.as_secs_f64().max(0.001);
    let report = RunReport {
        url: api.base().to_owned(),
        run,
        seed,
        concurrency: args.concurrency,
        users: n_users,
        target,
        chaos_interval_ms: args.chaos.then_some(args.chaos_interval.as_millis() as u64),
        elapsed_s: (secs * 100.0).round() / 100.0,
        operations: ops,
        requests: stats.requests,
        ops_per_s: (ops as f64 / secs * 10.0).round() / 10.0,
        requests_per_s: (stats.requests as f64 / secs * 10.0).round() / 10.0,
        latency: Percentiles::of(stats.latency.as_ref()),
        kinds: stats
            .kinds
            .iter()
            .map(|(k, s)| {
                (
                    k.to_string(),
                    KindReport {
                        count: s.count,
                        ok: s.ok,
                        rejected: s.rejected,
                        failed: s.failed,
                        time: Percentiles::of(Some(&s.time)),
                    },
                )
            })
            .collect(),
        status_codes: stats
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        transport_errors: stats.transport_errors,
        operation_polls: stats.polls,
        accepted: stats.accepted,
        accepted_completion: Percentiles::of(stats.accepted_done.as_ref()),
        orders_placed: shared.orders_placed.load(Relaxed),
        faults_injected: faults.len() as u64,
        faults,
        queues: queues_note,
    };
    Ok((report, state, tokens))
}

async fn register_user(api: &Api, run: &str, i: usize) -> Result<(LoadUser, String), ClientError> {
    let email = format!("load-{run}-{i}@example.com");
    let password = format!("load-{run}-{}", uuid::Uuid::new_v4().simple());
    let v = api
        .execute(
            Method::POST,
            &format!("{V1}/auth/register"),
            Some(
                &json!({ "email": email, "password": password, "name": format!("Load user {i}") }),
            ),
            Some(&format!("load-{run}-register-{i}")),
            Policy::PATIENT,
            &mut |_| {},
        )
        .await
        .into_result()
        .map_err(|e| ClientError::Other(format!("registering {email}: {e}")))?;
    // 201 carries {user, token}; a followed 202 only the user.
    let id = v["user"]["id"]
        .as_str()
        .or(v["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let token = match v["token"].as_str() {
        Some(t) => t.to_owned(),
        None => login(api, &email, &password).await?,
    };
    Ok((
        LoadUser {
            email,
            password,
            id,
        },
        token,
    ))
}

/// Creates the run's queue (owned by user 0, granted to the others) if the
/// node has user queues; says why not otherwise.
async fn setup_queue(tokens: &[Api], users: &[LoadUser], run: &str) -> (Option<String>, String) {
    let owner = &tokens[0];
    match owner
        .send(Method::GET, &format!("{V1}/queues"), None, None)
        .await
    {
        Ok(r) if r.status == 404 => {
            return (
                None,
                "skipped: GET /api/v1/queues answered 404 (this node has no user queues)".into(),
            )
        }
        Ok(r) if !r.ok() => {
            return (
                None,
                format!("skipped: GET /api/v1/queues answered {}", r.status),
            )
        }
        Err(e) => return (None, format!("skipped: GET /api/v1/queues: {e}")),
        Ok(_) => {}
    }
    let name = format!("load-{run}");
    let created = owner
        .execute(
            Method::POST,
            &format!("{V1}/queues"),
            Some(&json!({ "name": name, "visibility_timeout_s": 10 })),
            Some(&format!("load-{run}-queue")),
            Policy::PATIENT,
            &mut |_| {},
        )
        .await
        .into_result();
    if let Err(e) = created {
        return (None, format!("skipped: creating queue {name}: {e}"));
    }
    for (i, u) in users.iter().enumerate().skip(1) {
        let granted = owner
            .execute(
                Method::POST,
                &format!("{V1}/queues/{}/grants", seg(&name)),
                Some(&json!({ "user_email": u.email, "permissions": ["publish", "consume"] })),
                Some(&format!("load-{run}-grant-{i}")),
                Policy::PATIENT,
                &mut |_| {},
            )
            .await
            .into_result();
        if let Err(e) = granted {
            return (
                None,
                format!("skipped: granting {name} to {}: {e}", u.email),
            );
        }
    }
    (Some(name.clone()), format!("ran on queue {name}"))
}

fn progress_bar(orders: Option<u64>, duration: Option<Duration>) -> ProgressBar {
    let len = orders.or(duration.map(|d| d.as_secs().max(1))).unwrap_or(1);
    let pb = ProgressBar::new(len);
    let unit = if orders.is_some() { "orders" } else { "s" };
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} · {{msg}}"
        ))
        .expect("a valid template"),
    );
    pb
}

/// What one worker saw and got acknowledged.
#[derive(Default)]
struct Log {
    stats: Stats,
    deposits: Vec<DepositRec>,
    transfers: Vec<TransferRec>,
    orders: Vec<OrderRec>,
    unresolved: Vec<Replay>,
    published: BTreeMap<String, String>,
    deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Browse,
    Search,
    Product,
    CartOrder,
    CardOrder,
    DeclinedOrder,
    WalletOrder,
    Transfer,
    Deposit,
    Wallet,
    Cancel,
    ListOrders,
    Publish,
    Receive,
}

/// The mix, as weights.
const MIX: [(Op, u32); 14] = [
    (Op::Browse, 10),
    (Op::Search, 6),
    (Op::Product, 6),
    (Op::CartOrder, 14),
    (Op::CardOrder, 16),
    (Op::DeclinedOrder, 4),
    (Op::WalletOrder, 12),
    (Op::Transfer, 12),
    (Op::Deposit, 4),
    (Op::Wallet, 4),
    (Op::Cancel, 3),
    (Op::ListOrders, 3),
    (Op::Publish, 6),
    (Op::Receive, 6),
];

struct Worker {
    w: usize,
    /// The user this worker acts as.
    me: usize,
    api: Api,
    rng: StdRng,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    deadline: Option<Instant>,
    seq: u64,
    log: Log,
    my_orders: Vec<String>,
}

impl Worker {
    async fn run(mut self) -> Log {
        let queues = self.plan.queue.is_some();
        let mix: Vec<(Op, u32)> = MIX
            .iter()
            .copied()
            .filter(|(op, _)| queues || !matches!(op, Op::Publish | Op::Receive))
            .collect();
        let total: u32 = mix.iter().map(|m| m.1).sum();
        loop {
            if self.shared.stop.load(Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            let mut pick = self.rng.random_range(0..total);
            let op = mix
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map(|m| m.0)
                .unwrap_or(Op::Browse);
            let is_order = matches!(
                op,
                Op::CartOrder | Op::CardOrder | Op::DeclinedOrder | Op::WalletOrder
            );
            if is_order && self.shared.orders_left.fetch_sub(1, Relaxed) <= 0 {
                // `--orders` reached: this run is over.
                self.shared.stop.store(true, Relaxed);
                break;
            }
            self.step(op).await;
        }
        self.log
    }

    fn key(&mut self) -> String {
        self.seq += 1;
        format!("load-{}-{}-{}", self.plan.run, self.w, self.seq)
    }

    /// A product: the scarce one (index 0) now and then, so some orders
    /// run out of stock; otherwise any other.
    fn sku(&mut self) -> String {
        let n = self.plan.products.len();
        let i = if n == 1 || self.rng.random_bool(0.05) {
            0
        } else {
            self.rng.random_range(1..n)
        };
        self.plan.products[i].sku.clone()
    }

    fn lines(&mut self) -> Vec<(String, i64)> {
        let n = self.rng.random_range(1..=2);
        let mut lines: BTreeMap<String, i64> = BTreeMap::new();
        for _ in 0..n {
            let sku = self.sku();
            *lines.entry(sku).or_default() += self.rng.random_range(1..=3);
        }
        lines.into_iter().collect()
    }

    /// One operation: sends (with a key for commands), records it.
    async fn op(
        &mut self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        retry_body: Option<Value>,
        keyed: bool,
    ) -> (Outcome, Option<String>) {
        let key = keyed.then(|| self.key());
        let started = Instant::now();
        let (api, log, shared) = (&self.api, &mut self.log, &self.shared);
        let out = api
            .execute_with_retry_body(
                method,
                path,
                body.as_ref(),
                retry_body.as_ref(),
                key.as_deref(),
                Policy::PATIENT,
                &mut |a| {
                    // Transport errors, 5xx and 429 are what a retry follows.
                    if !a.poll && !matches!(a.status, Some(200..=428 | 430..=499)) {
                        shared.retries.fetch_add(1, Relaxed);
                    }
                    log.stats.attempt(&a);
                },
            )
            .await;
        if self.log.stats.finish(kind, &out, started.elapsed()) {
            self.shared.errors.fetch_add(1, Relaxed);
        }
        self.shared.ops.fetch_add(1, Relaxed);
        (out, key)
    }

    fn unresolved(&mut self, what: ReplayKind, method: &str, path: &str, body: Value, key: String) {
        self.log.unresolved.push(Replay {
            user: self.me,
            what,
            method: method.into(),
            path: path.into(),
            body,
            key,
        });
    }

    async fn step(&mut self, op: Op) {
        match op {
            Op::Browse => {
                let page = self.rng.random_range(1..=3);
                let path = format!("{V1}/products?page={page}&page_size=20");
                self.op("browse", Method::GET, &path, None, None, false)
                    .await;
            }
            Op::Search => {
                let author = AUTHORS[self.rng.random_range(0..AUTHORS.len())];
                let path = format!(
                    "{V1}/products?q={}&category=load-{}",
                    seg(author),
                    self.plan.run
                );
                self.op("search", Method::GET, &path, None, None, false)
                    .await;
            }
            Op::Product => {
                let sku = self.sku();
                self.op(
                    "product",
                    Method::GET,
                    &format!("{V1}/products/{}", seg(&sku)),
                    None,
                    None,
                    false,
                )
                .await;
                self.op(
                    "stock",
                    Method::GET,
                    &format!("{V1}/inventory/{}", seg(&sku)),
                    None,
                    None,
                    false,
                )
                .await;
            }
            Op::CartOrder => self.cart_order().await,
            Op::CardOrder => {
                let lines = self.lines();
                self.place("order_card", Some(lines), card(GOOD_CARD)).await;
            }
            Op::DeclinedOrder => {
                let lines = self.lines();
                self.place("order_declined", Some(lines), card(DECLINED_CARD))
                    .await;
            }
            Op::WalletOrder => {
                let lines = self.lines();
                self.place("order_wallet", Some(lines), json!({ "method": "wallet" }))
                    .await;
            }
            Op::Transfer => self.transfer().await,
            Op::Deposit => {
                let amount = self.rng.random_range(5_000..=20_000);
                let path = format!("{V1}/wallet/deposit");
                let body = json!({ "amount_cents": amount });
                let (out, key) = self
                    .op(
                        "deposit",
                        Method::POST,
                        &path,
                        Some(body.clone()),
                        None,
                        true,
                    )
                    .await;
                match out {
                    Outcome::Done { .. } => self.log.deposits.push(DepositRec {
                        user: self.me,
                        amount_cents: amount,
                    }),
                    Outcome::Unknown(_) => self.unresolved(
                        ReplayKind::Deposit {
                            amount_cents: amount,
                        },
                        "POST",
                        &path,
                        body,
                        key.expect("keyed"),
                    ),
                    _ => {}
                }
            }
            Op::Wallet => {
                self.op(
                    "wallet",
                    Method::GET,
                    &format!("{V1}/wallet"),
                    None,
                    None,
                    false,
                )
                .await;
            }
            Op::Cancel => {
                if self.my_orders.is_empty() {
                    return;
                }
                let i = self.rng.random_range(0..self.my_orders.len());
                let id = self.my_orders.swap_remove(i);
                self.op(
                    "cancel",
                    Method::POST,
                    &format!("{V1}/orders/{id}/cancel"),
                    None,
                    None,
                    true,
                )
                .await;
            }
            Op::ListOrders => {
                self.op(
                    "orders_list",
                    Method::GET,
                    &format!("{V1}/orders?page=1&page_size=20"),
                    None,
                    None,
                    false,
                )
                .await;
            }
            Op::Publish => self.publish().await,
            Op::Receive => self.receive().await,
        }
    }

    /// Clear the cart, add lines, order from the cart. A retry of the order
    /// names the lines explicitly: the node answers a repeated key with the
    /// first result (the body is not compared), and a cart emptied by a
    /// first attempt that did get through cannot turn the retry into a 422.
    async fn cart_order(&mut self) {
        let (out, _) = self
            .op(
                "cart_clear",
                Method::DELETE,
                &format!("{V1}/cart"),
                None,
                None,
                true,
            )
            .await;
        let mut ready = matches!(out, Outcome::Done { .. });
        let lines = self.lines();
        for (sku, quantity) in &lines {
            if !ready {
                break;
            }
            let (out, _) = self
                .op(
                    "cart_add",
                    Method::POST,
                    &format!("{V1}/cart/items"),
                    Some(json!({ "sku": sku, "quantity": quantity })),
                    None,
                    true,
                )
                .await;
            ready = matches!(out, Outcome::Done { .. });
        }
        if !ready {
            // The order ticket this flow took goes back.
            self.shared.orders_left.fetch_add(1, Relaxed);
            return;
        }
        let payment = if self.rng.random_bool(0.3) {
            json!({ "method": "wallet" })
        } else {
            card(GOOD_CARD)
        };
        let body = json!({ "payment": payment, "shipping_address": address() });
        let mut retry = body.clone();
        retry["items"] = items(&lines);
        self.place_with("order_cart", body, Some(retry)).await;
    }

    async fn place(
        &mut self,
        kind: &'static str,
        lines: Option<Vec<(String, i64)>>,
        payment: Value,
    ) {
        let mut body = json!({ "payment": payment, "shipping_address": address() });
        if let Some(lines) = lines {
            body["items"] = items(&lines);
        }
        self.place_with(kind, body, None).await;
    }

    async fn place_with(&mut self, kind: &'static str, body: Value, retry: Option<Value>) {
        let path = format!("{V1}/orders");
        let (out, key) = self
            .op(
                kind,
                Method::POST,
                &path,
                Some(body.clone()),
                retry.clone(),
                true,
            )
            .await;
        self.shared.orders_placed.fetch_add(1, Relaxed);
        match out {
            Outcome::Done { body: order, .. } => {
                let id = order["id"].as_str().unwrap_or_default().to_owned();
                self.my_orders.push(id.clone());
                self.log.orders.push(OrderRec { id, user: self.me });
            }
            Outcome::Unknown(_) => self.unresolved(
                ReplayKind::Order,
                "POST",
                &path,
                retry.unwrap_or(body),
                key.expect("keyed"),
            ),
            _ => {}
        }
    }

    async fn transfer(&mut self) {
        let n = self.plan.users.len();
        let mut to = self.rng.random_range(0..n - 1);
        if to >= self.me {
            to += 1;
        }
        let amount = self.rng.random_range(100..=1_500);
        let path = format!("{V1}/transfers");
        let body = json!({ "to_email": self.plan.users[to].email, "amount_cents": amount, "note": "load" });
        let (out, key) = self
            .op(
                "transfer",
                Method::POST,
                &path,
                Some(body.clone()),
                None,
                true,
            )
            .await;
        match out {
            Outcome::Done { body: t, .. } => self.log.transfers.push(TransferRec {
                id: t["id"].as_str().unwrap_or_default().to_owned(),
                from: self.me,
                to,
                amount_cents: amount,
            }),
            Outcome::Unknown(_) => self.unresolved(
                ReplayKind::Transfer {
                    to,
                    amount_cents: amount,
                },
                "POST",
                &path,
                body,
                key.expect("keyed"),
            ),
            _ => {}
        }
    }

    async fn publish(&mut self) {
        let Some(queue) = self.plan.queue.clone() else {
            return;
        };
        let tag = format!("m-{}-{}", self.w, self.seq + 1);
        let path = format!("{V1}/queues/{}/messages", seg(&queue));
        let body = json!({ "body": format!("load {} {tag}", self.plan.run) });
        let (out, key) = self
            .op(
                "queue_publish",
                Method::POST,
                &path,
                Some(body.clone()),
                None,
                true,
            )
            .await;
        match out {
            Outcome::Done { body: m, .. } => {
                self.log
                    .published
                    .insert(tag, m["id"].as_str().unwrap_or_default().to_owned());
            }
            Outcome::Unknown(_) => self.unresolved(
                ReplayKind::Publish { tag },
                "POST",
                &path,
                body,
                key.expect("keyed"),
            ),
            _ => {}
        }
    }

    async fn receive(&mut self) {
        let Some(queue) = self.plan.queue.clone() else {
            return;
        };
        let (out, _) = self
            .op(
                "queue_receive",
                Method::POST,
                &format!("{V1}/queues/{}/receive", seg(&queue)),
                Some(json!({ "max": 5, "wait_s": 0 })),
                None,
                true,
            )
            .await;
        let Outcome::Done { body, .. } = out else {
            return;
        };
        for m in messages(&body) {
            let (out, _) = self
                .op(
                    "queue_ack",
                    Method::POST,
                    &format!("{V1}/queues/{}/messages/{}/ack", seg(&queue), seg(&m.1)),
                    Some(json!({ "receipt": m.2 })),
                    None,
                    true,
                )
                .await;
            self.log.deliveries.push(Delivery {
                tag: m.0,
                id: m.1,
                acked: matches!(out, Outcome::Done { .. }),
            });
        }
    }
}

/// `(tag, id, receipt)` of each message a receive returned.
fn messages(body: &Value) -> Vec<(String, String, Value)> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = match &m["body"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let tag = text
                .split_whitespace()
                .last()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned();
            (
                tag,
                m["id"].as_str().unwrap_or_default().to_owned(),
                m["receipt"].clone(),
            )
        })
        .collect()
}

fn card(number: &str) -> Value {
    json!({ "method": "card", "card": { "number": number, "expiry": "12/39", "cvv": "123" } })
}

fn address() -> Value {
    json!({ "name": "Load Tester", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US" })
}

fn items(lines: &[(String, i64)]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|(sku, q)| json!({ "sku": sku, "quantity": q }))
            .collect(),
    )
}

// ---- chaos --------------------------------------------------------------------------

/// Actors that may be down (or restarting) at once, the victim included.
const MAX_DOWN: usize = 3;

async fn chaos_loop(
    admin: Api,
    shared: Arc<Shared>,
    every: Duration,
    seed: u64,
    started: Instant,
    deadline: Option<Instant>,
) -> Vec<FaultRec> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut faults = Vec::new();
    let mut next = Instant::now() + every;
    loop {
        tokio::time::sleep_until(next.into()).await;
        next = (next + every).max(Instant::now());
        // The run is over when the workers stop or time is up (workers may
        // still be finishing their last operation: no more faults for them).
        if shared.stop.load(Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let Ok(r) = admin
            .send(Method::GET, &format!("{V1}/admin/actors"), None, None)
            .await
        else {
            continue;
        };
        let actors: Vec<Value> = r.body["items"].as_array().cloned().unwrap_or_default();
        // Chaos, not a siege: only running actors are hit, and never more
        // than MAX_DOWN at once. Restarts back off (up to 5 s after a
        // streak), so killing whatever is already down would keep every
        // actor down and the run would measure nothing but 503s.
        let running: Vec<&Value> = actors.iter().filter(|a| a["state"] == "running").collect();
        if running.is_empty() || actors.len() - running.len() >= MAX_DOWN {
            continue;
        }
        let a = running[rng.random_range(0..running.len())];
        let actor = a["name"].as_str().unwrap_or_default().to_owned();
        let armed = a["faults"].as_array().is_some_and(|f| !f.is_empty());
        // Mostly kills; now and then a crash of the next message or two —
        // never stacked on a fault still armed, and far below
        // --max-deliveries, so a crash is a restart and a redelivery, not
        // a dead letter.
        let (body, rec) = if !armed && rng.random_bool(0.25) {
            let count = rng.random_range(1..=2);
            (
                json!({ "actor": actor, "action": "crash_next", "count": count }),
                FaultRec {
                    at_ms: started.elapsed().as_millis() as u64,
                    actor: actor.clone(),
                    action: "crash_next".into(),
                    down_ms: None,
                    count: Some(count),
                },
            )
        } else {
            let down_ms = rng.random_range(0..1_500);
            (
                json!({ "actor": actor, "action": "kill", "down_ms": down_ms }),
                FaultRec {
                    at_ms: started.elapsed().as_millis() as u64,
                    actor: actor.clone(),
                    action: "kill".into(),
                    down_ms: Some(down_ms),
                    count: None,
                },
            )
        };
        if let Ok(r) = admin
            .send(
                Method::POST,
                &format!("{V1}/admin/faults"),
                Some(&body),
                None,
            )
            .await
        {
            if r.ok() {
                faults.push(rec);
                shared.faults.fetch_add(1, Relaxed);
            }
        }
    }
    faults
}

async fn clear_faults(admin: &Api) {
    let Ok(v) = admin.get::<Value>(&format!("{V1}/admin/actors")).await else {
        return;
    };
    for a in v["items"].as_array().into_iter().flatten() {
        if let Some(name) = a["name"].as_str() {
            let _ = admin
                .execute(
                    Method::DELETE,
                    &format!("{V1}/admin/faults/{}", seg(name)),
                    None,
                    None,
                    Policy::PATIENT,
                    &mut |_| {},
                )
                .await;
        }
    }
}

// ---- the checker ----------------------------------------------------------------------

/// An actor at rest: running, nothing pending in the post office or in the
/// journal (a node without the journal fields counts the post office only).
fn at_rest(a: &Value) -> bool {
    a["state"] == "running"
        && a["pending"].as_u64() == Some(0)
        && a["journal_pending"].as_u64().unwrap_or(0) == 0
}

/// Waits until every actor is at rest; true if it was before `within`.
async fn quiesce(admin: &Api, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if let Ok(v) = admin.get::<Value>(&format!("{V1}/admin/actors")).await {
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if !items.is_empty() && items.iter().all(at_rest) {
                return true;
            }
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every item of a paged list.
async fn all_pages(api: &Api, path: &str) -> Result<Vec<Value>, ClientError> {
    let mut out = Vec::new();
    for page in 1u32.. {
        let v: Value = api
            .get(&format!("{path}?page={page}&page_size=100"))
            .await?;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let n = items.len();
        out.extend(items);
        if n < 100 {
            break;
        }
    }
    Ok(out)
}

// ---- telling slow from stuck --------------------------------------------------------

/// What the checker watches to tell a slow node from a stuck one: the
/// actors (state, backlogs, counters — polled in the background) and the
/// checker's own steps. Any change is progress; [`Watch::stalled`] resolves
/// once nothing changed for a while.
struct Watch {
    seen: Arc<std::sync::Mutex<Seen>>,
    poller: tokio::task::JoinHandle<()>,
}

struct Seen {
    fingerprint: u64,
    changed: Instant,
    /// What the checker was doing.
    phase: &'static str,
    /// The last actor list read.
    actors: Vec<Value>,
    /// Orders not settled yet, as last read: (id, status).
    unsettled: Vec<(String, String)>,
}

/// How often the watch reads `/admin/actors`.
const WATCH_EVERY: Duration = Duration::from_millis(500);

fn fingerprint(v: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(v)
}

impl Watch {
    fn start(admin: &Api) -> Watch {
        let seen = Arc::new(std::sync::Mutex::new(Seen {
            fingerprint: 0,
            changed: Instant::now(),
            phase: "starting",
            actors: Vec::new(),
            unsettled: Vec::new(),
        }));
        let (admin, s) = (admin.clone(), seen.clone());
        let poller = tokio::spawn(async move {
            loop {
                // One attempt per tick (the client's timeout bounds it).
                if let Ok(r) = admin
                    .send(Method::GET, &format!("{V1}/admin/actors"), None, None)
                    .await
                {
                    let items = r.body["items"].as_array().cloned().unwrap_or_default();
                    if r.ok() && !items.is_empty() {
                        let moving: Vec<String> = items
                            .iter()
                            .map(|a| {
                                format!(
                                    "{} {} {} {} {} {} {}",
                                    a["name"],
                                    a["state"],
                                    a["pending"],
                                    a["journal_pending"],
                                    a["processed"],
                                    a["restarts"],
                                    a["failures"]
                                )
                            })
                            .collect();
                        let f = fingerprint(&moving);
                        let mut seen = s.lock().expect("watch lock");
                        seen.actors = items;
                        if f != seen.fingerprint {
                            seen.fingerprint = f;
                            seen.changed = Instant::now();
                        }
                    }
                }
                tokio::time::sleep(WATCH_EVERY).await;
            }
        });
        Watch { seen, poller }
    }

    /// The checker learned something (`what` differs from before): progress.
    fn observe(&self, what: &impl std::hash::Hash) {
        let f = fingerprint(what) ^ 0x5EED;
        let mut seen = self.seen.lock().expect("watch lock");
        if f != seen.fingerprint {
            seen.fingerprint = f;
            seen.changed = Instant::now();
        }
    }

    fn phase(&self, phase: &'static str) {
        let mut seen = self.seen.lock().expect("watch lock");
        seen.phase = phase;
        seen.changed = Instant::now();
    }

    fn unsettled(&self, orders: Vec<(String, String)>) {
        self.observe(&orders);
        self.seen.lock().expect("watch lock").unsettled = orders;
    }

    /// Resolves once nothing has changed for `after`.
    async fn stalled(&self, after: Duration) {
        loop {
            let since = self.seen.lock().expect("watch lock").changed;
            let at = since + after;
            if Instant::now() >= at {
                return;
            }
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Why the checker stopped waiting for the node.
#[derive(Debug, Clone, Default)]
struct Stuck {
    /// "nothing moved for 30s while …" or "not settled within 2m while …".
    why: String,
    /// What is stuck: actors not at rest (with their oldest pending
    /// envelopes), orders not settled, requests whose fate is unknown.
    what: Vec<String>,
}

/// One line per actor that is not at rest.
fn stuck_actors(actors: &[Value]) -> Vec<String> {
    actors
        .iter()
        .filter(|a| !at_rest(a))
        .map(|a| {
            let oldest: Vec<String> = a["oldest_pending"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "{} {} ({:.1} s old, {} failed attempts)",
                        e["id"].as_str().unwrap_or("?"),
                        e["kind"].as_str().unwrap_or("?"),
                        e["age_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                        e["attempts"]
                    )
                })
                .collect();
            let journal = a["journal_pending"]
                .as_u64()
                .map(|n| format!(", {n} pending in the journal"))
                .unwrap_or_default();
            format!(
                "actor {}: {}, {} pending in the post office{journal}{}",
                a["name"].as_str().unwrap_or("?"),
                a["state"].as_str().unwrap_or("?"),
                a["pending"],
                if oldest.is_empty() {
                    String::new()
                } else {
                    format!("; oldest: {}", oldest.join(", "))
                }
            )
        })
        .collect()
}

impl Watch {
    /// What is stuck, read afresh (bounded) or as last seen.
    async fn stuck(&self, admin: &Api, why: String, state: &State) -> Stuck {
        let fresh = tokio::time::timeout(
            Duration::from_secs(5),
            admin.send(Method::GET, &format!("{V1}/admin/actors"), None, None),
        )
        .await;
        let (actors, unsettled) = {
            let seen = self.seen.lock().expect("watch lock");
            (seen.actors.clone(), seen.unsettled.clone())
        };
        let actors = match fresh {
            Ok(Ok(r)) if r.ok() => r.body["items"].as_array().cloned().unwrap_or(actors),
            _ => actors,
        };
        let mut what = stuck_actors(&actors);
        for (id, status) in &unsettled {
            what.push(format!("order {id} is still {status}"));
        }
        for r in &state.unresolved {
            what.push(format!(
                "{} {} (key {}): fate still unknown",
                r.method, r.path, r.key
            ));
        }
        if what.is_empty() {
            what.push("no actor has a backlog: the node did not answer the checker".into());
        }
        Stuck { why, what }
    }
}

/// Repeats each request whose fate the run did not learn, with its key.
/// Cancel-safe: a request leaves `state.unresolved` only once its fate is
/// recorded.
async fn resolve(users: &[Api], state: &mut State, watch: &Watch) {
    let mut i = 0;
    while i < state.unresolved.len() {
        let r = state.unresolved[i].clone();
        let method = Method::from_bytes(r.method.as_bytes()).unwrap_or(Method::POST);
        let out = users[r.user]
            .execute(
                method,
                &r.path,
                Some(&r.body),
                Some(&r.key),
                Policy {
                    retry_for: Duration::from_secs(60),
                    follow_for: Duration::from_secs(120),
                    ..Policy::PATIENT
                },
                &mut |_| {},
            )
            .await;
        watch.observe(&("resolved", &r.key));
        match (out, &r.what) {
            (Outcome::Done { .. }, ReplayKind::Deposit { amount_cents }) => {
                state.deposits.push(DepositRec {
                    user: r.user,
                    amount_cents: *amount_cents,
                })
            }
            (Outcome::Done { body, .. }, ReplayKind::Transfer { to, amount_cents }) => {
                state.transfers.push(TransferRec {
                    id: body["id"].as_str().unwrap_or_default().to_owned(),
                    from: r.user,
                    to: *to,
                    amount_cents: *amount_cents,
                })
            }
            (Outcome::Done { body, .. }, ReplayKind::Order) => state.orders.push(OrderRec {
                id: body["id"].as_str().unwrap_or_default().to_owned(),
                user: r.user,
            }),
            (Outcome::Done { body, .. }, ReplayKind::Publish { tag }) => {
                if let Some(q) = state.queue.as_mut() {
                    q.published.insert(
                        tag.clone(),
                        body["id"].as_str().unwrap_or_default().to_owned(),
                    );
                }
            }
            (Outcome::Unknown(_), _) => {
                i += 1;
                continue;
            }
            // Refused or dead-lettered: not applied, nothing to account for.
            _ => {}
        }
        state.unresolved.remove(i);
    }
}

/// Receives until every acknowledged publish has been received, or nothing
/// more comes for a while.
async fn drain_queue(users: &[Api], q: &mut QueueRec, watch: &Watch) {
    let path = format!("{V1}/queues/{}/receive", seg(&q.name));
    let mut idle_until = Instant::now() + Duration::from_secs(15);
    let mut n = 0u64;
    loop {
        let acked: BTreeSet<&str> = q
            .deliveries
            .iter()
            .filter(|d| d.acked)
            .map(|d| d.tag.as_str())
            .collect();
        if q.published.keys().all(|t| acked.contains(t.as_str())) || Instant::now() > idle_until {
            return;
        }
        n += 1;
        let Ok(v) = users[0]
            .execute(
                Method::POST,
                &path,
                Some(&json!({ "max": 10, "wait_s": 1 })),
                Some(&format!("check-{}-drain-{n}", q.name)),
                Policy::PATIENT,
                &mut |_| {},
            )
            .await
            .into_result()
        else {
            return;
        };
        let got = messages(&v);
        if !got.is_empty() {
            idle_until = Instant::now() + Duration::from_secs(15);
            watch.observe(&("drained", n));
        }
        for (tag, id, receipt) in got {
            let acked = users[0]
                .execute(
                    Method::POST,
                    &format!("{V1}/queues/{}/messages/{}/ack", seg(&q.name), seg(&id)),
                    Some(&json!({ "receipt": receipt })),
                    Some(&format!("check-{}-ack-{id}-{n}", q.name)),
                    Policy::PATIENT,
                    &mut |_| {},
                )
                .await;
            q.deliveries.push(Delivery {
                tag,
                id,
                acked: matches!(acked, Outcome::Done { .. }),
            });
        }
    }
}

/// Collects violations, keeping the first few.
#[derive(Default)]
struct Violations {
    count: usize,
    first: Vec<String>,
}

impl Violations {
    fn add(&mut self, v: String) {
        self.count += 1;
        if self.first.len() < 10 {
            self.first.push(v);
        }
    }
    fn verdict(self, name: &str, ok_detail: String) -> Invariant {
        let pass = self.count == 0;
        Invariant {
            name: name.into(),
            verdict: if pass { "PASS" } else { "FAIL" }.into(),
            detail: if pass {
                ok_detail
            } else {
                format!("{} violation(s)", self.count)
            },
            violations: self.first,
        }
    }
}

/// What the node shows once it is at rest, per load user.
#[derive(Debug, Default)]
struct Snapshot {
    /// Every actor idle and every order settled before the timeout.
    settled: bool,
    /// Why the checker stopped waiting, if it did.
    stuck: Option<Stuck>,
    /// The checker stopped before it had drained the queue.
    undrained: bool,
    /// How long settling took.
    settle_s: f64,
    /// A read that failed (the checker then cannot vouch for anything).
    read_error: Option<String>,
    /// Requests whose fate even a replay could not learn.
    unresolved: Vec<String>,
    orders: Vec<Vec<Value>>,
    balances: Vec<Option<i64>>,
    transfers: Vec<Vec<Value>>,
    stock: BTreeMap<String, Value>,
    /// The payment of each order (flattened in `orders` order): `None` if
    /// there is none.
    payments: Vec<Result<Option<Value>, String>>,
}

impl Snapshot {
    fn orders(&self) -> impl Iterator<Item = (usize, &Value)> {
        self.orders
            .iter()
            .enumerate()
            .flat_map(|(u, os)| os.iter().map(move |o| (u, o)))
    }
}

/// Settles, then verifies every invariant against what was acknowledged.
/// Never waits without a bound: it stops when nothing moves for `stall`,
/// or after `within` in all, and then says what is stuck.
async fn check(
    admin: &Api,
    users: &[Api],
    state: &mut State,
    within: Duration,
    stall: Duration,
) -> CheckReport {
    let started = Instant::now();
    let replayed = state.unresolved.len();
    let watch = Watch::start(admin);
    let mut drained = false;
    let waited = {
        let work = async {
            watch.phase("replaying the requests whose fate the run did not learn");
            resolve(users, state, &watch).await;
            if let Some(q) = state.queue.as_mut() {
                watch.phase("draining the queue");
                drain_queue(users, q, &watch).await;
            }
            drained = true;
            let orders = settle(admin, users, &watch).await;
            let settled_after = started.elapsed();
            watch.phase("reading wallets, transfers, stock and payments");
            let mut snap = read_at_rest(admin, users, state, orders, &watch).await;
            snap.settle_s = (settled_after.as_secs_f64() * 100.0).round() / 100.0;
            snap
        };
        tokio::select! {
            snap = work => Ok(snap),
            _ = watch.stalled(stall) => Err(format!(
                "nothing moved for {} (--stall-timeout)",
                humantime::format_duration(stall)
            )),
            _ = tokio::time::sleep(within) => Err(format!(
                "not settled within {} (--settle-timeout)",
                humantime::format_duration(within)
            )),
        }
    };
    let mut snap = match waited {
        Ok(snap) => snap,
        Err(why) => {
            let phase = watch.seen.lock().expect("watch lock").phase;
            let stuck = watch
                .stuck(admin, format!("{why} while {phase}"), state)
                .await;
            Snapshot {
                stuck: Some(stuck),
                undrained: !drained,
                settle_s: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
                read_error: Some("the node did not settle, so its state was not read".into()),
                ..Snapshot::default()
            }
        }
    };
    snap.unresolved = state
        .unresolved
        .iter()
        .map(|r| format!("{} {} (key {})", r.method, r.path, r.key))
        .collect();
    let mut orders: BTreeMap<String, u64> = BTreeMap::new();
    for (_, o) in snap.orders() {
        *orders
            .entry(o["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    CheckReport {
        settled: snap.settled,
        settle_s: snap.settle_s,
        replayed,
        orders,
        invariants: verify(state, &snap, within),
    }
}

/// Waits for quiescence (every actor at rest, then every order of every
/// load user settled) and returns the orders. Unbounded by itself: the
/// caller bounds it.
async fn settle(admin: &Api, users: &[Api], watch: &Watch) -> Vec<Vec<Value>> {
    loop {
        watch.phase("waiting for every actor to be running with nothing pending");
        quiesce(admin, Duration::from_secs(3600)).await;
        watch.phase("waiting for every order to settle");
        let mut orders = Vec::with_capacity(users.len());
        let mut read_all = true;
        for u in users {
            match all_pages(u, &format!("{V1}/orders")).await {
                Ok(o) => orders.push(o),
                Err(_) => {
                    read_all = false;
                    break;
                }
            }
        }
        if read_all {
            let unsettled: Vec<(String, String)> = orders
                .iter()
                .flatten()
                .filter(|o| !SETTLED.contains(&o["status"].as_str().unwrap_or_default()))
                .map(|o| {
                    (
                        o["id"].as_str().unwrap_or_default().to_owned(),
                        o["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let done = unsettled.is_empty();
            watch.unsettled(unsettled);
            if done {
                return orders;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// With the node at rest: reads wallets, transfers, stock and payments.
async fn read_at_rest(
    admin: &Api,
    users: &[Api],
    state: &State,
    orders: Vec<Vec<Value>>,
    watch: &Watch,
) -> Snapshot {
    let mut snap = Snapshot {
        settled: true,
        orders,
        ..Snapshot::default()
    };
    for (i, u) in users.iter().enumerate() {
        watch.observe(&("read user", i));
        match u.get::<Value>(&format!("{V1}/wallet")).await {
            Ok(w) => snap.balances.push(w["balance_cents"].as_i64()),
            Err(e) => {
                snap.read_error.get_or_insert(e.to_string());
                snap.balances.push(None);
            }
        }
        match all_pages(u, &format!("{V1}/transfers")).await {
            Ok(t) => snap.transfers.push(t),
            Err(e) => {
                snap.read_error.get_or_insert(e.to_string());
                snap.transfers.push(Vec::new());
            }
        }
    }
    for p in &state.products {
        watch.observe(&("read stock", &p.sku));
        match admin
            .get::<Value>(&format!("{V1}/inventory/{}", seg(&p.sku)))
            .await
        {
            Ok(v) => {
                snap.stock.insert(p.sku.clone(), v);
            }
            Err(e) => {
                snap.read_error.get_or_insert(e.to_string());
            }
        }
    }
    let ids: Vec<(usize, String)> = snap
        .orders()
        .map(|(u, o)| (u, o["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    snap.payments = futures::stream::iter(ids)
        .map(|(u, id)| async move {
            watch.observe(&("read payment", &id));
            let path = format!("{V1}/payments/{id}");
            match users[u]
                .execute(Method::GET, &path, None, None, Policy::PATIENT, &mut |_| {})
                .await
            {
                Outcome::Done { body, .. } => Ok(Some(body)),
                Outcome::Rejected(e) if e.status() == Some(404) => Ok(None),
                other => other.into_result().map(Some).map_err(|e| e.to_string()),
            }
        })
        .buffered(16)
        .collect()
        .await;
    snap
}

/// The invariants of `PRODUCT.md` §8, as far as this run can see them.
/// A node that did not settle was not read: the invariants about its state
/// are not checked (rather than failed for what was never read), and "the
/// system settles" says why.
fn verify(state: &State, snap: &Snapshot, within: Duration) -> Vec<Invariant> {
    let mut all = vec![
        no_loss(state, snap),
        applied_once(state, snap),
        stock_conserved(state, snap),
        money_conserved(state, snap),
        orders_terminal(snap),
        queue_exactly_once(state, snap),
        settles(snap, within),
    ];
    if snap.stuck.is_some() {
        for i in &mut all[..5] {
            i.verdict = "SKIP".into();
            i.detail = "not checked: the node did not settle (see \"the system settles\")".into();
            i.violations.clear();
        }
    }
    all
}

impl Violations {
    /// Starts with the snapshot's read error, if any: then nothing is vouched for.
    fn of(snap: &Snapshot) -> Violations {
        let mut v = Violations::default();
        if let Some(e) = &snap.read_error {
            v.add(format!("could not read the node's state: {e}"));
        }
        v
    }
}

fn confirmed(status: &str) -> bool {
    matches!(status, "confirmed" | "shipped" | "delivered")
}

/// Total of the confirmed wallet-paid orders, per user and in all.
fn wallet_spent(snap: &Snapshot, users: usize) -> (Vec<i64>, i64) {
    let mut per_user = vec![0; users];
    for (u, o) in snap.orders() {
        if o["payment_method"] == "wallet" && confirmed(o["status"].as_str().unwrap_or_default()) {
            per_user[u] += o["total_cents"].as_i64().unwrap_or_default();
        }
    }
    let all = per_user.iter().sum();
    (per_user, all)
}

/// (1) Every acknowledged order and transfer is there (deposits show in the
/// balances, checked by (2) and (4)).
fn no_loss(state: &State, snap: &Snapshot) -> Invariant {
    let mut v = Violations::of(snap);
    for u in &snap.unresolved {
        v.add(format!("fate still unknown after replaying: {u}"));
    }
    let listed: BTreeMap<&str, usize> = snap
        .orders()
        .map(|(u, o)| (o["id"].as_str().unwrap_or_default(), u))
        .collect();
    for o in &state.orders {
        match listed.get(o.id.as_str()) {
            Some(u) if *u == o.user => {}
            Some(u) => v.add(format!(
                "order {} listed for user {u}, not {}",
                o.id, o.user
            )),
            None => v.add(format!("acknowledged order {} is missing", o.id)),
        }
    }
    for t in &state.transfers {
        for side in [t.from, t.to] {
            let there = snap
                .transfers
                .get(side)
                .is_some_and(|ts| ts.iter().any(|x| x["id"] == t.id.as_str()));
            if !there {
                v.add(format!(
                    "acknowledged transfer {} is missing from user {side}'s transfers",
                    t.id
                ));
            }
        }
    }
    v.verdict(
        "no acknowledged request lost",
        format!(
            "{} orders, {} transfers and {} deposits acknowledged; every one is there",
            state.orders.len(),
            state.transfers.len(),
            state.deposits.len()
        ),
    )
}

/// (2) No order or transfer the node holds beyond those it acknowledged;
/// each balance is exactly deposits − transfers out + transfers in −
/// confirmed wallet orders; each confirmed order has one captured payment
/// equal to its total, and no other order keeps a captured one.
fn applied_once(state: &State, snap: &Snapshot) -> Invariant {
    let mut v = Violations::of(snap);
    let acked_orders: BTreeSet<&str> = state.orders.iter().map(|o| o.id.as_str()).collect();
    for (u, o) in snap.orders() {
        let id = o["id"].as_str().unwrap_or_default();
        if !acked_orders.contains(id) {
            v.add(format!(
                "user {u} has order {id}, which no request of this run was answered with"
            ));
        }
    }
    let acked_transfers: BTreeSet<&str> = state.transfers.iter().map(|t| t.id.as_str()).collect();
    for (u, ts) in snap.transfers.iter().enumerate() {
        for t in ts {
            let id = t["id"].as_str().unwrap_or_default();
            if !acked_transfers.contains(id) {
                v.add(format!(
                    "user {u} has transfer {id}, which no request of this run was answered with"
                ));
            }
        }
    }
    let (spent, _) = wallet_spent(snap, state.users.len());
    let mut expected: Vec<i64> = spent.iter().map(|s| -s).collect();
    for d in &state.deposits {
        expected[d.user] += d.amount_cents;
    }
    for t in &state.transfers {
        expected[t.from] -= t.amount_cents;
        expected[t.to] += t.amount_cents;
    }
    for (u, b) in snap.balances.iter().enumerate() {
        if let Some(b) = b.filter(|b| *b != expected[u]) {
            v.add(format!(
                "user {u}: balance {b} but deposits − transfers out + transfers in − wallet orders = {}",
                expected[u]
            ));
        }
    }
    for ((_, o), p) in snap.orders().zip(&snap.payments) {
        let id = o["id"].as_str().unwrap_or_default();
        let status = o["status"].as_str().unwrap_or_default();
        let total = o["total_cents"].as_i64().unwrap_or_default();
        match p {
            Err(e) => v.add(format!("order {id}: reading its payment: {e}")),
            Ok(Some(p)) if confirmed(status) => {
                if p["status"] != "captured" || p["amount_cents"].as_i64() != Some(total) {
                    v.add(format!(
                        "{status} order {id} (total {total}): payment is {} of {}",
                        p["status"], p["amount_cents"]
                    ));
                }
            }
            Ok(None) if confirmed(status) => v.add(format!("{status} order {id} has no payment")),
            Ok(Some(p)) if matches!(p["status"].as_str(), Some("captured" | "pending")) => v.add(
                format!("{status} order {id} still has a {} payment", p["status"]),
            ),
            Ok(_) => {}
        }
    }
    v.verdict(
        "nothing applied twice",
        format!(
            "{} orders and {} transfers, each once; {} wallets match their deposits, transfers and wallet orders; every confirmed order has one captured payment equal to its total",
            acked_orders.len(),
            acked_transfers.len(),
            state.users.len()
        ),
    )
}

/// (3) For the run's skus: on_hand + sold = initial, nothing reserved at
/// rest, nothing negative, and sold = the units of confirmed orders.
fn stock_conserved(state: &State, snap: &Snapshot) -> Invariant {
    let mut v = Violations::of(snap);
    let mut by_orders: HashMap<&str, i64> = HashMap::new();
    for (_, o) in snap.orders() {
        if confirmed(o["status"].as_str().unwrap_or_default()) {
            for l in o["lines"].as_array().into_iter().flatten() {
                *by_orders
                    .entry(l["sku"].as_str().unwrap_or_default())
                    .or_default() += l["quantity"].as_i64().unwrap_or_default();
            }
        }
    }
    let mut units_sold = 0;
    for p in &state.products {
        let Some(s) = snap.stock.get(&p.sku) else {
            v.add(format!("{}: no stock row", p.sku));
            continue;
        };
        let field = |f: &str| s[f].as_i64().unwrap_or(-1);
        let (on_hand, reserved, sold) = (field("on_hand"), field("reserved"), field("sold"));
        units_sold += sold;
        if on_hand < 0 || reserved < 0 || sold < 0 {
            v.add(format!("{}: negative stock {s}", p.sku));
        }
        if on_hand + sold != p.initial_stock {
            v.add(format!(
                "{}: on_hand {on_hand} + sold {sold} = {} but {} were put in",
                p.sku,
                on_hand + sold,
                p.initial_stock
            ));
        }
        if reserved != 0 {
            v.add(format!("{}: {reserved} still reserved at rest", p.sku));
        }
        let ordered = by_orders.get(p.sku.as_str()).copied().unwrap_or(0);
        if sold != ordered {
            v.add(format!(
                "{}: sold {sold} but confirmed orders hold {ordered}",
                p.sku
            ));
        }
    }
    v.verdict(
        "stock conserved and never negative",
        format!(
            "{} skus: on_hand + sold = initial, nothing reserved at rest, {units_sold} units sold = confirmed order lines",
            state.products.len()
        ),
    )
}

/// (4) The users hold what was deposited minus what their wallets paid
/// for confirmed orders (transfers only move money), and nobody is negative.
fn money_conserved(state: &State, snap: &Snapshot) -> Invariant {
    let mut v = Violations::of(snap);
    let deposited: i64 = state.deposits.iter().map(|d| d.amount_cents).sum();
    let (_, spent) = wallet_spent(snap, state.users.len());
    let held: i64 = snap.balances.iter().flatten().sum();
    if held != deposited - spent {
        v.add(format!(
            "the users hold {} but deposits {} − wallet orders {} = {}",
            money(held, "USD"),
            money(deposited, "USD"),
            money(spent, "USD"),
            money(deposited - spent, "USD")
        ));
    }
    for (u, b) in snap.balances.iter().enumerate() {
        if let Some(b) = b.filter(|b| *b < 0) {
            v.add(format!("user {u} has a negative balance {b}"));
        }
    }
    v.verdict(
        "money conserved",
        format!(
            "the users hold {} = deposits {} − wallet orders {}",
            money(held, "USD"),
            money(deposited, "USD"),
            money(spent, "USD")
        ),
    )
}

/// (5) Every order is confirmed, failed or cancelled (or moved on to
/// shipped/delivered).
fn orders_terminal(snap: &Snapshot) -> Invariant {
    let mut v = Violations::of(snap);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, o) in snap.orders() {
        let status = o["status"].as_str().unwrap_or_default();
        *counts.entry(status).or_default() += 1;
        if !SETTLED.contains(&status) {
            v.add(format!("order {} is still {status}", o["id"]));
        }
    }
    v.verdict(
        "every order terminal",
        format!(
            "{} orders: {}",
            snap.orders().count(),
            counts
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// (7) The system settles: every actor back to running with nothing
/// pending (in the post office and in the journal) and every order
/// terminal, without a stall of `--stall-timeout` and within
/// `--settle-timeout`. A FAIL says what is stuck.
fn settles(snap: &Snapshot, within: Duration) -> Invariant {
    let name = "the system settles";
    match &snap.stuck {
        None if snap.settled => Invariant {
            name: name.into(),
            verdict: "PASS".into(),
            detail: format!(
                "every actor running with nothing pending and every order terminal after {:.1} s",
                snap.settle_s
            ),
            violations: Vec::new(),
        },
        None => Invariant {
            name: name.into(),
            verdict: "FAIL".into(),
            detail: format!("not settled within {}", humantime::format_duration(within)),
            violations: Vec::new(),
        },
        Some(stuck) => {
            let mut violations: Vec<String> = stuck.what.iter().take(20).cloned().collect();
            if stuck.what.len() > 20 {
                violations.push(format!("… and {} more", stuck.what.len() - 20));
            }
            Invariant {
                name: name.into(),
                verdict: "FAIL".into(),
                detail: format!("stuck: {}", stuck.why),
                violations,
            }
        }
    }
}

/// (6) Each acknowledged publish arrived as one message, received and
/// acked; no message came back after a successful ack.
fn queue_exactly_once(state: &State, snap: &Snapshot) -> Invariant {
    let name = "queue messages received exactly once";
    let Some(q) = &state.queue else {
        return Invariant {
            name: name.into(),
            verdict: "SKIP".into(),
            detail: "no queue traffic in this run (the node has no user queues)".into(),
            violations: Vec::new(),
        };
    };
    let mut v = Violations::default();
    let mut ids_by_tag: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut acked: BTreeSet<&str> = BTreeSet::new();
    for d in &q.deliveries {
        ids_by_tag.entry(&d.tag).or_default().insert(&d.id);
        if acked.contains(d.id.as_str()) {
            v.add(format!(
                "message {} ({}) delivered again after its ack",
                d.id, d.tag
            ));
        }
        if d.acked {
            acked.insert(&d.id);
        }
    }
    for (tag, ids) in &ids_by_tag {
        if ids.len() > 1 {
            v.add(format!("{tag} arrived as {} different messages", ids.len()));
        }
    }
    // Unless the checker's drain was cut short by a stall: then a message
    // not received yet says nothing.
    for (tag, id) in q.published.iter().filter(|_| !snap.undrained) {
        if !acked.contains(id.as_str()) {
            v.add(format!(
                "published {tag} ({id}) was never received and acked"
            ));
        }
    }
    v.verdict(
        name,
        format!(
            "{} published, each received and acked once ({} deliveries)",
            q.published.len(),
            q.deliveries.len()
        ),
    )
}

// ---- printing -------------------------------------------------------------------------

fn print_report(r: &Report) {
    if let Some(run) = &r.run {
        let chaos = run
            .chaos_interval_ms
            .map(|ms| format!(", chaos every {ms} ms"))
            .unwrap_or_default();
        println!(
            "mailroom load: {} with {} workers ({} users){chaos}, seed {}, run {} against {}",
            run.target, run.concurrency, run.users, run.seed, run.run, run.url
        );
        println!(
            "ran {:.1} s: {} operations ({:.1}/s), {} requests ({:.1}/s), {} orders placed",
            run.elapsed_s,
            run.operations,
            run.ops_per_s,
            run.requests,
            run.requests_per_s,
            run.orders_placed
        );
        println!("latency per request: {}", pct(&run.latency));
        let mut t = table();
        t.set_header(vec![
            "operation",
            "count",
            "ok",
            "rejected",
            "failed",
            "p50",
            "p99",
            "max",
        ]);
        for (k, s) in &run.kinds {
            t.add_row(vec![
                k.clone(),
                s.count.to_string(),
                s.ok.to_string(),
                s.rejected.to_string(),
                s.failed.to_string(),
                ms(s.time.p50_ms),
                ms(s.time.p99_ms),
                ms(s.time.max_ms),
            ]);
        }
        println!("{t}");
        let codes: Vec<String> = run
            .status_codes
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .chain(
                (run.transport_errors > 0)
                    .then(|| format!("transport errors ×{}", run.transport_errors)),
            )
            .collect();
        println!("status codes: {}", codes.join(" · "));
        println!(
            "202 accepted: {}; done after {}",
            run.accepted,
            pct(&run.accepted_completion)
        );
        if run.chaos_interval_ms.is_some() {
            let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for f in &run.faults {
                let e = by.entry(f.actor.clone()).or_default();
                if f.action == "kill" {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            let kills = run.faults.iter().filter(|f| f.action == "kill").count();
            println!(
                "faults injected: {} ({kills} kill, {} crash_next); kill/crash_next per actor: {}",
                run.faults_injected,
                run.faults.len() - kills,
                by.iter()
                    .map(|(a, (k, c))| format!("{a} {k}/{c}"))
                    .collect::<Vec<_>>()
                    .join(" · ")
            );
        }
        println!("queues: {}", run.queues);
    }
    let c = &r.checker;
    println!(
        "checker ({} after {:.1} s{}):",
        if c.settled { "settled" } else { "NOT settled" },
        c.settle_s,
        if c.replayed > 0 {
            format!(
                ", {} unanswered requests replayed with their keys",
                c.replayed
            )
        } else {
            String::new()
        }
    );
    for i in &c.invariants {
        println!("  {}  {} — {}", i.verdict, i.name, i.detail);
        for v in &i.violations {
            println!("          {v}");
        }
    }
    println!("{}", if r.pass { "PASS" } else { "FAIL" });
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

fn pct(p: &Percentiles) -> String {
    if p.count == 0 {
        return "–".into();
    }
    format!(
        "p50 {} · p90 {} · p99 {} · max {}",
        ms(p.p50_ms),
        ms(p.p90_ms),
        ms(p.p99_ms),
        ms(p.max_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize) -> LoadUser {
        LoadUser {
            email: format!("u{i}@example.com"),
            password: "pw".into(),
            id: format!("id-{i}"),
        }
    }

    /// Ann deposits $100, pays $15 from her wallet for 3 units (confirmed)
    /// and sends Bob $20; Bob's card order of 1 unit failed; one queue
    /// message went round. Everything adds up.
    fn consistent() -> (State, Snapshot) {
        let state = State {
            run: "t".into(),
            url: "http://node".into(),
            users: vec![user(0), user(1)],
            products: vec![LoadProduct {
                sku: "S".into(),
                price_cents: 500,
                initial_stock: 10,
            }],
            deposits: vec![DepositRec {
                user: 0,
                amount_cents: 10_000,
            }],
            transfers: vec![TransferRec {
                id: "t1".into(),
                from: 0,
                to: 1,
                amount_cents: 2_000,
            }],
            orders: vec![
                OrderRec {
                    id: "o1".into(),
                    user: 0,
                },
                OrderRec {
                    id: "o2".into(),
                    user: 1,
                },
            ],
            unresolved: Vec::new(),
            queue: Some(QueueRec {
                name: "q".into(),
                published: [("m-1".to_owned(), "id1".to_owned())].into(),
                deliveries: vec![Delivery {
                    tag: "m-1".into(),
                    id: "id1".into(),
                    acked: true,
                }],
            }),
        };
        let snap = Snapshot {
            settled: true,
            orders: vec![
                vec![
                    json!({"id": "o1", "status": "confirmed", "payment_method": "wallet",
                            "total_cents": 1_500, "lines": [{"sku": "S", "quantity": 3}]}),
                ],
                vec![
                    json!({"id": "o2", "status": "failed", "payment_method": "card",
                            "total_cents": 500, "lines": [{"sku": "S", "quantity": 1}]}),
                ],
            ],
            balances: vec![Some(10_000 - 1_500 - 2_000), Some(2_000)],
            transfers: vec![vec![json!({"id": "t1"})], vec![json!({"id": "t1"})]],
            stock: [(
                "S".to_owned(),
                json!({"on_hand": 7, "reserved": 0, "sold": 3}),
            )]
            .into(),
            payments: vec![
                Ok(Some(json!({"status": "captured", "amount_cents": 1_500}))),
                Ok(Some(json!({"status": "declined", "amount_cents": 500}))),
            ],
            ..Snapshot::default()
        };
        (state, snap)
    }

    /// The names of the invariants that failed.
    fn failing(state: &State, snap: &Snapshot) -> Vec<String> {
        verify(state, snap, Duration::from_secs(1))
            .into_iter()
            .filter(|i| i.verdict == "FAIL")
            .map(|i| i.name)
            .collect()
    }

    #[test]
    fn a_consistent_run_passes_every_invariant() {
        let (state, snap) = consistent();
        let all = verify(&state, &snap, Duration::from_secs(1));
        assert!(all.iter().all(|i| i.verdict == "PASS"), "{all:#?}");
        assert_eq!(all.len(), 7);
    }

    #[test]
    fn a_unit_taken_behind_the_nodes_back_fails_stock_conservation() {
        let (state, mut snap) = consistent();
        snap.stock
            .insert("S".into(), json!({"on_hand": 6, "reserved": 0, "sold": 3}));
        assert_eq!(
            failing(&state, &snap),
            ["stock conserved and never negative"]
        );
    }

    #[test]
    fn a_transfer_applied_twice_fails_even_though_money_is_conserved() {
        let (state, mut snap) = consistent();
        for side in &mut snap.transfers {
            side.push(json!({"id": "t2"}));
        }
        snap.balances = vec![Some(10_000 - 1_500 - 4_000), Some(4_000)];
        assert_eq!(failing(&state, &snap), ["nothing applied twice"]);
    }

    #[test]
    fn a_double_charge_breaks_the_wallet_and_the_money() {
        let (state, mut snap) = consistent();
        snap.balances[0] = Some(10_000 - 3_000 - 2_000);
        assert_eq!(
            failing(&state, &snap),
            ["nothing applied twice", "money conserved"]
        );
    }

    #[test]
    fn a_lost_order_and_a_lost_transfer_fail_no_loss() {
        let (state, mut snap) = consistent();
        snap.orders[1].clear();
        snap.payments.pop();
        snap.transfers[1].clear();
        assert_eq!(failing(&state, &snap), ["no acknowledged request lost"]);
    }

    #[test]
    fn a_confirmed_order_without_its_capture_fails() {
        let (state, mut snap) = consistent();
        snap.payments[0] = Ok(Some(json!({"status": "refunded", "amount_cents": 1_500})));
        assert_eq!(failing(&state, &snap), ["nothing applied twice"]);
    }

    #[test]
    fn an_order_still_in_flight_fails_terminal() {
        let (state, mut snap) = consistent();
        snap.orders[1][0]["status"] = json!("reserved");
        snap.settled = false;
        assert_eq!(
            failing(&state, &snap),
            ["every order terminal", "the system settles"]
        );
    }

    #[test]
    fn a_stuck_node_fails_settling_and_says_which_actor_holds_what() {
        let (state, _) = consistent();
        let actors = vec![
            json!({"name": "wallets", "state": "running", "pending": 0, "journal_pending": 0}),
            json!({"name": "orders", "state": "down", "pending": 2, "journal_pending": 2,
                   "oldest_pending": [{"id": "e1", "kind": "place_order", "attempts": 0, "age_ms": 41_000}]}),
            // Pending on disk, in no queue: the post office does not deliver it.
            json!({"name": "notifications", "state": "running", "pending": 0, "journal_pending": 1,
                   "oldest_pending": [{"id": "e2", "kind": "order.created", "attempts": 0, "age_ms": 40_000}]}),
        ];
        let what = stuck_actors(&actors);
        assert_eq!(what.len(), 2, "{what:?}");
        assert!(
            what[0].starts_with("actor orders: down, 2 pending"),
            "{what:?}"
        );
        assert!(what[0].contains("e1 place_order (41.0 s old"), "{what:?}");
        assert!(what[1].contains("notifications") && what[1].contains("1 pending in the journal"));
        let snap = Snapshot {
            stuck: Some(Stuck {
                why: "nothing moved for 30s (--stall-timeout) while waiting for every actor".into(),
                what,
            }),
            read_error: Some("the node did not settle".into()),
            ..Snapshot::default()
        };
        let all = verify(&state, &snap, Duration::from_secs(120));
        // Only settling fails: what was never read is not checked, so it
        // cannot cry wolf.
        assert_eq!(failing(&state, &snap), ["the system settles"]);
        assert_eq!(all[..5].iter().filter(|i| i.verdict == "SKIP").count(), 5);
        let settles = all.iter().find(|i| i.name == "the system settles").unwrap();
        assert_eq!(settles.verdict, "FAIL");
        assert!(
            settles.detail.contains("nothing moved for 30s"),
            "{settles:?}"
        );
        assert!(settles.violations[0].contains("orders"), "{settles:?}");
    }

    #[test]
    fn a_message_redelivered_after_its_ack_or_never_received_fails() {
        let (mut state, snap) = consistent();
        let q = state.queue.as_mut().unwrap();
        q.deliveries.push(Delivery {
            tag: "m-1".into(),
            id: "id1".into(),
            acked: true,
        });
        q.published.insert("m-2".into(), "id2".into());
        let inv = verify(&state, &snap, Duration::from_secs(1));
        let queue = inv
            .iter()
            .find(|i| i.name == "queue messages received exactly once")
            .unwrap();
        assert_eq!(queue.verdict, "FAIL");
        assert_eq!(queue.violations.len(), 2, "{queue:?}");
    }

    #[test]
    fn without_queues_the_queue_invariant_is_skipped() {
        let (mut state, snap) = consistent();
        state.queue = None;
        assert_eq!(verify(&state, &snap, Duration::ZERO)[5].verdict, "SKIP");
    }

    #[test]
    fn an_unreadable_node_vouches_for_nothing() {
        let (state, mut snap) = consistent();
        snap.read_error = Some("503".into());
        assert_eq!(failing(&state, &snap).len(), 5);
    }
}
