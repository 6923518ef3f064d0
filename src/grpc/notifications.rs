//! `mailroom.notifications.v1.Notifications`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    caller, exec_options, finish, page, parse_uuid,
    pb::notifications::{self as pb, notifications_server::Notifications},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::notifications::{ListNotifications, MarkRead, NotificationView},
    context::NodeCtx,
};

pub struct NotificationsGrpc(pub Arc<NodeCtx>);

fn notification(n: NotificationView) -> pb::Notification {
    pb::Notification {
        id: n.id.to_string(),
        kind: n.kind,
        subject: n.subject,
        body: n.body,
        read: n.read,
        created_at: n.created_at,
    }
}

#[tonic::async_trait]
impl Notifications for NotificationsGrpc {
    #[tracing::instrument(skip_all)]
    async fn list_notifications(
        &self,
        req: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let q = ListNotifications {
            user_id: c.user_id,
            page: page(req.get_ref().page, req.get_ref().page_size)?,
        };
        let p = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(pb::ListNotificationsResponse {
            items: p.items.into_iter().map(notification).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn mark_read(
        &self,
        req: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = MarkRead {
            user_id: c.user_id,
            id: parse_uuid(&req.get_ref().id, "id")?,
        };
        finish(self.0.mom.execute(&cmd, opts).await, notification)
    }
}
