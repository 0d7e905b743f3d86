//! The case file, `events/contract.json` (its format: docs/events.md), read and checked once
//! for everyone: the contract suite, the demo and the parser tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use reply_payload::Category;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::lambda_event::Source;

/// The case file, relative to `events/`.
pub const CASE_FILE: &str = "contract.json";
/// The marker a `fill` replaces in a body's `text`.
pub const FILL_MARKER: &str = "@FILL@";

/// Why the case file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid case file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("case `{case}`: {problem}")]
    Case { case: String, problem: String },
}

impl CaseError {
    fn case(case: &str, problem: impl Into<String>) -> CaseError {
        CaseError::Case {
            case: case.to_owned(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    cases: Vec<Case>,
}

/// One row of the HTTP contract: a request, what must come before it, and what it must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique; names the case in failures.
    pub name: String,
    /// What the case is about, for people.
    pub description: String,
    /// The function (category) that receives the request.
    #[serde(default = "email", deserialize_with = "category")]
    pub function: Category,
    #[serde(default = "post")]
    pub method: String,
    /// The raw query string (percent-encoding included); absent: `token=` the local token;
    /// `""`: none.
    #[serde(default)]
    pub query: Option<String>,
    /// Extra request headers (lowercase names).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Body,
    /// The service marks the body base64-encoded and encodes it.
    #[serde(default)]
    pub base64: bool,
    /// With `base64`: the body's text goes as it is, marked base64-encoded all the same.
    #[serde(default)]
    pub raw_body: bool,
    /// How the functions are configured for this case (default: as the local stack is).
    #[serde(default)]
    pub config: Setup,
    /// What happens first, in order.
    #[serde(default)]
    pub before: Vec<Step>,
    /// The real binaries get this case through every event source, not only HTTP API 2.0.
    #[serde(default)]
    pub representative: bool,
    /// Shown by `make demo`, with this label.
    #[serde(default)]
    pub demo: Option<String>,
    pub expect: Expect,
    /// What a source that delivers the request differently gets instead (by source name).
    #[serde(default)]
    pub by_source: BTreeMap<String, Expect>,
    /// The warning the parser logs for this body (checked against both parsers).
    #[serde(default)]
    pub parse_warning: Option<String>,
}

/// A body: exactly one of `file` (relative to `events/`), `text`, `json` (written compactly)
/// and `base64` (bytes); `text` may hold [`FILL_MARKER`], replaced by `fill` repeated until
/// the body is exactly `bytes` long.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub json: Option<Value>,
    #[serde(default)]
    pub base64: Option<String>,
    #[serde(default)]
    pub fill: Option<String>,
    #[serde(default)]
    pub bytes: Option<usize>,
}

/// The functions' configuration for a case. The default is the local stack's, the only one
/// the real binaries run with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The actionable queue is a FIFO queue.
    #[serde(default)]
    pub fifo: bool,
    /// An activity queue is configured.
    #[serde(default)]
    pub activity: bool,
    /// Other variables of the functions' environment (`MAX_BODY_BYTES`, …).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Setup {
    /// Whether this is the local stack's configuration.
    pub fn is_default(&self) -> bool {
        *self == Setup::default()
    }
}

/// Something that happens before the case's request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// A delivery of the case's request, with these changes; it must answer `status`.
    Deliver(Delivery),
    /// Another invocation holds the claim on the case's event id (INPROGRESS, its deadline
    /// minutes away).
    Claim(ClaimState),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Another body (default: the case's).
    #[serde(default)]
    pub body: Option<Body>,
    #[serde(default = "ok")]
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    InProgress,
}

/// What a case must get, and leave behind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
    /// `status` of a settled answer (200, 202), else `error.code`.
    pub code: String,
    /// A quarantined answer's `reason`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The exact `message` (quarantined) or `error.message`.
    #[serde(default)]
    pub message: Option<String>,
    /// Or its start, where the rest is serde_json's detail.
    #[serde(default)]
    pub message_prefix: Option<String>,
    /// The answer's `warning` (`wrong_route`), with `route`.
    #[serde(default)]
    pub warning: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    /// The record of the event id afterwards.
    pub record: RecordState,
    /// Where the case's one message went, if anywhere.
    pub sent: Queue,
    /// Values the sent event message's body must have (a partial match).
    #[serde(default)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RecordState {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "COMPLETED")]
    Completed,
    #[serde(rename = "INPROGRESS")]
    InProgress,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::None => "none",
            RecordState::Completed => "COMPLETED",
            RecordState::InProgress => "INPROGRESS",
        }
    }
}

/// A queue a message may go to (`none`: no message at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    None,
    Actionable,
    Activity,
    Quarantine,
}

impl Queue {
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::None => "none",
            Queue::Actionable => "actionable",
            Queue::Activity => "activity",
            Queue::Quarantine => "quarantine",
        }
    }
}

fn email() -> Category {
    Category::Email
}

fn post() -> String {
    "POST".to_owned()
}

fn ok() -> u16 {
    200
}

fn category<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Category, D::Error> {
    let name = String::deserialize(deserializer)?;
    Category::parse(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "function `{name}` is not email, linkedin or account"
        ))
    })
}

