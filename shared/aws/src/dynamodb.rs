//! The idempotency store on DynamoDB, in the Powertools for AWS Lambda record schema.
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `id` | S | `reply#<event.id>` (partition key) |
//! | `status` | S | `INPROGRESS` or `COMPLETED` |
//! | `expiration` | N | epoch **seconds**; the table's TTL attribute |
//! | `in_progress_expiration` | N | epoch **milliseconds**; the claim's deadline (INPROGRESS only) |
//! | `validation` | S | SHA-256 hex of the body |
//! | `event_type`, `category`, `received_at` | S | what arrived, and when |
//! | `enqueued` | BOOL | whether a message was sent (COMPLETED only) |
//! | `message_id` | S | the SQS message id, when one was sent |

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use webhook_core::ports::{Dependency, DependencyError, IdempotencyStore};
use webhook_core::record::{
    ClaimOutcome, Completion, EpochMillis, ExistingRecord, NewRecord, RecordStatus,
};

use crate::error::dependency_error;

/// The table's partition key (a string): `reply#<event.id>`.
pub const PARTITION_KEY: &str = "id";
/// The table's TTL attribute, in epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expiration";

const STATUS: &str = "status";
const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
const VALIDATION: &str = "validation";

/// A claim succeeds when nothing live holds the key: absent, past its TTL (DynamoDB deletes
/// expired items lazily), or an INPROGRESS claim whose invocation is past its deadline.
const CLAIM_CONDITION: &str = "attribute_not_exists(#id) OR #expiration < :now_s \
     OR (#status = :inprogress AND #in_progress_expiration < :now_ms)";

/// Releasing deletes only our own claim, never one another invocation took over.
const RELEASE_CONDITION: &str = "#status = :inprogress AND #in_progress_expiration = :ours";

/// The store: a DynamoDB client (built once per process) and the table name.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoDbStore {
        DynamoDbStore {
            client,
            table: table.into(),
        }
    }

    /// The fallback read when a conditional put failed without returning the old item (some
    /// emulators): one strongly consistent GetItem.
    async fn read(&self, key: &str) -> Result<Option<ExistingRecord>, DependencyError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::DynamoDb, err))?;
        Ok(output.item().map(existing_record))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The item for a new record, attribute by attribute as documented above.
fn item(record: &NewRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::with_capacity(10);
    item.insert(PARTITION_KEY.into(), s(&record.key));
    item.insert(STATUS.into(), s(record.status.as_str()));
    item.insert(TTL_ATTRIBUTE.into(), n(record.expiration.0));
    if let Some(until) = record.in_progress_expiration {
        item.insert(IN_PROGRESS_EXPIRATION.into(), n(until.0));
    }
    item.insert(VALIDATION.into(), s(&record.validation));
    item.insert("event_type".into(), s(&record.event_type));
    item.insert("category".into(), s(&record.category));
    item.insert("received_at".into(), s(&record.received_at));
    if let Some(enqueued) = record.enqueued {
        item.insert("enqueued".into(), AttributeValue::Bool(enqueued));
    }
    item
}

/// Reads the parts of a stored item a claim decision needs. An unreadable status counts as
/// COMPLETED: refusing to process is safer than processing twice.
fn existing_record(item: &HashMap<String, AttributeValue>) -> ExistingRecord {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    ExistingRecord {
        status: text(STATUS)
            .and_then(|v| RecordStatus::parse(v))
            .unwrap_or(RecordStatus::Completed),
        validation: text(VALIDATION).cloned(),
        in_progress_expiration: item
            .get(IN_PROGRESS_EXPIRATION)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .map(EpochMillis),
    }
}

impl IdempotencyStore for DynamoDbStore {
    async fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
    ) -> Result<ClaimOutcome, DependencyError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(record)))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#id", PARTITION_KEY)
            .expression_attribute_names("#expiration", TTL_ATTRIBUTE)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#in_progress_expiration", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":now_s", n(now.seconds().0))
            .expression_attribute_values(":now_ms", n(now.0))
            .expression_attribute_values(":inprogress", s(RecordStatus::InProgress.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Written),
            Err(SdkError::ServiceError(failure))
                if matches!(
                    failure.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                let returned = match failure.err() {
                    PutItemError::ConditionalCheckFailedException(e) => {
                        e.item().map(existing_record)
                    }
                    _ => None,
                };
                match returned {
                    Some(existing) => Ok(ClaimOutcome::Held {
                        existing,
                        extra_read: false,
                    }),
                    None => match self.read(&record.key).await? {
                        Some(existing) => Ok(ClaimOutcome::Held {
                            existing,
                            extra_read: true,
                        }),
                        // Gone between the put and the read (released or expired): report
                        // it as in progress; the sender's retry will claim it.
                        None => Ok(ClaimOutcome::Held {
                            existing: ExistingRecord {
                                status: RecordStatus::InProgress,
                                validation: None,
                                in_progress_expiration: None,
                            },
                            extra_read: true,
                        }),
                    },
                }
            }
            Err(err) => Err(dependency_error(Dependency::DynamoDb, err)),
        }
    }

    async fn complete(&self, key: &str, completion: &Completion) -> Result<(), DependencyError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#in_progress_expiration", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":completed", s(RecordStatus::Completed.as_str()))
            .expression_attribute_values(":enqueued", AttributeValue::Bool(completion.enqueued));
        let mut set = String::from("SET #status = :completed, enqueued = :enqueued");
        if let Some(message_id) = &completion.message_id {
            set.push_str(", message_id = :message_id");
            update = update.expression_attribute_values(":message_id", s(message_id));
        }
        update
            .update_expression(format!("{set} REMOVE #in_progress_expiration"))
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::DynamoDb, err))?;
        Ok(())
    }

    async fn release(
        &self,
        key: &str,
        in_progress_expiration: EpochMillis,
    ) -> Result<(), DependencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .condition_expression(RELEASE_CONDITION)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#in_progress_expiration", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":inprogress", s(RecordStatus::InProgress.as_str()))
            .expression_attribute_values(":ours", n(in_progress_expiration.0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours any more: someone took it over, which is what release is for.
            Err(SdkError::ServiceError(failure))
                if failure.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(err) => Err(dependency_error(Dependency::DynamoDb, err)),
        }
    }
}
