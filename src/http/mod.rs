//! The REST edge (actix-web). Handlers only translate: authenticate, build
//! the typed command or query, hand it to the MOM, map the answer (or the
//! 202 operation) back. Errors are problem+json via [`error`].
pub mod admin;
pub mod analytics;
pub mod cart;
pub mod catalog;
pub mod error;
pub mod extract;
pub mod inventory;
pub mod notifications;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod queues;
pub mod shipping;
pub mod users;
pub mod wallets;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    dev::{Server, Service as _},
    http::{header, KeepAlive},
    web, App, HttpRequest, HttpResponse, HttpServer,
};
use futures::FutureExt as _;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::SwaggerUi;

use crate::{context::NodeCtx, mom::supervision::ActorState, problem::Problem};
use error::{json_error, path_error, problem_response, query_error};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// The REST edge's connection limits (README "Limits"), from
/// [`crate::config::EdgeArgs`]. actix-web already closes idle and slow
/// connections; these make its numbers explicit.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Open connections at most, over all workers; beyond it new ones wait
    /// in the listen backlog.
    pub max_connections: usize,
    /// Time to receive a request's head (else 408 and close).
    pub request_timeout: Duration,
    /// Idle time of a keep-alive connection; zero: no keep-alive.
    pub keep_alive: Duration,
    /// Time given to a connection's shutdown.
    pub disconnect_timeout: Duration,
    pub backlog: u32,
    /// Worker threads (each gets its share of `max_connections`).
    pub workers: usize,
}

impl HttpLimits {
    pub fn from_args(args: &crate::config::EdgeArgs, max_connections: usize) -> Self {
        Self {
            max_connections,
            request_timeout: Duration::from_secs(args.http_request_timeout_s.max(1)),
            keep_alive: Duration::from_secs(args.http_keep_alive_s),
            disconnect_timeout: Duration::from_secs(args.http_disconnect_timeout_s.max(1)),
            backlog: args.http_backlog.max(1),
            // actix-web's default worker count, made explicit for the per-worker cap.
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Binds `addr` and builds the server (not yet running); returns it with
/// the bound addresses (port 0 resolved).
pub fn server(
    ctx: Arc<NodeCtx>,
    addr: SocketAddr,
    limits: &HttpLimits,
) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let data = web::Data::from(ctx);
    let openapi = openapi::document();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY)
                    .error_handler(|e, _| json_error(e).into()),
            )
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| path_error(e).into()))
            .wrap_fn(|req, srv| {
                let method = req.method().to_string();
                let started = Instant::now();
                srv.call(req).map(move |res| {
                    if let Ok(res) = &res {
                        let route = res
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".into());
                        crate::metrics::get()
                            .http_requests
                            .with_label_values(&[&method, &route, res.status().as_str()])
                            .observe(started.elapsed().as_secs_f64());
                    }
                    res
                })
            })
            .wrap(TracingLogger::default())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi.clone()))
            .service(
                web::scope("/api/v1")
                    .configure(users::routes)
                    .configure(wallets::routes)
                    .configure(notifications::routes)
                    .configure(catalog::routes)
                    .configure(inventory::routes)
                    .configure(cart::routes)
                    .configure(orders::routes)
                    .configure(payments::routes)
                    .configure(shipping::routes)
                    .configure(analytics::routes)
                    .configure(queues::routes)
                    .configure(admin::routes),
            )
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(10)
    .workers(limits.workers)
    .max_connections(limits.max_connections.div_ceil(limits.workers).max(1))
    .client_request_timeout(limits.request_timeout)
    .client_disconnect_timeout(limits.disconnect_timeout)
    .keep_alive(if limits.keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(limits.keep_alive)
    })
    .backlog(limits.backlog)
    .bind(addr)?;
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    problem_response(&Problem::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: every actor (the MOM included) is running.
#[utoipa::path(get, path = "/readyz", tag = "node",
    responses((status = 200, description = "`{\"status\": \"ready\"}`", body = Object),
        (status = 503, description = "`{\"status\": \"not_ready\", \"down\": [actor...]}`", body = Object,
            headers(("Retry-After" = u32, description = "Seconds to wait")))))]
async fn readyz(ctx: web::Data<NodeCtx>) -> HttpResponse {
    let down: Vec<&str> = ctx
        .mom
        .registry()
        .all()
        .iter()
        .filter(|s| s.stats.state() != ActorState::Running)
        .map(|s| s.stats.name)
        .collect();
    if down.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(serde_json::json!({ "status": "not_ready", "down": down }))
    }
}

/// Prometheus text: per-actor counters, MOM counts, per-queue gauges,
/// HTTP and gRPC latency histograms.
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain")))]
async fn metrics(ctx: web::Data<NodeCtx>) -> HttpResponse {
    let counts = ctx.mom.counts().await;
    crate::actors::queues::edge::refresh_metrics(&ctx.mom).await;
    for s in ctx.mom.registry().all() {
        crate::metrics::set_actor(
            s.stats.name,
            s.stats.pending(),
            s.stats.state() == ActorState::Running,
        );
    }
    crate::metrics::set_journal_counts(&counts);
    let body = crate::metrics::render();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
