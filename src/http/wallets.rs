//! `/wallet`, `/wallet/deposit`, `/transfers`.
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{command, wait_budget, Auth, PageQuery},
};
use crate::{
    actors::wallets::{
        Deposit, GetWallet, ListTransfers, Recipient, Transfer, TransferView, WalletView,
    },
    context::NodeCtx,
    problem::{Paged, Problem},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    /// 1 to 100 000 000 (one million dollars).
    #[schema(minimum = 1, maximum = 100000000)]
    pub amount_cents: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Exactly one of `to_email` and `to_user_id` (not yourself; 404 if
    /// no account has it).
    #[schema(example = "bob@example.com")]
    pub to_email: Option<String>,
    pub to_user_id: Option<Uuid>,
    /// 1 to 100 000 000; never more than your balance (409).
    #[schema(minimum = 1, maximum = 100000000)]
    pub amount_cents: i64,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub note: Option<String>,
}

/// The recipient from the two optional fields both edges accept.
pub fn recipient(to_email: Option<String>, to_user_id: Option<Uuid>) -> Result<Recipient, Problem> {
    match (to_email, to_user_id) {
        (Some(e), None) => Ok(Recipient::Email(e)),
        (None, Some(id)) => Ok(Recipient::UserId(id)),
        _ => Err(Problem::invalid(
            "give exactly one of to_email and to_user_id",
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/wallet", tag = "wallets", security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 401, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "your wallet is closed (the account was deleted)")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn wallet(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let w = ctx
        .mom
        .ask(
            &GetWallet {
                user_id: caller.user_id,
            },
            wait_budget(&ctx, &req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(w))
}

#[utoipa::path(post, path = "/api/v1/wallet/deposit", tag = "wallets", security(("bearer" = [])),
    request_body = DepositBody,
    responses((status = 200, body = WalletView), (status = 202, description = "accepted; poll Location"), (status = 422, body = ProblemBody),
        (status = 404, body = ProblemBody, description = "your wallet is closed (the account was deleted)")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn deposit(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<DepositBody>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Deposit {
        user_id: caller.user_id,
        amount_cents: body.amount_cents,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(post, path = "/api/v1/transfers", tag = "wallets", security(("bearer" = [])),
    request_body = TransferBody,
    responses((status = 201, body = TransferView), (status = 202, description = "accepted; poll Location"),
        (status = 404, body = ProblemBody, description = "unknown recipient"), (status = 409, body = ProblemBody, description = "insufficient funds")))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn transfer(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    body: Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let cmd = Transfer {
        from_user_id: caller.user_id,
        to: recipient(body.to_email, body.to_user_id)?,
        amount_cents: body.amount_cents,
        note: body.note,
    };
    command(&ctx, &req, caller.user_id, cmd, StatusCode::CREATED).await
}

#[utoipa::path(get, path = "/api/v1/transfers", tag = "wallets", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<TransferView>)))]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub async fn transfers(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Auth(caller): Auth,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = ctx
        .mom
        .ask(
            &ListTransfers {
                user_id: caller.user_id,
                page: q.page()?,
            },
            wait_budget(&ctx, &req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wallet", web::get().to(wallet))
        .route("/wallet/deposit", web::post().to(deposit))
        .service(
            web::resource("/transfers")
                .route(web::post().to(transfer))
                .route(web::get().to(transfers)),
        );
}
