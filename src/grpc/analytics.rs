//! `mailroom.analytics.v1.Analytics`: the same query as `/analytics/sales`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    admin,
    pb::analytics::{self as pb, analytics_server::Analytics},
    status::{mom_status, status},
    wait_budget,
};
use crate::{
    actors::analytics::{GetSales, SalesReport},
    context::NodeCtx,
};

pub struct AnalyticsGrpc(pub Arc<NodeCtx>);

fn report(r: SalesReport) -> pb::SalesReport {
    let i = r.inventory;
    pb::SalesReport {
        from: r.from,
        to: r.to,
        orders: r.orders,
        units: r.units,
        revenue_cents: r.revenue_cents,
        currency: r.currency,
        by_product: r
            .by_product
            .into_iter()
            .map(|p| pb::ProductSales {
                sku: p.sku,
                title: p.title,
                units: p.units,
                revenue_cents: p.revenue_cents,
            })
            .collect(),
        by_day: r
            .by_day
            .into_iter()
            .map(|d| pb::DaySales {
                day: d.day,
                orders: d.orders,
                units: d.units,
                revenue_cents: d.revenue_cents,
            })
            .collect(),
        inventory: Some(pb::InventoryCounters {
            reservations: i.reservations,
            units_reserved: i.units_reserved,
            units_released: i.units_released,
            units_committed: i.units_committed,
            units_restocked: i.units_restocked,
            low_stock_alerts: i.low_stock_alerts,
            adjustments: i.adjustments,
        }),
    }
}

#[tonic::async_trait]
impl Analytics for AnalyticsGrpc {
    #[tracing::instrument(skip_all)]
    async fn get_sales(
        &self,
        req: Request<pb::GetSalesRequest>,
    ) -> Result<Response<pb::SalesReport>, Status> {
        admin(&self.0, &req).await?;
        let r = req.get_ref();
        let q = GetSales::parse(r.from.as_deref(), r.to.as_deref()).map_err(status)?;
        let rep = self
            .0
            .mom
            .ask(&q, wait_budget(&self.0, &req))
            .await
            .map_err(mom_status)?;
        Ok(Response::new(report(rep)))
    }
}
