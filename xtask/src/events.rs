//! `events`: builds `events/apigw/<type>.json`, the API Gateway HTTP API (payload format 2.0)
//! event that POSTs `events/reply/<type>.json` to its category's route, for
//! `cargo lambda invoke --data-file`. `events --check` compares instead of writing.
//!
//! Everything in the output is derived from the reply body and its file name: no clock, no
//! randomness, so the files are reproducible and a drift is always a real change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use devkit::{LOCAL_TOKEN, Workspace};
use reply_payload::{Category, Delivery};
use serde::Serialize;
use webhook_core::Routing;

const REPLY_DIR: &str = "events/reply";
const APIGW_DIR: &str = "events/apigw";

// A plausible, fixed API Gateway context (documentation ranges only: TEST-NET-3 address,
// AWS's documentation account id).
const ACCOUNT_ID: &str = "123456789012";
const API_ID: &str = "r3plyh00k5";
const DOMAIN_NAME: &str = "r3plyh00k5.execute-api.us-east-1.amazonaws.com";
const SOURCE_IP: &str = "203.0.113.25";
/// Reply does not document its User-Agent; this is a placeholder.
const USER_AGENT: &str = "Reply.io-Webhooks/1.0";
const TIME: &str = "21/Apr/2026:09:31:10 +0000";
const TIME_EPOCH_MS: i64 = 1_776_763_870_000;

pub const CHORE: crate::Chore = crate::Chore {
    name: "events",
    summary: "regenerate events/apigw/ from events/reply/ (--check: fail on drift)",
    usage: "\
usage: cargo xtask events [--check]

Writes events/apigw/<type>.json, the API Gateway HTTP API event posting events/reply/<type>.json
to its category's route with the local token (for cargo lambda invoke --data-file). --check
writes nothing and fails, naming each file, when events/apigw/ differs from what it would write.",
    run,
};

fn run(ws: &Workspace, mut args: crate::args::Args) -> crate::Result {
    let only_check = args.flag("--check");
    args.finish()?;
    let root = ws.root();
    if only_check {
        let drift = check(root)?;
        if drift.is_empty() {
            println!("events: {APIGW_DIR}/ is up to date with {REPLY_DIR}/");
            return Ok(());
        }
        return Err(format!(
            "{APIGW_DIR}/ has drifted from {REPLY_DIR}/:\n{}\nrun `make events` (cargo xtask events) and commit the result",
            drift.join("\n")
        )
        .into());
    }
    let report = write(root)?;
    println!(
        "events: {} API Gateway events in {APIGW_DIR}/ ({} rewritten, {} removed)",
        report.total,
        report.written.len(),
        report.removed.len()
    );
    Ok(())
}

/// The API Gateway events `events/reply/` calls for, keyed by file name (`email_replied.json`).
pub fn generate(root: &Path) -> crate::Result<BTreeMap<String, String>> {
    let reply_dir = root.join(REPLY_DIR);
    let mut generated = BTreeMap::new();
    for path in json_files(&reply_dir)? {
        let body = fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let name = file_name(&path);
        generated.insert(
            name.clone(),
            apigw_event(&name, &body).map_err(|err| format!("{}: {err}", path.display()))?,
        );
    }
    if generated.is_empty() {
        return Err(format!("no *.json files in {}", reply_dir.display()).into());
    }
    Ok(generated)
}

/// The API Gateway event for the reply body `body` stored as `file_name` (`<type>.json`).
/// The body must be a valid delivery of a known type whose canonical name is the file stem.
pub fn apigw_event(file_name: &str, body: &str) -> Result<String, String> {
    let delivery = Delivery::parse(body.as_bytes())
        .map_err(|err| format!("not a valid Reply delivery: {err}"))?;
    let event_type = &delivery.envelope.event_type;
    let category = event_type
        .category()
        .ok_or_else(|| format!("event type `{event_type}` is not one of the 19 known types"))?;
    let expected_name = format!("{event_type}.json");
    if file_name != expected_name {
        return Err(format!(
            "holds a `{event_type}` event, so it must be named {expected_name}"
        ));
    }
    let event = HttpApiEvent::new(event_type.as_str(), category, body);
    serde_json::to_string_pretty(&event)
        .map(|json| json + "\n")
        .map_err(|err| format!("cannot serialise the API Gateway event: {err}"))
}

/// What [`write`] did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub total: usize,
    pub written: Vec<String>,
    pub removed: Vec<String>,
}

/// Writes every generated event that differs from the file on disk, and removes `*.json`
/// files in `events/apigw/` that no reply body calls for (the directory is generated).
pub fn write(root: &Path) -> crate::Result<WriteReport> {
    let generated = generate(root)?;
    let apigw_dir = root.join(APIGW_DIR);
    fs::create_dir_all(&apigw_dir)
        .map_err(|err| format!("cannot create {}: {err}", apigw_dir.display()))?;
    let mut report = WriteReport {
        total: generated.len(),
        ..WriteReport::default()
    };
    for (name, contents) in &generated {
        let path = apigw_dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            fs::write(&path, contents)
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            report.written.push(name.clone());
        }
    }
    for path in json_files(&apigw_dir)? {
        let name = file_name(&path);
        if !generated.contains_key(&name) {
            fs::remove_file(&path)
                .map_err(|err| format!("cannot remove {}: {err}", path.display()))?;
            report.removed.push(name);
        }
    }
    Ok(report)
}

