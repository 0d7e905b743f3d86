//! AWS adapters for the ports of `webhook-core`: the idempotency store on DynamoDB and the
//! publisher on SQS.
pub mod dynamodb;
#[cfg(feature = "provision")]
pub mod provision;
