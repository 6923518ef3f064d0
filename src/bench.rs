//! `mailroom bench mom`: durable envelopes/s through the real post office,
//! journal and service runtime (persist → deliver → apply+inbox → ack), and
//! latency at a fixed offered rate — each against a baseline measured in
//! the same run: one fsync'd SQLite transaction per message, which is what
//! a durable queue without group commit pays.
//!
//! Every run gets a fresh temp dir and, per measurement, a fresh [`Mom`]
//! with a small `bench` service started in the real runtime
//! ([`runtime::start`]); envelopes are submitted with [`Mom::execute`] and
//! count once it answers [`Executed::Done`] — i.e. after the journal
//! append (fsync), the delivery, the service's transaction with its inbox
//! row (fsync) and the journal's completion (fsync).
//!
//! Besides the headline figures it reads the journal's group-commit
//! histograms (`mom_journal_group_size`, `mom_journal_commit_seconds`) and,
//! on Linux, each thread's CPU time from `/proc/self/task`, so the report
//! can say where the time went.
#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use diesel::{
    connection::SimpleConnection, sql_types::BigInt, sql_types::Text, Connection, RunQueryDsl,
    SqliteConnection,
};
use hdrhistogram::Histogram;
use prometheus::core::Metric as _;
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    actors::{runtime, Effects, Failure, Incoming, Service},
    config::MomBenchArgs,
    mom::{registry::Registry, Command, ExecOptions, Executed, Mom, MomConfig},
    problem::Problem,
    store,
};

/// How long an envelope may take before `execute` answers "accepted"
/// instead of done; long enough that everything completes as done.
const WAIT: Duration = Duration::from_secs(30);
/// How long to wait for the bench actor to register.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// A journal commit slower than this is a stall (a bucket bound of the
/// `mom_journal_commit_seconds` histogram).
const SLOW_COMMIT: Duration = Duration::from_millis(16);
/// Linux reports `/proc` CPU times in `USER_HZ` ticks, 100/s on every
/// mainstream architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// The bench service: applies `bench.echo` by doing nothing beyond what the
/// runtime always does (inbox dedupe check, savepoint, inbox row with the
/// outcome, one commit per batch).
struct BenchService;

impl crate::mom::Destination for BenchService {
    const NAME: &'static str = "bench";
}

impl Service for BenchService {
    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        match msg.kind {
            Echo::KIND => Ok(Effects::default()),
            other => Err(Failure::Rejected(Problem::bad_request(format!(
                "bench does not handle `{other}`"
            )))),
        }
    }
}

/// The bench command; its JSON is `--payload` bytes (11 at least).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Echo {
    data: String,
}

impl crate::mom::Message for Echo {
    type To = BenchService;
    const KIND: &'static str = "bench.echo";
    type Reply = ();
}
impl Command for Echo {}
impl crate::mom::Handles<Echo> for BenchService {}

impl Echo {
    fn sized(bytes: usize) -> Self {
        // `{"data":""}` is 11 bytes.
        Self {
            data: "x".repeat(bytes.saturating_sub(11)),
        }
    }
}

fn exec_options() -> ExecOptions {
    ExecOptions {
        owner: None,
        idempotency_key: None,
        wait: WAIT,
    }
}

pub fn mom(args: MomBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.envelopes >= 1, "--envelopes must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.rate >= 1, "--rate must be at least 1");
    anyhow::ensure!(args.seconds >= 1, "--seconds must be at least 1");
    anyhow::ensure!(
        args.baseline_seconds >= 1,
        "--baseline-seconds must be at least 1"
    );
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let runs = actix::System::new().block_on(run_all(&args, &parent))?;
    print_report(&args, &parent, &runs);
    Ok(())
}

/// Everything one run measured.
struct RunResult {
    baseline: Baseline,
    throughput: Throughput,
    latency: Latency,
}

