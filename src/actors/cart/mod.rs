//! `cart`: one cart per user, priced from the catalog's events; cleared by order.created.
use diesel::SqliteConnection;

use super::{Effects, Failure, Incoming, Service};
use crate::problem::Problem;

#[derive(Debug, Default)]
pub struct Cart;

impl Service for Cart {
    const NAME: &'static str = "cart";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("cart does not handle `{}`", msg.kind)).into())
    }
}
