//! The idempotency store on DynamoDB, in the Powertools for AWS Lambda record schema.
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `id` | S | `reply#<event.id>` (partition key) |
//! | `status` | S | `INPROGRESS` or `COMPLETED` |
//! | `expiration` | N | epoch **seconds**; the table's TTL attribute |
//! | `in_progress_expiration` | N | epoch **milliseconds**; the claim's deadline (INPROGRESS only) |
//! | `validation` | S | SHA-256 hex of the body's canonical form |
//! | `claim_token` | S | unique per claim: fences complete and release |
//! | `event_type`, `category`, `received_at` | S | what arrived, and when |
//! | `enqueued` | BOOL | whether a message was sent (COMPLETED only) |
//! | `message_id` | S | the SQS message id, when one was sent |

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use webhook_core::ports::{Dependency, DependencyError, IdempotencyStore};
use webhook_core::record::{
    Claim, ClaimToken, Completed, EpochMillis, ExistingRecord, NewRecord, RecordStatus,
};

use crate::error::{bounded, dependency_error};

/// The table's partition key (a string): `reply#<event.id>`.
pub const PARTITION_KEY: &str = "id";
/// The table's TTL attribute, in epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expiration";

const STATUS: &str = "status";
const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
const VALIDATION: &str = "validation";
const CLAIM_TOKEN: &str = "claim_token";

/// A claim succeeds when nothing live holds the key: absent, past its TTL (DynamoDB deletes
/// expired items lazily), or an INPROGRESS claim whose invocation is past its deadline.
const CLAIM_CONDITION: &str = "attribute_not_exists(#id) OR #expiration < :now_s \
     OR (#status = :inprogress AND #in_progress_expiration < :now_ms)";

/// Completing and releasing touch only our own claim: never a record another invocation
/// took over, and never a record that is gone (an update would otherwise create one).
const OURS_CONDITION: &str = "attribute_exists(#id) AND #claim_token = :ours";

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
    item.insert(CLAIM_TOKEN.into(), s(record.claim_token.as_str()));
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
        claim_token: text(CLAIM_TOKEN).map(ClaimToken::from_stored),
    }
}

impl DynamoDbStore {
    async fn put_claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
    ) -> Result<Claim, DependencyError> {
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
        let failure = match result {
            Ok(_) => return Ok(Claim::Written),
            Err(SdkError::ServiceError(failure)) => failure,
            Err(err) => return Err(dependency_error(Dependency::DynamoDb, err)),
        };
        let PutItemError::ConditionalCheckFailedException(held) = failure.err() else {
            return Err(dependency_error(
                Dependency::DynamoDb,
                SdkError::ServiceError(failure),
            ));
        };
        if let Some(item) = held.item() {
            return Ok(Claim::Held(existing_record(item)));
        }
        tracing::debug!("the conditional put returned no old item; reading it");
        match self.read(&record.key).await? {
            Some(existing) => Ok(Claim::Held(existing)),
            // Gone between the put and the read (released or expired): report it as in
            // progress; the sender's retry will claim it.
            None => Ok(Claim::Held(ExistingRecord {
                status: RecordStatus::InProgress,
                validation: None,
                in_progress_expiration: None,
                claim_token: None,
            })),
        }
    }

    async fn update_completed(
        &self,
        key: &str,
        claim: &ClaimToken,
        message_id: &str,
    ) -> Result<Completed, DependencyError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .update_expression(
                "SET #status = :completed, enqueued = :enqueued, message_id = :message_id \
                 REMOVE #in_progress_expiration",
            )
            .condition_expression(OURS_CONDITION)
            .expression_attribute_names("#id", PARTITION_KEY)
            .expression_attribute_names("#claim_token", CLAIM_TOKEN)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#in_progress_expiration", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":ours", s(claim.as_str()))
            .expression_attribute_values(":completed", s(RecordStatus::Completed.as_str()))
            .expression_attribute_values(":enqueued", AttributeValue::Bool(true))
            .expression_attribute_values(":message_id", s(message_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Completed::Done),
            Err(SdkError::ServiceError(failure))
                if matches!(
                    failure.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(Completed::ClaimLost)
            }
            Err(err) => Err(dependency_error(Dependency::DynamoDb, err)),
        }
    }

    async fn delete_claim(&self, key: &str, claim: &ClaimToken) -> Result<(), DependencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .condition_expression(OURS_CONDITION)
            .expression_attribute_names("#id", PARTITION_KEY)
            .expression_attribute_names("#claim_token", CLAIM_TOKEN)
            .expression_attribute_values(":ours", s(claim.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours any more (taken over, or gone): nothing to release.
            Err(SdkError::ServiceError(failure))
                if failure.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(err) => Err(dependency_error(Dependency::DynamoDb, err)),
        }
    }
}

impl IdempotencyStore for DynamoDbStore {
    async fn claim(
        &self,
        record: &NewRecord,
        now: EpochMillis,
        within: Duration,
    ) -> Result<Claim, DependencyError> {
        bounded(Dependency::DynamoDb, within, self.put_claim(record, now)).await
    }

    async fn complete(
        &self,
        key: &str,
        claim: &ClaimToken,
        message_id: &str,
        within: Duration,
    ) -> Result<Completed, DependencyError> {
        bounded(
            Dependency::DynamoDb,
            within,
            self.update_completed(key, claim, message_id),
        )
        .await
    }

    async fn release(
        &self,
        key: &str,
        claim: &ClaimToken,
        within: Duration,
    ) -> Result<(), DependencyError> {
        bounded(Dependency::DynamoDb, within, self.delete_claim(key, claim)).await
    }
}
