//! Properties of the two parsers over generated input: nothing panics, both parsers accept and
//! refuse the same bodies with the same errors, unknown fields survive, ids and type spellings
//! normalise. Case counts stay at proptest's default (256) so the suite stays fast.

use proptest::prelude::*;
use reply_payload::{Delivery, EventType, Id, ReplyEvent};
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // serde_json (without its float_roundtrip feature) may read the last digit of a
        // float back differently; keep to floats it reads back exactly.
        any::<f64>()
            .prop_filter("finite and read back exactly", |f| {
                f.is_finite()
                    && serde_json::from_str::<f64>(&serde_json::to_string(f).unwrap()).ok()
                        == Some(*f)
            })
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A key that is none of the keys the crate types (which match ignoring case and `_`).
fn unknown_key() -> impl Strategy<Value = String> {
    "\\PC{1,16}".prop_filter("not a typed key", |key| {
        let folded: String = key
            .chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        ![
            "event",
            "contactfields",
            "sequencefields",
            "contactcustomfields",
            "id",
            "type",
            "date",
            "userid",
            "teamid",
            "subscriptionid",
        ]
        .contains(&folded.as_str())
    })
}

/// Both parsers on one body: neither panics, they agree on success and on the error, and on
/// success they agree on the envelope.
fn parse_both(body: &[u8]) -> Result<ReplyEvent, String> {
    let delivery = Delivery::parse(body).map_err(|e| e.to_string());
    let event = ReplyEvent::parse(body).map_err(|e| e.to_string());
    match (&delivery, &event) {
        (Ok(d), Ok(e)) => {
            assert_eq!(d.envelope.id, e.envelope.id);
            assert_eq!(d.envelope.event_type, e.envelope.event_type);
            assert_eq!(d.envelope.team_id, e.envelope.team_id);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "parsers disagree on {:?}: {:?} vs {:?}",
            String::from_utf8_lossy(body),
            delivery.map(|_| ()),
            event.as_ref().map(|_| ())
        ),
    }
    event
}