/// Every case of `events/contract.json` under `events_dir`, checked: unique names, readable
/// bodies, one message text for every answer that carries one, known source names.
pub fn load(events_dir: &Path) -> Result<Vec<Case>, CaseError> {
    let path = events_dir.join(CASE_FILE);
    let text = std::fs::read(&path).map_err(|source| CaseError::Read {
        path: path.clone(),
        source,
    })?;
    let file: CaseFile =
        serde_json::from_slice(&text).map_err(|source| CaseError::Format { path, source })?;
    let mut names = BTreeSet::new();
    for case in &file.cases {
        if !names.insert(case.name.as_str()) {
            return Err(CaseError::case(&case.name, "the name is used twice"));
        }
        if case.description.trim().is_empty() {
            return Err(CaseError::case(&case.name, "the description is empty"));
        }
        if case.raw_body && !case.base64 {
            return Err(CaseError::case(&case.name, "raw_body needs base64"));
        }
        case.body.bytes(events_dir, &case.name)?;
        for step in &case.before {
            if let Step::Deliver(Delivery {
                body: Some(body), ..
            }) = step
            {
                body.bytes(events_dir, &case.name)?;
            }
        }
        check_expect(&case.name, &case.expect)?;
        for (source, expect) in &case.by_source {
            if Source::parse(source).is_none() {
                return Err(CaseError::case(
                    &case.name,
                    format!("by_source names `{source}`, which is no event source"),
                ));
            }
            check_expect(&case.name, expect)?;
        }
    }
    Ok(file.cases)
}

fn check_expect(case: &str, expect: &Expect) -> Result<(), CaseError> {
    let carries_message = expect.status != 200;
    let texts =
        usize::from(expect.message.is_some()) + usize::from(expect.message_prefix.is_some());
    match (carries_message, texts) {
        (true, 1) | (false, 0) => {}
        (true, _) => {
            return Err(CaseError::case(
                case,
                "give exactly one of message and message_prefix",
            ));
        }
        (false, _) => {
            return Err(CaseError::case(
                case,
                "a 200 answer carries no message: drop message/message_prefix",
            ));
        }
    }
    if (expect.code == "quarantined") != expect.reason.is_some() {
        return Err(CaseError::case(case, "a reason goes with code quarantined"));
    }
    if expect.warning.is_some() != expect.route.is_some() {
        return Err(CaseError::case(case, "warning and route go together"));
    }
    if !expect.fields.is_empty() && !matches!(expect.sent, Queue::Actionable | Queue::Activity) {
        return Err(CaseError::case(
            case,
            "fields describe a sent event message",
        ));
    }
    Ok(())
}

impl Body {
    /// The body's bytes.
    pub fn bytes(&self, events_dir: &Path, case: &str) -> Result<Vec<u8>, CaseError> {
        let given = [
            self.file.is_some(),
            self.text.is_some(),
            self.json.is_some(),
            self.base64.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(CaseError::case(
                case,
                "a body is exactly one of file, text, json and base64",
            ));
        }
        if (self.fill.is_some() || self.bytes.is_some()) && self.text.is_none() {
            return Err(CaseError::case(case, "fill and bytes go with text"));
        }
        if let Some(file) = &self.file {
            let path = events_dir.join(file);
            return std::fs::read(&path).map_err(|e| {
                CaseError::case(case, format!("cannot read {}: {e}", path.display()))
            });
        }
        if let Some(json) = &self.json {
            return serde_json::to_vec(json).map_err(|e| CaseError::case(case, e.to_string()));
        }
        if let Some(encoded) = &self.base64 {
            return BASE64_STANDARD
                .decode(encoded)
                .map_err(|e| CaseError::case(case, format!("body.base64: {e}")));
        }
        let text = self.text.as_deref().unwrap_or_default();
        match (&self.fill, self.bytes) {
            (None, None) => Ok(text.as_bytes().to_vec()),
            (Some(fill), Some(bytes)) => filled(text, fill, bytes)
                .ok_or_else(|| {
                    CaseError::case(
                        case,
                        format!(
                            "the text needs one {FILL_MARKER}, and a whole number of `{fill}` must make it {bytes} bytes"
                        ),
                    )
                })
                .map(String::into_bytes),
            _ => Err(CaseError::case(case, "fill and bytes go together")),
        }
    }
}

/// `text` with its one [`FILL_MARKER`] replaced by `fill` repeated until the whole is `bytes`
/// long; `None` when no whole number of repetitions does that.
fn filled(text: &str, fill: &str, bytes: usize) -> Option<String> {
    let (head, tail) = text.split_once(FILL_MARKER)?;
    if tail.contains(FILL_MARKER) || fill.is_empty() {
        return None;
    }
    let room = bytes.checked_sub(head.len() + tail.len())?;
    if room % fill.len() != 0 {
        return None;
    }
    Some(format!("{head}{}{tail}", fill.repeat(room / fill.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_makes_the_exact_size_or_nothing() {
        assert_eq!(filled("[@FILL@]", "ab", 6).as_deref(), Some("[abab]"));
        assert_eq!(filled("[@FILL@]", "ab", 5), None);
        assert_eq!(
            filled("[@FILL@]", "\u{ffff}", 5).as_deref(),
            Some("[\u{ffff}]")
        );
        assert_eq!(filled("[]", "a", 3), None);
        assert_eq!(filled("[@FILL@@FILL@]", "a", 3), None);
    }

    #[test]
    fn a_body_is_exactly_one_thing() {
        let dir = Path::new(".");
        let both = Body {
            text: Some("a".into()),
            base64: Some("YQ==".into()),
            ..Body::default()
        };
        assert!(both.bytes(dir, "c").is_err());
        let json = Body {
            json: Some(serde_json::json!({"b": 1, "a": [true]})),
            ..Body::default()
        };
        assert_eq!(json.bytes(dir, "c").unwrap(), br#"{"a":[true],"b":1}"#);
        let raw = Body {
            base64: Some("//4=".into()),
            ..Body::default()
        };
        assert_eq!(raw.bytes(dir, "c").unwrap(), [0xff, 0xfe]);
    }
}
