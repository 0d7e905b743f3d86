//! Creates the table and queues the functions expect, for the local stack and the tests (in
//! AWS, `template.yaml` owns them). Key, TTL attribute, retention periods and the redrive count
//! come from that template ([`crate::template`]), so local resources match deployed ones.
//!
//! Every function is idempotent: a resource that already exists is reused (a queue's
//! attributes are brought up to date, a table's key schema is checked), so the local stack can
//! be provisioned twice and tests can share helpers. Each error names the resource it was about.
//!
//! ```no_run
//! # async fn example(dynamodb: &aws_sdk_dynamodb::Client, sqs: &aws_sdk_sqs::Client)
//! # -> Result<(), devkit::provision::ProvisionError> {
//! use devkit::provision::{create_queue, create_table};
//! create_table(dynamodb, "test-table-1").await?;
//! let dlq = create_queue(sqs, "test-queue-1-dlq", None).await?;
//! let queue = create_queue(sqs, "test-queue-1", Some(&dlq.arn)).await?;
//! println!("ACTIONABLE_QUEUE_URL={}", queue.url);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{self, TemplateError};

/// The local stack's table.
pub const LOCAL_TABLE: &str = "reply-webhooks-idempotency";
/// The local stack's actionable queue.
pub const LOCAL_ACTIONABLE_QUEUE: &str = "reply-webhooks-actionable";
/// The local stack's quarantine queue.
pub const LOCAL_QUARANTINE_QUEUE: &str = "reply-webhooks-quarantine";
/// The local stack's optional activity queue (non-actionable events).
pub const LOCAL_ACTIVITY_QUEUE: &str = "reply-webhooks-activity";

/// How long [`create_table`] waits for a new table to become ACTIVE.
pub const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, and with which resource.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A DynamoDB call about the table failed.
    #[error("DynamoDB table `{table}`: {action} failed: {message}")]
    Table {
        table: String,
        action: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },
    /// The table exists, but not with the key schema the functions need.
    #[error(
        "DynamoDB table `{table}` already exists with key schema {found}; the functions need \
         partition key `{expected}` (S) only: delete the table or choose another name"
    )]
    KeySchema {
        table: String,
        found: String,
        expected: String,
    },
    /// TTL is already enabled on another attribute.
    #[error(
        "DynamoDB table `{table}` has TTL on `{found}`; the functions write `{expected}`: \
         delete the table or choose another name"
    )]
    TtlAttribute {
        table: String,
        found: String,
        expected: String,
    },
    /// The template does not give the settings to create with.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An SQS call about the queue failed.
    #[error("SQS queue `{queue}`: {action} failed: {message}")]
    Queue {
        queue: String,
        action: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },
    /// The service answered without a value it always sends (a broken emulator).
    #[error("{resource}: the response to {action} had no {missing}")]
    Incomplete {
        resource: String,
        action: &'static str,
        missing: &'static str,
    },
}

impl ProvisionError {
    fn table<E, R>(
        table: &str,
        action: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        ProvisionError::Table {
            table: table.to_owned(),
            action,
            message: aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        }
    }

    fn queue<E, R>(
        queue: &str,
        action: &'static str,
        err: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        ProvisionError::Queue {
            queue: queue.to_owned(),
            action,
            message: aws_sdk_sqs::error::DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        }
    }
}

/// A queue's URL (for `ACTIONABLE_QUEUE_URL`, SendMessage) and ARN (for redrive policies, IAM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub url: String,
    pub arn: String,
}

/// Creates the idempotency table as the template defines it: its partition key (S), on-demand
/// billing, TTL on its TTL attribute. Waits until it is ACTIVE. An existing table with the right
/// key is reused.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), ProvisionError> {
    let settings = &template::resources()?.table;
    let key = settings.partition_key.as_str();
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| build_error_table(name, e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| build_error_table(name, e))?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            check_key_schema(client, name, key).await?;
        }
        Err(err) => return Err(ProvisionError::table(name, "CreateTable", err)),
    }

    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(TABLE_ACTIVE_TIMEOUT)
        .await
        .map_err(|err| ProvisionError::Table {
            table: name.to_owned(),
            action: "waiting for ACTIVE",
            message: aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        })?;

    enable_ttl(client, name, &settings.ttl_attribute).await
}

fn build_error_table(name: &str, err: aws_sdk_dynamodb::error::BuildError) -> ProvisionError {
    ProvisionError::Table {
        table: name.to_owned(),
        action: "building CreateTable",
        message: err.to_string(),
        source: Box::new(err),
    }
}