/// Bytes drawn mostly from JSON's alphabet, so generated input gets deep into the parser.
fn jsonish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> =
        b"{}[]\":,.-+0123456789eEtrufalsn \n\\u\xc3\xa9\xff\"eventidtype".to_vec();
    prop::collection::vec(prop::sample::select(alphabet), 0..200)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_both(&body);
    }

    #[test]
    fn json_like_bytes_never_panic(body in jsonish_bytes()) {
        let _ = parse_both(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let _ = parse_both(&serde_json::to_vec(&value).unwrap());
    }

    /// Arbitrary values in every typed slot: each is either accepted or refused with a typed
    /// error, the same in both parsers.
    #[test]
    fn arbitrary_values_in_the_envelope_never_panic(
        id in json_value(), event_type in json_value(), date in json_value(),
        team_id in json_value(), contact in json_value(), sequence in json_value(),
    ) {
        let body = json!({
            "event": {"id": id, "type": event_type, "date": date, "TeamId": team_id},
            "contact_fields": contact,
            "sequence_fields": sequence,
        });
        if let Ok(event) = parse_both(&serde_json::to_vec(&body).unwrap()) {
            prop_assert_eq!(serde_json::to_value(&event).unwrap(), body);
        }
    }

    #[test]
    fn unknown_fields_survive_the_round_trip(
        top in prop::collection::btree_map(unknown_key(), json_value(), 0..6),
        inner in prop::collection::btree_map(unknown_key(), json_value(), 0..6),
        pascal in any::<bool>(),
    ) {
        let mut event = Map::new();
        event.insert("id".into(), json!("0b7a1f8e-7c1d-4c52-9a0e-3f2b9d4c8e11"));
        event.insert("type".into(), json!(if pascal { "EmailBounced" } else { "email_bounced" }));
        event.insert(if pascal { "TeamId" } else { "team_id" }.into(), json!(100));
        event.extend(inner.clone());
        let mut body = Map::new();
        body.insert("event".into(), Value::Object(event));
        body.insert("contact_fields".into(), json!({"id": 12345}));
        body.insert("bounce_type".into(), json!("Hard"));
        body.extend(top.clone());
        let bytes = serde_json::to_vec(&body).unwrap();

        let delivery = Delivery::parse(&bytes).unwrap();
        prop_assert_eq!(&delivery.envelope.event_type, &EventType::EmailBounced);
        prop_assert_eq!(delivery.contact_id, Some(Id::from(12345)));

        let parsed = ReplyEvent::parse(&bytes).unwrap();
        for (key, value) in &inner {
            prop_assert_eq!(parsed.envelope.extra.get(key), Some(value));
        }
        for (key, value) in &top {
            prop_assert_eq!(parsed.fields.get(key), Some(value));
        }
        prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), Value::Object(body));
    }

    #[test]
    fn ids_as_numbers_or_strings_read_the_same(n in any::<u64>(), m in any::<i64>()) {
        let as_number = json!({"event": {"id": "e", "type": "email_sent", "team_id": n, "user_id": m},
                               "contact_fields": {"id": n}, "sequence_fields": {"id": m}});
        let as_text = json!({"event": {"id": "e", "type": "email_sent", "team_id": n.to_string(),
                                       "user_id": m.to_string()},
                             "contact_fields": {"id": n.to_string()},
                             "sequence_fields": {"id": m.to_string()}});
        let a = serde_json::to_vec(&as_number).unwrap();
        let b = serde_json::to_vec(&as_text).unwrap();
        let (a, b) = (Delivery::parse(&a).unwrap(), Delivery::parse(&b).unwrap());
        let text = |id: &Option<Id>| id.as_ref().map(Id::to_string);
        prop_assert_eq!(text(&a.envelope.team_id), Some(n.to_string()));
        prop_assert_eq!(text(&a.envelope.team_id), text(&b.envelope.team_id));
        prop_assert_eq!(text(&a.envelope.user_id), text(&b.envelope.user_id));
        prop_assert_eq!(text(&a.contact_id), text(&b.contact_id));
        // A sequence id of 0 means "no sequence", in both forms.
        prop_assert_eq!(text(&a.sequence_id), (m != 0).then(|| m.to_string()));
        prop_assert_eq!(text(&a.sequence_id), text(&b.sequence_id));
    }

    /// Any rendering of a known type's words (any letter case, with or without underscores
    /// between words) is that type: `EmailReplied`, `LinkedInMessageSent`, `EMAIL_SENT`.
    #[test]
    fn any_case_and_underscore_rendering_of_a_known_type_is_that_type(
        index in 0..EventType::KNOWN.len(),
        upper in prop::collection::vec(any::<bool>(), 48),
        underscores in prop::collection::vec(any::<bool>(), 8),
    ) {
        let known = &EventType::KNOWN[index];
        let mut rendered = String::new();
        for (i, word) in known.as_str().split('_').enumerate() {
            if i > 0 && underscores[i] {
                rendered.push('_');
            }
            for (j, c) in word.chars().enumerate() {
                let up = upper[(rendered.len() + j) % upper.len()];
                rendered.push(if up { c.to_ascii_uppercase() } else { c });
            }
        }
        prop_assert_eq!(&EventType::parse(&rendered), known, "{}", rendered);
        let pascal: String = known.as_str().split('_')
            .map(|w| w[..1].to_uppercase() + &w[1..]).collect();
        prop_assert_eq!(&EventType::parse(&pascal), known);
    }
}

/// Skipping a value in place has no depth limit in serde_json; building one stops at 128
/// levels. Both parsers must draw the line in the same place, with the same message.
#[test]
fn both_parsers_refuse_the_same_nesting_depth() {
    for depth in [120, 126, 127, 128, 500] {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let nested = format!("{}0{}", open.repeat(depth), close.repeat(depth));
            let body = format!(
                "{{\"event\":{{\"id\":\"a\",\n\"type\":\"email_sent\",\n\"x\":\"[{{\\\"\"}},\n\"deep\":{nested}}}"
            );
            let result = parse_both(body.as_bytes());
            // The top-level object plus `depth` containers; serde_json allows 127 in all.
            assert_eq!(result.is_ok(), depth < 127, "depth {depth} {open}");
            if let Err(message) = result {
                let serde = serde_json::from_str::<Value>(&body)
                    .unwrap_err()
                    .to_string();
                assert_eq!(message, format!("body is not valid JSON: {serde}"));
            }
        }
    }
}

