//! The proxy's strict mode against moto's server, through the real AWS SDK clients.
//!
//! For every rule: moto alone accepts the request (or, for an undefined placeholder, fails
//! with a 500), and through the proxy the SDK reports the error AWS answers (HTTP 400, the
//! same code, the same modelled error variant where there is one) and nothing reaches moto.
//! Requests AWS accepts at the edge of each rule pass through the proxy, and so does every
//! request the functions make for every sample event.

use std::collections::HashMap;
use std::fmt::Debug;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use devkit::proxy::{Proxy, target};
use reply_payload::Category;
use reply_webhooks_tests::{Fixture, Queues, TOKEN, http_event, invoke, require_moto};

/// How a call ended: `Ok`, or the HTTP status and error code the SDK reported.
type Outcome = Result<(), (u16, String)>;

fn outcome<O: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<O, SdkError<E, HttpResponse>>,
) -> Outcome {
    result.map(|_| ()).map_err(|err| {
        let status = err.raw_response().map_or(0, |r| r.status().as_u16());
        (status, err.code().unwrap_or("(no code)").to_owned())
    })
}

/// SDK configuration for `endpoint`, without retries: one request per call.
async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// Clients straight to moto and through a strict proxy in front of it.
struct Sides {
    proxy: Proxy,
    moto_sqs: aws_sdk_sqs::Client,
    proxied_sqs: aws_sdk_sqs::Client,
    moto_dynamodb: aws_sdk_dynamodb::Client,
    proxied_dynamodb: aws_sdk_dynamodb::Client,
}

impl Sides {
    async fn new(moto: &str) -> Sides {
        let proxy = Proxy::start(moto).await.unwrap();
        let (direct, proxied) = (sdk_at(moto).await, sdk_at(&proxy.url()).await);
        Sides {
            moto_sqs: aws_sdk_sqs::Client::new(&direct),
            proxied_sqs: aws_sdk_sqs::Client::new(&proxied),
            moto_dynamodb: aws_sdk_dynamodb::Client::new(&direct),
            proxied_dynamodb: aws_sdk_dynamodb::Client::new(&proxied),
            proxy,
        }
    }

    /// Asserts that the last exchange was refused with `code` (it never reached moto).
    fn assert_last_refused(&self, case: &str, code: &str) {
        let last = self.proxy.exchanges().pop().expect("an exchange");
        assert_eq!(last.refused.as_deref(), Some(code), "{case}: {last:?}");
    }
}

// ---------------------------------------------------------------------------------------- SQS

/// One SendMessage.
#[derive(Debug, Clone, Default)]
struct Message {
    body: String,
    attributes: Vec<(String, MessageAttributeValue)>,
    group_id: Option<String>,
    deduplication_id: Option<String>,
}

impl Message {
    fn body(body: impl Into<String>) -> Message {
        Message {
            body: body.into(),
            ..Message::default()
        }
    }

    fn attribute(mut self, name: &str, value: MessageAttributeValue) -> Message {
        self.attributes.push((name.to_owned(), value));
        self
    }

    fn fifo(mut self, group_id: &str, deduplication_id: &str) -> Message {
        self.group_id = Some(group_id.to_owned());
        self.deduplication_id = Some(deduplication_id.to_owned());
        self
    }

    async fn send(&self, client: &aws_sdk_sqs::Client, queue_url: &str) -> Outcome {
        let mut send = client
            .send_message()
            .queue_url(queue_url)
            .message_body(&self.body)
            .set_message_group_id(self.group_id.clone())
            .set_message_deduplication_id(self.deduplication_id.clone());
        for (name, value) in &self.attributes {
            send = send.message_attributes(name, value.clone());
        }
        outcome(send.send().await)
    }
}

fn string(value: &str) -> MessageAttributeValue {
    typed("String", value)
}

fn typed(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .unwrap()
}

fn binary(bytes: &[u8]) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Binary")
        .binary_value(Blob::new(bytes))
        .build()
        .unwrap()
}

/// For each `(case, message, code)`: moto accepts it, the proxy answers 400 with `code`.
async fn assert_sqs_refusals(sides: &Sides, queue_url: &str, cases: &[(&str, Message, &str)]) {
    for (case, message, code) in cases {
        assert_eq!(
            message.send(&sides.moto_sqs, queue_url).await,
            Ok(()),
            "{case}: moto alone accepts it"
        );
        assert_eq!(
            message.send(&sides.proxied_sqs, queue_url).await,
            Err((400, (*code).to_owned())),
            "{case}: the proxy refuses it as SQS does"
        );
        sides.assert_last_refused(case, code);
    }
}

