//! `reply-webhooks subscribe`, the real binary, against the fake Reply: from any starting state
//! to the plan in one run, nothing on the second, the dry run, pruning, exit codes, and
//! neither the API key nor the token in any output.

use std::process::Command;

use reply_api::PayloadConfig;
use reply_api::fake::{FakeOptions, FakeReply, FakeSubscription};

const TOKEN: &str = "cli-test-token-000000001";
/// Nothing listens there: the tests here do not need the functions.
const HOST: &str = "http://127.0.0.1:9";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Rows of the table (indented lines) containing `text`.
    fn lines_with(&self, text: &str) -> usize {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("  ") && l.contains(text))
            .count()
    }
}

fn url(category: &str) -> String {
    format!("{HOST}/webhooks/{category}")
}

/// Runs the binary with the fake's address and key, and the three URLs; `args` come after.
fn subscribe(fake: &FakeReply, key: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reply-webhooks"));
    command
        .arg("subscribe")
        .args(["--email-url", &url("email")])
        .args(["--linkedin-url", &url("linkedin")])
        .args(["--account-url", &url("account")])
        .args(args)
        .env("REPLY_API_BASE_URL", fake.base_url())
        .env_remove("REPLY_API_KEY")
        .env_remove("IDEMPOTENCY_TABLE_NAME");
    if let Some(key) = key {
        command.env("REPLY_API_KEY", key);
    }
    let output = command.output().expect("the binary runs");
    let run = Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    for secret in [TOKEN, fake.api_key().as_str()] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn with_token(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--token".to_owned(), TOKEN.to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

fn run(fake: &FakeReply, args: &[&str]) -> Run {
    let args = with_token(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    subscribe(fake, Some(&fake.api_key()), &args)
}

fn planned_payload(include_email_text: bool) -> PayloadConfig {
    PayloadConfig {
        include_email_url: true,
        include_email_text,
        include_prospect_custom_fields: true,
    }
}

/// The route a subscription URL points at and its token, e.g. ("email", "cli-test-…").
fn route_and_token(s: &FakeSubscription) -> (String, String) {
    let rest = s
        .url
        .strip_prefix(&format!("{HOST}/webhooks/"))
        .expect(&s.url);
    let (route, query) = rest.split_once("?token=").expect(&s.url);
    (route.to_owned(), query.to_owned())
}

#[test]
fn creates_every_subscription_then_a_second_run_changes_nothing() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let first = run(&fake, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert_eq!(first.lines_with(" created"), 19, "{}", first.stdout);
    assert!(first.stdout.contains("Reply matches the plan"));

    let subscriptions = fake.subscriptions();
    assert_eq!(subscriptions.len(), 19);
    for s in &subscriptions {
        let category = reply_payload::EventType::parse(&s.event_type)
            .category()
            .expect("a known type");
        assert_eq!(
            route_and_token(s),
            (category.as_str().to_owned(), TOKEN.to_owned())
        );
        assert_eq!(s.scope, "Personal");
        assert!(s.enabled);
        assert_eq!(s.payload_config, planned_payload(false));
    }

    let calls_before = fake.calls().len();
    let second = run(&fake, &[]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    assert_eq!(second.lines_with(" unchanged"), 19, "{}", second.stdout);
    let calls: Vec<_> = fake.calls().split_off(calls_before);
    assert!(calls.iter().all(|c| !c.is_write()), "{calls:?}");
    assert_eq!(calls.len(), 2, "two pages of the list, nothing else");
    assert_eq!(fake.subscriptions(), subscriptions);
}

#[test]
fn updates_re_enables_recreates_and_prunes_only_ours() {
    let fake = FakeReply::start(FakeOptions {
        string_ids: true,
        lowercase_scope: true,
        ..FakeOptions::default()
    })
    .unwrap();
    let ours = |route: &str, token: &str| format!("{}?token={token}", url(route));
    let old_token = fake.insert(
        "email_replied",
        &ours("email", "old-token-000000000001"),
        "Personal",
        true,
        planned_payload(false),
    );
    let disabled = fake.insert(
        "email_sent",
        &ours("email", TOKEN),
        "Personal",
        false,
        planned_payload(false),
    );
    let wrong_route = fake.insert(
        "linkedin_message_sent",
        &ours("email", TOKEN),
        "Personal",
        true,
        planned_payload(false),
    );
    let team = fake.insert(
        "contact_called",
        &ours("email", TOKEN),
        "Team",
        true,
        planned_payload(true),
    );
    let duplicate = fake.insert(
        "email_sent",
        &ours("email", "old-token-000000000001"),
        "Personal",
        true,
        planned_payload(false),
    );
    let foreign = fake.insert(
        "email_replied",
        "https://crm.example.com/hooks/reply?token=theirs",
        "Team",
        false,
        PayloadConfig::default(),
    );

    let first = run(
        &fake,
        &[
            "--events",
            "email_replied,email_sent,linkedin_message_sent,contact_called,autopilot_stopped",
        ],
    );
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    for expected in [
        "updated (token)",
        "re-enabled",
        "updated (route)",
        "updated (scope, payload options)",
        "created",
        "kept: stale, a second one for this type (--prune deletes it)",
    ] {
        assert_eq!(
            first.lines_with(expected),
            1,
            "{expected}:\n{}",
            first.stdout
        );
    }
    assert!(
        first
            .stdout
            .contains("1 subscription(s) of other receivers left alone")
    );
    assert_eq!(
        first.lines_with("/webhooks/linkedin  "),
        1,
        "the planned route is shown"
    );
    let by_id = |id: u64| fake.subscriptions().into_iter().find(|s| s.id == id);
    assert_eq!(route_and_token(&by_id(old_token).unwrap()).1, TOKEN);
    assert!(by_id(disabled).unwrap().enabled);
    assert_eq!(route_and_token(&by_id(wrong_route).unwrap()).0, "linkedin");
    let team = by_id(team).unwrap();
    assert_eq!(
        (team.scope.as_str(), team.payload_config),
        ("Personal", planned_payload(false))
    );
    assert!(by_id(duplicate).is_some(), "kept without --prune");
    assert_eq!(fake.subscriptions().len(), 7);

    let pruned = run(
        &fake,
        &[
            "--events",
            "email_replied,email_sent,linkedin_message_sent,contact_called,autopilot_stopped",
            "--prune",
        ],
    );
    assert_eq!(pruned.code, 0, "{}{}", pruned.stdout, pruned.stderr);
    assert_eq!(
        pruned.lines_with("deleted: stale, a second one for this type"),
        1,
        "{}",
        pruned.stdout
    );
    assert_eq!(pruned.lines_with(" unchanged"), 5, "{}", pruned.stdout);
    assert!(by_id(duplicate).is_none());
    let untouched = by_id(foreign).expect("others are never touched");
    assert!(!untouched.enabled && untouched.url.starts_with("https://crm.example.com/"));

    // Fewer types with --prune: ours for the dropped types go too.
    let narrowed = run(&fake, &["--events", "email_replied", "--prune"]);
    assert_eq!(narrowed.code, 0, "{}{}", narrowed.stdout, narrowed.stderr);
    assert_eq!(
        narrowed.lines_with("deleted: stale, type not in the plan"),
        4,
        "{}",
        narrowed.stdout
    );
    let left: Vec<_> = fake
        .subscriptions()
        .into_iter()
        .map(|s| s.event_type)
        .collect();
    assert_eq!(
        left,
        ["email_replied", "email_replied"],
        "ours and the foreign one"
    );
}

#[test]
fn the_watchdogs_cases_are_repaired_by_subscribe_too() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    assert_eq!(
        run(&fake, &["--events", "email_replied,email_bounced"]).code,
        0
    );
    let ids: Vec<u64> = fake.subscriptions().iter().map(|s| s.id).collect();
    fake.set_enabled(ids[0], false);
    fake.remove(ids[1]);
    let repaired = run(&fake, &["--events", "email_replied,email_bounced"]);
    assert_eq!(repaired.code, 0, "{}", repaired.stdout);
    assert_eq!(
        (
            repaired.lines_with("re-enabled"),
            repaired.lines_with(" created")
        ),
        (1, 1)
    );
    assert!(fake.subscriptions().iter().all(|s| s.enabled));
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let id = fake.insert(
        "email_replied",
        &format!("{}?token={TOKEN}", url("email")),
        "Personal",
        false,
        planned_payload(false),
    );
    let before = fake.subscriptions();

    let dry = run(
        &fake,
        &[
            "--dry-run",
            "--include-email-text",
            "--scope",
            "team",
            "--test",
        ],
    );
    assert_eq!(
        dry.code, 3,
        "changes pending:\n{}{}",
        dry.stdout, dry.stderr
    );
    assert_eq!(dry.lines_with("would create"), 18, "{}", dry.stdout);
    assert_eq!(
        dry.lines_with("would update (scope, payload options); would re-enable"),
        1,
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("--test is skipped on a dry run"));
    assert!(
        fake.calls().iter().all(|c| !c.is_write()),
        "{:?}",
        fake.calls()
    );
    assert_eq!(fake.subscriptions(), before);

    assert_eq!(
        run(&fake, &["--include-email-text", "--scope", "team"]).code,
        0
    );
    let settled = run(
        &fake,
        &["--dry-run", "--include-email-text", "--scope", "TEAM"],
    );
    assert_eq!(settled.code, 0, "{}", settled.stdout);
    assert!(
        settled
            .stdout
            .contains("Reply matches the plan: nothing to do")
    );
    let updated = fake
        .subscriptions()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap();
    assert_eq!((updated.scope.as_str(), updated.enabled), ("Team", true));
    assert_eq!(updated.payload_config, planned_payload(true));
}

#[test]
fn exit_codes_and_messages_for_what_goes_wrong() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();

    let no_key = subscribe(&fake, None, &["--token", TOKEN]);
    assert_eq!(no_key.code, 2);
    assert!(
        no_key.stderr.contains("set REPLY_API_KEY"),
        "{}",
        no_key.stderr
    );

    let short = "short-token";
    let bad_token = subscribe(&fake, Some(&fake.api_key()), &["--token", short]);
    assert_eq!(bad_token.code, 2);
    assert!(
        bad_token.stderr.contains("shorter than 16"),
        "{}",
        bad_token.stderr
    );
    assert!(!bad_token.stderr.contains(short), "the token is not echoed");

    let typo = run(&fake, &["--events", "email_replied,emial_sent"]);
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("\"emial_sent\" is not an event type"),
        "{}",
        typo.stderr
    );

    let scope = run(&fake, &["--scope", "organization"]);
    assert_eq!(scope.code, 2, "{}", scope.stderr);

    let misplaced = subscribe(&fake, Some(&fake.api_key()), &["--token", TOKEN, TOKEN]);
    assert_eq!(
        misplaced.code, 2,
        "a stray argument: clap's error, token hidden"
    );

    let mut command = Command::new(env!("CARGO_BIN_EXE_reply-webhooks"));
    let no_urls = command
        .args(["subscribe", "--token", TOKEN])
        .env("REPLY_API_KEY", fake.api_key())
        .output()
        .unwrap();
    assert_eq!(no_urls.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_urls.stderr)
            .contains("--email-url, --linkedin-url, --account-url")
    );

    let wrong_key = "wrong-key-never-printed";
    let refused = subscribe(&fake, Some(wrong_key), &["--token", TOKEN]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("Reply refused the API key (HTTP 401)"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(wrong_key));
    assert!(fake.subscriptions().is_empty(), "nothing was created");
}

#[test]
fn a_failed_call_fails_the_run_and_the_next_run_finishes_the_job() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    fake.fail_next(429, Some(0), 1); // the list: not processed, so retried
    fake.fail_next_write(500, 1); // the first create: it might have happened, so not retried
    let failed = run(&fake, &["--events", "email_replied,email_sent"]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains("trying again"), "{}", failed.stderr);
    assert_eq!(
        failed.lines_with("create FAILED: Reply answered HTTP 500 (injected_failure)"),
        1,
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("Reply does NOT match the plan"),
        "{}",
        failed.stdout
    );
    assert_eq!(fake.subscriptions().len(), 1, "the other create went ahead");

    let again = run(&fake, &["--events", "email_replied,email_sent"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(
        (again.lines_with(" created"), again.lines_with(" unchanged")),
        (1, 1)
    );
}

#[test]
fn test_deliveries_without_a_table_are_fired_and_not_looked_up() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let tested = run(
        &fake,
        &["--events", "email_replied,autopilot_stopped", "--test"],
    );
    assert_eq!(tested.code, 0, "{}{}", tested.stdout, tested.stderr);
    assert_eq!(
        tested.lines_with("fired    not looked up"),
        2,
        "{}",
        tested.stdout
    );
    assert!(
        tested
            .stdout
            .contains("no table (give --stack, or set IDEMPOTENCY_TABLE_NAME)")
    );
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        deliveries[0].status, None,
        "nothing listens at the test URLs"
    );
}