async fn check_key_schema(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
) -> Result<(), ProvisionError> {
    let described = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|err| ProvisionError::table(name, "DescribeTable", err))?;
    let table = described
        .table()
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: format!("DynamoDB table `{name}`"),
            action: "DescribeTable",
            missing: "Table",
        })?;
    let keys = table.key_schema();
    let key_type_of = |attribute: &str| {
        table
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == attribute)
            .map(|d| d.attribute_type().as_str().to_owned())
    };
    let expected = keys.len() == 1
        && keys[0].attribute_name() == key
        && keys[0].key_type() == &KeyType::Hash
        && key_type_of(key).as_deref() == Some("S");
    if expected {
        return Ok(());
    }
    let found = keys
        .iter()
        .map(|k| {
            format!(
                "`{}` {} ({})",
                k.attribute_name(),
                k.key_type().as_str(),
                key_type_of(k.attribute_name()).unwrap_or_else(|| "?".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(ProvisionError::KeySchema {
        table: name.to_owned(),
        found,
        expected: key.to_owned(),
    })
}

async fn enable_ttl(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    ttl_attribute: &str,
) -> Result<(), ProvisionError> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|err| ProvisionError::table(name, "DescribeTimeToLive", err))?;
    if let Some(ttl) = current.time_to_live_description() {
        let on = matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        match ttl.attribute_name() {
            Some(attribute) if on && attribute == ttl_attribute => return Ok(()),
            Some(attribute) if on => {
                return Err(ProvisionError::TtlAttribute {
                    table: name.to_owned(),
                    found: attribute.to_owned(),
                    expected: ttl_attribute.to_owned(),
                });
            }
            _ => {}
        }
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(ttl_attribute)
        .build()
        .map_err(|err| ProvisionError::Table {
            table: name.to_owned(),
            action: "building UpdateTimeToLive",
            message: err.to_string(),
            source: Box::new(err),
        })?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|err| ProvisionError::table(name, "UpdateTimeToLive", err))?;
    Ok(())
}

/// Creates a queue (a FIFO queue when `name` ends in `.fifo`), optionally with a redrive
/// policy to `dead_letter` (its ARN, or its URL) after the template's `maxReceiveCount`
/// receives, and the template's retention (a dead-letter queue's when `name` is one,
/// [`dead_letter_name`]). An existing queue is reused and its attributes brought up to date.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    dead_letter: Option<&str>,
) -> Result<QueueUrls, ProvisionError> {
    let resources = template::resources()?;
    let settings = &resources.queues;
    let mut attributes = HashMap::new();
    if let Some(target) = dead_letter {
        let arn = if target.starts_with("arn:") {
            target.to_owned()
        } else {
            queue_arn(client, target, target).await?
        };
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": settings.max_receive_count.to_string(),
        });
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let retention = if is_dead_letter_name(name) {
        settings.dead_letter_retention_seconds
    } else if is_quarantine_name(name) {
        resources.quarantine_retention_seconds
    } else {
        settings.retention_seconds
    };
    attributes.insert(
        QueueAttributeName::MessageRetentionPeriod,
        retention.to_string(),
    );

    let mut create = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    for (key, value) in &attributes {
        create = create.attributes(key.clone(), value);
    }
    let url = match create.send().await {
        Ok(out) => out.queue_url.ok_or_else(|| ProvisionError::Incomplete {
            resource: format!("SQS queue `{name}`"),
            action: "CreateQueue",
            missing: "QueueUrl",
        })?,
        // Exists with other attributes: reuse it and converge the attributes we own.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_queue_name_exists()) =>
        {
            let url = client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|err| ProvisionError::queue(name, "GetQueueUrl", err))?
                .queue_url
                .ok_or_else(|| ProvisionError::Incomplete {
                    resource: format!("SQS queue `{name}`"),
                    action: "GetQueueUrl",
                    missing: "QueueUrl",
                })?;
            if !attributes.is_empty() {
                client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .map_err(|err| ProvisionError::queue(name, "SetQueueAttributes", err))?;
            }
            url
        }
        Err(err) => return Err(ProvisionError::queue(name, "CreateQueue", err)),
    };
    let arn = queue_arn(client, name, &url).await?;
    Ok(QueueUrls { url, arn })
}

