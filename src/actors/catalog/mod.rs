//! `catalog`: products — browse, search, admin writes. Publishes
//! `catalog.product.created|updated|deleted`. Seeds a demo catalog on first
//! start ([`seed_demo`]).
//!
//! Rules (checked before a command is journaled, and again when applied):
//! - `sku`: 1 to 64 characters of `A-Z a-z 0-9 - _ .` (not `.` or `..`,
//!   which no URL can address); the id, never changes.
//! - `title`: 1 to 200 characters; `author`: at most 200 (blank means none);
//!   `category`: 1 to 50 characters (filtered exactly); `description`: at
//!   most 4000 (blank means none). No control characters (the description may
//!   hold line breaks and tabs). Surrounding whitespace is trimmed.
//! - `price_cents`: 1 to 100 000 000; `currency`: `USD`.
//! - `initial_stock` (create only): 0 to 1 000 000, handed to `inventory`
//!   through `catalog.product.created`.
//!
//! Search (`q`) is a case-insensitive substring match over title and author;
//! lists are ordered by sku. A `q` or `category` holding a control
//! character (NUL included) is refused with 422.
mod store;

#[allow(unused_imports)]
use crate::mom::{Destination as _, Message as _};
use std::time::Duration;

use diesel::SqliteConnection;
use serde::{Deserialize, Serialize};

use super::{Effects, Failure, Incoming, Service};
use crate::{
    mom::{Command, Event, ExecOptions, Executed, Mom, MomError, Query},
    problem::{Page, Paged, Problem},
};

pub use store::CatalogStore;

pub const CURRENCY: &str = "USD";
pub const MAX_SKU: usize = 64;
/// [`valid_sku`] as a regular expression, for the OpenAPI document.
pub const SKU_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,64}$";
pub const MAX_TITLE: usize = 200;
pub const MAX_AUTHOR: usize = 200;
pub const MAX_CATEGORY: usize = 50;
pub const MAX_DESCRIPTION: usize = 4000;
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_INITIAL_STOCK: i64 = 1_000_000;
/// Longest search string.
pub const MAX_QUERY: usize = 200;
/// Most skus in one [`PriceList`].
pub const MAX_PRICE_LIST: usize = 1000;

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

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Invalid(String),
    #[error("no product with sku {0:?}")]
    NotFound(String),
    #[error("a product with sku {0:?} already exists")]
    Duplicate(String),
}

impl From<CatalogError> for Problem {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(d) => Problem::invalid(d),
            CatalogError::NotFound(_) => Problem::not_found(e.to_string()),
            CatalogError::Duplicate(_) => Problem::conflict(e.to_string()),
        }
    }
}

impl From<CatalogError> for Failure {
    fn from(e: CatalogError) -> Self {
        Failure::Rejected(e.into())
    }
}

/// Is `sku` well formed (1 to 64 characters of `A-Za-z0-9-_.`, not `.` or
/// `..`)?
pub fn valid_sku(sku: &str) -> bool {
    !sku.is_empty()
        && sku.len() <= MAX_SKU
        // Clients resolve these path segments away: `/products/..` could
        // never be addressed.
        && sku != "."
        && sku != ".."
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_sku(sku: &str) -> Result<(), Problem> {
    if valid_sku(sku) {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "sku must be 1 to {MAX_SKU} characters of A-Z, a-z, 0-9, '-', '_' and '.' (not \".\" or \"..\")"
        ))
        .into())
    }
}

/// A trimmed text field: `None` when blank; errors when too long or when it
/// holds control characters (`multiline` allows line breaks and tabs).
fn text(
    name: &str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, Problem> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(
            CatalogError::Invalid(format!("{name} must be at most {max} characters")).into(),
        );
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(
            CatalogError::Invalid(format!("{name} must not contain control characters")).into(),
        );
    }
    Ok(Some(v.to_owned()))
}

