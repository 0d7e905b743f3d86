//! The HTTP contract (docs/contract.md §3) as data, run against any backend.
//!
//! One case file, `events/contract.json` ([`case`]), holds every row: a request (function,
//! method, query, headers, body, base64), what happens before it (an earlier delivery, a claim
//! held elsewhere) and what it must get (status, code, reason, message, warning) and leave
//! behind (the record's state, at most one message, its payload or quarantined body intact).
//!
//! A [`Backend`] runs Lambda events and says what a case left behind: in-memory ports, the
//! AWS adapters on moto through the strict proxy, or the real binaries under
//! `cargo lambda watch` ([`StackBackend`]). [`run_case`] prepares a case for one run (fresh
//! event ids, so runs never meet), sends it as the chosen [`Source`] delivers it, and checks
//! the answer's shape and content and the effects.

pub mod case;
mod check;
mod stack;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reply_payload::{Category, MAX_EVENT_ID_BYTES};
use serde_json::Value;
use webhook_core::Routing;
use webhook_core::record::{ClaimToken, EpochMillis, EpochSeconds, NewRecord, RecordStatus};
use webhook_core::validation::validation_hash;

pub use case::{Case, CaseError, ClaimState, Expect, Queue, RecordState, Setup, Step, load};
pub use check::{Checked, check_answer, check_effects};
pub use stack::{StackBackend, message_of, record_of};

use crate::LOCAL_TOKEN;
use crate::ids::fresh_like;
use crate::lambda_event::{Encoding, HttpRequest, Source};

/// The record of an event id, as a backend reads it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `COMPLETED` or `INPROGRESS`.
    pub status: String,
    pub validation: Option<String>,
    pub event_type: Option<String>,
    pub category: Option<String>,
    /// Epoch seconds.
    pub expiration: Option<u64>,
    /// Epoch milliseconds.
    pub in_progress_expiration: Option<u64>,
    pub enqueued: Option<bool>,
    pub message_id: Option<String>,
}

/// A message a case sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub queue: Queue,
    pub body: String,
    /// String attributes.
    pub attributes: BTreeMap<String, String>,
    /// The queue's message id, when the backend knows it.
    pub id: Option<String>,
}

/// What a case left behind: its event id's record, and the messages it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub record: Option<Record>,
    pub messages: Vec<Message>,
}

/// What a backend needs to find a case's effects.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub function: Category,
    /// The event id the body carries, if it carries one.
    pub event_id: Option<&'a str>,
    /// The body the function received.
    pub received: &'a [u8],
}

/// Where cases run. Each method is one step of [`run_case`]; errors are descriptions.
pub trait Backend {
    /// For failure messages.
    fn name(&self) -> String;
    /// Whether cases with this configuration can run here.
    fn runs(&self, setup: &Setup) -> bool;
    /// Prepares one run of a case with this configuration.
    fn begin(&mut self, setup: &Setup) -> impl Future<Output = Result<(), String>>;
    /// Runs one Lambda event through `function`; its JSON answer.
    fn invoke(
        &mut self,
        function: Category,
        event: &Value,
    ) -> impl Future<Output = Result<Value, String>>;
    /// Stores `record`, as another invocation's claim would be.
    fn hold_claim(&mut self, record: &NewRecord) -> impl Future<Output = Result<(), String>>;
    /// What happened since the last call: the record of the probe's id and the messages sent
    /// (every one, or on a shared stack those carrying the id or the received body).
    fn effects(&mut self, probe: &Probe<'_>) -> impl Future<Output = Result<Effects, String>>;
}

/// One run of a case, ready to send.
#[derive(Debug, Clone)]
pub struct Prepared<'c> {
    pub case: &'c Case,
    pub source: Source,
    /// The event id of the body after freshening, when it has one.
    pub event_id: Option<String>,
    pub request: HttpRequest,
    pub steps: Vec<PreparedStep>,
    pub expect: &'c Expect,
}

/// One step, ready.
#[derive(Debug, Clone)]
pub enum PreparedStep {
    Deliver { request: HttpRequest, status: u16 },
    Claim(NewRecord),
}

/// What a run of a case got and left: for reports (the demo's table).
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub status: Option<u16>,
    pub body: Value,
    pub effects: Effects,
    pub failures: Vec<String>,
}

/// How long a claim held by "another invocation" lasts: far beyond any case.
const HELD_CLAIM: Duration = Duration::from_secs(600);

/// The event id a body carries as `event.id`, if it is JSON and the id a string.
pub fn body_event_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("event")?.get("id")?.as_str().map(str::to_owned)
}