#[test]
fn explicit_null_envelope_fields_round_trip() {
    let body = json!({"event": {"id": "a", "type": "email_sent", "date": null, "UserId": null,
                                "team_id": null, "subscription_id": null}});
    let event = parse_both(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(event.envelope.date, None);
    assert_eq!(event.envelope.user_id, None);
    assert_eq!(serde_json::to_value(&event).unwrap(), body);
}

proptest! {
    /// Whatever order `team_id` and `TeamId` come in, the canonical spelling wins, both keys
    /// stay in the full model, and one warning says so.
    #[test]
    fn the_canonical_spelling_wins_in_any_order(canonical_first in any::<bool>(), a in 1u64..1000, b in 1000u64..2000) {
        let (first, second) = if canonical_first {
            (format!(r#""team_id":{a}"#), format!(r#""TeamId":{b}"#))
        } else {
            (format!(r#""TeamId":{b}"#), format!(r#""team_id":{a}"#))
        };
        let body = format!(r#"{{"event":{{"id":"e","type":"email_replied",{first},{second}}}}}"#);
        let delivery = Delivery::parse(body.as_bytes()).unwrap();
        prop_assert_eq!(delivery.envelope.team_id.as_ref().map(ToString::to_string), Some(a.to_string()));
        prop_assert_eq!(delivery.envelope.warnings.len(), 1);
        let event = ReplyEvent::parse(body.as_bytes()).unwrap();
        let back = serde_json::to_value(&event).unwrap();
        prop_assert_eq!(&back["event"]["team_id"], &serde_json::json!(a));
        prop_assert_eq!(&back["event"]["TeamId"], &serde_json::json!(b));
    }
}

#[test]
fn a_required_field_given_twice_must_agree() {
    for (body, outcome) in [
        (
            r#"{"event":{"id":"a","type":"email_replied","id":"a"}}"#,
            Ok("a"),
        ),
        (
            r#"{"event":{"id":"a","type":"email_replied","Id":"b"}}"#,
            Err("event.id is given more than once with different values"),
        ),
        (
            r#"{"event":{"id":"a","type":"email_replied","TYPE":"email_sent"}}"#,
            Err("event.type is given more than once with different values"),
        ),
        (
            r#"{"event":{"id":"a","type":"email_replied"},"event":{"id":"b"}}"#,
            Err("event.id is given more than once with different values"),
        ),
        (
            r#"{"event":{"id":"a"},"Event":{"type":"email_replied"}}"#,
            Ok("a"),
        ),
    ] {
        let delivery = Delivery::parse(body.as_bytes())
            .map(|d| d.envelope.id)
            .map_err(|e| e.to_string());
        let event = ReplyEvent::parse(body.as_bytes())
            .map(|e| e.envelope.id)
            .map_err(|e| e.to_string());
        assert_eq!(delivery, event, "{body}");
        assert_eq!(
            delivery.as_deref().map_err(String::as_str),
            outcome,
            "{body}"
        );
    }
}

#[test]
fn an_unusable_optional_field_reads_as_absent_and_is_kept() {
    let body = br#"{"event":{"id":"a","type":"email_replied","team_id":true,"date":7}}"#;
    let delivery = Delivery::parse(body).unwrap();
    assert_eq!(delivery.envelope.team_id, None);
    assert_eq!(delivery.envelope.date, None);
    let warnings: Vec<String> = delivery
        .envelope
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "event.date is not a string; read as absent",
            "event.team_id is not a number or a string; read as absent",
        ]
    );
    let event = ReplyEvent::parse(body).unwrap();
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(back, serde_json::from_slice::<Value>(body).unwrap());
}