fn required(name: &str, value: &str, max: usize) -> Result<String, Problem> {
    text(name, Some(value), max, false)?
        .ok_or_else(|| CatalogError::Invalid(format!("{name} must not be blank")).into())
}

/// Validates a product and returns it normalized (trimmed, blanks as none).
pub fn normalize(p: &Product) -> Result<Product, Problem> {
    check_sku(&p.sku)?;
    let title = required("title", &p.title, MAX_TITLE)?;
    let author = text("author", p.author.as_deref(), MAX_AUTHOR, false)?;
    let category = required("category", &p.category, MAX_CATEGORY)?;
    let description = text(
        "description",
        p.description.as_deref(),
        MAX_DESCRIPTION,
        true,
    )?;
    if !(1..=MAX_PRICE_CENTS).contains(&p.price_cents) {
        return Err(CatalogError::Invalid(format!(
            "price_cents must be between 1 and {MAX_PRICE_CENTS}"
        ))
        .into());
    }
    if p.currency != CURRENCY {
        return Err(CatalogError::Invalid(format!("currency must be {CURRENCY}")).into());
    }
    Ok(Product {
        sku: p.sku.clone(),
        title,
        author,
        category,
        description,
        price_cents: p.price_cents,
        currency: CURRENCY.into(),
    })
}

fn check_stock(stock: Option<i64>) -> Result<(), Problem> {
    match stock {
        Some(s) if !(0..=MAX_INITIAL_STOCK).contains(&s) => Err(CatalogError::Invalid(format!(
            "initial_stock must be between 0 and {MAX_INITIAL_STOCK}"
        ))
        .into()),
        _ => Ok(()),
    }
}

// ---- messages (contract; see the handlers below) -------------------------

/// Admin: create a product; `initial_stock` seeds inventory through the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateProduct {
    pub product: Product,
    pub initial_stock: Option<i64>,
}
impl crate::mom::Message for CreateProduct {
    type To = Catalog;
    const KIND: &'static str = "create_product";
    type Reply = Product;
    fn validate(&self) -> Result<(), Problem> {
        normalize(&self.product)?;
        check_stock(self.initial_stock)
    }
}
impl Command for CreateProduct {}
impl crate::mom::Handles<CreateProduct> for Catalog {}

