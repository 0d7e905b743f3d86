//! `events`: the Lambda events built from the sample Reply bodies, for `cargo lambda invoke
//! --data-file` and for reading what each AWS service hands a function:
//!
//! - `events/apigw/<type>.json`: the API Gateway HTTP API (payload 2.0) event that POSTs
//!   `events/reply/<type>.json` to its category's route with the local token, one per known type;
//! - `events/sources/<source>.<category>.json`: one delivery of each category as each source
//!   delivers it (REST API with its stage, HTTP API payload 1.0 and 2.0, ALB with and without
//!   multi-value headers, function URL).
//!
//! `events --check` compares instead of writing. Everything is derived from the reply bodies and
//! devkit's event builder (fixed, documentation-only context values), so the files are
//! reproducible and a drift is always a real change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use devkit::lambda_event::{Encoding, HttpRequest, Source};
use devkit::{LOCAL_TOKEN, Workspace};
use reply_payload::{Category, Delivery, EventType};
use webhook_core::Routing;

const REPLY_DIR: &str = "events/reply";
const APIGW_DIR: &str = "events/apigw";
const SOURCES_DIR: &str = "events/sources";
/// Reply does not document its User-Agent; this is a placeholder.
const USER_AGENT: &str = "Reply.io-Webhooks/1.0";

pub const CHORE: crate::Chore = crate::Chore {
    name: "events",
    summary: "regenerate events/apigw/ and events/sources/ from events/reply/ (--check: fail on drift)",
    usage: "\
usage: cargo xtask events [--check]

Writes events/apigw/<type>.json, the API Gateway HTTP API event posting events/reply/<type>.json
to its category's route with the local token (for cargo lambda invoke --data-file), and
events/sources/<source>.<category>.json, one delivery of each category as each AWS source
delivers it. --check writes nothing and fails, naming each file, when a directory differs from
what it would write.",
    run,
};

fn run(ws: &Workspace, mut args: crate::args::Args) -> crate::Result {
    let only_check = args.flag("--check");
    args.finish()?;
    let root = ws.root();
    let generated = generate(root)?;
    if only_check {
        let drift: Vec<String> = generated
            .iter()
            .map(|dir| dir.drift(root))
            .collect::<crate::Result<Vec<_>>>()?
            .concat();
        if drift.is_empty() {
            println!("events: {APIGW_DIR}/ and {SOURCES_DIR}/ are up to date with {REPLY_DIR}/");
            return Ok(());
        }
        return Err(format!(
            "events have drifted from {REPLY_DIR}/:\n{}\nrun `make events` (cargo xtask events) and commit the result",
            drift.join("\n")
        )
        .into());
    }
    for dir in &generated {
        let report = dir.write(root)?;
        println!(
            "events: {} events in {}/ ({} rewritten, {} removed)",
            dir.files.len(),
            dir.path,
            report.written.len(),
            report.removed.len()
        );
    }
    Ok(())
}

/// A generated directory: the file each name should hold.
#[derive(Debug)]
pub struct Generated {
    pub path: &'static str,
    pub files: BTreeMap<String, String>,
}

/// What [`Generated::write`] changed.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub removed: Vec<String>,
}

/// The two generated directories, from `events/reply/`.
pub fn generate(root: &Path) -> crate::Result<[Generated; 2]> {
    let reply_dir = root.join(REPLY_DIR);
    let mut bodies = BTreeMap::new();
    for path in json_files(&reply_dir)? {
        let body = fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let name = file_name(&path);
        let event_type =
            sample_type(&name, &body).map_err(|err| format!("{}: {err}", path.display()))?;
        bodies.insert(event_type.as_str().to_owned(), (event_type, body));
    }
    if bodies.is_empty() {
        return Err(format!("no *.json files in {}", reply_dir.display()).into());
    }
    let apigw = bodies
        .iter()
        .map(|(name, (event_type, body))| {
            let event = Source::HttpApiV2.event(&post(event_type, body));
            Ok((format!("{name}.json"), pretty(&event)?))
        })
        .collect::<crate::Result<_>>()?;
    let mut sources = BTreeMap::new();
    for category in Category::ALL {
        // The category's first actionable type: the delivery that matters most.
        let event_type = category
            .event_types()
            .find(EventType::actionable_by_default)
            .ok_or_else(|| format!("category {category} has no actionable type"))?;
        let (_, body) = bodies
            .get(event_type.as_str())
            .ok_or_else(|| format!("{REPLY_DIR}/{event_type}.json is missing"))?;
        for source in Source::ALL {
            let event = source.event(&post(&event_type, body));
            sources.insert(
                format!("{}.{category}.json", source.name()),
                pretty(&event)?,
            );
        }
    }
    Ok([
        Generated {
            path: APIGW_DIR,
            files: apigw,
        },
        Generated {
            path: SOURCES_DIR,
            files: sources,
        },
    ])
}