impl Case {
    /// Prepares one run through `source`: every body's event id replaced by a fresh one of the
    /// same length (so sizes stay exact and runs on a shared stack never meet), the request as
    /// the client sends it, the steps, and the expectation for that source.
    pub fn prepare(&self, events_dir: &Path, source: Source) -> Result<Prepared<'_>, CaseError> {
        let body = self.body.bytes(events_dir, &self.name)?;
        let mut bodies = vec![body];
        for step in &self.before {
            if let Step::Deliver(case::Delivery {
                body: Some(other), ..
            }) = step
            {
                bodies.push(other.bytes(events_dir, &self.name)?);
            }
        }
        let fresh = freshened(&bodies).map_err(|problem| CaseError::Case {
            case: self.name.clone(),
            problem,
        })?;
        let mut bodies = fresh.into_iter();
        let body = bodies.next().unwrap_or_default();
        let event_id = body_event_id(&body);
        let request = self.request(body);
        let mut steps = Vec::new();
        for step in &self.before {
            steps.push(match step {
                Step::Deliver(delivery) => PreparedStep::Deliver {
                    request: match &delivery.body {
                        Some(_) => self.request(bodies.next().unwrap_or_default()),
                        None => request.clone(),
                    },
                    status: delivery.status,
                },
                Step::Claim(ClaimState::InProgress) => {
                    let id = event_id.as_deref().ok_or_else(|| CaseError::Case {
                        case: self.name.clone(),
                        problem: "a claim needs a body with an event id".into(),
                    })?;
                    PreparedStep::Claim(held_claim(id, &request.received()))
                }
            });
        }
        Ok(Prepared {
            case: self,
            source,
            event_id,
            request,
            steps,
            expect: self.by_source.get(source.name()).unwrap_or(&self.expect),
        })
    }

    /// The request the client sends with `body`.
    fn request(&self, body: Vec<u8>) -> HttpRequest {
        let content_type = if std::str::from_utf8(&body).is_ok() {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        for (name, value) in &self.headers {
            headers.retain(|(n, _)| n != name);
            headers.push((name.clone(), value.clone()));
        }
        HttpRequest {
            method: self.method.clone(),
            path: self.function.route().to_owned(),
            query: self
                .query
                .clone()
                .unwrap_or_else(|| format!("token={LOCAL_TOKEN}")),
            headers,
            body,
            encoding: match (self.base64, self.raw_body) {
                (true, true) => Encoding::MarkedOnly,
                (true, false) => Encoding::Base64,
                _ => Encoding::Auto,
            },
        }
    }
}

