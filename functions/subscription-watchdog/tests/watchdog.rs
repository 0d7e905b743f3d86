//! The watchdog against the fake Reply: it re-enables a disabled subscription, recreates a
//! missing one, leaves one that differs alone, writes its metrics line, and never lets the
//! API key or the token into its logs. The whole run, Secrets Manager included, is tested on
//! moto's server when `make test` provides one (`AWS_ENDPOINT_URL`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reply_api::fake::{FakeOptions, FakeReply};
use reply_api::{ApiKey, Client, ClientConfig, Error, RetryPolicy};
use reply_payload::EventType;
use serde_json::Value;
use subscription_watchdog::metrics::{NAMESPACE, emf_line};
use subscription_watchdog::{Config, Report, WatchdogError, check};

const OLD_TOKEN: &str = "old-token-watchdog-0001";
const TOKEN: &str = "new-token-watchdog-0002";
const HOST: &str = "http://127.0.0.1:9";

const QUICK: RetryPolicy = RetryPolicy {
    attempts: 2,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(2),
    max_retry_after: Duration::from_secs(1),
};

fn config(fake: &FakeReply, secret_arn: &str) -> Config {
    let vars: HashMap<&str, String> = HashMap::from([
        ("REPLY_API_KEY_SECRET_ARN", secret_arn.to_owned()),
        ("REPLY_API_BASE_URL", fake.base_url()),
        ("EMAIL_WEBHOOK_URL", format!("{HOST}/webhooks/email")),
        ("LINKEDIN_WEBHOOK_URL", format!("{HOST}/webhooks/linkedin")),
        ("ACCOUNT_WEBHOOK_URL", format!("{HOST}/webhooks/account")),
        ("WEBHOOK_TOKENS", format!("{OLD_TOKEN},{TOKEN}")),
    ]);
    let mut config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    config.retry = QUICK;
    config
}

fn client(fake: &FakeReply, key: &str) -> Client {
    let mut config = ClientConfig::new(fake.base_url(), 100);
    config.retry = QUICK;
    Client::new(ApiKey::new(key).unwrap(), config).unwrap()
}

/// Fills the fake with the plan's 19 subscriptions, as `subscribe` would have.
fn subscribed(fake: &FakeReply, config: &Config) -> Vec<u64> {
    EventType::KNOWN
        .iter()
        .map(|t| {
            let spec = config.plan.spec(t);
            fake.insert(
                &spec.event_type,
                &spec.url,
                spec.scope.as_str(),
                true,
                spec.payload_config,
            )
        })
        .collect()
}

#[test]
fn re_enables_recreates_and_leaves_edits_to_the_operator() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let config = config(&fake, "arn:unused");
    let ids = subscribed(&fake, &config);
    fake.set_enabled(ids[0], false);
    fake.remove(ids[1]);
    let rotated = ids[2];
    let old_url = format!("{HOST}/webhooks/email?token={OLD_TOKEN}");
    let mut rotated_before = fake
        .subscriptions()
        .into_iter()
        .find(|s| s.id == rotated)
        .unwrap();
    fake.remove(rotated);
    let rotated = fake.insert(
        &rotated_before.event_type,
        &old_url,
        "Personal",
        true,
        rotated_before.payload_config,
    );
    rotated_before.id = rotated;
    rotated_before.url = old_url;

    let client = client(&fake, &fake.api_key());
    let (report, failure) = check(&client, &config.plan).unwrap();
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(
        report,
        Report {
            planned: 19,
            enabled: 19,
            re_enabled: 1,
            missing: 1,
            differing: 1,
            reply_calls: 4,
        },
        "two list pages, one enable, one create"
    );
    let now = fake.subscriptions();
    assert_eq!(now.len(), 19);
    assert!(now.iter().all(|s| s.enabled));
    let recreated = now
        .iter()
        .find(|s| s.event_type == "reply_categorized")
        .unwrap();
    assert!(
        recreated.url.ends_with(&format!("?token={TOKEN}")),
        "the newest token"
    );
    assert_eq!(
        now.iter().find(|s| s.id == rotated),
        Some(&rotated_before),
        "a subscription that differs from the plan is not the watchdog's to change"
    );

    let line: Value =
        serde_json::from_str(&emf_line(&report, "watchdog-fn", 1_700_000_000_000)).unwrap();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], NAMESPACE);
    assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
    assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
    assert_eq!(line["Function"], "watchdog-fn");
    for (name, value) in [
        ("SubscriptionsEnabled", 19),
        ("SubscriptionsReEnabled", 1),
        ("SubscriptionsMissing", 1),
    ] {
        assert_eq!(line[name], value, "{name}");
        assert!(
            directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == name),
            "{name} is declared"
        );
    }

    let calls_before = fake.calls().len();
    let (again, _) = check(&client, &config.plan).unwrap();
    assert_eq!((again.re_enabled, again.missing, again.enabled), (0, 0, 19));
    assert!(
        fake.calls()[calls_before..].iter().all(|c| !c.is_write()),
        "a quiet run only reads"
    );
}

