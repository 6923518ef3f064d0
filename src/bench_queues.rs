//! `mailroom bench queues`: the user-facing queues on the real engine, in
//! process — a fresh [`Mom`] (journal with group commit, post office) and
//! the `queues` actor in the standard runtime, driven through the same
//! functions the REST and gRPC edges call ([`edge::publish`],
//! [`edge::receive`], `Ack` via [`Mom::execute`]). HTTP is not in the path.
//!
//! Per run, each on a fresh data dir:
//! 1. **Publish throughput**: `--messages` publishes of `--body` bytes from
//!    `--publishers` concurrent publishers; one counts when it is `Done`,
//!    i.e. journaled (fsync), applied in `queues.db` (fsync) and marked done
//!    (fsync) — what a REST 201 waits for.
//! 2. **Receive + ack throughput**: `--consumers` consumers drain those
//!    messages, each receiving up to `--batch` per receive and acking every
//!    message (one command each, sent concurrently) before receiving again.
//! 3. **Latency at a fixed rate**: publishes offered at `--rate`/s for
//!    `--seconds` on a fixed schedule (each its own task), consumers
//!    long-polling; a message's latency runs from its scheduled publish time
//!    to the moment a consumer holds it (so a publisher that falls behind
//!    shows in the figure rather than hiding it).
//!
//! The report prints medians over `--runs` runs and the spread.
#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::{
    cell::{Cell, RefCell},
    path::Path,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use uuid::Uuid;

use crate::{
    actors::{
        queues::{
            edge, Ack, AckBatch, AckItem, By, CreateQueue, Delivered, Publish, Queues, Receive,
        },
        runtime,
    },
    config::QueuesBenchArgs,
    mom::{registry::Registry, ExecOptions, Executed, Mom, MomConfig, MomError},
    store,
};

/// How long a command may take before it counts as "accepted" (a failure
/// here): long enough that everything completes.
const WAIT: Duration = Duration::from_secs(30);
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// Long poll per receive in the latency runs.
const LONG_POLL: Duration = Duration::from_secs(1);
/// How long the latency run waits for the last messages after publishing.
const DRAIN: Duration = Duration::from_secs(30);

fn opts() -> ExecOptions {
    ExecOptions {
        owner: None,
        idempotency_key: None,
        wait: WAIT,
    }
}

pub fn queues(args: QueuesBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.messages >= 1, "--messages must be at least 1");
    anyhow::ensure!(args.publishers >= 1, "--publishers must be at least 1");
    anyhow::ensure!(args.consumers >= 1, "--consumers must be at least 1");
    anyhow::ensure!(
        (1..=crate::actors::queues::MAX_RECEIVE).contains(&args.batch),
        "--batch must be between 1 and {}",
        crate::actors::queues::MAX_RECEIVE
    );
    anyhow::ensure!(args.rate >= 1, "--rate must be at least 1");
    anyhow::ensure!(args.seconds >= 1, "--seconds must be at least 1");
    anyhow::ensure!(args.body >= 16, "--body must be at least 16 bytes");
    anyhow::ensure!(
        args.body <= crate::actors::queues::MAX_BODY,
        "--body must be at most {} bytes",
        crate::actors::queues::MAX_BODY
    );
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let runs = actix::System::new().block_on(run_all(&args, &parent))?;
    print_report(&args, &runs);
    Ok(())
}

struct RunResult {
    publish: Rate,
    consume: Rate,
    latency: Latency,
}

