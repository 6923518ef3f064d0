//! `mailroom.catalog.v1.Catalog`.
use std::sync::Arc;

use super::pb::catalog::catalog_server::Catalog;
use crate::node::NodeCtx;

pub struct CatalogGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Catalog for CatalogGrpc {}