async fn run_all(args: &MomBenchArgs, parent: &Path) -> anyhow::Result<Vec<RunResult>> {
    let mut results = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let dir = tempfile::Builder::new()
            .prefix("mailroom-bench-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a temp dir in {}", parent.display()))?;

        // Half the baseline before the MOM's throughput run and half after,
        // so a drift in the disk's fsync rate weighs on both sides alike.
        let half = Duration::from_secs_f64(args.baseline_seconds as f64 / 2.0);
        eprintln!(
            "run {run}/{}: baseline, first half ({:.1} s, one fsync'd transaction per message)",
            args.runs,
            half.as_secs_f64()
        );
        let first = run_baseline(&dir.path().join("baseline-1.db"), half, args.payload).await?;

        eprintln!(
            "run {run}/{}: throughput ({} envelopes, {} submitters)",
            args.runs, args.envelopes, args.concurrency
        );
        let throughput = throughput(args, &dir.path().join("throughput")).await?;

        eprintln!("run {run}/{}: baseline, second half", args.runs);
        let second = run_baseline(&dir.path().join("baseline-2.db"), half, args.payload).await?;
        let baseline = Baseline {
            messages: first.messages + second.messages,
            seconds: first.seconds + second.seconds,
        };

        eprintln!(
            "run {run}/{}: latency ({}/s for {} s)",
            args.runs, args.rate, args.seconds
        );
        let latency = latency(args, &dir.path().join("latency")).await?;

        eprintln!(
            "run {run}/{}: baseline {:.0} msg/s, mom {:.0} env/s ({:.1}x), p50 {:.2} ms, p99 {:.2} ms",
            args.runs,
            baseline.per_second(),
            throughput.per_second,
            throughput.per_second / baseline.per_second(),
            latency.p50_ms,
            latency.p99_ms
        );
        results.push(RunResult {
            baseline,
            throughput,
            latency,
        });
        // The run's Moms stay up, idle, until the process exits (there is
        // no shutdown hook); their files go with the temp dir.
    }
    Ok(results)
}

// ---------------------------------------------------------------------------
// Baseline: a naive durable queue.

struct Baseline {
    messages: u64,
    seconds: f64,
}

impl Baseline {
    fn per_second(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
}

async fn run_baseline(path: &Path, budget: Duration, payload: usize) -> anyhow::Result<Baseline> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || baseline(&path, budget, payload))
        .await
        .context("baseline thread")?
}

/// One `BEGIN IMMEDIATE … COMMIT` (one WAL fsync) per message, sequentially,
/// for `seconds`, into a fresh database with the stores' pragmas.
fn baseline(path: &Path, budget: Duration, payload: usize) -> anyhow::Result<Baseline> {
    let url = path.to_str().context("temp path is not UTF-8")?;
    let mut conn = SqliteConnection::establish(url)?;
    store::apply_pragmas(&mut conn)?;
    conn.batch_execute(
        "CREATE TABLE queue (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL
        );",
    )?;
    let body = "x".repeat(payload);
    let insert = |conn: &mut SqliteConnection| -> anyhow::Result<()> {
        conn.immediate_transaction(|c| {
            diesel::sql_query("INSERT INTO queue (id, payload, created_at) VALUES (?, ?, ?)")
                .bind::<Text, _>(Uuid::now_v7().to_string())
                .bind::<Text, _>(&body)
                .bind::<BigInt, _>(crate::problem::now_ms())
                .execute(c)
        })?;
        Ok(())
    };
    // Warm up: file creation and the first WAL frames.
    for _ in 0..20 {
        insert(&mut conn)?;
    }
    let started = Instant::now();
    let mut messages = 0u64;
    while started.elapsed() < budget {
        insert(&mut conn)?;
        messages += 1;
    }
    Ok(Baseline {
        messages,
        seconds: started.elapsed().as_secs_f64(),
    })
}

// ---------------------------------------------------------------------------
// The MOM under test.

/// A fresh MOM with the bench service registered, and the threads it runs on.
struct Rig {
    mom: Mom,
    threads: Roles,
}

