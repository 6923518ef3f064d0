//! What the client prints: human tables by default (comfy-table), the
//! node's JSON with `--json`, and errors as one line on stderr.
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;

/// A column of a list: its header and the field it shows.
#[derive(Debug, Clone, Copy)]
pub struct Col(pub &'static str, pub &'static str);

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// One object: a field/value table, or its JSON.
    pub fn show(&self, v: &Value) {
        if self.json {
            return self.print_json(v);
        }
        match v {
            Value::Object(o) => {
                let mut t = table();
                t.set_header(vec!["field", "value"]);
                for (k, x) in o {
                    t.add_row(vec![k.clone(), cell(k, x, v)]);
                }
                println!("{t}");
            }
            other => println!("{}", cell("", other, other)),
        }
    }

    /// A list (an array, or a page `{items, page, page_size, total}`) as a
    /// table of `cols`, or its JSON.
    pub fn list(&self, v: &Value, cols: &[Col]) {
        if self.json {
            return self.print_json(v);
        }
        let items = v
            .get("items")
            .and_then(Value::as_array)
            .or(v.as_array())
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            println!("(none)");
        } else {
            let mut t = table();
            t.set_header(cols.iter().map(|c| c.0).collect::<Vec<_>>());
            for item in &items {
                t.add_row(
                    cols.iter()
                        .map(|c| cell(c.1, &item[c.1], item))
                        .collect::<Vec<_>>(),
                );
            }
            println!("{t}");
        }
        if let (Some(page), Some(size), Some(total)) = (
            v["page"].as_u64(),
            v["page_size"].as_u64(),
            v["total"].as_u64(),
        ) {
            let pages = total.div_ceil(size.max(1)).max(1);
            println!("page {page} of {pages} ({total} in all)");
        }
    }

    /// A done command: a sentence for people, the result for scripts.
    pub fn done(&self, sentence: &str, v: &Value) {
        if self.json {
            self.print_json(v)
        } else {
            println!("{sentence}");
        }
    }

    pub fn print_json(&self, v: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    }
}

pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// `1250` cents in `USD` → `$12.50`.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let amount = format!("{}.{:02}", c / 100, c % 100);
    match currency {
        "" | "USD" => format!("{sign}${amount}"),
        other => format!("{sign}{amount} {other}"),
    }
}

/// One value as a cell: money for `*_cents` fields, text as is, the rest
/// as compact JSON.
fn cell(field: &str, v: &Value, parent: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) if field.ends_with("_cents") => n
            .as_i64()
            .map(|c| money(c, parent["currency"].as_str().unwrap_or("USD")))
            .unwrap_or_else(|| n.to_string()),
        Value::Array(a) if a.is_empty() => "–".into(),
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(money(1250, "USD"), "$12.50");
        assert_eq!(money(5, "USD"), "$0.05");
        assert_eq!(money(-100, "USD"), "-$1.00");
        assert_eq!(money(100, "EUR"), "1.00 EUR");
    }
}
