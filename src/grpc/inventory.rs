//! `mailroom.inventory.v1.Inventory`.
use std::sync::Arc;

use super::pb::inventory::inventory_server::Inventory;
use crate::node::NodeCtx;

pub struct InventoryGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Inventory for InventoryGrpc {}
