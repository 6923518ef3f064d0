//! `mailroom.catalog.v1.Catalog`.
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    admin, exec_options, finish, page,
    pb::catalog::{self as pb, catalog_server::Catalog},
    status::mom_status,
    wait_budget,
};
use crate::{
    actors::catalog::{
        CreateProduct, DeleteProduct, GetProduct, ListProducts, Product, UpdateProduct, CURRENCY,
    },
    context::NodeCtx,
};

pub struct CatalogGrpc(pub Arc<NodeCtx>);

pub fn product(p: Product) -> pb::Product {
    pb::Product {
        sku: p.sku,
        title: p.title,
        author: p.author,
        category: p.category,
        description: p.description,
        price_cents: p.price_cents,
        currency: p.currency,
    }
}

#[tonic::async_trait]
impl Catalog for CatalogGrpc {
    #[tracing::instrument(skip_all)]
    async fn list_products(
        &self,
        req: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        let wait = wait_budget(&self.0, &req);
        let r = req.into_inner();
        let q = ListProducts {
            q: r.q,
            category: r.category,
            page: page(r.page, r.page_size)?,
        };
        let p = self.0.mom.ask(&q, wait).await.map_err(mom_status)?;
        Ok(Response::new(pb::ListProductsResponse {
            items: p.items.into_iter().map(product).collect(),
            page: p.page,
            page_size: p.page_size,
            total: p.total,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_product(
        &self,
        req: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let wait = wait_budget(&self.0, &req);
        let q = GetProduct {
            sku: req.into_inner().sku,
        };
        let p = self.0.mom.ask(&q, wait).await.map_err(mom_status)?;
        Ok(Response::new(product(p)))
    }

    #[tracing::instrument(skip_all)]
    async fn create_product(
        &self,
        req: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let c = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = CreateProduct {
            product: Product {
                sku: r.sku,
                title: r.title,
                author: r.author,
                category: r.category,
                description: r.description,
                price_cents: r.price_cents,
                currency: r.currency.unwrap_or_else(|| CURRENCY.into()),
            },
            initial_stock: r.initial_stock,
        };
        finish(self.0.mom.execute(&cmd, opts).await, product)
    }

    #[tracing::instrument(skip_all)]
    async fn update_product(
        &self,
        req: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let c = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let r = req.into_inner();
        let cmd = UpdateProduct {
            product: Product {
                sku: r.sku,
                title: r.title,
                author: r.author,
                category: r.category,
                description: r.description,
                price_cents: r.price_cents,
                currency: r.currency.unwrap_or_else(|| CURRENCY.into()),
            },
        };
        finish(self.0.mom.execute(&cmd, opts).await, product)
    }

    #[tracing::instrument(skip_all)]
    async fn delete_product(
        &self,
        req: Request<pb::DeleteProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let c = admin(&self.0, &req).await?;
        let opts = exec_options(&self.0, &req, Some(c.user_id))?;
        let cmd = DeleteProduct {
            sku: req.into_inner().sku,
        };
        finish(self.0.mom.execute(&cmd, opts).await, product)
    }
}
