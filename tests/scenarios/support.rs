//! Test support: real `mailroom` processes on port 0 with temp data dirs,
//! driven over real HTTP (reqwest) and real gRPC (the generated clients).
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@localhost";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const PASSWORD: &str = "correct horse battery";

/// A running node. Killed (SIGKILL) on drop.
pub struct Node {
    child: Option<Child>,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: String,
    pub grpc: String,
    pub client: Client,
}

impl Node {
    /// A node on a fresh temp data dir.
    pub async fn start() -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().to_path_buf();
        let mut node = Node::start_on(&data).await;
        node._tmp = Some(tmp);
        node
    }

    /// A node on a fresh temp data dir with extra `serve` flags.
    pub async fn start_with(flags: &[&str]) -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().to_path_buf();
        let mut node = Node::start_on_with(&data, flags).await;
        node._tmp = Some(tmp);
        node
    }

    /// A node on `data` (which survives it), e.g. to restart after a crash.
    pub async fn start_on(data: &Path) -> Node {
        Node::start_on_with(data, &[]).await
    }

    /// A node with extra `serve` flags whose process may open at most
    /// `nofile` files (soft and hard limit).
    pub async fn start_with_nofile(flags: &[&str], nofile: u64) -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().to_path_buf();
        let mut node = Node::spawn(&data, flags, Some(nofile)).await;
        node._tmp = Some(tmp);
        node
    }

    /// The `serve` command these nodes run, on `data` with extra flags;
    /// its stderr (the log) appends to `data/node.log`.
    pub fn command(data: &Path, flags: &[&str]) -> Command {
        std::fs::create_dir_all(data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("node.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        cmd.args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data)
        .args(flags)
        .env("MAILROOM_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "info")
        .env_remove("MAILROOM_JWT_SECRET")
        .env_remove("MAILROOM_ADMIN_EMAIL")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
        cmd
    }

    /// A node on `data` with extra `serve` flags.
    pub async fn start_on_with(data: &Path, flags: &[&str]) -> Node {
        Node::spawn(data, flags, None).await
    }

    async fn spawn(data: &Path, flags: &[&str], nofile: Option<u64>) -> Node {
        let mut cmd = Node::command(data, flags);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
            unsafe {
                cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, n, n));
            }
        }
        let mut child = cmd.spawn().expect("spawn mailroom");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("mailroom ready ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("node did not start; log:\n{}", read_log(data)));
        let mut http = String::new();
        let mut grpc = String::new();
        for part in ready.split_whitespace() {
            if let Some(a) = part.strip_prefix("http=") {
                http = format!("http://{a}");
            }
            if let Some(a) = part.strip_prefix("grpc=") {
                grpc = format!("http://{a}");
            }
        }
        Node {
            child: Some(child),
            data: data.to_path_buf(),
            _tmp: None,
            http,
            grpc,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// SIGKILL, no goodbye. The data dir stays (with `keep_data`).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits for the process to exit by itself; true if it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Takes ownership of the temp dir so it outlives this node.
    pub fn keep_data(&mut self) -> tempfile::TempDir {
        self._tmp.take().expect("node owns its temp dir")
    }

    pub fn log(&self) -> String {
        read_log(&self.data)
    }

    /// The whole log (not only its tail).
    pub fn full_log(&self) -> String {
        std::fs::read_to_string(self.data.join("node.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.http)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        split(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, path, Some(token), None, &[]).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::POST, path, token, Some(body), &[]).await;
        (s, v)
    }

    /// Registers a customer; returns (token, user id).
    pub async fn register(&self, email: &str) -> (String, String) {
        let (s, v) = self
            .post(
                "/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "register {email}: {v}");
        (
            v["token"].as_str().unwrap().to_owned(),
            v["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn admin_token(&self) -> String {
        let (s, v) = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "admin login: {v}");
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn deposit(&self, token: &str, cents: i64) {
        let (s, v) = self
            .post(
                "/wallet/deposit",
                Some(token),
                json!({"amount_cents": cents}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "deposit: {v}");
    }

    pub async fn balance(&self, token: &str) -> i64 {
        let (s, v) = self.get("/wallet", token).await;
        assert_eq!(s, StatusCode::OK, "wallet: {v}");
        v["balance_cents"].as_i64().unwrap()
    }

    pub async fn transfer(&self, token: &str, to_email: &str, cents: i64) -> (StatusCode, Value) {
        self.post(
            "/transfers",
            Some(token),
            json!({"to_email": to_email, "amount_cents": cents}),
        )
        .await
    }

    /// Every notification of `kind` for the token's user (riding out 503s
    /// while `notifications` is down, as a client would).
    pub async fn notifications(&self, token: &str, kind: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let path = format!("/notifications?page={page}&page_size=100");
            let until = Instant::now() + Duration::from_secs(30);
            let (s, v) = loop {
                let (s, v) = self.get(&path, token).await;
                if s != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > until {
                    break (s, v);
                }
            };
            assert_eq!(s, StatusCode::OK, "notifications: {v}");
            let items = v["items"].as_array().unwrap().clone();
            let done = items.len() < 100;
            out.extend(items.into_iter().filter(|n| n["kind"] == kind));
            if done {
                break;
            }
        }
        out
    }

    pub async fn fault(&self, admin: &str, body: Value) -> (StatusCode, Value) {
        self.post("/admin/faults", Some(admin), body).await
    }

    pub async fn actor(&self, admin: &str, name: &str) -> Value {
        let (s, v) = self.get("/admin/actors", admin).await;
        assert_eq!(s, StatusCode::OK, "actors: {v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no actor {name} in {v}"))
    }

    /// Polls an operation until it is no longer pending.
    pub async fn await_operation(&self, token: &str, id: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            let (s, v) = self.get(&format!("/operations/{id}"), token).await;
            assert_eq!(s, StatusCode::OK, "operation: {v}");
            if v["status"] != "pending" {
                return v;
            }
            assert!(Instant::now() < until, "operation {id} still pending: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_log(data: &Path) -> String {
    let log = std::fs::read_to_string(data.join("node.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

pub async fn split(res: Response) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v, headers)
}

/// Waits until `check` holds, or panics with `what`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A unique email for this test run.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A gRPC channel to the node.
pub async fn channel(node: &Node) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(node.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A gRPC request carrying `authorization: Bearer <token>`.
pub fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        tonic::metadata::MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    r
}
