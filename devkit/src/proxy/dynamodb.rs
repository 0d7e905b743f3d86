//! DynamoDB's documented constraints on PutItem, UpdateItem, DeleteItem and GetItem, refused
//! with `ValidationException` (HTTP 400) as DynamoDB does. moto's server skips or bends each
//! of them (the tests in `tests/strict_proxy.rs` show it accepting every case first).
//!
//! | rule | source |
//! |---|---|
//! | a key attribute value is not empty (string or binary) | [Naming rules and data types][types] (empty values are allowed "for non-key attributes") |
//! | partition key value ≤ 2048 bytes, sort key value ≤ 1024 bytes, on every operation | [Constraints: partition keys and sort keys][keys] |
//! | item ≤ 400 KB (409,600 bytes), counting names and values as DynamoDB sizes them | [Constraints: items][items], [Item sizes and formats][sizes] |
//! | UpdateItem: the resulting item ≤ 400 KB (a lower bound; see `update_expression`) | [UpdateItem][update] ("Item size to update has exceeded the maximum allowed size") |
//! | a Number has at most 38 significant digits, magnitude between 1E-130 and 9.99…E+125 | [Constraints: data types][data] |
//! | a set is not empty and holds no duplicates | [Naming rules and data types][types] |
//! | documents nest at most 32 levels (an attribute is level 1) | [Constraints: attributes][attributes] |
//! | every `ExpressionAttributeNames`/`Values` entry is used; every placeholder used is defined; neither map is given empty or without an expression | [Expression attribute names][names], [Expression attribute values][values] |
//! | an expression is at most 4 KB | [Constraints: expression parameters][expressions] |
//!
//! [types]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
//! [keys]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-partition-sort-keys
//! [items]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items
//! [sizes]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
//! [update]: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
//! [data]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-data-types
//! [attributes]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-attributes
//! [names]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeNames.html
//! [values]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html
//! [expressions]: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-expression-parameters
//!
//! Left to the emulator, which already refuses them as DynamoDB does: a key missing, of the
//! wrong type or with extra attributes, a reserved word used as a name, an update of a key
//! attribute, overlapping update paths.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::lookup::{Lookup, TableKeys};
use super::number::Decimal;
use super::refusal::Refusal;
use super::update_expression;

/// 400 KB, in DynamoDB's binary units.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
pub const MAX_EXPRESSION_BYTES: usize = 4 * 1024;
/// Levels of a document, counting a top-level attribute as level 1.
pub const MAX_NESTING_LEVELS: usize = 32;
const MAX_NUMBER_DIGITS: usize = 38;
/// 9.9999999999999999999999999999999999999E+125: a most significant digit at 10^125.
const MAX_NUMBER_MAGNITUDE: i64 = 125;
/// 1E-130.
const MIN_NUMBER_MAGNITUDE: i64 = -130;

const INVALID: &str = "One or more parameter values were invalid: ";

/// The item operations the rules cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    Put,
    Update,
    Delete,
    Get,
}

impl Operation {
    pub(super) fn named(name: &str) -> Option<Operation> {
        Some(match name {
            "PutItem" => Operation::Put,
            "UpdateItem" => Operation::Update,
            "DeleteItem" => Operation::Delete,
            "GetItem" => Operation::Get,
            _ => return None,
        })
    }

    /// The expression parameters the operation takes.
    fn expressions(self) -> &'static [&'static str] {
        match self {
            Operation::Put | Operation::Delete => &["ConditionExpression"],
            Operation::Update => &["UpdateExpression", "ConditionExpression"],
            Operation::Get => &["ProjectionExpression"],
        }
    }

    /// Where the key attributes are: the whole item for PutItem, `Key` otherwise.
    fn key_source(self) -> &'static str {
        match self {
            Operation::Put => "Item",
            _ => "Key",
        }
    }
}

/// The first rule `request` breaks, if any.
pub(super) async fn check(
    operation: Operation,
    request: &Value,
    lookup: &Lookup<'_>,
) -> Option<Refusal> {
    if let Some(message) =
        attribute_values(operation, request).or_else(|| expressions(operation, request))
    {
        return Some(Refusal::validation(message));
    }
    let table = request.get("TableName").and_then(Value::as_str)?;
    let keys = lookup.table_keys(table).await;
    if let Some(message) = keys.and_then(|keys| key_values(operation, request, &keys)) {
        return Some(Refusal::validation(message));
    }
    match operation {
        Operation::Put => {
            let item = request.get("Item").and_then(Value::as_object)?;
            (item_size(item) > MAX_ITEM_BYTES)
                .then(|| Refusal::validation("Item size has exceeded the maximum allowed size"))
        }
        Operation::Update => update_size(request, table, lookup).await,
        Operation::Delete | Operation::Get => None,
    }
}

