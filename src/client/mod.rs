//! The console client: subcommands of the same `mailroom` binary that talk
//! to a node's REST API like a user would, plus `mailroom load`, which
//! drives a node with a realistic mix, injects faults while it runs
//! (`--chaos`) and then checks that nothing was lost or applied twice.
//!
//! - [`api`]: a small REST client; every command carries an
//!   `Idempotency-Key`, retries with the same key, and follows 202s.
//! - [`config`]: the session `login` saves (`<config dir>/mailroom/token.json`).
//! - [`output`]: tables for people, `--json` for scripts, errors as one line
//!   (`error: 401 Unauthorized: invalid email or password`) and exit code 1.
//! - [`load`]: the load generator, the chaos injector, the report and the
//!   invariant checker.
//!
//! The client runs on its own tokio runtime (the node runs on actix).
pub mod api;
pub mod config;
pub mod load;
pub mod output;

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use api::{Api, ClientError, Policy, V1};
use output::{money, Col, Out};

/// Flags every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The node's REST address.
    #[arg(
        long,
        global = true,
        env = "MAILROOM_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// Print JSON instead of tables (the node's answers; `load`'s report).
    #[arg(long, global = true)]
    pub json: bool,
    /// A bearer token to use instead of the session saved by `login`.
    #[arg(long, global = true, env = "MAILROOM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A command's own flags plus the [`Common`] ones.
#[derive(Debug, Args)]
pub struct With<T: Args> {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub args: T,
}

/// A command group (`cart add`, `cart show`, ...).
#[derive(Debug, Args)]
pub struct Sub<T: Subcommand> {
    #[command(subcommand)]
    pub cmd: T,
}

#[derive(Debug, Args)]
pub struct NoArgs {}

/// The client's subcommands (flattened into `mailroom`'s own).
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Create an account, log in and save the session.
    Register(With<RegisterArgs>),
    /// Log in and save the session in your config directory.
    Login(With<Credentials>),
    /// Forget the saved session.
    Logout(With<NoArgs>),
    /// Show the account of the saved session.
    Whoami(With<NoArgs>),
    /// Browse the catalog (`products --q tolkien`), search it, show one product.
    Products(With<ProductsArgs>),
    /// Your cart: add, show, clear.
    Cart(With<Sub<CartCmd>>),
    /// Orders: place, show, list, cancel.
    #[command(alias = "orders")]
    Order(With<Sub<OrderCmd>>),
    /// Your wallet: show, deposit, transfers.
    Wallet(With<Sub<WalletCmd>>),
    /// Send money to another user.
    Transfer(With<TransferArgs>),
    /// Your notifications, newest first.
    Notifications(With<PageArgs>),
    /// Queues you own or were granted: create, publish, receive, ack, delete, grant.
    Queue(With<Sub<QueueCmd>>),
    /// Topics: create, publish, bind a queue.
    Topic(With<Sub<TopicCmd>>),
    /// Admin: every actor's state, restarts and pending envelopes.
    Actors(With<NoArgs>),
    /// Admin: kill an actor, crash its next messages, slow it, clear its faults.
    Fault(With<Sub<FaultCmd>>),
    /// Admin: list and retry dead letters.
    DeadLetters(With<Sub<DeadLetterCmd>>),
    /// Load a node with a realistic mix (optionally killing actors while it
    /// runs) and check that nothing was lost or applied twice.
    Load(With<load::LoadArgs>),
}

impl ClientCmd {
    fn common(&self) -> &Common {
        match self {
            ClientCmd::Register(w) => &w.common,
            ClientCmd::Login(w) => &w.common,
            ClientCmd::Logout(w) | ClientCmd::Whoami(w) | ClientCmd::Actors(w) => &w.common,
            ClientCmd::Products(w) => &w.common,
            ClientCmd::Cart(w) => &w.common,
            ClientCmd::Order(w) => &w.common,
            ClientCmd::Wallet(w) => &w.common,
            ClientCmd::Transfer(w) => &w.common,
            ClientCmd::Notifications(w) => &w.common,
            ClientCmd::Queue(w) => &w.common,
            ClientCmd::Topic(w) => &w.common,
            ClientCmd::Fault(w) => &w.common,
            ClientCmd::DeadLetters(w) => &w.common,
            ClientCmd::Load(w) => &w.common,
        }
    }
}

