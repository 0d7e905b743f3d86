//! SQS's documented rules for SendMessage and SendMessageBatch, refused with the code SQS
//! answers. moto's server skips or bends each of them (the tests in `tests/strict_proxy.rs`
//! show it accepting every case first).
//!
//! | rule | code | source |
//! |---|---|---|
//! | the body is not empty | `MissingParameter` | [SendMessage][send] ("The minimum size is one character"); SQS answers "The request must contain the parameter MessageBody." |
//! | the body holds only `#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF` | `InvalidMessageContents` | [SendMessage][send] |
//! | body + every attribute's name, type and value ≤ the queue's `MaximumMessageSize` (at most 1 MiB, 1,048,576 bytes, since August 2025) | `InvalidParameterValue` | [SendMessage][send], [MessageAttributeValue][value], [CreateQueue][create] |
//! | at most 10 message attributes | `InvalidParameterValue` | [Message attributes][attrs] |
//! | attribute name: 1–256 of `A-Za-z0-9_-.`, not starting with `AWS.`/`Amazon.` (any case), no leading, trailing or doubled period | `InvalidParameterValue` | [Message attributes][attrs] |
//! | attribute type: `String`, `Number` or `Binary`, optionally `.label`; ≤ 256 characters of the body's character set | `InvalidParameterValue` | [Message attributes][attrs] |
//! | attribute value: present and non-empty for its type; a String value holds only the body's characters; a Number has ≤ 38 significant digits within 10^-128..10^+126 | `InvalidParameterValue` | [Message attributes][attrs], [MessageAttributeValue][value] |
//! | `MessageGroupId`, `MessageDeduplicationId`: 1–128 alphanumeric or punctuation characters | `InvalidParameterValue` | [SendMessage][send] |
//! | FIFO queue: `MessageGroupId` required | `MissingParameter` | [SendMessage][send] |
//! | FIFO queue without content-based deduplication: `MessageDeduplicationId` required | `InvalidParameterValue` | [SendMessage][send] |
//! | FIFO queue: no per-message `DelaySeconds`; any queue: 0–900 | `InvalidParameterValue` | [SendMessage][send] |
//! | SendMessageBatch: the entries add up to ≤ 1 MiB | `AWS.SimpleQueueService.BatchRequestTooLong` | [SendMessageBatch][batch] |
//!
//! In a batch, an entry that breaks a message rule is reported in `Failed` (`SenderFault`,
//! with the code above) and the others are sent, as SQS reports entry errors.
//!
//! [send]: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
//! [batch]: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
//! [value]: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html
//! [attrs]: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html#sqs-message-attributes
//! [create]: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::Decision;
use super::lookup::{Lookup, QueueFacts};
use super::number::Decimal;
use super::refusal::{ErrorCode, Refusal};

/// The largest message SQS takes (1 MiB), and the largest batch.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
pub const MAX_ATTRIBUTES: usize = 10;
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;
pub const MAX_ATTRIBUTE_TYPE_CHARS: usize = 256;
pub const MAX_FIFO_ID_CHARS: usize = 128;
pub const MAX_DELAY_SECONDS: i64 = 900;
/// Number attributes: 38 digits of precision, between 10^-128 and 10^+126.
const MAX_NUMBER_DIGITS: usize = 38;
const NUMBER_MAGNITUDES: std::ops::RangeInclusive<i64> = -128..=126;

const ALLOWED: &str = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF";

/// The first character SQS does not allow in a body or String value.
fn disallowed_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::InvalidParameterValue, message)
}

/// SendMessage.
pub(super) async fn check_send(request: &Value, lookup: &Lookup<'_>) -> Decision {
    let facts = queue_facts(request, lookup).await;
    match check_message(request, facts.as_ref()) {
        Err(refusal) => Decision::Refuse(refusal),
        Ok(_) => Decision::Forward,
    }
}

