//! The OpenAPI document (`/api/v1/openapi.json`, UI at `/docs`).
//!
//! Each handler's `#[utoipa::path]` states what is particular to it: its
//! success answers and the errors only it has (404 unknown sku, 409
//! insufficient funds, 403 on a queue...). What every operation of a kind
//! can answer is added here, once, by [`Contract`], from the operation's
//! shape — so it cannot be forgotten on the next route:
//!
//! | answer | when | headers |
//! |---|---|---|
//! | 400 | it takes a body or parameters (malformed JSON, wrong Content-Type, a path or query value of the wrong type, a bad `Idempotency-Key`) | |
//! | 401 | it has `security` (and `/auth/login`: wrong credentials) | `WWW-Authenticate` |
//! | 403 | its security names the `admin` role | |
//! | 404 | it has path parameters | |
//! | 413 | it takes a body (over 1 MiB) | |
//! | 422 | it takes a body or query parameters, or a queue, topic or inventory sku in its path (breaking the naming rule) | |
//! | 429 | `/auth/*` (rate limited per client address) | `Retry-After` |
//! | 500 | it is a journaled command: one its service crashed on every delivery was dead-lettered | |
//! | 503 | it goes through the MOM (all but the admin's actor controls) | `Retry-After` |
//! | 202 | it is a journaled command (declared by the handler) | `Location`, `X-Operation-Id` |
//!
//! Every error of the API is `application/problem+json` ([`ProblemBody`];
//! only `/readyz`'s 503 is a report of its own). A command
//! (an operation that can answer 202) takes `Idempotency-Key` (1 to 255
//! visible ASCII characters) and `Prefer: wait=N`. Path parameters naming a
//! queue, a topic or a sku get the server's patterns.
use serde::Serialize;
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Schema,
    },
    Modify, OpenApi, ToSchema,
};
use uuid::Uuid;

use super::{
    admin, analytics, cart, catalog, error::ProblemBody, inventory, notifications, orders,
    payments, queues, shipping, users, wallets,
};
use crate::{
    actors::{
        notifications::NotificationView,
        users::UserView,
        wallets::{TransferView, WalletView},
    },
    auth::{Role, Session},
    mom::{
        control::{ActorInfo, FaultRequest},
        supervision::{ActorState, FaultAction},
    },
    mom::{DeadLetter, Operation as OperationView},
};

/// The content type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Operations that never touch the MOM (so never answer 503): the admin's
/// direct controls of the actors.
const NOT_THROUGH_THE_MOM: &[(&str, &str)] = &[
    ("get", "/api/v1/admin/actors"),
    ("post", "/api/v1/admin/faults"),
    ("delete", "/api/v1/admin/faults/{actor}"),
];

/// Operations that answer 202 but are not commands run through
/// `Mom::execute` (so take no `Idempotency-Key`): a retried dead letter is
/// put back in its queue as it was.
const NOT_KEYED: &[(&str, &str)] = &[("post", "/api/v1/admin/dead-letters/{id}/retry")];

/// The body of a 202: the operation to poll.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedBody {
    /// The operation id (also in `X-Operation-Id`).
    pub id: Uuid,
    /// Always `pending` here; poll `location` for `done`, `failed` or `dead`.
    pub status: String,
    /// `/api/v1/operations/{id}` (also in `Location`).
    pub location: String,
}

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
                    .description(Some(
                        "A session token from /auth/login or /auth/register. Operations whose security lists the `admin` role need an admin's token (403 otherwise).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "mailroom", description = "A resilient commerce backend: supervised actors behind a durable MOM. Commands answer 200/201 within the wait budget (`Prefer: wait=N`), else 202 with `Location: /api/v1/operations/{id}`. Errors are application/problem+json (RFC 9457). 503 (with `Retry-After`) means the service or the MOM is restarting: retry, with the same `Idempotency-Key` for a command."),
    paths(
        super::healthz, super::readyz, super::metrics,
        users::register, users::login, users::me, users::update_me, users::delete_me,
        wallets::wallet, wallets::deposit, wallets::transfer, wallets::transfers,
        notifications::list, notifications::mark_read,
        admin::inject, admin::clear, admin::actors, admin::dead_letters, admin::retry, admin::operation,
    ),
    components(schemas(
        ProblemBody, AcceptedBody, users::RegisterBody, users::Registered, users::LoginBody, users::UpdateMeBody,
        UserView, Role, Session, WalletView, TransferView, wallets::DepositBody, wallets::TransferBody,
        NotificationView, ActorInfo, ActorState, FaultRequest, FaultAction, admin::ActorList,
        DeadLetter, OperationView,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "node", description = "Liveness, readiness, metrics (no token)"),
        (name = "users", description = "Accounts and sessions"),
        (name = "wallets", description = "Balances, deposits and transfers"),
        (name = "notifications", description = "What happened to you"),
        (name = "operations", description = "Commands accepted but not finished within the wait budget"),
        (name = "admin", description = "Fault injection, supervision, dead letters (admin token)"),
    )
)]
pub struct ApiDoc;

