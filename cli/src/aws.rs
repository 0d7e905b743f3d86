//! What `subscribe` reads from AWS: a stack's outputs (CloudFormation DescribeStacks), the
//! Reply API key (Secrets Manager GetSecretValue) and, for `--test`, the idempotency records
//! (DynamoDB Scan). Credentials and region come from the usual AWS sources; nothing here runs
//! unless an option needs it.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use webhook_aws::dynamodb::PARTITION_KEY;

/// A failed AWS call, described for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct AwsError {
    what: String,
    detail: String,
}

fn aws_error(what: impl Into<String>, err: impl std::error::Error) -> AwsError {
    AwsError {
        what: what.into(),
        detail: DisplayErrorContext(err).to_string(),
    }
}

/// The record an event left in the idempotency table (the attributes `--test` reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Without the `reply#` prefix of the key.
    pub event_id: String,
    pub status: String,
    pub event_type: String,
    pub category: String,
    pub received_at: DateTime<Utc>,
}

/// What a deployed stack publishes: its outputs and its parameter values, by key.
#[derive(Debug, Clone, Default)]
pub struct StackDescription {
    pub outputs: HashMap<String, String>,
    pub parameters: HashMap<String, String>,
}

/// The key prefix of every record.
const KEY_PREFIX: &str = "reply#";

pub struct Aws {
    runtime: tokio::runtime::Runtime,
    config: SdkConfig,
}

impl Aws {
    pub fn load() -> Result<Aws, AwsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| aws_error("cannot start the AWS client runtime", err))?;
        let config = runtime.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
        Ok(Aws { runtime, config })
    }

    /// The outputs of a CloudFormation stack, by key.
    pub fn stack_outputs(&self, stack: &str) -> Result<HashMap<String, String>, AwsError> {
        Ok(self.describe_stack(stack)?.outputs)
    }

    /// The outputs and the parameter values of a CloudFormation stack.
    pub fn describe_stack(&self, stack: &str) -> Result<StackDescription, AwsError> {
        let client = aws_sdk_cloudformation::Client::new(&self.config);
        let answer = self
            .runtime
            .block_on(client.describe_stacks().stack_name(stack).send())
            .map_err(|err| {
                aws_error(
                    format!(
                        "cannot describe stack {stack:?} (check its name, AWS_REGION and your credentials)"
                    ),
                    err,
                )
            })?;
        let stacks = answer.stacks();
        let outputs = stacks
            .iter()
            .flat_map(|s| s.outputs())
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let parameters = stacks
            .iter()
            .flat_map(|s| s.parameters())
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect();
        Ok(StackDescription {
            outputs,
            parameters,
        })
    }

    /// The SDK configuration, for clients this module does not wrap.
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// Runs `future` on the command's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The text of a Secrets Manager secret.
    pub fn secret_string(&self, arn: &str) -> Result<String, AwsError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.config);
        let answer = self
            .runtime
            .block_on(client.get_secret_value().secret_id(arn).send())
            .map_err(|err| aws_error(format!("cannot read the secret {arn}"), err))?;
        answer
            .secret_string()
            .map(str::to_owned)
            .ok_or_else(|| AwsError {
                what: format!("the secret {arn} holds binary data"),
                detail: "store the Reply API key as its text".into(),
            })
    }

    /// Every record of `event_types` received at or after `since`: one Scan of the table,
    /// filtered by event type in DynamoDB and by time here (the table has no index on
    /// either). A Scan reads the whole table, so its cost grows with the table.
    pub fn records_since(
        &self,
        table: &str,
        event_types: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<Record>, AwsError> {
        let client = aws_sdk_dynamodb::Client::new(&self.config);
        let placeholders: Vec<String> = (0..event_types.len()).map(|i| format!(":t{i}")).collect();
        let values: HashMap<String, AttributeValue> = placeholders
            .iter()
            .zip(event_types)
            .map(|(p, t)| (p.clone(), AttributeValue::S(t.clone())))
            .collect();
        let names: HashMap<String, String> = [
            ("#id", PARTITION_KEY),
            ("#status", "status"),
            ("#event_type", "event_type"),
            ("#category", "category"),
            ("#received_at", "received_at"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .runtime
                .block_on(
                    client
                        .scan()
                        .table_name(table)
                        .filter_expression(format!("#event_type IN ({})", placeholders.join(", ")))
                        .projection_expression("#id, #status, #event_type, #category, #received_at")
                        .set_expression_attribute_names(Some(names.clone()))
                        .set_expression_attribute_values(Some(values.clone()))
                        .set_exclusive_start_key(start)
                        .send(),
                )
                .map_err(|err| {
                    aws_error(
                        format!("cannot read the idempotency table {table:?} (dynamodb:Scan)"),
                        err,
                    )
                })?;
            records.extend(
                page.items()
                    .iter()
                    .filter_map(record)
                    .filter(|r| r.received_at >= since),
            );
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(records);
            }
        }
    }
}

fn record(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    Some(Record {
        event_id: text(PARTITION_KEY)?.strip_prefix(KEY_PREFIX)?.to_owned(),
        status: text("status").unwrap_or_default(),
        event_type: text("event_type")?,
        category: text("category").unwrap_or_default(),
        received_at: DateTime::parse_from_rfc3339(&text("received_at")?)
            .ok()?
            .with_timezone(&Utc),
    })
}