/// Admin: replace a product's fields (sku stays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateProduct {
    pub product: Product,
}
impl crate::mom::Message for UpdateProduct {
    type To = Catalog;
    const KIND: &'static str = "update_product";
    type Reply = Product;
    fn validate(&self) -> Result<(), Problem> {
        if !valid_sku(&self.product.sku) {
            // It cannot exist.
            return Err(CatalogError::NotFound(self.product.sku.clone()).into());
        }
        normalize(&self.product).map(|_| ())
    }
}
impl Command for UpdateProduct {}
impl crate::mom::Handles<UpdateProduct> for Catalog {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteProduct {
    pub sku: String,
}
impl crate::mom::Message for DeleteProduct {
    type To = Catalog;
    const KIND: &'static str = "delete_product";
    type Reply = Product;
    fn validate(&self) -> Result<(), Problem> {
        if valid_sku(&self.sku) {
            Ok(())
        } else {
            Err(CatalogError::NotFound(self.sku.clone()).into())
        }
    }
}
impl Command for DeleteProduct {}
impl crate::mom::Handles<DeleteProduct> for Catalog {}

/// Search over title and author (`q`), filter by category, paginate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListProducts {
    pub q: Option<String>,
    pub category: Option<String>,
    pub page: Page,
}
impl crate::mom::Message for ListProducts {
    type To = Catalog;
    const KIND: &'static str = "list_products";
    type Reply = Paged<Product>;
    fn validate(&self) -> Result<(), Problem> {
        // No stored title, author or category holds a control character, so
        // such a search could only match nothing — and SQLite's LIKE stops
        // at a NUL, so `%00` would match everything. Refuse it instead.
        for (field, v) in [("q", &self.q), ("category", &self.category)] {
            if v.as_ref().is_some_and(|v| v.chars().any(char::is_control)) {
                return Err(CatalogError::Invalid(format!(
                    "{field} must not contain control characters"
                ))
                .into());
            }
        }
        if self
            .q
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY)
        {
            return Err(
                CatalogError::Invalid(format!("q must be at most {MAX_QUERY} characters")).into(),
            );
        }
        if self
            .category
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_CATEGORY)
        {
            return Err(CatalogError::Invalid(format!(
                "category must be at most {MAX_CATEGORY} characters"
            ))
            .into());
        }
        Ok(())
    }
}
impl Query for ListProducts {}
impl crate::mom::Handles<ListProducts> for Catalog {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetProduct {
    pub sku: String,
}
impl crate::mom::Message for GetProduct {
    type To = Catalog;
    const KIND: &'static str = "get_product";
    type Reply = Product;
}
impl Query for GetProduct {}
impl crate::mom::Handles<GetProduct> for Catalog {}

/// The products among `skus` that exist (unknown skus are left out).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriceList {
    pub skus: Vec<String>,
}
impl crate::mom::Message for PriceList {
    type To = Catalog;
    const KIND: &'static str = "price_list";
    type Reply = Vec<Product>;
    fn validate(&self) -> Result<(), Problem> {
        if self.skus.len() > MAX_PRICE_LIST {
            return Err(CatalogError::Invalid(format!(
                "at most {MAX_PRICE_LIST} skus per price list"
            ))
            .into());
        }
        Ok(())
    }
}
impl Query for PriceList {}
impl crate::mom::Handles<PriceList> for Catalog {}

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

// ---- the demo catalog ------------------------------------------------------

/// (sku, title, author, category, description, price_cents, initial_stock)
type DemoBook = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
);

