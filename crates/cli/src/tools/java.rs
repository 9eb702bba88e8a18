//! The bits of Java behaviour that show in Kafka tools' output and that the tools reproduce:
//! `String.hashCode`, the iteration order of a `java.util.HashMap` (Kafka's ConfigCommand
//! prints quota entities and values in that order), and `Double.toString`.

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The table size a `HashMap` built with `new HashMap<>(initial_capacity)` (or, with `None`,
/// `new HashMap<>()`) has after `n` insertions (load factor 0.75).
fn table_size(initial_capacity: Option<usize>, n: usize) -> usize {
    let mut cap = match initial_capacity {
        None => 16,
        Some(c) => c.max(1).next_power_of_two(),
    };
    let mut threshold = cap * 3 / 4;
    for size in 1..=n {
        if size > threshold {
            cap *= 2;
            threshold = cap * 3 / 4;
        }
    }
    cap
}

/// Orders `items` (with their Java `hashCode`s, in insertion order) as a Java `HashMap` would
/// iterate them: by bucket `(h ^ (h >>> 16)) & (table - 1)`, then insertion order within a
/// bucket. Exact for fewer than 8 items per bucket (Java then makes a tree).
pub fn hash_map_order<T>(items: Vec<(i32, T)>, initial_capacity: Option<usize>) -> Vec<T> {
    let cap = table_size(initial_capacity, items.len());
    let mut keyed: Vec<(usize, T)> = items
        .into_iter()
        .map(|(h, t)| {
            let h = h as u32;
            (((h ^ (h >> 16)) as usize) & (cap - 1), t)
        })
        .collect();
    keyed.sort_by_key(|(bucket, _)| *bucket);
    keyed.into_iter().map(|(_, t)| t).collect()
}

/// Java's `Double.toString`: shortest digits that read back to `v`; plain notation with at least
/// one fraction digit for 10^-3 <= |v| < 10^7 (`1024.0`), else `d.dddE±n` (`1.0E7`).
pub fn double_to_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

/// Java's `Double.parseDouble`, near enough for quota values: surrounding blanks allowed, an
/// optional `d`/`D`/`f`/`F` suffix, `Infinity` and `NaN` as Java spells them.
pub fn parse_double(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|r| !r.is_empty() && !r.ends_with(['e', 'E']))
        .unwrap_or(t);
    match t {
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" | "+NaN" | "-NaN" => Some(f64::NAN),
        _ if t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hashes_match_java() {
        // Values from Java's "abc".hashCode() etc.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("abc"), 96354);
        assert_eq!(string_hash("user"), 3599307);
        assert_eq!(string_hash("producer_byte_rate"), -832_502_454);
        assert_eq!(string_hash("client-id"), -1_904_137_635);
    }

    #[test]
    fn quota_keys_iterate_in_java_hash_map_order() {
        let keys = [
            "request_percentage",
            "controller_mutation_rate",
            "producer_byte_rate",
            "consumer_byte_rate",
        ];
        let order = |ks: &[&'static str]| {
            hash_map_order(
                ks.iter().map(|k| (string_hash(k), *k)).collect(),
                Some(ks.len()),
            )
        };
        assert_eq!(
            order(&keys),
            [
                "producer_byte_rate",
                "consumer_byte_rate",
                "controller_mutation_rate",
                "request_percentage"
            ]
        );
        assert_eq!(
            order(&["producer_byte_rate", "consumer_byte_rate"]),
            ["consumer_byte_rate", "producer_byte_rate"]
        );
    }

    #[test]
    fn table_sizes_follow_java_resizing() {
        assert_eq!(table_size(Some(1), 1), 2);
        assert_eq!(table_size(Some(2), 2), 4);
        assert_eq!(table_size(Some(3), 3), 4);
        assert_eq!(table_size(Some(4), 4), 8);
        assert_eq!(table_size(None, 12), 16);
        assert_eq!(table_size(None, 13), 32);
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(double_to_string(1024.0), "1024.0");
        assert_eq!(double_to_string(12.5), "12.5");
        assert_eq!(double_to_string(0.001), "0.001");
        assert_eq!(double_to_string(1e7), "1.0E7");
        assert_eq!(double_to_string(10485760.0), "1.048576E7");
        assert_eq!(double_to_string(1.5e-5), "1.5E-5");
        assert_eq!(
            double_to_string(9_223_372_036_854_775_807.0),
            "9.223372036854776E18"
        );
    }

    #[test]
    fn doubles_parse_as_java_does() {
        assert_eq!(parse_double(" 1024 "), Some(1024.0));
        assert_eq!(parse_double("1e3"), Some(1000.0));
        assert_eq!(parse_double("2.5d"), Some(2.5));
        assert_eq!(parse_double("Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_double("inf"), None);
        assert_eq!(parse_double("fast"), None);
        assert_eq!(parse_double(""), None);
    }
}