/// One line per file of `events/apigw/` that differs from what [`generate`] gives: missing,
/// out of date, or with no reply body behind it. Empty when everything matches.
pub fn check(root: &Path) -> crate::Result<Vec<String>> {
    let generated = generate(root)?;
    let apigw_dir = root.join(APIGW_DIR);
    let mut drift = Vec::new();
    for (name, contents) in &generated {
        let path = apigw_dir.join(name);
        match fs::read(&path) {
            Ok(on_disk) if on_disk == contents.as_bytes() => {}
            Ok(_) => drift.push(format!(
                "  {APIGW_DIR}/{name}: out of date with {REPLY_DIR}/{name}"
            )),
            Err(_) => drift.push(format!(
                "  {APIGW_DIR}/{name}: missing (generated from {REPLY_DIR}/{name})"
            )),
        }
    }
    if apigw_dir.is_dir() {
        for path in json_files(&apigw_dir)? {
            let name = file_name(&path);
            if !generated.contains_key(&name) {
                drift.push(format!(
                    "  {APIGW_DIR}/{name}: stale, there is no {REPLY_DIR}/{name}"
                ));
            }
        }
    }
    Ok(drift)
}

/// The `*.json` files directly in `dir`, sorted.
fn json_files(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let entries =
        fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| format!("cannot list {}: {err}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An API Gateway HTTP API payload format 2.0 event, fields in AWS's documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpApiEvent<'a> {
    version: &'static str,
    route_key: String,
    raw_path: &'static str,
    raw_query_string: String,
    headers: Headers,
    query_string_parameters: QueryStringParameters,
    request_context: RequestContext,
    body: &'a str,
    is_base64_encoded: bool,
}

/// Lowercase, as API Gateway passes them on.
#[derive(Serialize)]
struct Headers {
    accept: &'static str,
    #[serde(rename = "content-length")]
    content_length: String,
    #[serde(rename = "content-type")]
    content_type: &'static str,
    host: &'static str,
    #[serde(rename = "user-agent")]
    user_agent: &'static str,
    #[serde(rename = "x-amzn-trace-id")]
    trace_id: String,
    #[serde(rename = "x-forwarded-for")]
    forwarded_for: &'static str,
    #[serde(rename = "x-forwarded-port")]
    forwarded_port: &'static str,
    #[serde(rename = "x-forwarded-proto")]
    forwarded_proto: &'static str,
}

#[derive(Serialize)]
struct QueryStringParameters {
    token: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    account_id: &'static str,
    api_id: &'static str,
    domain_name: &'static str,
    domain_prefix: &'static str,
    http: Http,
    request_id: String,
    route_key: String,
    stage: &'static str,
    time: &'static str,
    time_epoch: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Http {
    method: &'static str,
    path: &'static str,
    protocol: &'static str,
    source_ip: &'static str,
    user_agent: &'static str,
}

impl<'a> HttpApiEvent<'a> {
    fn new(event_type: &str, category: Category, body: &'a str) -> Self {
        let route = category.route();
        let route_key = format!("POST {route}");
        HttpApiEvent {
            version: "2.0",
            route_key: route_key.clone(),
            raw_path: route,
            raw_query_string: format!("token={LOCAL_TOKEN}"),
            headers: Headers {
                accept: "*/*",
                content_length: body.len().to_string(),
                content_type: "application/json",
                host: DOMAIN_NAME,
                user_agent: USER_AGENT,
                trace_id: trace_id(event_type),
                forwarded_for: SOURCE_IP,
                forwarded_port: "443",
                forwarded_proto: "https",
            },
            query_string_parameters: QueryStringParameters { token: LOCAL_TOKEN },
            request_context: RequestContext {
                account_id: ACCOUNT_ID,
                api_id: API_ID,
                domain_name: DOMAIN_NAME,
                domain_prefix: API_ID,
                http: Http {
                    method: "POST",
                    path: route,
                    protocol: "HTTP/1.1",
                    source_ip: SOURCE_IP,
                    user_agent: USER_AGENT,
                },
                request_id: request_id(event_type),
                route_key,
                stage: "$default",
                time: TIME,
                time_epoch: TIME_EPOCH_MS,
            },
            body,
            is_base64_encoded: false,
        }
    }
}

/// FNV-1a, 64 bits: a stable hash (std's `DefaultHasher` is not guaranteed to be).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in parts.iter().flat_map(|part| part.bytes().chain([0xff])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// An API Gateway style request id (16 base64 characters, like `JKJaXmPLvHcESHA=`), derived
/// from the event type.
fn request_id(event_type: &str) -> String {
    let high = fnv1a(&["requestId", event_type]).to_be_bytes();
    let low = fnv1a(&["requestId", event_type, "low"]).to_be_bytes();
    base64(&[&high[..], &low[..3]].concat())
}

/// An X-Ray trace header (`Root=1-<8 hex seconds>-<24 hex>`), derived from the event type.
fn trace_id(event_type: &str) -> String {
    let high = fnv1a(&["traceId", event_type]);
    let low = fnv1a(&["traceId", event_type, "low"]) >> 32;
    format!("Root=1-{:08x}-{high:016x}{low:08x}", TIME_EPOCH_MS / 1000)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_root() -> PathBuf {
        Workspace::locate().root().to_path_buf()
    }

    /// A scratch copy of `names` from the repo's events/reply/, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str, names: &[&str]) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("xtask-events-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join(REPLY_DIR)).unwrap();
            for name in names {
                fs::copy(
                    repo_root().join(REPLY_DIR).join(name),
                    dir.join(REPLY_DIR).join(name),
                )
                .unwrap();
            }
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn checked_in_apigw_events_match_the_reply_bodies() {
        let drift = check(&repo_root()).unwrap();
        assert!(
            drift.is_empty(),
            "events/apigw/ drifted; run `make events`:\n{}",
            drift.join("\n")
        );
    }

    #[test]
    fn one_apigw_event_per_known_type() {
        let generated = generate(&repo_root()).unwrap();
        let mut expected: Vec<String> = reply_payload::EventType::KNOWN
            .iter()
            .map(|t| format!("{t}.json"))
            .collect();
        expected.sort();
        assert_eq!(generated.keys().cloned().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn write_then_check_is_clean_and_check_names_every_drifted_file() {
        let scratch = Scratch::new(
            "drift",
            &[
                "email_bounced.json",
                "contact_called.json",
                "autopilot_stopped.json",
            ],
        );
        let root = &scratch.0;
        assert_eq!(
            check(root).unwrap().len(),
            3,
            "nothing written yet: 3 missing"
        );

        let report = write(root).unwrap();
        assert_eq!((report.total, report.written.len()), (3, 3));
        assert!(check(root).unwrap().is_empty());
        assert!(
            write(root).unwrap().written.is_empty(),
            "no rewrite when unchanged"
        );

        // Edit a reply body (the API Gateway event now lags behind), and leave a stray file.
        let reply = root.join(REPLY_DIR).join("email_bounced.json");
        let edited = fs::read_to_string(&reply)
            .unwrap()
            .replace("\"Hard\"", "\"Soft\"");
        fs::write(&reply, edited).unwrap();
        fs::write(root.join(APIGW_DIR).join("old_type.json"), "{}\n").unwrap();
        fs::remove_file(root.join(APIGW_DIR).join("contact_called.json")).unwrap();

        let drift = check(root).unwrap();
        assert_eq!(drift.len(), 3, "{drift:#?}");
        let all = drift.join("\n");
        assert!(all.contains("events/apigw/email_bounced.json: out of date"));
        assert!(all.contains("events/apigw/contact_called.json: missing"));
        assert!(all.contains("events/apigw/old_type.json: stale"));

        let args = crate::args::Args::new(&["--check".to_owned()], CHORE.usage);
        let err = run(&Workspace::at(root), args).unwrap_err().to_string();
        assert!(
            err.contains("email_bounced.json") && err.contains("make events"),
            "{err}"
        );

        let report = write(root).unwrap();
        assert_eq!(report.removed, ["old_type.json"]);
        assert!(check(root).unwrap().is_empty());
    }

    #[test]
    fn a_misnamed_or_invalid_reply_body_is_an_error_naming_the_file() {
        let body =
            fs::read_to_string(repo_root().join(REPLY_DIR).join("email_opened.json")).unwrap();
        let err = apigw_event("email_sent.json", &body).unwrap_err();
        assert!(err.contains("must be named email_opened.json"), "{err}");
        let err = apigw_event("x.json", "{\"event\":{\"type\":\"email_sent\"}}").unwrap_err();
        assert!(err.contains("event.id is missing"), "{err}");
        let unknown = "{\"event\":{\"id\":\"a\",\"type\":\"meeting_booked\"}}";
        let err = apigw_event("meeting_booked.json", unknown).unwrap_err();
        assert!(err.contains("not one of the 19 known types"), "{err}");

        let scratch = Scratch::new("misnamed", &[]);
        fs::write(scratch.0.join(REPLY_DIR).join("email_sent.json"), &body).unwrap();
        let err = generate(&scratch.0).unwrap_err().to_string();
        assert!(err.contains("events/reply/email_sent.json"), "{err}");
    }

    #[test]
    fn derived_ids_are_stable_distinct_and_well_formed() {
        let ids: std::collections::BTreeSet<String> = reply_payload::EventType::KNOWN
            .iter()
            .map(|t| request_id(t.as_str()))
            .collect();
        assert_eq!(ids.len(), 19);
        for id in &ids {
            assert_eq!(id.len(), 16);
            assert!(id.ends_with('=') && !id.ends_with("=="), "{id}");
        }
        assert_eq!(request_id("email_replied"), request_id("email_replied"));
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        let trace = trace_id("email_replied");
        assert!(trace.starts_with("Root=1-69e743de-") && trace.len() == 7 + 8 + 1 + 24);
    }
}
