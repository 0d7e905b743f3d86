//! `template.yaml` and the code must agree: these tests read the template and compare it with
//! the constants the functions use, so a rename on either side fails here instead of in AWS.
//!
//! Checked: the HTTP API's routes (exactly the three of `Category::ALL`), each function's
//! binary and route, the environment variables (exactly `vars::ALL`) and what they point at,
//! the table's key and TTL attribute, the IAM actions per function (exactly what the adapters
//! call), runtime / architecture / build method, logging, and that neither the access logs nor
//! the outputs can carry the token. And the optional subscription watchdog: its condition,
//! schedule, environment, IAM (exactly the calls its code makes), alarms on the metrics it
//! writes, and the stack outputs `reply-webhooks subscribe --stack` reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reply_payload::Category;
use serde_norway::{Mapping, Value};
use webhook_aws::dynamodb::{PARTITION_KEY, TTL_ATTRIBUTE};
use webhook_core::Routing;
use webhook_core::auth::MIN_TOKEN_CHARS;
use webhook_core::config::{MAX_BODY_BYTES_LIMIT, MIN_TTL_SECONDS, vars};

/// The method of each route: ANY, so the function answers every method itself.
const ROUTE_METHOD: &str = "ANY";

/// The only AWS actions the functions perform: the claim, completion and release of a record, one message per event.
const DYNAMODB_ACTIONS: [&str; 4] = [
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];
const SQS_ACTIONS: [&str; 1] = ["sqs:SendMessage"];

/// API Gateway `$context` variables allowed in the access log format: none of them can contain
/// the query string, where the token travels.
const ACCESS_LOG_VARIABLES: [&str; 15] = [
    "$context.requestId",
    "$context.requestTime",
    "$context.requestTimeEpoch",
    "$context.identity.sourceIp",
    "$context.identity.userAgent",
    "$context.routeKey",
    "$context.status",
    "$context.protocol",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integrationLatency",
    "$context.integrationStatus",
    "$context.integration.requestId",
    "$context.integrationErrorMessage",
    "$context.error.message",
];

// ---------------------------------------------------------------------------------------------
// Reading the template.
// ---------------------------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

struct Template(Value);

impl Template {
    fn load() -> Template {
        let path = repo_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Template(
            serde_norway::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display())),
        )
    }

    fn section(&self, name: &str) -> &Mapping {
        self.0
            .get(name)
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("template.yaml has no {name} section"))
    }

    fn resource(&self, logical_id: &str) -> &Value {
        self.section("Resources")
            .get(logical_id)
            .unwrap_or_else(|| panic!("template.yaml has no resource {logical_id}"))
    }

    fn resource_type(&self, logical_id: &str) -> &str {
        str_at(self.resource(logical_id), &["Type"])
    }

    /// Every resource of `ty`, by logical id.
    fn resources_of_type(&self, ty: &str) -> BTreeMap<&str, &Value> {
        self.section("Resources")
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
            .map(|(id, r)| (id.as_str().expect("logical ids are strings"), r))
            .collect()
    }

    fn functions(&self) -> BTreeMap<&str, &Value> {
        self.resources_of_type("AWS::Serverless::Function")
    }

    /// The functions behind the HTTP API: those built from a category's binary.
    fn webhook_functions(&self) -> BTreeMap<&str, &Value> {
        self.functions()
            .into_iter()
            .filter(|(_, f)| {
                Category::ALL
                    .iter()
                    .any(|c| self.binary_of(f) == c.binary())
            })
            .collect()
    }

    fn parameter(&self, name: &str) -> &Value {
        self.section("Parameters")
            .get(name)
            .unwrap_or_else(|| panic!("template.yaml has no parameter {name}"))
    }

    /// A function property as deployed: the function's own value, else the Globals one.
    fn function_property<'a>(&'a self, function: &'a Value, name: &str) -> Option<&'a Value> {
        function
            .get("Properties")
            .and_then(|p| p.get(name))
            .or_else(|| self.0.get("Globals")?.get("Function")?.get(name))
    }

    /// A function's environment variables: Globals merged with its own (SAM merges maps).
    fn function_environment<'a>(&'a self, function: &'a Value) -> BTreeMap<&'a str, &'a Value> {
        let globals = self
            .0
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| path(f, &["Environment", "Variables"]));
        let own = path(function, &["Properties", "Environment", "Variables"]);
        [globals, own]
            .into_iter()
            .flatten()
            .flat_map(|vars| vars.as_mapping().expect("Variables is a map"))
            .map(|(k, v)| (k.as_str().expect("variable names are strings"), v))
            .collect()
    }

    /// The binary a function is built from (`Metadata.BuildProperties.Binary`).
    fn binary_of<'a>(&self, function: &'a Value) -> &'a str {
        str_at(function, &["Metadata", "BuildProperties", "Binary"])
    }
}

fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |v, k| v.get(*k))
}

fn str_at<'a>(value: &'a Value, keys: &[&str]) -> &'a str {
    path(value, keys)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected a string at {}", keys.join(".")))
}