/// The type of the sample `body` stored as `file_name`: a valid delivery of a known type whose
/// canonical name is the file stem.
pub fn sample_type(file_name: &str, body: &str) -> Result<EventType, String> {
    let delivery = Delivery::parse(body.as_bytes())
        .map_err(|err| format!("not a valid Reply delivery: {err}"))?;
    let event_type = delivery.envelope.event_type;
    if event_type.category().is_none() {
        return Err(format!(
            "event type `{event_type}` is not one of the 19 known types"
        ));
    }
    let expected_name = format!("{event_type}.json");
    if file_name != expected_name {
        return Err(format!(
            "holds a `{event_type}` event, so it must be named {expected_name}"
        ));
    }
    Ok(event_type)
}

/// Reply's POST of `body` to the route of its type's category, with the local token.
fn post(event_type: &EventType, body: &str) -> HttpRequest {
    let route = event_type
        .category()
        .map_or(Category::Email.route(), Routing::route);
    HttpRequest {
        method: "POST".into(),
        path: route.into(),
        query: format!("token={LOCAL_TOKEN}"),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), USER_AGENT.into()),
        ],
        body: body.as_bytes().to_vec(),
        encoding: Encoding::Auto,
    }
}

fn pretty(event: &serde_json::Value) -> crate::Result<String> {
    serde_json::to_string_pretty(event)
        .map(|json| json + "\n")
        .map_err(|err| format!("cannot serialise an event: {err}").into())
}

impl Generated {
    /// Writes every file that differs from the one on disk, and removes `*.json` files the
    /// directory should not hold (it is generated).
    pub fn write(&self, root: &Path) -> crate::Result<WriteReport> {
        let dir = root.join(self.path);
        fs::create_dir_all(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let mut report = WriteReport::default();
        for (name, contents) in &self.files {
            let path = dir.join(name);
            if fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
                fs::write(&path, contents)
                    .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
                report.written.push(name.clone());
            }
        }
        for path in json_files(&dir)? {
            let name = file_name(&path);
            if !self.files.contains_key(&name) {
                fs::remove_file(&path)
                    .map_err(|err| format!("cannot remove {}: {err}", path.display()))?;
                report.removed.push(name);
            }
        }
        Ok(report)
    }

    /// One line per file that differs from what it should hold: missing, out of date, or
    /// stale. Empty when everything matches.
    pub fn drift(&self, root: &Path) -> crate::Result<Vec<String>> {
        let dir = root.join(self.path);
        let mut drift = Vec::new();
        for (name, contents) in &self.files {
            match fs::read(dir.join(name)) {
                Ok(on_disk) if on_disk == contents.as_bytes() => {}
                Ok(_) => drift.push(format!(
                    "  {}/{name}: out of date with {REPLY_DIR}/",
                    self.path
                )),
                Err(_) => drift.push(format!("  {}/{name}: missing", self.path)),
            }
        }
        if dir.is_dir() {
            for path in json_files(&dir)? {
                let name = file_name(&path);
                if !self.files.contains_key(&name) {
                    drift.push(format!(
                        "  {}/{name}: stale, nothing generates it",
                        self.path
                    ));
                }
            }
        }
        Ok(drift)
    }
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

