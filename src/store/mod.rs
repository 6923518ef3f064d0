//! Stores: one SQLite file per service plus the MOM's journal, each behind an
//! r2d2 pool of Diesel connections with durable pragmas, migrated on open.
//!
//! Durability: WAL with `synchronous=FULL`, so a commit is on disk (fsync of
//! the WAL) before it returns. Every service's database has an `inbox` table
//! (see [`inbox`]) — the effectively-once record.
pub mod schema;

use std::{path::Path, time::Duration};

use anyhow::Context as _;
use diesel::{
    connection::SimpleConnection,
    r2d2::{ConnectionManager, CustomizeConnection},
    SqliteConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

/// The connection every store function takes: one name for it, so a second
/// backend changes one line.
pub type Db = SqliteConnection;
pub type Pool = r2d2::Pool<ConnectionManager<SqliteConnection>>;
pub type Conn = r2d2::PooledConnection<ConnectionManager<SqliteConnection>>;

/// Per-database embedded migrations (`migrations/<db>/`).
pub mod migrations {
    use diesel_migrations::{embed_migrations, EmbeddedMigrations};
    pub const MOM: EmbeddedMigrations = embed_migrations!("migrations/mom");
    pub const USERS: EmbeddedMigrations = embed_migrations!("migrations/users");
    pub const WALLETS: EmbeddedMigrations = embed_migrations!("migrations/wallets");
    pub const NOTIFICATIONS: EmbeddedMigrations = embed_migrations!("migrations/notifications");
    pub const CATALOG: EmbeddedMigrations = embed_migrations!("migrations/catalog");
    pub const INVENTORY: EmbeddedMigrations = embed_migrations!("migrations/inventory");
    pub const CART: EmbeddedMigrations = embed_migrations!("migrations/cart");
    pub const ORDERS: EmbeddedMigrations = embed_migrations!("migrations/orders");
    pub const PAYMENTS: EmbeddedMigrations = embed_migrations!("migrations/payments");
    pub const SHIPPING: EmbeddedMigrations = embed_migrations!("migrations/shipping");
    pub const ANALYTICS: EmbeddedMigrations = embed_migrations!("migrations/analytics");
    pub const QUEUES: EmbeddedMigrations = embed_migrations!("migrations/queues");
}

/// The pragmas every connection gets.
#[derive(Debug, Clone, Copy)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        apply_pragmas(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// WAL + `synchronous=FULL` (a commit survives power loss), a busy timeout
/// instead of immediate `SQLITE_BUSY`, and foreign keys on.
pub fn apply_pragmas(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
}

/// Opens (creating if needed) `path`, runs `migrations`, and returns a pool.
pub fn open(path: &Path, migrations: EmbeddedMigrations, max_size: u32) -> anyhow::Result<Pool> {
    let url = path.to_str().context("database path is not UTF-8")?;
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::<SqliteConnection>::new(url))
        .with_context(|| format!("opening {}", path.display()))?;
    let mut conn = pool.get()?;
    conn.run_pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("migrating {}: {e}", path.display()))?;
    Ok(pool)
}

/// The inbox: envelope id → recorded outcome, written in the same transaction
/// as the state change it records.
pub mod inbox {
    use diesel::prelude::*;

    use super::schema::inbox;

    pub fn get(conn: &mut SqliteConnection, id: &str) -> QueryResult<Option<String>> {
        inbox::table
            .find(id)
            .select(inbox::outcome)
            .first(conn)
            .optional()
    }

    /// Deletes records written before `before_ms`.
    pub fn prune(conn: &mut SqliteConnection, before_ms: i64) -> QueryResult<usize> {
        diesel::delete(inbox::table.filter(inbox::processed_at.lt(before_ms))).execute(conn)
    }

    pub fn put(conn: &mut SqliteConnection, id: &str, outcome: &str) -> QueryResult<()> {
        diesel::insert_into(inbox::table)
            .values((
                inbox::envelope_id.eq(id),
                inbox::outcome.eq(outcome),
                inbox::processed_at.eq(crate::problem::now_ms()),
            ))
            .execute(conn)
            .map(|_| ())
    }
}