#[derive(Debug, Args)]
pub struct Credentials {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub password: String,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub credentials: Credentials,
    /// Your name (default: the part of the email before `@`).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    #[arg(long, default_value_t = 20)]
    pub page_size: u32,
}

#[derive(Debug, Args)]
pub struct ProductsArgs {
    #[command(subcommand)]
    pub cmd: Option<ProductsCmd>,
    /// Text to find in titles and authors.
    #[arg(long)]
    pub q: Option<String>,
    /// Exact category, e.g. `fiction`.
    #[arg(long)]
    pub category: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProductsCmd {
    /// Products whose title or author contains TEXT.
    Search {
        text: String,
        #[arg(long)]
        category: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One product (with its stock when you are logged in).
    Show { sku: String },
}

#[derive(Debug, Subcommand)]
pub enum CartCmd {
    /// Add units of a product (added to what the cart already holds).
    Add {
        #[arg(long)]
        sku: String,
        #[arg(long, default_value_t = 1)]
        quantity: i64,
    },
    /// What is in the cart, at current prices.
    Show,
    /// Empty the cart.
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum OrderCmd {
    /// Place an order from the cart or from `--item`s, paid by card or wallet.
    Place(Box<PlaceArgs>),
    /// One order.
    Show { id: String },
    /// Your orders, newest first.
    List(PageArgs),
    /// Cancel an order that has not shipped (stock and money go back).
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// Order what is in the cart (the default when no `--item` is given).
    #[arg(long, conflicts_with = "item")]
    pub from_cart: bool,
    /// A line, `SKU:QUANTITY` (repeat for more lines).
    #[arg(long = "item", value_name = "SKU:QTY")]
    pub item: Vec<String>,
    /// Pay by card with this number (4000000000000002 is always declined).
    #[arg(long, conflicts_with = "wallet", required_unless_present = "wallet")]
    pub card: Option<String>,
    /// Card expiry, MM/YY.
    #[arg(long, requires = "card")]
    pub expiry: Option<String>,
    /// Card verification code.
    #[arg(long, requires = "card")]
    pub cvv: Option<String>,
    /// Pay from your wallet.
    #[arg(long)]
    pub wallet: bool,
    /// Ship to (name).
    #[arg(long, default_value = "Mailroom Customer")]
    pub name: String,
    #[arg(long, default_value = "1 Main St")]
    pub line1: String,
    #[arg(long)]
    pub line2: Option<String>,
    #[arg(long, default_value = "Springfield")]
    pub city: String,
    #[arg(long, default_value = "12345")]
    pub postal_code: String,
    #[arg(long, default_value = "US")]
    pub country: String,
    /// Wait until the order is confirmed, failed or cancelled.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Debug, Subcommand)]
pub enum WalletCmd {
    /// Your balance.
    Show,
    /// Add money.
    Deposit {
        #[arg(long)]
        amount_cents: i64,
    },
    /// Your transfers, both directions, newest first.
    Transfers(PageArgs),
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    #[arg(
        long,
        required_unless_present = "to_user_id",
        conflicts_with = "to_user_id"
    )]
    pub to_email: Option<String>,
    #[arg(long)]
    pub to_user_id: Option<String>,
    #[arg(long)]
    pub amount_cents: i64,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Create a queue you own.
    Create {
        name: String,
        #[arg(long)]
        visibility_timeout_s: Option<u64>,
        #[arg(long)]
        max_deliveries: Option<u32>,
        #[arg(long)]
        message_ttl_s: Option<u64>,
    },
    /// Queues you own or were granted.
    List,
    /// One queue: depth, in flight, dead, owner.
    Show { name: String },
    /// Publish a message (201 once it is on disk).
    Publish {
        name: String,
        #[arg(long)]
        body: String,
        /// `KEY=VALUE` (repeatable).
        #[arg(long = "header", value_name = "KEY=VALUE")]
        header: Vec<String>,
        #[arg(long)]
        delay_s: Option<u64>,
    },
    /// Lease up to `--max` messages (long poll up to `--wait-s`).
    Receive {
        name: String,
        #[arg(long, default_value_t = 1)]
        max: u32,
        #[arg(long, default_value_t = 0)]
        wait_s: u64,
        /// Acknowledge each message once printed.
        #[arg(long)]
        ack: bool,
    },
    /// Acknowledge a received message.
    Ack {
        name: String,
        id: String,
        #[arg(long)]
        receipt: String,
    },
    /// Delete a queue (owner only).
    Delete { name: String },
    /// Let another user publish and/or consume.
    Grant {
        name: String,
        #[arg(long)]
        to_email: String,
        /// Comma-separated: publish, consume.
        #[arg(long, value_delimiter = ',', default_value = "publish,consume")]
        permissions: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopicCmd {
    /// Create a topic you own.
    Create { name: String },
    /// Publish to every bound queue whose pattern matches the routing key.
    Publish {
        name: String,
        #[arg(long)]
        routing_key: String,
        #[arg(long)]
        body: String,
    },
    /// Bind a queue: it receives messages whose routing key matches PATTERN (`*`, `#`).
    Bind {
        name: String,
        #[arg(long)]
        queue: String,
        #[arg(long)]
        pattern: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FaultCmd {
    /// Stop ACTOR now (in-flight work is replayed); restart after `--down-ms`.
    Kill {
        actor: String,
        #[arg(long, default_value_t = 0)]
        down_ms: u64,
    },
    /// ACTOR's next `--count` messages panic mid-handler.
    Crash {
        actor: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Only messages of this type (e.g. `transfer`).
        #[arg(long)]
        message: Option<String>,
    },
    /// Add `--ms` to every message ACTOR handles.
    Delay {
        actor: String,
        #[arg(long)]
        ms: u64,
    },
    /// Each message panics with probability `--ratio`.
    FailRate {
        actor: String,
        #[arg(long)]
        ratio: f64,
        #[arg(long)]
        message: Option<String>,
    },
    /// Clear ACTOR's faults.
    Clear { actor: String },
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCmd {
    /// Dead letters, oldest first.
    List(PageArgs),
    /// Put a dead letter back in its queue and wait for its outcome.
    Retry { id: String },
}

/// Runs a client command on a tokio runtime; prints errors as one line and
/// exits non-zero (1 for errors, 3 when `load`'s checker finds a violation).
pub fn main(cmd: ClientCmd) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(run(cmd));
    drop(rt);
    if code != 0 {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

async fn run(cmd: ClientCmd) -> i32 {
    let common = cmd.common().clone();
    let out = Out { json: common.json };
    let api = match Api::new(&common.url) {
        Ok(api) => api,
        Err(e) => return fail(&e),
    };
    let ctx = Ctx { api, out, common };
    let res = match cmd {
        ClientCmd::Load(w) => return load::main(&ctx.api, out, w.args).await,
        other => ctx.dispatch(other).await,
    };
    match res {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn fail(e: &ClientError) -> i32 {
    eprintln!("error: {e}");
    1
}

/// One invocation: the node, the output, the flags.
struct Ctx {
    api: Api,
    out: Out,
    common: Common,
}

impl Ctx {
    /// The API as the logged-in user.
    fn authed(&self) -> Result<Api, ClientError> {
        let token = match &self.common.token {
            Some(t) => t.clone(),
            None => config::token_for(self.api.base())?,
        };
        Ok(self.api.with_token(token))
    }

    /// A command: one Idempotency-Key for this invocation, retried with it.
    async fn command(
        &self,
        api: &Api,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let key = format!("cli-{}", uuid::Uuid::new_v4().simple());
        api.execute(
            method,
            path,
            body.as_ref(),
            Some(&key),
            Policy::INTERACTIVE,
            &mut |_| {},
        )
        .await
        .into_result()
    }

    async fn read(&self, api: &Api, path: &str) -> Result<Value, ClientError> {
        api.execute(
            Method::GET,
            path,
            None,
            None,
            Policy::INTERACTIVE,
            &mut |_| {},
        )
        .await
        .into_result()
    }

    async fn dispatch(&self, cmd: ClientCmd) -> Result<(), ClientError> {
        let out = self.out;
        match cmd {
            ClientCmd::Register(w) => self.register(w.args).await,
            ClientCmd::Login(w) => self.login(&w.args).await,
            ClientCmd::Logout(_) => {
                let had = config::remove()?;
                out.done(
                    if had { "logged out" } else { "not logged in" },
                    &json!({ "logged_out": had }),
                );
                Ok(())
            }
            ClientCmd::Whoami(_) => {
                let api = self.authed()?;
                out.show(&self.read(&api, &format!("{V1}/users/me")).await?);
                Ok(())
            }
            ClientCmd::Products(w) => self.products(w.args).await,
            ClientCmd::Cart(w) => self.cart(w.args.cmd).await,
            ClientCmd::Order(w) => self.order(w.args.cmd).await,
            ClientCmd::Wallet(w) => self.wallet(w.args.cmd).await,
            ClientCmd::Transfer(w) => {
                let a = w.args;
                let api = self.authed()?;
                let mut body = json!({ "amount_cents": a.amount_cents });
                if let Some(e) = a.to_email {
                    body["to_email"] = json!(e);
                }
                if let Some(id) = a.to_user_id {
                    body["to_user_id"] = json!(id);
                }
                if let Some(n) = a.note {
                    body["note"] = json!(n);
                }
                let v = self
                    .command(&api, Method::POST, &format!("{V1}/transfers"), Some(body))
                    .await?;
                out.done(
                    &format!(
                        "transferred {} (transfer {})",
                        money(v["amount_cents"].as_i64().unwrap_or_default(), "USD"),
                        v["id"].as_str().unwrap_or("?")
                    ),
                    &v,
                );
                Ok(())
            }
            ClientCmd::Notifications(w) => {
                let api = self.authed()?;
                let p = &w.args;
                let v = self
                    .read(
                        &api,
                        &format!(
                            "{V1}/notifications?page={}&page_size={}",
                            p.page, p.page_size
                        ),
                    )
                    .await?;
                out.list(
                    &v,
                    &[
                        Col("when", "created_at"),
                        Col("kind", "kind"),
                        Col("subject", "subject"),
                        Col("read", "read"),
                        Col("id", "id"),
                    ],
                );
                Ok(())
            }
            ClientCmd::Queue(w) => self.queue(w.args.cmd).await,
            ClientCmd::Topic(w) => self.topic(w.args.cmd).await,
            ClientCmd::Actors(_) => {
                let api = self.authed()?;
                let v = self.read(&api, &format!("{V1}/admin/actors")).await?;
                out.list(
                    &v,
                    &[
                        Col("name", "name"),
                        Col("state", "state"),
                        Col("restarts", "restarts"),
                        Col("pending", "pending"),
                        Col("processed", "processed"),
                        Col("failures", "failures"),
                        Col("faults", "faults"),
                    ],
                );
                Ok(())
            }
            ClientCmd::Fault(w) => self.fault(w.args.cmd).await,
            ClientCmd::DeadLetters(w) => self.dead_letters(w.args.cmd).await,
            ClientCmd::Load(_) => unreachable!("load runs on its own"),
        }
    }

    async fn register(&self, a: RegisterArgs) -> Result<(), ClientError> {
        let Credentials { email, password } = a.credentials;
        let name = a
            .name
            .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
        let v = self
            .command(
                &self.api,
                Method::POST,
                &format!("{V1}/auth/register"),
                Some(json!({ "email": email, "password": password, "name": name })),
            )
            .await?;
        // A 202 (followed to its end) carries the user but no token.
        let (user, session) = match v.get("token").and_then(Value::as_str) {
            Some(token) => (
                v["user"].clone(),
                self.save(&email, token, v["expires_at"].as_str().unwrap_or(""))?,
            ),
            None => {
                let s = self.fetch_session(&email, &password).await?;
                (v.clone(), s)
            }
        };
        self.out.done(
            &format!(
                "registered {} (user {}); logged in, session saved to {}",
                user["email"].as_str().unwrap_or(&email),
                user["id"].as_str().unwrap_or("?"),
                session.display()
            ),
            &v,
        );
        Ok(())
    }

    async fn login(&self, c: &Credentials) -> Result<(), ClientError> {
        let v = self
            .api
            .call(
                Method::POST,
                &format!("{V1}/auth/login"),
                Some(&json!({ "email": c.email, "password": c.password })),
            )
            .await?;
        let expires = v["expires_at"].as_str().unwrap_or("");
        let path = self.save(&c.email, v["token"].as_str().unwrap_or(""), expires)?;
        self.out.done(
            &format!(
                "logged in as {} until {expires}; session saved to {}",
                c.email,
                path.display()
            ),
            &v,
        );
        Ok(())
    }

    async fn fetch_session(
        &self,
        email: &str,
        password: &str,
    ) -> Result<std::path::PathBuf, ClientError> {
        let v = self
            .api
            .call(
                Method::POST,
                &format!("{V1}/auth/login"),
                Some(&json!({ "email": email, "password": password })),
            )
            .await?;
        self.save(
            email,
            v["token"].as_str().unwrap_or(""),
            v["expires_at"].as_str().unwrap_or(""),
        )
    }

    fn save(
        &self,
        email: &str,
        token: &str,
        expires_at: &str,
    ) -> Result<std::path::PathBuf, ClientError> {
        config::save(&config::Session {
            url: self.api.base().to_owned(),
            email: email.to_owned(),
            token: token.to_owned(),
            expires_at: expires_at.to_owned(),
        })
    }

    async fn products(&self, a: ProductsArgs) -> Result<(), ClientError> {
        let (q, category, page) = match a.cmd {
            Some(ProductsCmd::Show { sku }) => {
                let mut v = self
                    .read(&self.api, &format!("{V1}/products/{}", seg(&sku)))
                    .await?;
                // Stock needs a token; show it when there is one.
                if let Ok(api) = self.authed() {
                    if let Ok(st) = self
                        .read(&api, &format!("{V1}/inventory/{}", seg(&sku)))
                        .await
                    {
                        v["stock"] = st;
                    }
                }
                self.out.show(&v);
                return Ok(());
            }
            Some(ProductsCmd::Search {
                text,
                category,
                page,
            }) => (Some(text), category, page),
            None => (a.q, a.category, a.page),
        };
        let mut query = format!("page={}&page_size={}", page.page, page.page_size);
        if let Some(q) = q {
            query.push_str(&format!("&q={}", seg(&q)));
        }
        if let Some(c) = category {
            query.push_str(&format!("&category={}", seg(&c)));
        }
        let v = self
            .read(&self.api, &format!("{V1}/products?{query}"))
            .await?;
        self.out.list(
            &v,
            &[
                Col("sku", "sku"),
                Col("title", "title"),
                Col("author", "author"),
                Col("category", "category"),
                Col("price", "price_cents"),
            ],
        );
        Ok(())
    }

    async fn cart(&self, cmd: CartCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        let v = match cmd {
            CartCmd::Add { sku, quantity } => {
                self.command(
                    &api,
                    Method::POST,
                    &format!("{V1}/cart/items"),
                    Some(json!({ "sku": sku, "quantity": quantity })),
                )
                .await?
            }
            CartCmd::Show => self.read(&api, &format!("{V1}/cart")).await?,
            CartCmd::Clear => {
                self.command(&api, Method::DELETE, &format!("{V1}/cart"), None)
                    .await?
            }
        };
        self.print_cart(&v);
        Ok(())
    }

    fn print_cart(&self, v: &Value) {
        self.out.list(
            v,
            &[
                Col("sku", "sku"),
                Col("title", "title"),
                Col("quantity", "quantity"),
                Col("unit price", "unit_price_cents"),
                Col("line total", "line_total_cents"),
            ],
        );
        if !self.out.json {
            println!(
                "total {}",
                money(
                    v["total_cents"].as_i64().unwrap_or_default(),
                    v["currency"].as_str().unwrap_or("USD")
                )
            );
        }
    }

    async fn order(&self, cmd: OrderCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        match cmd {
            OrderCmd::Place(p) => {
                let body = place_body(&p)?;
                let mut v = self
                    .command(&api, Method::POST, &format!("{V1}/orders"), Some(body))
                    .await?;
                if p.follow {
                    let id = v["id"].as_str().unwrap_or_default().to_owned();
                    v = settle(&api, &id, Duration::from_secs(60)).await?;
                }
                self.print_order(&v);
            }
            OrderCmd::Show { id } => {
                let v = self
                    .read(&api, &format!("{V1}/orders/{}", seg(&id)))
                    .await?;
                self.print_order(&v);
            }
            OrderCmd::List(p) => {
                let v = self
                    .read(
                        &api,
                        &format!("{V1}/orders?page={}&page_size={}", p.page, p.page_size),
                    )
                    .await?;
                self.out.list(
                    &v,
                    &[
                        Col("id", "id"),
                        Col("status", "status"),
                        Col("total", "total_cents"),
                        Col("payment", "payment_method"),
                        Col("created", "created_at"),
                    ],
                );
            }
            OrderCmd::Cancel { id } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{V1}/orders/{}/cancel", seg(&id)),
                        None,
                    )
                    .await?;
                self.print_order(&v);
            }
        }
        Ok(())
    }

    fn print_order(&self, v: &Value) {
        if self.out.json {
            return self.out.print_json(v);
        }
        println!(
            "order {}: {}, total {} by {}",
            v["id"].as_str().unwrap_or("?"),
            v["status"].as_str().unwrap_or("?"),
            money(
                v["total_cents"].as_i64().unwrap_or_default(),
                v["currency"].as_str().unwrap_or("USD")
            ),
            v["payment_method"].as_str().unwrap_or("?"),
        );
        if let Some(r) = v["failure_reason"].as_str() {
            println!("failure reason: {r}");
        }
        if let Some(t) = v["tracking_number"].as_str() {
            println!("tracking number: {t}");
        }
        let lines = json!({ "items": v["lines"].clone() });
        self.out.list(
            &lines,
            &[
                Col("sku", "sku"),
                Col("title", "title"),
                Col("quantity", "quantity"),
                Col("unit price", "unit_price_cents"),
            ],
        );
    }

    async fn wallet(&self, cmd: WalletCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        match cmd {
            WalletCmd::Show => {
                let v = self.read(&api, &format!("{V1}/wallet")).await?;
                self.out.done(&balance(&v), &v);
            }
            WalletCmd::Deposit { amount_cents } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{V1}/wallet/deposit"),
                        Some(json!({ "amount_cents": amount_cents })),
                    )
                    .await?;
                self.out.done(
                    &format!("deposited {}; {}", money(amount_cents, "USD"), balance(&v)),
                    &v,
                );
            }
            WalletCmd::Transfers(p) => {
                let v = self
                    .read(
                        &api,
                        &format!("{V1}/transfers?page={}&page_size={}", p.page, p.page_size),
                    )
                    .await?;
                self.out.list(
                    &v,
                    &[
                        Col("id", "id"),
                        Col("from", "from_user_id"),
                        Col("to", "to_user_id"),
                        Col("amount", "amount_cents"),
                        Col("note", "note"),
                        Col("when", "created_at"),
                    ],
                );
            }
        }
        Ok(())
    }

    async fn queue(&self, cmd: QueueCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        let q = |name: &str| format!("{V1}/queues/{}", seg(name));
        match cmd {
            QueueCmd::Create {
                name,
                visibility_timeout_s,
                max_deliveries,
                message_ttl_s,
            } => {
                let mut body = json!({ "name": name });
                if let Some(v) = visibility_timeout_s {
                    body["visibility_timeout_s"] = json!(v);
                }
                if let Some(v) = max_deliveries {
                    body["max_deliveries"] = json!(v);
                }
                if let Some(v) = message_ttl_s {
                    body["message_ttl_s"] = json!(v);
                }
                let v = self
                    .command(&api, Method::POST, &format!("{V1}/queues"), Some(body))
                    .await?;
                self.out.done(&format!("queue {name} created"), &v);
            }
            QueueCmd::List => {
                let v = self.read(&api, &format!("{V1}/queues")).await?;
                self.out.list(
                    &v,
                    &[
                        Col("name", "name"),
                        Col("owner", "owner"),
                        Col("depth", "depth"),
                        Col("in flight", "in_flight"),
                        Col("dead", "dead"),
                    ],
                );
            }
            QueueCmd::Show { name } => {
                self.out.show(&self.read(&api, &q(&name)).await?);
            }
            QueueCmd::Publish {
                name,
                body,
                header,
                delay_s,
            } => {
                let mut headers = serde_json::Map::new();
                for h in header {
                    let (k, v) = h.split_once('=').ok_or_else(|| {
                        ClientError::Other(format!("--header {h:?} is not KEY=VALUE"))
                    })?;
                    headers.insert(k.to_owned(), json!(v));
                }
                let mut msg = json!({ "body": body });
                if !headers.is_empty() {
                    msg["headers"] = Value::Object(headers);
                }
                if let Some(d) = delay_s {
                    msg["delay_s"] = json!(d);
                }
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/messages", q(&name)),
                        Some(msg),
                    )
                    .await?;
                self.out.done(
                    &format!("published message {}", v["id"].as_str().unwrap_or("?")),
                    &v,
                );
            }
            QueueCmd::Receive {
                name,
                max,
                wait_s,
                ack,
            } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/receive", q(&name)),
                        Some(json!({ "max": max, "wait_s": wait_s })),
                    )
                    .await?;
                if self.out.json {
                    self.out.print_json(&v);
                } else {
                    self.out.list(
                        &json!({ "items": v["messages"].clone() }),
                        &[
                            Col("id", "id"),
                            Col("body", "body"),
                            Col("deliveries", "delivery_count"),
                            Col("receipt", "receipt"),
                        ],
                    );
                }
                if ack {
                    for m in v["messages"].as_array().into_iter().flatten() {
                        let id = m["id"].as_str().unwrap_or_default();
                        self.command(
                            &api,
                            Method::POST,
                            &format!("{}/messages/{}/ack", q(&name), seg(id)),
                            Some(json!({ "receipt": m["receipt"] })),
                        )
                        .await?;
                        if !self.out.json {
                            println!("acked {id}");
                        }
                    }
                }
            }
            QueueCmd::Ack { name, id, receipt } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/messages/{}/ack", q(&name), seg(&id)),
                        Some(json!({ "receipt": receipt })),
                    )
                    .await?;
                self.out.done(&format!("acked {id}"), &v);
            }
            QueueCmd::Delete { name } => {
                let v = self.command(&api, Method::DELETE, &q(&name), None).await?;
                self.out.done(&format!("queue {name} deleted"), &v);
            }
            QueueCmd::Grant {
                name,
                to_email,
                permissions,
            } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/grants", q(&name)),
                        Some(json!({ "user_email": to_email, "permissions": permissions })),
                    )
                    .await?;
                self.out.done(
                    &format!("{to_email} may now {} on {name}", permissions.join(" and ")),
                    &v,
                );
            }
        }
        Ok(())
    }

    async fn topic(&self, cmd: TopicCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        let t = |name: &str| format!("{V1}/topics/{}", seg(name));
        match cmd {
            TopicCmd::Create { name } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{V1}/topics"),
                        Some(json!({ "name": name })),
                    )
                    .await?;
                self.out.done(&format!("topic {name} created"), &v);
            }
            TopicCmd::Publish {
                name,
                routing_key,
                body,
            } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/messages", t(&name)),
                        Some(json!({ "routing_key": routing_key, "body": body })),
                    )
                    .await?;
                self.out
                    .done(&format!("published to {name} as {routing_key}"), &v);
            }
            TopicCmd::Bind {
                name,
                queue,
                pattern,
            } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{}/subscriptions", t(&name)),
                        Some(json!({ "queue": queue, "pattern": pattern })),
                    )
                    .await?;
                self.out
                    .done(&format!("queue {queue} bound to {name} for {pattern}"), &v);
            }
        }
        Ok(())
    }

    async fn fault(&self, cmd: FaultCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        let (actor, body) = match cmd {
            FaultCmd::Clear { actor } => {
                let v = self
                    .command(
                        &api,
                        Method::DELETE,
                        &format!("{V1}/admin/faults/{}", seg(&actor)),
                        None,
                    )
                    .await?;
                self.out.done(&format!("faults on {actor} cleared"), &v);
                return Ok(());
            }
            FaultCmd::Kill { actor, down_ms } => {
                let b = json!({ "actor": actor, "action": "kill", "down_ms": down_ms });
                (actor, b)
            }
            FaultCmd::Crash {
                actor,
                count,
                message,
            } => {
                let b = json!({ "actor": actor, "action": "crash_next", "count": count, "message": message });
                (actor, b)
            }
            FaultCmd::Delay { actor, ms } => {
                let b = json!({ "actor": actor, "action": "delay", "ms": ms });
                (actor, b)
            }
            FaultCmd::FailRate {
                actor,
                ratio,
                message,
            } => {
                let b = json!({ "actor": actor, "action": "fail_rate", "ratio": ratio, "message": message });
                (actor, b)
            }
        };
        let action = body["action"].as_str().unwrap_or_default().to_owned();
        let v = self
            .command(
                &api,
                Method::POST,
                &format!("{V1}/admin/faults"),
                Some(body),
            )
            .await?;
        self.out.done(
            &format!(
                "{action} injected into {actor}: now {}, {} restarts",
                v["state"].as_str().unwrap_or("?"),
                v["restarts"]
            ),
            &v,
        );
        Ok(())
    }

    async fn dead_letters(&self, cmd: DeadLetterCmd) -> Result<(), ClientError> {
        let api = self.authed()?;
        match cmd {
            DeadLetterCmd::List(p) => {
                let v = self
                    .read(
                        &api,
                        &format!(
                            "{V1}/admin/dead-letters?page={}&page_size={}",
                            p.page, p.page_size
                        ),
                    )
                    .await?;
                self.out.list(
                    &v,
                    &[
                        Col("id", "id"),
                        Col("destination", "destination"),
                        Col("type", "message_type"),
                        Col("attempts", "attempts"),
                        Col("last error", "last_error"),
                        Col("created", "created_at"),
                    ],
                );
            }
            DeadLetterCmd::Retry { id } => {
                let v = self
                    .command(
                        &api,
                        Method::POST,
                        &format!("{V1}/admin/dead-letters/{}/retry", seg(&id)),
                        None,
                    )
                    .await?;
                self.out
                    .done(&format!("dead letter {id} retried and done"), &v);
            }
        }
        Ok(())
    }
}

