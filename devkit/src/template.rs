//! The settings of the table and queues, read from `template.yaml` (compiled in), so the local
//! stack and the tests provision exactly what AWS gets, and checked against the key and TTL
//! attribute the functions write (`webhook_aws::dynamodb`).

use std::sync::OnceLock;

use serde_norway::Value;
use webhook_aws::dynamodb::{PARTITION_KEY, TTL_ATTRIBUTE};

/// The template, as built into this crate.
const TEMPLATE: &str = include_str!("../../template.yaml");

const TABLE: &str = "IdempotencyTable";
const ACTIONABLE_QUEUE: &str = "ActionableQueue";
const ACTIVITY_QUEUE: &str = "ActivityQueue";
const QUARANTINE_QUEUE: &str = "QuarantineQueue";

/// `template.yaml` lacks, or contradicts, what local provisioning needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("template.yaml: `{path}` is missing or not {expected}")]
    Missing {
        path: String,
        expected: &'static str,
    },
    #[error(
        "template.yaml's table has {what} `{template}`, but the functions use `{code}` \
         (webhook_aws::dynamodb): make them agree"
    )]
    Disagrees {
        what: &'static str,
        template: String,
        code: &'static str,
    },
    #[error(
        "template.yaml: {queue} has {what} {found}, {ACTIONABLE_QUEUE} {expected}; local \
         provisioning gives every queue one setting: make them agree"
    )]
    QueuesDiffer {
        queue: &'static str,
        what: &'static str,
        found: u64,
        expected: u64,
    },
}

/// The idempotency table's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    /// The partition key (string typed).
    pub partition_key: String,
    /// The attribute DynamoDB's TTL reads.
    pub ttl_attribute: String,
}

/// The settings every queue and dead-letter queue shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub retention_seconds: u64,
    pub dead_letter_retention_seconds: u64,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u64,
}

/// What local provisioning creates, as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table: TableSettings,
    pub queues: QueueSettings,
    /// The quarantine queue's retention (it has no dead-letter queue).
    pub quarantine_retention_seconds: u64,
}

/// The template's resources, read once.
pub fn resources() -> Result<&'static Resources, TemplateError> {
    static PARSED: OnceLock<Result<Resources, TemplateError>> = OnceLock::new();
    PARSED
        .get_or_init(|| Resources::parse(TEMPLATE))
        .as_ref()
        .map_err(Clone::clone)
}

impl Resources {
    /// Reads the table and queue settings from a template's text.
    pub fn parse(text: &str) -> Result<Resources, TemplateError> {
        let template: Value =
            serde_norway::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let table = table_settings(&template)?;
        let queues = queue_settings(&template, ACTIONABLE_QUEUE)?;
        let quarantine_retention_seconds = number(
            properties(&template, QUARANTINE_QUEUE)?,
            QUARANTINE_QUEUE,
            "MessageRetentionPeriod",
        )?;
        let activity = queue_settings(&template, ACTIVITY_QUEUE)?;
        for (what, found, expected) in [
            (
                "MessageRetentionPeriod",
                activity.retention_seconds,
                queues.retention_seconds,
            ),
            (
                "a dead-letter MessageRetentionPeriod",
                activity.dead_letter_retention_seconds,
                queues.dead_letter_retention_seconds,
            ),
            (
                "maxReceiveCount",
                activity.max_receive_count,
                queues.max_receive_count,
            ),
        ] {
            if found != expected {
                return Err(TemplateError::QueuesDiffer {
                    queue: ACTIVITY_QUEUE,
                    what,
                    found,
                    expected,
                });
            }
        }
        Ok(Resources {
            table,
            queues,
            quarantine_retention_seconds,
        })
    }
}

fn table_settings(template: &Value) -> Result<TableSettings, TemplateError> {
    let properties = properties(template, TABLE)?;
    let keys = field(properties, TABLE, "KeySchema")?
        .as_sequence()
        .filter(|keys| keys.len() == 1)
        .ok_or_else(|| missing(TABLE, "KeySchema", "a single HASH key"))?;
    let partition_key = text(
        &keys[0],
        TABLE,
        "KeySchema[0].AttributeName",
        "AttributeName",
    )?;
    if text(&keys[0], TABLE, "KeySchema[0].KeyType", "KeyType")? != "HASH" {
        return Err(missing(TABLE, "KeySchema[0].KeyType", "HASH"));
    }
    let key_type = field(properties, TABLE, "AttributeDefinitions")?
        .as_sequence()
        .and_then(|definitions| {
            definitions.iter().find(|d| {
                d.get("AttributeName").and_then(Value::as_str) == Some(partition_key.as_str())
            })
        })
        .and_then(|definition| definition.get("AttributeType"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            missing(
                TABLE,
                "AttributeDefinitions",
                "a definition of the partition key",
            )
        })?;
    let ttl = field(properties, TABLE, "TimeToLiveSpecification")?;
    let ttl_attribute = text(
        ttl,
        TABLE,
        "TimeToLiveSpecification.AttributeName",
        "AttributeName",
    )?;
    if ttl.get("Enabled").and_then(Value::as_bool) != Some(true) {
        return Err(missing(TABLE, "TimeToLiveSpecification.Enabled", "true"));
    }

    for (what, template, code) in [
        ("partition key", partition_key.as_str(), PARTITION_KEY),
        ("partition key type", key_type, "S"),
        ("TTL attribute", ttl_attribute.as_str(), TTL_ATTRIBUTE),
    ] {
        if template != code {
            return Err(TemplateError::Disagrees {
                what,
                template: template.to_owned(),
                code,
            });
        }
    }
    Ok(TableSettings {
        partition_key,
        ttl_attribute,
    })
}

