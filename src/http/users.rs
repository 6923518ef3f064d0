//! `/auth/*` and `/users/me`. Login and register are rate limited per
//! client address by the auth layer's [`AuthLimiter`](crate::auth::AuthLimiter)
//! (the budget gRPC shares): 429 with `Retry-After`. A password change or a
//! deletion drops the account's cached token version at once, so older
//! tokens are refused from the next request on.
use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{header, StatusCode},
    middleware::{from_fn, Next},
    web, HttpRequest, HttpResponse,
};
use serde::{Deserialize, Serialize};

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{exec_options, respond, Auth},
};
use crate::{
    actors::users::{self, Account, DeleteUser, GetUser, UserView},
    auth::{Role, Session},
    context::NodeCtx,
    mom::Executed,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Trimmed and lower-cased; at most 254 bytes, at most 64 before the `@`.
    #[schema(
        max_length = 254,
        pattern = "^[^@\\s\\x00-\\x1f\\x7f-\\x9f]{1,64}@[^@\\s\\x00-\\x1f\\x7f-\\x9f]+$",
        example = "ann@example.com"
    )]
    pub email: String,
    /// 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    /// 1 to 200 characters, not blank, no control characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub user: UserView,
    pub token: String,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    /// 1 to 200 characters, not blank, no control characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub name: Option<String>,
    /// 8 to 256 characters; revokes nothing by itself, but the old password stops working.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "users", request_body = RegisterBody,
    responses((status = 201, body = Registered), (status = 202, description = "accepted; poll Location"),
        (status = 409, body = ProblemBody, description = "email taken"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all)]
pub async fn register(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    body: Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let opts = exec_options(&ctx, &req, None)?;
    match users::register(
        &ctx.mom,
        &ctx.passwords,
        &body.email,
        body.password,
        &body.name,
        Role::Customer,
        opts,
    )
    .await?
    {
        Executed::Done(Account {
            user,
            token_version,
        }) => {
            let Session { token, expires_at } =
                ctx.keys.issue(user.id, user.role, token_version)?;
            Ok(HttpResponse::Created().json(Registered {
                user,
                token,
                expires_at,
            }))
        }
        Executed::Accepted(id) => Ok(super::extract::accepted(id)),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "users", request_body = LoginBody,
    responses((status = 200, body = Session), (status = 401, body = ProblemBody)))]
#[tracing::instrument(skip_all)]
pub async fn login(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    body: Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let wait = super::extract::wait_budget(&ctx, &req);
    let Account {
        user,
        token_version,
    } = users::login(&ctx.mom, &ctx.passwords, &body.email, body.password, wait).await?;
    Ok(HttpResponse::Ok().json(ctx.keys.issue(user.id, user.role, token_version)?))
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "your account no longer exists")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn me(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let wait = super::extract::wait_budget(&ctx, &req);
    let user = ctx
        .mom
        .ask(
            &GetUser {
                user_id: caller.user_id,
            },
            wait,
        )
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMeBody,
    responses((status = 200, body = UserView), (status = 202, description = "accepted; poll Location"), (status = 422, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "your account no longer exists")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn update_me(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<UpdateMeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let opts = exec_options(&ctx, &req, Some(caller.user_id))?;
    let new_password = body.password.is_some();
    let res = users::update(
        &ctx.mom,
        &ctx.passwords,
        caller.user_id,
        body.name,
        body.password,
        opts,
    )
    .await;
    if new_password {
        ctx.token_versions.invalidate(caller.user_id);
    }
    respond(res, StatusCode::OK)
}

#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView, description = "the deleted account"), (status = 202, description = "accepted; poll Location"),
        (status = 404, body = ProblemBody, description = "your account no longer exists")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn delete_me(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let res = super::extract::command(
        &ctx,
        &req,
        caller.user_id,
        DeleteUser {
            user_id: caller.user_id,
        },
        StatusCode::OK,
    )
    .await;
    ctx.token_versions.invalidate(caller.user_id);
    res
}

/// The middleware around `/auth/*`.
async fn rate_limited(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limited = req.app_data::<web::Data<NodeCtx>>().and_then(|ctx| {
        ctx.auth_limiter
            .check_peer(req.peer_addr().map(|p| p.ip()))
            .err()
    });
    let Some(limited) = limited else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut res = super::error::problem_response(&limited.problem());
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(limited.retry_after_s),
    );
    Ok(req.into_response(res))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/auth")
            .wrap(from_fn(rate_limited))
            .route("/register", web::post().to(register))
            .route("/login", web::post().to(login)),
    )
    .service(
        web::resource("/users/me")
            .route(web::get().to(me))
            .route(web::patch().to(update_me))
            .route(web::delete().to(delete_me)),
    );
}
