//! The gRPC edge (tonic). Each method authenticates from the
//! `authorization` metadata, builds the same typed command or query the REST
//! handler builds, and maps the answer; [`status`] maps problems to codes.
//! Server reflection (v1 and v1alpha) and `grpc.health.v1.Health` are
//! served, so `grpcurl` works with no .proto file; [`health`] keeps each
//! service's health following its actors.
//!
//! Around every service: [`limits`] (handshake and idle timeouts, the
//! connection cap, accept back-off, open-call counting), [`Metered`], and
//! [`malformed`] (undecodable requests answer `INVALID_ARGUMENT`).
//!
//! A command not finished within the wait budget answers
//! `DEADLINE_EXCEEDED` with its operation id in `x-operation-id` metadata
//! (poll `Operations/GetOperation`); `UNAVAILABLE` means nothing was recorded.
pub mod admin;
pub mod analytics;
pub mod cart;
pub mod catalog;
pub mod health;
pub mod inventory;
pub mod limits;
pub mod malformed;
pub mod notifications;
pub mod operations;
pub mod orders;
pub mod payments;
pub mod queues;
pub mod shipping;
pub mod status;
pub mod users;
pub mod wallets;

use std::{
    future::Future,
    net::TcpListener,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tonic::{metadata::MetadataValue, Request, Response, Status};
use uuid::Uuid;

use crate::{
    actors::users as users_actor,
    auth::Caller,
    context::NodeCtx,
    mom::{ExecOptions, Executed, MomError},
};

/// Generated code, one module per package.
pub mod pb {
    pub mod users {
        tonic::include_proto!("mailroom.users.v1");
    }
    pub mod wallets {
        tonic::include_proto!("mailroom.wallets.v1");
    }
    pub mod notifications {
        tonic::include_proto!("mailroom.notifications.v1");
    }
    pub mod admin {
        tonic::include_proto!("mailroom.admin.v1");
    }
    pub mod operations {
        tonic::include_proto!("mailroom.operations.v1");
    }
    pub mod catalog {
        tonic::include_proto!("mailroom.catalog.v1");
    }
    pub mod inventory {
        tonic::include_proto!("mailroom.inventory.v1");
    }
    pub mod cart {
        tonic::include_proto!("mailroom.cart.v1");
    }
    pub mod orders {
        tonic::include_proto!("mailroom.orders.v1");
    }
    pub mod payments {
        tonic::include_proto!("mailroom.payments.v1");
    }
    pub mod shipping {
        tonic::include_proto!("mailroom.shipping.v1");
    }
    pub mod analytics {
        tonic::include_proto!("mailroom.analytics.v1");
    }
    pub mod mom {
        tonic::include_proto!("mailroom.mom.v1");
    }
    /// Every mailroom .proto, encoded, for reflection.
    pub const DESCRIPTOR: &[u8] = tonic::include_file_descriptor_set!("mailroom_descriptor");
}

/// Largest request message accepted (as REST).
pub const MAX_MESSAGE: usize = 1 << 20;

/// The caller from `authorization: Bearer <jwt>`: a valid token whose
/// account still exists at the token's version ([`users_actor::authenticate`],
/// shared with the REST edge). The header is read before the future
/// starts, so the future borrows only `ctx`.
pub fn caller<'a, T>(
    ctx: &'a NodeCtx,
    req: &Request<T>,
) -> impl Future<Output = Result<Caller, Status>> + Send + 'a {
    let header = req
        .metadata()
        .get("authorization")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| Status::unauthenticated("unreadable authorization metadata"))
        })
        .transpose();
    async move {
        users_actor::authenticate(&ctx.mom, &ctx.keys, &ctx.token_versions, header?.as_deref())
            .await
            .map_err(status::status)
    }
}

/// An admin caller.
pub fn admin<'a, T>(
    ctx: &'a NodeCtx,
    req: &Request<T>,
) -> impl Future<Output = Result<Caller, Status>> + Send + 'a {
    let caller = caller(ctx, req);
    async move {
        let c = caller.await?;
        c.require_admin().map_err(status::status)?;
        Ok(c)
    }
}

/// `idempotency-key` and `prefer: wait=N` metadata, parsed as the REST
/// headers are.
pub fn exec_options<T>(
    ctx: &NodeCtx,
    req: &Request<T>,
    owner: Option<Uuid>,
) -> Result<ExecOptions, Status> {
    ExecOptions::parse(
        owner,
        req.metadata().get("idempotency-key").map(|v| v.as_bytes()),
        prefer(req),
        ctx.default_wait,
    )
    .map_err(status::status)
}

pub fn wait_budget<T>(ctx: &NodeCtx, req: &Request<T>) -> Duration {
    crate::mom::wait_budget(prefer(req), ctx.default_wait)
}