/// Numbers, sets and nesting in the item, the key and the expression attribute values.
fn attribute_values(operation: Operation, request: &Value) -> Option<String> {
    let attributes = request
        .get(operation.key_source())
        .and_then(Value::as_object);
    for value in attributes.into_iter().flat_map(Map::values) {
        if let Err(message) = check_value(value, 1) {
            return Some(message);
        }
    }
    let values = request
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object);
    for (placeholder, value) in values.into_iter().flatten() {
        if let Err(message) = check_value(value, 1) {
            return Some(format!(
                "ExpressionAttributeValues contains invalid value: {message} for key {placeholder}"
            ));
        }
    }
    None
}

/// The one data type of an attribute value and its content.
fn typed(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None; // the emulator refuses a malformed value itself
    }
    object
        .iter()
        .next()
        .map(|(kind, inner)| (kind.as_str(), inner))
}

fn check_value(value: &Value, level: usize) -> Result<(), String> {
    let Some((kind, inner)) = typed(value) else {
        return Ok(());
    };
    match (kind, inner) {
        ("N", Value::String(text)) => check_number(text),
        ("NS" | "SS" | "BS", Value::Array(elements)) => check_set(kind, elements),
        ("M" | "L", children) => {
            let children: Vec<&Value> = match children {
                Value::Object(map) => map.values().collect(),
                Value::Array(list) => list.iter().collect(),
                _ => Vec::new(),
            };
            if !children.is_empty() && level >= MAX_NESTING_LEVELS {
                return Err(
                    "Nesting Levels have exceeded supported limits: Attributes in the \
                            item have nested levels beyond supported limit"
                        .to_owned(),
                );
            }
            children
                .into_iter()
                .try_for_each(|child| check_value(child, level + 1))
        }
        _ => Ok(()),
    }
}

