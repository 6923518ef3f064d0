//! `cart.db`: the carts and the cart's replica of the catalog.
use diesel::prelude::*;
use uuid::Uuid;

use super::{CartItem, CartView, CURRENCY};

diesel::table! {
    /// Titles and current prices, kept by the `catalog.product.*` events.
    catalog_products (sku) {
        sku -> Text,
        title -> Text,
        price_cents -> BigInt,
        currency -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// One row per (user, sku) in a cart.
    cart_items (user_id, sku) {
        user_id -> Text,
        sku -> Text,
        quantity -> BigInt,
        added_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(catalog_products, cart_items);

pub struct CartStore<'a>(pub &'a mut SqliteConnection);

impl CartStore<'_> {
    // ---- the replica -----------------------------------------------------

    /// Inserts or replaces a product's title and price.
    pub fn upsert_product(
        &mut self,
        sku: &str,
        title: &str,
        price_cents: i64,
        at: i64,
    ) -> QueryResult<()> {
        diesel::replace_into(catalog_products::table)
            .values((
                catalog_products::sku.eq(sku),
                catalog_products::title.eq(title),
                catalog_products::price_cents.eq(price_cents),
                catalog_products::currency.eq(CURRENCY),
                catalog_products::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Forgets a product and takes it out of every cart.
    pub fn delete_product(&mut self, sku: &str) -> QueryResult<()> {
        diesel::delete(cart_items::table.filter(cart_items::sku.eq(sku))).execute(self.0)?;
        diesel::delete(catalog_products::table.find(sku))
            .execute(self.0)
            .map(|_| ())
    }

    /// Does the replica know `sku`?
    pub fn knows(&mut self, sku: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(catalog_products::table.find(sku))).get_result(self.0)
    }

    // ---- carts -----------------------------------------------------------

    /// The quantity of `sku` in the user's cart, if it is there.
    pub fn quantity(&mut self, user_id: Uuid, sku: &str) -> QueryResult<Option<i64>> {
        cart_items::table
            .find((user_id.to_string(), sku))
            .select(cart_items::quantity)
            .first(self.0)
            .optional()
    }

    /// How many lines the user's cart has.
    pub fn lines(&mut self, user_id: Uuid) -> QueryResult<i64> {
        cart_items::table
            .filter(cart_items::user_id.eq(user_id.to_string()))
            .count()
            .get_result(self.0)
    }

    pub fn add_line(
        &mut self,
        user_id: Uuid,
        sku: &str,
        quantity: i64,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(cart_items::table)
            .values((
                cart_items::user_id.eq(user_id.to_string()),
                cart_items::sku.eq(sku),
                cart_items::quantity.eq(quantity),
                cart_items::added_at.eq(at),
                cart_items::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn set_quantity(
        &mut self,
        user_id: Uuid,
        sku: &str,
        quantity: i64,
        at: i64,
    ) -> QueryResult<()> {
        diesel::update(cart_items::table.find((user_id.to_string(), sku)))
            .set((
                cart_items::quantity.eq(quantity),
                cart_items::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn remove_line(&mut self, user_id: Uuid, sku: &str) -> QueryResult<()> {
        diesel::delete(cart_items::table.find((user_id.to_string(), sku)))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn clear(&mut self, user_id: Uuid) -> QueryResult<()> {
        diesel::delete(cart_items::table.filter(cart_items::user_id.eq(user_id.to_string())))
            .execute(self.0)
            .map(|_| ())
    }

    /// The user's cart at the replica's current prices, lines in the order
    /// they were added.
    pub fn view(&mut self, user_id: Uuid) -> QueryResult<CartView> {
        let rows: Vec<(String, String, i64, i64)> = cart_items::table
            .inner_join(catalog_products::table.on(catalog_products::sku.eq(cart_items::sku)))
            .filter(cart_items::user_id.eq(user_id.to_string()))
            .order((cart_items::added_at.asc(), cart_items::sku.asc()))
            .select((
                cart_items::sku,
                catalog_products::title,
                cart_items::quantity,
                catalog_products::price_cents,
            ))
            .load(self.0)?;
        let items: Vec<CartItem> = rows
            .into_iter()
            .map(|(sku, title, quantity, unit_price_cents)| CartItem {
                sku,
                title,
                quantity,
                unit_price_cents,
                line_total_cents: quantity.saturating_mul(unit_price_cents),
            })
            .collect();
        let total_cents = items
            .iter()
            .fold(0i64, |t, i| t.saturating_add(i.line_total_cents));
        Ok(CartView {
            items,
            total_cents,
            currency: CURRENCY.into(),
        })
    }
}
