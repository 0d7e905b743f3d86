//! AWS adapters for the ports of `webhook-core`: the idempotency store on DynamoDB and the
//! publisher on SQS. Clients are passed in, built once per process by the caller.

pub mod dynamodb;
mod error;
pub mod sqs;

pub use dynamodb::DynamoDbStore;
pub use sqs::SqsPublisher;
