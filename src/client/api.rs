//! A small typed REST client over reqwest: one request ([`Api::send`]),
//! and the way a careful client gets exactly-once across faults
//! ([`Api::execute`]): the same `Idempotency-Key` on every retry (one is
//! made up for a command sent without), retries on
//! transport errors, 503 and 429 (honouring `Retry-After`), and a 202
//! followed through its `Location` until the operation finishes.
use std::time::{Duration, Instant};

use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::Problem;

/// Every REST path starts here.
pub const V1: &str = "/api/v1";

/// What a request ended as, from the caller's point of view.
#[derive(Debug, Clone)]
pub enum ClientError {
    /// The node answered with an error (problem+json when it could).
    Api {
        status: u16,
        title: String,
        detail: String,
    },
    /// The node could not be reached or did not answer in time.
    Transport(String),
    /// Nothing reached the node: the connection was refused or not made.
    Connect(String),
    /// Anything else (usage, local files).
    Other(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_problem(p: &Problem) -> Self {
        let status =
            StatusCode::from_u16(p.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ClientError::Api {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: p.detail.clone(),
        }
    }

    /// From an error response: its problem+json, or whatever it carried.
    fn from_reply(r: &Reply) -> Self {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let title = r.body["title"]
            .as_str()
            .or(status.canonical_reason())
            .unwrap_or("Error")
            .to_owned();
        let detail = match &r.body {
            Value::Object(o) => o
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| r.body.to_string()),
            Value::String(s) => s.trim().to_owned(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        ClientError::Api {
            status: r.status,
            title,
            detail,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Api {
                status,
                title,
                detail,
            } if detail.is_empty() => write!(f, "{status} {title}"),
            ClientError::Api {
                status,
                title,
                detail,
            } => write!(f, "{status} {title}: {detail}"),
            ClientError::Transport(e) | ClientError::Connect(e) => write!(f, "{e}"),
            ClientError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Other(e.to_string())
    }
}

/// One HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How hard [`Api::execute`] tries.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Give up retrying (transport errors, 503, 429, 500s) after this long.
    pub retry_for: Duration,
    /// Retry 429 (after `Retry-After`); an interactive client shows it instead.
    pub retry_rate_limited: bool,
    /// Retry when the node cannot be reached at all (it may be restarting);
    /// an interactive client says so at once.
    pub retry_unreachable: bool,
    /// How long to follow a 202 before calling the outcome unknown.
    pub follow_for: Duration,
}

impl Policy {
    /// A person at a terminal: a short retry, no waiting out rate limits.
    pub const INTERACTIVE: Policy = Policy {
        retry_for: Duration::from_secs(10),
        retry_rate_limited: false,
        retry_unreachable: false,
        follow_for: Duration::from_secs(60),
    };
    /// The load generator: ride out restarts and rate limits.
    pub const PATIENT: Policy = Policy {
        retry_for: Duration::from_secs(30),
        retry_rate_limited: true,
        retry_unreachable: true,
        follow_for: Duration::from_secs(60),
    };
}

/// One attempt, as [`Api::execute`] reports it to its observer.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// `None` for a transport error.
    pub status: Option<u16>,
    pub latency: Duration,
    /// An operation poll (following a 202), not the request itself.
    pub poll: bool,
}

/// The fate of a request after retries and following.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Applied: the body is the result (a 202's operation result once done).
    Done {
        status: u16,
        body: Value,
        /// For a 202: the time from the first send to the operation being done.
        accepted_for: Option<Duration>,
    },
    /// A definitive refusal (4xx, or an operation that `failed`): not applied.
    Rejected(ClientError),
    /// Dead-lettered (500 on repeats, or an operation that is `dead`).
    Dead(ClientError),
    /// We gave up without knowing: a repeat with the same key will tell.
    Unknown(String),
}

impl Outcome {
    pub fn into_result(self) -> Result<Value, ClientError> {
        match self {
            Outcome::Done { body, .. } => Ok(body),
            Outcome::Rejected(e) | Outcome::Dead(e) => Err(e),
            Outcome::Unknown(why) => Err(ClientError::Transport(why)),
        }
    }
}

/// A REST client for one node, optionally with a bearer token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(url: &str) -> Result<Api, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::Other(format!(
                "--url must start with http:// (got {url:?})"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ClientError::Other(format!("building the HTTP client: {e}")))?;
        Ok(Api {
            http,
            base,
            token: None,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same client (and connection pool) acting as `token`'s user.
    pub fn with_token(&self, token: impl Into<String>) -> Api {
        Api {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// One request. `path` is absolute (`/api/v1/...`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.map_err(|e| {
            let why = format!("cannot reach {}: {}", self.base, root_cause(&e));
            if e.is_connect() {
                ClientError::Connect(why)
            } else {
                ClientError::Transport(why)
            }
        })?;
        let status = res.status().as_u16();
        let header = |name: header::HeaderName| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(header::LOCATION);
        let retry_after = header(header::RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = res.text().await.map_err(|e| {
            ClientError::Transport(format!("reading the answer from {}: {e}", self.base))
        })?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            body,
            location,
            retry_after,
        })
    }

    /// A request that must succeed with 2xx (no retries): its JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let r = self.send(method, path, body, None).await?;
        if r.ok() {
            Ok(r.body)
        } else {
            Err(ClientError::from_reply(&r))
        }
    }

    /// A read, retried while the node or its actor restarts, as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let v = self
            .execute(Method::GET, path, None, None, Policy::PATIENT, &mut |_| {})
            .await
            .into_result()?;
        serde_json::from_value(v)
            .map_err(|e| ClientError::Other(format!("unexpected answer from GET {path}: {e}")))
    }

    /// Sends until the fate is known: the same `key` on every retry (a
    /// command without one gets a key made up for this call); retries
    /// transport errors, 502/503/504, 429 (per `policy`) and a few 500s (a
    /// query that panicked under an injected crash; a dead-lettered command
    /// answers 500 again on repeat); follows a 202 to its operation's end.
    /// `retry_body`, when given, replaces the body on retries (the key makes
    /// the node answer the first request's result if it was recorded).
    pub async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        policy: Policy,
        observe: &mut (dyn FnMut(Attempt) + Send),
    ) -> Outcome {
        self.execute_with_retry_body(method, path, body, None, key, policy, observe)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn execute_with_retry_body(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry_body: Option<&Value>,
        key: Option<&str>,
        policy: Policy,
        observe: &mut (dyn FnMut(Attempt) + Send),
    ) -> Outcome {
        // A command sent again must carry the same key, or a retry after a
        // lost answer could apply it twice: make one up if the caller gave
        // none (reads are retried as they are).
        let made_up;
        let key = match key {
            None if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) => {
                made_up = format!("auto-{}", uuid::Uuid::new_v4().simple());
                Some(made_up.as_str())
            }
            key => key,
        };
        let started = Instant::now();
        let give_up = started + policy.retry_for;
        let mut backoff = Duration::from_millis(50);
        let mut server_errors = 0;
        let mut attempt = 0u32;
        loop {
            let b = if attempt > 0 {
                retry_body.or(body)
            } else {
                body
            };
            attempt += 1;
            let t = Instant::now();
            let res = self.send(method.clone(), path, b, key).await;
            observe(Attempt {
                status: res.as_ref().ok().map(|r| r.status),
                latency: t.elapsed(),
                poll: false,
            });
            let wait = match res {
                Err(ClientError::Connect(e)) if !policy.retry_unreachable => {
                    // Nothing was sent, so nothing happened.
                    return Outcome::Rejected(ClientError::Connect(e));
                }
                Err(e) => {
                    if Instant::now() >= give_up {
                        return Outcome::Unknown(e.to_string());
                    }
                    backoff
                }
                Ok(r) if r.status == 202 => {
                    return self.follow(&r, started, policy.follow_for, observe).await;
                }
                Ok(r) if r.ok() => {
                    return Outcome::Done {
                        status: r.status,
                        body: r.body,
                        accepted_for: None,
                    }
                }
                Ok(r) if matches!(r.status, 502..=504) => {
                    if Instant::now() >= give_up {
                        return Outcome::Unknown(ClientError::from_reply(&r).to_string());
                    }
                    // Retry-After says 1 s; a restart is usually shorter.
                    backoff.max(Duration::from_millis(100))
                }
                Ok(r) if r.status == 429 && policy.retry_rate_limited => {
                    if Instant::now() >= give_up {
                        return Outcome::Unknown(ClientError::from_reply(&r).to_string());
                    }
                    r.retry_after.unwrap_or(Duration::from_secs(1))
                }
                Ok(r) if r.status == 500 => {
                    server_errors += 1;
                    if server_errors >= 3 || Instant::now() >= give_up {
                        return Outcome::Dead(ClientError::from_reply(&r));
                    }
                    backoff
                }
                Ok(r) => return Outcome::Rejected(ClientError::from_reply(&r)),
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Polls a 202's `Location` until its operation is no longer pending.
    async fn follow(
        &self,
        accepted: &Reply,
        started: Instant,
        within: Duration,
        observe: &mut (dyn FnMut(Attempt) + Send),
    ) -> Outcome {
        let location = accepted
            .location
            .clone()
            .or_else(|| accepted.body["location"].as_str().map(str::to_owned));
        let Some(location) = location else {
            return Outcome::Unknown("202 without a Location".into());
        };
        let until = Instant::now() + within;
        let mut pause = Duration::from_millis(25);
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
            let t = Instant::now();
            let res = self.send(Method::GET, &location, None, None).await;
            observe(Attempt {
                status: res.as_ref().ok().map(|r| r.status),
                latency: t.elapsed(),
                poll: true,
            });
            if let Ok(r) = res {
                if r.ok() {
                    match r.body["status"].as_str() {
                        Some("done") => {
                            return Outcome::Done {
                                status: 200,
                                body: r.body["result"].clone(),
                                accepted_for: Some(started.elapsed()),
                            }
                        }
                        Some("failed") => return Outcome::Rejected(op_error(&r.body)),
                        Some("dead") => return Outcome::Dead(op_error(&r.body)),
                        _ => {}
                    }
                } else if !matches!(r.status, 429 | 500 | 502..=504) {
                    return Outcome::Unknown(format!(
                        "polling {location}: {}",
                        ClientError::from_reply(&r)
                    ));
                }
            }
            if Instant::now() >= until {
                return Outcome::Unknown(format!("{location} still pending after {within:?}"));
            }
        }
    }
}

/// The problem of a failed or dead operation.
fn op_error(op: &Value) -> ClientError {
    serde_json::from_value::<Problem>(op["error"].clone())
        .map(|p| ClientError::from_problem(&p))
        .unwrap_or_else(|_| ClientError::Api {
            status: 500,
            title: "Internal Server Error".into(),
            detail: format!("operation {}", op["status"].as_str().unwrap_or("failed")),
        })
}

/// The innermost cause of a reqwest error ("Connection refused"), which is
/// what a person needs to read.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        "timed out".into()
    } else {
        cause.to_string()
    }
}
