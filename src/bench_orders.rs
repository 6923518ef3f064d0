//! `mailroom bench orders`: the order saga end to end through REST on a
//! real node process — `POST /orders` (card path) until `GET /orders/{id}`
//! says `confirmed` — as throughput with C concurrent buyers and as latency
//! at a fixed offered rate. Baseline, measured in the same run on the same
//! node: one durable command through the same edge and MOM
//! (`POST /wallet/deposit`). The ratio is what the four-actor saga (nine
//! journaled envelopes per order) costs relative to one command.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::config::OrdersBenchArgs;

const ADMIN_PASSWORD: &str = "bench-admin-password";

struct NodeProc {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node(parent: Option<&std::path::Path>) -> anyhow::Result<NodeProc> {
    let dir = match parent {
        Some(p) => tempfile::tempdir_in(p)?,
        None => tempfile::tempdir()?,
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--no-seed",
            "--data",
        ])
        .arg(dir.path())
        .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MAILROOM_AUTH_RATE_PER_S", "100000")
        .env("MAILROOM_AUTH_BURST", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a node")?;
    let stdout = child.stdout.take().context("node stdout")?;
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("mailroom ready ") {
            base = rest
                .split_whitespace()
                .find_map(|p| p.strip_prefix("http="))
                .map(|a| format!("http://{a}/api/v1"));
            break;
        }
    }
    let base = base.ok_or_else(|| anyhow!("the node did not start"))?;
    Ok(NodeProc {
        child,
        base,
        _dir: dir,
    })
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn token(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let (s, v) = self
            .call(reqwest::Method::POST, path, None, Some(body))
            .await?;
        v["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{path} answered {s}: {v}"))
    }
}

fn order_body(sku: &str) -> Value {
    json!({
        "items": [{"sku": sku, "quantity": 1}],
        "payment": {"method": "card", "card": {"number": "4242424242424242", "expiry": "12/39", "cvv": "123"}},
        "shipping_address": {"name": "Bench", "line1": "1 Main St", "city": "X", "postal_code": "1", "country": "US"}
    })
}

