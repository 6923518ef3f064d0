//! The OpenAPI document (`/api/v1/openapi.json`, UI at `/docs`).
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::{
    admin, analytics, cart, catalog, error::ProblemBody, inventory, notifications, orders,
    payments, queues, shipping, users, wallets,
};
use crate::{
    actors::{
        control::{ActorInfo, FaultRequest},
        notifications::NotificationView,
        supervision::{ActorState, FaultAction},
        users::UserView,
        wallets::{TransferView, WalletView},
    },
    auth::{Role, Session},
    mom::{DeadLetter, Operation},
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "mailroom", description = "A resilient commerce backend: supervised actors behind a durable MOM. Commands answer 200/201 within the wait budget (`Prefer: wait=N`), else 202 with `Location: /api/v1/operations/{id}`. Errors are application/problem+json."),
    paths(
        users::register, users::login, users::me, users::update_me, users::delete_me,
        wallets::wallet, wallets::deposit, wallets::transfer, wallets::transfers,
        notifications::list, notifications::mark_read,
        admin::inject, admin::clear, admin::actors, admin::dead_letters, admin::retry, admin::operation,
    ),
    components(schemas(
        ProblemBody, users::RegisterBody, users::Registered, users::LoginBody, users::UpdateMeBody,
        UserView, Role, Session, WalletView, TransferView, wallets::DepositBody, wallets::TransferBody,
        NotificationView, ActorInfo, ActorState, FaultRequest, FaultAction, admin::ActorList,
        DeadLetter, Operation,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "wallets", description = "Balances, deposits and transfers"),
        (name = "notifications", description = "What happened to you"),
        (name = "operations", description = "Commands accepted but not finished within the wait budget"),
        (name = "admin", description = "Fault injection, supervision, dead letters (admin token)"),
    )
)]
pub struct ApiDoc;

/// The whole document: the base above plus every service's own part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in [
        catalog::Api::openapi(),
        inventory::Api::openapi(),
        cart::Api::openapi(),
        orders::Api::openapi(),
        payments::Api::openapi(),
        shipping::Api::openapi(),
        analytics::Api::openapi(),
        queues::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}
