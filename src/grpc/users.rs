//! `mailroom.users.v1.Users`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, exec_options, finish,
    pb::users::{self as pb, users_server::Users},
    status::{mom_status, status},
    wait_budget,
};
use crate::{
    actors::users::{self, DeleteUser, GetUser, UserView},
    auth::Role,
    mom::Executed,
    node::NodeCtx,
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

#[tonic::async_trait]
impl Users for UsersGrpc {
    #[tracing::instrument(skip_all)]
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let opts = exec_options(&self.0, &req, None)?;
        let r = req.into_inner();
        let res = users::register(
            &self.0.mom,
            &r.email,
            r.password,
            &r.name,
            Role::Customer,
            opts,
        )
        .await;
        if let Ok(Executed::Done(u)) = &res {
            let s = self.0.keys.issue(u.id, u.role).map_err(status)?;
            let u = u.clone();
            return Ok(Response::new(pb::RegisterResponse {
                user: Some(user(u)),
                token: s.token,
                expires_at: s.expires_at,
            }));
        }
        finish(res, |_| unreachable!("handled above"))
    }

    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let wait = wait_budget(&self.0, &req);
        let r = req.into_inner();
        let u = users::login(&self.0.mom, &r.email, r.password, wait)
            .await
            .map_err(mom_status)?;
        let s = self.0.keys.issue(u.id, u.role).map_err(status)?;
        Ok(Response::new(pb::LoginResponse {
            token: s.token,
            expires_at: s.expires_at,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_me(&self, req: Request<pb::GetMeRequest>) -> Result<Response<pb::User>, Status> {
        let c = caller(&self.0, &req)?;
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
        let c = caller(&self.0, &req)?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        finish(
            users::update(&self.0.mom, c.user_id, r.name, r.password, opts).await,
            user,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn delete_me(
        &self,
        req: Request<pb::DeleteMeRequest>,
    ) -> Result<Response<pb::DeleteMeResponse>, Status> {
        let c = caller(&self.0, &req)?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        finish(
            self.0
                .mom
                .execute(&DeleteUser { user_id: c.user_id }, opts)
                .await,
            |_| pb::DeleteMeResponse {},
        )
    }
}
