//! `subscribe --test` end to end: the fake Reply's test deliveries go to the three functions
//! running under `cargo lambda watch` (the local stack `make test` starts; `RW_STACK_DIR`
//! names it), and the command reports the records they wrote in the idempotency table.
//!
//! Against `make local`: `RW_STACK_DIR=.stack/local cargo test -p reply-webhooks --test
//! test_deliveries` (the AWS variables are read from the stack's `env`). Without
//! `RW_STACK_DIR` the test is skipped, except under CI, where that is a failure.

use std::path::Path;
use std::process::Command;

use reply_api::fake::{FakeOptions, FakeReply};
use reply_webhooks::demo::LocalStack;

const EVENTS: [&str; 3] = [
    "email_replied",
    "linkedin_message_replied",
    "autopilot_stopped",
];

fn stack() -> Option<LocalStack> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    match LocalStack::from_env(root).unwrap() {
        Some(stack) => Some(stack),
        None if std::env::var_os("CI").is_some() => {
            panic!("RW_STACK_DIR is not set under CI: run the tests through `make test`")
        }
        None => {
            eprintln!("skipped: RW_STACK_DIR is not set (run `make test`)");
            None
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
}

fn subscribe_test(stack: &LocalStack, fake: &FakeReply) -> Run {
    let args = stack.subscribe_args().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_reply-webhooks"))
        .args(&args[1..])
        .args(["--events", &EVENTS.join(","), "--test"])
        // The stack's environment: its table and the AWS endpoint (moto).
        .envs(stack.env())
        .env("REPLY_API_KEY", fake.api_key())
        .env("REPLY_API_BASE_URL", fake.base_url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let token = stack.token().unwrap();
    assert!(
        !stdout.contains(token) && !stderr.contains(token),
        "the token was printed"
    );
    assert!(!stdout.contains(&fake.api_key()) && !stderr.contains(&fake.api_key()));
    eprintln!("{stdout}{stderr}");
    Run {
        code: output.status.code().unwrap(),
        stdout,
    }
}

#[test]
fn test_deliveries_reach_the_functions_and_their_records_are_reported() {
    let Some(stack) = stack() else {
        return;
    };
    assert!(stack.table().is_some(), "the stack's env names the table");
    let fake = FakeReply::start(FakeOptions::default()).unwrap();

    let first = subscribe_test(&stack, &fake);
    assert_eq!(first.code, 0, "{}", first.stdout);
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), EVENTS.len());
    for delivery in &deliveries {
        assert_eq!(delivery.status, Some(200), "{delivery:?}");
        assert!(
            delivery.answer.contains(r#""status":"accepted""#),
            "{delivery:?}"
        );
        let line = format!(
            "accepted: new record, event {}",
            fake.placeholder_event_id(&delivery.event_type)
        );
        assert_eq!(
            first
                .stdout
                .lines()
                .filter(|l| l.contains(&delivery.event_type) && l.contains(&line))
                .count(),
            1,
            "{line} for {}:\n{}",
            delivery.event_type,
            first.stdout
        );
    }

    // The same placeholder ids again: answered "duplicate", nothing new in the table.
    let second = subscribe_test(&stack, &fake);
    assert_eq!(second.code, 0, "{}", second.stdout);
    let repeats = &fake.deliveries()[EVENTS.len()..];
    assert_eq!(repeats.len(), EVENTS.len());
    for delivery in repeats {
        assert_eq!(delivery.status, Some(200), "{delivery:?}");
        assert!(
            delivery.answer.contains(r#""status":"duplicate""#),
            "{delivery:?}"
        );
    }
    assert_eq!(
        second
            .stdout
            .lines()
            .filter(|l| l.contains("no new record (see below)"))
            .count(),
        EVENTS.len(),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("a repeat of an earlier test"));
}