async fn start_rig(dir: &Path) -> anyhow::Result<Rig> {
    std::fs::create_dir_all(dir)?;
    let before: HashSet<u32> = thread_cpu().into_iter().map(|t| t.tid).collect();
    let mom = Mom::start(
        &dir.join("mom.db"),
        MomConfig::default(),
        Arc::new(Registry::default()),
    )?;
    let pool = store::open(&dir.join("bench.db"), store::migrations::NOTIFICATIONS, 4)?;
    runtime::start(&mom, BenchService, pool);
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    while mom
        .registry()
        .get(BenchService::NAME)
        .and_then(|s| s.link())
        .is_none()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bench actor did not register within {REGISTER_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let threads = Roles::new(&before);
    Ok(Rig { mom, threads })
}

/// Runs `n` envelopes through `mom` from `concurrency` submitters; returns
/// how many came back done and the first thing that went wrong otherwise.
async fn drive(
    mom: &Mom,
    cmd: &Rc<Echo>,
    n: usize,
    concurrency: usize,
) -> (u64, u64, Option<String>) {
    let next = Rc::new(Cell::new(0usize));
    let workers: Vec<_> = (0..concurrency.min(n))
        .map(|_| {
            let (mom, cmd, next) = (mom.clone(), cmd.clone(), next.clone());
            actix::spawn(async move {
                let (mut done, mut failed, mut first_error) = (0u64, 0u64, None);
                loop {
                    let i = next.get();
                    if i >= n {
                        break;
                    }
                    next.set(i + 1);
                    match mom.execute(&*cmd, exec_options()).await {
                        Ok(Executed::Done(())) => done += 1,
                        other => {
                            failed += 1;
                            first_error.get_or_insert_with(|| describe(other));
                        }
                    }
                }
                (done, failed, first_error)
            })
        })
        .collect();
    let mut total = (0, 0, None);
    for w in futures::future::join_all(workers).await {
        match w {
            Ok((d, f, e)) => {
                total.0 += d;
                total.1 += f;
                if total.2.is_none() {
                    total.2 = e;
                }
            }
            Err(e) => {
                total
                    .2
                    .get_or_insert_with(|| format!("submitter task failed: {e}"));
            }
        }
    }
    total
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn describe(r: Result<Executed<()>, crate::mom::MomError>) -> String {
    match r {
        Ok(Executed::Done(())) => "done".into(),
        Ok(Executed::Accepted(id)) => format!("{id} not done within {WAIT:?}"),
        Err(e) => e.to_string(),
    }
}

/// The journal's group-commit histograms at one instant.
#[derive(Clone, Copy)]
struct JournalSnapshot {
    /// Requests (appends, completions, ...) committed so far.
    requests: f64,
    /// Commits (one fsync each) so far.
    commits: u64,
    /// Seconds spent applying and committing groups.
    commit_seconds: f64,
    /// Commits that took longer than [`SLOW_COMMIT`] (from the histogram's buckets).
    slow_commits: u64,
}

impl JournalSnapshot {
    fn now() -> Self {
        let m = crate::metrics::get();
        Self {
            requests: m.journal_group_size.get_sample_sum(),
            commits: m.journal_group_size.get_sample_count(),
            commit_seconds: m.journal_commit_seconds.get_sample_sum(),
            slow_commits: {
                let proto = m.journal_commit_seconds.metric();
                let h = proto.get_histogram();
                let fast = h
                    .get_bucket()
                    .iter()
                    .filter(|b| b.upper_bound() <= SLOW_COMMIT.as_secs_f64() + 1e-9)
                    .map(|b| b.cumulative_count())
                    .max()
                    .unwrap_or(0);
                h.get_sample_count().saturating_sub(fast)
            },
        }
    }
}

/// What the journal did for `envelopes` commands that all came back done.
/// Each command is one append request; each service batch is one
/// completion request; nothing else runs during a bench.
#[derive(Clone, Copy, Default)]
struct JournalUse {
    /// Mean requests per commit.
    group: f64,
    /// Mean envelopes per service batch (per completion request).
    batch: f64,
    /// Journal fsyncs + service fsyncs per envelope.
    fsyncs_per_envelope: f64,
    /// Share of the wall time the writer spent in transactions.
    writer_busy: f64,
    /// Mean time to apply and commit one group, in ms.
    commit_ms: f64,
    /// Writer time (apply + commit) per envelope, in µs.
    writer_us_per_envelope: f64,
    /// Commits slower than [`SLOW_COMMIT`].
    slow_commits: u64,
}

impl JournalUse {
    fn between(a: JournalSnapshot, b: JournalSnapshot, envelopes: u64, elapsed: f64) -> Self {
        let commits = b.commits.saturating_sub(a.commits);
        let requests = b.requests - a.requests;
        let batches = (requests - envelopes as f64).max(1.0);
        Self {
            group: requests / commits.max(1) as f64,
            batch: envelopes as f64 / batches,
            fsyncs_per_envelope: (commits as f64 + batches) / envelopes.max(1) as f64,
            writer_busy: (b.commit_seconds - a.commit_seconds) / elapsed,
            commit_ms: (b.commit_seconds - a.commit_seconds) * 1e3 / commits.max(1) as f64,
            writer_us_per_envelope: (b.commit_seconds - a.commit_seconds) * 1e6
                / envelopes.max(1) as f64,
            slow_commits: b.slow_commits.saturating_sub(a.slow_commits),
        }
    }
}

struct Throughput {
    done: u64,
    failed: u64,
    first_error: Option<String>,
    seconds: f64,
    per_second: f64,
    journal: JournalUse,
    /// CPU per role, as a share of one core over the measured window.
    cpu: CpuShare,
    /// CPU the rest of the machine used meanwhile (share of one core).
    others: f64,
}

async fn throughput(args: &MomBenchArgs, dir: &Path) -> anyhow::Result<Throughput> {
    let rig = start_rig(dir).await?;
    let cmd = Rc::new(Echo::sized(args.payload));
    let warmup = (args.envelopes / 10).clamp(1, 1000);
    let (_, failed, err) = drive(&rig.mom, &cmd, warmup, args.concurrency).await;
    anyhow::ensure!(failed == 0, "warm-up failed: {}", err.unwrap_or_default());

    let journal_before = JournalSnapshot::now();
    let cpu_before = thread_cpu();
    let machine = MachineWindow::start();
    let started = Instant::now();
    let (done, failed, first_error) = drive(&rig.mom, &cmd, args.envelopes, args.concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = rig.threads.share(&cpu_before, &thread_cpu(), seconds);
    let others = machine.others(seconds);
    let journal = JournalUse::between(journal_before, JournalSnapshot::now(), done, seconds);
    Ok(Throughput {
        done,
        failed,
        first_error,
        seconds,
        per_second: done as f64 / seconds,
        journal,
        cpu,
        others,
    })
}

struct Latency {
    offered: u64,
    failed: u64,
    first_error: Option<String>,
    /// Done envelopes per second from the first submission to the last answer.
    achieved: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// How late submissions left against their schedule (timer
    /// granularity, a busy client thread).
    lag_p99_ms: f64,
    lag_max_ms: f64,
    journal: JournalUse,
    /// CPU the rest of the machine used meanwhile (share of one core).
    others: f64,
}

/// What the latency run's submissions came to, filled in by each as it ends.
struct Tally {
    histogram: Histogram<u64>,
    done: u64,
    failed: u64,
    first_error: Option<String>,
    /// Submitted and not yet settled.
    outstanding: u64,
    /// When the last one settled.
    last: Instant,
}

/// One submission in flight: settles into the tally exactly once, even if
/// its task is dropped or panics.
struct Submission {
    tally: Rc<RefCell<Tally>>,
    settled: Rc<Notify>,
    recorded: bool,
}

impl Submission {
    fn record(&mut self, result: Result<Duration, String>) {
        let mut t = self.tally.borrow_mut();
        match result {
            Ok(latency) => {
                t.done += 1;
                t.histogram.saturating_record(micros(latency));
            }
            Err(e) => {
                t.failed += 1;
                t.first_error.get_or_insert(e);
            }
        }
        self.recorded = true;
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Err("the submission task ended without an answer".into()));
        }
        let mut t = self.tally.borrow_mut();
        t.outstanding -= 1;
        t.last = Instant::now();
        if t.outstanding == 0 {
            self.settled.notify_one();
        }
    }
}

/// Offers `--rate` envelopes/s for `--seconds` on a fixed schedule; each
/// submission is its own task (a slow one does not delay the next), and its
/// latency runs from submission to `Done`. How late each submission left
/// against its schedule is recorded too, so a client that fell behind (and
/// would hide the MOM's stalls) shows.
async fn latency(args: &MomBenchArgs, dir: &Path) -> anyhow::Result<Latency> {
    let rig = start_rig(dir).await?;
    let cmd = Rc::new(Echo::sized(args.payload));
    let (_, failed, err) = drive(&rig.mom, &cmd, 500, 16).await;
    anyhow::ensure!(failed == 0, "warm-up failed: {}", err.unwrap_or_default());

    let total = args.rate.saturating_mul(args.seconds);
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let journal_before = JournalSnapshot::now();
    let machine = MachineWindow::start();
    let start = Instant::now();
    // Each submission settles into the tally itself: awaiting tens of
    // thousands of join handles at the end would take longer than the
    // envelopes do.
    let tally = Rc::new(RefCell::new(Tally {
        histogram: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        done: 0,
        failed: 0,
        first_error: None,
        outstanding: 0,
        last: start,
    }));
    let settled = Rc::new(Notify::new());
    let mut lag = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * args.rate as f64) as u64 + 1).min(total);
        while sent < due {
            let scheduled = start + interval.mul_f64(sent as f64);
            let submitted = Instant::now();
            lag.saturating_record(micros(submitted.saturating_duration_since(scheduled)));
            tally.borrow_mut().outstanding += 1;
            let mut submission = Submission {
                tally: tally.clone(),
                settled: settled.clone(),
                recorded: false,
            };
            let (mom, cmd) = (rig.mom.clone(), cmd.clone());
            actix::spawn(async move {
                let result = match mom.execute(&*cmd, exec_options()).await {
                    Ok(Executed::Done(())) => Ok(submitted.elapsed()),
                    other => Err(describe(other)),
                };
                submission.record(result);
            });
            sent += 1;
        }
        if sent < total {
            tokio::time::sleep_until((start + interval.mul_f64(sent as f64)).into()).await;
        }
    }
    loop {
        if tally.borrow().outstanding == 0 {
            break;
        }
        settled.notified().await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let tally = tally.borrow();
    let (histogram, done, failed) = (&tally.histogram, tally.done, tally.failed);
    let first_error = tally.first_error.clone();
    let achieved = done as f64 / tally.last.duration_since(start).as_secs_f64();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(Latency {
        offered: total,
        failed,
        first_error,
        achieved,
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
        lag_p99_ms: lag.value_at_quantile(0.99) as f64 / 1000.0,
        lag_max_ms: lag.max() as f64 / 1000.0,
        journal: JournalUse::between(journal_before, JournalSnapshot::now(), done, seconds),
        others: machine.others(seconds),
    })
}