/// Creates `name` and its dead-letter queue (`<name>-dlq`, or `<stem>-dlq.fifo` for a FIFO
/// queue), returning (queue, dead-letter queue).
pub async fn create_queue_with_dead_letter(
    client: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(QueueUrls, QueueUrls), ProvisionError> {
    let dead_letter = create_queue(client, &dead_letter_name(name), None).await?;
    let queue = create_queue(client, name, Some(&dead_letter.arn)).await?;
    Ok((queue, dead_letter))
}

/// The dead-letter queue's name for `name`: `<name>-dlq`, `<stem>-dlq.fifo` for FIFO.
pub fn dead_letter_name(name: &str) -> String {
    match name.strip_suffix(".fifo") {
        Some(stem) => format!("{stem}-dlq.fifo"),
        None => format!("{name}-dlq"),
    }
}

fn is_quarantine_name(name: &str) -> bool {
    name.ends_with("-quarantine")
}

fn is_dead_letter_name(name: &str) -> bool {
    name.strip_suffix(".fifo").unwrap_or(name).ends_with("-dlq")
}

async fn queue_arn(
    client: &aws_sdk_sqs::Client,
    name: &str,
    url: &str,
) -> Result<String, ProvisionError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|err| ProvisionError::queue(name, "GetQueueAttributes", err))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: format!("SQS queue `{name}`"),
            action: "GetQueueAttributes",
            missing: "QueueArn",
        })
}

/// The names of everything the functions use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    pub table: String,
    /// The actionable queue; its dead-letter queue is [`dead_letter_name`] of it.
    pub actionable_queue: String,
    /// Where deliveries that cannot be processed are kept.
    pub quarantine_queue: String,
    /// The activity queue (and its `-dlq`), when non-actionable events should be forwarded too.
    pub activity_queue: Option<String>,
}

impl StackNames {
    /// The local stack's names ([`LOCAL_TABLE`], …), without the activity queue.
    pub fn local() -> Self {
        StackNames {
            table: LOCAL_TABLE.to_owned(),
            actionable_queue: LOCAL_ACTIONABLE_QUEUE.to_owned(),
            quarantine_queue: LOCAL_QUARANTINE_QUEUE.to_owned(),
            activity_queue: None,
        }
    }

    /// Names unique to `prefix` (e.g. a test's name plus a counter): `<prefix>-idempotency`,
    /// `<prefix>-actionable`, `<prefix>-actionable-dlq`, `<prefix>-activity`.
    pub fn prefixed(prefix: &str, with_activity: bool) -> Self {
        StackNames {
            table: format!("{prefix}-idempotency"),
            actionable_queue: format!("{prefix}-actionable"),
            quarantine_queue: format!("{prefix}-quarantine"),
            activity_queue: with_activity.then(|| format!("{prefix}-activity")),
        }
    }
}

/// What [`provision`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub table: String,
    pub actionable: QueueUrls,
    pub dead_letter: QueueUrls,
    pub quarantine: QueueUrls,
    pub activity: Option<QueueUrls>,
    pub activity_dead_letter: Option<QueueUrls>,
}

impl Provisioned {
    /// The configuration variables pointing the functions at these resources.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        use webhook_core::config::vars;
        let mut env = vec![
            (vars::IDEMPOTENCY_TABLE_NAME, self.table.clone()),
            (vars::ACTIONABLE_QUEUE_URL, self.actionable.url.clone()),
            (vars::QUARANTINE_QUEUE_URL, self.quarantine.url.clone()),
        ];
        if let Some(activity) = &self.activity {
            env.push((vars::ACTIVITY_QUEUE_URL, activity.url.clone()));
        }
        env
    }
}

/// Creates the table, the actionable queue with its dead-letter queue, and the activity queue
/// (with its own dead-letter queue) when named: the resources of `template.yaml`.
pub async fn provision(
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    names: &StackNames,
) -> Result<Provisioned, ProvisionError> {
    create_table(dynamodb, &names.table).await?;
    let (actionable, dead_letter) =
        create_queue_with_dead_letter(sqs, &names.actionable_queue).await?;
    let quarantine = create_queue(sqs, &names.quarantine_queue, None).await?;
    let (activity, activity_dead_letter) = match &names.activity_queue {
        Some(name) => {
            let (queue, dead_letter) = create_queue_with_dead_letter(sqs, name).await?;
            (Some(queue), Some(dead_letter))
        }
        None => (None, None),
    };
    Ok(Provisioned {
        table: names.table.clone(),
        actionable,
        dead_letter,
        quarantine,
        activity,
        activity_dead_letter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_names_keep_the_fifo_suffix_last() {
        assert_eq!(dead_letter_name("q"), "q-dlq");
        assert_eq!(dead_letter_name("q.fifo"), "q-dlq.fifo");
        assert_eq!(
            dead_letter_name(LOCAL_ACTIONABLE_QUEUE),
            "reply-webhooks-actionable-dlq"
        );
        assert!(is_dead_letter_name("q-dlq.fifo"));
        assert!(!is_dead_letter_name("q.fifo"));
    }

    #[test]
    fn prefixed_names_are_distinct() {
        let names = StackNames::prefixed("t-1", true);
        assert_eq!(names.table, "t-1-idempotency");
        assert_eq!(names.activity_queue.as_deref(), Some("t-1-activity"));
    }
}