/// An intrinsic function in either form (`!Ref X` or `{Ref: X}`, `!GetAtt` or
/// `{Fn::GetAtt: ...}`), as (name without `Fn::`, argument).
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::"))
                .then(|| (key.trim_start_matches("Fn::").to_owned(), arg))
        }
        _ => None,
    }
}

/// The logical id or parameter named by a `Ref`.
fn ref_target(value: &Value) -> Option<&str> {
    match intrinsic(value)? {
        (name, arg) if name == "Ref" => arg.as_str(),
        _ => None,
    }
}

/// `(logical id, attribute)` of a `GetAtt`, short (`A.B`) or list form.
fn getatt_target(value: &Value) -> Option<(String, String)> {
    let (name, arg) = intrinsic(value)?;
    if name != "GetAtt" {
        return None;
    }
    match arg {
        Value::String(s) => {
            let (id, attr) = s.split_once('.')?;
            Some((id.to_owned(), attr.to_owned()))
        }
        Value::Sequence(seq) if seq.len() == 2 => {
            Some((seq[0].as_str()?.to_owned(), seq[1].as_str()?.to_owned()))
        }
        _ => None,
    }
}

/// The values a property can take: both branches of an `!If`, each item of a list.
fn alternatives(value: &Value) -> Vec<&Value> {
    match (intrinsic(value), value) {
        (Some((name, Value::Sequence(args))), _) if name == "If" && args.len() == 3 => {
            args[1..].iter().flat_map(alternatives).collect()
        }
        (None, Value::Sequence(items)) => items.iter().flat_map(alternatives).collect(),
        _ => vec![value],
    }
}

fn strings(value: &Value) -> Vec<&str> {
    alternatives(value)
        .into_iter()
        .map(|v| v.as_str().expect("expected a string or a list of strings"))
        .collect()
}

/// The HTTP API events of a function: (method, path, API logical id, payload version).
fn http_events(function: &Value) -> Vec<(String, String, String, String)> {
    let Some(events) = path(function, &["Properties", "Events"]).and_then(Value::as_mapping) else {
        return Vec::new();
    };
    events
        .values()
        .map(|event| {
            assert_eq!(
                str_at(event, &["Type"]),
                "HttpApi",
                "a function is triggered by something other than the HTTP API: {event:?}"
            );
            let props = event
                .get("Properties")
                .expect("an HttpApi event has Properties");
            (
                str_at(props, &["Method"]).to_uppercase(),
                str_at(props, &["Path"]).to_owned(),
                props
                    .get("ApiId")
                    .and_then(ref_target)
                    .expect("each route names the API with ApiId: !Ref ...")
                    .to_owned(),
                str_at(props, &["PayloadFormatVersion"]).to_owned(),
            )
        })
        .collect()
}

