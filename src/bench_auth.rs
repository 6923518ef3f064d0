//! `mailroom bench auth`: what a flood of wrong-password logins does to a
//! real node process's memory. For each edge (REST, then gRPC, a fresh node
//! each) C clients send `login(admin, wrong password)` back to back for N
//! seconds while the node's resident set (`VmRSS` in `/proc/<pid>/status`)
//! is sampled every 100 ms; the report shows the idle RSS before the flood,
//! the peak during it, and the settled RSS S seconds after it, with the
//! answers counted: `accepted` (the password was checked: 401 /
//! UNAUTHENTICATED), `busy` (every hashing slot and queue place taken: 429 /
//! RESOURCE_EXHAUSTED), `rate-limited` (the per-address budget: 429 /
//! RESOURCE_EXHAUSTED), `other`.
//!
//! The first pair of runs gives the nodes a per-address budget of
//! 1,000,000/s, so that what is measured is the hashing bound and its
//! reused memory, not the rate limiter; the second pair runs with the
//! default limits. Target: settled RSS ≤ 200 MB on each edge.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, Context as _};
use serde_json::json;

use crate::{
    config::AuthBenchArgs,
    grpc::pb::users::{users_client::UsersClient, LoginRequest},
};

const ADMIN_EMAIL: &str = "admin@localhost";
const ADMIN_PASSWORD: &str = "bench-admin-password";
/// The settled target, in bytes (200 MB).
const SETTLED_TARGET: u64 = 200_000_000;
/// How often the node's RSS is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

struct NodeProc {
    child: Child,
    http: String,
    grpc: String,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node(args: &AuthBenchArgs, unlimited: bool) -> anyhow::Result<NodeProc> {
    let dir = match &args.dir {
        Some(p) => tempfile::tempdir_in(p)?,
        None => tempfile::tempdir()?,
    };
    let bin = match &args.node_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?,
    };
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--http",
        "127.0.0.1:0",
        "--grpc",
        "127.0.0.1:0",
        "--no-seed",
        "--data",
    ])
    .arg(dir.path())
    .args(&args.node_arg)
    .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD)
    .env("MAILROOM_ADMIN_EMAIL", ADMIN_EMAIL)
    .env("RUST_LOG", "warn")
    .env_remove("MAILROOM_AUTH_RATE_PER_S")
    .env_remove("MAILROOM_AUTH_BURST")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    for kv in &args.node_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--node-env wants KEY=VALUE, not `{kv}`"))?;
        cmd.env(k, v);
    }
    if unlimited {
        cmd.args(["--auth-rate-per-s", "1000000", "--auth-burst", "1000000"]);
    }
    let mut child = cmd.spawn().context("starting a node")?;
    let stdout = child.stdout.take().context("node stdout")?;
    let mut ready = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("mailroom ready ") {
            ready = Some(rest.to_owned());
            break;
        }
    }
    let ready = ready.ok_or_else(|| anyhow!("the node did not start"))?;
    let addr = |key: &str| {
        ready
            .split_whitespace()
            .find_map(|p| p.strip_prefix(key))
            .map(|a| format!("http://{a}"))
            .ok_or_else(|| anyhow!("no {key} in `{ready}`"))
    };
    Ok(NodeProc {
        http: addr("http=")?,
        grpc: addr("grpc=")?,
        child,
        _dir: dir,
    })
}

/// The process's resident set, in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))?;
    Ok(kb * 1024)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Rest,
    Grpc,
}

impl Edge {
    fn name(self) -> &'static str {
        match self {
            Edge::Rest => "REST",
            Edge::Grpc => "gRPC",
        }
    }
}

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    busy: AtomicU64,
    rate_limited: AtomicU64,
    other: AtomicU64,
    first_other: Mutex<Option<String>>,
}

