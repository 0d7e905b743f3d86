//! What SQS accepts in a message: the characters of a body or String attribute value, the
//! size of a message, and the ids of a FIFO queue. The message builders use these rules so
//! that every message they produce is one real SQS accepts (moto accepts more).

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// SQS's largest message: body, attribute names, types and values together (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;

/// The longest String attribute value we send (characters).
pub const MAX_ATTRIBUTE_CHARS: usize = 256;

/// Whether SQS accepts `c` in a message body or a String attribute value:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub const fn is_allowed(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` with every character SQS refuses JSON-escaped (`\ufffe`). Only valid for JSON text
/// in which such characters can stand only inside strings: a JSON document, where raw control
/// characters are already invalid, so the two noncharacters U+FFFE and U+FFFF are all that
/// is left to escape. The result is the same JSON value.
pub fn escape_json(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_allowed) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_allowed(c) {
            escaped.push(c);
        } else {
            // Only U+FFFE and U+FFFF can be here (see above): four hex digits each.
            escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
        }
    }
    Cow::Owned(escaped)
}

/// A String attribute value SQS accepts: refused characters removed, at most
/// [`MAX_ATTRIBUTE_CHARS`] characters; `None` when nothing is left.
pub fn attribute_value(value: &str) -> Option<String> {
    let cleaned: String = value
        .chars()
        .filter(|c| is_allowed(*c))
        .take(MAX_ATTRIBUTE_CHARS)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A FIFO group or deduplication id SQS accepts: at most 128 characters of ASCII letters,
/// digits and punctuation; anything else is replaced by its SHA-256 (64 hex digits), which is
/// stable, so the same id always maps to the same value.
pub fn fifo_id(id: &str) -> String {
    let acceptable = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic());
    if acceptable {
        id.to_owned()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_set_is_the_documented_one() {
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'a',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
            '\u{10FFFF}',
        ] {
            assert!(is_allowed(c), "{c:?}");
        }
        for c in [
            '\0', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
        ] {
            assert!(!is_allowed(c), "{c:?}");
        }
    }

    #[test]
    fn refused_characters_in_json_are_escaped_to_the_same_value() {
        let json = "{\"text\":\"a\u{FFFE}b\u{FFFF}c\"}";
        let escaped = escape_json(json);
        assert_eq!(escaped, "{\"text\":\"a\\ufffeb\\uffffc\"}");
        let before: serde_json::Value = serde_json::from_str(json).unwrap();
        let after: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(before, after);
        assert!(matches!(escape_json("{\"plain\":1}"), Cow::Borrowed(_)));
    }

    #[test]
    fn attribute_values_are_cleaned_capped_or_left_out() {
        assert_eq!(attribute_value(""), None);
        assert_eq!(attribute_value("\u{1}\u{FFFF}"), None);
        assert_eq!(attribute_value("a\u{1}b").as_deref(), Some("ab"));
        assert_eq!(
            attribute_value(&"é".repeat(300)).map(|v| v.chars().count()),
            Some(256)
        );
        assert_eq!(attribute_value(" ").as_deref(), Some(" "));
    }

    #[test]
    fn fifo_ids_sqs_would_refuse_are_hashed() {
        let uuid = "4c1b9e74-5ac3-4b0f-9a60-2a37a9b4a2d1";
        assert_eq!(fifo_id(uuid), uuid);
        assert_eq!(fifo_id(&"a".repeat(128)), "a".repeat(128));
        for refused in [&"a".repeat(129), "id with spaces", "é", "", "a\u{1}"] {
            let id = fifo_id(refused);
            assert_eq!(id.len(), 64, "{refused:?}");
            assert_eq!(id, fifo_id(refused), "stable");
        }
    }
}