fn check_number(text: &str) -> Result<(), String> {
    let Some(number) = Decimal::parse(text) else {
        return Err(if text.is_empty() {
            "The parameter cannot be converted to a numeric value".to_owned()
        } else {
            format!("The parameter cannot be converted to a numeric value: {text}")
        });
    };
    if number.significant_digits() > MAX_NUMBER_DIGITS {
        return Err("Attempting to store more than 38 significant digits in a Number".to_owned());
    }
    match number.magnitude() {
        Some(m) if m > MAX_NUMBER_MAGNITUDE => Err(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
                .to_owned(),
        ),
        Some(m) if m < MIN_NUMBER_MAGNITUDE => Err(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

fn check_set(kind: &str, elements: &[Value]) -> Result<(), String> {
    if elements.is_empty() {
        return Err(match kind {
            "NS" => format!("{INVALID}An number set  may not be empty"),
            "SS" => format!("{INVALID}An string set  may not be empty"),
            _ => format!("{INVALID}Binary sets should not be empty"),
        });
    }
    if kind == "NS" {
        for element in elements {
            check_number(element.as_str().unwrap_or_default())?;
        }
    }
    let mut seen = BTreeSet::new();
    if elements
        .iter()
        .all(|element| seen.insert(set_key(kind, element)))
    {
        return Ok(());
    }
    let listed = || {
        elements
            .iter()
            .map(|element| element.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(match kind {
        "NS" => "Input collection contains duplicates".to_owned(),
        "SS" => format!(
            "{INVALID}Input collection [{}] contains duplicates.",
            listed()
        ),
        _ => format!(
            "{INVALID}Input collection [{}]of type BS contains duplicates.",
            listed()
        ),
    })
}

/// What makes two set elements the same: the value of a number, the bytes of a binary.
pub(super) fn set_key(kind: &str, element: &Value) -> String {
    let text = element.as_str().unwrap_or_default();
    match kind {
        "NS" => Decimal::parse(text).map_or_else(|| text.to_owned(), |d| format!("{d:?}")),
        "BS" => BASE64
            .decode(text)
            .map_or_else(|_| text.to_owned(), |bytes| format!("{bytes:?}")),
        _ => text.to_owned(),
    }
}

/// Placeholders (`#name`, `:value`) in an expression, in order.
fn placeholders(expression: &str) -> impl Iterator<Item = &str> {
    let bytes = expression.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            at += 1;
            if bytes[start] == b'#' || bytes[start] == b':' {
                while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    at += 1;
                }
                if at > start + 1 {
                    return Some(&expression[start..at]);
                }
            }
        }
        None
    })
}

/// Expression attribute names and values: given only with expressions, never empty, each one
/// used, every one used defined; expressions within 4 KB.
fn expressions(operation: Operation, request: &Value) -> Option<String> {
    let names = request
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    let values = match operation {
        // GetItem has no ExpressionAttributeValues parameter.
        Operation::Get => None,
        _ => request
            .get("ExpressionAttributeValues")
            .and_then(Value::as_object),
    };
    if names.is_some_and(Map::is_empty) {
        return Some("ExpressionAttributeNames must not be empty".to_owned());
    }
    if values.is_some_and(Map::is_empty) {
        return Some("ExpressionAttributeValues must not be empty".to_owned());
    }
    let given: Vec<(&str, &str)> = operation
        .expressions()
        .iter()
        .filter_map(|&kind| {
            request
                .get(kind)
                .and_then(Value::as_str)
                .map(|text| (kind, text))
        })
        .collect();
    if given.is_empty() {
        return [
            ("ExpressionAttributeNames", names.is_some()),
            ("ExpressionAttributeValues", values.is_some()),
        ]
        .into_iter()
        .find(|(_, present)| *present)
        .map(|(parameter, _)| format!("{parameter} can only be specified when using expressions"));
    }
    let mut used = BTreeSet::new();
    for (kind, text) in &given {
        if text.len() > MAX_EXPRESSION_BYTES {
            return Some(format!(
                "Invalid {kind}: Expression size has exceeded the maximum allowed size; \
                 expression size: {}",
                text.len()
            ));
        }
        for placeholder in placeholders(text) {
            let (defined, what) = if placeholder.starts_with('#') {
                (
                    names,
                    "An expression attribute name used in the document path is not defined; attribute name",
                )
            } else {
                (
                    values,
                    "An expression attribute value used in expression is not defined; attribute value",
                )
            };
            if !defined.is_some_and(|map| map.contains_key(placeholder)) {
                return Some(format!("Invalid {kind}: {what}: {placeholder}"));
            }
            used.insert(placeholder);
        }
    }
    [
        ("ExpressionAttributeNames", names),
        ("ExpressionAttributeValues", values),
    ]
    .into_iter()
    .find_map(|(parameter, map)| {
        let unused: Vec<&str> = map?
            .keys()
            .map(String::as_str)
            .filter(|key| !used.contains(key))
            .collect();
        (!unused.is_empty()).then(|| {
            format!(
                "Value provided in {parameter} unused in expressions: keys: {{{}}}",
                unused.join(", ")
            )
        })
    })
}

/// Key attribute values: not empty, within the partition and sort key limits.
fn key_values(operation: Operation, request: &Value, keys: &TableKeys) -> Option<String> {
    let attributes = request
        .get(operation.key_source())
        .and_then(Value::as_object)?;
    let limits = [
        (
            Some(&keys.partition),
            MAX_PARTITION_KEY_BYTES,
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ),
        (
            keys.sort.as_ref(),
            MAX_SORT_KEY_BYTES,
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ),
    ];
    for (name, limit, too_big) in limits {
        let Some((name, value)) = name.and_then(|n| attributes.get(n).map(|v| (n, v))) else {
            continue;
        };
        let (kind, length) = match typed(value) {
            Some(("S", Value::String(text))) => ("string", text.len()),
            Some(("B", Value::String(encoded))) => ("binary", binary_len(encoded)),
            _ => continue,
        };
        if length == 0 {
            return Some(format!(
                "One or more parameter values are not valid. The AttributeValue for a key \
                 attribute cannot contain an empty {kind} value. Key: {name}"
            ));
        }
        if length > limit {
            return Some(format!("{INVALID}{too_big}"));
        }
    }
    None
}

/// UpdateItem: the item after the update, at least, within 400 KB.
async fn update_size(request: &Value, table: &str, lookup: &Lookup<'_>) -> Option<Refusal> {
    let expression = request.get("UpdateExpression").and_then(Value::as_str)?;
    let key_value = request.get("Key")?;
    let key = key_value.as_object()?;
    let current = lookup.item(table, key_value).await;
    let size = update_expression::size_after(
        expression,
        request
            .get("ExpressionAttributeNames")
            .and_then(Value::as_object),
        request
            .get("ExpressionAttributeValues")
            .and_then(Value::as_object),
        key,
        current.as_ref().map(Option::as_ref),
    )?;
    (size > MAX_ITEM_BYTES)
        .then(|| Refusal::validation("Item size to update has exceeded the maximum allowed size"))
}

fn binary_len(encoded: &str) -> usize {
    BASE64
        .decode(encoded)
        .map_or(encoded.len() / 4 * 3, |bytes| bytes.len())
}

fn number_size(text: &str) -> usize {
    Decimal::parse(text).map_or(text.len(), |number| {
        number.significant_digits().div_ceil(2) + 1
    })
}

/// The size of a value as DynamoDB counts it (without its attribute name).
pub(super) fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = typed(value) else {
        return 0;
    };
    let text = || inner.as_str().unwrap_or_default();
    let elements = || inner.as_array().map(Vec::as_slice).unwrap_or_default();
    match kind {
        "S" => text().len(),
        "N" => number_size(text()),
        "B" => binary_len(text()),
        "BOOL" | "NULL" => 1,
        "SS" => elements()
            .iter()
            .map(|e| e.as_str().unwrap_or_default().len())
            .sum(),
        "NS" => elements()
            .iter()
            .map(|e| number_size(e.as_str().unwrap_or_default()))
            .sum(),
        "BS" => elements()
            .iter()
            .map(|e| binary_len(e.as_str().unwrap_or_default()))
            .sum(),
        // 3 bytes for the document, 1 more per element.
        "L" => 3 + elements().iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        "M" => {
            3 + inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, e)| 1 + attribute_size(name, e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// An attribute's size: its name's UTF-8 bytes and its value's size.
pub(super) fn attribute_size(name: &str, value: &Value) -> usize {
    name.len() + value_size(value)
}

pub(super) fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| attribute_size(name, value))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_the_developer_guide() {
        // id 2+3, n 1+(ceil(5/2)+1), flag 4+1, l 1+(3+(1+2)), b 1+3 raw bytes, ss 2+2.
        let sized = item(json!({
            "id": {"S": "abc"}, "n": {"N": "12345"}, "flag": {"BOOL": true},
            "l": {"L": [{"S": "xy"}]}, "b": {"B": "AQID"}, "ss": {"SS": ["a", "b"]}
        }));
        assert_eq!(item_size(&sized), 5 + 5 + 5 + 7 + 4 + 4);
        // A map element counts its name: m 1 + (3 + (1 + 1 + 1)).
        assert_eq!(attribute_size("m", &json!({"M": {"k": {"S": "v"}}})), 7);
    }

    #[test]
    fn numbers_within_38_digits_and_the_range_pass() {
        for good in [
            "1",
            "-0.5",
            &"9".repeat(38),
            "9.9999999999999999999999999999999999999E+125",
            "1E-130",
            "1.000000000000000000000000000000000000000000",
        ] {
            assert_eq!(check_number(good), Ok(()), "{good}");
        }
        for (bad, start) in [
            (&*"1".repeat(39), "Attempting to store more than 38"),
            ("1E126", "Number overflow"),
            ("-1e126", "Number overflow"),
            ("1E-131", "Number underflow"),
            ("abc", "The parameter cannot be converted"),
        ] {
            assert!(check_number(bad).unwrap_err().starts_with(start), "{bad}");
        }
    }

    #[test]
    fn sets_must_be_non_empty_and_distinct() {
        assert!(check_value(&json!({"SS": []}), 1).is_err());
        assert!(check_value(&json!({"NS": ["1", "1.0"]}), 1).is_err());
        assert!(check_value(&json!({"BS": ["AQ==", "AQ=="]}), 1).is_err());
        assert_eq!(check_value(&json!({"SS": ["", "a"]}), 1), Ok(()));
    }

    #[test]
    fn nesting_counts_the_attribute_as_level_one() {
        let nest = |wraps: usize| {
            (0..wraps).fold(json!({"S": "leaf"}), |inner, _| json!({"M": {"n": inner}}))
        };
        assert_eq!(check_value(&nest(31), 1), Ok(()));
        assert!(check_value(&nest(32), 1).is_err());
        let empty_deep = (0..32).fold(json!({"L": []}), |inner, _| json!({"L": [inner]}));
        assert!(check_value(&empty_deep, 1).is_err());
    }

    #[test]
    fn placeholders_are_found_in_expressions() {
        let found: Vec<&str> =
            placeholders("attribute_not_exists(#id) OR (#s = :in AND x < :now_ms)").collect();
        assert_eq!(found, ["#id", "#s", ":in", ":now_ms"]);
    }

    #[test]
    fn expression_maps_are_checked_against_their_use() {
        let check = |request: Value| expressions(Operation::Put, &request);
        assert_eq!(
            check(
                json!({"ConditionExpression": "#a = :b", "ExpressionAttributeNames": {"#a": "a"},
                         "ExpressionAttributeValues": {":b": {"S": "x"}}})
            ),
            None
        );
        assert_eq!(
            check(
                json!({"ConditionExpression": "#a = :b", "ExpressionAttributeNames": {"#a": "a"},
                         "ExpressionAttributeValues": {":b": {"S": "x"}, ":c": {"S": "y"}, ":d": {"S": "z"}}})
            ),
            Some(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {:c, :d}"
                    .into()
            )
        );
        assert_eq!(
            check(json!({"ExpressionAttributeValues": {":b": {"S": "x"}}})),
            Some("ExpressionAttributeValues can only be specified when using expressions".into())
        );
        assert!(
            check(json!({"ConditionExpression": "a = :b"}))
                .unwrap()
                .contains("not defined")
        );
    }
}