#[test]
fn a_failed_repair_is_reported_after_the_others_are_done() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let config = config(&fake, "arn:unused");
    let ids = subscribed(&fake, &config);
    fake.set_enabled(ids[0], false);
    fake.set_enabled(ids[5], false);
    fake.fail_next_write(503, 2); // the first enable and its one retry
    let (report, failure) = check(&client(&fake, &fake.api_key()), &config.plan).unwrap();
    assert_eq!((report.re_enabled, report.enabled), (1, 18));
    let failure = failure.expect("a repair failed");
    assert!(
        failure.to_string().starts_with("1 repair(s) failed"),
        "{failure}"
    );
    assert_eq!(
        fake.subscriptions().iter().filter(|s| !s.enabled).count(),
        1
    );
}

#[test]
fn a_refused_key_fails_the_run_before_anything_changes() {
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let config = config(&fake, "arn:unused");
    let err = check(&client(&fake, "a-wrong-key"), &config.plan).unwrap_err();
    assert!(
        matches!(err, WatchdogError::Reply(Error::Unauthorized { .. })),
        "{err:?}"
    );
    assert!(fake.calls().iter().all(|c| !c.is_write()));
}

/// Log output captured for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole run on moto's Secrets Manager: the key is read from the secret, the check runs,
/// and neither the key nor a token reaches the logs or the metrics line.
#[test]
fn a_run_reads_the_key_from_secrets_manager_and_logs_no_secret() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("skipped: no AWS_ENDPOINT_URL (moto's server); run `make test`");
        return;
    }
    let fake = FakeReply::start(FakeOptions::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let aws = runtime.block_on(aws_config::load_defaults(
        aws_config::BehaviorVersion::latest(),
    ));
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let name = format!("reply-api-key-{}", std::process::id());
    let arn = runtime
        .block_on(
            secrets
                .create_secret()
                .name(&name)
                .secret_string(format!(r#"{{"apiKey": "{}"}}"#, fake.api_key()))
                .send(),
        )
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let config = config(&fake, &arn);
    let ids = subscribed(&fake, &config);
    fake.set_enabled(ids[3], false);

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let watchdog = subscription_watchdog::Watchdog::new(config, secrets);
    let checked =
        tracing::subscriber::with_default(subscriber, || runtime.block_on(watchdog.run_once()))
            .unwrap();
    assert!(checked.failure.is_none(), "{:?}", checked.failure);
    assert_eq!((checked.report.re_enabled, checked.report.enabled), (1, 19));
    assert!(fake.subscriptions().iter().all(|s| s.enabled));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("re-enabled a subscription Reply had disabled"),
        "{logs}"
    );
    for secret in [fake.api_key().as_str(), TOKEN, OLD_TOKEN] {
        assert!(
            !logs.contains(secret) && !checked.emf.contains(secret),
            "{secret} leaked:\n{logs}"
        );
    }

    runtime
        .block_on(
            aws_sdk_secretsmanager::Client::new(&aws)
                .delete_secret()
                .secret_id(&arn)
                .force_delete_without_recovery(true)
                .send(),
        )
        .unwrap();
}