// ---------------------------------------------------------------------------
// Per-thread CPU (Linux /proc; empty elsewhere).

struct ThreadCpu {
    tid: u32,
    name: String,
    ticks: u64,
}

fn thread_cpu() -> Vec<ThreadCpu> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `tid (comm) state ...`: comm may hold spaces and parentheses.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let name = stat.get(open + 1..close)?.to_owned();
            let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
            // Fields 14 and 15 of stat(5): utime, stime; field 3 is fields[0].
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(ThreadCpu {
                tid,
                name,
                ticks: utime + stime,
            })
        })
        .collect()
}

/// CPU used by other processes over a window: the machine's busy ticks
/// minus this process's.
struct MachineWindow {
    machine: Option<u64>,
    process: Option<u64>,
}

impl MachineWindow {
    fn start() -> Self {
        Self {
            machine: machine_busy_ticks(),
            process: process_ticks(),
        }
    }

    /// Share of one core; NaN where `/proc` is not readable.
    fn others(&self, seconds: f64) -> f64 {
        match (
            self.machine,
            machine_busy_ticks(),
            self.process,
            process_ticks(),
        ) {
            (Some(m0), Some(m1), Some(p0), Some(p1)) => {
                let other = m1.saturating_sub(m0).saturating_sub(p1.saturating_sub(p0));
                other as f64 / TICKS_PER_SECOND / seconds
            }
            _ => f64::NAN,
        }
    }
}

