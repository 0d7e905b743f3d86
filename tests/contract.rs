//! The HTTP contract (docs/contract.md §3): every case of `events/contract.json` (its format:
//! docs/events.md) against every backend, through every way AWS delivers HTTP to Lambda.
//!
//! | backend | cases | sources | effects |
//! |---|---|---|---|
//! | the core on in-memory ports | all | all six | exact: the only record, every message |
//! | the AWS adapters on moto, through the strict proxy | all | HTTP API 2.0 for all, the others for the representative ones | exact: every write and send the proxy saw |
//! | the real binaries under `cargo lambda watch` (`RW_STACK_DIR`) | the stack's configuration | HTTP API 2.0 for all, the others for the representative ones | by event id, on the stack's shared table and queues |
//!
//! How a source hands a request over is decided in the functions' own code, before any port is
//! called: the in-memory run proves every source on every case, so the emulator's runs (ten
//! times slower each) take every case once and the representative ones through the
//! other sources.
//!
//! A case runs as each source delivers it ([`devkit::lambda_event`]); its answer must have that
//! source's shape, status, body and headers, and what it left behind must be what the case
//! says, the forwarded payload and the quarantined body intact. Every run gets fresh event
//! ids. Failures are collected and listed together.

use std::path::{Path, PathBuf};

use devkit::Stack;
use devkit::contract::{
    Case, Queue, StackBackend, body_event_id, everything, load, primary_and_representative,
    run_plan,
};
use devkit::lambda_event::Source;
use reply_payload::{Delivery, ReplyEvent};
use reply_webhooks_tests::backends::{MemoryBackend, MotoBackend};
use reply_webhooks_tests::require_moto;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn cases() -> Vec<Case> {
    load(&events_dir()).unwrap_or_else(|err| panic!("{err}"))
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[tokio::test]
async fn every_case_through_every_source_on_in_memory_ports() {
    let cases = cases();
    let plan = everything(&cases);
    assert_none(run_plan(&mut MemoryBackend::default(), &events_dir(), &plan).await);
}

/// The source every case takes on moto and on the real binaries: the template's.
const PRIMARY: Source = Source::HttpApiV2;

/// One test per source, so they run in parallel.
macro_rules! on_moto {
    ($($test:ident: $source:expr;)+) => {$(
        #[tokio::test]
        async fn $test() {
            require_moto!();
            let cases = cases();
            let plan: Vec<(&Case, Source)> = primary_and_representative(&cases, PRIMARY)
                .into_iter()
                .filter(|(_, source)| *source == $source)
                .collect();
            let mut backend = MotoBackend::new($source.name());
            assert_none(run_plan(&mut backend, &events_dir(), &plan).await);
        }
    )+};
}

on_moto! {
    cases_on_moto_through_the_rest_api: Source::RestApi;
    cases_on_moto_through_the_http_api_payload_1: Source::HttpApiV1;
    cases_on_moto_through_the_http_api_payload_2: Source::HttpApiV2;
    cases_on_moto_through_an_alb: Source::Alb;
    cases_on_moto_through_an_alb_with_multi_value_headers: Source::AlbMultiValue;
    cases_on_moto_through_a_function_url: Source::FunctionUrl;
}

/// The stack named by `RW_STACK_DIR` (relative to the workspace root), or `None` (the test is
/// skipped; under CI that is a failure).
fn stack() -> Option<Stack> {
    let dir = match std::env::var("RW_STACK_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if std::env::var_os("CI").is_some() => {
            panic!("RW_STACK_DIR is not set under CI: run the tests through `make test`")
        }
        _ => {
            eprintln!(
                "skipped: RW_STACK_DIR is not set. Run `make test`, or against `make local`: \
                 RW_STACK_DIR=.stack/local cargo test -p reply-webhooks-tests --test contract"
            );
            return None;
        }
    };
    let dir = events_dir().join("..").join(dir);
    Some(Stack::attach(&dir).unwrap_or_else(|| {
        panic!(
            "no running stack in {}: start one with `make local`",
            dir.display()
        )
    }))
}

/// The real binaries: every case the stack's configuration allows through HTTP API 2.0 (the
/// template's source), the representative ones through every other source. One test, so
/// only one reader scans the stack's queues at a time; nothing may be refused by its proxy.
#[tokio::test]
async fn the_cases_on_the_real_binaries() {
    let Some(stack) = stack() else { return };
    let cases = cases();
    let mut backend = StackBackend::of(&stack)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let plan = primary_and_representative(&cases, PRIMARY);
    let mut failures = run_plan(&mut backend, &events_dir(), &plan).await;
    let refusals = stack.refusals().unwrap_or_else(|err| panic!("{err}"));
    failures.extend(
        refusals
            .into_iter()
            .map(|r| format!("the stack's proxy {r}")),
    );
    assert_none(failures);
}

