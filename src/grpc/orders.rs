//! `mailroom.orders.v1.Orders`.
use std::sync::Arc;

use super::pb::orders::orders_server::Orders;
use crate::node::NodeCtx;

pub struct OrdersGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Orders for OrdersGrpc {}
