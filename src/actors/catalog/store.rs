//! `catalog.db`.
use diesel::{prelude::*, sqlite::Sqlite};

use super::{Product, CURRENCY};
use crate::problem::{Page, Paged};

diesel::table! {
    /// The products. `title_lc` / `author_lc` are lowercased copies for
    /// case-insensitive search (`author_lc` is empty when there is no author).
    products (sku) {
        sku -> Text,
        title -> Text,
        author -> Nullable<Text>,
        category -> Text,
        description -> Nullable<Text>,
        price_cents -> BigInt,
        currency -> Text,
        title_lc -> Text,
        author_lc -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

type Columns = (
    products::sku,
    products::title,
    products::author,
    products::category,
    products::description,
    products::price_cents,
    products::currency,
);

const COLUMNS: Columns = (
    products::sku,
    products::title,
    products::author,
    products::category,
    products::description,
    products::price_cents,
    products::currency,
);

#[derive(Queryable)]
struct ProductRow {
    sku: String,
    title: String,
    author: Option<String>,
    category: String,
    description: Option<String>,
    price_cents: i64,
    currency: String,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Product {
            sku: r.sku,
            title: r.title,
            author: r.author,
            category: r.category,
            description: r.description,
            price_cents: r.price_cents,
            currency: r.currency,
        }
    }
}

/// `%needle%` for LIKE, with `\`, `%` and `_` escaped (escape char `\`).
fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The filtered product query (`search` already lowercased).
fn filtered<'a>(
    search: Option<&'a str>,
    category: Option<&'a str>,
) -> products::BoxedQuery<'a, Sqlite> {
    let mut query = products::table.into_boxed();
    if let Some(s) = search {
        let pattern = contains_pattern(s);
        query = query.filter(
            products::title_lc
                .like(pattern.clone())
                .escape('\\')
                .or(products::author_lc.like(pattern).escape('\\')),
        );
    }
    if let Some(c) = category {
        query = query.filter(products::category.eq(c));
    }
    query
}

pub struct CatalogStore<'a>(pub &'a mut SqliteConnection);

impl CatalogStore<'_> {
    pub fn get(&mut self, sku: &str) -> QueryResult<Option<Product>> {
        Ok(products::table
            .find(sku)
            .select(COLUMNS)
            .first::<ProductRow>(self.0)
            .optional()?
            .map(Product::from))
    }

    /// The products among `skus` that exist, by sku.
    pub fn many(&mut self, skus: &[String]) -> QueryResult<Vec<Product>> {
        Ok(products::table
            .filter(products::sku.eq_any(skus))
            .order(products::sku.asc())
            .select(COLUMNS)
            .load::<ProductRow>(self.0)?
            .into_iter()
            .map(Product::from)
            .collect())
    }

    pub fn insert(&mut self, p: &Product, at: i64) -> QueryResult<()> {
        diesel::insert_into(products::table)
            .values((
                products::sku.eq(&p.sku),
                products::title.eq(&p.title),
                products::author.eq(&p.author),
                products::category.eq(&p.category),
                products::description.eq(&p.description),
                products::price_cents.eq(p.price_cents),
                products::currency.eq(CURRENCY),
                products::title_lc.eq(p.title.to_lowercase()),
                products::author_lc.eq(p.author.as_deref().unwrap_or("").to_lowercase()),
                products::created_at.eq(at),
                products::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn update(&mut self, p: &Product, at: i64) -> QueryResult<()> {
        diesel::update(products::table.find(&p.sku))
            .set((
                products::title.eq(&p.title),
                products::author.eq(&p.author),
                products::category.eq(&p.category),
                products::description.eq(&p.description),
                products::price_cents.eq(p.price_cents),
                products::currency.eq(CURRENCY),
                products::title_lc.eq(p.title.to_lowercase()),
                products::author_lc.eq(p.author.as_deref().unwrap_or("").to_lowercase()),
                products::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn delete(&mut self, sku: &str) -> QueryResult<()> {
        diesel::delete(products::table.find(sku))
            .execute(self.0)
            .map(|_| ())
    }

    /// Search (`search` lowercased) and filter, by sku, one page.
    pub fn list(
        &mut self,
        search: Option<&str>,
        category: Option<&str>,
        page: Page,
    ) -> QueryResult<Paged<Product>> {
        let total: i64 = filtered(search, category).count().get_result(self.0)?;
        let items = filtered(search, category)
            .order(products::sku.asc())
            .offset(page.offset())
            .limit(page.limit())
            .select(COLUMNS)
            .load::<ProductRow>(self.0)?
            .into_iter()
            .map(Product::from)
            .collect();
        Ok(Paged {
            items,
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("rust"), "%rust%");
        assert_eq!(contains_pattern("50%_\\"), "%50\\%\\_\\\\%");
    }
}
