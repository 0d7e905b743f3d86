//! The checks of one run: the answer (its shape for the source, its status and JSON body) and
//! what the run left behind (the record, the one message and what it carries).

use serde_json::Value;
use webhook_core::config::vars;
use webhook_core::message::MESSAGE_SCHEMA;
use webhook_core::quarantine::Quarantined;
use webhook_core::sqs_rules::{attribute_value, escape_json};
use webhook_core::validation::validation_hash;

use super::{Effects, Message, Prepared, Queue, RecordState};
use crate::LOCAL_TOKEN;
use crate::ids::epoch_millis;

/// The record TTL the functions use unless configured otherwise (seconds).
const DEFAULT_TTL_SECONDS: u64 = 604_800;
/// How far a record's `expiration` may be from received + TTL (clock skew, slow runs).
const EXPIRATION_SLACK_SECONDS: u64 = 600;

/// What a function answered, as far as it could be read, and every way it differs from the
/// expectation.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub status: Option<u16>,
    /// The JSON body (`null` when there is none).
    pub body: Value,
    pub failures: Vec<String>,
}

/// Checks `raw`, a function's answer to the prepared request.
pub fn check_answer(prepared: &Prepared<'_>, raw: &Value) -> Checked {
    let expect = prepared.expect;
    let answer = match prepared.source.answer(raw) {
        Ok(answer) => answer,
        Err(shape) => {
            return Checked {
                failures: vec![shape.to_string()],
                ..Checked::default()
            };
        }
    };
    let mut failures = Vec::new();
    let mut fail = |problem: String| failures.push(problem);
    if raw.to_string().contains(LOCAL_TOKEN) {
        fail("the token is in the answer".into());
    }
    if answer.header("content-type") != Some("application/json") {
        fail(format!(
            "content-type is {:?}, expected application/json",
            answer.header("content-type")
        ));
    }
    if (answer.status == 405) != (answer.header("allow") == Some("POST")) {
        fail(format!(
            "allow is {:?} with status {}: `Allow: POST` goes with 405, only",
            answer.header("allow"),
            answer.status
        ));
    }
    let Ok(body) = serde_json::from_str::<Value>(&answer.body) else {
        fail(format!("the body is not JSON: {}", answer.body));
        return Checked {
            status: Some(answer.status),
            body: Value::Null,
            failures,
        };
    };
    if answer.status != expect.status {
        fail(format!(
            "status {}, expected {}: {body}",
            answer.status, expect.status
        ));
    }
    let settled = matches!(answer.status, 200 | 202);
    let (code, message) = if settled {
        (&body["status"], &body["message"])
    } else {
        (&body["error"]["code"], &body["error"]["message"])
    };
    if code.as_str() != Some(expect.code.as_str()) {
        fail(format!("code {code}, expected {}: {body}", expect.code));
    }
    let message = message.as_str();
    let id = prepared.event_id.as_deref().unwrap_or("?");
    let with_id = |text: &String| text.replace("{event_id}", id);
    match (
        &expect.message.as_ref().map(with_id),
        &expect.message_prefix.as_ref().map(with_id),
        message,
    ) {
        (Some(exact), _, Some(got)) if got != exact => {
            fail(format!("message `{got}`, expected `{exact}`"));
        }
        (_, Some(prefix), Some(got)) if !got.starts_with(prefix.as_str()) => {
            fail(format!("message `{got}` does not start with `{prefix}`"));
        }
        (Some(_), _, None) | (_, Some(_), None) => fail(format!("no message: {body}")),
        (None, None, Some(got)) => fail(format!("unexpected message `{got}`")),
        _ => {}
    }
    let text = |field: &str| body[field].as_str().map(str::to_owned);
    if text("reason") != expect.reason {
        fail(format!(
            "reason {}, expected {:?}",
            body["reason"], expect.reason
        ));
    }
    if text("warning") != expect.warning || text("route") != expect.route {
        fail(format!(
            "warning {} route {}, expected {:?} {:?}",
            body["warning"], body["route"], expect.warning, expect.route
        ));
    }
    match (&body["event_id"], &prepared.event_id) {
        (Value::Null, _) if matches!(expect.code.as_str(), "accepted" | "duplicate") => {
            fail(format!("no event_id: {body}"));
        }
        (Value::Null, _) => {}
        (got, Some(id)) if got == id.as_str() => {}
        (got, id) => fail(format!("event_id {got}, expected {id:?}")),
    }
    if expect.code == "accepted" {
        let enqueued = matches!(expect.sent, Queue::Actionable | Queue::Activity);
        if body["enqueued"].as_bool() != Some(enqueued) {
            fail(format!(
                "enqueued {}, expected {enqueued}",
                body["enqueued"]
            ));
        }
    }
    Checked {
        status: Some(answer.status),
        body,
        failures,
    }
}

