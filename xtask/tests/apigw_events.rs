//! The checked-in events/apigw/ files, read the way lambda_http reads them (aws_lambda_events'
//! `ApiGatewayV2httpRequest`, the payload 2.0 type behind `cargo lambda invoke --data-file`),
//! and the `events` command as a user runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::http::Method;
use reply_payload::{Delivery, EventType};
use webhook_core::Routing;

use devkit::LOCAL_TOKEN as TOKEN;

fn events_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(sub)
}

fn json_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_apigw_event_deserialises_as_lambda_http_reads_it_and_posts_its_reply_body() {
    let names = json_names(&events_dir("apigw"));
    assert_eq!(names, json_names(&events_dir("reply")));
    assert_eq!(names.len(), EventType::KNOWN.len());

    for name in &names {
        let raw = fs::read_to_string(events_dir("apigw").join(name)).unwrap();
        let event: ApiGatewayV2httpRequest =
            serde_json::from_str(&raw).unwrap_or_else(|err| panic!("events/apigw/{name}: {err}"));
        let reply = fs::read_to_string(events_dir("reply").join(name)).unwrap();

        assert_eq!(event.body.as_deref(), Some(reply.as_str()), "{name}: body");
        assert!(!event.is_base64_encoded, "{name}");

        let delivery = Delivery::parse(reply.as_bytes()).unwrap();
        let category = delivery.envelope.event_type.category().unwrap();
        let route = category.route();
        assert_eq!(format!("{}.json", delivery.envelope.event_type), *name);

        let context = &event.request_context;
        assert_eq!(context.http.method, Method::POST, "{name}");
        assert_eq!(context.http.path.as_deref(), Some(route), "{name}");
        assert_eq!(event.raw_path.as_deref(), Some(route), "{name}");
        let route_key = format!("POST {route}");
        assert_eq!(event.route_key.as_deref(), Some(route_key.as_str()));
        assert_eq!(context.route_key.as_deref(), Some(route_key.as_str()));
        assert_eq!(context.stage.as_deref(), Some("$default"));
        assert_eq!(context.account_id.as_deref(), Some("123456789012"));
        assert!(
            context
                .request_id
                .as_deref()
                .is_some_and(|id| !id.is_empty())
        );
        assert!(context.time_epoch > 0);
        assert_eq!(event.version.as_deref(), Some("2.0"));

        assert_eq!(
            event.raw_query_string.as_deref(),
            Some(format!("token={TOKEN}").as_str())
        );
        assert_eq!(event.query_string_parameters.first("token"), Some(TOKEN));

        let header = |key: &str| {
            event
                .headers
                .get(key)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("{name}: header {key}"))
        };
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("content-length"), reply.len().to_string(), "{name}");
        assert_eq!(header("host"), context.domain_name.as_deref().unwrap());
        assert_eq!(header("x-forwarded-proto"), "https");
        assert_eq!(
            Some(header("x-forwarded-for")),
            context.http.source_ip.as_deref()
        );
        assert_eq!(
            Some(header("user-agent")),
            context.http.user_agent.as_deref()
        );
    }
}

#[test]
fn request_ids_are_distinct_per_event() {
    let mut ids: Vec<String> = json_names(&events_dir("apigw"))
        .iter()
        .map(|name| {
            let raw = fs::read_to_string(events_dir("apigw").join(name)).unwrap();
            let event: ApiGatewayV2httpRequest = serde_json::from_str(&raw).unwrap();
            event.request_context.request_id.unwrap()
        })
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count);
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn events_check_passes_on_the_checked_in_files() {
    let out = xtask(&["events", "--check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
}

#[test]
fn unknown_commands_and_arguments_fail_with_usage() {
    let out = xtask(&["frobnicate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown command `frobnicate`") && stderr.contains("usage:"));

    let out = xtask(&["events", "--force"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: cargo xtask events [--check]"));

    assert!(!xtask(&[]).status.success());
    assert!(xtask(&["help"]).status.success());
}