/// Places one order and waits until its saga settles; returns the latency.
async fn one_order(api: &Api, token: &str, sku: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (s, v) = api
        .call(
            reqwest::Method::POST,
            "/orders",
            Some(token),
            Some(order_body(sku)),
        )
        .await?;
    if s != 201 {
        bail!("POST /orders answered {s}: {v}");
    }
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    loop {
        let (_, o) = api
            .call(
                reqwest::Method::GET,
                &format!("/orders/{id}"),
                Some(token),
                None,
            )
            .await?;
        match o["status"].as_str() {
            Some("confirmed") => return Ok(started.elapsed()),
            Some("failed") | Some("cancelled") => bail!("order {id} settled {o}"),
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

async fn one_deposit(api: &Api, token: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (s, v) = api
        .call(
            reqwest::Method::POST,
            "/wallet/deposit",
            Some(token),
            Some(json!({"amount_cents": 1})),
        )
        .await?;
    if s != 200 {
        bail!("deposit answered {s}: {v}");
    }
    Ok(started.elapsed())
}

struct Setup {
    api: Api,
    sku: String,
    buyers: Vec<String>,
}

async fn setup(node: &NodeProc, buyers: usize) -> anyhow::Result<Setup> {
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        base: node.base.clone(),
    };
    let admin = api
        .token(
            "/auth/login",
            json!({"email": "admin@localhost", "password": ADMIN_PASSWORD}),
        )
        .await?;
    let sku = "BENCH-1".to_owned();
    let (s, v) = api
        .call(
            reqwest::Method::POST,
            "/products",
            Some(&admin),
            Some(json!({"sku": sku, "title": "Bench book", "category": "bench", "price_cents": 100, "initial_stock": 1_000_000})),
        )
        .await?;
    if s != 201 {
        bail!("creating the product answered {s}: {v}");
    }
    // Inventory learns of it from the event.
    loop {
        let (s, _) = api
            .call(
                reqwest::Method::GET,
                &format!("/inventory/{sku}"),
                Some(&admin),
                None,
            )
            .await?;
        if s == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tokens = Vec::with_capacity(buyers);
    for i in 0..buyers {
        tokens.push(
            api.token(
                "/auth/register",
                json!({"email": format!("buyer{i}@bench.local"), "password": "bench-password", "name": "Buyer"}),
            )
            .await?,
        );
    }
    Ok(Setup {
        api,
        sku,
        buyers: tokens,
    })
}

/// `total` operations by `setup.buyers.len()` workers; returns (ops/s, latencies).
async fn closed_loop<F, Fut>(
    setup: &Setup,
    total: usize,
    op: F,
) -> anyhow::Result<(f64, Histogram<u64>)>
where
    F: Fn(Api, String, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for token in &setup.buyers {
        let (api, sku, token, op, next) = (
            setup.api.clone(),
            setup.sku.clone(),
            token.clone(),
            op.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let d = op(api.clone(), token.clone(), sku.clone()).await?;
                h.record(d.as_micros() as u64).ok();
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    for w in workers {
        all.add(w.await??)?;
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), all))
}

/// Orders at a fixed offered rate for `seconds`; returns (achieved/s, latencies).
async fn open_loop(
    setup: &Setup,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(f64, Histogram<u64>)> {
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let at = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let (api, sku, token) = (
            setup.api.clone(),
            setup.sku.clone(),
            setup.buyers[i % setup.buyers.len()].clone(),
        );
        tasks.push(tokio::spawn(
            async move { one_order(&api, &token, &sku).await },
        ));
    }
    let mut h = Histogram::<u64>::new(3)?;
    for t in tasks {
        h.record(t.await??.as_micros() as u64).ok();
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), h))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn orders(args: OrdersBenchArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "mailroom bench orders: {} orders × {} runs, {} buyers; fixed rate {}/s for {} s; card path, fsync on",
            args.orders, args.runs, args.concurrency, args.rate, args.seconds
        );
        let (mut saga, mut base, mut s50, mut s99, mut b50, mut b99, mut r50, mut r99, mut rmax, mut achieved) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for run in 1..=args.runs {
            let node = spawn_node(args.dir.as_deref())?;
            let s = setup(&node, args.concurrency).await?;
            // Warm up connections and caches.
            closed_loop(&s, args.concurrency * 2, |api, t, sku| async move { one_order(&api, &t, &sku).await }).await?;
            let (dps, dh) = closed_loop(&s, args.orders * 2, |api, t, _| async move { one_deposit(&api, &t).await }).await?;
            let (ops, oh) = closed_loop(&s, args.orders, |api, t, sku| async move { one_order(&api, &t, &sku).await }).await?;
            let (got, rh) = open_loop(&s, args.rate, args.seconds).await?;
            println!(
                "run {run}: saga {ops:.0} orders/s (p50 {:.1} ms, p99 {:.1} ms) | baseline deposit {dps:.0}/s (p50 {:.1} ms) | at {}/s: p50 {:.1} ms, p99 {:.1} ms",
                ms(oh.value_at_quantile(0.5)), ms(oh.value_at_quantile(0.99)), ms(dh.value_at_quantile(0.5)),
                args.rate, ms(rh.value_at_quantile(0.5)), ms(rh.value_at_quantile(0.99))
            );
            saga.push(ops);
            base.push(dps);
            s50.push(ms(oh.value_at_quantile(0.5)));
            s99.push(ms(oh.value_at_quantile(0.99)));
            b50.push(ms(dh.value_at_quantile(0.5)));
            b99.push(ms(dh.value_at_quantile(0.99)));
            r50.push(ms(rh.value_at_quantile(0.5)));
            r99.push(ms(rh.value_at_quantile(0.99)));
            rmax.push(ms(rh.max()));
            achieved.push(got);
        }
        let (saga_m, base_m) = (median(saga), median(base));
        println!();
        println!("medians of {} runs", args.runs);
        println!("  order saga (POST → confirmed), {} buyers: {saga_m:>8.0} orders/s   p50 {:>6.1} ms   p99 {:>6.1} ms", args.concurrency, median(s50), median(s99));
        println!("  baseline: one durable command (deposit): {base_m:>8.0} cmds/s     p50 {:>6.1} ms   p99 {:>6.1} ms", median(b50), median(b99));
        println!("  ratio saga/command throughput:            {:>8.2}", saga_m / base_m);
        println!(
            "  at a fixed {}/s ({:.0}/s achieved):       p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms",
            args.rate, median(achieved), median(r50), median(r99), median(rmax)
        );
        anyhow::Ok(())
    })
}
