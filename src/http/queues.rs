//! `/queues/*` and `/topics/*`: the MOM for users (any token). Every
//! mutation is a journaled MOM command (answered after fsync and commit, or
//! 202 + operation); reads and the long poll's waiting are not journaled.
//! The rules (order, leases, dead letters, the 403/404 rule) are in
//! `src/actors/queues/mod.rs` and `docs/QUEUES.md`.
use std::collections::BTreeMap;

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::{command, exec_options, respond, wait_budget, Auth, Json, PageQuery},
};
use crate::{
    actors::queues::{
        edge, long_poll, Ack, AckBatch, AckItem, AckedBatch, Bind, By, CheckAccess, CreateQueue,
        CreateTopic, DeadLetterView, DeleteQueue, DeleteTopic, Delivered, GetQueue, GetTopic,
        Grant, GrantView, ListDeadLetters, ListQueues, ListTopics, Nack, Need, On, Permission,
        Publish, PublishTopic, Published, QueueView, Receive, Received, Redrive, Settled,
        SubscriptionView, TopicView, Unbind,
    },
    auth::Caller,
    context::NodeCtx,
    mom::Executed,
    problem::{Paged, Problem},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueueBody {
    /// 1-64 characters from A-Z a-z 0-9 . _ -, not `.` or `..`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub name: String,
    /// Lease length for received messages (1..=43200 s, default 30).
    #[schema(minimum = 1, maximum = 43200)]
    pub visibility_timeout_s: Option<u32>,
    /// Deliveries before a message moves to the dead letters (1..=1000, default 5).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_deliveries: Option<u32>,
    /// Age (from publication) past which a message is dead-lettered with reason `expired` (1..=1209600 s; none by default).
    #[schema(minimum = 1, maximum = 1209600)]
    pub message_ttl_s: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The user's email (404 if no account has it).
    #[schema(
        max_length = 254,
        pattern = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f]{1,64}@[^@\\s\\x00-\\x1f\\x7f-\\x9f]+$",
        example = "ann@example.com"
    )]
    pub user_email: String,
    /// Replaces what the user held; `[]` revokes.
    pub permissions: Vec<Permission>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Up to 256 KiB (413 beyond).
    #[schema(max_length = 262144)]
    pub body: String,
    /// Up to 32; names 1-128 bytes without spaces or control characters,
    /// values up to 1024 bytes.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Hold the message back this long (0..=86400 s).
    #[schema(minimum = 0, maximum = 86400)]
    pub delay_s: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    /// Most messages to lease (1..=100, default 1).
    #[schema(minimum = 1, maximum = 100)]
    pub max: Option<u32>,
    /// Long poll: wait up to this long for a message (0..=20 s, default 0).
    #[schema(minimum = 0, maximum = 20)]
    pub wait_s: Option<u32>,
    /// Lease length for this receive (1..=43200 s; default: the queue's).
    #[schema(minimum = 1, maximum = 43200)]
    pub visibility_timeout_s: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// The receipt of the message's latest delivery (1 to 128 visible ASCII characters).
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    pub receipt: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBatchBody {
    /// 1 to 100 messages with their receipts.
    #[schema(min_items = 1, max_items = 100)]
    pub acks: Vec<AckItem>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NackBody {
    /// The receipt of the message's latest delivery (1 to 128 visible ASCII characters).
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    pub receipt: String,
    /// true: waiting again (after `delay_s`); false: to the dead letters.
    pub requeue: bool,
    /// 0..=86400 s.
    #[schema(minimum = 0, maximum = 86400)]
    pub delay_s: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicBody {
    /// 1-64 characters from A-Z a-z 0-9 . _ -, not `.` or `..`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishTopicBody {
    /// Dot-separated words, no `*`/`#`, spaces or control characters, up to 255 bytes.
    #[schema(max_length = 255, pattern = "^[^*#\\s\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub routing_key: String,
    /// Up to 256 KiB (413 beyond).
    #[schema(max_length = 262144)]
    pub body: String,
    /// As for a queue message: up to 32.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindBody {
    /// A queue you may publish to.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub queue: String,
    /// Dot-separated words, each `*` (one word), `#` (zero or more) or a
    /// word without them; up to 255 bytes, no spaces or control characters.
    #[schema(max_length = 255, pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub pattern: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopicPublishedView {
    /// The publication's id (its copies in the queues have their own).
    pub id: Uuid,
    /// How many queues it reached.
    pub routed: usize,
}

fn by(caller: Caller) -> By {
    caller.into()
}

fn name(p: web::Path<String>) -> String {
    p.into_inner()
}

/// What an extractor refused, as the problem it already is (bodies, query
/// strings and paths map to problems in the app's configs).
fn extracted<T>(r: Result<T, actix_web::Error>) -> Result<T, ApiError> {
    r.map_err(|e| match e.as_error::<ApiError>() {
        Some(ApiError(p)) => ApiError(p.clone()),
        None => ApiError(Problem::bad_request(e.to_string())),
    })
}

fn body<T>(b: Result<Json<T>, actix_web::Error>) -> Result<T, ApiError> {
    extracted(b).map(Json::into_inner)
}

/// A message or subscription id from the path (taken as text so that a bad
/// one is judged after the permission check).
fn path_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s)
        .map_err(|e| ApiError(Problem::bad_request(format!("invalid path parameter: {e}"))))
}