/// The demo catalog: public-domain classics and well-known titles. Three
/// have low stock (3, 2, 4) so low-stock alerts show up quickly.
#[rustfmt::skip]
const DEMO_BOOKS: &[DemoBook] = &[
    ("BK-0001", "Pride and Prejudice", "Jane Austen", "fiction", "The Bennet sisters, Mr Darcy, and first impressions.", 999, 40),
    ("BK-0002", "Moby-Dick", "Herman Melville", "fiction", "Captain Ahab hunts the white whale.", 1299, 25),
    ("BK-0003", "Frankenstein", "Mary Shelley", "fiction", "A scientist creates life and flees from it.", 899, 30),
    ("BK-0004", "The Adventures of Sherlock Holmes", "Arthur Conan Doyle", "fiction", "Twelve cases from 221B Baker Street.", 1099, 35),
    ("BK-0005", "Crime and Punishment", "Fyodor Dostoevsky", "fiction", "Raskolnikov's crime and its long reckoning.", 1499, 20),
    ("BK-0006", "Jane Eyre", "Charlotte Bronte", "fiction", "An orphan governess and the secrets of Thornfield Hall.", 1050, 3),
    ("BK-0007", "The Great Gatsby", "F. Scott Fitzgerald", "fiction", "Jay Gatsby's parties and the green light across the bay.", 1199, 45),
    ("BK-0008", "Dracula", "Bram Stoker", "fiction", "Letters and diaries of a hunt for the Count.", 950, 28),
    ("BK-0009", "War and Peace", "Leo Tolstoy", "fiction", "Five families through Napoleon's invasion of Russia.", 1899, 12),
    ("BK-0010", "A Brief History of Time", "Stephen Hawking", "science", "From the big bang to black holes, for everyone.", 1899, 30),
    ("BK-0011", "On the Origin of Species", "Charles Darwin", "science", "Evolution by natural selection, as first argued.", 1450, 15),
    ("BK-0012", "The Selfish Gene", "Richard Dawkins", "science", "Evolution seen from the gene's point of view.", 1699, 22),
    ("BK-0013", "Cosmos", "Carl Sagan", "science", "A personal voyage through the universe.", 1999, 18),
    ("BK-0014", "The Double Helix", "James D. Watson", "science", "How the structure of DNA was found.", 1350, 2),
    ("BK-0015", "Silent Spring", "Rachel Carson", "science", "Pesticides, birds, and the birth of environmentalism.", 1550, 16),
    ("BK-0016", "Relativity: The Special and the General Theory", "Albert Einstein", "science", "Einstein explains relativity without heavy mathematics.", 799, 24),
    ("BK-0017", "The Feynman Lectures on Physics, Volume I", "Richard P. Feynman", "science", "Mechanics, radiation and heat, as taught at Caltech.", 5999, 8),
    ("BK-0018", "The Histories", "Herodotus", "history", "The Greco-Persian wars and the peoples around them.", 1599, 14),
    ("BK-0019", "The History of the Peloponnesian War", "Thucydides", "history", "Athens against Sparta, by an Athenian general.", 1499, 11),
    ("BK-0020", "The Decline and Fall of the Roman Empire", "Edward Gibbon", "history", "Rome from the Antonines to the fall of Constantinople.", 2499, 9),
    ("BK-0021", "Guns, Germs, and Steel", "Jared Diamond", "history", "Why history unfolded differently on different continents.", 1899, 26),
    ("BK-0022", "The Guns of August", "Barbara W. Tuchman", "history", "The first month of the First World War.", 1799, 13),
    ("BK-0023", "SPQR: A History of Ancient Rome", "Mary Beard", "history", "A thousand years of Rome, from its myths onwards.", 2199, 17),
    ("BK-0024", "The Rust Programming Language", "Steve Klabnik and Carol Nichols", "programming", "The official guide to Rust: ownership, traits, concurrency.", 3999, 50),
    ("BK-0025", "Structure and Interpretation of Computer Programs", "Harold Abelson and Gerald Jay Sussman", "programming", "Programs as a way of thinking, in Scheme.", 4999, 10),
    ("BK-0026", "The C Programming Language", "Brian W. Kernighan and Dennis M. Ritchie", "programming", "The classic, concise introduction to C.", 4599, 21),
    ("BK-0027", "Designing Data-Intensive Applications", "Martin Kleppmann", "programming", "Storage, replication, partitioning and streams, explained.", 4499, 33),
    ("BK-0028", "The Pragmatic Programmer", "David Thomas and Andrew Hunt", "programming", "Practical advice for the working programmer.", 3899, 27),
    ("BK-0029", "Programming Rust", "Jim Blandy, Jason Orendorff and Leonora Tindall", "programming", "Fast, safe systems development with Rust.", 5499, 4),
    ("BK-0030", "Introduction to Algorithms", "Thomas H. Cormen et al.", "programming", "The comprehensive reference on algorithms.", 5999, 7),
    ("BK-0031", "Alice's Adventures in Wonderland", "Lewis Carroll", "children", "Down the rabbit hole to a mad tea party.", 699, 42),
    ("BK-0032", "The Wonderful Wizard of Oz", "L. Frank Baum", "children", "Dorothy follows the yellow brick road.", 750, 38),
    ("BK-0033", "Peter Pan", "J. M. Barrie", "children", "The boy who would not grow up, and Neverland.", 650, 31),
    ("BK-0034", "The Wind in the Willows", "Kenneth Grahame", "children", "Mole, Rat, Badger and the irrepressible Toad.", 599, 29),
    ("BK-0035", "Treasure Island", "Robert Louis Stevenson", "children", "Jim Hawkins, Long John Silver, and a map.", 799, 36),
    ("BK-0036", "The Secret Garden", "Frances Hodgson Burnett", "children", "A locked garden brought back to life.", 699, 19),
];