        fn drift(&self) -> Vec<String> {
            generate(&self.0)
                .unwrap()
                .iter()
                .flat_map(|dir| dir.drift(&self.0).unwrap())
                .collect()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn checked_in_events_match_the_reply_bodies() {
        let root = repo_root();
        let drift: Vec<String> = generate(&root)
            .unwrap()
            .iter()
            .flat_map(|dir| dir.drift(&root).unwrap())
            .collect();
        assert!(
            drift.is_empty(),
            "events drifted; run `make events`:\n{}",
            drift.join("\n")
        );
    }

    #[test]
    fn one_apigw_event_per_known_type_and_one_event_per_source_and_category() {
        let [apigw, sources] = generate(&repo_root()).unwrap();
        let mut expected: Vec<String> = EventType::KNOWN
            .iter()
            .map(|t| format!("{t}.json"))
            .collect();
        expected.sort();
        assert_eq!(apigw.files.keys().cloned().collect::<Vec<_>>(), expected);
        assert_eq!(sources.files.len(), Source::ALL.len() * Category::ALL.len());
        assert!(sources.files.contains_key("rest-api.email.json"));
        assert!(sources.files.contains_key("alb-multi-value.account.json"));
    }

    /// The categories whose samples the sources directory is built from.
    const SOURCE_SAMPLES: [&str; 3] = [
        "email_replied.json",
        "linkedin_connection_request_accepted.json",
        "email_account_connection_lost.json",
    ];

    #[test]
    fn write_then_check_is_clean_and_check_names_every_drifted_file() {
        let mut names = SOURCE_SAMPLES.to_vec();
        names.extend(["email_bounced.json", "contact_called.json"]);
        let scratch = Scratch::new("drift", &names);
        let root = &scratch.0;
        let missing = scratch.drift();
        assert_eq!(missing.len(), 5 + 18, "nothing written yet: {missing:#?}");

        for dir in generate(root).unwrap() {
            assert_eq!(dir.write(root).unwrap().written.len(), dir.files.len());
            assert!(
                dir.write(root).unwrap().written.is_empty(),
                "no rewrite when unchanged"
            );
        }
        assert!(scratch.drift().is_empty());

        // Edit a reply body (its events now lag behind), and leave a stray file.
        let reply = root.join(REPLY_DIR).join("email_bounced.json");
        let edited = fs::read_to_string(&reply)
            .unwrap()
            .replace("\"Hard\"", "\"Soft\"");
        fs::write(&reply, edited).unwrap();
        fs::write(root.join(APIGW_DIR).join("old_type.json"), "{}\n").unwrap();
        fs::remove_file(root.join(SOURCES_DIR).join("alb.email.json")).unwrap();

        let drift = scratch.drift().join("\n");
        assert!(
            drift.contains("events/apigw/email_bounced.json: out of date"),
            "{drift}"
        );
        assert!(
            drift.contains("events/sources/alb.email.json: missing"),
            "{drift}"
        );
        assert!(
            drift.contains("events/apigw/old_type.json: stale"),
            "{drift}"
        );
        assert_eq!(drift.lines().count(), 3, "{drift}");

        let args = crate::args::Args::new(&["--check".to_owned()], CHORE.usage);
        let err = run(&Workspace::at(root), args).unwrap_err().to_string();
        assert!(
            err.contains("email_bounced.json") && err.contains("make events"),
            "{err}"
        );
    }

    #[test]
    fn a_misnamed_or_invalid_reply_body_is_an_error_naming_the_file() {
        let body =
            fs::read_to_string(repo_root().join(REPLY_DIR).join("email_opened.json")).unwrap();
        let err = sample_type("email_sent.json", &body).unwrap_err();
        assert!(err.contains("must be named email_opened.json"), "{err}");
        let err = sample_type("x.json", "{\"event\":{\"type\":\"email_sent\"}}").unwrap_err();
        assert!(err.contains("event.id is missing"), "{err}");
        let unknown = "{\"event\":{\"id\":\"a\",\"type\":\"meeting_booked\"}}";
        let err = sample_type("meeting_booked.json", unknown).unwrap_err();
        assert!(err.contains("not one of the 19 known types"), "{err}");

        let scratch = Scratch::new("misnamed", &[]);
        fs::write(scratch.0.join(REPLY_DIR).join("email_sent.json"), &body).unwrap();
        let err = generate(&scratch.0).unwrap_err().to_string();
        assert!(err.contains("events/reply/email_sent.json"), "{err}");
    }
}