async fn run_all(args: &QueuesBenchArgs, parent: &Path) -> anyhow::Result<Vec<RunResult>> {
    let mut out = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let dir = tempfile::Builder::new()
            .prefix("mailroom-bench-queues-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a temp dir in {}", parent.display()))?;
        let rig = Rig::start(&dir.path().join("throughput")).await?;
        eprintln!(
            "run {run}/{}: publishing {} messages from {} publishers",
            args.runs, args.messages, args.publishers
        );
        let publish = rig.publish_all(args).await?;
        eprintln!(
            "run {run}/{}: receiving and acking them with {} consumers (batch {})",
            args.runs, args.consumers, args.batch
        );
        let consume = rig.drain(args).await?;
        eprintln!(
            "run {run}/{}: latency at {}/s for {} s",
            args.runs, args.rate, args.seconds
        );
        let latency = Rig::start(&dir.path().join("latency"))
            .await?
            .latency(args)
            .await?;
        eprintln!(
            "run {run}/{}: publish {:.0} msg/s, receive+ack {:.0} msg/s, latency p50 {:.1} ms p99 {:.1} ms at {:.0}/s achieved",
            args.runs,
            publish.per_second,
            consume.per_second,
            latency.p50_ms,
            latency.p99_ms,
            latency.achieved
        );
        out.push(RunResult {
            publish,
            consume,
            latency,
        });
        // The rigs stay up, idle, until the process exits; their files go
        // with the temp dir.
    }
    Ok(out)
}

/// A MOM with the queues actor and one queue.
struct Rig {
    mom: Mom,
    by: By,
    queue: String,
}

/// Messages per second over a phase.
struct Rate {
    messages: u64,
    seconds: f64,
    per_second: f64,
}