/// The queue or topic an operation is on, and what it needs there.
struct Target<'a> {
    on: On,
    name: &'a str,
    need: Need,
    /// As the actor words it: "publish to", "receive from", ...
    action: &'static str,
}

impl<'a> Target<'a> {
    fn queue(name: &'a str, need: Need, action: &'static str) -> Self {
        Target {
            on: On::Queue,
            name,
            need,
            action,
        }
    }
    fn topic(name: &'a str, need: Need, action: &'static str) -> Self {
        Target {
            on: On::Topic,
            name,
            need,
            action,
        }
    }
}

/// Runs `op`; a request it refuses for its content (400, 413, 422) on a
/// queue or topic the caller may not use at all answers that (404, 403)
/// instead ([`edge::access_first`]): the permission check comes first.
async fn access_first(
    ctx: &NodeCtx,
    req: &HttpRequest,
    caller: Caller,
    target: Target<'_>,
    op: impl std::future::Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let ApiError(refused) = match op.await {
        Ok(res) => return Ok(res),
        Err(e) => e,
    };
    let check = CheckAccess {
        by: by(caller),
        on: target.on,
        name: target.name.to_owned(),
        need: target.need,
        action: target.action.to_owned(),
    };
    let wait = wait_budget(ctx, req);
    Err(ApiError(
        edge::access_first(&ctx.mom, &check, wait, refused).await,
    ))
}