fn balance(v: &Value) -> String {
    format!(
        "balance {}",
        money(
            v["balance_cents"].as_i64().unwrap_or_default(),
            v["currency"].as_str().unwrap_or("USD")
        )
    )
}

/// `POST /orders`'s body from `order place`'s flags.
fn place_body(p: &PlaceArgs) -> Result<Value, ClientError> {
    let payment = match (&p.card, p.wallet) {
        (Some(number), false) => {
            let (Some(expiry), Some(cvv)) = (&p.expiry, &p.cvv) else {
                return Err(ClientError::Other(
                    "--card needs --expiry MM/YY and --cvv".into(),
                ));
            };
            json!({ "method": "card", "card": { "number": number, "expiry": expiry, "cvv": cvv } })
        }
        _ => json!({ "method": "wallet" }),
    };
    let mut address = json!({
        "name": p.name, "line1": p.line1, "city": p.city,
        "postal_code": p.postal_code, "country": p.country,
    });
    if let Some(l2) = &p.line2 {
        address["line2"] = json!(l2);
    }
    let mut body = json!({ "payment": payment, "shipping_address": address });
    if !p.item.is_empty() {
        let items = p
            .item
            .iter()
            .map(|i| {
                let (sku, qty) = i.rsplit_once(':').unwrap_or((i, "1"));
                let quantity: i64 = qty.parse().map_err(|_| {
                    ClientError::Other(format!("--item {i:?}: quantity must be a number"))
                })?;
                Ok(json!({ "sku": sku, "quantity": quantity }))
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        body["items"] = json!(items);
    }
    Ok(body)
}

/// Order statuses the saga leaves alone.
pub const SETTLED: [&str; 5] = ["confirmed", "shipped", "delivered", "cancelled", "failed"];

/// Polls an order until its saga settles.
async fn settle(api: &Api, id: &str, within: Duration) -> Result<Value, ClientError> {
    let until = Instant::now() + within;
    loop {
        let v: Value = api.get(&format!("{V1}/orders/{}", seg(id))).await?;
        if SETTLED.contains(&v["status"].as_str().unwrap_or_default()) || Instant::now() > until {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Percent-encodes one path segment or query value.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
