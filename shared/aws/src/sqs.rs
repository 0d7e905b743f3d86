//! The publisher on SQS: String message attributes, and group and deduplication ids when the
//! queue is FIFO (its URL ends in `.fifo`).

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use webhook_core::message::OutboundMessage;
use webhook_core::ports::{Dependency, DependencyError, Destination, PublishError, Publisher};

use crate::error::{bounded, dependency_error};

/// SQS error codes that refuse a message for its content: sending it again cannot succeed.
/// Everything else (throttling, a missing queue, permissions, the network) may pass on a
/// retry or once the operator fixes the configuration.
const REFUSALS: [&str; 5] = [
    "InvalidMessageContents",
    "InvalidParameterValue",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "MessageTooLong",
];

/// A queue URL and whether it is FIFO, decided once.
#[derive(Debug, Clone)]
struct Queue {
    url: String,
    fifo: bool,
}

impl Queue {
    fn new(url: String) -> Queue {
        let fifo = url.trim_end_matches('/').ends_with(".fifo");
        Queue { url, fifo }
    }
}

/// The publisher: an SQS client (built once per process) and the queues.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: Client,
    actionable: Queue,
    activity: Option<Queue>,
    quarantine: Option<Queue>,
}

/// The queue URLs a publisher sends to.
#[derive(Debug, Clone, Default)]
pub struct QueueUrls {
    pub actionable: String,
    pub activity: Option<String>,
    pub quarantine: Option<String>,
}

impl SqsPublisher {
    pub fn new(client: Client, urls: QueueUrls) -> SqsPublisher {
        SqsPublisher {
            client,
            actionable: Queue::new(urls.actionable),
            activity: urls.activity.map(Queue::new),
            quarantine: urls.quarantine.map(Queue::new),
        }
    }

    fn queue(&self, destination: Destination) -> Result<&Queue, DependencyError> {
        let configured = match destination {
            Destination::Actionable => Some(&self.actionable),
            Destination::Activity => self.activity.as_ref(),
            Destination::Quarantine => self.quarantine.as_ref(),
        };
        configured.ok_or_else(|| DependencyError {
            dependency: Dependency::Sqs,
            code: Some("not_configured".into()),
            detail: format!("no {} queue is configured", destination.as_str()),
        })
    }

    async fn send(&self, queue: &Queue, message: &OutboundMessage) -> Result<String, PublishError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&queue.url)
            .message_body(&message.body);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| DependencyError {
                    dependency: Dependency::Sqs,
                    code: Some("construction_failure".into()),
                    detail: err.to_string(),
                })?;
            send = send.message_attributes(*name, attribute);
        }
        if queue.fifo {
            send = send
                .message_group_id(&message.group_id)
                .message_deduplication_id(&message.deduplication_id);
        }
        match send.send().await {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(SdkError::ServiceError(failure))
                if failure
                    .err()
                    .code()
                    .is_some_and(|code| REFUSALS.iter().any(|r| code.ends_with(r))) =>
            {
                let err = failure.err();
                Err(PublishError::Refused {
                    code: err.code().unwrap_or_default().to_owned(),
                    detail: err.message().unwrap_or_default().to_owned(),
                })
            }
            Err(err) => Err(dependency_error(Dependency::Sqs, err).into()),
        }
    }
}

impl Publisher for SqsPublisher {
    async fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
        within: Duration,
    ) -> Result<String, PublishError> {
        let queue = self.queue(destination)?;
        bounded(Dependency::Sqs, within, self.send(queue, message)).await
    }
}