fn prefer<T>(req: &Request<T>) -> impl Iterator<Item = &str> {
    req.metadata()
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Maps a command's fate to a response.
pub fn finish<R, P>(
    res: Result<Executed<R>, MomError>,
    map: impl FnOnce(R) -> P,
) -> Result<Response<P>, Status> {
    match res.map_err(status::mom_status)? {
        Executed::Done(r) => Ok(Response::new(map(r))),
        Executed::Accepted(id) => {
            let mut s = Status::deadline_exceeded(format!(
                "accepted as operation {id}; still pending (Operations/GetOperation)"
            ));
            if let Ok(v) = MetadataValue::try_from(id.to_string()) {
                s.metadata_mut().insert("x-operation-id", v);
            }
            Err(s)
        }
    }
}

pub fn parse_uuid(s: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s).map_err(|_| Status::invalid_argument(format!("{what} must be a UUID")))
}

pub fn page(page: u32, page_size: u32) -> Result<crate::problem::Page, Status> {
    crate::problem::Page::new(Some(page), Some(page_size)).map_err(status::status)
}

/// Records each call's latency and status in `/metrics`.
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for Metered<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        // Known services only: a hostile client must not mint label values.
        let method = if path.starts_with("/mailroom.") || path.starts_with("/grpc.") {
            path.to_owned()
        } else {
            "other".to_owned()
        };
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport".to_owned(),
            };
            crate::metrics::get()
                .grpc_requests
                .with_label_values(&[&method, &code])
                .observe(started.elapsed().as_secs_f64());
            res
        })
    }
}

/// How long open calls get to finish after shutdown begins (as REST's
/// `shutdown_timeout`); then the remaining connections are dropped.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves gRPC on `listener` until `shutdown` resolves, within `limits`
/// (see [`limits`]).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<NodeCtx>,
    limits: limits::GrpcLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use pb::{
        admin::admin_server::AdminServer, notifications::notifications_server::NotificationsServer,
        operations::operations_server::OperationsServer, users::users_server::UsersServer,
        wallets::wallets_server::WalletsServer,
    };
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::DESCRIPTOR)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health::follow(health, ctx.mom.registry().clone()).await;
    let users =
        UsersServer::new(users::UsersGrpc(ctx.clone())).max_decoding_message_size(MAX_MESSAGE);
    let wallets = WalletsServer::new(wallets::WalletsGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let notifications = NotificationsServer::new(notifications::NotificationsGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let admin =
        AdminServer::new(admin::AdminGrpc(ctx.clone())).max_decoding_message_size(MAX_MESSAGE);
    let operations = OperationsServer::new(operations::OperationsGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let catalog =
        pb::catalog::catalog_server::CatalogServer::new(catalog::CatalogGrpc(ctx.clone()))
            .max_decoding_message_size(MAX_MESSAGE);
    let inventory = pb::inventory::inventory_server::InventoryServer::new(
        inventory::InventoryGrpc(ctx.clone()),
    )
    .max_decoding_message_size(MAX_MESSAGE);
    let cart = pb::cart::cart_server::CartServer::new(cart::CartGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let orders = pb::orders::orders_server::OrdersServer::new(orders::OrdersGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let payments =
        pb::payments::payments_server::PaymentsServer::new(payments::PaymentsGrpc(ctx.clone()))
            .max_decoding_message_size(MAX_MESSAGE);
    let shipping =
        pb::shipping::shipping_server::ShippingServer::new(shipping::ShippingGrpc(ctx.clone()))
            .max_decoding_message_size(MAX_MESSAGE);
    let analytics = pb::analytics::analytics_server::AnalyticsServer::new(
        analytics::AnalyticsGrpc(ctx.clone()),
    )
    .max_decoding_message_size(MAX_MESSAGE);
    let queues = pb::mom::queues_server::QueuesServer::new(queues::QueuesGrpc(ctx.clone()))
        .max_decoding_message_size(MAX_MESSAGE);

    limits::init_metrics();
    let conns = Arc::new(limits::Connections::default());
    let incoming = limits::incoming(listener, Arc::new(limits.clone()), conns.clone());
    // The signal both starts tonic's graceful shutdown and bounds its drain.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut drain_rx = stop_rx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(limits.keepalive_interval)
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_concurrent_streams(limits.max_streams)
        .layer(limits::CallTracking::layer(conns))
        .layer(tower::layer::layer_fn(|inner| Metered { inner }))
        .layer(malformed::Malformed::layer())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(users)
        .add_service(wallets)
        .add_service(notifications)
        .add_service(admin)
        .add_service(operations)
        .add_service(catalog)
        .add_service(inventory)
        .add_service(cart)
        .add_service(orders)
        .add_service(payments)
        .add_service(shipping)
        .add_service(analytics)
        .add_service(queues)
        .serve_with_incoming_shutdown(incoming, async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|stop| *stop).await;
        });
    tokio::select! {
        res = server => res?,
        _ = async {
            let _ = drain_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN).await;
        } => tracing::warn!(drain_s = DRAIN.as_secs(), "gRPC calls still open after the drain; dropping them"),
    }
    Ok(())
}
