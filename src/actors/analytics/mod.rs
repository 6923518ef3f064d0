//! `analytics`: sales totals by product and by day, built only from consumed events.
use diesel::SqliteConnection;

use super::{Effects, Failure, Incoming, Service};
use crate::problem::Problem;

#[derive(Debug, Default)]
pub struct Analytics;

impl Service for Analytics {
    const NAME: &'static str = "analytics";

    fn handle(
        &mut self,
        _conn: &mut SqliteConnection,
        msg: &Incoming<'_>,
    ) -> Result<Effects, Failure> {
        Err(Problem::bad_request(format!("analytics does not handle `{}`", msg.kind)).into())
    }
}
