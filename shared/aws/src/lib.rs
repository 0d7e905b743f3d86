//! AWS adapters for the ports of `webhook-core`: the idempotency store on DynamoDB and the
//! publisher on SQS, and the quarantine queue read back for a replay. Clients are passed in,
//! built once per process by the caller.

pub mod dynamodb;
mod error;
pub mod quarantine;
pub mod sqs;

pub use dynamodb::DynamoDbStore;
pub use quarantine::{QuarantineMessage, QuarantineQueue};
pub use sqs::{QueueUrls, SqsPublisher};
