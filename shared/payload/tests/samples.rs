//! The samples under `events/` against both parsers: the 19 reply bodies and the real-delivery
//! variants parse, mean what they say, and round-trip losslessly. The bodies of `events/bad/`
//! are cases of `events/contract.json`, whose answers (the parsers' messages and warnings
//! among them) `cargo test -p reply-webhooks-tests --test contract` checks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use reply_payload::{
    BounceType, CallResolution, CallStatus, Category, Delivery, EventType, FinishReason, Id,
    ReplyEvent, ReplyReason,
};
use serde_json::Value;

fn events_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(sub)
}

/// `(file name, bytes)` of every file in `events/<sub>/`, sorted by name.
fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = events_dir(sub);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn stem(name: &str) -> &str {
    name.strip_suffix(".json").unwrap_or(name)
}

fn text(id: &Option<Id>) -> Option<String> {
    id.as_ref().map(Id::to_string)
}

fn utc(date: Option<&reply_payload::EventDate>) -> String {
    date.and_then(|d| d.utc())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Parses with both parsers and checks what they must agree on.
fn parse_both<'a>(name: &str, body: &'a [u8]) -> (ReplyEvent, Delivery<'a>) {
    let event = ReplyEvent::parse(body).unwrap_or_else(|err| panic!("{name}: {err}"));
    let delivery = Delivery::parse(body).unwrap_or_else(|err| panic!("{name}: {err}"));
    let (a, b) = (&event.envelope, &delivery.envelope);
    assert_eq!(a.id, b.id, "{name}");
    assert_eq!(a.event_type, b.event_type, "{name}");
    assert_eq!(a.delivered_type(), b.delivered_type(), "{name}");
    assert_eq!(a.date, b.date, "{name}");
    assert_eq!(
        (&a.user_id, &a.team_id, &a.subscription_id),
        (&b.user_id, &b.team_id, &b.subscription_id),
        "{name}"
    );
    assert!(
        b.extra.is_empty(),
        "{name}: the request path keeps no extra"
    );
    assert_eq!(
        text(&delivery.contact_id),
        event.contact().and_then(|c| text(&c.id)),
        "{name}: contact id"
    );
    assert_eq!(
        text(&delivery.sequence_id),
        event.sequence().and_then(|s| text(&s.id)),
        "{name}: sequence id"
    );
    assert_eq!(delivery.body, body);
    (event, delivery)
}

fn assert_round_trip(name: &str, body: &[u8], event: &ReplyEvent) {
    let original: Value = serde_json::from_slice(body).unwrap();
    let back = serde_json::to_value(event).unwrap();
    assert_eq!(
        back, original,
        "{name}: parse -> serialise lost or changed a field"
    );
}

const ACCOUNT_TYPES: [EventType; 4] = [
    EventType::EmailAccountConnectionLost,
    EventType::EmailAccountError,
    EventType::LinkedinAccountAlerts,
    EventType::AutopilotStopped,
];