/// The function serving `category`, found by its binary name.
fn function_for(template: &Template, category: Category) -> (&str, &Value) {
    let matching: Vec<_> = template
        .functions()
        .into_iter()
        .filter(|(_, f)| template.binary_of(f) == category.binary())
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one function built from binary {}, found {}",
        category.binary(),
        matching.len()
    );
    matching[0]
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_api_has_exactly_the_three_category_routes() {
    let t = Template::load();
    let apis = t.resources_of_type("AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "expected one HTTP API, found {apis:?}");
    let (api_id, api) = apis.into_iter().next().unwrap();
    assert!(
        path(api, &["Properties", "DefinitionBody"]).is_none()
            && path(api, &["Properties", "DefinitionUri"]).is_none(),
        "routes must come from the functions' events, not an OpenAPI body"
    );
    assert!(
        t.resources_of_type("AWS::ApiGatewayV2::Route").is_empty(),
        "no routes outside the functions' events"
    );

    let routes: BTreeSet<(String, String)> = t
        .webhook_functions()
        .values()
        .flat_map(|f| http_events(f))
        .map(|(method, path, api, version)| {
            assert_eq!(api, api_id, "route {method} {path} is not on {api_id}");
            assert_eq!(version, "2.0", "route {method} {path}: payload format 2.0");
            (method, path)
        })
        .collect();
    // ANY, so a non-POST reaches the function and gets its 405, not API Gateway's 404.
    let expected: BTreeSet<(String, String)> = Category::ALL
        .iter()
        .map(|c| (ROUTE_METHOD.to_owned(), c.route().to_owned()))
        .collect();
    assert_eq!(
        routes, expected,
        "template routes differ from Category::ALL"
    );

    let throttling = path(api, &["Properties", "DefaultRouteSettings"])
        .expect("the API sets DefaultRouteSettings (throttling)");
    assert!(throttling.get("ThrottlingRateLimit").is_some());
    assert!(throttling.get("ThrottlingBurstLimit").is_some());
}

#[test]
fn each_function_builds_its_category_binary_and_serves_its_route() {
    let t = Template::load();
    assert_eq!(
        t.webhook_functions().len(),
        Category::ALL.len(),
        "one function per category"
    );
    for category in Category::ALL {
        let (id, function) = function_for(&t, category);
        assert_eq!(
            str_at(function, &["Metadata", "BuildMethod"]),
            "rust-cargolambda",
            "{id}: BuildMethod"
        );
        let routes: Vec<_> = http_events(function)
            .into_iter()
            .map(|(method, path, ..)| (method, path))
            .collect();
        assert_eq!(
            routes,
            vec![(ROUTE_METHOD.to_owned(), category.route().to_owned())],
            "{id} (binary {}) must serve exactly ANY {}",
            category.binary(),
            category.route()
        );
        let manifest = repo_root()
            .join("functions")
            .join(category.binary())
            .join("Cargo.toml");
        let manifest_text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(
            manifest_text.contains(&format!("name = \"{}\"", category.binary())),
            "{} does not define the package {}",
            manifest.display(),
            category.binary()
        );
    }
}

#[test]
fn functions_run_the_rust_binary_on_al2023_with_a_parameterised_architecture() {
    let t = Template::load();
    for (id, function) in t.functions() {
        let prop = |name: &str| {
            t.function_property(function, name)
                .unwrap_or_else(|| panic!("{id}: {name} is not set (neither on it nor in Globals)"))
        };
        assert_eq!(prop("Runtime").as_str(), Some("provided.al2023"), "{id}");
        assert_eq!(prop("Handler").as_str(), Some("bootstrap"), "{id}");
        assert_eq!(
            prop("CodeUri").as_str(),
            Some("."),
            "{id}: the workspace root"
        );
        let archs = prop("Architectures").as_sequence().expect("a list");
        assert_eq!(archs.len(), 1, "{id}: one architecture");
        assert_eq!(ref_target(&archs[0]), Some("Architecture"), "{id}");
        // A timeout at or over API Gateway's 30 s limit would turn slow calls into 503s from
        // the gateway while the function still runs.
        if t.webhook_functions().contains_key(id) {
            let timeout = ref_target(prop("Timeout")).expect("Timeout is a parameter");
            let max = t.parameter(timeout).get("MaxValue").and_then(Value::as_u64);
            assert!(
                matches!(max, Some(m) if m < 30),
                "{id}: Timeout must stay under 30 s"
            );
        }
        assert!(
            t.function_property(function, "Role").is_none(),
            "{id}: no Role"
        );
    }
    let arch = t.parameter("Architecture");
    assert_eq!(arch.get("Default").and_then(Value::as_str), Some("arm64"));
    let allowed = strings(arch.get("AllowedValues").expect("AllowedValues"));
    assert_eq!(allowed, ["arm64", "x86_64"]);
}

#[test]
fn functions_log_json_to_their_own_log_group_with_retention() {
    let t = Template::load();
    let globals_logging = path(&t.0, &["Globals", "Function", "LoggingConfig"]);
    for (id, function) in t.functions() {
        let format = path(function, &["Properties", "LoggingConfig", "LogFormat"])
            .or_else(|| globals_logging?.get("LogFormat"));
        assert_eq!(
            format.and_then(Value::as_str),
            Some("JSON"),
            "{id}: LogFormat JSON"
        );
        let group = path(function, &["Properties", "LoggingConfig", "LogGroup"])
            .and_then(ref_target)
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup: !Ref <its log group>"));
        assert_eq!(t.resource_type(group), "AWS::Logs::LogGroup", "{id}");
        assert!(
            path(t.resource(group), &["Properties", "RetentionInDays"]).is_some(),
            "{group}: RetentionInDays"
        );
    }
}

#[test]
fn the_environment_is_exactly_the_configuration_the_code_reads() {
    let t = Template::load();
    let expected: BTreeSet<&str> = vars::ALL.into_iter().collect();
    for (id, function) in t.webhook_functions() {
        let env = t.function_environment(function);
        let names: BTreeSet<&str> = env.keys().copied().collect();
        assert_eq!(
            names, expected,
            "{id}: environment variables differ from webhook_core::config::vars::ALL"
        );

        // And each points at the right thing.
        let table = ref_target(env[vars::IDEMPOTENCY_TABLE_NAME]).expect("!Ref the table");
        assert_eq!(t.resource_type(table), "AWS::DynamoDB::Table");
        let queue = ref_target(env[vars::ACTIONABLE_QUEUE_URL]).expect("!Ref the queue");
        assert_eq!(t.resource_type(queue), "AWS::SQS::Queue");
        for activity in alternatives(env[vars::ACTIVITY_QUEUE_URL]) {
            match ref_target(activity) {
                Some(q) => assert_eq!(t.resource_type(q), "AWS::SQS::Queue"),
                None => assert_eq!(activity.as_str(), Some(""), "empty when not configured"),
            }
        }
        let tokens = ref_target(env[vars::WEBHOOK_TOKENS]).expect("!Ref the tokens parameter");
        let tokens = t.parameter(tokens);
        assert_eq!(tokens.get("NoEcho").and_then(Value::as_bool), Some(true));
        assert_eq!(
            tokens.get("MinLength").and_then(Value::as_u64),
            Some(MIN_TOKEN_CHARS as u64)
        );
        assert!(tokens.get("Default").is_none(), "no default token");
        assert!(
            str_at(tokens, &["AllowedPattern"]).contains("[A-Za-z0-9._~-]{16,}"),
            "the template refuses the tokens the code refuses"
        );
        let quarantine = ref_target(env[vars::QUARANTINE_QUEUE_URL]).expect("!Ref the queue");
        assert_eq!(quarantine, "QuarantineQueue");
    }
}

#[test]
fn parameter_bounds_are_the_code_s_bounds() {
    let t = Template::load();
    let number = |name: &str, key: &str| {
        t.parameter(name)
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{name}: {key}"))
    };
    assert_eq!(
        number("MaxBodyBytes", "MaxValue"),
        MAX_BODY_BYTES_LIMIT as u64
    );
    assert_eq!(number("IdempotencyTtlSeconds", "MinValue"), MIN_TTL_SECONDS);
    // The shortest timeout still fits the answer margin, a claim attempt, and the time a send
    // is only started with (send plus its completion).
    let shortest = Duration::from_secs(number("FunctionTimeout", "MinValue"));
    let needed = webhook_lambda::MARGIN
        + Duration::from_secs(1)
        + webhook_core::commit::SEND_MIN
        + webhook_core::commit::COMPLETE_RESERVE;
    assert!(shortest >= needed, "{shortest:?} < {needed:?}");
}

#[test]
fn the_quarantine_queue_keeps_deliveries_14_days_encrypted_alarmed_and_retained() {
    let t = Template::load();
    let queue = t.resource("QuarantineQueue");
    assert_eq!(t.resource_type("QuarantineQueue"), "AWS::SQS::Queue");
    assert_eq!(
        path(queue, &["Properties", "MessageRetentionPeriod"]).and_then(Value::as_u64),
        Some(1_209_600)
    );
    assert_eq!(
        path(queue, &["Properties", "SqsManagedSseEnabled"]).and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(str_at(queue, &["DeletionPolicy"]), "Retain");
    let alarms: Vec<&str> = t
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            path(alarm, &["Properties", "Dimensions"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .any(|d| getatt_target(&d["Value"]).is_some_and(|(r, _)| r == "QuarantineQueue"))
        })
        .map(|(id, alarm)| {
            let props = &alarm["Properties"];
            assert_eq!(
                str_at(props, &["MetricName"]),
                "ApproximateNumberOfMessagesVisible"
            );
            assert_eq!(path(props, &["Threshold"]).and_then(Value::as_u64), Some(0));
            assert_eq!(
                str_at(props, &["ComparisonOperator"]),
                "GreaterThanThreshold"
            );
            id
        })
        .collect();
    assert_eq!(
        alarms,
        ["QuarantineAlarm"],
        "an alarm on the first quarantined delivery"
    );
    let outputs = t.section("Outputs");
    assert!(outputs.contains_key("QuarantineQueueUrl"));
}

#[test]
fn the_table_has_the_store_key_and_ttl_attribute() {
    let t = Template::load();
    let tables = t.resources_of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one idempotency table");
    let (id, table) = tables.into_iter().next().unwrap();
    let props = table.get("Properties").expect("Properties");

    let key: Vec<(&str, &str)> = props["KeySchema"]
        .as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| (str_at(k, &["AttributeName"]), str_at(k, &["KeyType"])))
        .collect();
    assert_eq!(key, [(PARTITION_KEY, "HASH")], "{id}: key schema");
    let attributes: Vec<(&str, &str)> = props["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| (str_at(a, &["AttributeName"]), str_at(a, &["AttributeType"])))
        .collect();
    assert_eq!(attributes, [(PARTITION_KEY, "S")], "{id}: attribute types");

    assert_eq!(
        str_at(props, &["TimeToLiveSpecification", "AttributeName"]),
        TTL_ATTRIBUTE
    );
    assert_eq!(
        path(props, &["TimeToLiveSpecification", "Enabled"]).and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(str_at(props, &["BillingMode"]), "PAY_PER_REQUEST");
    assert_eq!(
        path(
            props,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        )
        .and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(
        path(props, &["SSESpecification", "SSEEnabled"]).and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(str_at(table, &["DeletionPolicy"]), "Retain");
    assert_eq!(str_at(table, &["UpdateReplacePolicy"]), "Retain");
}

/// One IAM statement: its actions and the resources they apply to.
struct Statement {
    actions: Vec<String>,
    resources: Vec<Value>,
}

/// The statements a function's role gets from its `Policies`: inline documents, or `!Ref` to
/// an `AWS::IAM::ManagedPolicy` of this template. Anything else (an AWS managed policy, a SAM
/// policy template) is refused: those grant more than the code uses.
fn statements_of(t: &Template, id: &str, function: &Value) -> Vec<Statement> {
    let policies = path(function, &["Properties", "Policies"])
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("{id}: Policies must be a list"));
    let mut out = Vec::new();
    for policy in policies {
        let document = if let Some(target) = ref_target(policy) {
            assert_eq!(
                t.resource_type(target),
                "AWS::IAM::ManagedPolicy",
                "{id}: Policies may only !Ref a managed policy of this template"
            );
            path(t.resource(target), &["Properties", "PolicyDocument"])
                .expect("ManagedPolicy has a PolicyDocument")
        } else if policy.get("Statement").is_some() {
            policy
        } else {
            panic!("{id}: policy {policy:?} is neither an inline document nor !Ref to one");
        };
        for statement in document["Statement"].as_sequence().expect("Statement list") {
            assert_eq!(str_at(statement, &["Effect"]), "Allow", "{id}");
            assert!(
                statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
                "{id}: no NotAction / NotResource"
            );
            out.push(Statement {
                actions: strings(&statement["Action"])
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                resources: alternatives(&statement["Resource"])
                    .into_iter()
                    .cloned()
                    .collect(),
            });
        }
    }
    out
}

#[test]
fn each_function_may_do_exactly_what_the_code_does() {
    let t = Template::load();
    let expected: BTreeSet<&str> = DYNAMODB_ACTIONS.into_iter().chain(SQS_ACTIONS).collect();
    for (id, function) in t.webhook_functions() {
        let env = t.function_environment(function);
        let table = ref_target(env[vars::IDEMPOTENCY_TABLE_NAME]).expect("table ref");
        let queue = ref_target(env[vars::ACTIONABLE_QUEUE_URL]).expect("queue ref");

        let statements = statements_of(&t, id, function);
        let actions: BTreeSet<&str> = statements
            .iter()
            .flat_map(|s| s.actions.iter().map(String::as_str))
            .collect();
        assert_eq!(actions, expected, "{id}: IAM actions");

        let mut queues_granted = BTreeSet::new();
        for statement in &statements {
            for resource in &statement.resources {
                let (target, attr) = getatt_target(resource).unwrap_or_else(|| {
                    panic!("{id}: resource {resource:?} is not !GetAtt <resource>.Arn")
                });
                assert_eq!(attr, "Arn", "{id}");
                for action in &statement.actions {
                    if action.starts_with("dynamodb:") {
                        assert_eq!(target, table, "{id}: {action} only on the table");
                    } else {
                        assert_eq!(
                            t.resource_type(&target),
                            "AWS::SQS::Queue",
                            "{id}: {action} only on queues"
                        );
                        assert!(!target.contains("DeadLetter"), "{id}: never send to a DLQ");
                        queues_granted.insert(target.clone());
                    }
                }
            }
        }
        assert!(
            queues_granted.contains(queue),
            "{id}: may not send to the actionable queue {queue}"
        );
    }
}

#[test]
fn access_logs_never_record_the_query_string() {
    let t = Template::load();
    for (id, api) in t.resources_of_type("AWS::Serverless::HttpApi") {
        let format = str_at(api, &["Properties", "AccessLogSettings", "Format"]);
        serde_json::from_str::<serde_json::Value>(format)
            .unwrap_or_else(|e| panic!("{id}: the access log format is not JSON: {e}"));
        let used: BTreeSet<&str> = format
            .match_indices('$')
            .map(|(i, _)| {
                let rest = &format[i..];
                let end = rest[1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .map_or(rest.len(), |e| e + 1);
                &rest[..end]
            })
            .collect();
        assert!(!used.is_empty(), "{id}: access log format has no variables");
        for variable in used {
            assert!(
                ACCESS_LOG_VARIABLES.contains(&variable),
                "{id}: {variable} is not on the access log allowlist (could it carry ?token=?)"
            );
        }
        let destination = path(api, &["Properties", "AccessLogSettings", "DestinationArn"])
            .and_then(getatt_target)
            .expect("DestinationArn: !GetAtt <log group>.Arn");
        assert_eq!(t.resource_type(&destination.0), "AWS::Logs::LogGroup");
    }
}

#[test]
fn outputs_give_the_three_webhook_urls_without_a_token() {
    let t = Template::load();
    let outputs = t.section("Outputs");
    let values: Vec<String> = outputs
        .values()
        .map(|o| format!("{:?}", o.get("Value").expect("Value")))
        .collect();
    for category in Category::ALL {
        let url = values
            .iter()
            .filter(|v| v.contains("execute-api") && v.contains(category.route()))
            .count();
        assert_eq!(url, 1, "one output URL ending in {}", category.route());
    }
    for value in &values {
        assert!(
            !value.to_lowercase().contains("token"),
            "an output carries a token: {value}"
        );
    }
    for needed in [
        "ActionableQueueUrl",
        "ActionableQueueArn",
        "IdempotencyTableName",
    ] {
        assert!(outputs.contains_key(needed), "output {needed} is missing");
    }
}

/// The AWS operations the adapters call (`self.client.<operation>()` in `shared/aws/src`, the
/// provisioning helpers for tests excepted), as IAM actions: `put_item` in `dynamodb.rs` is
/// `dynamodb:PutItem`.
fn sdk_actions_in_code() -> BTreeSet<String> {
    let dir = repo_root().join("shared/aws/src");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("shared/aws/src") {
        let path = entry.expect("dir entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Provisioning and the quarantine reader run with an operator's credentials (local
        // stack, `reply-webhooks replay`), never in a function.
        if !file.ends_with(".rs") || file == "provision.rs" || file == "quarantine.rs" {
            continue;
        }
        let code: String = std::fs::read_to_string(&path)
            .expect("readable source")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for operation in calls_on(&code, ".client.") {
            let service = match file {
                "dynamodb.rs" => "dynamodb",
                "sqs.rs" => "sqs",
                other => panic!("{other} calls AWS ({operation}); teach this test its service"),
            };
            actions.insert(format!("{service}:{operation}"));
        }
    }
    actions
}

/// The operations called as `<receiver><operation>()` in `code` (whitespace removed), in
/// PascalCase as IAM names them: `.client.put_item()` gives `PutItem`.
fn calls_on(code: &str, receiver: &str) -> Vec<String> {
    code.match_indices(receiver)
        .filter_map(|(at, _)| {
            let rest = &code[at + receiver.len()..];
            let operation: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest[operation.len()..].starts_with("()").then(|| {
                operation
                    .split('_')
                    .map(|word| {
                        let mut chars = word.chars();
                        chars.next().map_or(String::new(), |first| {
                            first.to_ascii_uppercase().to_string() + chars.as_str()
                        })
                    })
                    .collect()
            })
        })
        .collect()
}

#[test]
fn iam_actions_are_the_sdk_calls_the_adapters_make() {
    let in_code = sdk_actions_in_code();
    assert!(
        in_code.len() >= 2,
        "found no `self.client.<operation>()` calls in shared/aws/src: did the adapters change shape?"
    );
    let t = Template::load();
    for (id, function) in t.webhook_functions() {
        let granted: BTreeSet<String> = statements_of(&t, id, function)
            .into_iter()
            .flat_map(|s| s.actions)
            .collect();
        assert_eq!(
            granted, in_code,
            "{id}: IAM actions in template.yaml differ from the SDK calls in shared/aws/src"
        );
    }
}

#[test]
fn alarms_on_the_functions_own_metrics_use_names_the_code_emits() {
    use webhook_lambda::metrics::{METRICS, NAMESPACE};
    let t = Template::load();
    let mut checked = 0;
    for (id, alarm) in t.resources_of_type("AWS::CloudWatch::Alarm") {
        let Some(Value::Sequence(metrics)) = path(alarm, &["Properties", "Metrics"]) else {
            continue;
        };
        for metric in metrics {
            let Some(stat) = path(metric, &["MetricStat", "Metric"]) else {
                continue;
            };
            assert_eq!(str_at(stat, &["Namespace"]), NAMESPACE, "{id}: namespace");
            let name = str_at(stat, &["MetricName"]);
            let (_, dimensions) = METRICS
                .iter()
                .chain(&subscription_watchdog::metrics::METRICS)
                .find(|(known, _)| *known == name)
                .unwrap_or_else(|| panic!("{id}: the functions emit no metric {name}"));
            let Some(Value::Sequence(used)) = stat.get("Dimensions") else {
                panic!("{id}: {name} needs its dimensions");
            };
            let used: Vec<&str> = used.iter().map(|d| str_at(d, &["Name"])).collect();
            assert!(
                dimensions.contains(&used.as_slice()),
                "{id}: {name} is not emitted with dimensions {used:?}"
            );
            for dimension in used
                .iter()
                .zip(stat["Dimensions"].as_sequence().into_iter().flatten())
            {
                if dimension.0 == &"Outcome" {
                    let value = str_at(dimension.1, &["Value"]);
                    assert!(
                        webhook_core::Outcome::CODES.contains(&value),
                        "{id}: no outcome {value}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 9,
        "the template alarms on the functions' metrics ({checked} found)"
    );
}

// ---------------------------------------------------------------------------------------------
// The optional subscription watchdog.
// ---------------------------------------------------------------------------------------------

const WATCHDOG_BINARY: &str = "subscription-watchdog";
const WATCHDOG_CONDITION_PARAMETER: &str = "ReplyApiKeySecret";

/// The watchdog function, by its binary.
fn watchdog(t: &Template) -> (&str, &Value) {
    let found: Vec<_> = t
        .functions()
        .into_iter()
        .filter(|(_, f)| t.binary_of(f) == WATCHDOG_BINARY)
        .collect();
    assert_eq!(found.len(), 1, "one function built from {WATCHDOG_BINARY}");
    found[0]
}

/// Every logical id a value refers to: `Ref`, `GetAtt` and the `${Name}` of a `Sub`.
fn references(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut add_sub = |text: &str| {
        for piece in text.split("${").skip(1) {
            if let Some(name) = piece.split('}').next() {
                found.insert(name.split('.').next().unwrap_or(name).to_owned());
            }
        }
    };
    match intrinsic(value) {
        Some((name, Value::String(arg))) if name == "Ref" => {
            found.insert(arg.clone());
        }
        Some((name, arg)) if name == "GetAtt" => {
            if let Some((id, _)) = getatt_target(value) {
                found.insert(id);
            }
            found.extend(references(arg));
        }
        Some((name, arg)) if name == "Sub" => match arg {
            Value::String(text) => add_sub(text),
            Value::Sequence(parts) => {
                if let Some(text) = parts.first().and_then(Value::as_str) {
                    add_sub(text);
                }
                found.extend(parts.iter().skip(1).flat_map(references));
            }
            _ => {}
        },
        Some((_, arg)) => found.extend(references(arg)),
        None => match value {
            Value::Mapping(map) => found.extend(map.values().flat_map(references)),
            Value::Sequence(items) => found.extend(items.iter().flat_map(references)),
            Value::Tagged(tagged) => found.extend(references(&tagged.value)),
            _ => {}
        },
    }
    found
}

#[test]
fn the_watchdog_exists_only_when_an_api_key_secret_is_given() {
    let t = Template::load();
    let (id, function) = watchdog(&t);
    let condition = str_at(function, &["Condition"]);
    let definition = t
        .section("Conditions")
        .get(condition)
        .unwrap_or_else(|| panic!("no condition {condition}"));
    // !Not [!Equals [!Ref ReplyApiKeySecret, ""]]
    let (not, negated) = intrinsic(definition).expect("an intrinsic");
    assert_eq!(not, "Not");
    let (equals, operands) = intrinsic(&negated[0]).expect("!Equals");
    assert_eq!(equals, "Equals");
    assert_eq!(ref_target(&operands[0]), Some(WATCHDOG_CONDITION_PARAMETER));
    assert_eq!(operands[1].as_str(), Some(""));
    let parameter = t.parameter(WATCHDOG_CONDITION_PARAMETER);
    assert_eq!(
        parameter.get("Default").and_then(Value::as_str),
        Some(""),
        "off unless given"
    );

    // Everything that names a conditional resource is under the same condition, or the stack
    // without the watchdog would not deploy.
    let conditional: BTreeSet<&str> = t
        .section("Resources")
        .iter()
        .filter(|(_, r)| r.get("Condition").and_then(Value::as_str) == Some(condition))
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert!(conditional.contains(id));
    for section in ["Resources", "Outputs"] {
        for (name, item) in t.section(section) {
            if item.get("Condition").and_then(Value::as_str) == Some(condition) {
                continue;
            }
            let named: Vec<_> = references(item)
                .into_iter()
                .filter(|r| conditional.contains(r.as_str()))
                .collect();
            assert!(
                named.is_empty(),
                "{section}.{name:?} refers to {named:?} without the condition {condition}"
            );
        }
    }
}

#[test]
fn the_watchdog_runs_on_a_schedule_without_lambda_retries() {
    let t = Template::load();
    let (id, function) = watchdog(&t);
    let events = path(function, &["Properties", "Events"])
        .and_then(Value::as_mapping)
        .expect("Events");
    assert_eq!(events.len(), 1, "{id}: one trigger");
    let event = events.values().next().unwrap();
    assert_eq!(str_at(event, &["Type"]), "Schedule");
    let schedule = path(event, &["Properties", "Schedule"])
        .and_then(ref_target)
        .expect("Schedule: !Ref <parameter>");
    assert_eq!(
        t.parameter(schedule).get("Default").and_then(Value::as_str),
        Some("rate(15 minutes)")
    );
    assert_eq!(
        path(
            function,
            &["Properties", "EventInvokeConfig", "MaximumRetryAttempts"]
        )
        .and_then(Value::as_u64),
        Some(0),
        "{id}: a retry would spend Reply API calls; the next run is the retry"
    );
}

#[test]
fn the_watchdog_gets_the_urls_the_token_and_the_secret_arn_never_the_key() {
    use subscription_watchdog::config::{WEBHOOK_TOKENS, vars as watchdog_vars};
    let t = Template::load();
    let (id, function) = watchdog(&t);
    let env = t.function_environment(function);
    let own: BTreeSet<&str> = path(function, &["Properties", "Environment", "Variables"])
        .and_then(Value::as_mapping)
        .expect("its own variables")
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    for name in &own {
        assert!(
            watchdog_vars::ALL.contains(name),
            "{id}: {name} is not read by the watchdog"
        );
    }
    for category in Category::ALL {
        let name = watchdog_vars::url(category);
        let value = format!(
            "{:?}",
            env.get(name).unwrap_or_else(|| panic!("{id}: {name}"))
        );
        assert!(
            value.contains("execute-api") && value.contains(&format!("{}\"", category.route())),
            "{id}: {name} is the {} route of this stack's API: {value}",
            category.as_str()
        );
    }
    assert_eq!(
        env.get(watchdog_vars::REPLY_API_KEY_SECRET_ARN)
            .and_then(|v| ref_target(v)),
        Some(WATCHDOG_CONDITION_PARAMETER)
    );
    assert_eq!(
        env.get(WEBHOOK_TOKENS).and_then(|v| ref_target(v)),
        Some("WebhookTokens"),
        "{id}: the token comes from the stack"
    );
    // The key itself is never a parameter or an environment variable: only its secret's ARN.
    for (fid, f) in t.functions() {
        assert!(
            !t.function_environment(f)
                .contains_key(reply_webhooks::subscribe::API_KEY_VAR),
            "{fid}"
        );
    }
    let key_parameters: Vec<&str> = t
        .section("Parameters")
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.to_lowercase().contains("apikey"))
        .collect();
    assert_eq!(key_parameters, [WATCHDOG_CONDITION_PARAMETER]);
}

#[test]
fn the_watchdog_may_read_only_its_secret_exactly_as_its_code_does() {
    let t = Template::load();
    let (id, function) = watchdog(&t);
    let src = repo_root()
        .join("functions")
        .join(WATCHDOG_BINARY)
        .join("src");
    let mut in_code = BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("the watchdog's sources") {
        let code: String = std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        in_code.extend(
            calls_on(&code, ".secrets_manager.")
                .into_iter()
                .map(|op| format!("secretsmanager:{op}")),
        );
    }
    assert!(
        !in_code.is_empty(),
        "found no `.secrets_manager.<operation>()` in {src:?}"
    );
    let statements = statements_of(&t, id, function);
    let granted: BTreeSet<String> = statements.iter().flat_map(|s| s.actions.clone()).collect();
    assert_eq!(
        granted, in_code,
        "{id}: IAM actions differ from the calls in its code"
    );
    for statement in &statements {
        for resource in &statement.resources {
            assert_eq!(
                ref_target(resource),
                Some(WATCHDOG_CONDITION_PARAMETER),
                "{id}: only the API key's secret"
            );
        }
    }
}

#[test]
fn an_alarm_fires_when_the_watchdog_had_to_act_and_when_it_fails() {
    use subscription_watchdog::metrics::{
        NAMESPACE as WATCHDOG_NAMESPACE, SUBSCRIPTIONS_MISSING, SUBSCRIPTIONS_RE_ENABLED,
    };
    assert_eq!(WATCHDOG_NAMESPACE, webhook_lambda::metrics::NAMESPACE);
    let t = Template::load();
    let (id, function) = watchdog(&t);
    let condition = str_at(function, &["Condition"]);
    let alarms: Vec<_> = t
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| references(a).contains(id))
        .collect();
    let acted = alarms
        .iter()
        .find(|(_, a)| path(a, &["Properties", "Metrics"]).is_some())
        .map(|(_, a)| *a)
        .expect("an alarm on the watchdog's own metrics");
    let used: BTreeSet<&str> = path(acted, &["Properties", "Metrics"])
        .and_then(Value::as_sequence)
        .unwrap()
        .iter()
        .filter_map(|m| path(m, &["MetricStat", "Metric"]))
        .map(|stat| {
            let dimension = &stat["Dimensions"][0];
            assert_eq!(
                ref_target(&dimension["Value"]),
                Some(id),
                "Function = the watchdog"
            );
            str_at(stat, &["MetricName"])
        })
        .collect();
    assert_eq!(
        used,
        BTreeSet::from([SUBSCRIPTIONS_RE_ENABLED, SUBSCRIPTIONS_MISSING])
    );
    let props = &acted["Properties"];
    assert_eq!(props["Threshold"].as_u64(), Some(1));
    assert_eq!(
        props["ComparisonOperator"].as_str(),
        Some("GreaterThanOrEqualToThreshold")
    );
    let errors = alarms
        .iter()
        .find(|(_, a)| {
            path(a, &["Properties", "MetricName"]).and_then(Value::as_str) == Some("Errors")
        })
        .expect("an alarm on the watchdog's failed runs");
    for (alarm_id, alarm) in alarms.iter().chain([errors]) {
        assert_eq!(
            alarm.get("Condition").and_then(Value::as_str),
            Some(condition),
            "{alarm_id}"
        );
        let actions = &alarm["Properties"]["AlarmActions"];
        assert!(
            alternatives(actions)
                .iter()
                .any(|a| ref_target(a) == Some("AlarmTopic")),
            "{alarm_id} notifies the alarm topic"
        );
    }
}

#[test]
fn the_outputs_subscribe_reads_exist() {
    let t = Template::load();
    let outputs = t.section("Outputs");
    for category in Category::ALL {
        let key = reply_webhooks::url_output(category);
        let value = format!(
            "{:?}",
            outputs
                .get(key)
                .unwrap_or_else(|| panic!("no output {key}"))["Value"]
        );
        assert!(
            value.contains(&format!("{}\"", category.route())),
            "{key} is the {} route: {value}",
            category.as_str()
        );
    }
    let table = outputs
        .get(reply_webhooks::TABLE_OUTPUT)
        .expect("the table output");
    let target = ref_target(&table["Value"]).expect("!Ref the table");
    assert_eq!(t.resource_type(target), "AWS::DynamoDB::Table");
}
