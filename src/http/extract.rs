//! What every handler needs from a request: the caller, the command
//! options (`Idempotency-Key`, `Prefer: wait=N`), and the response for a
//! command's fate (result, or 202 + `Location` for an operation).
use std::{future::Future, pin::Pin, time::Duration};

use actix_web::{
    dev::Payload, http::header, http::StatusCode, web, FromRequest, HttpRequest, HttpResponse,
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use crate::{
    actors::users,
    auth::Caller,
    context::NodeCtx,
    mom::{Command, ExecOptions, Executed, MomError},
    problem::Problem,
};

/// The authenticated caller (401 problem+json otherwise): a valid token
/// whose account still exists at the token's version
/// ([`users::authenticate`], shared with the gRPC edge).
pub struct Auth(pub Caller);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<NodeCtx>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| {
                v.to_str()
                    .map(str::to_owned)
                    .map_err(|_| Problem::unauthorized("unreadable Authorization header"))
            })
            .transpose();
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| Problem::internal("node context missing"))?;
            let caller =
                users::authenticate(&ctx.mom, &ctx.keys, &ctx.token_versions, header?.as_deref())
                    .await?;
            Ok(Auth(caller))
        })
    }
}

/// An admin caller (401 without a token, 403 with a non-admin one).
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, p: &mut Payload) -> Self::Future {
        let auth = Auth::from_request(req, p);
        Box::pin(async move {
            let Auth(caller) = auth.await?;
            caller.require_admin()?;
            Ok(Admin(caller))
        })
    }
}

/// The wait budget: `Prefer: wait=N` (seconds) or the node's default.
pub fn wait_budget(ctx: &NodeCtx, req: &HttpRequest) -> Duration {
    crate::mom::wait_budget(prefer(req), ctx.default_wait)
}

fn prefer(req: &HttpRequest) -> impl Iterator<Item = &str> {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
}

/// `Idempotency-Key` and `Prefer: wait=N`, parsed as the gRPC edge does.
pub fn exec_options(
    ctx: &NodeCtx,
    req: &HttpRequest,
    owner: Option<Uuid>,
) -> Result<ExecOptions, ApiError> {
    Ok(ExecOptions::parse(
        owner,
        req.headers().get("idempotency-key").map(|v| v.as_bytes()),
        prefer(req),
        ctx.default_wait,
    )?)
}

/// 202 with the operation to poll.
pub fn accepted(id: Uuid) -> HttpResponse {
    let location = format!("/api/v1/operations/{id}");
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, location.clone()))
        .insert_header(("x-operation-id", id.to_string()))
        .json(serde_json::json!({ "id": id, "status": "pending", "location": location }))
}

/// The response for a command's fate.
pub fn respond<R: Serialize>(
    res: Result<Executed<R>, MomError>,
    ok: StatusCode,
) -> Result<HttpResponse, ApiError> {
    match res? {
        Executed::Done(r) => Ok(HttpResponse::build(ok).json(r)),
        Executed::Accepted(id) => Ok(accepted(id)),
    }
}

/// Runs a command for `owner` and answers with `ok` (or 202).
pub async fn command<C: Command>(
    ctx: &NodeCtx,
    req: &HttpRequest,
    owner: Uuid,
    cmd: C,
    ok: StatusCode,
) -> Result<HttpResponse, ApiError>
where
    C::Reply: Serialize,
    C::To: crate::mom::Handles<C>,
{
    let opts = exec_options(ctx, req, Some(owner))?;
    respond(ctx.mom.execute(&cmd, opts).await, ok)
}

/// `?page=&page_size=`
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// From 1 (0 or absent: 1); at most 1 000 000.
    #[param(minimum = 0, maximum = 1000000)]
    pub page: Option<u32>,
    /// 1 to 100 (0 or absent: 20).
    #[param(minimum = 0, maximum = 100)]
    pub page_size: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> Result<crate::problem::Page, ApiError> {
        Ok(crate::problem::Page::new(self.page, self.page_size)?)
    }
}

/// A JSON request body that must be an object. serde's derive would also
/// fill a struct from an array in field order (`[500]` as a deposit);
/// here an array is a 422 like any other wrong type. Errors go through the
/// app's `JsonConfig` (400 malformed, 422 wrong shape, 413 too big).
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Object<T>(T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<Object<T>>::from_request(req, payload);
        Box::pin(async move { Ok(Json(body.await?.into_inner().0)) })
    }
}
