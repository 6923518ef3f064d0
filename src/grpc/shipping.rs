//! `mailroom.shipping.v1.Shipping`.
use std::sync::Arc;

use super::pb::shipping::shipping_server::Shipping;
use crate::node::NodeCtx;

pub struct ShippingGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Shipping for ShippingGrpc {}