/// The cases whose body alone decides the answer: both parsers must agree with it (the
/// quarantine message, or the accepted body's warning).
#[test]
fn body_cases_get_the_same_answer_from_both_parsers() {
    let mut checked = 0;
    for case in cases() {
        let body_only = case
            .body
            .file
            .as_deref()
            .is_some_and(|f| f.starts_with("bad/"))
            && !case.base64
            && case.query.is_none()
            && case.method == "POST"
            && case.before.is_empty()
            && case.config.is_default();
        if !body_only {
            continue;
        }
        checked += 1;
        let name = &case.name;
        let body = case.body.bytes(&events_dir(), name).unwrap();
        let delivery = Delivery::parse(&body);
        let event = ReplyEvent::parse(&body);
        let expect = &case.expect;
        if expect.status == 200 {
            let delivery = delivery.unwrap_or_else(|e| panic!("{name}: {e}"));
            let event = event.unwrap_or_else(|e| panic!("{name}: {e}"));
            let warnings: Vec<String> = delivery
                .envelope
                .warnings
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(
                event.envelope.warnings, delivery.envelope.warnings,
                "{name}"
            );
            assert_eq!(
                warnings,
                Vec::from_iter(case.parse_warning.clone()),
                "{name}: the warnings"
            );
            // What could not be typed is kept; a key repeated under one spelling cannot be
            // (a JSON map holds it once), but the forwarded body keeps every byte.
            if !warnings.iter().any(|w| w.starts_with("event is given")) {
                let original: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(serde_json::to_value(&event).unwrap(), original, "{name}");
            }
            continue;
        }
        assert_eq!(
            (expect.code.as_str(), expect.reason.as_deref()),
            ("quarantined", Some("invalid_payload")),
            "{name}"
        );
        let delivery = delivery.map(|_| ()).unwrap_err().to_string();
        let event = event.map(|_| ()).unwrap_err().to_string();
        assert_eq!(delivery, event, "{name}: the parsers disagree");
        match (&expect.message, &expect.message_prefix) {
            (Some(message), None) => assert_eq!(&delivery, message, "{name}"),
            (None, Some(prefix)) => assert!(
                delivery.starts_with(prefix.as_str()),
                "{name}: `{delivery}` does not start with `{prefix}`"
            ),
            _ => panic!("{name}: give exactly one of message and message_prefix"),
        }
    }
    assert!(checked >= 60, "{checked} body cases");
}

/// The case file covers the whole contract: every body in `events/bad/` is a case, every row
/// of the table has one, every case can be made fresh, and the representative cases cover
/// every row the real binaries can reach.
#[test]
fn the_case_file_covers_the_whole_contract() {
    let cases = cases();
    let mut bad: Vec<String> = std::fs::read_dir(events_dir().join("bad"))
        .unwrap()
        .map(|entry| format!("bad/{}", entry.unwrap().file_name().to_string_lossy()))
        .collect();
    bad.sort();
    let used: Vec<&str> = cases
        .iter()
        .filter_map(|c| c.body.file.as_deref())
        .collect();
    let unused: Vec<&String> = bad.iter().filter(|f| !used.contains(&f.as_str())).collect();
    assert!(
        unused.is_empty(),
        "files of events/bad/ no case uses: {unused:?}"
    );

    let rows = |cases: &[&Case]| {
        let mut rows: Vec<String> = cases
            .iter()
            .map(|c| {
                let e = &c.expect;
                format!(
                    "{} {} {}",
                    e.status,
                    e.code,
                    e.reason.as_deref().unwrap_or("")
                )
            })
            .collect();
        rows.sort();
        rows.dedup();
        rows
    };
    let all: Vec<&Case> = cases.iter().collect();
    let contract = [
        "200 accepted ",
        "200 duplicate ",
        "202 quarantined invalid_payload",
        "202 quarantined payload_mismatch",
        "202 quarantined rejected_by_queue",
        "401 unauthorized ",
        "405 method_not_allowed ",
        "409 in_progress ",
        "413 payload_too_large ",
    ];
    assert_eq!(rows(&all), contract);
    let representative: Vec<&Case> = cases.iter().filter(|c| c.representative).collect();
    let reachable: Vec<&str> = contract
        .into_iter()
        .filter(|row| !row.ends_with("rejected_by_queue"))
        .collect();
    assert_eq!(rows(&representative), reachable);
    assert!(representative.iter().all(|c| c.config.is_default()));
    assert!(
        representative.iter().any(|c| c.raw_body),
        "a broken base64 body among the representative cases"
    );
    for queue in [
        Queue::None,
        Queue::Actionable,
        Queue::Activity,
        Queue::Quarantine,
    ] {
        assert!(
            cases.iter().any(|c| c.expect.sent == queue),
            "no case sends to {}",
            queue.as_str()
        );
    }
    // Fresh ids need letters or digits to vary: enough of them that runs never meet.
    for case in &cases {
        let body = case.body.bytes(&events_dir(), &case.name).unwrap();
        let readable =
            |id: &String| !id.is_empty() && id.len() <= reply_payload::MAX_EVENT_ID_BYTES;
        if let Some(id) = body_event_id(&body).filter(readable) {
            let varying = id.chars().filter(char::is_ascii_alphanumeric).count();
            assert!(
                varying >= 12,
                "{}: event id {id:?} has {varying} letters or digits",
                case.name
            );
        }
    }
}
