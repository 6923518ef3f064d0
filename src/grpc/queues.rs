//! `mailroom.mom.v1.Queues`: the same messages as `/queues/*` and
//! `/topics/*`, plus the server-streaming `Subscribe`: a task per stream
//! long-polls [`edge::receive`] and feeds a bounded channel, so at most
//! about two batches are leased ahead of a slow client; it stops when the
//! client goes away (messages leased for it then come back when their lease
//! ends) or when its token stops being valid (checked after every poll).
#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{
    caller, exec_options, finish, page, parse_uuid,
    pb::mom::{self as pb, queues_server},
    status::{mom_status, status},
    wait_budget,
};
use crate::{
    actors::queues::{
        edge, long_poll, Ack, AckBatch, AckItem, Bind, By, CreateQueue, CreateTopic,
        DeadLetterView, DeleteQueue, DeleteTopic, Delivered, GetQueue, GetTopic, Grant, GrantView,
        ListDeadLetters, ListQueues, ListTopics, Nack, On, Peek, Permission, Publish, PublishTopic,
        QueueView, Receive, Redrive, Settled, SubscriptionView, TopicView, Unbind, MAX_WAIT_S,
    },
    actors::users::authenticate,
    context::NodeCtx,
    mom::{Command, Executed, MomError},
    problem::ProblemKind,
};

pub struct QueuesGrpc(pub Arc<NodeCtx>);

/// Messages a Subscribe leases per long poll when the client does not say.
const SUBSCRIBE_BATCH: u32 = 10;
/// How long a Subscribe's receive may take to be answered (leased messages
/// of a receive answered later come back when their lease ends).
const SUBSCRIBE_BUDGET: Duration = Duration::from_secs(30);
/// Pause after an UNAVAILABLE before a Subscribe polls again.
const SUBSCRIBE_RETRY: Duration = Duration::from_millis(200);

fn permission_pb(p: Permission) -> i32 {
    match p {
        Permission::Publish => pb::Permission::Publish as i32,
        Permission::Consume => pb::Permission::Consume as i32,
    }
}

fn permissions(raw: &[i32]) -> Result<Vec<Permission>, Status> {
    raw.iter()
        .map(|p| match pb::Permission::try_from(*p) {
            Ok(pb::Permission::Publish) => Ok(Permission::Publish),
            Ok(pb::Permission::Consume) => Ok(Permission::Consume),
            _ => Err(Status::invalid_argument(
                "permissions must be PERMISSION_PUBLISH or PERMISSION_CONSUME",
            )),
        })
        .collect()
}

fn headers(h: std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    h.into_iter().collect()
}

fn queue(v: QueueView) -> pb::Queue {
    pb::Queue {
        name: v.name,
        owner_id: v.owner_id.to_string(),
        owner_email: v.owner_email,
        visibility_timeout_s: v.visibility_timeout_s,
        max_deliveries: v.max_deliveries,
        message_ttl_s: v.message_ttl_s,
        depth: v.depth,
        in_flight: v.in_flight,
        dead: v.dead,
        owned: v.owned,
        permissions: v.permissions.into_iter().map(permission_pb).collect(),
        created_at: v.created_at,
    }
}

fn grant(v: GrantView) -> pb::Grant {
    pb::Grant {
        name: v.name,
        user_id: v.user_id.to_string(),
        user_email: v.user_email,
        permissions: v.permissions.into_iter().map(permission_pb).collect(),
    }
}

fn delivered(m: Delivered, queue: &str) -> pb::DeliveredMessage {
    pb::DeliveredMessage {
        id: m.id.to_string(),
        body: m.body,
        headers: m.headers.into_iter().collect(),
        delivery_count: m.delivery_count,
        receipt: m.receipt,
        lease_until: m.lease_until,
        published_at: m.published_at,
        topic: m.topic,
        routing_key: m.routing_key,
        queue: queue.to_owned(),
    }
}

fn settled(s: Settled) -> pb::Settled {
    pb::Settled {
        id: s.id.to_string(),
        status: s.status,
    }
}

