//! AMQP-style topic routing: keys and patterns are dot-separated words;
//! `*` matches exactly one word, `#` matches zero or more.
//!
//! An empty key has zero words; `a..b` has an empty middle word (which `*`
//! matches). Matching is a dynamic program over (pattern word, key word), so
//! patterns full of `#` cannot blow up.
use std::sync::RwLock;

fn words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// Does `pattern` match routing key `key`?
pub fn matches(pattern: &str, key: &str) -> bool {
    let p = words(pattern);
    let k = words(key);
    // m[j] == pattern[..i] matches key[..j], rolled over i.
    let mut m = vec![false; k.len() + 1];
    m[0] = true;
    for pw in &p {
        let mut next = vec![false; k.len() + 1];
        match *pw {
            "#" => {
                let mut any = false;
                for j in 0..=k.len() {
                    any |= m[j];
                    next[j] = any;
                }
            }
            "*" => next[1..].copy_from_slice(&m[..k.len()]),
            w => {
                for j in 1..=k.len() {
                    next[j] = m[j - 1] && k[j - 1] == w;
                }
            }
        }
        m = next;
    }
    m[k.len()]
}

/// Subscriptions of destinations to topic patterns.
#[derive(Debug, Default)]
pub struct Bindings {
    list: RwLock<Vec<(String, String)>>,
}

impl Bindings {
    /// Binds `destination` to `pattern` (idempotent).
    pub fn bind(&self, destination: &str, pattern: &str) {
        let mut list = self.list.write().expect("bindings lock");
        if !list.iter().any(|(d, p)| d == destination && p == pattern) {
            list.push((destination.to_owned(), pattern.to_owned()));
        }
    }

    /// Every destination with a pattern matching `topic`, each once, in
    /// binding order.
    pub fn destinations(&self, topic: &str) -> Vec<String> {
        let list = self.list.read().expect("bindings lock");
        let mut out: Vec<String> = Vec::new();
        for (d, p) in list.iter() {
            if matches(p, topic) && !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_words_match_exactly() {
        assert!(matches("order.created", "order.created"));
        assert!(!matches("order.created", "order.paid"));
        assert!(!matches("order.created", "order.created.late"));
        assert!(!matches("order", "order.created"));
    }

    #[test]
    fn star_is_exactly_one_word() {
        assert!(matches("order.*", "order.created"));
        assert!(!matches("order.*", "order"));
        assert!(!matches("order.*", "order.item.added"));
        assert!(matches("*.created", "user.created"));
        assert!(matches("*", "x"));
        assert!(!matches("*", ""));
    }

    #[test]
    fn hash_alone_matches_everything_including_nothing() {
        assert!(matches("#", ""));
        assert!(matches("#", "a"));
        assert!(matches("#", "a.b.c"));
    }

    #[test]
    fn hash_in_the_middle_spans_zero_or_more_words() {
        assert!(matches("a.#.b", "a.b"));
        assert!(matches("a.#.b", "a.x.b"));
        assert!(matches("a.#.b", "a.x.y.b"));
        assert!(!matches("a.#.b", "a.x.y"));
        assert!(!matches("a.#.b", "b.a.b.c"));
        assert!(matches("order.#", "order"));
        assert!(matches("order.#", "order.item.added"));
        assert!(matches("#.added", "order.item.added"));
    }

    #[test]
    fn empty_words_are_words() {
        assert!(matches("a.*.b", "a..b"));
        assert!(!matches("a.b", "a..b"));
        assert!(matches("a.#", "a."));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn many_hashes_stay_fast_and_correct() {
        let pattern = "#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.z";
        let key = vec!["a"; 200].join(".");
        assert!(!matches(pattern, &key));
        assert!(matches(pattern, &format!("{key}.z")));
    }

    #[test]
    fn bindings_fan_out_once_per_destination() {
        let b = Bindings::default();
        b.bind("notifications", "order.*");
        b.bind("notifications", "order.#");
        b.bind("analytics", "order.confirmed");
        b.bind("notifications", "order.*");
        assert_eq!(
            b.destinations("order.confirmed"),
            vec!["notifications".to_string(), "analytics".to_string()]
        );
        assert_eq!(b.destinations("order.item.added"), vec!["notifications"]);
        assert!(b.destinations("user.registered").is_empty());
    }
}
