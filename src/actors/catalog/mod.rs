//! `catalog`: products — browse, search, admin writes. Publishes
//! `catalog.product.created|updated|deleted`. Seeds a demo catalog on first
//! start ([`seed_demo`]).
use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};

use super::{Effects, Failure, Incoming, Service};
use crate::{
    mom::{Command, Event, Mom, Query},
    problem::{Page, Paged, Problem},
};

/// A product as every edge shows it. `sku` is the id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Product {
    pub sku: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub price_cents: i64,
    pub currency: String,
}

// ---- messages (contract; see the handlers below) -------------------------

/// Admin: create a product; `initial_stock` seeds inventory through the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateProduct {
    pub product: Product,
    pub initial_stock: Option<i64>,
}
impl Command for CreateProduct {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "create_product";
    type Reply = Product;
}

/// Admin: replace a product's fields (sku stays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateProduct {
    pub product: Product,
}
impl Command for UpdateProduct {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "update_product";
    type Reply = Product;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteProduct {
    pub sku: String,
}
impl Command for DeleteProduct {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "delete_product";
    type Reply = Product;
}

/// Search over title and author (`q`), filter by category, paginate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListProducts {
    pub q: Option<String>,
    pub category: Option<String>,
    pub page: Page,
}
impl Query for ListProducts {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "list_products";
    type Reply = Paged<Product>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetProduct {
    pub sku: String,
}
impl Query for GetProduct {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "get_product";
    type Reply = Product;
}

/// The products among `skus` that exist (unknown skus are left out).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceList {
    pub skus: Vec<String>,
}
impl Query for PriceList {
    const DESTINATION: &'static str = Catalog::NAME;
    const KIND: &'static str = "price_list";
    type Reply = Vec<Product>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductCreated {
    pub product: Product,
    pub initial_stock: Option<i64>,
}
impl Event for ProductCreated {
    const TOPIC: &'static str = "catalog.product.created";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductUpdated {
    pub product: Product,
}
impl Event for ProductUpdated {
    const TOPIC: &'static str = "catalog.product.updated";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub sku: String,
}
impl Event for ProductDeleted {
    const TOPIC: &'static str = "catalog.product.deleted";
}

/// Seeds the demo catalog (with stock) if the catalog is empty.
pub async fn seed_demo(_mom: &Mom) -> anyhow::Result<()> {
    Ok(())
}

#[derive(Debug, Default)]
pub struct Catalog;

impl Service for Catalog {
    const NAME: &'static str = "catalog";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("catalog does not handle `{}`", msg.kind)).into())
    }
}
