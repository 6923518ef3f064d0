//! The console client as a user runs it: the real `mailroom` binary as a
//! subprocess against a real node, with its own config directory. Every
//! subcommand (and its errors), `mailroom load` passing every invariant
//! with and without chaos, the checker catching a store tampered with
//! behind the node's back, and login rate limiting.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use diesel::{sql_types::Text, Connection, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

use crate::support::{email, Node, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

/// The client with its own home (so the session file never touches the
/// real one), pointed at one node.
struct Cli {
    url: String,
    home: tempfile::TempDir,
}

impl Cli {
    fn new(url: &str) -> Cli {
        Cli {
            url: url.to_owned(),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.args(args)
            .env("MAILROOM_URL", &self.url)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env_remove("MAILROOM_TOKEN")
            .env_remove("MAILROOM_ADMIN_EMAIL")
            .env_remove("MAILROOM_ADMIN_PASSWORD");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run mailroom")
    }

    /// Succeeds; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mailroom {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Succeeds with `--json`; its JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{text}"))
    }

    /// Fails; (exit code, stderr).
    fn err(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "mailroom {args:?} should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stderr).expect("utf-8"),
        )
    }

    fn session_file(&self) -> std::path::PathBuf {
        self.home.path().join(".config/mailroom/token.json")
    }
}