/// SendMessageBatch.
pub(super) async fn check_batch(request: &Value, lookup: &Lookup<'_>) -> Decision {
    let Some(entries) = request.get("Entries").and_then(Value::as_array) else {
        return Decision::Forward;
    };
    let facts = queue_facts(request, lookup).await;
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    let mut total = 0;
    for entry in entries {
        match check_message(entry, facts.as_ref()) {
            Ok(size) => {
                total += size;
                kept.push(entry.clone());
            }
            Err(refusal) => failed.push(json!({
                "Id": entry.get("Id").cloned().unwrap_or(Value::Null),
                "SenderFault": true,
                "Code": refusal.code.code(),
                "Message": refusal.message,
            })),
        }
    }
    if total > MAX_MESSAGE_BYTES {
        return Decision::Refuse(Refusal::new(
            ErrorCode::BatchRequestTooLong,
            format!(
                "Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent \
                 {total} bytes."
            ),
        ));
    }
    if failed.is_empty() {
        return Decision::Forward;
    }
    let body = (!kept.is_empty()).then(|| {
        let mut body = request.clone();
        body["Entries"] = Value::Array(kept);
        body
    });
    Decision::Split { body, failed }
}

async fn queue_facts(request: &Value, lookup: &Lookup<'_>) -> Option<QueueFacts> {
    let url = request.get("QueueUrl").and_then(Value::as_str)?;
    lookup.queue(url).await
}

/// One message (a SendMessage request or a batch entry); its size when it passes.
fn check_message(message: &Value, queue: Option<&QueueFacts>) -> Result<usize, Refusal> {
    let body = message
        .get("MessageBody")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body.is_empty() {
        return Err(Refusal::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter MessageBody.",
        ));
    }
    if let Some(c) = disallowed_char(body) {
        return Err(Refusal::new(
            ErrorCode::InvalidMessageContents,
            format!(
                "Invalid binary character '#x{:X}' was found in the message body, the set of \
                 allowed characters is {ALLOWED}",
                u32::from(c)
            ),
        ));
    }
    let empty = Map::new();
    let attributes = message
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    let mut size = body.len();
    for (name, value) in attributes {
        size += check_attribute(name, value)?;
    }
    let max = queue.map_or(MAX_MESSAGE_BYTES, |q| q.max_message_size);
    if size > max {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    check_fifo(message, queue)?;
    Ok(size)
}

