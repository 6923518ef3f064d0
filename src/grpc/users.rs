//! `mailroom.users.v1.Users`. `Login` and `Register` take from the same
//! per-address budget as REST's `/auth/*` (the auth layer's
//! [`AuthLimiter`](crate::auth::AuthLimiter), keyed by the peer's IP):
//! RESOURCE_EXHAUSTED with `retry-after` metadata (seconds), as when every
//! password-hashing slot is taken. A password change or a deletion drops
//! the account's cached token version at once.
use std::sync::Arc;

use tonic::{metadata::MetadataValue, Code, Request, Response, Status};

use super::{
    caller, exec_options, finish,
    pb::users::{self as pb, users_server::Users},
    status::{mom_status, status},
    wait_budget,
};
use crate::{
    actors::users::{self, Account, DeleteUser, GetUser, UserView},
    auth::{passwords::BUSY_RETRY_AFTER_S, Role},
    context::NodeCtx,
    mom::Executed,
};

pub struct UsersGrpc(pub Arc<NodeCtx>);

pub fn user(u: UserView) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        email: u.email,
        name: u.name,
        role: u.role.as_str().into(),
        created_at: u.created_at,
    }
}

/// RESOURCE_EXHAUSTED carrying `retry-after: <seconds>`.
fn with_retry_after(mut s: Status, secs: u64) -> Status {
    if let Ok(v) = MetadataValue::try_from(secs.to_string()) {
        s.metadata_mut().insert("retry-after", v);
    }
    s
}

/// A status from the users flows; a busy password hasher says when to retry.
fn flow_status(s: Status) -> Status {
    if s.code() == Code::ResourceExhausted && s.metadata().get("retry-after").is_none() {
        with_retry_after(s, BUSY_RETRY_AFTER_S)
    } else {
        s
    }
}

impl UsersGrpc {
    /// One attempt from the caller's per-address login/register budget.
    fn limit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.0
            .auth_limiter
            .check_peer(req.remote_addr().map(|a| a.ip()))
            .map_err(|l| with_retry_after(status(l.problem()), l.retry_after_s))
    }
}

#[tonic::async_trait]
impl Users for UsersGrpc {
    #[tracing::instrument(skip_all)]
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        self.limit(&req)?;
        let opts = exec_options(&self.0, &req, None)?;
        let r = req.into_inner();
        let res = users::register(
            &self.0.mom,
            &self.0.passwords,
            &r.email,
            r.password,
            &r.name,
            Role::Customer,
            opts,
        )
        .await;
        if let Ok(Executed::Done(Account {
            user: u,
            token_version,
        })) = res
        {
            let s = self
                .0
                .keys
                .issue(u.id, u.role, token_version)
                .map_err(status)?;
            return Ok(Response::new(pb::RegisterResponse {
                user: Some(user(u)),
                token: s.token,
                expires_at: s.expires_at,
            }));
        }
        finish(res, |_| unreachable!("handled above")).map_err(flow_status)
    }

    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        self.limit(&req)?;
        let wait = wait_budget(&self.0, &req);
        let r = req.into_inner();
        let Account {
            user: u,
            token_version,
        } = users::login(&self.0.mom, &self.0.passwords, &r.email, r.password, wait)
            .await
            .map_err(|e| flow_status(mom_status(e)))?;
        let s = self
            .0
            .keys
            .issue(u.id, u.role, token_version)
            .map_err(status)?;
        Ok(Response::new(pb::LoginResponse {
            token: s.token,
            expires_at: s.expires_at,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_me(&self, req: Request<pb::GetMeRequest>) -> Result<Response<pb::User>, Status> {
        let c = caller(&self.0, &req).await?;
        let u = self
            .0
            .mom
            .ask(&GetUser { user_id: c.user_id }, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(user(u)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_me(
        &self,
        req: Request<pb::UpdateMeRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let new_password = r.password.is_some();
        let res = users::update(
            &self.0.mom,
            &self.0.passwords,
            c.user_id,
            r.name,
            r.password,
            opts,
        )
        .await;
        if new_password {
            self.0.token_versions.invalidate(c.user_id);
        }
        finish(res, user).map_err(flow_status)
    }

    #[tracing::instrument(skip_all)]
    async fn delete_me(
        &self,
        req: Request<pb::DeleteMeRequest>,
    ) -> Result<Response<pb::DeleteMeResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let res = self
            .0
            .mom
            .execute(&DeleteUser { user_id: c.user_id }, opts)
            .await;
        self.0.token_versions.invalidate(c.user_id);
        finish(res, |_| pb::DeleteMeResponse {})
    }
}