/// The whole document: the base above plus every service's own part, with
/// the common answers of [`Contract`].
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
    Contract.modify(&mut doc);
    doc
}

/// Adds to every operation the answers its shape implies (see the module
/// doc), turns every error into problem+json, and gives commands their
/// headers.
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                complete(method, path, op);
            }
        }
    }
}

/// What an operation is, as far as the common answers go.
struct Shape {
    secured: bool,
    admin: bool,
    body: bool,
    path_params: bool,
    query_params: bool,
    /// A path parameter whose rule answers 422 when broken.
    validated_path: bool,
    any_params: bool,
    keyed: bool,
    auth: bool,
    through_mom: bool,
}

impl Shape {
    fn of(method: &str, path: &str, op: &Operation) -> Shape {
        let security = serde_json::to_value(&op.security).unwrap_or_default();
        let requirements = security.as_array().cloned().unwrap_or_default();
        let secured = requirements
            .iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty()));
        let admin = requirements.iter().any(|r| {
            r.as_object().is_some_and(|o| {
                o.values().any(|scopes| {
                    scopes
                        .as_array()
                        .is_some_and(|s| s.contains(&"admin".into()))
                })
            })
        });
        let params = op.parameters.as_deref().unwrap_or_default();
        let is = |at: ParameterIn| params.iter().any(|p| p.parameter_in == at);
        let validated_path = params.iter().any(|p| {
            p.parameter_in == ParameterIn::Path
                && path_rule(path, &p.name).is_some_and(|(_, _, unprocessable)| unprocessable)
        });
        let command = op.responses.responses.contains_key("202");
        let listed = |list: &[(&str, &str)]| list.contains(&(method, path));
        Shape {
            secured,
            admin,
            body: op.request_body.is_some(),
            path_params: is(ParameterIn::Path),
            query_params: is(ParameterIn::Query),
            validated_path,
            any_params: !params.is_empty(),
            keyed: command && !listed(NOT_KEYED),
            auth: path.starts_with("/api/v1/auth/"),
            through_mom: path.starts_with("/api/v1/") && !listed(NOT_THROUGH_THE_MOM),
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

fn complete(method: &str, path: &str, op: &mut Operation) {
    let shape = Shape::of(method, path, op);
    let common: [(u16, bool, &str); 9] = [
        (
            400,
            shape.body || shape.any_params || shape.keyed,
            "Malformed: unreadable JSON or a Content-Type other than application/json, a path or query value of the wrong type, or an invalid Idempotency-Key",
        ),
        (
            401,
            shape.secured || path == "/api/v1/auth/login",
            if shape.secured {
                "No token, or an invalid or expired one"
            } else {
                "Wrong email or password"
            },
        ),
        (403, shape.admin, "Needs an admin token (or, where stated, a permission)"),
        (404, shape.path_params, "Not found"),
        (413, shape.body, "The body is over 1 MiB"),
        (
            422,
            shape.body || shape.query_params || shape.validated_path,
            "Well-formed but invalid: a value out of range, too long, or of the wrong shape (a name in the path included)",
        ),
        (
            429,
            shape.auth,
            "Too many login or register attempts from this address; retry after Retry-After seconds",
        ),
        (
            500,
            shape.keyed,
            "The command failed permanently (its service crashed on it max_deliveries times) and was dead-lettered; see /admin/dead-letters",
        ),
        (
            503,
            shape.through_mom,
            "The service or the MOM is restarting (nothing was recorded); retry after Retry-After seconds",
        ),
    ];
    let responses = &mut op.responses.responses;
    for (status, applies, description) in common {
        if applies {
            responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(Response::new(description)));
        }
    }
    for (status, response) in responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        let RefOr::T(r) = response else { continue };
        if r.description.is_empty() {
            r.description = reason(code, &common);
        }
        if code >= 400 && !reports(r) {
            *r = problem(std::mem::take(&mut r.description), code);
        } else if code == 202 {
            *r = accepted(std::mem::take(&mut r.description));
        }
    }
    if shape.keyed {
        let params = op.parameters.get_or_insert_with(Vec::new);
        params.retain(|p| {
            !(p.parameter_in == ParameterIn::Header
                && (p.name.eq_ignore_ascii_case("idempotency-key")
                    || p.name.eq_ignore_ascii_case("prefer")))
        });
        params.push(idempotency_key());
        params.push(prefer());
    }
    for p in op.parameters.iter_mut().flatten() {
        constrain_path_param(path, p);
    }
}