// ---- queues ----------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/queues", tag = "queues", security(("bearer" = [])),
    request_body = CreateQueueBody,
    description = "Creates a queue you own.",
    responses((status = 201, body = QueueView), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 409, body = ProblemBody, description = "the name is taken"),
        (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn create_queue(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<CreateQueueBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = CreateQueue {
        by: by(caller),
        name: b.name,
        visibility_timeout_s: b.visibility_timeout_s,
        max_deliveries: b.max_deliveries,
        message_ttl_s: b.message_ttl_s,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::CREATED).await
}

#[utoipa::path(get, path = "/api/v1/queues", tag = "queues", security(("bearer" = [])),
    params(PageQuery),
    description = "The queues you own or hold a grant on (admins: all), by name.",
    responses((status = 200, body = Paged<QueueView>), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn list_queues(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQueues {
        by: by(caller),
        page: q.page()?,
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(get, path = "/api/v1/queues/{name}", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    description = "A queue's settings and counts (depth, in_flight, dead). Any grant lets you inspect. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = QueueView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get_queue(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = GetQueue {
        by: by(caller),
        name: name(path),
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(delete, path = "/api/v1/queues/{name}", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    description = "Deletes a queue with its messages, dead letters, grants and subscriptions. Owner only. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = QueueView, description = "the deleted queue, as it was"),
        (status = 202, description = "accepted; poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn delete_queue(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let queue = name(path);
    let target = Target::queue(&queue, Need::Owner, "delete");
    access_first(&ctx, &req, caller, target, async {
        let cmd = DeleteQueue {
            by: by(caller),
            name: queue.clone(),
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        respond(
            edge::delete_queue(&ctx.mom, &cmd, opts).await,
            StatusCode::OK,
        )
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/grants", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = GrantBody,
    description = "Sets what another user may do: `publish`, `consume` (receive, ack, nack, dead letters, redrive). Replaces their grant; `[]` revokes. Owner only. 404 also for an unknown email. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = GrantView), (status = 202, description = "accepted; poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn grant_queue(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: Result<Json<GrantBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    grant(&ctx, &req, caller, On::Queue, name(path), body).await
}

async fn grant(
    ctx: &NodeCtx,
    req: &HttpRequest,
    caller: Caller,
    on: On,
    name: String,
    b: Result<Json<GrantBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let target = Target {
        on,
        name: &name,
        need: Need::Owner,
        action: "grant permissions on",
    };
    access_first(ctx, req, caller, target, async {
        let b = body(b)?;
        let cmd = Grant {
            by: by(caller),
            on,
            name: name.clone(),
            user_email: b.user_email,
            permissions: b.permissions,
        };
        command(ctx, req, caller.user_id, cmd, StatusCode::OK).await
    })
    .await
}

// ---- messages --------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/queues/{name}/messages", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = PublishBody,
    description = "Publishes a message. 201 only after it is on disk (journal fsync and the queue's commit). Needs `publish`. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 201, body = Published), (status = 202, description = "accepted (durable); poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 413, body = ProblemBody, description = "body over 256 KiB"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn publish(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    b: Result<Json<PublishBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let queue = name(path);
    let target = Target::queue(&queue, Need::Publish, "publish to");
    access_first(&ctx, &req, caller, target, async {
        let b = body(b)?;
        let cmd = Publish {
            by: by(caller),
            queue: queue.clone(),
            body: b.body,
            headers: b.headers,
            delay_s: b.delay_s,
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        respond(
            edge::publish(&ctx.mom, &cmd, opts).await,
            StatusCode::CREATED,
        )
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/receive", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = ReceiveBody,
    description = "Leases up to `max` messages, oldest first, long-polling up to `wait_s`. Each comes with a receipt for ack/nack; unacked, it is redelivered when its lease ends, and past the queue's max_deliveries it moves to the dead letters. An empty list means nothing arrived in time. Needs `consume`. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = Received), (status = 202, description = "leased but not answered within the wait budget; the operation holds the messages"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn receive(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    b: Result<Json<ReceiveBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let queue = name(path);
    let target = Target::queue(&queue, Need::Consume, "receive from");
    access_first(&ctx, &req, caller, target, async {
        let b = body(b)?;
        let wait = long_poll(b.wait_s)?;
        let cmd = Receive {
            by: by(caller),
            queue: queue.clone(),
            max: b.max.unwrap_or(1),
            visibility_timeout_s: b.visibility_timeout_s,
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        respond(
            edge::receive(&ctx.mom, &cmd, opts, wait).await,
            StatusCode::OK,
        )
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/messages/{id}/ack", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = Uuid, Path)),
    request_body = AckBody,
    description = "Acknowledges (deletes) a received message. The receipt must be the message's current one: 409 if the message was received again since (stale receipt), 404 if it is no longer in the queue (acked with another receipt, dead-lettered, unknown). A repeat with the receipt that acked it answers 200 `acked` and changes nothing. Needs `consume`.",
    responses((status = 200, body = Settled), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "stale receipt")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn ack(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
    b: Result<Json<AckBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (queue, id) = path.into_inner();
    let target = Target::queue(&queue, Need::Consume, "ack messages of");
    access_first(&ctx, &req, caller, target, async {
        let cmd = Ack {
            by: by(caller),
            queue: queue.clone(),
            id: path_id(&id)?,
            receipt: body(b)?.receipt,
        };
        command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/ack", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = AckBatchBody,
    description = "Acknowledges up to 100 received messages in one durable command. Each is settled on its own: `results` says, in request order, `acked`, `not_found` (no longer in the queue) or `stale_receipt` (received again since). Needs `consume`. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = AckedBatch), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn ack_batch(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    b: Result<Json<AckBatchBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let queue = name(path);
    let target = Target::queue(&queue, Need::Consume, "ack messages of");
    access_first(&ctx, &req, caller, target, async {
        let cmd = AckBatch {
            by: by(caller),
            queue: queue.clone(),
            acks: body(b)?.acks,
        };
        command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/messages/{id}/nack", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = Uuid, Path)),
    request_body = NackBody,
    description = "Gives a received message back: `requeue: true` makes it waiting again after `delay_s` (its delivery count stays), `false` moves it to the dead letters (reason `rejected`). Receipt rules as for ack. Needs `consume`.",
    responses((status = 200, body = Settled), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "stale receipt"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn nack(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
    b: Result<Json<NackBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (queue, id) = path.into_inner();
    let target = Target::queue(&queue, Need::Consume, "nack messages of");
    access_first(&ctx, &req, caller, target, async {
        let id = path_id(&id)?;
        let b = body(b)?;
        let cmd = Nack {
            by: by(caller),
            queue: queue.clone(),
            id,
            receipt: b.receipt,
            requeue: b.requeue,
            delay_s: b.delay_s,
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        respond(edge::settle(&ctx.mom, &cmd, opts).await, StatusCode::OK)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/queues/{name}/dead-letters", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path), PageQuery),
    description = "The queue's dead letters, oldest first, with their reason (max_deliveries, expired, rejected). Needs `consume`. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = Paged<DeadLetterView>), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn dead_letters(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    q: Result<web::Query<PageQuery>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let queue = name(path);
    let target = Target::queue(&queue, Need::Consume, "read the dead letters of");
    access_first(&ctx, &req, caller, target, async {
        let q = ListDeadLetters {
            by: by(caller),
            queue: queue.clone(),
            page: extracted(q)?.page()?,
        };
        Ok(HttpResponse::Ok().json(ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/dead-letters/{id}/redrive", tag = "queues", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = Uuid, Path)),
    description = "Puts a dead letter back at the tail of its queue (delivery count 0, a fresh TTL, same id). Needs `consume`. 404 if it is not a dead letter of this queue.",
    responses((status = 200, body = Settled), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn redrive(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (queue, id) = path.into_inner();
    let target = Target::queue(&queue, Need::Consume, "redrive dead letters of");
    access_first(&ctx, &req, caller, target, async {
        let cmd = Redrive {
            by: by(caller),
            queue: queue.clone(),
            id: path_id(&id)?,
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        respond(edge::settle(&ctx.mom, &cmd, opts).await, StatusCode::OK)
    })
    .await
}

// ---- topics ----------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/topics", tag = "topics", security(("bearer" = [])),
    request_body = CreateTopicBody,
    description = "Creates a topic you own.",
    responses((status = 201, body = TopicView), (status = 202, description = "accepted; poll Location"),
        (status = 409, body = ProblemBody, description = "the name is taken"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn create_topic(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<CreateTopicBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = CreateTopic {
        by: by(caller),
        name: body.into_inner().name,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::CREATED).await
}

#[utoipa::path(get, path = "/api/v1/topics", tag = "topics", security(("bearer" = [])),
    params(PageQuery),
    description = "The topics you own or hold a grant on (admins: all), by name.",
    responses((status = 200, body = Paged<TopicView>)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn list_topics(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = ListTopics {
        by: by(caller),
        page: q.page()?,
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(get, path = "/api/v1/topics/{name}", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path)),
    description = "A topic and its subscriptions. Any grant lets you inspect. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = TopicView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn get_topic(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = GetTopic {
        by: by(caller),
        name: name(path),
    };
    Ok(HttpResponse::Ok().json(ctx.mom.ask(&q, wait_budget(&ctx, &req)).await?))
}

#[utoipa::path(delete, path = "/api/v1/topics/{name}", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path)),
    description = "Deletes a topic with its grants and subscriptions (the bound queues and their messages stay). Owner only. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = TopicView, description = "the deleted topic, as it was"), (status = 202, description = "accepted; poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn delete_topic(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let topic = name(path);
    let target = Target::topic(&topic, Need::Owner, "delete");
    access_first(&ctx, &req, caller, target, async {
        let cmd = DeleteTopic {
            by: by(caller),
            name: topic.clone(),
        };
        command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/topics/{name}/grants", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = GrantBody,
    description = "Sets what another user may do on the topic: `publish`, `consume` (bind queues to it). Replaces their grant; `[]` revokes. Owner only. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 200, body = GrantView), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn grant_topic(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: Result<Json<GrantBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    grant(&ctx, &req, caller, On::Topic, name(path), body).await
}

#[utoipa::path(post, path = "/api/v1/topics/{name}/messages", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = PublishTopicBody,
    description = "Publishes to a topic: one copy goes, in the same durable transaction, into every bound queue with a matching pattern (a queue gets one copy however many of its patterns match). 201 after fsync, also when no queue matched (`routed: 0`). Needs `publish` on the topic. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 201, body = TopicPublishedView), (status = 202, description = "accepted (durable); poll Location"),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 413, body = ProblemBody), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn publish_topic(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    b: Result<Json<PublishTopicBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let topic = name(path);
    let target = Target::topic(&topic, Need::Publish, "publish to");
    access_first(&ctx, &req, caller, target, async {
        let b = body(b)?;
        let cmd = PublishTopic {
            by: by(caller),
            topic: topic.clone(),
            routing_key: b.routing_key,
            body: b.body,
            headers: b.headers,
        };
        let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
        let res = edge::publish_topic(&ctx.mom, &cmd, opts)
            .await
            .map(|e| match e {
                Executed::Done(p) => Executed::Done(TopicPublishedView {
                    id: p.id,
                    routed: p.queues.len(),
                }),
                Executed::Accepted(id) => Executed::Accepted(id),
            });
        respond(res, StatusCode::CREATED)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/topics/{name}/subscriptions", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = BindBody,
    description = "Binds a queue to the topic with a pattern. Needs `consume` on the topic and `publish` on the queue. 409 if that queue is already bound with that pattern. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.",
    responses((status = 201, body = SubscriptionView), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn bind(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<String>,
    b: Result<Json<BindBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let topic = name(path);
    let target = Target::topic(&topic, Need::Consume, "subscribe to");
    access_first(&ctx, &req, caller, target, async {
        let b = body(b)?;
        let cmd = Bind {
            by: by(caller),
            topic: topic.clone(),
            queue: b.queue,
            pattern: b.pattern,
        };
        command(&ctx, &req, caller.user_id, cmd, StatusCode::CREATED).await
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/topics/{name}/subscriptions/{id}", tag = "topics", security(("bearer" = [])),
    params(("name" = String, Path), ("id" = Uuid, Path)),
    description = "Removes a subscription: the topic's owner, the queue's owner, or whoever bound it.",
    responses((status = 200, body = SubscriptionView), (status = 202, description = "accepted; poll Location"), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn unbind(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (topic, id) = path.into_inner();
    let cmd = Unbind {
        by: by(caller),
        topic,
        id,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(
        create_queue, list_queues, get_queue, delete_queue, grant_queue, publish, receive, ack,
        ack_batch, nack, dead_letters, redrive, create_topic, list_topics, get_topic, delete_topic,
        grant_topic, publish_topic, bind, unbind,
    ),
    components(schemas(
        QueueView, GrantView, Published, Delivered, Received, Settled, DeadLetterView,
        SubscriptionView, TopicView, Permission, On, CreateQueueBody, GrantBody, PublishBody,
        ReceiveBody, AckBody, AckBatchBody, AckItem, AckedBatch, NackBody, CreateTopicBody, PublishTopicBody, BindBody,
        TopicPublishedView,
    )),
    tags(
        (name = "queues", description = "Durable queues you own: publish (201 after fsync), receive with leases and receipts, ack/nack, dead letters and redrive. 404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners."),
        (name = "topics", description = "Topics fan out into bound queues by AMQP-style patterns (`*` one word, `#` zero or more)."),
    )
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/queues")
            .route(web::post().to(create_queue))
            .route(web::get().to(list_queues)),
    )
    .service(
        web::resource("/queues/{name}")
            .route(web::get().to(get_queue))
            .route(web::delete().to(delete_queue)),
    )
    .route("/queues/{name}/grants", web::post().to(grant_queue))
    .route("/queues/{name}/messages", web::post().to(publish))
    .route("/queues/{name}/receive", web::post().to(receive))
    .route("/queues/{name}/ack", web::post().to(ack_batch))
    .route("/queues/{name}/messages/{id}/ack", web::post().to(ack))
    .route("/queues/{name}/messages/{id}/nack", web::post().to(nack))
    .route("/queues/{name}/dead-letters", web::get().to(dead_letters))
    .route(
        "/queues/{name}/dead-letters/{id}/redrive",
        web::post().to(redrive),
    )
    .service(
        web::resource("/topics")
            .route(web::post().to(create_topic))
            .route(web::get().to(list_topics)),
    )
    .service(
        web::resource("/topics/{name}")
            .route(web::get().to(get_topic))
            .route(web::delete().to(delete_topic)),
    )
    .route("/topics/{name}/grants", web::post().to(grant_topic))
    .route("/topics/{name}/messages", web::post().to(publish_topic))
    .route("/topics/{name}/subscriptions", web::post().to(bind))
    .route(
        "/topics/{name}/subscriptions/{id}",
        web::delete().to(unbind),
    );
}

#[cfg(test)]
mod tests {
    /// The one authorization rule, quoted where it applies.
    const RULE: &str = "404: the name does not exist. 403: it exists and you lack the permission (names are global and not secret). Admins act as owners.";

    #[test]
    fn the_rule_is_quoted_where_it_applies() {
        let doc = serde_json::to_string(&<super::Api as utoipa::OpenApi>::openapi()).unwrap();
        assert!(doc.matches(RULE).count() >= 10, "{doc}");
    }
}