/// For each `(case, message)`: the proxy forwards it and SQS would take it.
async fn assert_sqs_passes(sides: &Sides, queue_url: &str, cases: &[(&str, Message)]) {
    for (case, message) in cases {
        assert_eq!(
            message.send(&sides.proxied_sqs, queue_url).await,
            Ok(()),
            "{case}: within the rules, forwarded"
        );
    }
}

/// How many messages a queue holds (visible now).
async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn sqs_messages_aws_refuses_are_refused_with_its_error() {
    let moto = require_moto!();
    let f = Fixture::new("strict-sqs", Queues::default()).await;
    let sides = Sides::new(&moto).await;
    let queue = f.actionable_queue_url.as_str();
    let x = || Message::body("x");
    let eleven = (0..11).fold(x(), |m, i| m.attribute(&format!("a{i}"), string("v")));
    let cases = [
        ("empty body", Message::body(""), "MissingParameter"),
        (
            "U+FFFE in the body",
            Message::body("a\u{FFFE}"),
            "InvalidMessageContents",
        ),
        (
            "a control character in the body",
            Message::body("a\u{1}b"),
            "InvalidMessageContents",
        ),
        (
            "an empty String attribute",
            x().attribute("a", string("")),
            "InvalidParameterValue",
        ),
        (
            "a control character in an attribute",
            x().attribute("a", string("\u{1}")),
            "InvalidParameterValue",
        ),
        ("11 attributes", eleven, "InvalidParameterValue"),
        (
            "name starting with AWS.",
            x().attribute("AWS.x", string("v")),
            "InvalidParameterValue",
        ),
        (
            "name starting with amazon. in any case",
            x().attribute("aMaZoN.x", string("v")),
            "InvalidParameterValue",
        ),
        (
            "name starting with a period",
            x().attribute(".x", string("v")),
            "InvalidParameterValue",
        ),
        (
            "name ending with a period",
            x().attribute("x.", string("v")),
            "InvalidParameterValue",
        ),
        (
            "two periods in a row",
            x().attribute("a..b", string("v")),
            "InvalidParameterValue",
        ),
        (
            "a 257-character name",
            x().attribute(&"a".repeat(257), string("v")),
            "InvalidParameterValue",
        ),
        (
            "a Number that is not a number",
            x().attribute("n", typed("Number", "abc")),
            "InvalidParameterValue",
        ),
        (
            "a Number of 39 digits",
            x().attribute("n", typed("Number", &"1".repeat(39))),
            "InvalidParameterValue",
        ),
        (
            "an empty Binary attribute",
            x().attribute("b", binary(b"")),
            "InvalidParameterValue",
        ),
        (
            "a String attribute with only a binary value",
            x().attribute(
                "s",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .binary_value(Blob::new("v"))
                    .build()
                    .unwrap(),
            ),
            "InvalidParameterValue",
        ),
        // moto counts characters; SQS counts UTF-8 bytes: 524,289 × 2 bytes > 1 MiB.
        (
            "1 MiB + 2 bytes of two-byte characters",
            Message::body("é".repeat(524_289)),
            "InvalidParameterValue",
        ),
        // moto counts the body only; SQS counts the attributes too.
        (
            "body and attributes over 1 MiB",
            Message::body("a".repeat(1_048_570)).attribute("abcdef", string("x")),
            "InvalidParameterValue",
        ),
    ];
    assert_sqs_refusals(&sides, queue, &cases).await;
    assert_eq!(
        queue_depth(&sides.moto_sqs, queue).await,
        cases.len(),
        "only moto's own copies are in the queue: nothing refused reached it"
    );

    let ten = (0..10).fold(x(), |m, i| m.attribute(&format!("a.b-c_{i}"), string("v")));
    assert_sqs_passes(
        &sides,
        queue,
        &[
            (
                "tab, newline, CR, U+E000, U+FFFD and an emoji",
                Message::body("\t\n\r\u{E000}\u{FFFD}😀"),
            ),
            ("10 attributes with periods, hyphens and underscores", ten),
            (
                "a 256-character name",
                x().attribute(&"a".repeat(256), string("v")),
            ),
            (
                "a Number in exponent form with a custom type",
                x().attribute("n", typed("Number.float", "-1.5e3")),
            ),
            ("a Binary attribute", x().attribute("b", binary(&[0, 1, 2]))),
            (
                "exactly 1 MiB with an attribute",
                Message::body("a".repeat(1_048_576 - 13)).attribute("abcdef", string("x")),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn sqs_respects_the_queue_maximum_message_size_in_bytes() {
    let moto = require_moto!();
    let sides = Sides::new(&moto).await;
    let name = format!("strict-small-{}", std::process::id());
    let queue = sides
        .moto_sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    assert_sqs_refusals(
        &sides,
        &queue,
        &[
            (
                "2,000 bytes in 1,000 characters",
                Message::body("é".repeat(1000)),
                "InvalidParameterValue",
            ),
            (
                "1,000 bytes of body and 25 of attribute",
                Message::body("a".repeat(1000)).attribute("abc", string("0123456789012345")),
                "InvalidParameterValue",
            ),
        ],
    )
    .await;
    assert_sqs_passes(
        &sides,
        &queue,
        &[("exactly 1,024 bytes", Message::body("a".repeat(1024)))],
    )
    .await;
}

#[tokio::test]
async fn sqs_fifo_ids_follow_the_documented_format() {
    let moto = require_moto!();
    let f = Fixture::new(
        "strict-fifo",
        Queues {
            fifo: true,
            ..Queues::default()
        },
    )
    .await;
    let sides = Sides::new(&moto).await;
    let queue = f.actionable_queue_url.as_str();
    let x = || Message::body("x");
    assert_sqs_refusals(
        &sides,
        queue,
        &[
            (
                "a 129-character group id",
                x().fifo(&"g".repeat(129), "d1"),
                "InvalidParameterValue",
            ),
            (
                "a space in the group id",
                x().fifo("a b", "d2"),
                "InvalidParameterValue",
            ),
            (
                "a 129-character deduplication id",
                x().fifo("g", &"d".repeat(129)),
                "InvalidParameterValue",
            ),
            (
                "a non-ASCII deduplication id",
                x().fifo("g", "dé"),
                "InvalidParameterValue",
            ),
        ],
    )
    .await;
    let punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    assert_sqs_passes(
        &sides,
        queue,
        &[(
            "128 characters of letters, digits and punctuation",
            x().fifo(
                &format!("{}{punctuation}", "g".repeat(96)),
                &format!("{punctuation}{}", "d".repeat(96)),
            ),
        )],
    )
    .await;
}

#[tokio::test]
async fn sqs_batch_entries_aws_refuses_fail_alone_and_a_batch_over_1_mib_fails_whole() {
    let moto = require_moto!();
    let f = Fixture::new("strict-batch", Queues::default()).await;
    let sides = Sides::new(&moto).await;
    let queue = f.actionable_queue_url.as_str();
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
            .unwrap()
    };
    let entries = vec![
        entry("ok1", "fine"),
        entry("bad", "a\u{FFFF}"),
        entry("ok2", "fine too"),
    ];
    let batch = |client: &aws_sdk_sqs::Client| {
        client
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries.clone()))
            .send()
    };
    let direct = batch(&sides.moto_sqs).await.unwrap();
    assert_eq!(
        (direct.successful().len(), direct.failed().len()),
        (3, 0),
        "moto takes all three"
    );

    let proxied = batch(&sides.proxied_sqs).await.unwrap();
    let mut sent: Vec<&str> = proxied.successful().iter().map(|s| s.id()).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["ok1", "ok2"]);
    let failed = proxied.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].id(), failed[0].code(), failed[0].sender_fault()),
        ("bad", "InvalidMessageContents", true)
    );
    assert_eq!(queue_depth(&sides.moto_sqs, queue).await, 3 + 2);

    // Two entries of 600,000 bytes each (300,000 characters): over 1 MiB together.
    let big = "é".repeat(300_000);
    let too_long = |client: &aws_sdk_sqs::Client| {
        client
            .send_message_batch()
            .queue_url(queue)
            .entries(entry("1", &big))
            .entries(entry("2", &big))
            .send()
    };
    too_long(&sides.moto_sqs).await.unwrap();
    let err = too_long(&sides.proxied_sqs).await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_batch_request_too_long()),
        "{err:?}"
    );
    sides.assert_last_refused(
        "batch over 1 MiB",
        "AWS.SimpleQueueService.BatchRequestTooLong",
    );
}

