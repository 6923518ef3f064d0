//! Configuration in one place: clap flags, each with a `MAILROOM_*` twin.
use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    about = "A resilient commerce backend on supervised actors and a durable MOM",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// `serve`'s flags, for when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the node (the default).
    Serve(ServeArgs),
    /// Measure the node's parts and print a report.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// The console client (`src/client/`): talks to a node over REST.
    #[command(flatten)]
    Client(crate::client::ClientCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Args)]
pub struct ServeArgs {
    /// REST listen address.
    #[arg(long, env = "MAILROOM_HTTP", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// gRPC listen address.
    #[arg(long, env = "MAILROOM_GRPC", default_value = "127.0.0.1:50051")]
    pub grpc: SocketAddr,
    /// Data directory (one SQLite file per service plus the MOM's journal).
    #[arg(long, env = "MAILROOM_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// HS256 secret, 32+ bytes; otherwise one is generated and kept in the data directory.
    #[arg(long, env = "MAILROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    #[arg(
        long,
        env = "MAILROOM_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
    /// Admin account created on first start.
    #[arg(long, env = "MAILROOM_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,
    /// Its password; a random one is printed once if unset.
    #[arg(long, env = "MAILROOM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Failed deliveries before an envelope is dead-lettered.
    #[arg(long, env = "MAILROOM_MAX_DELIVERIES", default_value_t = 5)]
    pub max_deliveries: u32,
    /// Default wait budget for a command's result, in milliseconds (clients override with `Prefer: wait=N`).
    #[arg(long, env = "MAILROOM_WAIT_MS", default_value_t = 2000)]
    pub wait_ms: u64,
    /// Session token lifetime, in seconds.
    #[arg(long, env = "MAILROOM_TOKEN_TTL_S", default_value_t = 86_400)]
    pub token_ttl_s: u64,
    /// Do not seed the demo catalog (a few dozen books with stock) on first start.
    #[arg(long, env = "MAILROOM_NO_SEED")]
    pub no_seed: bool,
    /// How long done envelopes (operations, idempotency keys) are kept, in hours.
    #[arg(long, env = "MAILROOM_RETENTION_H", default_value_t = 24)]
    pub retention_h: u64,
    /// Login and register requests allowed per second and client address (sustained).
    #[arg(long, env = "MAILROOM_AUTH_RATE_PER_S", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_s: u32,
    /// Login and register requests a client address may send in a burst.
    #[arg(long, env = "MAILROOM_AUTH_BURST", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_burst: u32,
    /// Password hashes/verifications running at once (each holds 19 MiB); 0: one per CPU.
    #[arg(long, env = "MAILROOM_AUTH_HASH_CONCURRENCY", default_value_t = 0)]
    pub auth_hash_concurrency: usize,
    /// Password hashes that may wait for a slot; beyond them the answer is 429 / RESOURCE_EXHAUSTED (retry in 1 s).
    #[arg(long, env = "MAILROOM_AUTH_HASH_QUEUE", default_value_t = 32)]
    pub auth_hash_queue: usize,
    /// How long a token check trusts its cached account version, in milliseconds (how late another node learns of a revocation).
    #[arg(long, env = "MAILROOM_TOKEN_CACHE_TTL_MS", default_value_t = 5_000)]
    pub token_cache_ttl_ms: u64,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// What one client may hold of each edge (README "Limits"). Connection caps
/// of 0 are sized from the file-descriptor limit at start
/// (`node::FdBudget`), leaving room for the stores.
#[derive(Debug, Clone, Args)]
pub struct EdgeArgs {
    /// Open gRPC connections at most; beyond it a new one is closed at once (0: from the fd limit).
    #[arg(long, env = "MAILROOM_GRPC_MAX_CONNECTIONS", default_value_t = 0)]
    pub grpc_max_connections: usize,
    /// Seconds a gRPC connection has to send the HTTP/2 preface and SETTINGS before it is closed.
    #[arg(long, env = "MAILROOM_GRPC_HANDSHAKE_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub grpc_handshake_timeout_s: u64,
    /// Seconds a gRPC connection may stay open with no call in progress (0: forever).
    #[arg(long, env = "MAILROOM_GRPC_IDLE_TIMEOUT_S", default_value_t = 120)]
    pub grpc_idle_timeout_s: u64,
    /// Seconds between HTTP/2 pings on a gRPC connection (0: no pings).
    #[arg(long, env = "MAILROOM_GRPC_KEEPALIVE_INTERVAL_S", default_value_t = 30)]
    pub grpc_keepalive_interval_s: u64,
    /// Seconds a ping may go unanswered before the connection is closed.
    #[arg(long, env = "MAILROOM_GRPC_KEEPALIVE_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub grpc_keepalive_timeout_s: u64,
    /// Concurrent calls (HTTP/2 streams) per gRPC connection.
    #[arg(long, env = "MAILROOM_GRPC_MAX_STREAMS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub grpc_max_streams: u32,
    /// gRPC listen backlog (connections the kernel queues before accept).
    #[arg(long, env = "MAILROOM_GRPC_BACKLOG", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub grpc_backlog: u32,
    /// Open REST connections at most; beyond it new ones wait in the backlog (0: from the fd limit).
    #[arg(long, env = "MAILROOM_HTTP_MAX_CONNECTIONS", default_value_t = 0)]
    pub http_max_connections: usize,
    /// Seconds a REST client has to send a request's head (slow clients get 408).
    #[arg(long, env = "MAILROOM_HTTP_REQUEST_TIMEOUT_S", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_request_timeout_s: u64,
    /// Seconds an idle keep-alive REST connection stays open (0: close after each response).
    #[arg(long, env = "MAILROOM_HTTP_KEEP_ALIVE_S", default_value_t = 5)]
    pub http_keep_alive_s: u64,
    /// Seconds given to a REST connection's shutdown before it is dropped.
    #[arg(long, env = "MAILROOM_HTTP_DISCONNECT_TIMEOUT_S", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_disconnect_timeout_s: u64,
    /// REST listen backlog.
    #[arg(long, env = "MAILROOM_HTTP_BACKLOG", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_backlog: u32,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("http", &self.http)
            .field("grpc", &self.grpc)
            .field("data", &self.data)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("log_format", &self.log_format)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("max_deliveries", &self.max_deliveries)
            .field("wait_ms", &self.wait_ms)
            .field("token_ttl_s", &self.token_ttl_s)
            .field("retention_h", &self.retention_h)
            .field("no_seed", &self.no_seed)
            .field("auth_rate_per_s", &self.auth_rate_per_s)
            .field("auth_burst", &self.auth_burst)
            .field("auth_hash_concurrency", &self.auth_hash_concurrency)
            .field("auth_hash_queue", &self.auth_hash_queue)
            .field("token_cache_ttl_ms", &self.token_cache_ttl_ms)
            .field("edge", &self.edge)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Durable envelopes/s (persist → deliver → ack, fsync on) and latency at a fixed rate.
    Mom(MomBenchArgs),
    /// The order saga end to end through REST on a real node: orders/s and latency.
    Orders(OrdersBenchArgs),
    /// User queues in process: publish throughput (after fsync), receive+ack throughput, publish→receive latency at a fixed rate.
    Queues(QueuesBenchArgs),
    /// A wrong-password login flood on a real node, REST then gRPC: idle, peak and settled RSS, accepted and limited counts.
    Auth(AuthBenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuthBenchArgs {
    /// Concurrent clients, each sending wrong-password logins back to back.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Length of the flood, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds after the flood at which the settled RSS is read.
    #[arg(long, default_value_t = 15)]
    pub settle_seconds: u64,
    /// Skip the second pair of runs, on nodes with the default per-address limits (where the flood mostly meets the rate limiter).
    #[arg(long)]
    pub skip_defaults: bool,
    /// Extra `serve` flags for the bench nodes (e.g. `--auth-hash-concurrency=4`).
    #[arg(long, allow_hyphen_values = true)]
    pub node_arg: Vec<String>,
    /// Extra environment for the bench nodes, `KEY=VALUE` (e.g. `MALLOC_ARENA_MAX=2`).
    #[arg(long)]
    pub node_env: Vec<String>,
    /// The `mailroom` binary the nodes run (default: this one), e.g. an older build to compare.
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Where to put the nodes' temporary data dirs.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct MomBenchArgs {
    /// Envelopes per throughput run.
    #[arg(long, default_value_t = 60_000)]
    pub envelopes: usize,
    /// Concurrent submitters in the throughput runs.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Offered load for the latency runs (envelopes/s).
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Length of each latency run, in seconds.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Runs of each kind; the report shows medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of baseline per run (one fsync'd transaction per message): half before the throughput run, half after.
    #[arg(long, default_value_t = 4)]
    pub baseline_seconds: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 256)]
    pub payload: usize,
    /// Where to put the temporary databases (default: the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct OrdersBenchArgs {
    /// Orders per throughput run.
    #[arg(long, default_value_t = 600)]
    pub orders: usize,
    /// Concurrent buyers (each places an order and waits for `confirmed`).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Offered load for the latency run (orders/s).
    #[arg(long, default_value_t = 50)]
    pub rate: u64,
    /// Length of the latency run, in seconds.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Runs (a fresh node each); the report shows medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where to put the nodes' temporary data dirs.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct QueuesBenchArgs {
    /// Messages per throughput run (published, then received and acked).
    #[arg(long, default_value_t = 30_000)]
    pub messages: usize,
    /// Concurrent publishers in the throughput runs.
    #[arg(long, default_value_t = 256)]
    pub publishers: usize,
    /// Concurrent consumers (throughput and latency runs).
    #[arg(long, default_value_t = 4)]
    pub consumers: usize,
    /// Messages leased per receive (1..=100).
    #[arg(long, default_value_t = 100)]
    pub batch: u32,
    /// Ack each message with its own command instead of one batch ack per receive.
    #[arg(long)]
    pub single_acks: bool,
    /// Offered publish rate for the latency runs (messages/s).
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Length of each latency run, in seconds.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Runs of each kind; the report shows medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 256)]
    pub body: usize,
    /// Where to put the temporary databases (default: the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}