/// An error status whose body is a report of its own, not a problem: the
/// handler declared a body other than [`ProblemBody`] (`/readyz`'s 503
/// lists the actors that are down).
fn reports(r: &Response) -> bool {
    r.content.values().any(|c| match &c.schema {
        Some(RefOr::Ref(r)) => r.ref_location != "#/components/schemas/ProblemBody",
        Some(RefOr::T(_)) => true,
        None => false,
    })
}

/// A description for an answer the handler left undescribed.
fn reason(code: u16, common: &[(u16, bool, &str)]) -> String {
    if let Some((_, _, d)) = common.iter().find(|(c, _, _)| *c == code) {
        return (*d).to_owned();
    }
    match code {
        403 => "Not allowed".to_owned(),
        409 => "Conflicts with the current state".to_owned(),
        _ => actix_web::http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_owned(),
    }
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some(description))
        .build()
}

/// An error answer: problem+json, with the headers its status carries.
fn problem(description: String, status: u16) -> Response {
    let mut r = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ProblemBody")))
            .build(),
    );
    match status {
        401 => {
            r = r.header(
                "WWW-Authenticate",
                string_header("`Bearer`: send a session token"),
            )
        }
        429 | 503 => r = r.header("Retry-After", integer_header("Seconds to wait")),
        _ => {}
    }
    r.build()
}

/// A 202: the command is journaled; poll its operation.
fn accepted(description: String) -> Response {
    let description = if description.is_empty() {
        "Accepted: journaled but not finished within the wait budget; poll Location".to_owned()
    } else {
        description
    };
    ResponseBuilder::new()
        .description(description)
        .header(
            "Location",
            string_header("`/api/v1/operations/{id}`: poll it for the result"),
        )
        .header(
            "X-Operation-Id",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String).format(Some(
                    utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
                )))
                .description(Some("The operation id"))
                .build(),
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("AcceptedBody")))
                .build(),
        )
        .build()
}

fn header_param(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(Schema::Object(schema.build())))
        .build()
}

/// `Idempotency-Key`, as [`crate::mom::parse_key`] accepts it.
fn idempotency_key() -> Parameter {
    header_param(
        "Idempotency-Key",
        "1 to 255 visible ASCII characters. A repeat of a command with the same key (by the same caller) answers the first one's result and applies nothing again; 400 for a malformed key.",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some(IDEMPOTENCY_KEY_PATTERN)),
    )
}

/// `Idempotency-Key` as a regular expression.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

fn prefer() -> Parameter {
    header_param(
        "Prefer",
        "`wait=N`: wait up to N seconds (at most 60) for the result before answering 202; other preferences are ignored.",
        ObjectBuilder::new().schema_type(Type::String),
    )
}

/// `inventory::check_sku` (looser than the catalog's rule), less the `.`
/// and `..` no URL can address.
const INVENTORY_SKU_PATTERN: &str = r"^(?!\.{1,2}$)[^\s\x00-\x1f\x7f-\x9f]{1,64}$";

/// The rule of a path parameter naming a queue, a topic or a sku:
/// (pattern, max length, whether breaking it answers 422 rather than 404).
fn path_rule(path: &str, name: &str) -> Option<(&'static str, usize, bool)> {
    let under = |prefix: &str| path.starts_with(prefix);
    match name {
        "name" if under("/api/v1/queues/") || under("/api/v1/topics/") => {
            Some((crate::actors::queues::NAME_PATTERN, 64, true))
        }
        // The catalog and the cart answer 404: such a sku cannot exist.
        "sku" if under("/api/v1/products/") || under("/api/v1/cart/") => {
            Some((crate::actors::catalog::SKU_PATTERN, 64, false))
        }
        "sku" if under("/api/v1/inventory/") => Some((INVENTORY_SKU_PATTERN, 64, true)),
        _ => None,
    }
}

/// Path parameters naming a queue, a topic or a sku get the server's rule.
fn constrain_path_param(path: &str, p: &mut Parameter) {
    if p.parameter_in != ParameterIn::Path {
        return;
    }
    if let Some((pattern, max, _)) = path_rule(path, &p.name) {
        p.schema = Some(RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(max))
                .pattern(Some(pattern))
                .build(),
        )));
    }
}