fn dead(d: DeadLetterView) -> pb::DeadLetter {
    pb::DeadLetter {
        id: d.id.to_string(),
        body: d.body,
        headers: d.headers.into_iter().collect(),
        delivery_count: d.delivery_count,
        reason: d.reason,
        topic: d.topic,
        routing_key: d.routing_key,
        published_at: d.published_at,
        dead_at: d.dead_at,
    }
}

fn subscription(s: SubscriptionView) -> pb::Subscription {
    pb::Subscription {
        id: s.id.to_string(),
        topic: s.topic,
        queue: s.queue,
        pattern: s.pattern,
        created_by: s.created_by.to_string(),
        created_at: s.created_at,
    }
}

fn topic(t: TopicView) -> pb::Topic {
    pb::Topic {
        name: t.name,
        owner_id: t.owner_id.to_string(),
        owner_email: t.owner_email,
        owned: t.owned,
        permissions: t.permissions.into_iter().map(permission_pb).collect(),
        subscriptions: t.subscriptions.into_iter().map(subscription).collect(),
        created_at: t.created_at,
    }
}

impl QueuesGrpc {
    /// Runs a plain command for the caller and maps its reply.
    async fn run<T, C: Command, P>(
        &self,
        req: &Request<T>,
        cmd: impl FnOnce(By) -> C,
        map: impl FnOnce(C::Reply) -> P,
    ) -> Result<Response<P>, Status>
    where
        C::To: crate::mom::Handles<C>,
    {
        let c = caller(&self.0, req).await?;
        let opts = exec_options(&self.0, req, Some(c.user_id))?;
        finish(self.0.mom.execute(&cmd(c.into()), opts).await, map)
    }

    async fn ask<T, Q: crate::mom::Query>(
        &self,
        req: &Request<T>,
        q: impl FnOnce(By) -> Q,
    ) -> Result<Q::Reply, Status>
    where
        Q::To: crate::mom::Handles<Q>,
    {
        let c = caller(&self.0, req).await?;
        self.0
            .mom
            .ask(&q(c.into()), wait_budget(&self.0, req))
            .await
            .map_err(mom_status)
    }
}

#[tonic::async_trait]
impl queues_server::Queues for QueuesGrpc {
    type SubscribeStream = ReceiverStream<Result<pb::DeliveredMessage, Status>>;

