//! # mailroom
//!
//! A resilient commerce backend: every service is a supervised actix actor
//! with its own SQLite store, and every message between the edges and the
//! services (and between services) goes through a durable
//! message-oriented middleware — the MOM — that writes it to disk before
//! delivering it and replays whatever was not acknowledged.
//!
//! # Layout
//!
//! ```text
//!  curl / console client         grpcurl / any gRPC client
//!        │ REST  (http/)               │ gRPC (grpc/)
//!        └──── translate ──► typed Command / Query ◄── translate ────┘
//!                               │  Mom::execute / Mom::ask  (mom/mod.rs)
//!                               ▼
//!   mom/post_office.rs   journal (mom/journal.rs: fsync, group commit)
//!                        → route → Deliver batch → ack → events fan out
//!                               ▼
//!   actors/runtime.rs    inbox dedupe → txn → service logic → inbox row → commit
//!                               ▼
//!   actors/<service>/    users · wallets · notifications · catalog · inventory ·
//!                        cart · orders · payments · shipping · analytics
//!                        — each: messages + logic (mod.rs) and store.rs
//! ```
//!
//! Services talk only through the MOM. A saga step is a command a handler
//! returns (`Effects::send`), journaled with that handler's completion; its
//! reply comes back as another envelope. The order saga
//! ([`actors::orders`]) runs `orders → inventory (reserve) → payments
//! (charge; wallet payments go through wallets) → shipping → orders →
//! inventory (commit)`; events (`order.*`, `shipment.*`, `payment.*`,
//! `inventory.*`, `catalog.product.*`) fan out to subscribers (cart,
//! notifications, analytics) through [`mom::topics`].
//!
//! - [`main`](../mailroom/index.html) is thin: parse [`config`], init
//!   [`telemetry`], run [`node::serve`] (or [`bench`]).
//! - [`node`] opens the stores, starts the MOM and the actors, bootstraps
//!   the admin, serves both edges, shuts down on SIGINT/SIGTERM.
//! - [`mom`] is the post office: [`mom::journal`] (durable envelope log),
//!   [`mom::post_office`] (the MOM's own supervised actor: delivery, replay,
//!   dead letters), [`mom::registry`] (actor slots), [`mom::topics`]
//!   (AMQP-style routing). Delivery semantics: `src/mom/README.md`.
//! - [`actors`] holds the services. [`actors::runtime`] is the wrapper every
//!   service runs in (inbox, batching, panics → supervised restart, faults);
//!   [`actors::supervision`] the stats and faults every actor has;
//!   [`actors::control`] the operator's view (list, inject, clear).
//! - [`store`] opens SQLite pools with durable pragmas and embedded
//!   migrations (`migrations/<db>/`); [`store::schema`] has every table.
//! - [`http`] and [`grpc`] are the edges; they only translate. Problems map
//!   to HTTP once in [`http::error`] and to gRPC once in [`grpc::status`].
//!   Each edge bounds what one client may hold (timeouts, connection caps
//!   sized from the fd limit in [`node`]): [`http::HttpLimits`] and
//!   [`grpc::limits`].
//!   [`http::openapi`] builds the OpenAPI document; the answers every
//!   operation of a kind shares (problem+json errors, 401, 413, 429, 503,
//!   202 + `Location`...) are added there once, from each operation's shape.
//! - [`auth`] is the authentication layer both edges share (neither owns
//!   it): JWT with a per-account token version (revoked by deletion and
//!   password change, checked through a cache), bounded Argon2id with
//!   reused memory, and the per-address login/register limiter;
//!   [`problem`] the error shape that crosses the MOM; [`metrics`] Prometheus.
//! - [`client`] is the console client (`mailroom login|products|order|...`)
//!   and `mailroom load [--chaos]`, which loads a node, kills actors while it
//!   runs and then checks the invariants (nothing lost, nothing applied twice).
//! - `schema/` holds the .proto contracts, compiled by `build.rs` with protox.
//! - `tests/` starts real nodes (port 0, temp dir) and drives them over REST
//!   and gRPC, kills actors and processes, and checks the invariants.
pub mod actors;
pub mod auth;
pub mod bench;
pub mod bench_auth;
pub mod bench_orders;
pub mod bench_queues;
pub mod client;
pub mod config;
pub mod context;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod mom;
pub mod node;
pub mod problem;
pub mod store;
pub mod telemetry;
