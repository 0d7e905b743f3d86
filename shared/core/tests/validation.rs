//! The record's `validation` hash: the same JSON value hashes alike however it is written.

use proptest::prelude::*;
use serde_json::Value;
use webhook_core::validation::validation_hash;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Binary fractions: they survive serde_json's text round trip exactly.
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 8.0)),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `value` written with its object keys in reverse order and ASCII escaped as `\u` sequences.
fn rewritten(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!(" {} :\n {} ", escaped(k), rewritten(v)))
                .collect();
            format!("{{ {} }}", members.join(" , "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(rewritten).collect();
            format!("[ {} ]", items.join(" ,\t"))
        }
        Value::String(s) => escaped(s),
        other => other.to_string(),
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::from("\"");
    for unit in text.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

proptest! {
    #[test]
    fn one_value_written_three_ways_hashes_alike(value in json_value()) {
        let compact = serde_json::to_string(&value).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let other = rewritten(&value);
        prop_assert_eq!(serde_json::from_str::<Value>(&other).unwrap(), value.clone());
        let hash = validation_hash(compact.as_bytes());
        prop_assert_eq!(&hash, &validation_hash(pretty.as_bytes()));
        prop_assert_eq!(&hash, &validation_hash(other.as_bytes()));
    }

    #[test]
    fn two_different_values_hash_differently(a in json_value(), b in json_value()) {
        prop_assume!(a != b);
        let (a, b) = (serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        prop_assert_ne!(validation_hash(a.as_bytes()), validation_hash(b.as_bytes()));
    }
}
