//! `mailroom.payments.v1.Payments`.
use std::sync::Arc;

use super::pb::payments::payments_server::Payments;
use crate::node::NodeCtx;

pub struct PaymentsGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Payments for PaymentsGrpc {}
