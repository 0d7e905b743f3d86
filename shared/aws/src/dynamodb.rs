//! The idempotency store on DynamoDB, in the Powertools for AWS Lambda record schema.

/// The table's partition key (a string): `reply#<event.id>`.
pub const PARTITION_KEY: &str = "id";
/// The table's TTL attribute, in epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expiration";