/// The demo catalog's products with their initial stock.
pub fn demo_products() -> Vec<(Product, i64)> {
    DEMO_BOOKS
        .iter()
        .map(
            |&(sku, title, author, category, description, price_cents, stock)| {
                (
                    Product {
                        sku: sku.into(),
                        title: title.into(),
                        author: Some(author.into()),
                        category: category.into(),
                        description: Some(description.into()),
                        price_cents,
                        currency: CURRENCY.into(),
                    },
                    stock,
                )
            },
        )
        .collect()
}

/// How long seeding waits for the events it caused to be delivered.
const SEED_SETTLE: Duration = Duration::from_secs(10);

/// Seeds the demo catalog (with stock) if the catalog is empty.
///
/// Each product is created with the idempotency key `seed:<sku>`, so a
/// seed interrupted by a crash and run again creates nothing twice. When it
/// created anything, it then waits (bounded) until the MOM has delivered
/// every pending envelope, so the node announces itself ready only once
/// `cart` and `inventory` know the demo products too.
pub async fn seed_demo(mom: &Mom) -> anyhow::Result<()> {
    let first = ListProducts {
        q: None,
        category: None,
        page: Page::new(Some(1), Some(1))?,
    };
    // The catalog actor registers asynchronously; give it a moment.
    let mut tries = 0;
    let total = loop {
        match mom.ask(&first, Duration::from_secs(5)).await {
            Ok(p) => break p.total,
            Err(MomError::Unavailable(_)) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("looking at the catalog: {e}")),
        }
    };
    if total > 0 {
        return Ok(());
    }
    let creates = demo_products()
        .into_iter()
        .map(|(product, stock)| async move {
            let sku = product.sku.clone();
            let cmd = CreateProduct {
                product,
                initial_stock: Some(stock),
            };
            let opts = ExecOptions {
                owner: None,
                idempotency_key: Some(format!("seed:{sku}")),
                wait: Duration::from_secs(30),
            };
            (sku, mom.execute(&cmd, opts).await)
        });
    let mut created = 0;
    for (sku, res) in futures::future::join_all(creates).await {
        match res {
            Ok(Executed::Done(_)) => created += 1,
            Ok(Executed::Accepted(id)) => {
                tracing::warn!(%sku, operation = %id, "demo product accepted but not yet created")
            }
            Err(MomError::Rejected(p)) if p.kind == crate::problem::ProblemKind::Conflict => {}
            Err(e) => tracing::warn!(%sku, error = %e, "seeding a demo product failed"),
        }
    }
    tracing::info!(created, "demo catalog seeded");
    // Let the events reach their subscribers before the node says "ready".
    let until = tokio::time::Instant::now() + SEED_SETTLE;
    loop {
        let pending: i64 = mom
            .counts()
            .await
            .iter()
            .filter(|(status, _)| status == "pending")
            .map(|(_, n)| *n)
            .sum();
        if pending == 0 {
            break;
        }
        if tokio::time::Instant::now() >= until {
            tracing::warn!(
                pending,
                "demo catalog events still pending; continuing anyway"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

// ---- the actor -----------------------------------------------------------

#[derive(Debug, Default)]
pub struct Catalog;

impl crate::mom::Destination for Catalog {
    const NAME: &'static str = "catalog";
}

impl Service for Catalog {
    fn handle(
        &mut self,
        conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        let mut store = CatalogStore(conn);
        match msg.kind {
            CreateProduct::KIND => {
                let cmd: CreateProduct = msg.decode()?;
                check_stock(cmd.initial_stock)?;
                let product = normalize(&cmd.product)?;
                if store.get(&product.sku)?.is_some() {
                    return Err(CatalogError::Duplicate(product.sku).into());
                }
                store.insert(&product, msg.created_at)?;
                Ok(Effects::reply(&product)?.publish(&ProductCreated {
                    product: product.clone(),
                    initial_stock: cmd.initial_stock,
                }))
            }
            UpdateProduct::KIND => {
                let cmd: UpdateProduct = msg.decode()?;
                if !valid_sku(&cmd.product.sku) || store.get(&cmd.product.sku)?.is_none() {
                    return Err(CatalogError::NotFound(cmd.product.sku).into());
                }
                let product = normalize(&cmd.product)?;
                store.update(&product, msg.created_at)?;
                Ok(Effects::reply(&product)?.publish(&ProductUpdated {
                    product: product.clone(),
                }))
            }
            DeleteProduct::KIND => {
                let cmd: DeleteProduct = msg.decode()?;
                let product = store
                    .get(&cmd.sku)?
                    .ok_or(CatalogError::NotFound(cmd.sku))?;
                store.delete(&product.sku)?;
                Ok(Effects::reply(&product)?.publish(&ProductDeleted {
                    sku: product.sku.clone(),
                }))
            }
            ListProducts::KIND => {
                let q: ListProducts = msg.decode()?;
                q.validate()?;
                let search =
                    q.q.as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_lowercase);
                let category = q.category.as_deref().filter(|c| !c.is_empty());
                Effects::reply(&store.list(search.as_deref(), category, q.page)?)
            }
            GetProduct::KIND => {
                let q: GetProduct = msg.decode()?;
                let product = store.get(&q.sku)?.ok_or(CatalogError::NotFound(q.sku))?;
                Effects::reply(&product)
            }
            PriceList::KIND => {
                let q: PriceList = msg.decode()?;
                q.validate()?;
                Effects::reply(&store.many(&q.skus)?)
            }
            other => Err(Problem::bad_request(format!("catalog does not handle `{other}`")).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Product {
        demo_products().remove(0).0
    }

    #[test]
    fn skus_are_short_and_plain() {
        assert!(valid_sku("BK-0001"));
        assert!(valid_sku("a.b_c-9"));
        assert!(!valid_sku(""));
        assert!(!valid_sku("has space"));
        assert!(!valid_sku("é"));
        assert!(!valid_sku(".") && !valid_sku(".."));
        assert!(valid_sku("..."));
        assert!(!valid_sku(&"x".repeat(65)));
        assert!(valid_sku(&"x".repeat(64)));
    }

    #[test]
    fn normalize_trims_and_refuses() {
        let mut p = book();
        p.title = "  Title  ".into();
        p.author = Some("   ".into());
        p.description = Some("line one\nline two".into());
        let n = normalize(&p).unwrap();
        assert_eq!(n.title, "Title");
        assert_eq!(n.author, None);
        assert_eq!(n.description.as_deref(), Some("line one\nline two"));

        for bad in [
            Product {
                title: " ".into(),
                ..book()
            },
            Product {
                title: "x".repeat(201),
                ..book()
            },
            Product {
                title: "a\u{0}b".into(),
                ..book()
            },
            Product {
                category: String::new(),
                ..book()
            },
            Product {
                price_cents: 0,
                ..book()
            },
            Product {
                price_cents: MAX_PRICE_CENTS + 1,
                ..book()
            },
            Product {
                currency: "EUR".into(),
                ..book()
            },
            Product {
                sku: "no spaces".into(),
                ..book()
            },
        ] {
            let e = normalize(&bad).unwrap_err();
            assert_eq!(
                e.kind,
                crate::problem::ProblemKind::Unprocessable,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_demo_catalog_is_valid_and_has_low_stock() {
        let all = demo_products();
        assert!(all.len() >= 30);
        for (p, stock) in &all {
            assert_eq!(&normalize(p).unwrap(), p);
            assert!((500..=6000).contains(&p.price_cents), "{p:?}");
            assert!(*stock > 0);
        }
        assert!(all.iter().filter(|(_, s)| *s < 5).count() >= 2);
        let skus: std::collections::HashSet<_> = all.iter().map(|(p, _)| &p.sku).collect();
        assert_eq!(skus.len(), all.len());
    }
}