/// Checks what a run left behind against the expectation: the record's state (and, for an
/// event this run accepted, its fields), and exactly the one expected message, its payload
/// or quarantined body intact.
pub fn check_effects(prepared: &Prepared<'_>, effects: &Effects) -> Vec<String> {
    let expect = prepared.expect;
    let received = prepared.request.received();
    let mut failures = Vec::new();

    let record = effects.record.as_ref();
    let state = record.map_or("none", |r| r.status.as_str());
    if state != expect.record.as_str() {
        failures.push(format!(
            "record {state}, expected {}",
            expect.record.as_str()
        ));
    }
    if let (Some(record), "accepted") = (record, expect.code.as_str()) {
        failures.extend(check_record(prepared, record, &received, effects));
    }

    let sent: Vec<Queue> = effects.messages.iter().map(|m| m.queue).collect();
    let expected: Vec<Queue> = [expect.sent]
        .into_iter()
        .filter(|q| *q != Queue::None)
        .collect();
    if sent != expected {
        let names = |queues: &[Queue]| queues.iter().map(|q| q.as_str()).collect::<Vec<_>>();
        failures.push(format!(
            "sent to {:?}, expected {:?}",
            names(&sent),
            names(&expected)
        ));
        return failures;
    }
    for message in &effects.messages {
        if message.body.contains(LOCAL_TOKEN) {
            failures.push(format!(
                "the token is in a {} message",
                message.queue.as_str()
            ));
        }
        let problems = match message.queue {
            Queue::Quarantine => check_quarantined(prepared, message, &received),
            _ => check_event_message(prepared, message, &received),
        };
        failures.extend(problems);
    }
    failures
}

fn check_record(
    prepared: &Prepared<'_>,
    record: &super::Record,
    received: &[u8],
    effects: &Effects,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(validation) = &record.validation
        && *validation != validation_hash(received)
    {
        failures.push("the record's validation is not the hash of the received body".into());
    }
    if prepared.expect.record == RecordState::Completed && record.in_progress_expiration.is_some() {
        failures.push("a COMPLETED record keeps in_progress_expiration".into());
    }
    let sent = effects.messages.first();
    let enqueued = matches!(prepared.expect.sent, Queue::Actionable | Queue::Activity);
    if record.enqueued.is_some_and(|e| e != enqueued) {
        failures.push(format!(
            "the record says enqueued {:?}, expected {enqueued}",
            record.enqueued
        ));
    }
    if let (Some(stored), Some(Message { id: Some(id), .. })) = (&record.message_id, sent)
        && stored != id
    {
        failures.push(format!(
            "the record names message {stored}, the queue holds {id}"
        ));
    }
    let ttl = prepared
        .case
        .config
        .env
        .get(vars::IDEMPOTENCY_TTL_SECONDS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TTL_SECONDS);
    let now = epoch_millis() / 1000;
    if let Some(expiration) = record.expiration
        && expiration.abs_diff(now + ttl) > EXPIRATION_SLACK_SECONDS
    {
        failures.push(format!(
            "expiration {expiration} is not epoch seconds {ttl} s from now ({now})"
        ));
    }
    failures
}

fn check_event_message(prepared: &Prepared<'_>, message: &Message, received: &[u8]) -> Vec<String> {
    let Ok(body) = serde_json::from_str::<Value>(&message.body) else {
        return vec![format!("the event message is not JSON: {}", message.body)];
    };
    let mut failures = Vec::new();
    if body["schema"] != MESSAGE_SCHEMA {
        failures.push(format!("schema {}", body["schema"]));
    }
    if body["event_id"].as_str() != prepared.event_id.as_deref() {
        failures.push(format!(
            "the message's event_id {}, expected {:?}",
            body["event_id"], prepared.event_id
        ));
    }
    match serde_json::from_slice::<Value>(received) {
        Ok(delivered) if body["payload"] == delivered => {}
        _ => failures.push("the payload is not the delivered body".into()),
    }
    // Byte for byte (the JSON value: whitespace around it is not part of it), but for the two
    // characters SQS cannot carry, written as escapes.
    let verbatim = std::str::from_utf8(received)
        .map(|text| text.trim_matches([' ', '\t', '\n', '\r']))
        .map(|text| format!(",\"payload\":{}}}", escape_json(text)))
        .is_ok_and(|tail| message.body.ends_with(&tail));
    if !verbatim {
        failures.push("the payload is not the delivered body byte for byte".into());
    }
    for (field, want) in &prepared.expect.fields {
        if body[field] != *want {
            failures.push(format!(
                "the message's {field} is {}, expected {want}",
                body[field]
            ));
        }
    }
    for name in ["event_type", "category", "contact_id", "team_id"] {
        let want = body[name].as_str().and_then(attribute_value);
        if message.attributes.get(name) != want.as_ref() {
            failures.push(format!(
                "attribute {name} is {:?}, expected {want:?}",
                message.attributes.get(name)
            ));
        }
    }
    failures
}

fn check_quarantined(prepared: &Prepared<'_>, message: &Message, received: &[u8]) -> Vec<String> {
    let kept = match Quarantined::parse(&message.body) {
        Ok(kept) => kept,
        Err(err) => return vec![format!("the quarantine message cannot be read: {err}")],
    };
    let mut failures = Vec::new();
    if kept.body != received {
        failures.push(format!(
            "the quarantined body ({} bytes) is not the received one ({} bytes)",
            kept.body.len(),
            received.len()
        ));
    }
    if Some(&kept.reason) != prepared.expect.reason.as_ref() {
        failures.push(format!(
            "quarantined for {}, expected {:?}",
            kept.reason, prepared.expect.reason
        ));
    }
    if kept.function != prepared.case.function {
        failures.push(format!("quarantined by {}", kept.function.as_str()));
    }
    if let Some(id) = &kept.event_id
        && Some(id) != prepared.event_id.as_ref()
    {
        failures.push(format!("quarantined under event id {id}"));
    }
    let attribute = |name: &str| message.attributes.get(name).map(String::as_str);
    if attribute("reason") != Some(kept.reason.as_str())
        || attribute("function") != Some(kept.function.as_str())
    {
        failures.push(format!("quarantine attributes {:?}", message.attributes));
    }
    failures
}