    #[tracing::instrument(skip_all)]
    async fn create_queue(
        &self,
        req: Request<pb::CreateQueueRequest>,
    ) -> Result<Response<pb::Queue>, Status> {
        let r = req.get_ref().clone();
        self.run(
            &req,
            |by| CreateQueue {
                by,
                name: r.name,
                visibility_timeout_s: r.visibility_timeout_s,
                max_deliveries: r.max_deliveries,
                message_ttl_s: r.message_ttl_s,
            },
            queue,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn list_queues(
        &self,
        req: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        let page = page(req.get_ref().page, req.get_ref().page_size)?;
        let p = self.ask(&req, |by| ListQueues { by, page }).await?;
        Ok(Response::new(pb::ListQueuesResponse {
            items: p.items.into_iter().map(queue).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_queue(
        &self,
        req: Request<pb::GetQueueRequest>,
    ) -> Result<Response<pb::Queue>, Status> {
        let name = req.get_ref().name.clone();
        let v = self.ask(&req, |by| GetQueue { by, name }).await?;
        Ok(Response::new(queue(v)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_queue(
        &self,
        req: Request<pb::DeleteQueueRequest>,
    ) -> Result<Response<pb::Queue>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = DeleteQueue {
            by: c.into(),
            name: req.into_inner().name,
        };
        finish(edge::delete_queue(&self.0.mom, &cmd, opts).await, queue)
    }

    #[tracing::instrument(skip_all)]
    async fn grant_queue(
        &self,
        req: Request<pb::GrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        self.grant(req, On::Queue).await
    }

    #[tracing::instrument(skip_all)]
    async fn publish(
        &self,
        req: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = Publish {
            by: c.into(),
            queue: r.queue,
            body: r.body,
            headers: headers(r.headers),
            delay_s: r.delay_s,
        };
        finish(edge::publish(&self.0.mom, &cmd, opts).await, |p| {
            pb::PublishResponse {
                id: p.id.to_string(),
            }
        })
    }

    #[tracing::instrument(skip_all)]
    async fn receive(
        &self,
        req: Request<pb::ReceiveRequest>,
    ) -> Result<Response<pb::ReceiveResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let wait = long_poll(Some(r.wait_s)).map_err(status)?;
        let cmd = Receive {
            by: c.into(),
            queue: r.queue,
            max: r.max.max(1),
            visibility_timeout_s: r.visibility_timeout_s,
        };
        cmd.validate().map_err(status)?;
        let q = cmd.queue.clone();
        finish(edge::receive(&self.0.mom, &cmd, opts, wait).await, |got| {
            pb::ReceiveResponse {
                messages: got.messages.into_iter().map(|m| delivered(m, &q)).collect(),
            }
        })
    }

    #[tracing::instrument(skip_all)]
    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let c = caller(&self.0, &req).await?;
        let bearer = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut opts = exec_options(&self.0, &req, Some(c.user_id))?;
        opts.wait = opts.wait.max(SUBSCRIBE_BUDGET);
        // Every receive of the stream is a new one.
        opts.idempotency_key = None;
        let r = req.into_inner();
        let cmd = Receive {
            by: c.into(),
            queue: r.queue,
            max: if r.max == 0 { SUBSCRIBE_BATCH } else { r.max },
            visibility_timeout_s: r.visibility_timeout_s,
        };
        cmd.validate().map_err(status)?;
        // A queue that is missing or not ours fails the call, not the stream.
        self.0
            .mom
            .ask(
                &Peek {
                    by: cmd.by,
                    queue: cmd.queue.clone(),
                },
                opts.wait,
            )
            .await
            .map_err(mom_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(cmd.max as usize);
        let ctx = self.0.clone();
        let mom = self.0.mom.clone();
        let wait = Duration::from_secs(MAX_WAIT_S.into());
        tokio::spawn(async move {
            loop {
                let res = tokio::select! {
                    _ = tx.closed() => break,
                    r = edge::receive(&mom, &cmd, opts.clone(), wait) => r,
                };
                // The token again after every long poll, before anything
                // is handed over: the stream ends (UNAUTHENTICATED) once the
                // account is deleted, its password changes or the token
                // expires; what that poll leased returns when its lease
                // ends. (A check that cannot be answered is not a refusal:
                // the next poll asks again.)
                let auth =
                    authenticate(&ctx.mom, &ctx.keys, &ctx.token_versions, bearer.as_deref());
                if let Err(p) = auth.await {
                    if p.kind == ProblemKind::Unauthorized {
                        let _ = tx.send(Err(status(p))).await;
                        break;
                    }
                }
                match res {
                    Ok(Executed::Done(got)) => {
                        for m in got.messages {
                            if tx.send(Ok(delivered(m, &cmd.queue))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(Executed::Accepted(id)) => {
                        tracing::warn!(queue = %cmd.queue, operation = %id, "subscribe: a receive was not answered in time; its messages return when their lease ends");
                    }
                    Err(MomError::Unavailable(_)) => {
                        tokio::select! {
                            _ = tx.closed() => break,
                            _ = tokio::time::sleep(SUBSCRIBE_RETRY) => {}
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(mom_status(e))).await;
                        break;
                    }
                }
            }
            tracing::debug!(queue = %cmd.queue, "subscribe stream ended");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(skip_all)]
    async fn ack(&self, req: Request<pb::AckRequest>) -> Result<Response<pb::Settled>, Status> {
        let r = req.get_ref().clone();
        let id = parse_uuid(&r.id, "id")?;
        self.run(
            &req,
            |by| Ack {
                by,
                queue: r.queue,
                id,
                receipt: r.receipt,
            },
            settled,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn ack_batch(
        &self,
        req: Request<pb::AckBatchRequest>,
    ) -> Result<Response<pb::AckBatchResponse>, Status> {
        let r = req.get_ref().clone();
        let acks = r
            .acks
            .into_iter()
            .map(|a| {
                Ok(AckItem {
                    id: parse_uuid(&a.id, "id")?,
                    receipt: a.receipt,
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        self.run(
            &req,
            |by| AckBatch {
                by,
                queue: r.queue,
                acks,
            },
            |b| pb::AckBatchResponse {
                results: b.results.into_iter().map(settled).collect(),
            },
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn nack(&self, req: Request<pb::NackRequest>) -> Result<Response<pb::Settled>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = Nack {
            by: c.into(),
            queue: r.queue,
            id: parse_uuid(&r.id, "id")?,
            receipt: r.receipt,
            requeue: r.requeue,
            delay_s: r.delay_s,
        };
        finish(edge::settle(&self.0.mom, &cmd, opts).await, settled)
    }

    #[tracing::instrument(skip_all)]
    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let page = page(req.get_ref().page, req.get_ref().page_size)?;
        let queue = req.get_ref().queue.clone();
        let p = self
            .ask(&req, |by| ListDeadLetters { by, queue, page })
            .await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            items: p.items.into_iter().map(dead).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn redrive(
        &self,
        req: Request<pb::RedriveRequest>,
    ) -> Result<Response<pb::Settled>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = Redrive {
            by: c.into(),
            queue: r.queue,
            id: parse_uuid(&r.id, "id")?,
        };
        finish(edge::settle(&self.0.mom, &cmd, opts).await, settled)
    }

    #[tracing::instrument(skip_all)]
    async fn create_topic(
        &self,
        req: Request<pb::CreateTopicRequest>,
    ) -> Result<Response<pb::Topic>, Status> {
        let name = req.get_ref().name.clone();
        self.run(&req, |by| CreateTopic { by, name }, topic).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_topics(
        &self,
        req: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        let page = page(req.get_ref().page, req.get_ref().page_size)?;
        let p = self.ask(&req, |by| ListTopics { by, page }).await?;
        Ok(Response::new(pb::ListTopicsResponse {
            items: p.items.into_iter().map(topic).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_topic(
        &self,
        req: Request<pb::GetTopicRequest>,
    ) -> Result<Response<pb::Topic>, Status> {
        let name = req.get_ref().name.clone();
        let t = self.ask(&req, |by| GetTopic { by, name }).await?;
        Ok(Response::new(topic(t)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_topic(
        &self,
        req: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::Topic>, Status> {
        let name = req.get_ref().name.clone();
        self.run(&req, |by| DeleteTopic { by, name }, topic).await
    }

    #[tracing::instrument(skip_all)]
    async fn grant_topic(
        &self,
        req: Request<pb::GrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        self.grant(req, On::Topic).await
    }

    #[tracing::instrument(skip_all)]
    async fn publish_to_topic(
        &self,
        req: Request<pb::PublishToTopicRequest>,
    ) -> Result<Response<pb::PublishToTopicResponse>, Status> {
        let c = caller(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = PublishTopic {
            by: c.into(),
            topic: r.topic,
            routing_key: r.routing_key,
            body: r.body,
            headers: headers(r.headers),
        };
        finish(edge::publish_topic(&self.0.mom, &cmd, opts).await, |p| {
            pb::PublishToTopicResponse {
                id: p.id.to_string(),
                routed: p.queues.len() as u32,
            }
        })
    }

    #[tracing::instrument(skip_all)]
    async fn bind_queue(
        &self,
        req: Request<pb::BindQueueRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let r = req.get_ref().clone();
        self.run(
            &req,
            |by| Bind {
                by,
                topic: r.topic,
                queue: r.queue,
                pattern: r.pattern,
            },
            subscription,
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn unbind_queue(
        &self,
        req: Request<pb::UnbindQueueRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let r = req.get_ref().clone();
        let id = parse_uuid(&r.id, "id")?;
        self.run(
            &req,
            |by| Unbind {
                by,
                topic: r.topic,
                id,
            },
            subscription,
        )
        .await
    }
}

impl QueuesGrpc {
    async fn grant(
        &self,
        req: Request<pb::GrantRequest>,
        on: On,
    ) -> Result<Response<pb::Grant>, Status> {
        let r = req.get_ref().clone();
        let permissions = permissions(&r.permissions)?;
        self.run(
            &req,
            |by| Grant {
                by,
                on,
                name: r.name,
                user_email: r.user_email,
                permissions,
            },
            grant,
        )
        .await
    }
}