impl Counts {
    fn limited(&self, detail: &str) {
        if detail.contains("password checks") {
            self.busy.fetch_add(1, Ordering::Relaxed);
        } else {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn other(&self, what: String) {
        self.other.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_other.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }
}

struct Report {
    edge: Edge,
    idle: u64,
    peak: u64,
    settled: u64,
    counts: Counts,
    seconds: f64,
}

/// One client's loop of wrong-password logins until `stop`.
async fn flood_rest(http: reqwest::Client, url: String, stop: Arc<AtomicBool>, c: Arc<Counts>) {
    while !stop.load(Ordering::Relaxed) {
        let res = http
            .post(&url)
            .json(&json!({"email": ADMIN_EMAIL, "password": "not-the-password"}))
            .send()
            .await;
        match res {
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                c.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                let body = r.text().await.unwrap_or_default();
                c.limited(&body);
            }
            Ok(r) => c.other(format!("{}", r.status())),
            Err(e) => c.other(e.to_string()),
        }
    }
}

async fn flood_grpc(
    mut client: UsersClient<tonic::transport::Channel>,
    stop: Arc<AtomicBool>,
    c: Arc<Counts>,
) {
    while !stop.load(Ordering::Relaxed) {
        let res = client
            .login(LoginRequest {
                email: ADMIN_EMAIL.into(),
                password: "not-the-password".into(),
            })
            .await;
        match res {
            Err(s) if s.code() == tonic::Code::Unauthenticated => {
                c.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(s) if s.code() == tonic::Code::ResourceExhausted => c.limited(s.message()),
            Err(s) => c.other(format!("{:?}: {}", s.code(), s.message())),
            Ok(_) => c.other("a wrong password was accepted".into()),
        }
    }
}

async fn run(args: &AuthBenchArgs, edge: Edge, unlimited: bool) -> anyhow::Result<Report> {
    let node = spawn_node(args, unlimited)?;
    let pid = node.child.id();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let login_url = format!("{}/api/v1/auth/login", node.http);
    // The node works: the right password logs in.
    let r = http
        .post(&login_url)
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "admin login answered {}",
        r.status()
    );
    let channel = tonic::transport::Channel::from_shared(node.grpc.clone())?
        .connect()
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss(pid)?;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let peak = Arc::new(AtomicU64::new(idle));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                match rss(pid) {
                    Ok(b) => {
                        peak.fetch_max(b, Ordering::Relaxed);
                    }
                    Err(_) => return,
                }
            }
        })
    };
    let started = Instant::now();
    let mut clients = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (stop, counts) = (stop.clone(), counts.clone());
        clients.push(match edge {
            Edge::Rest => tokio::spawn(flood_rest(http.clone(), login_url.clone(), stop, counts)),
            Edge::Grpc => tokio::spawn(flood_grpc(UsersClient::new(channel.clone()), stop, counts)),
        });
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    // Each client finishes the request it has in flight (bounded by the
    // client timeout on REST; gRPC answers within the node's wait budget).
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .map_err(|_| anyhow!("a flood client did not stop within 60 s"))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let settled = rss(pid)?;
    sampler.abort();
    let counts = Arc::try_unwrap(counts).map_err(|_| anyhow!("counts still shared"))?;
    Ok(Report {
        edge,
        idle,
        peak: peak.load(Ordering::Relaxed),
        settled,
        counts,
        seconds,
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn print(r: &Report) {
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let c = &r.counts;
    println!(
        "  {:<4}  idle {:>6.1} MiB  peak {:>7.1} MiB  settled {:>6.1} MiB  | accepted {:>6} ({:.0}/s)  busy {:>6}  rate-limited {:>6}  other {:>3}",
        r.edge.name(),
        mib(r.idle),
        mib(r.peak),
        mib(r.settled),
        n(&c.accepted),
        n(&c.accepted) as f64 / r.seconds,
        n(&c.busy),
        n(&c.rate_limited),
        n(&c.other),
    );
    if let Some(first) = c.first_other.lock().ok().and_then(|f| f.clone()) {
        println!("        first other answer: {first}");
    }
}

pub fn auth(args: AuthBenchArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "mailroom bench auth: {} clients × {} s of wrong-password logins per edge, a fresh node each; RSS sampled every {} ms, settled = {} s after the flood{}",
            args.concurrency,
            args.seconds,
            SAMPLE_EVERY.as_millis(),
            args.settle_seconds,
            [
                args.node_bin.as_ref().map(|b| format!("; node binary {}", b.display())),
                (!args.node_arg.is_empty()).then(|| format!("; node flags {:?}", args.node_arg)),
                (!args.node_env.is_empty()).then(|| format!("; node env {:?}", args.node_env)),
            ]
            .into_iter()
            .flatten()
            .collect::<String>()
        );
        let mut over = Vec::new();
        let mut configs = vec![(true, "per-address limit 1,000,000/s: the hashing bound is what is measured")];
        if !args.skip_defaults {
            configs.push((false, "default per-address limits (20/s, burst 40)"));
        }
        for (unlimited, label) in configs {
            println!("{label}");
            for edge in [Edge::Rest, Edge::Grpc] {
                let r = run(&args, edge, unlimited).await?;
                print(&r);
                if r.settled > SETTLED_TARGET {
                    over.push(format!("{} ({label})", edge.name()));
                }
            }
        }
        if over.is_empty() {
            println!("settled RSS ≤ 200 MB on every run: target met");
        } else {
            println!("settled RSS over 200 MB on: {}", over.join(", "));
        }
        anyhow::Ok(())
    })
}