/// `bodies` with each usable event id they carry (one the functions would read) replaced
/// everywhere by a fresh one (the same one in every body), written as serde_json writes
/// strings.
fn freshened(bodies: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let mut fresh: BTreeMap<String, String> = BTreeMap::new();
    let usable = |id: &String| !id.is_empty() && id.len() <= MAX_EVENT_ID_BYTES;
    for body in bodies {
        if let Some(id) = body_event_id(body).filter(usable) {
            fresh.entry(id.clone()).or_insert_with(|| fresh_like(&id));
        }
    }
    bodies
        .iter()
        .map(|body| {
            let mut body = body.clone();
            for (old, new) in &fresh {
                let (old, new) = (json_string(old), json_string(new));
                let replaced = replace_all(&body, old.as_bytes(), new.as_bytes());
                if replaced == body
                    && body_event_id(&body).as_deref() == Some(&old[1..old.len() - 1])
                {
                    return Err(format!(
                        "the event id is not written {old} in the body, so it cannot be made fresh"
                    ));
                }
                body = replaced;
            }
            Ok(body)
        })
        .collect()
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// `haystack` with every `needle` replaced by `with`.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The record another invocation leaves while it processes `event_id` with `body`: INPROGRESS
/// until minutes from now.
pub fn held_claim(event_id: &str, body: &[u8]) -> NewRecord {
    let now = EpochMillis(crate::ids::epoch_millis());
    let until = EpochMillis(now.0 + u64::try_from(HELD_CLAIM.as_millis()).unwrap_or(u64::MAX));
    NewRecord {
        key: format!("reply#{event_id}"),
        status: RecordStatus::InProgress,
        expiration: EpochSeconds(now.seconds().0 + 3_600),
        in_progress_expiration: Some(until),
        validation: validation_hash(body),
        claim_token: ClaimToken::new(),
        event_type: "email_replied".into(),
        category: "email".into(),
        received_at: "2026-04-21T09:31:10.000Z".into(),
        enqueued: None,
    }
}

/// Runs one prepared case on `backend`: its steps, then its request; checks the answer and
/// what it left behind.
pub async fn run_case<B: Backend>(backend: &mut B, prepared: &Prepared<'_>) -> Ran {
    let mut ran = Ran::default();
    let received = prepared.request.received();
    let probe = Probe {
        function: prepared.case.function,
        event_id: prepared.event_id.as_deref(),
        received: &received,
    };
    if let Err(problem) = backend.begin(&prepared.case.config).await {
        ran.failures.push(format!("cannot begin: {problem}"));
        return ran;
    }
    for (n, step) in prepared.steps.iter().enumerate() {
        let done = match step {
            PreparedStep::Deliver { request, status } => {
                let event = prepared.source.event(request);
                match backend.invoke(prepared.case.function, &event).await {
                    Ok(answer) => match prepared.source.answer(&answer) {
                        Ok(answer) if answer.status == *status => Ok(()),
                        Ok(answer) => Err(format!(
                            "answered {} {}, expected {status}",
                            answer.status, answer.body
                        )),
                        Err(shape) => Err(shape.to_string()),
                    },
                    Err(problem) => Err(problem),
                }
            }
            PreparedStep::Claim(record) => backend.hold_claim(record).await,
        };
        if let Err(problem) = done {
            ran.failures.push(format!("step {}: {problem}", n + 1));
            return ran;
        }
    }
    if !prepared.steps.is_empty()
        && let Err(problem) = backend.effects(&probe).await
    {
        ran.failures.push(format!("after the steps: {problem}"));
        return ran;
    }
    let event = prepared.source.event(&prepared.request);
    let answer = match backend.invoke(prepared.case.function, &event).await {
        Ok(answer) => answer,
        Err(problem) => {
            ran.failures.push(format!("no answer: {problem}"));
            return ran;
        }
    };
    let checked = check_answer(prepared, &answer);
    ran.status = checked.status;
    ran.body = checked.body;
    ran.failures.extend(checked.failures);
    match backend.effects(&probe).await {
        Ok(effects) => {
            ran.failures.extend(check_effects(prepared, &effects));
            ran.effects = effects;
        }
        Err(problem) => ran.failures.push(format!("effects: {problem}")),
    }
    ran
}

/// Runs every (case, source) pair of `plan` on `backend` that it can run; the failures, each
/// naming backend, source and case. An empty plan is a failure (nothing would be proved).
pub async fn run_plan<B: Backend>(
    backend: &mut B,
    events_dir: &Path,
    plan: &[(&Case, Source)],
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (case, source) in plan {
        if !backend.runs(&case.config) {
            continue;
        }
        let context = format!("[{} {}] {}", backend.name(), source.name(), case.name);
        let prepared = match case.prepare(events_dir, *source) {
            Ok(prepared) => prepared,
            Err(err) => {
                failures.push(format!("{context}: {err}"));
                continue;
            }
        };
        ran += 1;
        let outcome = run_case(backend, &prepared).await;
        failures.extend(
            outcome
                .failures
                .into_iter()
                .map(|failure| format!("{context}: {failure}")),
        );
    }
    if ran == 0 {
        failures.push(format!("{}: no case could run", backend.name()));
    }
    failures
}

/// Every case through every source.
pub fn everything(cases: &[Case]) -> Vec<(&Case, Source)> {
    cases
        .iter()
        .flat_map(|case| Source::ALL.into_iter().map(move |source| (case, source)))
        .collect()
}

/// What the real binaries get: every case through `primary`, the representative ones also
/// through every other source.
pub fn primary_and_representative(cases: &[Case], primary: Source) -> Vec<(&Case, Source)> {
    let mut plan: Vec<(&Case, Source)> = cases.iter().map(|case| (case, primary)).collect();
    for source in Source::ALL.into_iter().filter(|s| *s != primary) {
        plan.extend(
            cases
                .iter()
                .filter(|case| case.representative)
                .map(|case| (case, source)),
        );
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_keep_the_length_and_every_other_byte() {
        let a = br#"{"event":{"id":"abc-123-def-456-ghi","Id":"abc-123-def-456-ghi","type":"x"},"z":1}"#
            .to_vec();
        let b = br#"{"event": {"id": "abc-123-def-456-ghi", "type": "y"}}"#.to_vec();
        let out = freshened(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(out[0].len(), a.len());
        let id = body_event_id(&out[0]).unwrap();
        assert_ne!(id, "abc-123-def-456-ghi");
        assert_eq!(id.len(), 19);
        assert_eq!(&id[3..4], "-");
        assert_eq!(body_event_id(&out[1]).unwrap(), id, "one id, one fresh id");
        assert_eq!(
            String::from_utf8(out[0].clone())
                .unwrap()
                .matches(&id)
                .count(),
            2
        );
        // Not JSON, or no id: unchanged.
        let text = b"not json \"abc\"".to_vec();
        assert_eq!(freshened(std::slice::from_ref(&text)).unwrap(), [text]);
    }

    #[test]
    fn an_id_written_otherwise_than_serde_json_writes_it_is_an_error() {
        let body = br#"{"event":{"id":"a\/b-0000000000000","type":"x"}}"#.to_vec();
        assert!(freshened(&[body]).is_err());
    }

    #[test]
    fn replace_all_replaces_each_occurrence() {
        assert_eq!(replace_all(b"xaxax", b"a", b"bb"), b"xbbxbbx");
        assert_eq!(replace_all(b"xx", b"a", b"b"), b"xx");
    }
}