#[tokio::test]
async fn sqs_invalid_contents_is_the_modelled_sdk_error_and_strict_mode_can_be_turned_off() {
    let moto = require_moto!();
    let f = Fixture::new("strict-variant", Queues::default()).await;
    let sides = Sides::new(&moto).await;
    let send = |client: &aws_sdk_sqs::Client| {
        client
            .send_message()
            .queue_url(&f.actionable_queue_url)
            .message_body("\u{FFFF}")
            .send()
    };
    let err = send(&sides.proxied_sqs).await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_message_contents()),
        "the SDK surfaces SendMessageError::InvalidMessageContents: {err:?}"
    );
    sides.proxy.set_strict(false);
    send(&sides.proxied_sqs).await.unwrap();
    assert_eq!(sides.proxy.exchanges().last().unwrap().refused, None);
}

// ----------------------------------------------------------------------------------- DynamoDB

/// One DynamoDB item request.
#[derive(Debug, Clone)]
struct Call {
    operation: &'static str,
    /// The item (PutItem) or the key (the others).
    attributes: HashMap<String, AttributeValue>,
    condition: Option<String>,
    update: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Call {
    fn new(operation: &'static str, attributes: &[(&str, AttributeValue)]) -> Call {
        Call {
            operation,
            attributes: attributes
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
            condition: None,
            update: None,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn put(item: &[(&str, AttributeValue)]) -> Call {
        Call::new("PutItem", item)
    }

    fn condition(mut self, expression: &str) -> Call {
        self.condition = Some(expression.to_owned());
        self
    }

    fn update(mut self, expression: &str) -> Call {
        self.update = Some(expression.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Call {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    async fn send(&self, client: &aws_sdk_dynamodb::Client, table: &str) -> Outcome {
        let names = (!self.names.is_empty()).then(|| self.names.clone());
        let values = (!self.values.is_empty()).then(|| self.values.clone());
        let attributes = Some(self.attributes.clone());
        match self.operation {
            "PutItem" => outcome(
                client
                    .put_item()
                    .table_name(table)
                    .set_item(attributes)
                    .set_condition_expression(self.condition.clone())
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .send()
                    .await,
            ),
            "GetItem" => outcome(
                client
                    .get_item()
                    .table_name(table)
                    .set_key(attributes)
                    .set_expression_attribute_names(names)
                    .send()
                    .await,
            ),
            "DeleteItem" => outcome(
                client
                    .delete_item()
                    .table_name(table)
                    .set_key(attributes)
                    .set_condition_expression(self.condition.clone())
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .send()
                    .await,
            ),
            _ => outcome(
                client
                    .update_item()
                    .table_name(table)
                    .set_key(attributes)
                    .set_update_expression(self.update.clone())
                    .set_condition_expression(self.condition.clone())
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .send()
                    .await,
            ),
        }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

fn id(value: &str) -> (&'static str, AttributeValue) {
    ("id", s(value))
}

/// `wraps` maps nested around a string: the string sits at level `wraps + 1`.
fn nested(wraps: usize) -> AttributeValue {
    (0..wraps).fold(s("leaf"), |inner, _| {
        AttributeValue::M(HashMap::from([("n".to_owned(), inner)]))
    })
}

/// `count` one-character strings: DynamoDB counts 3 + 2 × `count` bytes, moto `count`.
fn list_of(count: usize) -> AttributeValue {
    AttributeValue::L(vec![s("a"); count])
}

/// A string of 398,500 bytes and a list of 6,000 one-character strings: 410,503 bytes and
/// more as DynamoDB sizes it, 404,500 and a few as moto does (moto refuses above 405,000).
fn over_400_kb_for_dynamodb_only() -> [(&'static str, AttributeValue); 2] {
    [("s", s(&"x".repeat(398_500))), ("l", list_of(6_000))]
}

/// For each `(case, call, moto's status)`: moto accepts it (status 200) or fails otherwise
/// than DynamoDB (that status), and the proxy answers 400 ValidationException.
async fn assert_dynamodb_refusals(sides: &Sides, table: &str, cases: &[(&str, Call, u16)]) {
    for (case, call, moto_status) in cases {
        let direct = call.send(&sides.moto_dynamodb, table).await;
        match moto_status {
            200 => assert_eq!(direct, Ok(()), "{case}: moto alone accepts it"),
            status => assert_eq!(
                direct.map_err(|e| e.0),
                Err(*status),
                "{case}: moto's answer"
            ),
        }
        assert_eq!(
            call.send(&sides.proxied_dynamodb, table).await,
            Err((400, "ValidationException".to_owned())),
            "{case}: the proxy refuses it as DynamoDB does"
        );
        sides.assert_last_refused(case, "ValidationException");
    }
}

async fn assert_dynamodb_passes(sides: &Sides, table: &str, cases: &[(&str, Call)]) {
    for (case, call) in cases {
        assert_eq!(
            call.send(&sides.proxied_dynamodb, table).await,
            Ok(()),
            "{case}: within the rules, forwarded"
        );
    }
}

#[tokio::test]
async fn dynamodb_writes_aws_refuses_are_refused_with_a_validation_exception() {
    let moto = require_moto!();
    let f = Fixture::new("strict-ddb", Queues::default()).await;
    let sides = Sides::new(&moto).await;
    let table = f.table.as_str();
    let long_key = "k".repeat(2049);
    let long_condition = vec!["attribute_not_exists(id)"; 200].join(" OR ");
    let set = |items: &[&str]| items.iter().map(|i| (*i).to_owned()).collect::<Vec<_>>();
    let [string, list] = over_400_kb_for_dynamodb_only();
    let cases = [
        (
            "a Number of 39 significant digits",
            Call::put(&[id("n39"), ("v", n(&"1".repeat(39)))]),
            200,
        ),
        (
            "a Number above 9.99…E+125",
            Call::put(&[id("n126"), ("v", n("1E126"))]),
            200,
        ),
        (
            "a string set with duplicates",
            Call::put(&[id("ss"), ("v", AttributeValue::Ss(set(&["a", "a"])))]),
            200,
        ),
        (
            "a number set with equal values",
            Call::put(&[id("ns"), ("v", AttributeValue::Ns(set(&["1", "1.0"])))]),
            200,
        ),
        (
            "a document nested 33 levels",
            Call::put(&[id("deep"), ("v", nested(32))]),
            200,
        ),
        (
            "an item over 400 KB counting list overhead",
            Call::put(&[id("big"), string, list]),
            200,
        ),
        (
            "GetItem with a 2049-byte partition key",
            Call::new("GetItem", &[id(&long_key)]),
            200,
        ),
        (
            "DeleteItem with a 2049-byte partition key",
            Call::new("DeleteItem", &[id(&long_key)]),
            200,
        ),
        (
            "PutItem with an unused expression attribute value",
            Call::put(&[id("unused")])
                .condition("attribute_not_exists(id)")
                .value(":x", s("a")),
            200,
        ),
        (
            "DeleteItem with an unused expression attribute value",
            Call::new("DeleteItem", &[id("unused-delete")])
                .condition("attribute_not_exists(id)")
                .value(":x", s("a")),
            200,
        ),
        (
            "expression attribute values without an expression",
            Call::put(&[id("no-expression")]).value(":x", s("a")),
            200,
        ),
        (
            "an expression over 4 KB",
            Call::put(&[id("long")]).condition(&long_condition),
            200,
        ),
        (
            "an undefined name placeholder",
            Call::put(&[id("undefined")]).condition("attribute_not_exists(#n)"),
            500,
        ),
        (
            "an undefined value placeholder",
            Call::put(&[id("undefined-v")]).condition("a = :v"),
            500,
        ),
        (
            "UpdateItem setting an empty set",
            Call::new("UpdateItem", &[id("empty-set")])
                .update("SET a = :v")
                .value(":v", AttributeValue::Ss(vec![])),
            200,
        ),
        (
            "UpdateItem setting a Number of 39 digits",
            Call::new("UpdateItem", &[id("n39-update")])
                .update("SET a = :v")
                .value(":v", n(&"9".repeat(39))),
            200,
        ),
    ];
    assert_dynamodb_refusals(&sides, table, &cases).await;

    let long_ok = "k".repeat(2048);
    assert_dynamodb_passes(
        &sides,
        table,
        &[
            (
                "38 significant digits and the largest magnitude",
                Call::put(&[
                    id("n38"),
                    ("a", n(&"9".repeat(38))),
                    ("b", n("9.9999999999999999999999999999999999999E+125")),
                    ("c", n("-1E-130")),
                ]),
            ),
            (
                "a document nested 32 levels",
                Call::put(&[id("deep-ok"), ("v", nested(31))]),
            ),
            ("a 2048-byte partition key", Call::put(&[id(&long_ok)])),
            (
                "GetItem with a 2048-byte partition key",
                Call::new("GetItem", &[id(&long_ok)]),
            ),
            (
                "an empty string outside the key, and in a set",
                Call::put(&[
                    id("empties"),
                    ("e", s("")),
                    ("v", AttributeValue::Ss(set(&["", "a"]))),
                ]),
            ),
            (
                "the claim's conditional put, every placeholder used",
                Call {
                    names: HashMap::from([
                        ("#id".to_owned(), "id".to_owned()),
                        ("#s".to_owned(), "status".to_owned()),
                    ]),
                    ..Call::put(&[id("claim"), ("status", s("INPROGRESS"))])
                        .condition("attribute_not_exists(#id) OR #s = :done")
                        .value(":done", s("COMPLETED"))
                },
            ),
            (
                "an item of 404,000 bytes",
                Call::put(&[id("large"), ("s", s(&"x".repeat(404_000)))]),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn dynamodb_update_growing_the_stored_item_past_400_kb_is_refused() {
    let moto = require_moto!();
    let f = Fixture::new("strict-update-size", Queues::default()).await;
    let sides = Sides::new(&moto).await;
    let table = f.table.as_str();
    let [big_string, list] = over_400_kb_for_dynamodb_only();
    let stored = Call::put(&[id("grow"), big_string]);
    assert_eq!(stored.send(&sides.moto_dynamodb, table).await, Ok(()));
    let grow = Call::new("UpdateItem", &[id("grow")])
        .update("SET l = :l")
        .value(":l", list.1);
    assert_dynamodb_refusals(
        &sides,
        table,
        &[(
            "SET of a 6,000-element list on a 398,500-byte item",
            grow,
            200,
        )],
    )
    .await;
    let small = Call::put(&[id("small"), ("s", s(&"x".repeat(300_000)))]);
    assert_eq!(small.send(&sides.moto_dynamodb, table).await, Ok(()));
    assert_dynamodb_passes(
        &sides,
        table,
        &[(
            "SET of a short string on a 300,000-byte item",
            Call::new("UpdateItem", &[id("small")])
                .update("SET note = :v")
                .value(":v", s("fine")),
        )],
    )
    .await;
}

#[tokio::test]
async fn dynamodb_empty_binary_sort_key_is_refused() {
    let moto = require_moto!();
    let sides = Sides::new(&moto).await;
    let table = format!("strict-sort-{}", std::process::id());
    sides
        .moto_dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::B)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let empty_sort = Call::put(&[("pk", s("a")), ("sk", AttributeValue::B(Blob::new(vec![])))]);
    assert_dynamodb_refusals(
        &sides,
        &table,
        &[("an empty binary sort key", empty_sort, 200)],
    )
    .await;
    assert_dynamodb_passes(
        &sides,
        &table,
        &[(
            "a 1024-byte sort key",
            Call::put(&[
                ("pk", s("a")),
                ("sk", AttributeValue::B(Blob::new(vec![7; 1024]))),
            ]),
        )],
    )
    .await;
}

// ------------------------------------------------------------------------------ the functions

/// Every sample event through the email function, DynamoDB and SQS (standard and FIFO, with
/// an activity queue) behind the strict proxy: the functions write nothing AWS would refuse.
#[tokio::test]
async fn the_functions_requests_for_every_sample_event_pass_the_strict_rules() {
    let moto = require_moto!();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/reply");
    let mut files: Vec<_> = std::fs::read_dir(samples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 19, "the samples: {files:?}");
    for fifo in [false, true] {
        let f = Fixture::new(
            "strict-functions",
            Queues {
                fifo,
                activity: true,
            },
        )
        .await;
        let proxy = Proxy::start(&moto).await.unwrap();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(proxy.url())
            .load()
            .await;
        let p = webhook_lambda::aws_pipeline(f.config(&[]), Category::Email, &sdk, &sdk);
        for file in &files {
            let body = std::fs::read_to_string(file).unwrap();
            let event = http_event(
                "POST",
                "/webhooks/email",
                &format!("token={TOKEN}"),
                &body,
                false,
            );
            let answer = invoke(&p, &event).await;
            assert_eq!(answer.status, 200, "{file:?}: {}", answer.body);
        }
        let exchanges = proxy.take_exchanges();
        assert!(exchanges.iter().any(|e| e.target == target::SEND_MESSAGE));
        let refused: Vec<_> = exchanges.iter().filter(|e| e.refused.is_some()).collect();
        assert!(refused.is_empty(), "fifo={fifo}: {refused:#?}");
    }
}
