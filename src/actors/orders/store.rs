//! `orders.db`.