#[test]
fn reply_holds_one_body_per_known_type_named_after_it() {
    let names: BTreeSet<String> = files("reply").into_iter().map(|(n, _)| n).collect();
    let expected: BTreeSet<String> = EventType::KNOWN
        .iter()
        .map(|t| format!("{t}.json"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn reply_bodies_parse_into_their_type_and_category() {
    let mut ids = BTreeSet::new();
    for (name, body) in files("reply") {
        let (event, delivery) = parse_both(&name, &body);
        let envelope = &event.envelope;
        let event_type = &envelope.event_type;
        assert_eq!(
            event_type.as_str(),
            stem(&name),
            "{name}: type vs file name"
        );
        assert_eq!(envelope.delivered_type(), stem(&name));
        assert_eq!(EventType::parse(stem(&name)), *event_type);
        let category = event_type.category().unwrap();
        assert!(category.event_types().any(|t| t == *event_type));
        assert!(ids.insert(envelope.id.clone()), "{name}: event.id reused");
        assert_eq!(envelope.id.len(), 36, "{name}: a UUID");
        assert!(!utc(envelope.date.as_ref()).is_empty(), "{name}: date");
        for id in [
            &envelope.user_id,
            &envelope.team_id,
            &envelope.subscription_id,
        ] {
            assert!(
                matches!(id, Some(Id::Number(_))),
                "{name}: documented ids are numbers"
            );
        }
        if ACCOUNT_TYPES.contains(event_type) {
            assert_eq!(category, Category::Account);
            assert!(event.contact().is_none(), "{name}: no prospect context");
            assert!(event.custom_fields().is_none() && delivery.contact_id.is_none());
        } else {
            let contact = event.contact().unwrap_or_else(|| panic!("{name}: contact"));
            assert_eq!(text(&contact.id).as_deref(), Some("12345"));
            assert_eq!(contact.email.as_deref(), Some("jane.doe@example.com"));
            assert_eq!(contact.full_name.as_deref(), Some("Jane Doe"));
            assert!(
                contact.extra.is_empty(),
                "{name}: only documented contact keys"
            );
            let sequence = event
                .sequence()
                .unwrap_or_else(|| panic!("{name}: sequence"));
            assert!(sequence.name.is_some() && sequence.step_number.is_some());
            assert!(sequence.extra.is_empty());
        }
        assert_round_trip(&name, &body, &event);
    }
    assert_eq!(ids.len(), 19);
}

#[test]
fn reply_typed_views_return_what_the_files_hold() {
    let body = |t: &str| fs::read(events_dir("reply").join(format!("{t}.json"))).unwrap();
    let parse = |t: &str| ReplyEvent::parse(&body(t)).unwrap();

    let replied = parse("email_replied");
    let d = replied.details();
    assert_eq!(d.reply_reason, Some(ReplyReason::EmailDetected));
    assert!(
        d.reply_content
            .as_deref()
            .unwrap()
            .contains("30-minute call")
    );
    assert!(d.reply_blob_url.as_deref().unwrap().starts_with("https://"));
    assert_eq!(utc(d.reply_date.as_ref()), "2026-04-21T09:29:58.000Z");
    assert_eq!(text(&d.sent_email_id).as_deref(), Some("987654321"));
    assert_eq!(text(&d.email_account_id).as_deref(), Some("5555"));
    let custom = replied.custom_fields().unwrap();
    assert_eq!(custom["Lead Source"], "Webinar");
    let sequence = replied.sequence().unwrap();
    assert_eq!(
        (
            text(&sequence.id).as_deref(),
            sequence.name.as_deref(),
            sequence.step_number
        ),
        (Some("67890"), Some("Q2 Outbound"), Some(2))
    );
    let typical = body("email_replied").len();
    assert!(
        (1800..=2300).contains(&typical),
        "a typical body is ~2 KB, got {typical}"
    );

    let sent = parse("email_sent").details();
    assert_eq!(
        utc(sent.sent_email_date.as_ref()),
        "2026-04-21T09:30:14.000Z"
    );
    assert_eq!(sent.email_from.as_deref(), Some("sam.sender@example.com"));
    assert_eq!(sent.sent_email_variant, Some(Value::from("A")));
    assert!(sent.sent_email_message_id.is_some() && sent.sent_message_url.is_some());

    let opened = parse("email_opened").details();
    assert_eq!(opened.opens_count, Some(2));
    assert!(opened.email_open_date.is_some());

    assert_eq!(
        parse("email_bounced").details().bounce_type,
        Some(BounceType::Hard)
    );
    assert_eq!(
        parse("contact_finished").details().finish_reason,
        Some(FinishReason::FinishedNaturally)
    );
    let called = parse("contact_called").details();
    assert_eq!(
        (called.status, called.resolution),
        (Some(CallStatus::Completed), Some(CallResolution::Positive))
    );
    for t in [
        "reply_categorized",
        "contact_finished",
        "linkedin_message_replied",
    ] {
        assert!(parse(t).custom_fields().is_some(), "{t}");
    }
    for t in ["email_sent", "email_account_error"] {
        assert!(parse(t).custom_fields().is_none(), "{t}");
    }
    // Account events: no prospect; autopilot_stopped concerns a sequence.
    assert!(parse("email_account_error").sequence().is_none());
    assert!(parse("autopilot_stopped").sequence().is_some());
}

type Check = fn(&ReplyEvent, &Delivery);

/// What each variant means. Every file in events/variants/ must have an entry, and back.
const VARIANTS: &[(&str, Check)] = &[
    ("contact_called_resolution_outside_list", |e, _| {
        let d = e.details();
        assert_eq!(d.status, Some(CallStatus::NoAnswer));
        assert_eq!(d.resolution, Some(CallResolution::Other("CallBack".into())));
        assert_eq!(d.resolution.unwrap().as_str(), "CallBack");
    }),
    ("contact_called_sequence_id_zero", |e, d| {
        assert_eq!(e.sequence(), None);
        assert_eq!(d.sequence_id, None);
        assert_eq!(e.fields["sequence_fields"]["id"], 0, "kept as delivered");
    }),
    ("contact_finished_integer_finish_reason", |e, _| {
        assert_eq!(e.details().finish_reason, Some(FinishReason::Bounced));
        assert_eq!(e.fields["finish_reason"], 1);
    }),
    ("contact_opted_out_ids_mixed_numbers_and_strings", |e, d| {
        assert_eq!(d.envelope.team_id, Some(Id::Text("100".into())));
        assert_eq!(d.envelope.user_id, Some(Id::from(1234)));
        assert_eq!(d.contact_id, Some(Id::Text("12345".into())));
        assert_eq!(text(&e.sequence().unwrap().id).as_deref(), Some("67890"));
    }),
    ("contact_opted_out_sequence_fields_absent", |e, d| {
        assert!(!e.fields.contains_key("sequence_fields"));
        assert_eq!((e.sequence(), &d.sequence_id), (None, &None));
        assert!(e.contact().is_some());
    }),
    ("email_account_error_pascal_case_type_and_teamid", |e, d| {
        assert_eq!(d.envelope.event_type, EventType::EmailAccountError);
        assert_eq!(d.envelope.event_type.category(), Some(Category::Account));
        assert_eq!(e.envelope.delivered_type(), "EmailAccountError");
        assert_eq!(text(&d.envelope.team_id).as_deref(), Some("100"));
        assert!(e.contact().is_none() && d.contact_id.is_none());
        let event = serde_json::to_value(e).unwrap()["event"].clone();
        assert!(event.get("TeamId").is_some() && event.get("team_id").is_none());
    }),
    ("email_bounced_bounce_type_outside_list", |e, _| {
        assert_eq!(
            e.details().bounce_type,
            Some(BounceType::Other("Spam".into()))
        );
    }),
    ("email_bounced_ids_as_strings", |e, d| {
        let v = &d.envelope;
        assert_eq!(v.user_id, Some(Id::Text("1234".into())));
        assert_eq!(text(&v.team_id).as_deref(), Some("100"));
        assert_eq!(v.subscription_id, Some(Id::Text("4206".into())));
        assert_eq!(d.contact_id, Some(Id::Text("12345".into())));
        assert_eq!(d.sequence_id, Some(Id::Text("67890".into())));
        let details = e.details();
        assert_eq!(details.sent_email_id, Some(Id::Text("987654321".into())));
        assert_eq!(details.bounce_type, Some(BounceType::Hard));
        // The same ids as the documented (numeric) sample, as text.
        let numeric =
            ReplyEvent::parse(&fs::read(events_dir("reply").join("email_bounced.json")).unwrap())
                .unwrap();
        assert_eq!(text(&numeric.envelope.team_id), text(&e.envelope.team_id));
        assert_eq!(
            text(&numeric.contact().unwrap().id),
            text(&e.contact().unwrap().id)
        );
    }),
    ("email_link_clicked_null_subscription_id", |e, d| {
        assert_eq!(d.envelope.subscription_id, None);
        let event = serde_json::to_value(e).unwrap()["event"].clone();
        assert_eq!(event.get("subscription_id"), Some(&Value::Null));
    }),
    ("email_opened_sequence_fields_empty", |e, d| {
        assert_eq!(e.fields["sequence_fields"], serde_json::json!({}));
        assert_eq!((e.sequence(), &d.sequence_id), (None, &None));
    }),
    ("email_opened_teamid_userid_keys", |e, d| {
        assert_eq!(text(&d.envelope.team_id).as_deref(), Some("100"));
        assert_eq!(text(&d.envelope.user_id).as_deref(), Some("1234"));
        let event = serde_json::to_value(e).unwrap()["event"].clone();
        assert!(event.get("TeamId").is_some() && event.get("UserId").is_some());
        assert!(event.get("team_id").is_none() && event.get("user_id").is_none());
    }),
    ("email_replied_legacy_integer_reason_no_text", |e, _| {
        let d = e.details();
        assert_eq!((d.reply_reason, d.reply_content), (None, None));
        assert!(d.reply_message_url.is_some() && d.reply_blob_url.is_none());
        assert_eq!(e.fields["reason"], 0);
    }),
    ("email_replied_pascal_case_type", |e, d| {
        assert_eq!(d.envelope.event_type, EventType::EmailReplied);
        assert_eq!(e.envelope.delivered_type(), "EmailReplied");
        assert_eq!(
            serde_json::to_value(e).unwrap()["event"]["type"],
            "EmailReplied"
        );
    }),
    ("email_replied_unknown_fields_everywhere", |e, _| {
        let extra = &e.envelope.extra;
        assert_eq!(extra["api_version"], "v3");
        assert_eq!(extra["environment"]["shard"], 7);
        let contact = e.contact().unwrap();
        assert_eq!(contact.extra["owner_email"], "sam.sender@example.com");
        assert_eq!(contact.extra["tags"][1], "q2");
        assert_eq!(e.sequence().unwrap().extra["owner_id"], 1234);
        assert_eq!(e.fields["reply_sentiment"]["label"], "Positive");
        assert_eq!(e.fields["previous_status"], Value::Null);
        assert_eq!(e.fields["attachments"], serde_json::json!([]));
        assert_eq!(e.details().reply_reason, Some(ReplyReason::EmailDetected));
    }),
    ("email_sent_dotnet_dates_without_zone", |e, _| {
        assert_eq!(
            e.envelope.date.as_ref().unwrap().as_str(),
            "2021-05-13T11:52:09.8212953"
        );
        let precise = e.envelope.date.as_ref().unwrap().utc().unwrap();
        assert_eq!(
            precise.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2021-05-13T11:52:09.821295300Z"
        );
        assert_eq!(
            utc(e.details().sent_email_date.as_ref()),
            "2021-05-13T11:52:07.100Z"
        );
    }),
    ("email_sent_event_id_256_bytes", |_, d| {
        assert_eq!(d.envelope.id.len(), reply_payload::MAX_EVENT_ID_BYTES);
    }),
    ("email_sent_event_id_not_a_uuid", |_, d| {
        assert_eq!(d.envelope.id, "evt_000123");
    }),
    (
        "linkedin_connection_request_sent_pascal_case_type",
        |e, d| {
            assert_eq!(
                d.envelope.event_type,
                EventType::LinkedinConnectionRequestSent
            );
            assert_eq!(d.envelope.event_type.category(), Some(Category::Linkedin));
            assert_eq!(e.envelope.delivered_type(), "LinkedInConnectionRequestSent");
        },
    ),
    (
        "linkedin_message_replied_pascal_case_lowercase_in",
        |e, d| {
            assert_eq!(d.envelope.event_type, EventType::LinkedinMessageReplied);
            assert_eq!(e.envelope.delivered_type(), "LinkedinMessageReplied");
        },
    ),
    ("linkedin_message_sent_date_with_zone_offset", |e, _| {
        assert_eq!(utc(e.envelope.date.as_ref()), "2026-04-21T09:30:28.500Z");
    }),
    ("reply_categorized_custom_field_titles_any_text", |e, _| {
        let custom = e.custom_fields().unwrap();
        assert_eq!(custom.len(), 7);
        assert_eq!(custom["Größe des Teams"], "11-50");
        assert_eq!(custom[""], "empty title");
        assert_eq!(custom["🚀 Priority"], "High");
        assert_eq!(custom["Renewal date"], Value::Null);
    }),
    ("unknown_type_meeting_booked", |e, d| {
        let t = &d.envelope.event_type;
        assert_eq!(*t, EventType::Unknown("meeting_booked".into()));
        assert_eq!(t.category(), None);
        assert!(t.actionable_by_default());
        assert_eq!(e.envelope.delivered_type(), "meeting_booked");
        assert_eq!(text(&d.contact_id).as_deref(), Some("12345"));
        assert_eq!(e.fields["meeting_url"], "https://meet.example.com/jane-sam");
    }),
];

#[test]
fn variants_parse_with_their_typed_meaning_and_round_trip() {
    let files = files("variants");
    let names: BTreeSet<&str> = files.iter().map(|(n, _)| stem(n)).collect();
    let described: BTreeSet<&str> = VARIANTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, described,
        "every variant file has an entry in VARIANTS"
    );

    let mut ids = BTreeSet::new();
    for (name, body) in &files {
        let (event, delivery) = parse_both(name, body);
        assert!(
            ids.insert(event.envelope.id.clone()),
            "{name}: event.id reused"
        );
        let (_, check) = VARIANTS.iter().find(|(n, _)| *n == stem(name)).unwrap();
        check(&event, &delivery);
        assert_round_trip(name, body, &event);
    }
}