fn queue_settings(template: &Value, queue: &'static str) -> Result<QueueSettings, TemplateError> {
    let properties = properties(template, queue)?;
    let retention_seconds = number(properties, queue, "MessageRetentionPeriod")?;
    let redrive = field(properties, queue, "RedrivePolicy")?;
    let max_receive_count = number(redrive, queue, "RedrivePolicy.maxReceiveCount")?;
    // `!GetAtt <DeadLetterQueue>.Arn`
    let target = untag(field(redrive, queue, "RedrivePolicy.deadLetterTargetArn")?)
        .as_str()
        .and_then(|target| target.strip_suffix(".Arn"))
        .ok_or_else(|| {
            missing(
                queue,
                "RedrivePolicy.deadLetterTargetArn",
                "!GetAtt <queue>.Arn",
            )
        })?;
    let dead_letter = template
        .get("Resources")
        .and_then(|resources| resources.get(target))
        .and_then(|resource| resource.get("Properties"))
        .ok_or_else(|| {
            missing(
                queue,
                "RedrivePolicy.deadLetterTargetArn",
                "a queue resource",
            )
        })?;
    let dead_letter_retention_seconds = dead_letter
        .get("MessageRetentionPeriod")
        .and_then(Value::as_u64)
        .ok_or_else(|| TemplateError::Missing {
            path: format!("Resources.{target}.Properties.MessageRetentionPeriod"),
            expected: "a number",
        })?;
    Ok(QueueSettings {
        retention_seconds,
        dead_letter_retention_seconds,
        max_receive_count,
    })
}

fn properties<'a>(template: &'a Value, resource: &'static str) -> Result<&'a Value, TemplateError> {
    template
        .get("Resources")
        .and_then(|resources| resources.get(resource))
        .and_then(|r| r.get("Properties"))
        .ok_or_else(|| TemplateError::Missing {
            path: format!("Resources.{resource}.Properties"),
            expected: "a mapping",
        })
}

fn field<'a>(
    parent: &'a Value,
    resource: &'static str,
    path: &str,
) -> Result<&'a Value, TemplateError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    parent
        .get(key)
        .ok_or_else(|| missing(resource, path, "present"))
}

fn number(parent: &Value, resource: &'static str, path: &str) -> Result<u64, TemplateError> {
    field(parent, resource, path)?
        .as_u64()
        .ok_or_else(|| missing(resource, path, "a number"))
}

fn text(
    parent: &Value,
    resource: &'static str,
    path: &str,
    key: &str,
) -> Result<String, TemplateError> {
    parent
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| missing(resource, path, "a string"))
}

fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

fn missing(resource: &'static str, path: &str, expected: &'static str) -> TemplateError {
    TemplateError::Missing {
        path: format!("Resources.{resource}.Properties.{path}"),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_gives_the_table_and_queue_settings() {
        let resources = resources().unwrap();
        assert_eq!(resources.table.partition_key, PARTITION_KEY);
        assert_eq!(resources.table.ttl_attribute, TTL_ATTRIBUTE);
        // A dead-letter queue must keep a message longer than its source queue, or a moved
        // message could expire before anyone looks at it.
        let queues = &resources.queues;
        assert!(queues.dead_letter_retention_seconds > queues.retention_seconds);
        assert!(queues.max_receive_count >= 1);
    }

    #[test]
    fn a_template_that_contradicts_the_functions_is_refused() {
        let renamed_ttl = TEMPLATE.replace(
            &format!("AttributeName: {TTL_ATTRIBUTE}"),
            "AttributeName: expires_at",
        );
        assert_eq!(
            Resources::parse(&renamed_ttl),
            Err(TemplateError::Disagrees {
                what: "TTL attribute",
                template: "expires_at".into(),
                code: TTL_ATTRIBUTE,
            })
        );
    }

    #[test]
    fn queues_with_different_settings_are_refused() {
        // Only the activity queue's redrive count changes (it is the second occurrence).
        let count = "maxReceiveCount: ";
        let second = TEMPLATE.match_indices(count).nth(1).unwrap().0 + count.len();
        let end = second + TEMPLATE[second..].find('\n').unwrap();
        let changed = format!("{}99{}", &TEMPLATE[..second], &TEMPLATE[end..]);
        assert!(matches!(
            Resources::parse(&changed),
            Err(TemplateError::QueuesDiffer {
                what: "maxReceiveCount",
                found: 99,
                ..
            })
        ));
    }
}