struct Latency {
    offered: u64,
    published: u64,
    received: u64,
    /// Published but not yet received when the last publish was sent.
    backlog: u64,
    failed: u64,
    first_error: Option<String>,
    /// Publishes done per second over the publishing window.
    achieved: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Publish answered (the 201 point), for comparison.
    publish_p50_ms: f64,
    publish_p99_ms: f64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn describe<R>(r: Result<Executed<R>, MomError>) -> String {
    match r {
        Ok(Executed::Done(_)) => "done".into(),
        Ok(Executed::Accepted(id)) => format!("{id} not done within {WAIT:?}"),
        Err(e) => e.to_string(),
    }
}

/// A body of exactly `size` bytes that starts with `tag`.
fn body(tag: u64, size: usize) -> String {
    let mut b = format!("{tag}:");
    b.extend(std::iter::repeat_n('x', size.saturating_sub(b.len())));
    b
}

impl Rig {
    async fn start(dir: &Path) -> anyhow::Result<Rig> {
        std::fs::create_dir_all(dir)?;
        let mom = Mom::start(
            &dir.join("mom.db"),
            MomConfig::default(),
            Arc::new(Registry::default()),
        )?;
        let pool = store::open(&dir.join("queues.db"), store::migrations::QUEUES, 4)?;
        runtime::start(&mom, Queues, pool);
        let deadline = Instant::now() + REGISTER_TIMEOUT;
        while mom
            .registry()
            .get(Queues::NAME)
            .and_then(|s| s.link())
            .is_none()
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the queues actor did not register within {REGISTER_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let by = By {
            user_id: Uuid::now_v7(),
            admin: false,
        };
        let queue = "bench".to_owned();
        let cmd = CreateQueue {
            by,
            name: queue.clone(),
            visibility_timeout_s: Some(300),
            max_deliveries: None,
            message_ttl_s: None,
        };
        match mom.execute(&cmd, opts()).await {
            Ok(Executed::Done(_)) => {}
            other => anyhow::bail!("creating the queue: {}", describe(other)),
        }
        Ok(Rig { mom, by, queue })
    }

    fn publish_cmd(&self, tag: u64, size: usize) -> Publish {
        Publish {
            by: self.by,
            queue: self.queue.clone(),
            body: body(tag, size),
            headers: Default::default(),
            delay_s: None,
        }
    }

    fn receive_cmd(&self, max: u32) -> Receive {
        Receive {
            by: self.by,
            queue: self.queue.clone(),
            max,
            visibility_timeout_s: None,
        }
    }

    /// Acks what a receive returned: one batch ack, or (`single`) one
    /// command per message, sent concurrently.
    async fn ack_all(&self, got: &[Delivered], single: bool) -> Result<(), String> {
        if !single {
            let cmd = AckBatch {
                by: self.by,
                queue: self.queue.clone(),
                acks: got
                    .iter()
                    .map(|m| AckItem {
                        id: m.id,
                        receipt: m.receipt.clone(),
                    })
                    .collect(),
            };
            return match self.mom.execute(&cmd, opts()).await {
                Ok(Executed::Done(r)) if r.results.iter().all(|s| s.status == "acked") => Ok(()),
                Ok(Executed::Done(r)) => Err(format!("not all acked: {:?}", r.results)),
                other => Err(describe(other)),
            };
        }
        let acks = got.iter().map(|m| {
            let cmd = Ack {
                by: self.by,
                queue: self.queue.clone(),
                id: m.id,
                receipt: m.receipt.clone(),
            };
            let mom = self.mom.clone();
            async move { mom.execute(&cmd, opts()).await }
        });
        for r in futures::future::join_all(acks).await {
            match r {
                Ok(Executed::Done(_)) => {}
                other => return Err(describe(other)),
            }
        }
        Ok(())
    }

    /// Phase 1: `--messages` publishes from `--publishers` publishers.
    async fn publish_all(&self, args: &QueuesBenchArgs) -> anyhow::Result<Rate> {
        let n = args.messages as u64;
        let next = Rc::new(Cell::new(0u64));
        let started = Instant::now();
        let workers: Vec<_> = (0..args.publishers.min(args.messages))
            .map(|_| {
                let (mom, next) = (self.mom.clone(), next.clone());
                let template = self.publish_cmd(0, args.body);
                let size = args.body;
                actix::spawn(async move {
                    loop {
                        let i = next.get();
                        if i >= n {
                            return Ok(());
                        }
                        next.set(i + 1);
                        let cmd = Publish {
                            body: body(i, size),
                            ..template.clone()
                        };
                        match edge::publish(&mom, &cmd, opts()).await {
                            Ok(Executed::Done(_)) => {}
                            other => return Err(describe(other)),
                        }
                    }
                })
            })
            .collect();
        for w in futures::future::join_all(workers).await {
            w.context("publisher task")?
                .map_err(|e| anyhow::anyhow!("publish failed: {e}"))?;
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(Rate {
            messages: n,
            seconds,
            per_second: n as f64 / seconds,
        })
    }

    /// Phase 2: drain what phase 1 published, acking each message.
    async fn drain(self, args: &QueuesBenchArgs) -> anyhow::Result<Rate> {
        let rig = Rc::new(self);
        let n = args.messages as u64;
        let acked = Rc::new(Cell::new(0u64));
        let started = Instant::now();
        let workers: Vec<_> = (0..args.consumers)
            .map(|_| {
                let (rig, acked) = (rig.clone(), acked.clone());
                let cmd = rig.receive_cmd(args.batch);
                let single = args.single_acks;
                actix::spawn(async move {
                    while acked.get() < n {
                        let got = match edge::receive(&rig.mom, &cmd, opts(), Duration::ZERO).await
                        {
                            Ok(Executed::Done(r)) => r.messages,
                            other => return Err(describe(other)),
                        };
                        if got.is_empty() {
                            // The rest is leased to the other consumers.
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        rig.ack_all(&got, single).await?;
                        acked.set(acked.get() + got.len() as u64);
                    }
                    Ok(())
                })
            })
            .collect();
        for w in futures::future::join_all(workers).await {
            w.context("consumer task")?
                .map_err(|e| anyhow::anyhow!("receive/ack failed: {e}"))?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let messages = acked.get();
        anyhow::ensure!(messages == n, "acked {messages} of {n}");
        Ok(Rate {
            messages,
            seconds,
            per_second: messages as f64 / seconds,
        })
    }

    /// Phase 3: fixed-rate publishing, long-polling consumers.
    async fn latency(self, args: &QueuesBenchArgs) -> anyhow::Result<Latency> {
        let rig = Rc::new(self);
        let total = args.rate.saturating_mul(args.seconds);
        let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
        let start = Instant::now();
        // Scheduled publish times by tag, filled as they are sent.
        let scheduled: Rc<RefCell<Vec<Instant>>> =
            Rc::new(RefCell::new(Vec::with_capacity(total as usize)));
        let hist = Rc::new(RefCell::new(Histogram::<u64>::new_with_bounds(
            1,
            120_000_000,
            3,
        )?));
        let received = Rc::new(Cell::new(0u64));
        let published = Rc::new(Cell::new(0u64));
        let stop = Rc::new(Cell::new(false));
        let consumer_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));

        let consumers: Vec<_> = (0..args.consumers)
            .map(|_| {
                let (rig, scheduled, hist, received, stop, err) = (
                    rig.clone(),
                    scheduled.clone(),
                    hist.clone(),
                    received.clone(),
                    stop.clone(),
                    consumer_error.clone(),
                );
                let cmd = rig.receive_cmd(args.batch);
                let single = args.single_acks;
                actix::spawn(async move {
                    while !stop.get() {
                        let got = match edge::receive(&rig.mom, &cmd, opts(), LONG_POLL).await {
                            Ok(Executed::Done(r)) => r.messages,
                            other => {
                                err.borrow_mut().get_or_insert(describe(other));
                                return;
                            }
                        };
                        let now = Instant::now();
                        for m in &got {
                            let tag: usize = m
                                .body
                                .split(':')
                                .next()
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(usize::MAX);
                            if let Some(at) = scheduled.borrow().get(tag) {
                                hist.borrow_mut()
                                    .saturating_record(micros(now.saturating_duration_since(*at)));
                            }
                        }
                        if got.is_empty() {
                            continue;
                        }
                        received.set(received.get() + got.len() as u64);
                        // Acks run beside the next receive, as a consumer
                        // that processes and acks asynchronously would.
                        let rig = rig.clone();
                        let err = err.clone();
                        actix::spawn(async move {
                            if let Err(e) = rig.ack_all(&got, single).await {
                                err.borrow_mut().get_or_insert(e);
                            }
                        });
                    }
                })
            })
            .collect();

        let mut tasks = Vec::with_capacity(total as usize);
        let mut sent = 0u64;
        while sent < total {
            let due = ((start.elapsed().as_secs_f64() * args.rate as f64) as u64 + 1).min(total);
            while sent < due {
                let at = start + interval.mul_f64(sent as f64);
                scheduled.borrow_mut().push(at);
                let cmd = rig.publish_cmd(sent, args.body);
                let (mom, published) = (rig.mom.clone(), published.clone());
                tasks.push(actix::spawn(async move {
                    let r = edge::publish(&mom, &cmd, opts()).await;
                    match r {
                        Ok(Executed::Done(_)) => {
                            published.set(published.get() + 1);
                            Ok(Instant::now())
                        }
                        other => Err(describe(other)),
                    }
                }));
                sent += 1;
            }
            if sent < total {
                tokio::time::sleep_until((start + interval.mul_f64(sent as f64)).into()).await;
            }
        }
        // Whether the consumers kept up: what they had not received yet when
        // the last publish was sent.
        let backlog = published.get().saturating_sub(received.get());
        let mut publish_hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let (mut failed, mut first_error) = (0u64, None);
        let mut last_done = start;
        for (i, t) in futures::future::join_all(tasks)
            .await
            .into_iter()
            .enumerate()
        {
            match t {
                Ok(Ok(done)) => {
                    let at = start + interval.mul_f64(i as f64);
                    publish_hist.saturating_record(micros(done.saturating_duration_since(at)));
                    last_done = last_done.max(done);
                }
                Ok(Err(e)) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("publish task failed: {e}"));
                }
            }
        }
        // From the first scheduled publish to the last one done.
        let publishing = last_done.duration_since(start).as_secs_f64().max(1e-9);
        let until = Instant::now() + DRAIN;
        while received.get() < published.get() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.set(true);
        for c in consumers {
            let _ = c.await;
        }
        if let Some(e) = consumer_error.borrow_mut().take() {
            failed += 1;
            first_error.get_or_insert(e);
        }
        let h = hist.borrow();
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Ok(Latency {
            offered: total,
            published: published.get(),
            received: received.get(),
            backlog,
            failed,
            first_error,
            achieved: published.get() as f64 / publishing,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
            publish_p50_ms: publish_hist.value_at_quantile(0.5) as f64 / 1000.0,
            publish_p99_ms: publish_hist.value_at_quantile(0.99) as f64 / 1000.0,
        })
    }
}

/// Median and range of a set of runs.
fn spread(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (median, v[0], v[v.len() - 1])
}

fn print_report(args: &QueuesBenchArgs, runs: &[RunResult]) {
    let line = |label: &str, unit: &str, values: Vec<f64>| {
        let (m, lo, hi) = spread(values);
        println!("  {label:<34} {m:>10.1} {unit:<6} (runs {lo:.1} … {hi:.1})");
    };
    println!();
    println!(
        "mailroom bench queues — {} run(s), medians; {} B bodies; in process (MOM + queues actor, no HTTP); {} CPU(s)",
        runs.len(),
        args.body,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "publish throughput ({} messages, {} publishers; each answered after journal fsync + queue commit + done-mark):",
        args.messages, args.publishers
    );
    line(
        "published",
        "msg/s",
        runs.iter().map(|r| r.publish.per_second).collect(),
    );
    line(
        "elapsed",
        "s",
        runs.iter().map(|r| r.publish.seconds).collect(),
    );
    println!();
    println!(
        "receive + ack throughput ({} consumers, up to {} per receive, {}):",
        args.consumers,
        args.batch,
        if args.single_acks {
            "one ack command per message"
        } else {
            "one batch ack per receive"
        }
    );
    line(
        "received and acked",
        "msg/s",
        runs.iter().map(|r| r.consume.per_second).collect(),
    );
    line(
        "messages",
        "",
        runs.iter().map(|r| r.consume.messages as f64).collect(),
    );
    println!();
    println!(
        "publish → receive latency (offered {}/s for {} s, consumers long-polling; from the scheduled publish time):",
        args.rate, args.seconds
    );
    line(
        "publishes done",
        "msg/s",
        runs.iter().map(|r| r.latency.achieved).collect(),
    );
    line("p50", "ms", runs.iter().map(|r| r.latency.p50_ms).collect());
    line("p90", "ms", runs.iter().map(|r| r.latency.p90_ms).collect());
    line("p99", "ms", runs.iter().map(|r| r.latency.p99_ms).collect());
    line("max", "ms", runs.iter().map(|r| r.latency.max_ms).collect());
    line(
        "publish answered p50",
        "ms",
        runs.iter().map(|r| r.latency.publish_p50_ms).collect(),
    );
    line(
        "publish answered p99",
        "ms",
        runs.iter().map(|r| r.latency.publish_p99_ms).collect(),
    );
    for (i, r) in runs.iter().enumerate() {
        let l = &r.latency;
        if l.failed > 0 || l.received < l.published || l.published < l.offered {
            println!(
                "  run {}: offered {}, published {}, received {}, failed {}{}",
                i + 1,
                l.offered,
                l.published,
                l.received,
                l.failed,
                l.first_error
                    .as_ref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            );
        }
    }
    line(
        "consumer backlog at the end",
        "msgs",
        runs.iter().map(|r| r.latency.backlog as f64).collect(),
    );
    // Sustained: the publishes kept pace, and the consumers were less than
    // a quarter second behind when publishing ended.
    let sustained = runs.iter().all(|r| {
        r.latency.achieved >= 0.97 * args.rate as f64
            && r.latency.backlog <= args.rate / 4
            && r.latency.failed == 0
    });
    println!();
    println!(
        "  the offered rate was {}",
        if sustained {
            "sustained in every run (publishes kept pace; consumers < 250 ms behind)"
        } else {
            "NOT sustained in every run: lower --rate to find what this machine sustains"
        }
    );
}