/// Retries `f` (a CLI call that reads eventually-consistent state) until it holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn every_client_subcommand_works_and_errors_are_one_clear_line() {
    let node = Node::start().await;
    let ann = Cli::new(&node.http);
    let bob = Cli::new(&node.http);
    let admin = Cli::new(&node.http);
    let (ann_email, bob_email) = (email("ann"), email("bob"));

    // register logs in and keeps the session, for the user only.
    let out = ann.ok(&[
        "register",
        "--email",
        &ann_email,
        "--password",
        PASSWORD,
        "--name",
        "Ann",
    ]);
    assert!(out.contains("registered"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(ann.session_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the session file is private");
    }
    let v = bob.json(&["register", "--email", &bob_email, "--password", PASSWORD]);
    assert_eq!(v["user"]["email"], bob_email.as_str());

    // A wrong password: one clear line, exit code 1.
    let (code, stderr) = ann.err(&[
        "login",
        "--email",
        &ann_email,
        "--password",
        "wrong-password",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "error: 401 Unauthorized: invalid email or password"
    );
    let out = ann.ok(&["login", "--email", &ann_email, "--password", PASSWORD]);
    assert!(out.contains(&format!("logged in as {ann_email}")), "{out}");
    assert_eq!(ann.json(&["whoami"])["email"], ann_email.as_str());
    assert!(ann.ok(&["whoami"]).contains(&ann_email));

    // The catalog (the demo books are seeded): list, search, show.
    let page = ann.json(&["products", "--page-size", "5"]);
    let first = page["items"][0].clone();
    let sku = first["sku"].as_str().unwrap().to_owned();
    assert!(page["total"].as_u64().unwrap() >= 5, "{page}");
    assert!(ann.ok(&["products"]).contains(&sku));
    let author = first["author"]
        .as_str()
        .unwrap()
        .split(' ')
        .next_back()
        .unwrap()
        .to_owned();
    let found = ann.json(&["products", "search", &author]);
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["sku"] == sku.as_str()),
        "{found}"
    );
    let found = ann.json(&[
        "products",
        "--q",
        &author,
        "--category",
        first["category"].as_str().unwrap(),
        "--page",
        "1",
    ]);
    assert!(found["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["sku"] == sku.as_str()));
    let shown = ann.json(&["products", "show", &sku]);
    assert_eq!(shown["sku"], sku.as_str());
    assert!(shown["stock"]["on_hand"].as_i64().unwrap() > 0, "{shown}");
    let (code, stderr) = ann.err(&["products", "show", "NO-SUCH-SKU"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: 404 Not Found: "), "{stderr}");

    // Cart: add, show, clear.
    let cart = ann.json(&["cart", "add", "--sku", &sku, "--quantity", "2"]);
    assert_eq!(cart["items"][0]["quantity"], 2);
    let shown = ann.ok(&["cart", "show"]);
    assert!(shown.contains(&sku) && shown.contains("total $"), "{shown}");
    assert!(ann.json(&["cart", "clear"])["items"]
        .as_array()
        .unwrap()
        .is_empty());
    ann.ok(&["cart", "add", "--sku", &sku]);

    // Orders: from the cart by card (followed to the end), by wallet, cancel.
    let order = ann.json(&[
        "order",
        "place",
        "--from-cart",
        "--card",
        "4242424242424242",
        "--expiry",
        "12/39",
        "--cvv",
        "123",
        "--follow",
    ]);
    assert_eq!(order["status"], "confirmed", "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(ann.json(&["order", "show", &id])["id"], id.as_str());
    assert!(ann.ok(&["order", "show", &id]).contains("confirmed"));
    // No money in the wallet yet: the saga fails the order, with its reason.
    let failed = ann.json(&[
        "order",
        "place",
        "--wallet",
        "--item",
        &format!("{sku}:1"),
        "--follow",
    ]);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(ann
        .ok(&["order", "show", failed["id"].as_str().unwrap()])
        .contains("failure reason: "));
    let v = ann.json(&["wallet", "deposit", "--amount-cents", "10000"]);
    assert_eq!(v["balance_cents"], 10_000);
    let placed = ann.json(&[
        "order",
        "place",
        "--wallet",
        "--item",
        &format!("{sku}:1"),
        "--name",
        "Ann",
        "--city",
        "Paris",
        "--country",
        "FR",
    ]);
    let wallet_order = placed["id"].as_str().unwrap().to_owned();
    let cancelled = ann.json(&["order", "cancel", &wallet_order]);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let list = ann.json(&["orders", "list"]);
    assert!(list["total"].as_u64().unwrap() >= 2, "{list}");
    assert!(ann.ok(&["order", "list"]).contains(&id));

    // Wallet and transfers.
    eventually("the cancelled order's refund", || {
        ann.json(&["wallet", "show"])["balance_cents"] == 10_000
    });
    assert!(ann.ok(&["wallet", "show"]).contains("balance $100.00"));
    let t = ann.json(&[
        "transfer",
        "--to-email",
        &bob_email,
        "--amount-cents",
        "2500",
        "--note",
        "lunch",
    ]);
    assert_eq!(t["amount_cents"], 2_500);
    assert_eq!(
        ann.json(&["wallet", "transfers"])["items"][0]["id"],
        t["id"]
    );
    let (code, stderr) = ann.err(&[
        "transfer",
        "--to-email",
        &bob_email,
        "--amount-cents",
        "99999999",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: 409 Conflict: insufficient funds"),
        "{stderr}"
    );
    eventually("bob is notified", || {
        bob.json(&["notifications"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "wallet.transfer.completed")
    });
    assert!(bob
        .ok(&["notifications"])
        .contains("wallet.transfer.completed"));

    // Queues and topics (issue 4's REST shapes).
    queues_and_topics(&node, &ann, &bob, &ann_email, &bob_email).await;

    // Admin: actors, faults, dead letters. A customer gets a clear 403.
    let (code, stderr) = ann.err(&["actors"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "error: 403 Forbidden: this operation needs an admin token"
    );
    admin.ok(&[
        "login",
        "--email",
        ADMIN_EMAIL,
        "--password",
        ADMIN_PASSWORD,
    ]);
    let actors = admin.ok(&["actors"]);
    for col in [
        "name",
        "state",
        "restarts",
        "pending",
        "processed",
        "wallets",
        "running",
    ] {
        assert!(actors.contains(col), "{col} in\n{actors}");
    }
    let v = admin.json(&["fault", "delay", "notifications", "--ms", "5"]);
    assert_eq!(v["name"], "notifications");
    admin.ok(&["fault", "clear", "notifications"]);
    let v = admin.json(&["fault", "kill", "shipping", "--down-ms", "100"]);
    assert!(v["state"] == "down" || v["state"] == "restarting", "{v}");
    eventually("shipping restarts", || {
        admin.json(&["actors"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "shipping" && a["state"] == "running" && a["restarts"] == 1)
    });
    // Five crashes in a row dead-letter the next deposit (max deliveries 5)...
    admin.ok(&[
        "fault",
        "crash",
        "wallets",
        "--count",
        "5",
        "--message",
        "deposit",
    ]);
    let (code, stderr) = ann.err(&["wallet", "deposit", "--amount-cents", "700"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: 500 Internal Server Error: "),
        "{stderr}"
    );
    // ... which an admin lists and retries.
    let dead = admin.json(&["dead-letters", "list"]);
    let letter = dead["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "wallets")
        .unwrap_or_else(|| panic!("a wallets dead letter in {dead}"))
        .clone();
    assert!(admin.ok(&["dead-letters", "list"]).contains("deposit"));
    let retried = admin.json(&["dead-letters", "retry", letter["id"].as_str().unwrap()]);
    assert_eq!(retried["balance_cents"], 10_000 - 2_500 + 700, "{retried}");
    admin.ok(&["fault", "clear", "wallets"]);
    let v = admin.json(&["fault", "fail-rate", "analytics", "--ratio", "0.1"]);
    assert_eq!(v["name"], "analytics");
    admin.ok(&["fault", "clear", "analytics"]);

    // Logout; no session, no node: one clear line each.
    assert!(ann.ok(&["logout"]).contains("logged out"));
    let (code, stderr) = ann.err(&["whoami"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: not logged in"), "{stderr}");
    let (code, stderr) = ann.err(&["products", "--url", "http://127.0.0.1:9"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: cannot reach http://127.0.0.1:9"),
        "{stderr}"
    );
}

/// `queue` and `topic` against the node, when it has user queues; a clear
/// 404 line when it does not.
async fn queues_and_topics(node: &Node, ann: &Cli, bob: &Cli, ann_email: &str, bob_email: &str) {
    let _ = ann_email;
    let (token, _) = node.register(&email("probe")).await;
    if node.get("/queues", &token).await.0 == reqwest::StatusCode::NOT_FOUND {
        let (code, stderr) = ann.err(&["queue", "create", "jobs"]);
        assert_eq!(code, 1);
        assert!(stderr.starts_with("error: 404 Not Found: "), "{stderr}");
        return;
    }
    let q = format!("jobs-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    ann.json(&["queue", "create", &q, "--visibility-timeout-s", "30"]);
    assert!(ann.ok(&["queue", "list"]).contains(&q));
    let shown = ann.json(&["queue", "show", &q]);
    assert_eq!(shown["name"], q.as_str(), "{shown}");
    let m = ann.json(&["queue", "publish", &q, "--body", "hello", "--header", "k=v"]);
    assert!(m["id"].is_string(), "{m}");
    let (code, stderr) = bob.err(&["queue", "publish", &q, "--body", "x"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: 403 Forbidden"), "{stderr}");
    ann.ok(&[
        "queue",
        "grant",
        &q,
        "--to-email",
        bob_email,
        "--permissions",
        "publish,consume",
    ]);
    let got = bob.json(&["queue", "receive", &q, "--max", "1", "--wait-s", "2"]);
    let msg = got["messages"][0].clone();
    assert_eq!(msg["body"], "hello", "{got}");
    bob.ok(&[
        "queue",
        "ack",
        &q,
        msg["id"].as_str().unwrap(),
        "--receipt",
        msg["receipt"].as_str().unwrap(),
    ]);
    let (code, stderr) = bob.err(&["queue", "delete", &q]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: 403 Forbidden"), "{stderr}");

    let t = format!("events-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    ann.ok(&["topic", "create", &t]);
    ann.ok(&["topic", "bind", &t, "--queue", &q, "--pattern", "order.*"]);
    ann.ok(&[
        "topic",
        "publish",
        &t,
        "--routing-key",
        "order.created",
        "--body",
        "hi",
    ]);
    let got = ann.json(&[
        "queue", "receive", &q, "--max", "1", "--wait-s", "5", "--ack",
    ]);
    assert_eq!(got["messages"][0]["body"], "hi", "{got}");
    ann.ok(&["queue", "delete", &q]);
}

/// Runs `mailroom load` against `node` with the admin's credentials in the
/// environment, as a user would.
fn load(node: &Node, args: &[&str]) -> Output {
    let cli = Cli::new(&node.http);
    let mut c = cli.command(&["load"]);
    c.args(args)
        .env("MAILROOM_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD);
    c.output().expect("run mailroom load")
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the report")).expect("report JSON")
}

fn assert_all_pass(out: &Output, report: &Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "load failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["pass"], true, "{stdout}");
    let invariants = report["checker"]["invariants"].as_array().unwrap();
    assert_eq!(invariants.len(), 7);
    for i in invariants {
        assert!(i["verdict"] == "PASS" || i["verdict"] == "SKIP", "{i}");
        if i["verdict"] == "PASS" {
            assert!(
                stdout.contains(&format!("PASS  {}", i["name"].as_str().unwrap())),
                "{stdout}"
            );
        }
    }
    // Only the queue invariant may be skipped (no queues on the node).
    assert!(invariants[..5].iter().all(|i| i["verdict"] == "PASS"));
    assert_eq!(invariants[6]["name"], "the system settles");
    assert_eq!(invariants[6]["verdict"], "PASS");
    assert_eq!(report["checker"]["settled"], true);
}

#[tokio::test]
async fn load_300_orders_with_16_workers_passes_every_invariant() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = load(
        &node,
        &[
            "--orders",
            "300",
            "--concurrency",
            "16",
            "--seed",
            "7",
            "--report",
            path.to_str().unwrap(),
        ],
    );
    let r = report(&path);
    assert_all_pass(&out, &r);
    let run = &r["run"];
    assert!(run["orders_placed"].as_u64().unwrap() >= 300, "{run}");
    assert!(
        r["checker"]["orders"]["confirmed"].as_u64().unwrap() > 0,
        "{}",
        r["checker"]
    );
    // Both payment methods and the declined card were exercised.
    for kind in [
        "order_cart",
        "order_card",
        "order_declined",
        "order_wallet",
        "transfer",
        "browse",
        "search",
    ] {
        assert!(
            run["kinds"][kind]["count"].as_u64().unwrap_or(0) > 0,
            "{kind}: {run}"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("latency per request: p50"), "{stdout}");
}

#[tokio::test]
async fn load_with_chaos_kills_actors_and_still_passes_every_invariant() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = load(
        &node,
        &[
            "--orders",
            "300",
            "--concurrency",
            "16",
            "--chaos",
            "--chaos-interval",
            "200ms",
            "--report",
            path.to_str().unwrap(),
        ],
    );
    let r = report(&path);
    assert_all_pass(&out, &r);
    let faults = r["run"]["faults_injected"].as_u64().unwrap();
    assert!(faults >= 5, "only {faults} faults: {}", r["run"]);
    assert_eq!(r["run"]["faults"].as_array().unwrap().len() as u64, faults);
    // The faults were cleared at the end.
    let admin = node.admin_token().await;
    let (_, actors) = node.get("/admin/actors", &admin).await;
    for a in actors["items"].as_array().unwrap() {
        assert!(a["faults"].as_array().unwrap().is_empty(), "{a}");
    }
}

#[tokio::test]
async fn the_checker_fails_when_stock_is_changed_behind_the_nodes_back() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let out = load(
        &node,
        &["--orders", "30", "--concurrency", "4", "--state", state_arg],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The checker alone passes on the untouched node...
    let out = load(&node, &["--check", "--state", state_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // ... then one unit disappears from a load sku, straight in SQLite.
    let s: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let sku = s["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["initial_stock"].as_i64().unwrap() > 1000)
        .unwrap()["sku"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = node.data.join("inventory.db");
    let mut conn = SqliteConnection::establish(db.to_str().unwrap()).expect("open inventory.db");
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    let changed = diesel::sql_query("UPDATE stock SET on_hand = on_hand - 1 WHERE sku = ?")
        .bind::<Text, _>(&sku)
        .execute(&mut conn)
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);

    let report_path = dir.path().join("report.json");
    let out = load(
        &node,
        &[
            "--check",
            "--state",
            state_arg,
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the checker must fail:\n{stdout}"
    );
    assert!(
        stdout.contains("FAIL  stock conserved and never negative"),
        "{stdout}"
    );
    let r = report(&report_path);
    assert_eq!(r["pass"], false);
    let stock = r["checker"]["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "stock conserved and never negative")
        .unwrap()
        .clone();
    assert_eq!(stock["verdict"], "FAIL");
    assert!(
        stock["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().contains(&sku)),
        "{stock}"
    );
    // Only that invariant fails.
    for i in r["checker"]["invariants"].as_array().unwrap() {
        if i["name"] != stock["name"] {
            assert_ne!(i["verdict"], "FAIL", "{i}");
        }
    }
}

/// A node started with extra environment (here: tight rate limits). Killed on drop.
struct EnvNode {
    child: Child,
    http: String,
    _data: tempfile::TempDir,
}

impl EnvNode {
    fn start(env: &[(&str, &str)]) -> EnvNode {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--grpc",
                "127.0.0.1:0",
                "--no-seed",
                "--data",
            ])
            .arg(data.path())
            .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mailroom");
        let stdout = child.stdout.take().unwrap();
        let mut http = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("node stdout");
            if let Some(rest) = line.strip_prefix("mailroom ready ") {
                let addr = rest
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix("http="))
                    .unwrap();
                http = format!("http://{addr}");
                break;
            }
        }
        assert!(!http.is_empty(), "the node did not start");
        EnvNode {
            child,
            http,
            _data: data,
        }
    }
}

impl Drop for EnvNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_login_flood_gets_429s_while_normal_use_does_not() {
    // Normal use on a node with the default limits: never limited.
    let node = Node::start().await;
    let e = email("ann");
    node.register(&e).await;
    for _ in 0..15 {
        let (s, v) = node.login(&e, PASSWORD).await;
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    }

    // A node allowing 2 per second after a burst of 3.
    let limited = EnvNode::start(&[
        ("MAILROOM_AUTH_RATE_PER_S", "2"),
        ("MAILROOM_AUTH_BURST", "3"),
    ]);
    let client = reqwest::Client::new();
    let login = |password: &str| {
        client
            .post(format!("{}/api/v1/auth/login", limited.http))
            .json(&json!({ "email": ADMIN_EMAIL, "password": password }))
            .send()
    };
    let register = || {
        client
            .post(format!("{}/api/v1/auth/register", limited.http))
            .json(&json!({ "email": email("eve"), "password": PASSWORD, "name": "Eve" }))
            .send()
    };
    // A flood of logins, with registrations mixed in: they share the budget.
    let mut limited_answers = Vec::new();
    let mut registers_limited = 0;
    for i in 0..24 {
        let r = if i % 4 == 3 {
            register().await.unwrap()
        } else {
            login("a-wrong-password").await.unwrap()
        };
        match r.status() {
            reqwest::StatusCode::TOO_MANY_REQUESTS if i % 4 == 3 => registers_limited += 1,
            reqwest::StatusCode::TOO_MANY_REQUESTS => limited_answers.push(r),
            s => assert!(
                s == reqwest::StatusCode::UNAUTHORIZED || s == reqwest::StatusCode::CREATED,
                "{s}"
            ),
        }
    }
    assert!(
        limited_answers.len() >= 10,
        "only {} of 18 logins were limited",
        limited_answers.len()
    );
    assert!(
        registers_limited >= 3,
        "only {registers_limited} of 6 registrations were limited"
    );
    let r = limited_answers.pop().unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["type"], "/problems/rate_limited");
    // The CLI shows the limit as one line (right after a flood: a token
    // refills every 500 ms, so one try may slip through).
    let cli = Cli::new(&limited.http);
    let mut shown = None;
    for _ in 0..5 {
        for _ in 0..4 {
            login("a-wrong-password").await.unwrap();
        }
        let out = cli.run(&[
            "login",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
        ]);
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1));
            shown = Some(String::from_utf8(out.stderr).unwrap());
            break;
        }
    }
    let stderr = shown.expect("the CLI was never limited");
    assert!(
        stderr.starts_with("error: 429 Too Many Requests: "),
        "{stderr}"
    );
    // Other routes are not limited.
    for _ in 0..30 {
        let r = client
            .get(format!("{}/api/v1/products", limited.http))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
    }
    // After Retry-After, the right password works again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = login(ADMIN_PASSWORD).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
}
