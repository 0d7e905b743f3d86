//! Inputs found by `make fuzz` (fuzz/fuzz_targets/parse.rs), kept as regression tests: both
//! parsers accept and refuse the same bodies for the same reason.

use reply_payload::{Delivery, PayloadError, ReplyEvent};

fn both(body: &[u8]) -> (Result<(), PayloadError>, Result<(), PayloadError>) {
    (
        Delivery::parse(body).map(|_| ()),
        ReplyEvent::parse(body).map(|_| ()),
    )
}

/// cargo fuzz, parse target, crash-bc4b0d0b: a number beyond f64's range in a field the
/// request path skips. The request path used to skip it unevaluated (and then found no
/// `event.id`), while ReplyEvent (and any serde_json consumer of the forwarded body) refused
/// it: "number out of range".
#[test]
fn a_number_beyond_f64_in_a_skipped_field_is_refused_by_both_parsers() {
    let found = b"{\"event\": {\n     \"linkemail_id\": 98766E329,\n     \"phoned\": 98765E329,\n     \"phone\": \"+2 555 0106991e-1321-56f0-8dca-23f6d7eb3e63\",\n    \"date\": \"2025-04-21T09:31:06.466Z\",\n    \"type\": \"autopilot_________________unced\"}}\n";
    let expected = PayloadError::NotJson("number out of range at line 2 column 30".into());
    assert_eq!(both(found), (Err(expected.clone()), Err(expected)));

    for (body, column) in [
        // An unknown top-level field, and one inside `event`.
        (
            &br#"{"event":{"id":"a","type":"email_replied"},"score":1e400}"#[..],
            56,
        ),
        (
            br#"{"event":{"id":"a","type":"email_replied","score":-1E+400}}"#,
            57,
        ),
        // 310 digits: an integer literal too large for f64.
        (
            format!(
                r#"{{"event":{{"id":"a","type":"email_replied"}},"n":1{}}}"#,
                "0".repeat(309)
            )
            .as_bytes()
            .to_vec()
            .leak(),
            357,
        ),
    ] {
        let expected =
            PayloadError::NotJson(format!("number out of range at line 1 column {column}"));
        assert_eq!(
            both(body),
            (Err(expected.clone()), Err(expected)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn large_numbers_within_f64_are_accepted_by_both_parsers() {
    for body in [
        &br#"{"event":{"id":"a","type":"email_replied"},"n":1e308,"m":1e-400}"#[..],
        br#"{"event":{"id":"a","type":"email_replied","team_id":12345678901234567890}}"#,
        br#"{"event":{"id":"a","type":"email_replied"},"n":123456789012345678901234567890}"#,
        br#"{"event":{"id":"a","type":"email_replied"},"s":"1e400 in a string is text"}"#,
    ] {
        assert_eq!(
            both(body),
            (Ok(()), Ok(())),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
