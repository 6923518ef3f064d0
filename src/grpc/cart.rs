//! `mailroom.cart.v1.Cart`.
use std::sync::Arc;

use super::pb::cart::cart_server::Cart;
use crate::node::NodeCtx;

pub struct CartGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Cart for CartGrpc {}