/// One message attribute; its size (name, type and value bytes) when it passes.
fn check_attribute(name: &str, value: &Value) -> Result<usize, Refusal> {
    if name.is_empty() {
        return Err(invalid(
            "The request must contain non-empty message attribute name.",
        ));
    }
    let lower = name.to_ascii_lowercase();
    let problem = if name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
        Some("can be up to 256 characters long")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Some("can contain only A-Z, a-z, 0-9, underscore (_), hyphen (-) and period (.)")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("must not start with the reserved prefixes AWS. or Amazon. (in any case)")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("must not start or end with a period, nor have two periods in a row")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(invalid(format!(
            "Message (user) attribute name '{name}' is invalid: a name {problem}."
        )));
    }
    let data_type = value
        .get("DataType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if data_type.is_empty() {
        return Err(invalid(format!(
            "The message attribute '{name}' must contain non-empty message attribute type."
        )));
    }
    let base = data_type.split('.').next().unwrap_or_default();
    if !matches!(base, "String" | "Number" | "Binary") {
        return Err(invalid(format!(
            "The type of message (user) attribute '{name}' is invalid. You must use only the \
             following supported type prefixes: Binary, Number, String."
        )));
    }
    if data_type.chars().count() > MAX_ATTRIBUTE_TYPE_CHARS || disallowed_char(data_type).is_some()
    {
        return Err(invalid(format!(
            "The type of message (user) attribute '{name}' is invalid: a type is at most 256 \
             characters of the set {ALLOWED}."
        )));
    }
    let empty_value = || {
        invalid(format!(
            "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
        ))
    };
    let value_bytes = if base == "Binary" {
        let encoded = value
            .get("BinaryValue")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bytes = BASE64.decode(encoded).map_or(encoded.len(), |b| b.len());
        if bytes == 0 {
            return Err(empty_value());
        }
        bytes
    } else {
        let text = value
            .get("StringValue")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if text.is_empty() {
            return Err(empty_value());
        }
        if let Some(c) = disallowed_char(text) {
            return Err(invalid(format!(
                "Message (user) attribute '{name}' contains the character '#x{:X}', outside \
                 the allowed set {ALLOWED}.",
                u32::from(c)
            )));
        }
        if base == "Number" && !is_sqs_number(text) {
            return Err(invalid(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        text.len()
    };
    Ok(name.len() + data_type.len() + value_bytes)
}

fn is_sqs_number(text: &str) -> bool {
    Decimal::parse(text).is_some_and(|number| {
        number.significant_digits() <= MAX_NUMBER_DIGITS
            && number
                .magnitude()
                .is_none_or(|m| NUMBER_MAGNITUDES.contains(&m))
    })
}

/// Group and deduplication ids, and what a FIFO queue requires.
fn check_fifo(message: &Value, queue: Option<&QueueFacts>) -> Result<(), Refusal> {
    let text = |field: &str| message.get(field).and_then(Value::as_str);
    for field in ["MessageGroupId", "MessageDeduplicationId"] {
        let Some(id) = text(field) else { continue };
        let length = id.chars().count();
        if length == 0
            || length > MAX_FIFO_ID_CHARS
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
        {
            return Err(invalid(format!(
                "Value {id} for parameter {field} is invalid. Reason: {field} can only include \
                 alphanumeric and punctuation characters. 1 to 128 in length."
            )));
        }
    }
    let delay = message.get("DelaySeconds").and_then(Value::as_i64);
    if let Some(delay) = delay.filter(|d| !(0..=MAX_DELAY_SECONDS).contains(d)) {
        return Err(invalid(format!(
            "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be \
             >= 0 and <= 900."
        )));
    }
    let Some(queue) = queue.filter(|q| q.fifo) else {
        return Ok(());
    };
    if text("MessageGroupId").is_none() {
        return Err(Refusal::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter MessageGroupId.",
        ));
    }
    if text("MessageDeduplicationId").is_none() && !queue.content_based_deduplication {
        return Err(invalid(
            "The queue should either have ContentBasedDeduplication enabled or \
             MessageDeduplicationId provided explicitly",
        ));
    }
    if let Some(delay) = delay.filter(|d| *d != 0) {
        return Err(invalid(format!(
            "Value {delay} for parameter DelaySeconds is invalid. Reason: The request include \
             parameter that is not valid for this queue type."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIFO: QueueFacts = QueueFacts {
        fifo: true,
        content_based_deduplication: false,
        max_message_size: MAX_MESSAGE_BYTES,
    };

    fn code(message: Value, queue: Option<&QueueFacts>) -> Option<&'static str> {
        check_message(&message, queue).err().map(|r| r.code.code())
    }

    fn with_attribute(name: &str, data_type: &str, value: Value) -> Value {
        let mut attribute = json!({ "DataType": data_type });
        if data_type.starts_with("Binary") {
            attribute["BinaryValue"] = value;
        } else {
            attribute["StringValue"] = value;
        }
        json!({ "MessageBody": "x", "MessageAttributes": { name: attribute } })
    }

    #[test]
    fn the_body_character_set_is_the_documented_one() {
        for good in [
            "\t\n\r",
            " ~",
            "\u{D7FF}",
            "\u{E000}\u{FFFD}",
            "\u{10000}\u{10FFFF}",
            "é😀",
        ] {
            assert_eq!(disallowed_char(good), None, "{good:?}");
        }
        for bad in ["\u{0}", "\u{1F}", "\u{FFFE}", "\u{FFFF}", "a\u{8}b"] {
            assert!(disallowed_char(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_count_bytes_of_the_body_and_every_attribute_part() {
        let message = with_attribute("ab", "String", json!("é"));
        // body 1 + name 2 + type 6 + value 2 bytes.
        assert_eq!(check_message(&message, None), Ok(11));
        let small = QueueFacts {
            fifo: false,
            content_based_deduplication: false,
            max_message_size: 10,
        };
        assert_eq!(code(message, Some(&small)), Some("InvalidParameterValue"));
    }

    #[test]
    fn attribute_rules() {
        let bad = [
            with_attribute("AWS.x", "String", json!("v")),
            with_attribute("amazon.x", "String", json!("v")),
            with_attribute(".x", "String", json!("v")),
            with_attribute("x.", "String", json!("v")),
            with_attribute("a..b", "String", json!("v")),
            with_attribute(&"a".repeat(257), "String", json!("v")),
            with_attribute("a", "String", json!("")),
            with_attribute("a", "String", json!("\u{1}")),
            with_attribute("a", "Number", json!("abc")),
            with_attribute("a", "Number", json!("1".repeat(39))),
            with_attribute("a", "Number", json!("1e127")),
            with_attribute("a", "Binary", json!("")),
            with_attribute("a", "Strin", json!("v")),
            with_attribute("a", "String.\u{1}", json!("v")),
        ];
        for message in bad {
            assert_eq!(
                code(message.clone(), None),
                Some("InvalidParameterValue"),
                "{message}"
            );
        }
        let good = [
            with_attribute(&"a".repeat(256), "String", json!("v")),
            with_attribute("a.b-c_d", "Number.int", json!("-1.5e3")),
            with_attribute("a", "Binary.png", json!("AQID")),
            with_attribute("awsx", "String", json!("v")),
        ];
        for message in good {
            assert_eq!(code(message.clone(), None), None, "{message}");
        }
        let eleven: Map<String, Value> = (0..11)
            .map(|i| {
                (
                    format!("a{i}"),
                    json!({"DataType": "String", "StringValue": "v"}),
                )
            })
            .collect();
        assert_eq!(
            code(
                json!({"MessageBody": "x", "MessageAttributes": eleven}),
                None
            ),
            Some("InvalidParameterValue")
        );
    }

    #[test]
    fn fifo_rules() {
        let ok = json!({"MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d"});
        assert_eq!(code(ok.clone(), Some(&FIFO)), None);
        let mut missing_group = ok.clone();
        missing_group
            .as_object_mut()
            .unwrap()
            .remove("MessageGroupId");
        assert_eq!(code(missing_group, Some(&FIFO)), Some("MissingParameter"));
        let mut missing_dedup = ok.clone();
        missing_dedup
            .as_object_mut()
            .unwrap()
            .remove("MessageDeduplicationId");
        assert_eq!(
            code(missing_dedup.clone(), Some(&FIFO)),
            Some("InvalidParameterValue")
        );
        let content_based = QueueFacts {
            content_based_deduplication: true,
            ..FIFO
        };
        assert_eq!(code(missing_dedup, Some(&content_based)), None);
        for (field, id) in [
            ("MessageGroupId", "g".repeat(129)),
            ("MessageGroupId", "a b".to_owned()),
            ("MessageDeduplicationId", "dé".to_owned()),
            ("MessageDeduplicationId", String::new()),
        ] {
            let mut message = ok.clone();
            message[field] = json!(id);
            assert_eq!(
                code(message, Some(&FIFO)),
                Some("InvalidParameterValue"),
                "{field} {id}"
            );
        }
        let mut punctuation = ok.clone();
        punctuation["MessageGroupId"] = json!(format!(
            "{}!\"#$%&'()*+,-./:;<=>?@[\\]^_`{{|}}~",
            "g".repeat(96)
        ));
        assert_eq!(code(punctuation, Some(&FIFO)), None);
        let mut delayed = ok;
        delayed["DelaySeconds"] = json!(5);
        assert_eq!(code(delayed, Some(&FIFO)), Some("InvalidParameterValue"));
    }

    #[test]
    fn an_empty_body_is_a_missing_parameter() {
        assert_eq!(
            code(json!({"MessageBody": ""}), None),
            Some("MissingParameter")
        );
        assert_eq!(
            code(json!({"MessageBody": "\u{FFFE}"}), None),
            Some("InvalidMessageContents")
        );
    }
}
