//! The orders actor and its saga (placeholder until the saga lands).
use diesel::SqliteConnection;

use super::messages::*;
use crate::{
    actors::{Effects, Failure, Incoming, Service},
    mom::{ExecOptions, Executed, Mom, MomError},
    problem::Problem,
};

/// Prices the lines (from the cart when none are given), tokenizes the
/// card, and places the order.
pub async fn place(
    _mom: &Mom,
    _cmd: PlaceOrder,
    _opts: ExecOptions,
) -> Result<Executed<OrderView>, MomError> {
    Err(Problem::unavailable("orders are not implemented yet").into())
}

#[derive(Debug, Default)]
pub struct Orders;

impl Service for Orders {
    const NAME: &'static str = NAME;

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("orders does not handle `{}`", msg.kind)).into())
    }
}