/// This process's CPU ticks (user + system, all threads, dead ones too).
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Busy CPU ticks of the whole machine (all cores), from `/proc/stat`.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    Some(
        [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| ticks.get(i))
            .sum(),
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Role {
    /// The actix System thread: the submitters, `Mom::execute`.
    Client,
    /// The post office's arbiter.
    PostOffice,
    /// The journal's writer thread.
    Journal,
    /// The bench service's arbiter (its SQLite transactions).
    Service,
    /// Everything else (pool workers, blocking threads, older runs' idle rigs).
    Other,
}

const ROLES: [(Role, &str); 5] = [
    (Role::Client, "client (System thread)"),
    (Role::PostOffice, "post office"),
    (Role::Journal, "journal writer"),
    (Role::Service, "bench service"),
    (Role::Other, "other"),
];

/// Which thread is which, for one rig.
struct Roles {
    by_tid: HashMap<u32, Role>,
}

impl Roles {
    /// Classifies the threads that appeared since `before`: the journal's
    /// writer is named; `Mom::start` creates its arbiter before
    /// `runtime::start` creates the service's, and thread ids grow.
    fn new(before: &HashSet<u32>) -> Self {
        let mut by_tid = HashMap::new();
        by_tid.insert(std::process::id(), Role::Client);
        let mut arbiters = Vec::new();
        for t in thread_cpu()
            .into_iter()
            .filter(|t| !before.contains(&t.tid))
        {
            if t.name == "mom-journal" {
                by_tid.insert(t.tid, Role::Journal);
            } else if t.name.starts_with("actix-rt") {
                arbiters.push(t.tid);
            }
        }
        arbiters.sort_unstable();
        if let [post_office, service] = arbiters[..] {
            by_tid.insert(post_office, Role::PostOffice);
            by_tid.insert(service, Role::Service);
        }
        Self { by_tid }
    }

    fn share(&self, before: &[ThreadCpu], after: &[ThreadCpu], seconds: f64) -> CpuShare {
        let start: HashMap<u32, u64> = before.iter().map(|t| (t.tid, t.ticks)).collect();
        let mut share = CpuShare::default();
        for t in after {
            let ticks = t
                .ticks
                .saturating_sub(start.get(&t.tid).copied().unwrap_or(0));
            let role = self.by_tid.get(&t.tid).copied().unwrap_or(Role::Other);
            *share.0.entry(role).or_default() += ticks as f64 / TICKS_PER_SECOND / seconds;
        }
        share
    }
}

/// CPU per role as a share of one core (1.0 = one core busy all along).
#[derive(Default)]
struct CpuShare(HashMap<Role, f64>);

impl CpuShare {
    fn get(&self, role: Role) -> f64 {
        self.0.get(&role).copied().unwrap_or(0.0)
    }
    fn total(&self) -> f64 {
        self.0.values().sum()
    }
}

// ---------------------------------------------------------------------------
// Report.

/// Median, min and max.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(values: impl IntoIterator<Item = f64>) -> Spread {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Spread {
        median,
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

/// `12345.6` → `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn print_report(args: &MomBenchArgs, parent: &Path, runs: &[RunResult]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!("mailroom bench mom");
    println!(
        "  {} run(s) · payload {} B · fsync on (WAL, synchronous=FULL) · {} core(s) · dir {}",
        runs.len(),
        args.payload,
        cores,
        display_dir(parent)
    );
    println!(
        "  throughput: {} envelopes from {} concurrent submitters · latency: {}/s offered for {} s · baseline: {} s",
        thousands(args.envelopes as f64),
        args.concurrency,
        thousands(args.rate as f64),
        args.seconds,
        args.baseline_seconds
    );
    println!();
    println!(
        "  {:>3}  {:>12}  {:>11}  {:>6}  {:>8}  {:>7}  {:>9}  {:>8}  {:>8}  {:>8}  {:>8}  {:>9}  {:>9}  {:>5}",
        "run",
        "baseline/s",
        "mom env/s",
        "ratio",
        "group",
        "batch",
        "fsync/env",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "achieved",
        "other CPU",
        "(lat)"
    );
    for (i, r) in runs.iter().enumerate() {
        println!(
            "  {:>3}  {:>12}  {:>11}  {:>5.1}x  {:>8.1}  {:>7.1}  {:>9.3}  {:>8.2}  {:>8.2}  {:>8.2}  {:>8.2}  {:>9}  {:>7.0} %  {:>3.0} %",
            i + 1,
            thousands(r.baseline.per_second()),
            thousands(r.throughput.per_second),
            r.throughput.per_second / r.baseline.per_second(),
            r.throughput.journal.group,
            r.throughput.journal.batch,
            r.throughput.journal.fsyncs_per_envelope,
            r.latency.p50_ms,
            r.latency.p90_ms,
            r.latency.p99_ms,
            r.latency.max_ms,
            thousands(r.latency.achieved),
            r.throughput.others * 100.0,
            r.latency.others * 100.0,
        );
    }
    println!();
    println!("  summary: median [min – max] over {} run(s)", runs.len());
    let row = |label: &str, s: Spread, fmt: &dyn Fn(f64) -> String| {
        println!(
            "    {label:<44} {:>12}   [{} – {}]",
            fmt(s.median),
            fmt(s.min),
            fmt(s.max)
        );
    };
    let per_s = |x: f64| format!("{}/s", thousands(x));
    let ms = |x: f64| format!("{x:.2} ms");
    let ratio = |x: f64| format!("{x:.1}x");
    let one = |x: f64| format!("{x:.1}");
    let three = |x: f64| format!("{x:.3}");
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    let us = |x: f64| format!("{x:.1} µs");
    let count = |x: f64| format!("{x:.0}");
    row(
        "baseline: 1 txn + fsync per message",
        spread(runs.iter().map(|r| r.baseline.per_second())),
        &per_s,
    );
    row(
        "mom: durable envelopes done",
        spread(runs.iter().map(|r| r.throughput.per_second)),
        &per_s,
    );
    row(
        "mom / baseline (same run)",
        spread(
            runs.iter()
                .map(|r| r.throughput.per_second / r.baseline.per_second()),
        ),
        &ratio,
    );
    row(
        "journal requests per commit (mean group)",
        spread(runs.iter().map(|r| r.throughput.journal.group)),
        &one,
    );
    row(
        "envelopes per service batch (mean)",
        spread(runs.iter().map(|r| r.throughput.journal.batch)),
        &one,
    );
    row(
        "fsyncs per envelope (journal + service)",
        spread(
            runs.iter()
                .map(|r| r.throughput.journal.fsyncs_per_envelope),
        ),
        &three,
    );
    row(
        "journal writer busy (in transactions)",
        spread(runs.iter().map(|r| r.throughput.journal.writer_busy)),
        &pct,
    );
    row(
        "journal group apply + commit (mean)",
        spread(runs.iter().map(|r| r.throughput.journal.commit_ms)),
        &ms,
    );
    row(
        "journal writer time per envelope",
        spread(
            runs.iter()
                .map(|r| r.throughput.journal.writer_us_per_envelope),
        ),
        &us,
    );
    row(
        &format!("journal commits over {} ms", SLOW_COMMIT.as_millis()),
        spread(
            runs.iter()
                .map(|r| r.throughput.journal.slow_commits as f64),
        ),
        &count,
    );
    println!();
    println!(
        "    latency at {}/s offered ({} per run), submit → Done:",
        thousands(args.rate as f64),
        thousands(runs.first().map_or(0, |r| r.latency.offered) as f64)
    );
    row("  p50", spread(runs.iter().map(|r| r.latency.p50_ms)), &ms);
    row("  p90", spread(runs.iter().map(|r| r.latency.p90_ms)), &ms);
    row("  p99", spread(runs.iter().map(|r| r.latency.p99_ms)), &ms);
    row("  max", spread(runs.iter().map(|r| r.latency.max_ms)), &ms);
    row(
        "  client schedule lag, p99",
        spread(runs.iter().map(|r| r.latency.lag_p99_ms)),
        &ms,
    );
    row(
        "  client schedule lag, max",
        spread(runs.iter().map(|r| r.latency.lag_max_ms)),
        &ms,
    );
    row(
        "  achieved",
        spread(runs.iter().map(|r| r.latency.achieved)),
        &per_s,
    );
    row(
        "  journal requests per commit",
        spread(runs.iter().map(|r| r.latency.journal.group)),
        &one,
    );
    row(
        "  envelopes per service batch",
        spread(runs.iter().map(|r| r.latency.journal.batch)),
        &one,
    );
    row(
        "  fsyncs per envelope",
        spread(runs.iter().map(|r| r.latency.journal.fsyncs_per_envelope)),
        &three,
    );
    row(
        "  journal group apply + commit (mean)",
        spread(runs.iter().map(|r| r.latency.journal.commit_ms)),
        &ms,
    );
    row(
        &format!("  journal commits over {} ms", SLOW_COMMIT.as_millis()),
        spread(runs.iter().map(|r| r.latency.journal.slow_commits as f64)),
        &count,
    );
    let others = spread(runs.iter().map(|r| r.latency.others));
    if !others.median.is_nan() {
        row("  other processes on the machine (CPU)", others, &pct);
    }
    if runs.iter().any(|r| r.throughput.cpu.total() > 0.0) {
        println!();
        println!(
            "    CPU during the throughput runs, median (share of one core; {cores} available; per envelope):"
        );
        let cpu_row = |label: &str, share: &dyn Fn(&RunResult) -> f64| {
            let s = spread(runs.iter().map(share));
            let per = spread(
                runs.iter()
                    .map(|r| share(r) * 1e6 / r.throughput.per_second),
            );
            println!(
                "    {:<44} {:>12}   {:>10}",
                format!("  {label}"),
                pct(s.median),
                us(per.median)
            );
        };
        for (role, label) in ROLES {
            cpu_row(label, &|r| r.throughput.cpu.get(role));
        }
        cpu_row("whole process", &|r| r.throughput.cpu.total());
        let others = spread(runs.iter().map(|r| r.throughput.others));
        if !others.median.is_nan() {
            println!(
                "    {:<44} {:>12}   [{} – {}]",
                "  other processes on the machine",
                pct(others.median),
                pct(others.min),
                pct(others.max)
            );
        }
    }
    let failures: Vec<String> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let t = (r.throughput.failed > 0).then(|| {
                format!(
                    "run {}: throughput: {} of {} not done ({})",
                    i + 1,
                    r.throughput.failed,
                    r.throughput.failed + r.throughput.done,
                    r.throughput.first_error.as_deref().unwrap_or("?")
                )
            });
            let l = (r.latency.failed > 0).then(|| {
                format!(
                    "run {}: latency: {} of {} not done ({})",
                    i + 1,
                    r.latency.failed,
                    r.latency.offered,
                    r.latency.first_error.as_deref().unwrap_or("?")
                )
            });
            t.into_iter().chain(l)
        })
        .collect();
    println!();
    if failures.is_empty() {
        println!("  every envelope came back Done.");
    } else {
        println!("  NOT DONE:");
        for f in failures {
            println!("    {f}");
        }
    }
    let window = spread(runs.iter().map(|r| r.throughput.seconds)).median;
    println!(
        "  (throughput window {window:.2} s, median; baseline {} messages, median)",
        thousands(spread(runs.iter().map(|r| r.baseline.messages as f64)).median)
    );
}

fn display_dir(parent: &Path) -> String {
    let p: PathBuf = parent
        .canonicalize()
        .unwrap_or_else(|_| parent.to_path_buf());
    p.display().to_string()
}
