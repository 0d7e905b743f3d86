//! The publisher on SQS (SPEC §6): String message attributes, and group and deduplication
//! ids when the queue is FIFO (its URL ends in `.fifo`).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use webhook_core::message::OutboundMessage;
use webhook_core::ports::{Dependency, DependencyError, Destination, Publisher};

use crate::error::dependency_error;

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

/// The publisher: an SQS client (built once per process), the actionable queue and the
/// optional activity queue.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: Client,
    actionable: Queue,
    activity: Option<Queue>,
}

impl SqsPublisher {
    pub fn new(
        client: Client,
        actionable_url: String,
        activity_url: Option<String>,
    ) -> SqsPublisher {
        SqsPublisher {
            client,
            actionable: Queue::new(actionable_url),
            activity: activity_url.map(Queue::new),
        }
    }
}

impl Publisher for SqsPublisher {
    async fn publish(
        &self,
        destination: Destination,
        message: &OutboundMessage,
    ) -> Result<String, DependencyError> {
        let queue = match destination {
            Destination::Actionable => &self.actionable,
            Destination::Activity => self.activity.as_ref().ok_or_else(|| DependencyError {
                dependency: Dependency::Sqs,
                code: Some("not_configured".into()),
                detail: "no ACTIVITY_QUEUE_URL is configured".into(),
            })?,
        };
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
        let output = send
            .send()
            .await
            .map_err(|err| dependency_error(Dependency::Sqs, err))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
