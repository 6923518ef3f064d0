//! REST routes of `catalog`: `/products` (public reads, admin writes).
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    error::{ApiError, ProblemBody},
    extract::Json,
    extract::{command, wait_budget, Admin},
};
use crate::{
    actors::catalog::{
        CreateProduct, DeleteProduct, GetProduct, ListProducts, Product, UpdateProduct, CURRENCY,
    },
    context::NodeCtx,
    problem::{Page, Paged, Problem},
};

/// `?q=&category=&page=&page_size=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Case-insensitive substring of the title or the author: at most 200
    /// characters, no control characters (422).
    #[param(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub q: Option<String>,
    /// Exact category, e.g. `fiction`: at most 50 characters, no control
    /// characters (422).
    #[param(max_length = 50, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub category: Option<String>,
    /// From 1 (0 or absent: 1); at most 1 000 000.
    #[param(minimum = 0, maximum = 1000000)]
    pub page: Option<u32>,
    /// 1 to 100 (0 or absent: 20).
    #[param(minimum = 0, maximum = 100)]
    pub page_size: Option<u32>,
}

/// `POST /products`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    /// 1 to 64 characters of `A-Z a-z 0-9 - _ .`, not `.` or `..`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub sku: String,
    /// 1 to 200 characters, not blank, no control characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub title: String,
    /// At most 200 characters, no control characters (blank means none).
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub author: Option<String>,
    /// 1 to 50 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub category: String,
    /// At most 4000 characters; line breaks and tabs allowed, no other
    /// control characters.
    #[schema(
        max_length = 4000,
        pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
    )]
    pub description: Option<String>,
    /// 1 to 100 000 000.
    #[schema(minimum = 1, maximum = 100000000)]
    pub price_cents: i64,
    /// `USD` (the default).
    #[schema(pattern = "^USD$")]
    pub currency: Option<String>,
    /// Units to put in stock (0 to 1 000 000; default none).
    #[schema(minimum = 0, maximum = 1000000)]
    pub initial_stock: Option<i64>,
}

/// `PUT /products/{sku}`: every field is replaced (absent optional fields
/// are cleared). A `sku` in the body must equal the path's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    /// If given, the path's sku.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,64}$"
    )]
    pub sku: Option<String>,
    /// 1 to 200 characters, not blank, no control characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub title: String,
    /// At most 200 characters, no control characters (blank means none).
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub author: Option<String>,
    /// 1 to 50 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub category: String,
    /// At most 4000 characters; line breaks and tabs allowed, no other
    /// control characters.
    #[schema(
        max_length = 4000,
        pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
    )]
    pub description: Option<String>,
    /// 1 to 100 000 000.
    #[schema(minimum = 1, maximum = 100000000)]
    pub price_cents: i64,
    /// `USD` (the default).
    #[schema(pattern = "^USD$")]
    pub currency: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = Paged<Product>, description = "by sku"),
        (status = 400, body = ProblemBody), (status = 422, body = ProblemBody, description = "page_size over 100, q over 200 characters")))]
#[tracing::instrument(skip_all)]
pub async fn list(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    q: web::Query<ProductQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let query = ListProducts {
        q: q.q,
        category: q.category,
        page: Page::new(q.page, q.page_size)?,
    };
    let page = ctx.mom.ask(&query, wait_budget(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/products/{sku}", tag = "catalog", params(("sku" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(sku = %sku))]
pub async fn get(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = ctx
        .mom
        .ask(
            &GetProduct {
                sku: sku.into_inner(),
            },
            wait_budget(&ctx, &req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

#[utoipa::path(post, path = "/api/v1/products", tag = "catalog", security(("bearer" = ["admin"])), request_body = NewProductBody,
    responses((status = 201, body = Product), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody, description = "not an admin"),
        (status = 409, body = ProblemBody, description = "the sku exists"), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn create(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    body: Json<NewProductBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cmd = CreateProduct {
        product: Product {
            sku: b.sku,
            title: b.title,
            author: b.author,
            category: b.category,
            description: b.description,
            price_cents: b.price_cents,
            currency: b.currency.unwrap_or_else(|| CURRENCY.into()),
        },
        initial_stock: b.initial_stock,
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::CREATED).await
}

#[utoipa::path(put, path = "/api/v1/products/{sku}", tag = "catalog", security(("bearer" = ["admin"])), request_body = ProductBody,
    params(("sku" = String, Path)),
    responses((status = 200, body = Product), (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn update(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    sku: web::Path<String>,
    body: Json<ProductBody>,
) -> Result<HttpResponse, ApiError> {
    let sku = sku.into_inner();
    let b = body.into_inner();
    if b.sku.as_ref().is_some_and(|s| *s != sku) {
        return Err(Problem::invalid("the sku cannot change (body and path differ)").into());
    }
    let cmd = UpdateProduct {
        product: Product {
            sku,
            title: b.title,
            author: b.author,
            category: b.category,
            description: b.description,
            price_cents: b.price_cents,
            currency: b.currency.unwrap_or_else(|| CURRENCY.into()),
        },
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::OK).await
}

#[utoipa::path(delete, path = "/api/v1/products/{sku}", tag = "catalog", security(("bearer" = ["admin"])),
    params(("sku" = String, Path)),
    responses((status = 200, body = Product, description = "the deleted product; it also leaves every cart"),
        (status = 202, description = "accepted; poll Location"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id))]
pub async fn delete(
    ctx: web::Data<NodeCtx>,
    req: HttpRequest,
    Admin(admin): Admin,
    sku: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cmd = DeleteProduct {
        sku: sku.into_inner(),
    };
    command(&ctx, &req, admin.user_id, cmd, StatusCode::OK).await
}

/// This service's part of the OpenAPI document (merged in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(list, get, create, update, delete),
    components(schemas(Product, NewProductBody, ProductBody, Paged<Product>)),
    tags((name = "catalog", description = "Products: browse and search (public), admin writes"))
)]
pub struct Api;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/products/{sku}")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    );
}
