//! `mailroom.analytics.v1.Analytics`.
use std::sync::Arc;

use super::pb::analytics::analytics_server::Analytics;
use crate::node::NodeCtx;

pub struct AnalyticsGrpc(pub Arc<NodeCtx>);

#[tonic::async_trait]
impl Analytics for AnalyticsGrpc {}
